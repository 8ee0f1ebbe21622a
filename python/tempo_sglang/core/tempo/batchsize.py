"""How much decoding runs at once, and which deadline work steps aside to keep it so.

On an engine whose decode step time grows with the batch (a CPU, or a GPU past its roofline knee)
every decoding request slows every other: a step costs ``base`` plus, per request, ``per_request +
per_ctx_token x its KV tokens`` (its *cost*). A request with ``rem`` tokens left whose last token is due
in ``t_rem`` seconds keeps its SLO at a steady ``t_rem / rem`` seconds per token: for a latency stream
at least its TBT when it is ahead (banked slack, such as an unspent TTFT, is spread over its remaining
tokens) and at least ``late_floor`` x TBT when it is behind (one late stream must not shrink the batch
to nothing); for a deadline or program call with an analyzer bound, its time to the (stage) deadline
after its prefill. Prefill passes take the rest of the time, so the decode step may take ``fraction``
of the tightest such interval: that leaves a *step budget* of seconds for the requests' costs
(`step_budget`). Only latency streams trigger this: deadline work alone is served best by the
throughput of the biggest batch (the policy then leaves the batch to the slot limit).

Deadline work is time-shared rather than run every step. A deadline or program call with an
analyzer bound has a *line*: its remaining tokens spread evenly until its (stage) deadline, one every
``line_tbt = (due - arrival) / (generated + remaining)`` seconds; on its line it needs only
``v / line_tbt`` of the decode steps (its *share*), behind it ``v`` over its remaining time per token.
Admission adds requests while their summed ``share x cost`` fits the step budget (`fit_shares`; an
urgent arrival may count on the calls ahead of their line to make room), and when the requests that
would decode cost more than the budget, running calls ahead of their line *step aside* (are parked,
keeping their KV; best effort first, then the calls with the most slack) and come back as their
slack shrinks (`step_aside`): the streams' due lines come first while a call can still make its
deadline, and a call whose slack is gone decodes every step. Admission weighs each request at its final context (it grows as it decodes).
Latency streams, best effort and calls without a bound count as one full share.

Two things keep time-shared calls from finishing just in time on paper and late in fact (measured on
the CPU engine: every call 2-17 s past its deadline): a line ends a *reserve* (``margin`` of the
call's window) before the due time, a call behind its line is paced to that end, and a call steps
aside only with slack beyond the reserve *and* beyond what the steps between decode steps add to its
remaining tokens (`spare_slack`, from the engine's measured `EngineBudget.decode_interval`). And a
latency arrival may overdraw the step budget a little (``latency_overdraft``): the budget keeps a
share (35% by default) of the tightest interval for prefill, and a stream admitted into part of it keeps its line,
while one left waiting behind committed deadline calls loses its first token.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from tempo_sglang.core.policy import EngineBudget
from tempo_sglang.core.tempo.density import Scores
from tempo_sglang.core.tempo.giveway import (
    budget_density,
    calls_to_displace,
    displace_room,
    displaceable,
    streams_at_risk,
)
from tempo_sglang.core.tempo.store import BE, DL, LAT, PROG, ViewStore


class Lines(NamedTuple):
    """Per-row line of the deadline and program calls with an analyzer bound (NaN for other rows)."""

    tbt: np.ndarray  # seconds per token on the line
    ahead: np.ndarray  # seconds the row is ahead of its line (negative: behind)
    reserve: np.ndarray  # seconds before the due time the line ends (0 for other rows)


def dp_line(sc: Scores, store: ViewStore, idx: np.ndarray, now: float, margin: float = 0.25) -> Lines:
    """Each deadline/program call's line: its remaining tokens spread evenly until ``margin`` of its
    window (arrival to due time) before the due time, so a call on its line finishes with that much
    to spare for step-time error. A call behind its line is paced to the same end (`decode_shares`)
    and steps aside only with more slack than the reserve (`StepBudgeter.aside`)."""
    dp = ((sc.cls == DL) | (sc.cls == PROG)) & store.informed[idx] & np.isfinite(sc.t_rem)
    total = store.gen[idx] + sc.rem
    span = now + sc.t_rem - store.arrival[idx]
    window = (1.0 - margin) * span
    line_tbt = np.where(dp, window / np.maximum(total, 1.0), np.nan)
    line_end = store.arrival[idx] + window
    ahead = np.where(dp, (line_end - now) - sc.rem * line_tbt, np.nan)
    reserve = np.where(dp, np.maximum(margin * span, 0.0), 0.0)
    return Lines(line_tbt, ahead, reserve)


def served_intervals(sc: Scores, store: ViewStore, idx: np.ndarray, served: np.ndarray,
                     prefill_time_per_token: float, line_tbt: np.ndarray, late_floor: float = 0.8) -> np.ndarray:
    """Per-token interval (seconds) each row needs to keep its SLO (see module docstring); NaN for
    rows that do not constrain the batch (not ``served``, best effort, calls without a bound)."""
    tbt = store.tbt[idx]
    rem = np.maximum(sc.rem, 1.0)
    out = np.full(idx.size, np.nan)
    lat = served & (sc.cls == LAT)
    out[lat] = np.maximum(sc.t_rem[lat] / rem[lat], late_floor * tbt[lat])
    dp = served & ~np.isnan(line_tbt)
    if dp.any():
        left = np.maximum(sc.t_rem[dp] - sc.pf_rem[dp] * prefill_time_per_token, 0.0)
        out[dp] = np.maximum(left / rem[dp], late_floor * line_tbt[dp])
    return out


def decode_shares(sc: Scores, idx_size: int, line_tbt: np.ndarray, ahead: np.ndarray, v: float,
                  prefill_time_per_token: float, reserve: np.ndarray | None = None) -> np.ndarray:
    """Share of the decode steps each row needs (1 for streams, best effort and unbounded calls); a
    call behind its line needs its remaining tokens by its line's end (``reserve`` before its due)."""
    share = np.ones(idx_size)
    dp = ~np.isnan(line_tbt)
    if dp.any():
        held = reserve[dp] if reserve is not None else 0.0
        left = np.maximum(sc.t_rem[dp] - sc.pf_rem[dp] * prefill_time_per_token - held, 1e-9)
        behind = v * np.maximum(sc.rem[dp], 1.0) / left
        on_line = v / np.maximum(line_tbt[dp], 1e-9)
        share[dp] = np.clip(np.where(ahead[dp] >= 0, on_line, behind), 0.0, 1.0)
    return share


