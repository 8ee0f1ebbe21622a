"""ProgramReleaser: a child call is released gap_s after the last of its parents finished."""

from __future__ import annotations

import pytest

from tempo_sglang.workloads import ProgramReleaser, make_workload


def test_fork_join_release_order():
    wl = make_workload("agentic", 1.0, seed=0, num_requests=60)
    prog = next(it.program_id for it in wl.items if it.program_kind == "fork_join")
    calls = {it.node_id: it for it in wl.items if it.program_id == prog}
    rel = ProgramReleaser(list(calls.values()))
    assert [it.node_id for it in rel.roots()] == ["plan"]
    workers = rel.finished(calls["plan"], 5.0)
    assert sorted(c.node_id for _, c in workers) == sorted(n for n in calls if n.startswith("map"))
    assert all(t == pytest.approx(5.0 + c.gap_s) for t, c in workers)
    out = []
    for i, (_, worker) in enumerate(workers):
        out = rel.finished(worker, 10.0 - i)  # the last parent to report is not the latest to finish
        if i < len(workers) - 1:
            assert out == []
    (t, reducer), = out
    assert reducer.node_id == "reduce" and t == pytest.approx(10.0 + reducer.gap_s)
    assert rel.program_start[prog] == calls["plan"].arrival


def test_bench_cut_follows_the_last_root_arrival_in_both_drivers():
    """The live bench and its simulator replay cut at the same time: drain after the last root
    arrival (a Poisson draw can spread N jobs well past N / rate seconds)."""
    from tempo_sglang.sim.sweep import RunSpec, run_one
    from tempo_sglang.workloads.release import cutoff_time

    wl = make_workload("paper-mix", 0.15, seed=0, num_requests=18, length_scale=0.25, slo_scale=2.4)
    last_root = max(it.arrival for it in wl.items if not it.is_program_child)
    assert cutoff_time(wl.items, 60.0) == pytest.approx(last_root + 60.0)
    spec = dict(policy="fcfs", rate=0.15, seed=0, num_requests=18, profile="smollm2-135m-cpu",
                slo_scale=2.4, length_scale=0.25, engine={"mixed": False, "kv_capacity": 32768})
    cut = run_one(RunSpec(**spec, drain_s=60.0))
    short = run_one(RunSpec(**spec, drain_s=1.0))
    assert cut["num_met"] > short["num_met"]  # a longer drain lets late calls finish
