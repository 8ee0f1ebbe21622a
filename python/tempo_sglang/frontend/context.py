"""Program identity on the client: the SLO of a program, its node ids, and the active program scope.

A `ProgramContext` is one running agent program: its id, kind, deadline and the calls it has made
(node id -> depth), allocating a fresh node id per call. `program_scope` makes a context current
(a `contextvars.ContextVar`, so it follows SGLang's worker threads, which copy the context they are
created in) and is re-entrant: inside an active scope a nested scope joins the enclosing program.
"""

from __future__ import annotations

import contextvars
import itertools
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Deadline:
    """A program-level SLO: the program's last call must finish ``seconds`` after its first call."""

    seconds: float

    def __post_init__(self) -> None:
        if not self.seconds > 0:
            raise ValueError(f"Deadline needs a positive number of seconds, got {self.seconds!r}")

    @property
    def ms(self) -> float:
        return self.seconds * 1000.0


def as_deadline(tempo: Deadline | float | int | None, default: Deadline | None = None) -> Deadline:
    """Accept a `Deadline` or a number of seconds."""
    if tempo is None:
        if default is None:
            raise ValueError("a program needs a deadline (tempo=Deadline(seconds=...))")
        return default
    if isinstance(tempo, Deadline):
        return tempo
    if isinstance(tempo, bool) or not isinstance(tempo, (int, float)):
        raise TypeError(f"tempo must be a Deadline or seconds, got {type(tempo).__name__}")
    return Deadline(float(tempo))


class ProgramContext:
    """One running program: allocates node ids and remembers each call's depth (stage).

    Thread-safe: the calls of forked branches are made from several threads at once.
    """

    def __init__(self, deadline: Deadline, kind: str | None = None, program_id: str | None = None):
        self.program_id = program_id or f"prog-{uuid.uuid4().hex[:16]}"
        self.kind = kind
        self.deadline = deadline
        self.started = time.time()
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._depth: dict[str, int] = {}
        self._has_child: set[str] = set()
        self._done: list[str] = []  # completed calls, in completion order

    def new_call(self, parents: Iterable[str]) -> tuple[str, dict[str, Any]]:
        """Allocate a node for a call depending on ``parents``; returns (node_id, tempo dict)."""
        parents = list(dict.fromkeys(parents))
        with self._lock:
            node_id = f"n{next(self._ids)}"
            stage = 1 + max((self._depth.get(p, 0) for p in parents), default=-1)
            self._depth[node_id] = stage
            self._has_child.update(parents)
        tempo: dict[str, Any] = {"class": "program", "program_id": self.program_id, "node_id": node_id,
                                 "deadline_ms": round(self.deadline.ms, 3), "stage": stage}
        if parents:
            tempo["parents"] = parents
        if self.kind:
            tempo["program_kind"] = self.kind
        return node_id, tempo

    def completed(self, node_ids: Iterable[str]) -> None:
        """Record that these calls got their answer (the server has seen them)."""
        with self._lock:
            self._done.extend(node_ids)

    def completed_leaves(self) -> tuple[str, ...]:
        """Completed calls no other call depends on yet: what a newly started state depends on."""
        with self._lock:
            return tuple(n for n in self._done if n not in self._has_child)

    @property
    def num_calls(self) -> int:
        with self._lock:
            return len(self._depth)

    def stage_of(self, node_id: str) -> int | None:
        with self._lock:
            return self._depth.get(node_id)

    def elapsed(self) -> float:
        """Seconds since the program started."""
        return time.time() - self.started

    def __repr__(self) -> str:
        return f"ProgramContext({self.program_id!r}, kind={self.kind!r}, deadline={self.deadline.seconds}s)"


_CURRENT: contextvars.ContextVar[ProgramContext | None] = contextvars.ContextVar("tempo_program", default=None)


def current_program() -> ProgramContext | None:
    """The program of the active `program_scope` in this thread / context, if any."""
    return _CURRENT.get()


@contextmanager
def program_scope(tempo: Deadline | float | None = None, *, kind: str | None = None,
                  program_id: str | None = None, nested: bool = True) -> Iterator[ProgramContext]:
    """Make a program current for the calls started inside the block.

    With ``nested=True`` (default) and a program already active, the block joins that program (a
    nested program call shares its parent's id and deadline); otherwise a new program starts with
    deadline ``tempo`` (a `Deadline` or seconds).
    """
    outer = _CURRENT.get()
    if outer is not None and nested and program_id is None:
        yield outer
        return
    ctx = ProgramContext(as_deadline(tempo), kind=kind, program_id=program_id)
    token = _CURRENT.set(ctx)
    try:
        yield ctx
    finally:
        _CURRENT.reset(token)