def request_costs(store: ViewStore, idx: np.ndarray, budget: EngineBudget,
                  growth: np.ndarray | float = 0.0) -> np.ndarray:
    """Seconds each row adds to a decode step (see module docstring), ``growth`` more KV tokens on."""
    ctx = store.prompt[idx] + store.gen[idx] + growth
    return budget.decode_time_per_request + budget.decode_time_per_ctx_token * ctx


def step_budget(intervals: np.ndarray, budget: EngineBudget, fraction: float = 0.65,
                costs: np.ndarray | None = None) -> float | None:
    """Seconds of request costs a decode step may hold; None when nothing limits the batch.

    ``intervals`` (NaN: no constraint) per row; with ``costs``, a row that even a batch of its own
    could not serve in time (``fraction x interval < base + its cost``) is left out: a smaller batch
    cannot save it, and it must not shrink the batch for everyone else."""
    if budget.decode_time_per_request <= 0 and budget.decode_time_per_ctx_token <= 0:
        return None
    usable = ~np.isnan(intervals)
    if costs is not None:
        usable &= fraction * np.nan_to_num(intervals, nan=0.0) >= budget.decode_time_base + costs
    if not usable.any():
        return None
    return fraction * float(np.min(intervals[usable])) - budget.decode_time_base


def slots_within(step_seconds: float | None, costs: np.ndarray, max_running: int) -> int:
    """Request slots the step budget holds at the rows' mean cost (the GMAX batch size)."""
    if step_seconds is None or costs.size == 0:
        return int(max_running)
    mean = float(np.mean(costs))
    return int(min(max_running, max(1, math.floor(step_seconds / mean)))) if mean > 0 else int(max_running)


