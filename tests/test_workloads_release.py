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
