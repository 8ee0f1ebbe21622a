"""Running `sglang.lang` programs with a program-level SLO.

    from tempo_sglang.frontend import Deadline, TempoEndpoint, run_program

    backend = TempoEndpoint("http://127.0.0.1:30000")
    state = run_program(my_program, tempo=Deadline(seconds=30), backend=backend, question="...")
    state.tempo_program.program_id   # the id the server recorded the DAG under

Each `run_program` is one program (its own id and deadline) unless it runs inside another program
(a nested program call), in which case it joins the enclosing one. `run_program_batch` runs many
programs on threads, each its own program. `slo_program` binds an SLO to a program once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tempo_sglang.frontend.context import Deadline, program_scope


def run_program(fn: Any, *args: Any, tempo: Deadline | float | None = None, kind: str | None = None,
                program_id: str | None = None, backend: Any = None, **kwargs: Any) -> Any:
    """Run the ``@sgl.function`` ``fn`` as one program with deadline ``tempo``; return its state.

    ``kind`` (default: the function's name) and ``program_id`` (default: a fresh id) label the
    program; ``kwargs`` are the function's arguments and ``fn.run``'s sampling defaults. The run is
    synchronous unless ``stream=True``. The state gets ``tempo_program`` (the `ProgramContext`) and
    ``tempo_elapsed_s`` (wall time of the whole program, when not streaming).
    """
    name = getattr(getattr(fn, "func", None), "__name__", None)
    started = time.perf_counter()
    with program_scope(tempo, kind=kind or name, program_id=program_id) as program:
        state = fn.run(*args, backend=backend, **kwargs)
        if not kwargs.get("stream", False):
            state.sync()
    state.tempo_program = program
    state.tempo_elapsed_s = time.perf_counter() - started if not kwargs.get("stream", False) else None
    return state


def run_program_batch(fn: Any, batch_kwargs: Sequence[dict[str, Any]], *,
                      tempo: Deadline | float | None = None, kind: str | None = None, backend: Any = None,
                      num_threads: int = 8, **run_kwargs: Any) -> list[Any]:
    """Run ``fn`` once per argument dict on ``num_threads`` threads; each run is its own program."""
    def one(arguments: dict[str, Any]) -> Any:
        return run_program(fn, tempo=tempo, kind=kind, backend=backend, **arguments, **run_kwargs)

    with ThreadPoolExecutor(max(1, min(num_threads, len(batch_kwargs)))) as pool:
        return list(pool.map(one, batch_kwargs))  # pool threads start with an empty context


class SLOProgram:
    """An ``@sgl.function`` bound to an SLO: ``.run(...)`` and ``.run_batch(...)`` stamp it."""

    def __init__(self, fn: Any, tempo: Deadline | float, kind: str | None = None):
        self.fn, self.tempo = fn, tempo
        self.kind = kind or getattr(getattr(fn, "func", None), "__name__", None)

    def run(self, *args: Any, tempo: Deadline | float | None = None, **kwargs: Any) -> Any:
        return run_program(self.fn, *args, tempo=tempo or self.tempo, kind=self.kind, **kwargs)

    def run_batch(self, batch_kwargs: Sequence[dict[str, Any]], **kwargs: Any) -> list[Any]:
        kwargs.setdefault("tempo", self.tempo)
        return run_program_batch(self.fn, batch_kwargs, kind=self.kind, **kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Called inside another program (a nested program call), it joins that program."""
        return self.run(*args, **kwargs)


def slo_program(tempo: Deadline | float, kind: str | None = None) -> Callable[[Any], SLOProgram]:
    """Decorator: ``@slo_program(Deadline(30))`` above ``@sgl.function`` gives an `SLOProgram`."""
    def wrap(fn: Any) -> SLOProgram:
        return SLOProgram(fn, tempo, kind)

    return wrap
