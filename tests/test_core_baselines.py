"""Baseline orders on crafted cases, GMAX's window choice, and the policy registry."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tempo_sglang.core.policy import EngineBudget, Policy
from tempo_sglang.core.registry import POLICY_NAMES, make_policy
from tempo_sglang.core.tempo.gmax import gmax_select
from tempo_sglang.core.views import RequestView
from tempo_sglang.slo import SLOClass, TempoSLO

LAT = TempoSLO(SLOClass.LATENCY, ttft_ms=1000, tbt_ms=100)
DL = TempoSLO(SLOClass.DEADLINE, deadline_ms=5000)
BE = TempoSLO()


def prog(pid: str, node: str, parents: tuple[str, ...] = ()) -> TempoSLO:
    return TempoSLO(SLOClass.PROGRAM, deadline_ms=20000, program_id=pid, node_id=node, parents=parents)


def budget(now: float = 10.0, max_running: int = 8) -> EngineBudget:
    return EngineBudget(now=now, max_running=max_running, kv_free_tokens=100000, token_budget=2048,
                        decode_step_time=0.02, prefill_time_per_token=1e-4)


def crafted() -> list[RequestView]:
    return [
        RequestView("be", BE, arrival=1.0, prompt_len=10, max_new_tokens=100, length_bound=5),
        RequestView("dl", DL, arrival=2.0, prompt_len=10, max_new_tokens=100, cached_len=8, length_bound=50),
        RequestView("lat", LAT, arrival=3.0, prompt_len=10, max_new_tokens=100, length_bound=80),
        RequestView("pg", prog("p", "n1"), arrival=4.0, prompt_len=10, max_new_tokens=100, cached_len=4,
                    length_bound=20),
    ]


@pytest.mark.parametrize("name, expected", [
    ("fcfs", ["be", "dl", "lat", "pg"]),
    ("lpm", ["dl", "pg", "be", "lat"]),
    ("priority", ["lat", "pg", "dl", "be"]),
    ("edf", ["lat", "dl", "pg", "be"]),  # dues 4.0, 7.0, 24.0, none
    ("ltr", ["be", "pg", "dl", "lat"]),  # bounds 5, 20, 50, 80
])
def test_single_request_baseline_orders(name, expected):
    assert make_policy(name).schedule(crafted(), [], budget()).admit == expected


def test_priority_is_configurable_and_preempts_lower_classes():
    pol = make_policy("priority", class_priority={"deadline": 0, "latency": 5})
    assert pol.schedule(crafted(), [], budget()).admit[:2] == ["dl", "pg"]
    running = [RequestView("run_be", BE, 0.0, 10, 100, prefilled=10, generated=3)]
    d = make_policy("priority").schedule(crafted()[2:3], running, budget(max_running=1))
    assert d.preempt == ["run_be"] and d.park == []


def test_autellix_plas_orders_by_program_attained_service():
    pol = make_policy("autellix", quantum=16)
    done = RequestView("old", prog("heavy", "n0"), 0.0, 400, 100, prefilled=400, generated=100)
    pol.on_finish(done, 1.0)  # program "heavy" attained 500 tokens
    waiting = [
        RequestView("h2", prog("heavy", "n1", ("n0",)), 1.0, 10, 100),
        RequestView("solo", DL, 2.0, 10, 100),
        RequestView("light", prog("light", "m0"), 3.0, 10, 100),
    ]
    assert pol.schedule(waiting, [], budget()).admit == ["solo", "light", "h2"]
    # live service counts too: a program with a long running call ranks behind
    running = [RequestView("l-run", prog("light", "m1"), 0.5, 2000, 100, prefilled=2000, generated=50)]
    assert pol.schedule(waiting, running, budget()).admit == ["solo", "h2", "light"]


def test_atlas_uses_critical_path_service():
    pol = make_policy("atlas", quantum=16)
    pol.on_finish(RequestView("a", prog("p", "a"), 0.0, 1000, 10, prefilled=1000, generated=10), 1.0)
    pol.on_finish(RequestView("b", prog("p", "b"), 0.0, 10, 10, prefilled=10, generated=10), 1.0)
    waiting = [
        RequestView("after_a", prog("p", "c", ("a",)), 1.0, 10, 100),
        RequestView("after_b", prog("p", "d", ("b",)), 2.0, 10, 100),
        RequestView("after_ab", prog("p", "e", ("a", "b")), 3.0, 10, 100),
    ]
    assert pol.schedule(waiting, [], budget()).admit == ["after_b", "after_a", "after_ab"]


def test_baselines_reject_past_max_wait_and_never_park():
    slo = TempoSLO(SLOClass.DEADLINE, deadline_ms=50000, max_wait_ms=1000)
    waiting = [RequestView("w", slo, 0.0, 10, 10), RequestView("ok", slo, 9.5, 10, 10)]
    running = [RequestView("r", LAT, 9.0, 10, 100, prefilled=10, generated=1)]
    for name in ("fcfs", "lpm", "priority", "edf", "ltr", "autellix", "atlas"):
        d = make_policy(name).schedule(waiting, running, budget())
        assert set(d.reject) == {"w"} and d.admit == ["ok"] and d.park == []


def test_registry_builds_every_policy():
    for name in POLICY_NAMES:
        pol = make_policy(name)
        assert isinstance(pol, Policy) and pol.name == name
    with pytest.raises(ValueError):
        make_policy("nope")


def test_gmax_prefers_similar_length_window():
    density = np.array([10.0, 9.5, 9.4, 1.0])
    length = np.array([100.0, 900.0, 110.0, 105.0])
    # B=2: 2nd best = 9.5, eligible >= 0.9*9.5 -> {0, 1, 2}; windows by length: {0,2}=19.4, {2,1}=18.9
    assert gmax_select(density, length, 2, p=0.9).tolist() == [0, 2]
    assert gmax_select(density, length, 2, p=1.0).tolist() == [0, 1]  # only the top two are eligible
    assert sorted(gmax_select(density, length, 10).tolist()) == [0, 1, 2, 3]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.floats(0.01, 100.0), st.integers(1, 1000)), min_size=1, max_size=40),
       st.integers(1, 12), st.floats(0.5, 1.0))
def test_gmax_window_properties(rows, batch, p):
    density = np.array([d for d, _ in rows])
    length = np.array([float(n) for _, n in rows], dtype=float)
    chosen = gmax_select(density, length, batch, p)
    assert chosen.size == min(batch, len(rows)) and len(set(chosen.tolist())) == chosen.size
    assert np.all(np.diff(density[chosen]) <= 0)  # best density first
    if len(rows) > batch:
        kth = np.sort(density)[-batch]
        assert np.all(density[chosen] >= p * kth - 1e-12)
        # no window of `batch` eligible requests consecutive in length order has a larger sum
        elig = np.flatnonzero(density >= p * kth)
        by_len = elig[np.argsort(length[elig], kind="stable")]
        best = max(density[by_len[i:i + batch]].sum() for i in range(by_len.size - batch + 1))
        assert density[chosen].sum() >= best - 1e-9


def test_autellix_service_is_monotone_across_preemption():
    """A preempted request that must recompute its prompt keeps the service it had attained."""
    pol = make_policy("autellix", quantum=16)
    r = RequestView("r", DL, 0.0, 500, 100, prefilled=500, generated=50)
    fresh = RequestView("fresh", DL, 1.0, 300, 100, cached_len=200)  # a cache hit: no service yet
    pol.schedule([], [r], budget())
    r.prefilled, r.generated = 0, 50  # preempted: KV gone, back to waiting; it had 550 tokens
    d = pol.schedule([r, fresh], [], budget())
    assert d.admit == ["fresh", "r"]


def test_autellix_does_not_charge_a_program_twice_for_its_cached_prefix():
    """A child call reusing its parent's KV (cache hit) attains only what it computes: its program's
    service is the parent's work plus the child's new tokens, not the shared prefix twice."""
    pol = make_policy("autellix", quantum=1)
    parent = RequestView("p1", prog("p", "n1"), 0.0, 100, 50, prefilled=100, generated=50)
    pol.schedule([], [parent], budget())
    pol.on_finish(parent, 1.0)
    child = RequestView("p2", prog("p", "n2", ("n1",)), 2.0, 180, 50, prefilled=180, cached_len=150, generated=5)
    pol.schedule([], [child], budget())
    assert pol.attained(child) == 150 + 30 + 5
