"""Engine-private state of the simulator: per-request bookkeeping, the step log, the prefix cache."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from tempo_sglang.core.views import RequestView
from tempo_sglang.workloads.items import WorkItem


class StepLog:
    """End times of every engine iteration, in order (a growing float array)."""

    def __init__(self, capacity: int = 4096):
        self._buf = np.empty(capacity)
        self.n = 0

    def _reserve(self, extra: int) -> None:
        if self.n + extra > len(self._buf):
            new = np.empty(max(2 * len(self._buf), self.n + extra))
            new[: self.n] = self._buf[: self.n]
            self._buf = new

    def append(self, t: float) -> None:
        self._reserve(1)
        self._buf[self.n] = t
        self.n += 1

    def extend(self, times: np.ndarray) -> None:
        self._reserve(len(times))
        self._buf[self.n: self.n + len(times)] = times
        self.n += len(times)

    def gather(self, segments: list[tuple[int, int]]) -> list[float]:
        """Concatenated end times of the steps in ``segments`` ([start, end) step indices)."""
        if not segments:
            return []
        return np.concatenate([self._buf[a:b] for a, b in segments]).tolist()


@dataclass(eq=False)
class SimRequest:
    """One call inside the simulator. Tokens come from open/closed *segments* of consecutive steps:
    while decoding, the request emits one token at the end of every step since ``seg_start``."""

    item: WorkItem
    view: RequestView
    target: int  # output tokens it will produce (true length, capped by max_new_tokens)
    state: str = "pending"  # pending | waiting | running | done
    segments: list[tuple[int, int]] = field(default_factory=list)
    closed_tokens: int = 0
    seg_start: int | None = None  # step index where the open decode segment began
    version: int = 0  # bumps on every segment change (invalidates finish-heap entries)
    prefill_left: int = 0
    prefill_ctx: int = 0  # context tokens already in KV before the next prefill chunk
    kv_own: int = 0  # KV tokens charged at admission (grows with every generated token)
    gen_at_admit: int = 0
    admit_seq: int = 0
    prefix_held: str | None = None
    parked: bool = False
    preemptions: int = 0
    progress_mark: int = 0  # generated count at the last analyzer on_progress call
    max_cached: int = 0

    def generated(self, step_idx: int) -> int:
        """Output tokens delivered by the end of step ``step_idx - 1``."""
        if self.seg_start is None:
            return self.closed_tokens
        return self.closed_tokens + step_idx - self.seg_start

    def open_segment(self, step: int) -> None:
        self.seg_start = step
        self.version += 1

    def close_segment(self, step_idx: int) -> None:
        if self.seg_start is not None:
            if step_idx > self.seg_start:
                self.segments.append((self.seg_start, step_idx))
                self.closed_tokens += step_idx - self.seg_start
            self.seg_start = None
            self.version += 1

    def finish_step(self) -> int | None:
        """Step count at which the open segment reaches ``target``."""
        if self.seg_start is None:
            return None
        return self.seg_start + self.target - self.closed_tokens


class PrefixCache:
    """Radix-cache stand-in keyed by shared-prefix id: entry length and users (pinned while > 0).

    Entries count against KV capacity; unpinned ones are evicted least-recently-used when room is
    needed. A lookup caches ``min(entry length, prefix_len)`` tokens.
    """

    def __init__(self) -> None:
        self.entries: OrderedDict[str, list[int]] = OrderedDict()  # key -> [length, users]
        self.total = 0
        self.pinned = 0
        self.dirty: set[str] = set()  # keys whose length changed or that were evicted

    def take_dirty(self) -> set[str]:
        """Keys changed since the last call (and reset)."""
        out, self.dirty = self.dirty, set()
        return out

    def lookup(self, key: str | None, prefix_len: int) -> int:
        if key is None or key not in self.entries:
            return 0
        return min(self.entries[key][0], prefix_len)

    def acquire(self, key: str) -> None:
        entry = self.entries[key]
        if entry[1] == 0:
            self.pinned += entry[0]
        entry[1] += 1
        self.entries.move_to_end(key)

    def release(self, key: str) -> None:
        entry = self.entries.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            self.pinned -= entry[0]

    def publish(self, key: str, length: int) -> None:
        entry = self.entries.setdefault(key, [0, 0])
        if length > entry[0]:
            self.total += length - entry[0]
            if entry[1] > 0:
                self.pinned += length - entry[0]
            entry[0] = length
            self.dirty.add(key)
        self.entries.move_to_end(key)

    def evict(self, need: int) -> int:
        """Evict unpinned entries (LRU first) until ``need`` tokens are freed; returns tokens freed."""
        freed, victims = 0, []
        for key, (length, users) in self.entries.items():
            if freed >= need:
                break
            if users == 0:
                victims.append(key)
                freed += length
        for key in victims:
            self.total -= self.entries.pop(key)[0]
            self.dirty.add(key)
        return freed