def fit_shares(order: np.ndarray, weight: np.ndarray, capacity: float, urgent: np.ndarray,
               flexible: float | np.ndarray, overdraft: np.ndarray | None = None) -> np.ndarray:
    """Rows of ``order`` admitted in order while their ``weight`` fits ``capacity`` (others skip); an
    ``urgent`` row may also use ``flexible`` seconds (running calls that can step aside; per row or
    one figure for all), and a row its ``overdraft`` seconds beyond the capacity."""
    flex = np.broadcast_to(np.asarray(flexible, dtype=float), weight.shape)
    keep = []
    for row in order.tolist():
        room = capacity + (flex[row] if urgent[row] else 0.0) + (overdraft[row] if overdraft is not None else 0.0)
        if weight[row] <= room + 1e-12:
            keep.append(row)
            capacity -= weight[row]
    return np.array(keep, dtype=np.int64)


def step_aside(ahead: np.ndarray, slack: np.ndarray, cls: np.ndarray, costs: np.ndarray, n_running: int,
               over: float, min_slack: float) -> np.ndarray:
    """Running rows to park so that ``over`` seconds leave the decode step: best effort first, then
    deadline and program calls with a line and more than ``min_slack`` seconds of slack, most slack
    first (behind their line too, if need be: the streams' due lines come first while the call can
    still make its deadline)."""
    if over <= 0:
        return np.empty(0, dtype=np.int64)
    be = np.flatnonzero(cls[:n_running] == BE)
    lined = np.flatnonzero(~np.isnan(ahead[:n_running]) & (slack[:n_running] > min_slack))
    rows = np.concatenate((be, lined[np.argsort(-slack[lined], kind="stable")])).astype(np.int64)
    if rows.size == 0:
        return rows
    k = int(np.searchsorted(np.cumsum(costs[rows]), over, side="left")) + 1
    return rows[:k]


def spare_slack(sc: Scores, lines: Lines, budget: EngineBudget) -> np.ndarray:
    """Slack a time-shared call can give away: its slack less its line's reserve and less the time the
    steps *between* decode steps add to its remaining tokens (``Scores.slack`` counts one decode step
    per token; on an engine that runs prefill passes in between a token takes `interval_ratio` x that,
    measured). Parking a call on the plain slack makes it finish just in time on paper, late in fact."""
    between = np.where(np.isnan(lines.tbt), 0.0,
                       sc.rem * budget.decode_step_time * (budget.interval_ratio - 1.0))
    return sc.slack - lines.reserve - between


