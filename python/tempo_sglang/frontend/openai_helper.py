"""Program metadata for agent programs written with the openai client (no ``sglang.lang``).

SGLang's OpenAI-compatible routes take a top-level ``custom_params``; the openai client sends it via
``extra_body``. `TempoProgram` hands out one `TempoCall` per request, tracking parents the same way
`TempoEndpoint` does for DSL states::

    prog = TempoProgram(tempo=Deadline(seconds=30), kind="react")
    first = prog.call()                                   # a root call
    client.chat.completions.create(model=..., messages=..., extra_body=first.extra_body)
    second = prog.call()                                  # depends on `first`
    branches = prog.fork(3)                               # three branches from `second`
    calls = [b.call() for b in branches]                  # parallel calls, each parent `second`
    prog.join(branches)
    final = prog.call()                                   # depends on all three

A branch is itself a `TempoProgram` cursor (it can fork again). ``parents=[...]`` overrides the
tracked parents for one call. Calls are assumed to be sent in the order they are made.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tempo_sglang.frontend.context import Deadline, ProgramContext, as_deadline


@dataclass(frozen=True)
class TempoCall:
    """One call's metadata: ``tempo`` (the dict), ``extra_body`` (for the openai client)."""

    node_id: str
    tempo: dict[str, Any]

    @property
    def custom_params(self) -> dict[str, Any]:
        """For the native ``/generate`` route: ``sampling_params["custom_params"]``."""
        return {"tempo": dict(self.tempo)}

    @property
    def extra_body(self) -> dict[str, Any]:
        """For openai-client calls: ``create(..., extra_body=call.extra_body)``."""
        return {"custom_params": self.custom_params}


class TempoProgram:
    """A cursor over one program: each `call` depends on this cursor's previous call(s)."""

    def __init__(self, tempo: Deadline | float | None = None, *, kind: str | None = None,
                 program_id: str | None = None, _program: ProgramContext | None = None,
                 _frontier: Sequence[str] = ()):
        self.program = _program or ProgramContext(as_deadline(tempo), kind=kind, program_id=program_id)
        self.frontier: tuple[str, ...] = tuple(_frontier)
        self._base = self.frontier

    @property
    def program_id(self) -> str:
        return self.program.program_id

    def call(self, parents: Iterable[str] | None = None) -> TempoCall:
        """Metadata for the next request; it becomes this cursor's last call."""
        node_id, tempo = self.program.new_call(self.frontier if parents is None else parents)
        self.program.completed([node_id])
        self.frontier = (node_id,)
        return TempoCall(node_id, tempo)

    def retry(self, failed: TempoCall) -> TempoCall:
        """Metadata to re-send a failed call: a new node id (ids are never reused), same parents."""
        node_id, tempo = self.program.new_call(failed.tempo.get("parents", ()))
        self.program.completed([node_id])
        self.frontier = tuple(node_id if n == failed.node_id else n for n in self.frontier) or (node_id,)
        return TempoCall(node_id, tempo)

    def calls(self, n: int) -> list[TempoCall]:
        """Metadata for ``n`` parallel requests that all depend on this cursor's last call(s)."""
        made = [TempoCall(*self.program.new_call(self.frontier)) for _ in range(n)]
        self.program.completed([c.node_id for c in made])
        self.frontier = tuple(c.node_id for c in made)
        return made

    def fork(self, n: int) -> list[TempoProgram]:
        """``n`` branches starting from this cursor's last call(s)."""
        return [TempoProgram(_program=self.program, _frontier=self.frontier) for _ in range(n)]

    def join(self, branches: Iterable[TempoProgram]) -> None:
        """The next call depends on every branch's last call(s) (and this cursor's newer ones)."""
        merged: list[str] = []
        base: set[str] = set()
        for branch in branches:
            merged.extend(branch.frontier)
            base.update(branch._base)
        merged.extend(n for n in self.frontier if n not in base)
        self.frontier = tuple(dict.fromkeys(merged))
