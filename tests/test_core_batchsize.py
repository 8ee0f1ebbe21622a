"""Tempo on an engine whose decode step grows with the batch: the step budget, admission and stepping aside."""

from __future__ import annotations

import numpy as np

from tempo_sglang.core.policy import EngineBudget
from tempo_sglang.core.tempo import TempoPolicy
from tempo_sglang.core.tempo.batchsize import fit_shares, step_aside, step_budget
from tempo_sglang.core.tempo.store import BE, DL, LAT
from tempo_sglang.core.views import RequestView
from tempo_sglang.slo import SLOClass, TempoSLO

LATENCY = TempoSLO(slo_class=SLOClass.LATENCY, ttft_ms=2000, tbt_ms=100)


def _budget(per_request: float, max_running: int = 64) -> EngineBudget:
    return EngineBudget(now=0.0, max_running=max_running, kv_free_tokens=10**9, token_budget=4096,
                        decode_step_time=0.03, prefill_time_per_token=1e-4, decode_time_base=0.02,
                        decode_time_per_request=per_request)


def _waiting(n: int, slo: TempoSLO) -> list[RequestView]:
    return [RequestView(rid=f"r{i}", slo=slo, arrival=0.0, prompt_len=64, max_new_tokens=64) for i in range(n)]


def test_latency_streams_cap_admissions_when_the_step_grows_with_the_batch():
    # each stream may take (2 s TTFT + 63 x 100 ms) / 64 tokens = 130 ms per token; 0.65 of that less the
    # 20 ms base leaves 64.5 ms for the requests' costs: 6 requests at 10 ms each (0.75: 77 ms, 7)
    capped = TempoPolicy(latency_overdraft=0.0).schedule(_waiting(20, LATENCY), [], _budget(per_request=0.01))
    assert len(capped.admit) == 6
    wider = TempoPolicy(latency_overdraft=0.0, tbt_step_fraction=0.75)
    assert len(wider.schedule(_waiting(20, LATENCY), [], _budget(per_request=0.01)).admit) == 7
    # latency arrivals may overdraw the 84.5 ms step by a third (28 ms): 3 more
    overdrawn = TempoPolicy().schedule(_waiting(20, LATENCY), [], _budget(per_request=0.01))
    assert len(overdrawn.admit) == 9
    flat = TempoPolicy().schedule(_waiting(20, LATENCY), [], _budget(per_request=0.0))
    assert len(flat.admit) == 20  # a flat step time (a GPU below its knee): the slots are the limit


def test_best_effort_alone_is_not_capped():
    decision = TempoPolicy().schedule(_waiting(20, TempoSLO()), [], _budget(per_request=0.01))
    assert len(decision.admit) == 20


def test_step_budget_follows_the_tightest_interval():
    budget = _budget(per_request=0.01)
    assert step_budget(np.array([0.4, 0.1, np.nan]), budget, fraction=0.5) == 0.5 * 0.1 - 0.02
    assert step_budget(np.array([np.nan]), budget) is None
    assert step_budget(np.array([0.1]), _budget(per_request=0.0)) is None
    # a row no batch could serve in time (0.5 x 40 ms < 20 ms base + 10 ms) does not shrink the batch
    costs = np.full(2, 0.01)
    assert step_budget(np.array([0.4, 0.04]), budget, fraction=0.5, costs=costs) == 0.5 * 0.4 - 0.02


def test_fit_shares_skips_what_does_not_fit_and_lets_urgent_work_borrow():
    order = np.array([0, 1, 2, 3])
    weight = np.array([0.03, 0.05, 0.01, 0.02])
    urgent = np.array([False, False, False, True])
    assert fit_shares(order, weight, 0.045, urgent, 0.0).tolist() == [0, 2]  # 1 and 3 skip
    assert fit_shares(order, weight, 0.045, urgent, 0.05).tolist() == [0, 2, 3]  # 3 borrows


def test_step_aside_parks_best_effort_first_then_the_calls_with_most_slack():
    cls = np.array([LAT, DL, DL, BE, DL])
    ahead = np.array([np.nan, 1.0, -0.5, np.nan, 2.0])
    slack = np.array([0.1, 5.0, 9.0, 0.0, 0.2])
    costs = np.full(5, 0.01)
    rows = step_aside(ahead, slack, cls, costs, 5, over=0.015, min_slack=1.0)
    assert rows.tolist() == [3, 2]  # best effort, then the call with 9 s of slack (even behind its line)
    assert step_aside(ahead, slack, cls, costs, 5, over=1.0, min_slack=1.0).tolist() == [3, 2, 1]
    assert step_aside(ahead, slack, cls, costs, 5, over=0.0, min_slack=1.0).size == 0