@dataclass
class StepBudgeter:
    """Admission and stepping aside under a step budget, with the latency load seen lately.

    ``time_share``: deadline calls decode their share of the steps (else every step once admitted);
    ``aside_slack_steps``: a call with more slack than this many decode steps may step aside;
    ``reserve_decay``: per full pass, how fast the remembered latency load fades;
    ``latency_overdraft``: a latency request may be admitted although the step then runs this share
    longer than the budget (the budget keeps ``1 - fraction`` of the tightest interval for prefill; a
    stream admitted into part of that keeps its line, one left waiting loses its first token);
    ``give_way``: a latency arrival, or a stream whose next token is due within ``risk_steps`` decode
    intervals, may displace running calls of lower budget density (`giveway`), and calls of any
    budget density with more plain slack than ``arrival_slack_steps`` decode intervals (0: off).
    """

    time_share: bool = True
    aside_slack_steps: float = 20.0
    reserve_decay: float = 0.995
    latency_overdraft: float = 0.0
    give_way: bool = True
    risk_steps: float = 3.0
    arrival_slack_steps: float = 0.0
    reserve: float = 0.0  # step seconds the latency load took lately (decaying maximum)

    def _weigh(self, sc: Scores, store: ViewStore, idx: np.ndarray, n_running: int, lines: Lines, v: float,
               budget: EngineBudget, step_seconds: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per row: its weight (decode share x cost at its final context), whether it may step aside
        for urgent work (running best effort, or a call with spare slack), and its budget density."""
        v_cap = max(v, step_seconds + budget.decode_time_base)  # steps run up to the budget under the cap
        shares = decode_shares(sc, idx.size, lines.tbt, lines.ahead, v_cap * budget.interval_ratio,
                               budget.prefill_time_per_token, lines.reserve) \
            if self.time_share else np.ones(idx.size)
        final = request_costs(store, idx, budget, growth=sc.rem)
        spare = spare_slack(sc, lines, budget)
        flexible = (((~np.isnan(lines.ahead) & (spare > self.aside_slack_steps * v)) | (sc.cls == BE))
                    & self.time_share & (np.arange(idx.size) < n_running))
        return shares * final, flexible, budget_density(sc, final)

    def _spare(self, sc: Scores, budget: EngineBudget) -> np.ndarray | None:
        """Rows with enough plain slack for a latency arrival or a stream at risk to displace at any
        budget density (None: off)."""
        if self.arrival_slack_steps <= 0:
            return None
        interval = max(budget.decode_interval, budget.decode_step_time, 1e-6)
        return sc.slack > self.arrival_slack_steps * interval

    def admit(self, order: np.ndarray, sc: Scores, store: ViewStore, idx: np.ndarray, n_running: int,
              waiting_served: np.ndarray, lines: Lines, v: float,
              budget: EngineBudget, step_seconds: float, horizon: float) -> np.ndarray:
        """The rows of ``order`` whose decode shares x costs fit the step budget (`fit_shares`); a
        latency arrival may also displace running calls of lower budget density (`giveway`)."""
        n_r = n_running
        weight, flexible, bd = self._weigh(sc, store, idx, n_r, lines, v, budget, step_seconds)
        lat_now = float(weight[:n_r][sc.cls[:n_r] == LAT].sum())
        lat_wait = float(weight[waiting_served & (sc.cls == LAT)].sum())
        self.reserve = max(lat_now + lat_wait, self.reserve * self.reserve_decay)
        # calm deadline work leaves room for the latency load seen lately; streams may use it
        urgent = (sc.slack < horizon) | (sc.cls == LAT)
        room = step_seconds - float(weight[:n_r].sum())
        calm_room = room - max(0.0, self.reserve - lat_now)
        overdraft = np.where(sc.cls == LAT, self.latency_overdraft * (step_seconds + budget.decode_time_base), 0.0)
        borrow = np.full(idx.size, float(weight[flexible].sum()) + room - calm_room)
        if self.give_way and self.time_share:
            lat = np.flatnonzero(sc.cls == LAT)
            borrow[lat] += displace_room(displaceable(sc, n_r, flexible), weight, bd, bd[lat],
                                         self._spare(sc, budget))
        return fit_shares(order, weight, calm_room, urgent, borrow, overdraft)

    def aside(self, sc: Scores, store: ViewStore, idx: np.ndarray, lines: Lines, costs: np.ndarray,
              admitted: np.ndarray, n_running: int, gone: np.ndarray, decoding: np.ndarray,
              v: float, budget: EngineBudget, step_seconds: float) -> np.ndarray:
        """Running rows to park so the decoders (less the ``gone`` ones, plus ``admitted``) fit: calls
        with more `spare_slack` than ``aside_slack_steps`` decode steps; then, for a stream about to
        leave its line or a latency arrival, calls of lower budget density (`giveway`)."""
        if not self.time_share:
            return np.empty(0, dtype=np.int64)
        over = float(costs[:n_running][~gone].sum() + costs[admitted].sum()) - step_seconds
        rows = step_aside(lines.ahead, spare_slack(sc, lines, budget), sc.cls, costs, n_running, over,
                          self.aside_slack_steps * max(budget.decode_step_time, 1e-6))
        if not self.give_way:
            return rows
        interval = max(budget.decode_interval, budget.decode_step_time, 1e-6)
        risk = streams_at_risk(sc, n_running, decoding & ~gone, budget.now, interval, self.risk_steps)
        arrivals = admitted[sc.cls[admitted] == LAT]
        if risk.size == 0 and arrivals.size == 0:
            return rows
        _, flexible, bd = self._weigh(sc, store, idx, n_running, lines, v, budget, step_seconds)
        allowance = 0.0 if risk.size else self.latency_overdraft * (step_seconds + budget.decode_time_base)
        need = over - allowance - float(costs[rows].sum())
        claim = float(bd[np.concatenate((risk, arrivals))].max())
        cand = displaceable(sc, n_running, flexible)  # disjoint from ``rows``: those may step aside
        cand = cand[~gone[cand]]
        spare = self._spare(sc, budget)
        picks = calls_to_displace(cand, bd, costs, claim, need, sc.slack, spare)
        return np.concatenate((rows, picks)).astype(np.int64)
