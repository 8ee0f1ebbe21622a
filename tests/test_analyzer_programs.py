"""Program tracker validation and lifetime, graph library matching, bounding and stage deadlines."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from tempo_sglang.analyzer.graphs import summarize, validate_graph
from tempo_sglang.analyzer.library import GraphLibrary
from tempo_sglang.analyzer.program_tracker import ProgramGraphError, ProgramTracker
from tempo_sglang.analyzer.synthetic import SMALL_KINDS, partial_view, small_programs


def test_tracker_rejects_self_cycle_unknown_parent_and_reused_id():
    t = ProgramTracker()
    assert t.add_call("p", "a", (), now=0.0) == 0
    with pytest.raises(ProgramGraphError, match="cycle"):
        t.add_call("p", "b", ("b",), now=0.1)
    with pytest.raises(ProgramGraphError, match="unknown parent 'zz'"):
        t.add_call("p", "b", ("a", "zz"), now=0.1)
    with pytest.raises(ProgramGraphError, match="reused"):
        t.add_call("p", "a", (), now=0.1)
    # a parent from another program is unknown in this one
    t.add_call("q", "x", (), now=0.1)
    with pytest.raises(ProgramGraphError, match="unknown parent 'x'"):
        t.add_call("p", "c", ("x",), now=0.1)
    assert isinstance(ProgramGraphError("p", "m"), ValueError)
    assert set(t.get("p").calls) == {"a"}  # nothing changed by the rejected calls
    assert t.add_call("p", "b", ("a",), now=0.2) == 1


def test_validate_graph_names_the_cycle():
    g = nx.DiGraph(program_id="p")
    g.add_edges_from([("a", "b"), ("b", "c"), ("c", "a")])
    with pytest.raises(ProgramGraphError, match="cycle: .*a"):
        validate_graph(g)
    lib = GraphLibrary(capacity=10)
    with pytest.raises(ProgramGraphError):
        lib.add(g)


def test_tracker_finalises_idle_programs_and_forgets_abandoned_ones():
    done = []
    t = ProgramTracker(ttl_s=100.0, idle_s=5.0, on_complete=done.append)
    t.add_call("ok", "a", (), prompt_len=10, now=0.0)
    t.finish_call("ok", "a", 20, now=1.0)
    t.add_call("ok", "b", ("a",), prompt_len=30, now=1.5)
    t.finish_call("ok", "b", 5, now=2.0)
    t.add_call("stuck", "a", (), now=0.0)
    t.sweep(3.0)
    assert "ok" in t and "stuck" in t
    t.sweep(10.0)
    assert "ok" not in t and len(done) == 1
    g = done[0]
    assert g.nodes["b"]["output_len"] == 5 and g.nodes["b"]["start"] == 1.5 and list(g.edges) == [("a", "b")]
    assert "stuck" in t  # still running, within the TTL
    t.sweep(150.0)
    assert "stuck" not in t and t.abandoned == 1 and len(done) == 1


def test_tracker_memory_is_bounded():
    t = ProgramTracker(max_programs=50)
    for i in range(500):
        t.add_call(f"p{i}", "a", (), now=float(i))
    assert len(t) == 50 and "p499" in t and "p0" not in t


def test_matcher_picks_the_right_template_among_distinct_shapes():
    lib = GraphLibrary(capacity=200)
    for g in small_programs(80, seed=0):
        lib.add(g)
    for g in small_programs(40, seed=1):
        n_stages = summarize(g).n_stages
        for s in range(1, n_stages):
            res = lib.match(partial_view(g, s))
            assert res is not None and res.consistent
            assert res.kind == g.graph["kind"], (g.graph["kind"], s, res.kind)


def test_stage_deadlines_are_monotone_and_sum_to_d():
    lib = GraphLibrary()
    for g in small_programs(20, seed=2):
        lib.add(g)
    for g in small_programs(8, seed=3):
        res = lib.match(partial_view(g, 1))
        d = 42.0
        ds = res.stage_deadlines(d)
        budgets = np.diff(np.concatenate([[0.0], ds]))
        assert np.all(budgets >= 0) and budgets.sum() == pytest.approx(d) and ds[-1] == pytest.approx(d)
        assert [res.stage_fraction(s) for s in range(res.n_stages + 2)] == sorted(
            res.stage_fraction(s) for s in range(res.n_stages + 2))


def test_remaining_calls_estimate_for_a_fork_join():
    lib = GraphLibrary()
    rng_graphs = small_programs(40, seed=4, kinds=("fork_join",))
    for g in rng_graphs[:30]:
        lib.add(g)
    g = rng_graphs[30]
    res = lib.match(partial_view(g, 1))
    seen = sum(1 for n in g if n != "reduce")
    assert res.remaining_calls == g.number_of_nodes() - seen == 1  # only the reducer is left


def test_library_stays_bounded_and_keeps_every_shape():
    lib = GraphLibrary(capacity=40)
    for g in small_programs(300, seed=5):
        lib.add(g)
    assert len(lib) <= 40
    kinds = {lib.kinds[i] for i in np.flatnonzero(lib.valid)}
    assert kinds == set(SMALL_KINDS)
    assert lib.weight[lib.valid].sum() > len(lib)  # medoids stand for their clusters


def test_rarely_matched_graphs_decay_first():
    lib = GraphLibrary(capacity=10, decay=0.5)
    graphs = small_programs(10, seed=6, kinds=("chain", "tree"))
    for g in graphs:
        lib.add(g)
    tree = next(g for g in graphs if g.graph["kind"] == "tree")
    for _ in range(20):
        lib.match(partial_view(tree, 2))
    chains = [i for i in np.flatnonzero(lib.valid) if lib.kinds[i] == "chain"]
    trees = [i for i in np.flatnonzero(lib.valid) if lib.kinds[i] == "tree"]
    assert max(lib.score[chains]) < 0.05 < max(lib.score[trees])
    lib.compact(target=6)
    assert len(lib) <= 6
    assert any(lib.kinds[i] == "tree" for i in np.flatnonzero(lib.valid))