def test_step_choice_caps_only_when_the_kept_lines_earn_more():
    from tempo_sglang.core.tempo.stepchoice import best_step_budget

    budget = _budget(per_request=0.01)  # step = 20 ms + 10 ms per request
    costs = np.full(40, 0.01)
    intervals = np.full(40, np.nan)
    intervals[:4] = 0.1  # four streams tolerate a step of 75 ms (fraction 0.75): at most 5 requests
    # the streams earn little per token, the 36 other requests much: the big batch wins (no cap)
    per_token = np.r_[np.full(4, 0.1), np.full(36, 1.0)]
    assert best_step_budget(intervals, per_token, costs, budget) is None
    # the streams earn much more per token than the rest: keeping their line is worth the small batch
    per_token = np.r_[np.full(4, 50.0), np.full(36, 1.0)]
    assert best_step_budget(intervals, per_token, costs, budget, fraction=0.75) == 0.75 * 0.1 - 0.02
    # only the ``sizing`` rows may set a cap; without a step-time model nothing does
    assert best_step_budget(intervals, per_token, costs, budget, sizing=np.zeros(40, dtype=bool)) is None
    assert best_step_budget(intervals, per_token, costs, _budget(per_request=0.0)) is None


def test_interval_ratio_and_line_reserve_make_a_deadline_call_decode_sooner():
    """A call that gets one token per decode step *plus* the prefill passes in between has less slack
    to give away, and a call behind its line is paced to the line's end, not to its due time."""
    from tempo_sglang.core.tempo.batchsize import decode_shares, dp_line, spare_slack
    from tempo_sglang.core.tempo.density import score
    from tempo_sglang.core.tempo.store import ViewStore

    slo = TempoSLO(slo_class=SLOClass.DEADLINE, deadline_ms=50_000)
    view = RequestView(rid="d", slo=slo, arrival=0.0, prompt_len=64, max_new_tokens=512, prefilled=64,
                       generated=10, length_bound=100)
    store = ViewStore()
    ir, _iw, _ = store.sync([], [view], True)
    sc = score(store, ir, now=30.0, v=0.1, p=1e-3)
    lines = dp_line(sc, store, ir, now=30.0, margin=0.2)
    assert lines.ahead[0] < 0 and abs(lines.reserve[0] - 10.0) < 1e-9  # 20% of the 50 s window
    flat = EngineBudget(now=30.0, max_running=8, kv_free_tokens=10**6, token_budget=512, decode_step_time=0.1)
    slowed = EngineBudget(now=30.0, max_running=8, kv_free_tokens=10**6, token_budget=512, decode_step_time=0.1,
                          decode_interval=0.25)
    assert slowed.interval_ratio == 2.5 and flat.interval_ratio == 1.0
    # 20 s left, 90 tokens: slack 11 s; less the 10 s reserve; less 90 x 0.15 s between decode steps
    assert abs(spare_slack(sc, lines, flat)[0] - 1.0) < 1e-6
    assert abs(spare_slack(sc, lines, slowed)[0] - (1.0 - 13.5)) < 1e-6
    no_reserve = decode_shares(sc, 1, lines.tbt, lines.ahead, 0.1, 1e-3)
    reserved = decode_shares(sc, 1, lines.tbt, lines.ahead, 0.1, 1e-3, lines.reserve)
    assert reserved[0] > no_reserve[0]  # 90 tokens in 10 s, not in 20 s


def test_a_latency_arrival_may_overdraw_the_step_budget_when_allowed():
    order = np.array([0, 1])
    weight = np.array([0.02, 0.02])
    urgent = np.array([True, True])
    assert fit_shares(order, weight, 0.01, urgent, 0.0).size == 0
    overdraft = np.array([0.015, 0.0])  # row 0 is a latency request, row 1 a deadline call
    assert fit_shares(order, weight, 0.01, urgent, 0.0, overdraft).tolist() == [0]


def test_step_choice_counts_time_shared_calls_at_the_rate_their_line_needs():
    """36 deadline calls on a 1 s line earn no more decoding every step, so keeping four streams on
    their 0.1 s line is worth the small step; with streams worth nothing the batch stays uncapped."""
    from tempo_sglang.core.tempo.stepchoice import best_step_budget

    budget = _budget(per_request=0.01)  # step = 20 ms + 10 ms per request
    costs = np.full(40, 0.01)
    intervals = np.r_[np.full(4, 0.1), np.full(36, 1.0)]
    per_token = np.r_[np.full(4, 1.0), np.full(36, 2.0)]
    sizing = np.arange(40) < 4
    assert best_step_budget(intervals, per_token, costs, budget, 0.75, sizing=sizing) == 0.75 * 0.1 - 0.02
    worthless = np.r_[np.zeros(4), np.full(36, 2.0)]
    assert best_step_budget(intervals, worthless, costs, budget, sizing=sizing) is None
