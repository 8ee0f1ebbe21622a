"""Which decode step budget earns the most: keep the tightest streams on their line, or a bigger batch.

On an engine whose decode step grows with the batch, every step budget trades one thing for
another: a small budget keeps the tightest latency streams on their due line but serves few requests
per second; a big one serves many but lets the tightest streams fall behind. `step_budget` alone
always protects the tightest stream, which under load starves everything else (a tier-1 stream can
cap the batch at a third of what the queue needs). `best_step_budget` instead picks, among the
budgets that keep each group of streams on its line (plus the uncapped batch), the one with the most
*gain throughput*: each row that keeps its per-token interval (a stream's due line, a time-shared
call's line) earns its gain per token at the rate that interval needs, and no more for decoding
faster; rows are packed by gain per token over cost until their step shares fill the budget. A
stream left behind keeps running; it is just no longer what sizes the batch. (Counting every row at
the step rate instead, as this did until 2026-12-05, made the uncapped batch look best whenever many
deadline calls ran: on the CPU engine the streams then fell off their lines, 0.15-0.29 req/s against
0.34-0.41 now on the live latency + deadline mix; the 8B-GPU simulator is unchanged at every rate.)
"""

from __future__ import annotations

import numpy as np

from tempo_sglang.core.policy import EngineBudget
from tempo_sglang.core.tempo.batchsize import served_intervals, step_budget
from tempo_sglang.core.tempo.density import Scores
from tempo_sglang.core.tempo.store import LAT, ViewStore


def best_step_budget(intervals: np.ndarray, gain_per_token: np.ndarray, costs: np.ndarray,
                     budget: EngineBudget, fraction: float = 0.65, sizing: np.ndarray | None = None,
                     max_candidates: int = 24) -> float | None:
    """Step seconds of request costs with the most gain throughput; None when the uncapped batch wins.

    A row with a per-token interval ``i`` (a stream's TBT, a time-shared call's line) earns
    ``gain_per_token / i`` per second while the step lets it keep that interval (``fraction x i >=
    step``), and decoding it faster earns nothing more; it then takes ``step / i`` of the steps, so
    ``step / i x cost`` of the step budget. Under a budget ``S`` (step ``base + S``) the rows that keep
    their interval are packed by gain per token over cost until their shares x costs fill ``S``;
    uncapped, every row decodes every step (the step is ``base`` plus all their costs) and only the
    rows whose interval tolerates that step earn. Rows without an interval (calls without a bound)
    take every step and earn at the step rate. None when the uncapped batch earns at least as much.

    ``intervals``: per-token interval each row needs (NaN: none, see `served_intervals`);
    ``gain_per_token``: achievable gain per remaining output token (0 for rows not served);
    ``costs``: seconds each row adds to a step; ``sizing`` (default all): the rows whose lines are
    candidate budgets (the policy passes its latency streams); ``max_candidates`` bounds the work.
    """
    base = float(budget.decode_time_base)
    if (budget.decode_time_per_request <= 0 and budget.decode_time_per_ctx_token <= 0) or costs.size == 0:
        return None
    w = np.maximum(gain_per_token, 0.0)
    live = w > 0
    if not live.any():
        return None
    tol = np.where(np.isnan(intervals), np.inf, fraction * intervals)
    lines = np.isfinite(tol) & (tol > base)
    finite = np.unique(tol[lines if sizing is None else lines & sizing])
    if finite.size == 0:
        return None
    if finite.size > max_candidates:
        finite = finite[np.linspace(0, finite.size - 1, max_candidates).round().astype(np.int64)]
    rows = np.flatnonzero(live)
    order = rows[np.argsort(-w[rows] / np.maximum(costs[rows], 1e-12), kind="stable")]
    interval = intervals[order]

    def value(step: float, room: float) -> float:
        ok = tol[order] >= step
        rate = 1.0 / np.where(np.isnan(interval), step, interval)  # tokens per second each row earns on
        need = np.minimum(rate * step, 1.0) * costs[order]
        taken = ok & (np.cumsum(np.where(ok, need, 0.0)) <= room + 1e-12)
        return float(np.sum(w[order][taken] * rate[taken]))

    n_full = min(int(budget.max_running), rows.size)
    full_room = float(np.sum(costs[order][:n_full]))
    best_val, best_s = value(base + full_room, full_room), None
    for t in finite.tolist():
        room = t - base
        if room >= full_room:
            continue  # the line is kept by the uncapped batch anyway
        val = value(t, room)
        if val > best_val:
            best_val, best_s = val, room
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
