"""Workload shapes against their fits; SLO tiers and scaling; program DAG structure."""

from __future__ import annotations

import numpy as np
import pytest

from tempo_sglang.slo import SLOClass
from tempo_sglang.workloads import WORKLOAD_NAMES, make_workload
from tempo_sglang.workloads.arrivals import gamma_arrivals, poisson_arrivals, scale_trace
from tempo_sglang.workloads.lengths import REASONING_OUTPUT
from tempo_sglang.workloads.programs import PROGRAM_TEMPLATES


def _cv(times: np.ndarray) -> float:
    gaps = np.diff(times)
    return float(gaps.std() / gaps.mean())


def test_arrival_processes():
    rng = np.random.default_rng(0)
    t = poisson_arrivals(5.0, 20000, rng)
    assert np.mean(np.diff(t)) == pytest.approx(0.2, rel=0.03) and _cv(t) == pytest.approx(1.0, abs=0.05)
    g = gamma_arrivals(5.0, 20000, rng, cv=3.0)
    assert np.mean(np.diff(g)) == pytest.approx(0.2, rel=0.1) and _cv(g) == pytest.approx(3.0, rel=0.15)
    s = scale_trace(np.array([10.0, 11.0, 13.0, 16.0]), rate=2.0)
    assert s[0] == 0 and s[-1] == pytest.approx(1.5)


def test_chat_lengths_match_lognormal_fit():
    items = make_workload("chat", 5.0, seed=1, num_requests=6000).items
    logs_in = np.log([it.prompt_len for it in items])
    logs_out = np.log([it.output_len for it in items])
    assert logs_in.mean() == pytest.approx(6.63, abs=0.06) and logs_in.std() == pytest.approx(0.99, abs=0.06)
    assert logs_out.mean() == pytest.approx(5.02, abs=0.06) and logs_out.std() == pytest.approx(0.86, abs=0.06)
    assert all(it.slo_class is SLOClass.LATENCY for it in items)


def test_reasoning_outputs_are_heavy_tailed():
    x = REASONING_OUTPUT.sample(np.random.default_rng(2), 50000)
    p50, p90, p99 = np.quantile(x, [0.5, 0.9, 0.99])
    assert p50 == pytest.approx(1300, rel=0.05)
    assert p90 == pytest.approx(5400, rel=0.05)
    assert p99 == pytest.approx(12000, rel=0.08)
    wl = make_workload("reasoning", 2.0, seed=0, num_requests=500)
    assert max(it.output_len for it in wl.items) <= wl.items[0].max_new_tokens


def _jobs_by_class(items) -> dict[str, int]:
    out: dict[str, int] = {}
    seen = set()
    for it in items:
        key = it.program_id or it.rid
        if key not in seen:
            seen.add(key)
            out[it.slo_class.value] = out.get(it.slo_class.value, 0) + 1
    return out


def test_paper_mix_shares_and_tiers():
    wl = make_workload("paper-mix", 4.0, seed=3, num_requests=4000)
    jobs = _jobs_by_class(wl.items)
    assert sum(jobs.values()) == 4000 == wl.num_jobs
    for cls, share in (("latency", 0.3), ("deadline", 0.3), ("program", 0.3), ("best_effort", 0.1)):
        assert jobs[cls] / 4000 == pytest.approx(share, abs=0.03)
    for it in wl.items:
        if it.slo_class is SLOClass.LATENCY:
            assert it.slo.ttft_ms == 1000.0 * it.tier and it.slo.tbt_ms == pytest.approx(100.0 * it.tier)
        elif it.slo_class is SLOClass.DEADLINE:
            assert it.slo.deadline_ms == 10000.0 * it.tier
    assert {it.tier for it in wl.items} == {1, 2, 3, 4}
    assert np.mean([it.arrival for it in wl.items if not it.is_program_child][-1]) == pytest.approx(1000, rel=0.1)


def test_program_dags_are_well_formed():
    wl = make_workload("agentic", 1.0, seed=4, num_requests=300)
    programs: dict[str, list] = {}
    for it in wl.items:
        programs.setdefault(it.program_id, []).append(it)
    assert {calls[0].program_kind for calls in programs.values()} == set(PROGRAM_TEMPLATES)
    for calls in programs.values():
        nodes = {c.node_id: c for c in calls}
        stages = 1 + max(c.stage for c in calls)
        for c in calls:
            assert c.slo.deadline_ms == pytest.approx(10000.0 * c.tier * stages)
            assert all(p in nodes for p in c.parents)
            assert c.stage == (1 + max(nodes[p].stage for p in c.parents) if c.parents else 0)
            assert c.gap_s >= 0 and c.prompt_len >= 1 and c.output_len >= 1
            if c.prefix_id:
                assert 0 < c.prefix_len <= c.prompt_len
        assert len({c.tier for c in calls}) == 1


def test_slo_scale_from_profile_and_determinism():
    a = make_workload("paper-mix", 3.0, seed=7, num_requests=200, profile="smollm2-135m-cpu")
    b = make_workload("paper-mix", 3.0, seed=7, num_requests=200, profile="smollm2-135m-cpu")
    assert a.slo_scale == pytest.approx(29.76, rel=0.01) and any("scaled" in n for n in a.notes)
    assert [(i.rid, i.arrival, i.prompt_len, i.output_len, i.slo) for i in a.items] == \
        [(i.rid, i.arrival, i.prompt_len, i.output_len, i.slo) for i in b.items]
    lat = next(i for i in a.items if i.slo_class is SLOClass.LATENCY)
    assert lat.slo.tbt_ms == pytest.approx(100.0 * lat.tier * a.slo_scale)
    explicit = make_workload("chat", 3.0, seed=7, num_requests=10, slo_scale=2.0)
    assert explicit.items[0].slo.ttft_ms == 2000.0 * explicit.items[0].tier


def test_every_named_workload_builds():
    for name in WORKLOAD_NAMES:
        wl = make_workload(name, 2.0, seed=0, num_requests=50)
        assert wl.items and all(it.arrival >= 0 for it in wl.items)
        assert [it.arrival for it in wl.items] == sorted(it.arrival for it in wl.items)
    with pytest.raises(ValueError):
        make_workload("nope", 1.0)


def test_length_scale_shrinks_lengths_not_slos():
    from tempo_sglang.workloads.scaling import bench_scaling

    full = make_workload("paper-mix", 0.5, seed=3, num_requests=60, slo_scale=2.4)
    small = make_workload("paper-mix", 0.5, seed=3, num_requests=60, slo_scale=2.4, length_scale=0.25)
    assert [it.rid for it in full.items] == [it.rid for it in small.items]
    for a, b in zip(full.items, small.items, strict=True):
        assert b.prompt_len == max(2, round(a.prompt_len * 0.25))
        assert b.output_len == max(1, round(a.output_len * 0.25)) <= b.max_new_tokens
        assert b.prefix_len < b.prompt_len or b.prefix_id is None
        assert b.slo == a.slo and b.gap_s == a.gap_s
    assert any("x0.25" in n for n in small.notes)
    with pytest.raises(ValueError):
        make_workload("chat", 1.0, num_requests=5, length_scale=1.5)
    cpu = bench_scaling("smollm2-135m-cpu")
    assert (cpu.slo_scale, cpu.length_scale) == (2.4, 0.25)
    assert bench_scaling("smollm2-135m-cpu", slo_scale=5.0).slo_scale == 5.0
    assert bench_scaling("llama-8b-h100").length_scale == 1.0
