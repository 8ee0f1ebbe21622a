"""Wrap ``sglang.lang``'s fork and join so a `TempoEndpoint` sees the data flow between states.

SGLang creates forked states (``StreamExecutor.fork``) and merges them back
(``ProgramStateGroup.join``) without telling the backend. These wrappers call the original first and
then, only when the state's backend is a `TempoEndpoint`, tell it which states were forked from or
joined into which; with any other backend they change nothing. Installed once, on import of
`tempo_sglang.frontend`.
"""

from __future__ import annotations

import functools

from sglang.lang.interpreter import ProgramStateGroup, StreamExecutor

_MARK = "__tempo_wrapped__"


def _tempo_backend(executor):
    from tempo_sglang.frontend.endpoint import TempoEndpoint

    backend = getattr(executor, "backend", None)
    return backend if isinstance(backend, TempoEndpoint) else None


def _wrap_fork(original):
    @functools.wraps(original)
    def fork(self, *args, **kwargs):
        backend = _tempo_backend(self)
        children = original(self, *args, **kwargs)  # primes through the backend, then syncs
        if backend is not None:
            backend.on_fork(self, list(children))
        return children

    setattr(fork, _MARK, True)
    return fork


def _wrap_join(original):
    @functools.wraps(original)
    def join(self, *args, **kwargs):
        parent = self.src_state.stream_executor if self.src_state is not None else None
        backend = _tempo_backend(parent) if parent is not None else None
        if backend is not None:
            parent.sync()  # no call of the parent may still be in flight when its parents change
        result = original(self, *args, **kwargs)
        if backend is not None:
            backend.on_join(parent, [child.stream_executor for child in self.states])
        return result

    setattr(join, _MARK, True)
    return join


def install() -> None:
    """Wrap fork and join once (idempotent)."""
    if not getattr(StreamExecutor.fork, _MARK, False):
        StreamExecutor.fork = _wrap_fork(StreamExecutor.fork)
    if not getattr(ProgramStateGroup.join, _MARK, False):
        ProgramStateGroup.join = _wrap_join(ProgramStateGroup.join)
