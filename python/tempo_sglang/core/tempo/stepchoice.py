"""Which decode step budget earns the most: keep the tightest streams on their line, or a bigger batch.

On an engine whose decode step grows with the batch, every step budget trades one thing for
another: a small budget keeps the tightest latency streams on their due line but serves few requests
per second; a big one serves many but lets the tightest streams fall behind. `step_budget` alone
always protects the tightest stream, which under load starves everything else (a tier-1 stream can
cap the batch at a third of what the queue needs). `best_step_budget` instead picks, among the
budgets that keep each group of streams on its line (plus the uncapped batch), the one with the most
*gain throughput*: the SLO gain per output token of the requests the batch would hold (those whose
interval tolerates its step; the densest first, up to the slots the budget holds), summed, per second
of decode step. A stream left behind keeps running; it is just no longer what sizes the batch.
"""

from __future__ import annotations

import numpy as np

from tempo_sglang.core.policy import EngineBudget
from tempo_sglang.core.tempo.batchsize import served_intervals, step_budget
from tempo_sglang.core.tempo.density import Scores
from tempo_sglang.core.tempo.store import LAT, ViewStore


def best_step_budget(intervals: np.ndarray, gain_per_token: np.ndarray, costs: np.ndarray,
                     budget: EngineBudget, fraction: float = 0.75, sizing: np.ndarray | None = None,
                     max_candidates: int = 24,
                     prefer_cap: float = 1.0) -> float | None:
    """Step seconds of request costs with the most gain throughput; None when the uncapped batch wins.

    ``intervals``: per-token interval each row needs (NaN: no constraint, see `served_intervals`);
    ``gain_per_token``: achievable gain per remaining output token (0 for rows not served);
    ``costs``: seconds each row adds to a step; ``sizing`` (default all): the rows whose lines are
    candidate budgets (the policy passes its latency streams: a deadline call's line is kept by
    time-sharing, and sizing the batch to one long call's line starves the queue). A capped budget must beat the uncapped batch by
    ``prefer_cap`` (>= 1) to be chosen (a cap also holds back requests that arrive before the next
    full pass, which this pass cannot weigh; measured in the simulator, 1.0 served best). ``max_candidates`` bounds the work: the candidate lines are
    spread evenly over the sorted distinct tolerances.
    """
    base = float(budget.decode_time_base)
    if (budget.decode_time_per_request <= 0 and budget.decode_time_per_ctx_token <= 0) or costs.size == 0:
        return None
    tol = np.where(np.isnan(intervals), np.inf, fraction * intervals)  # slowest step each row tolerates
    lines = np.isfinite(tol) & (tol > base)
    finite = np.unique(tol[lines if sizing is None else lines & sizing])
    if finite.size == 0:
        return None
    if finite.size > max_candidates:
        finite = finite[np.linspace(0, finite.size - 1, max_candidates).round().astype(np.int64)]
    mean = float(np.mean(costs))
    if mean <= 0:
        return None
    w = np.maximum(gain_per_token, 0.0)
    n_rows = int(np.count_nonzero(w > 0))

    def value(batch: int) -> float:
        step = base + min(batch, n_rows) * mean
        feasible = w[tol >= step]
        k = min(batch, feasible.size)
        if k <= 0:
            return 0.0
        top = feasible if k >= feasible.size else np.partition(feasible, feasible.size - k)[-k:]
        return float(top.sum()) / (base + k * mean)

    full = max(1, min(int(budget.max_running), n_rows))
    best_val, best_s = value(full), None
    best_val *= prefer_cap
    for t in finite.tolist():
        batch = int(min(budget.max_running, max(1, np.floor((t - base) / mean))))
        if batch >= full:
            continue  # the line is kept by the uncapped batch anyway
        val = value(batch)
        if val > best_val:
            best_val, best_s = val, t - base
    return best_s


def step_seconds(sc: Scores, store: ViewStore, idx: np.ndarray, served: np.ndarray, costs: np.ndarray,
                 line_tbt: np.ndarray, budget: EngineBudget, fraction: float,
                 choice: str = "gain") -> float | None:
    """The decode step budget of a full pass, or None (no latency stream served: the batch is not
    sized down, throughput serves deadlines best).

    ``choice`` "gain": the latency line with the most gain throughput (`best_step_budget`);
    "tight": always the tightest stream's line (`step_budget`).
    """
    if not np.any(served & (sc.cls == LAT)):
        return None
    intervals = served_intervals(sc, store, idx, served, budget.prefill_time_per_token, line_tbt)
    if choice == "gain":
        per_token = np.where(served, sc.gain / np.maximum(sc.rem, 1.0), 0.0)
        return best_step_budget(intervals, per_token, costs, budget, fraction, sizing=sc.cls == LAT)
    return step_budget(intervals, budget, fraction, costs)
