"""`TempoEndpoint`: SGLang's `RuntimeEndpoint` that stamps program identity on every ``/generate``.

Every request the endpoint posts (``gen``, streaming ``gen``, the three requests of ``select``, the
zero-token prefix-priming requests of ``fork`` / lazy commits / images, and ``cache_prefix`` of
``run_batch``) carries ``sampling_params.custom_params.tempo`` of class ``"program"`` with the
program's id, kind and deadline, a fresh node id per request, its parents and its stage (depth).

Parents follow the data flow of the program's states (`sglang.lang` ``StreamExecutor`` objects):
a call depends on the previous call of the same state; a forked state starts from its parent's last
call; after a join the parent state depends on every branch's last call; a batch request (the
choices of ``select``) is one node per item, all depending on the state's last call. Bookkeeping
lives on each state (attribute ``_tempo``), never in globals, so ``run_batch`` threads stay apart.

Which program a state belongs to: a forked state inherits its parent's; a new state created inside
an active `program_scope` (e.g. by `run_program`, or a nested program call) belongs to that scope's
program and starts from the calls it has completed; any other new state (e.g. each program of a plain
``fn.run_batch``) starts a program of its own with the endpoint's ``deadline`` and ``program_kind``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sglang.lang.backend.runtime_endpoint import RuntimeEndpoint
from sglang.lang.ir import SglSamplingParams
from sglang.utils import http_request

from tempo_sglang.frontend.context import Deadline, ProgramContext, as_deadline, current_program

_ATTR = "_tempo"


class StateTrack:
    """Per-state bookkeeping: the state's program and the node ids its text depends on.

    ``settled`` is False for a fresh state that has neither made a call nor been forked or joined:
    its text may still be queued on SGLang's worker thread (see `TempoEndpoint.commit_lazy_operations`).
    """

    __slots__ = ("program", "frontier", "base", "settled")

    def __init__(self, program: ProgramContext, frontier: tuple[str, ...], settled: bool = False):
        self.program = program
        self.frontier = frontier
        self.base = frontier  # what the state started from (for joins)
        self.settled = settled


class _StampedSamplingParams(SglSamplingParams):
    """Sampling params whose SRT kwargs carry ``custom_params`` (what `RuntimeEndpoint` posts)."""

    custom_params: dict | None = None

    def to_srt_kwargs(self) -> dict[str, Any]:
        kwargs = super().to_srt_kwargs()
        if self.custom_params is not None:
            kwargs["custom_params"] = self.custom_params
        return kwargs


def _stamped(sampling_params: SglSamplingParams, tempo: dict) -> _StampedSamplingParams:
    fields = {f.name: getattr(sampling_params, f.name) for f in dataclasses.fields(SglSamplingParams)}
    out = _StampedSamplingParams(**fields)
    out.custom_params = {"tempo": tempo}
    return out


def _batch_size(data: dict) -> int | None:
    """Items in a batch ``/generate`` body, or None for a single request."""
    text, ids = data.get("text"), data.get("input_ids")
    if isinstance(text, list):
        return len(text)
    if isinstance(ids, list) and ids and isinstance(ids[0], list):
        return len(ids)
    return None


class TempoEndpoint(RuntimeEndpoint):
    """A `RuntimeEndpoint` whose calls carry Tempo program metadata (see the module docstring).

    ``deadline`` / ``program_kind`` apply to programs started without a `program_scope`
    (default 60 s). Use it like the stock endpoint: ``sgl.set_default_backend(TempoEndpoint(url))``
    or ``backend=TempoEndpoint(url)``; wrap runs in `run_program` to give each its own SLO.
    """

    def __init__(self, base_url: str, *, deadline: Deadline | float = 60.0,
                 program_kind: str | None = None, **kwargs: Any):
        super().__init__(base_url, **kwargs)
        self.default_deadline = as_deadline(deadline)
        self.program_kind = program_kind
        self.stamped_calls = 0

    # ---- state bookkeeping ------------------------------------------------------------------
    def track(self, s: Any) -> StateTrack:
        """The bookkeeping of state ``s`` (a StreamExecutor), created on first sight."""
        track = getattr(s, _ATTR, None)
        if track is None:
            program = current_program()
            if program is None:
                program = ProgramContext(self.default_deadline, kind=self.program_kind)
                track = StateTrack(program, ())
            else:
                track = StateTrack(program, program.completed_leaves())
            # the program thread and SGLang's worker thread may both get here first: keep one
            track = vars(s).setdefault(_ATTR, track)
        return track

    def on_fork(self, parent: Any, children: list[Any]) -> None:
        """Forked states start from the parent's last calls, in the parent's program."""
        track = self.track(parent)
        for child in children:
            setattr(child, _ATTR, StateTrack(track.program, track.frontier, settled=True))

    def on_join(self, parent: Any, children: list[Any]) -> None:
        """After a join the parent depends on every branch's last calls (and its own newer ones)."""
        track = self.track(parent)
        merged: list[str] = []
        for child in children:
            child_track = getattr(child, _ATTR, None)
            merged.extend(child_track.frontier if child_track is not None else track.frontier)
        base = {n for c in children if getattr(c, _ATTR, None) is not None for n in getattr(c, _ATTR).base}
        merged.extend(n for n in track.frontier if n not in base)  # parent calls made after the fork
        track.frontier = tuple(dict.fromkeys(merged))
        track.settled = True

    def _begin(self, s: Any, count: int) -> tuple[StateTrack, list[str], list[dict]]:
        track = self.track(s)
        nodes, tempos = [], []
        for _ in range(count):
            node_id, tempo = track.program.new_call(track.frontier)
            nodes.append(node_id)
            tempos.append(tempo)
        self.stamped_calls += count
        return track, nodes, tempos

    @staticmethod
    def _end(track: StateTrack, nodes: list[str]) -> None:
        track.program.completed(nodes)
        track.frontier = tuple(nodes)
        track.settled = True

    # ---- the requests -------------------------------------------------------------------------
    def generate(self, s, sampling_params):
        track, nodes, tempos = self._begin(s, 1)
        result = super().generate(s, _stamped(sampling_params, tempos[0]))
        self._end(track, nodes)
        return result

    def generate_stream(self, s, sampling_params):
        track, nodes, tempos = self._begin(s, 1)
        yield from super().generate_stream(s, _stamped(sampling_params, tempos[0]))
        self._end(track, nodes)

    def _generate_http_request(self, s, data):
        """Every request of ``select`` (and the priming requests below) goes through here."""
        size = _batch_size(data)
        track, nodes, tempos = self._begin(s, size or 1)
        data = dict(data)
        params = data.get("sampling_params") or {}
        if size is None:
            data["sampling_params"] = {**params, "custom_params": {"tempo": tempos[0]}}
        else:  # one params dict per item: each item is its own call with its own node id
            data["sampling_params"] = [{**params, "custom_params": {"tempo": t}} for t in tempos]
        result = super()._generate_http_request(s, data)
        self._end(track, nodes)
        return result

    def commit_lazy_operations(self, s):
        """Zero-token prefix priming before a fork: a call of the state like any other.

        Stock SGLang primes only when the parent's text is already materialised by its worker
        thread, which for a fresh state (a fork right after the prompt) is a race it usually loses,
        so it usually sends nothing there. This endpoint decides without the race: a fresh state
        (no call, fork or join yet) is not primed (its branches share the prefix through the radix
        cache anyway); any other state is. A program's DAG is therefore the same on every run,
        and no request is sent that stock SGLang would usually not send.
        """
        if not self.track(s).settled:
            return
        self._generate_http_request(s, {"text": s.text_, "sampling_params": {"max_new_tokens": 0}})

    def fill_image(self, s):
        self._generate_http_request(s, {"text": s.text_, "sampling_params": {"max_new_tokens": 0}})

    def cache_prefix(self, prefix_str: str):
        """Prefix caching for ``run_batch``: a one-call program (or a call of the active program)."""
        program = current_program() or ProgramContext(self.default_deadline, kind="prefix-cache")
        node_id, tempo = program.new_call(program.completed_leaves())
        self.stamped_calls += 1
        res = http_request(self.base_url + "/generate",
                           json={"text": prefix_str,
                                 "sampling_params": {"max_new_tokens": 0, "custom_params": {"tempo": tempo}}},
                           api_key=self.api_key, verify=self.verify)
        self._assert_success(res)
        program.completed([node_id])


def recorded_dag(base_url: str, program_id: str) -> dict | None:
    """The DAG a Tempo server recorded for ``program_id`` (``GET /tempo/programs/{id}``), or None."""
    import requests

    response = requests.get(f"{base_url.rstrip('/')}/tempo/programs/{program_id}", timeout=30)
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return response.json()


def program_of(state: Any) -> ProgramContext | None:
    """The program a `ProgramState` (or StreamExecutor) belongs to, once it made a call or forked."""
    executor = getattr(state, "stream_executor", state)
    track = getattr(executor, _ATTR, None)
    return None if track is None else track.program
