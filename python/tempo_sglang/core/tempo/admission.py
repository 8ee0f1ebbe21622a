"""Admission order and KV-aware admission limit of the Tempo policy.

Order: the GMAX-chosen waiting requests whose slack is shorter than the urgency horizon first, least
slack first (they must start now to make it: just in time); then the other urgent ones (not chosen)
by density when ``urgent_rest`` is set; then the calm chosen ones by gain density; then the rest by
density. Best effort (with demoted requests) is placed by the caller.

Limit: a request admitted now will grow its KV by up to its remaining output. Admitting more than
the KV can hold makes the engine retract (recompute) requests later, which wastes the very capacity
that is short. So the running requests' expected growth (``ratio`` x remaining bound) is reserved
first, and waiting requests are admitted in order while their prompt plus expected growth fits in
what is left (those that do not fit are skipped, like the engine does). With nothing running, the
first request is always admitted so the engine makes progress.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np


def top_k(rows: np.ndarray, key: np.ndarray, k: int | None) -> np.ndarray:
    """The ``k`` rows with the smallest ``key`` (all when ``k`` is None), in key order, stable."""
    if k is not None and rows.size > k:
        if k <= 0:
            return rows[:0]
        kk = key[rows]
        kth = np.partition(kk, k - 1)[k - 1]
        less = np.flatnonzero(kk < kth)
        ties = np.flatnonzero(kk == kth)[:k - less.size]  # earliest positions win ties, as in a stable sort
        rows = rows[np.sort(np.concatenate((less, ties)))]
    return rows[np.argsort(key[rows], kind="stable")]


def admission_order(chosen_w: np.ndarray, rest_w: np.ndarray, slack: np.ndarray, density: np.ndarray,
                    horizon: float, urgent_rest: bool = True, limit: int | None = None) -> np.ndarray:
    """Rows of waiting requests in admission order (see module docstring); at most ``limit``."""
    neg_density = -density
    out = []
    left = limit
    urgent_mask = slack[chosen_w] < horizon
    rest_urgent = slack[rest_w] < horizon if urgent_rest else np.zeros(rest_w.size, dtype=bool)
    groups = ((chosen_w[urgent_mask], slack), (rest_w[rest_urgent], neg_density),
              (chosen_w[~urgent_mask], neg_density), (rest_w[~rest_urgent], neg_density))
    for rows, key in groups:
        picked = top_k(rows, key, left)
        out.append(picked)
        if left is not None:
            left -= picked.size
            if left <= 0:
                break
    return np.concatenate(out).astype(np.int64) if out else np.empty(0, dtype=np.int64)


def kv_needs(sc, st, idx: np.ndarray, n_running: int, ratio: float) -> tuple[np.ndarray, float]:
    """KV tokens each row of ``idx`` needs to be admitted (prompt still to compute, generated tokens
    not cached, ``ratio`` x its remaining bound) and the running rows' expected growth (the first
    ``n_running`` rows). ``sc`` are the rows' `density.Scores`, ``st`` the `ViewStore`."""
    gen = st.gen[idx]
    need = sc.pf_rem + gen - np.minimum(gen, np.maximum(st.pre[idx] - st.prompt[idx], 0)) + ratio * sc.rem
    return need, ratio * float(sc.rem[:n_running].sum())


def kv_admissible(order: np.ndarray, need: np.ndarray, kv_free: float, running_growth: float,
                  any_running: bool) -> np.ndarray:
    """The prefix-greedy subset of ``order`` whose KV ``need`` fits after the running growth."""
    if order.size == 0:
        return order
    avail = float(kv_free) - float(running_growth)
    needs = need[order]
    keep = np.zeros(order.size, dtype=bool)
    start = 0
    if not any_running:
        keep[0] = True
        avail -= needs[0]
        start = 1
    csum = np.cumsum(needs[start:])
    k = int(np.searchsorted(csum, avail, side="right"))  # the longest prefix that fits
    keep[start:start + k] = True
    if k:
        avail -= float(csum[k - 1])
    rest = np.flatnonzero(needs[start + k:] <= avail) + start + k  # greedy skip over the remainder
    for i in rest.tolist():
        if needs[i] <= avail:
            keep[i] = True
            avail -= needs[i]
    return order[keep]


class BestEffortRows(NamedTuple):
    """Best-effort rows of a pass: waiting (oldest first, at most ``limit``), running, the residual
    share of slots they keep, and the waiting ones admitted ahead of SLO work to fill that share."""

    waiting: np.ndarray
    running: np.ndarray
    share: int
    front: np.ndarray


def best_effort_rows(be: np.ndarray, is_wait: np.ndarray, alive: np.ndarray, arrival: np.ndarray,
                     n_running: int, slots: int, be_share: float, limit: int) -> BestEffortRows:
    """Best effort is served oldest first from ``ceil(be_share x slots)`` slots (at least one while
    any exists) plus whatever SLO work leaves free: no best-effort request waits forever."""
    waiting = np.flatnonzero(be & is_wait & alive)
    n_wait = waiting.size
    waiting = top_k(waiting, arrival, limit)
    running = np.flatnonzero(be[:n_running])
    share = 0
    if waiting.size or running.size:
        share = min(max(1, math.ceil(be_share * slots)), n_wait + running.size)
    return BestEffortRows(waiting, running, share, waiting[:max(0, share - running.size)])
