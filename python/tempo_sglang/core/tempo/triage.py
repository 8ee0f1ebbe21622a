"""Triage at the start of a full pass: reject requests past ``max_wait_ms``, demote hopeless ones.

A request that never started and has waited past its ``max_wait_ms`` is rejected (the engine answers
it with an explicit error); a request whose SLO can no longer be met (`density`: ``hopeless``) is
demoted to best effort: it keeps being served, from the best-effort share, and its response reports
the demotion. Nothing is dropped silently.

A program meets its SLO only if every call does, so once one call is demoted or rejected the program
is lost: with ``lost_programs`` its other calls, live or yet to come, are demoted too instead of taking
SLO capacity for nothing (simulator, paper mix at 9 jobs/s: oracle Tempo 23.6k -> 24.0k token goodput).
"""

from __future__ import annotations

import numpy as np

from tempo_sglang.core.policy import Decision
from tempo_sglang.core.tempo.density import Scores
from tempo_sglang.core.tempo.store import BE, PROG, ViewStore


def reject_and_demote(store: ViewStore, idx: np.ndarray, sc: Scores, is_wait: np.ndarray, now: float,
                      honor_max_wait: bool, decision: Decision, lost_programs: bool = True) -> np.ndarray:
    """Fill ``decision.reject`` / ``decision.demote``; mark demoted rows best effort in ``sc`` and
    ``store``. Returns the mask of rows still alive (not rejected)."""
    alive = np.ones(idx.size, dtype=bool)
    if honor_max_wait and is_wait.any():
        late = np.flatnonzero(is_wait & (store.gen[idx] == 0) & (now > store.max_wait[idx]))
        for k in late.tolist():
            waited = (now - store.arrival[idx[k]]) * 1000.0
            decision.reject[store.rids[idx[k]]] = f"waited {waited:.0f} ms, over max_wait_ms"
        alive[late] = False
    if lost_programs:
        prog = sc.cls == PROG
        sc.hopeless |= prog & store.lost_rows(idx)
        store.mark_lost(store.pcode[idx[(~alive | sc.hopeless) & prog]])
    demote = np.flatnonzero(sc.hopeless & alive)
    if demote.size:
        store.demoted[idx[demote]] = True
        decision.demote = store.rids[idx[demote]].tolist()
        sc.cls[demote], sc.gain[demote], sc.density[demote] = BE, 0.0, 0.0
    return alive
