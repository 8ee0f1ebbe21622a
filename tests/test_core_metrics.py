"""Service gain and summary metrics against hand-computed cases of SPEC section 2."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tempo_sglang.core import gain as G
from tempo_sglang.core.metrics import flatten, summarize
from tempo_sglang.core.views import RequestRecord
from tempo_sglang.slo import SLOClass, TempoSLO

LAT = TempoSLO(SLOClass.LATENCY, ttft_ms=1000, tbt_ms=100)
DL = TempoSLO(SLOClass.DEADLINE, deadline_ms=10000)
BE = TempoSLO()


def prog(pid: str, node: str) -> TempoSLO:
    return TempoSLO(SLOClass.PROGRAM, deadline_ms=10000, program_id=pid, node_id=node)


def lat_record(times: list[float], prompt: int = 10, status: str = "ok", rid: str = "l") -> RequestRecord:
    return RequestRecord(rid, LAT, 0.0, prompt, len(times), times, times[-1] if times else None, status=status)


def test_latency_partial_credit():
    # dues: 1.0, 1.1, 1.2, 1.3 -> token 2 (at 1.3) is late, the others are on time
    rec = lat_record([0.9, 1.1, 1.3, 1.3])
    assert G.latency_gain(rec) == 10 + 8 * 3


def test_latency_ttft_miss_loses_prompt_only():
    # TTFT 1.05 > 1.0: no prompt credit, token 0 late; tokens 1..3 due 1.1, 1.2, 1.3 are on time
    rec = lat_record([1.05, 1.1, 1.15, 1.2])
    assert G.latency_gain(rec) == 8 * 3


def test_latency_soft_variant():
    rec = lat_record([0.9, 1.1, 1.3, 1.3])
    expected = 10 + 8 * (3 + (1.2 / 1.3) ** 100)
    assert G.latency_gain(rec, G.SOFT_K) == pytest.approx(expected)
    late_first = lat_record([2.0, 2.0])  # TTFT 2 s vs 1 s; token 1 due 1.1 delivered 2.0
    expected = 10 * 0.5 ** 100 + 8 * (0.5 ** 100 + (1.1 / 2.0) ** 100)
    assert G.latency_gain(late_first, G.SOFT_K) == pytest.approx(expected)


def test_deadline_all_or_nothing_and_soft():
    ok = RequestRecord("d", DL, 0.0, 100, 50, [1.0] * 50, 9.9)
    late = RequestRecord("d", DL, 0.0, 100, 50, [1.0] * 50, 10.1)
    assert G.deadline_gain(ok) == 100 + 8 * 50
    assert G.deadline_gain(late) == 0
    assert G.deadline_gain(late, G.SOFT_K) == pytest.approx(500 * (10 / 10.1) ** 100)
    assert G.deadline_gain(ok, G.SOFT_K) == 500


def test_program_all_or_nothing():
    a = RequestRecord("a", prog("p", "a"), 0.0, 100, 10, [1.0] * 10, 4.0)
    b = RequestRecord("b", prog("p", "b"), 5.0, 50, 20, [6.0] * 20, 9.5)
    assert G.program_gain([a, b]) == (100 + 80) + (50 + 160)
    b_late = RequestRecord("b", prog("p", "b"), 5.0, 50, 20, [6.0] * 20, 10.5)  # 10.5 s after start
    assert G.program_gain([a, b_late]) == 0
    # an explicit, earlier program start moves the deadline earlier
    a_early = RequestRecord("a", prog("p", "a"), 0.0, 100, 10, [1.0] * 10, 4.0, program_start=-1.0)
    assert G.program_gain([a_early, b]) == 0
    assert G.program_gain([a, b_late], G.SOFT_K) == pytest.approx(390 * (10 / 10.5) ** 100)


def test_failed_and_demoted_requests_earn_zero_and_are_counted():
    failed = lat_record([0.9, 1.0], status="error", rid="f")
    dropped = RequestRecord("x", DL, 0.0, 10, 0, [], None, status="dropped")
    demoted = RequestRecord("m", DL, 0.0, 100, 50, [1.0] * 50, 5.0, demoted=True)
    good = RequestRecord("g", DL, 0.0, 100, 50, [1.0] * 50, 5.0)
    s = summarize([failed, dropped, demoted, good], duration=10.0)
    assert s["num_requests"] == 4
    assert s["num_error"] == 1 and s["num_dropped"] == 1 and s["num_demoted"] == 1
    assert s["service_gain"] == 500
    assert s["num_units"] == 4 and s["num_met"] == 1
    assert s["slo_attainment"] == pytest.approx(25.0)
    assert s["per_class"]["deadline"]["slo_attainment"] == pytest.approx(100 / 3)


def test_summary_totals_goodput_and_bench_keys():
    lat_ok = lat_record([0.5, 0.6, 0.7], rid="l1")  # due 1.0, 1.1, 1.2: all on time; gaps 0.1
    lat_gap = lat_record([0.2, 0.5, 0.6], rid="l2")  # on the due line, but one gap of 0.3 s > TBT
    dl_ok = RequestRecord("d", DL, 1.0, 100, 2, [2.0, 3.0], 3.0)
    p1 = RequestRecord("a", prog("p", "a"), 0.0, 20, 1, [1.0], 1.0)
    p2 = RequestRecord("b", prog("p", "b"), 1.0, 30, 1, [2.0], 2.0)
    be = RequestRecord("e", BE, 0.0, 5, 4, [1.0, 1.5, 2.0, 2.5], 2.5)
    s = summarize([lat_ok, lat_gap, dl_ok, p1, p2, be], duration=4.0)
    gain = (10 + 24) * 2 + (100 + 16) + (20 + 8 + 30 + 8)
    assert s["service_gain"] == gain
    assert s["token_goodput"] == pytest.approx(gain / 4.0)
    assert s["num_units"] == 4 and s["num_programs"] == 1  # 2 latency + 1 deadline + 1 program
    assert s["request_goodput"] == pytest.approx(4 / 4.0)
    assert s["latency_attainment"] == 100.0
    assert s["latency_gap_attainment"] == 50.0
    assert s["latency_token_attainment"] == 100.0
    assert s["per_class"]["best_effort"]["service_gain"] == 0
    assert s["best_effort_throughput"] == pytest.approx(4 / 4.0)
    ttfts = [0.5, 0.2, 1.0, 1.0, 1.0, 1.0]
    assert s["mean_ttft_ms"] == pytest.approx(1000 * sum(ttfts) / 6)
    assert s["median_ttft_ms"] == pytest.approx(1000.0)
    assert s["mean_e2e_latency_ms"] == pytest.approx(1000 * (0.7 + 0.6 + 2.0 + 1.0 + 1.0 + 2.5) / 6)
    assert s["request_throughput"] == pytest.approx(6 / 4.0)
    assert s["output_throughput"] == pytest.approx((3 + 3 + 2 + 1 + 1 + 4) / 4.0)
    itl = [0.1, 0.1, 0.3, 0.1, 1.0, 0.5, 0.5, 0.5]
    assert s["mean_itl_ms"] == pytest.approx(1000 * sum(itl) / len(itl))
    for k in ("p90_tpot_ms", "p99_itl_ms", "median_e2e_latency_ms"):
        assert math.isfinite(s[k])
    flat = flatten(s)
    assert flat["latency.num_requests"] == 2 and "per_class" not in flat


def test_empty_run_is_clean():
    s = summarize([], duration=1.0)
    assert s["service_gain"] == 0 and s["mean_ttft_ms"] == 0.0 and s["slo_attainment"] == 0.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.0, 5.0), min_size=1, max_size=30), st.integers(0, 500),
       st.sampled_from(["ok", "error"]))
def test_gain_bounds(offsets, prompt, status):
    """0 <= hard <= soft <= full for any latency or deadline record."""
    times = sorted(offsets)
    lat = lat_record(times, prompt=prompt, status=status)
    dl = RequestRecord("d", DL, 0.0, prompt, len(times), times, times[-1] * 3, status=status)
    full = G.full_gain(prompt, len(times))
    for rec in (lat, dl):
        hard, soft = G.request_gain(rec), G.request_gain(rec, G.SOFT_K)
        assert 0 <= hard <= soft + 1e-9 <= full + 1e-6
        if status != "ok":
            assert hard == soft == 0


def test_zero_output_priming_call():
    on_time = RequestRecord("z", LAT, 0.0, 40, 0, [], 0.5)
    late = RequestRecord("z2", LAT, 0.0, 40, 0, [], 1.5)
    assert G.latency_gain(on_time) == 40 and G.latency_gain(late) == 0
    s = summarize([on_time, late], duration=2.0)
    assert s["num_met"] == 1 and s["completed"] == 2 and s["mean_e2e_latency_ms"] == pytest.approx(1000.0)
