"""Parking: a running request skips decode steps but keeps its KV cache, then resumes.

Parking removes the request from SGLang's running batch with ``ScheduleBatch.filter_batch`` (which
frees nothing: the request keeps its request-pool row and KV slots, so the allocator still counts
them as used). Resuming rebuilds a decode-ready batch for the parked requests with the scheduler's
own builder for requests that move to decode with their KV already in place, and merges it into the
running batch with ``ScheduleBatch.merge_batch``. The next input token of a decode step is read from
the scheduler's future map at the request's pool row, which the parked request still owns.
Requires the non-overlap scheduler (a parked request must have no step in flight).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class ParkingLot:
    """The requests parked right now, by rid, with the time each was parked."""

    reqs: dict[str, object] = field(default_factory=dict)
    since: dict[str, float] = field(default_factory=dict)
    total_parks: int = 0
    total_resumes: int = 0

    def __len__(self) -> int:
        return len(self.reqs)

    def __contains__(self, rid: str) -> bool:
        return rid in self.reqs

    def park(self, running_batch, reqs: list) -> None:
        """Take ``reqs`` out of ``running_batch`` (their KV stays allocated)."""
        if not reqs:
            return
        running_batch.filter_batch(reqs_to_exclude=list(reqs))
        running_batch.batch_is_full = False
        now = time.time()
        for req in reqs:
            self.reqs[req.rid] = req
            self.since[req.rid] = now
        self.total_parks += len(reqs)

    def resume(self, scheduler, running_batch, rids) -> object:
        """Put the parked requests ``rids`` back into the running batch; returns the running batch."""
        reqs = [self.reqs.pop(rid) for rid in list(rids) if rid in self.reqs]
        if not reqs:
            return running_batch
        now = time.time()
        for req in reqs:
            started = self.since.pop(req.rid, now)
            state = getattr(req, "tempo", None)
            if state is not None:
                state.parked_time += now - started
            view = getattr(req, "_tempo_view", None)
            if view is not None:
                view.parked_time += now - started
        resumed = scheduler._build_hisparse_decode_batch(reqs)
        # merge_batch concatenates per-request lists the builder leaves unset
        resumed.multimodal_inputs = [getattr(r, "multimodal_inputs", None) for r in reqs]
        self.total_resumes += len(reqs)
        if running_batch.is_empty():
            return resumed
        if running_batch.multimodal_inputs is None:
            running_batch.multimodal_inputs = [getattr(r, "multimodal_inputs", None) for r in running_batch.reqs]
        running_batch.merge_batch(resumed)
        return running_batch

    def resume_all(self, scheduler, running_batch) -> object:
        return self.resume(scheduler, running_batch, list(self.reqs))


def preempt(scheduler, running_batch, rids: set[str]) -> list:
    """Retract the running requests ``rids``: free their KV (the radix cache keeps what it can for a
    cheap re-prefill) and put them back in the waiting queue, as SGLang's own retraction does."""
    chosen = [i for i, req in enumerate(running_batch.reqs) if req.rid in rids and not req.finished()]
    if not chosen:
        return []
    keep = [i for i in range(len(running_batch.reqs)) if i not in set(chosen)]
    reqs = [running_batch.reqs[i] for i in chosen]
    for i in chosen:
        running_batch.release_req(i, len(keep), offload_kv=False)
    running_batch.filter_batch(keep_indices=keep)
    running_batch.batch_is_full = False
    for req in reqs:
        scheduler._add_request_to_queue(req, is_retracted=True)
    return reqs
