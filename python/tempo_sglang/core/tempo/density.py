"""Bandwidth need and gain density of every request, vectorised (SPEC section 3).

For request r at time ``now`` with ``v`` the decode step time and ``p`` the prefill time per token:

- ``rem``: remaining output bound (the analyzer's, or the true one for the oracle), at least 1;
- ``t_gen = rem * v + prefill_remaining * p``: engine time r needs if served every step;
- ``t_rem``: time to r's next due point: the next token's due time (latency), the stage deadline
  (program, when the analyzer set one) or the deadline;
- ``slack``: how long r can wait before it starts losing gain, against the deadline (or the next
  token's due time). ``stage_use`` says where a stage deadline counts: "rem" (default) in ``t_rem``
  and ``bw`` only (the share of the engine a call needs to keep its program on schedule), "slack" in
  the slack only, "full" in both, "off" nowhere. Not in the slack by default: the slack orders
  urgent admissions, and stage deadlines made program calls jump every queue under overload
  (simulator, paper mix at the knee: 19.9k -> 21.5k token goodput with the analyzer, oracle 23.1k ->
  23.6k; the stage deadline in ``t_rem`` alone changed nothing there);
- ``bw = t_gen / t_rem`` (share of steps r needs); ``bw > 1``: it can no longer make it;
- ``gain``: the SLO-meeting gain still achievable. Already secured or already lost gain is excluded:
  a latency request counts only the output tokens that can still meet their due time if served every
  step from now on at ``latency_fast_fraction`` of its TBT per token (or the current step, if
  faster), plus its prompt while its first token can still be on time. Not at the current step: on
  the CPU engine a big batch's step exceeds the TBT, which counted every stream a step behind its
  line (and every arrival waiting 1.6 of its 2 s TTFT) as worthless, so it was left out of the batch
  and waited up to 35 s (measured); a deadline or program
  call counts ``input + w_d * output``, discounted by ``1 / bw**fit_power`` (default 2) when the bound says it does not
  fit (``bw > 1``: the bound is conservative, the true length is usually shorter), 0 when hopeless;
- ``density = gain / t_gen``; a program call gets its program's density: the sum of the live calls'
  gain over the program's critical-path time (the longest ``t_gen`` among its live calls, which run
  in parallel).

A request is *hopeless* when it has SLO class but no achievable gain: a deadline/program request past
its (program) deadline or unable to fit even its prefill and one token before it, or whose ``bw``
against it exceeds ``demote_bw`` with an exact length (oracle); with the analyzer, ``bw`` is taken at
its *low* quantile (``view.length_low``, a p25 of the same conditional length distribution as the
bound) against ``demote_bw * low_slack``: even a typical-to-short answer would not fit. Where the
analyzer gives no low quantile, ``bw`` at the bound against ``demote_bw * bound_slack`` (a
conservative bound alone cannot prove a request hopeless; a request still on the default bound is
never declared hopeless before its deadline). With the low quantile (and a p90 bound) Tempo with the
analyzer went from 0.92 to 0.955 of oracle Tempo at the paper mix's knee (simulator, 16 seeds,
benchmark/RESULTS.md "Session 14"); a latency request
none of whose remaining tokens can meet its due line even if served at ``latency_fast_fraction`` of
its TBT per token.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tempo_sglang.core.tempo.store import BE, DL, LAT, PROG, ViewStore
from tempo_sglang.core.views import DECODE_WEIGHT, DEFAULT_LENGTH_BOUND


@dataclass
class Scores:
    """Per-row arrays (rows = the slot indices passed to `score`)."""

    cls: np.ndarray  # effective class (BE once demoted)
    rem: np.ndarray
    pf_rem: np.ndarray
    t_gen: np.ndarray
    t_rem: np.ndarray
    bw: np.ndarray
    slack: np.ndarray  # seconds r can wait before it starts losing gain
    due_lat: np.ndarray  # latency rows: due time of the next output token
    gain: np.ndarray
    density: np.ndarray
    hopeless: np.ndarray


def score(store: ViewStore, idx: np.ndarray, now: float, v: float, p: float,
          demote_bw: float = 1.0, bound_slack: float = 3.0, latency_fast_fraction: float = 0.5,
          v_floor: float | None = None, stage_use: str = "rem", late_is_lost: bool = False,
          fit_power: float = 2.0, low_slack: float | None = 1.0) -> Scores:
    """Compute `Scores` for the slots ``idx``.

    ``v_floor`` (default ``v``): the fastest step time seen lately; hopelessness is judged with it, so
    a request is not demoted because the batch happens to be slow right now.
    """
    v = max(float(v), 1e-6)
    p = max(float(p), 0.0)
    fl, it, bo = store.gather(idx)
    arrival, ttft, tbt_all, deadline, _max_wait, lb, stage, lo = fl
    cls0, prompt, max_new, pcode, gen, pre = it
    demoted, _was_running, informed = bo
    cls = np.where(demoted, BE, cls0)
    pf_rem = np.maximum(prompt - pre, 0)
    bound = np.minimum(np.where(np.isnan(lb), DEFAULT_LENGTH_BOUND, lb), max_new)
    rem = np.maximum(bound - gen, 1.0)
    pf_time = pf_rem * p
    t_gen = rem * v + pf_time

    is_lat = cls == LAT
    tbt = np.where(is_lat, tbt_all, 1.0)
    due_lat = arrival + np.where(is_lat, ttft, 0.0) + gen * tbt
    # latency: tokens k = 0.. (from now) arrive at now + pf_time + (k+1) v, due at due_lat + k tbt
    slack_lat = due_lat - now - pf_time - v
    # tokens still achievable: counted at the step a smaller batch gives (the policy sizes the batch
    # for the streams), not at the current step, which may exceed the TBT while the batch is big
    v_fast = np.minimum(v, latency_fast_fraction * tbt)
    slack_fast = slack_lat + v - v_fast
    late = slack_fast < 0
    lost = np.where(~late, 0.0, np.ceil(-slack_fast / np.maximum(tbt - v_fast, 1e-9)))
    ach_tok = np.clip(rem - lost, 0.0, None)
    gain_lat = DECODE_WEIGHT * ach_tok + np.where((gen == 0) & ~late, prompt, 0)
    lat_hopeless = ach_tok <= 0
    if late_is_lost:  # a token already past its due time fails the due line: the SLO is lost
        lat_hopeless |= is_lat & (due_lat < now - v)

    # deadline / program: all or nothing by the (program) deadline; urgency from the stage deadline
    # a stage deadline that can no longer be kept gives way to the program's own deadline: the
    # program may still make it, and a lapsed stage line would make the call endlessly "urgent"
    due_stage = np.where((cls == PROG) & ~np.isnan(stage) & (stage - now >= t_gen), stage, deadline)
    due_dp = due_stage if stage_use in ("full", "rem") else deadline
    due_slack = due_stage if stage_use in ("full", "slack") else deadline
    t_left = deadline - now
    v_opt = min(v, v_floor) if v_floor is not None and v_floor > 0 else v
    with np.errstate(divide="ignore", invalid="ignore"):
        bw_final = np.where(t_left > 0, t_gen / t_left, np.inf)
        bw_opt = np.where(t_left > 0, (rem * v_opt + pf_time) / t_left, np.inf)
    limit = demote_bw if store.oracle else demote_bw * bound_slack
    too_long = informed & (bw_opt > limit)
    if low_slack is not None and not store.oracle:  # the analyzer's low quantile, where it gave one
        has_low = ~np.isnan(lo)
        if has_low.any():
            rem_lo = np.maximum(np.minimum(np.where(has_low, lo, 0.0), max_new) - gen, 1.0)
            with np.errstate(divide="ignore", invalid="ignore"):
                bw_lo = np.where(t_left > 0, (rem_lo * v_opt + pf_time) / t_left, np.inf)
            too_long = np.where(has_low, bw_lo > demote_bw * low_slack, too_long)
    dp_hopeless = (t_left < pf_time + v_opt) | too_long
    full = prompt + DECODE_WEIGHT * (gen + rem)
    gain_dp = np.where(dp_hopeless, 0.0, full / np.maximum(bw_final, 1.0) ** fit_power)

    t_rem = np.where(is_lat, due_lat - now + (rem - 1) * tbt, due_dp - now)
    with np.errstate(divide="ignore", invalid="ignore"):
        bw = np.where(t_rem > 0, t_gen / t_rem, np.inf)
    gain = np.where(is_lat, gain_lat, np.where((cls == DL) | (cls == PROG), gain_dp, 0.0))
    slack = np.where(is_lat, slack_lat, due_slack - now - t_gen)
    hopeless = np.where(is_lat, lat_hopeless, ((cls == DL) | (cls == PROG)) & dp_hopeless)
    density = gain / t_gen

    prog = np.flatnonzero((cls == PROG) & (pcode >= 0))
    if prog.size:
        codes, inv = np.unique(pcode[prog], return_inverse=True)
        g_sum = np.bincount(inv, weights=gain[prog], minlength=codes.size)
        t_cp = np.zeros(codes.size)
        np.maximum.at(t_cp, inv, t_gen[prog])
        density[prog] = np.where(gain[prog] > 0, g_sum[inv] / t_cp[inv], 0.0)
    return Scores(cls=cls, rem=rem, pf_rem=pf_rem, t_gen=t_gen, t_rem=t_rem, bw=bw, slack=slack,
                  due_lat=due_lat, gain=gain, density=density, hopeless=hopeless)
