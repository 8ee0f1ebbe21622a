"""The six programs of programs/ on a real server (tiny model): the DAG the server recorded."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tempo_sglang.frontend import Deadline, TempoEndpoint, recorded_dag, run_program

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the programs/ package at the repo root
pytestmark = pytest.mark.server


def assert_well_formed(d: dict) -> None:
    """One leaf, roots at depth 0, every edge between recorded nodes, stages equal to depths."""
    depth = {n["node_id"]: n["depth"] for n in d["nodes"]}
    assert d["roots"] and len(d["leaves"]) == 1, (d["roots"], d["leaves"])
    assert all(depth[r] == 0 for r in d["roots"])
    for node in d["nodes"]:
        assert node["stage"] == node["depth"], node  # the frontend's stage is the depth
        if node["parents"]:
            assert node["depth"] == 1 + max(depth[p] for p in node["parents"])
    assert d["num_stages"] == 1 + max(depth.values())


@pytest.fixture(scope="module")
def backend(tiny_server):
    return TempoEndpoint(tiny_server.url, chat_template_name="chatml")


def _run(name, backend, **overrides):
    from programs import load

    module = load(name)
    state = run_program(module.program, tempo=Deadline(120), backend=backend, kind=module.KIND,
                        temperature=0, **{**module.default_args(), "max_tokens": 8, **overrides})
    assert state.error() is None, state.error()
    recorded = recorded_dag(backend.base_url, state.tempo_program.program_id)
    assert recorded is not None
    assert recorded["num_calls"] == state.tempo_program.num_calls
    assert recorded["kind"] == module.KIND
    assert_well_formed(recorded)
    return state, recorded


def test_chat_is_a_chain(backend):
    _, d = _run("chat", backend)
    assert d["num_calls"] == 3 and d["num_stages"] == 3
    assert d["edges"] == [["n0", "n1"], ["n1", "n2"]]
    assert not d["forks"] and not d["joins"]


def test_self_refine_is_a_chain_of_rounds(backend):
    _, d = _run("self_refine", backend, rounds=2)
    assert d["num_calls"] == 5 and d["num_stages"] == 5 and d["max_width"] == 1
    assert not d["forks"] and not d["joins"]


def test_map_reduce_forks_then_joins(backend):
    state, d = _run("map_reduce", backend)
    n = len(state.stream_executor.arguments["chunks"])
    assert n == 3
    # the fork comes before any call: no priming call (stock SGLang usually sends none there either)
    assert d["num_calls"] == n + 1 and d["num_stages"] == 2 and d["max_width"] == n
    assert len(d["roots"]) == n and not d["forks"]
    assert sorted(d["joins"][d["leaves"][0]]) == sorted(d["roots"])  # the reduce joins every map call


def test_debate_rounds_fork_and_join(backend):
    _, d = _run("debate", backend, rounds=2)
    # round 1 forks before any call (two roots, no prime); round 2 forks from a prime joining round 1
    assert d["num_calls"] == 6 and d["num_stages"] == 4 and len(d["roots"]) == 2
    assert len(d["forks"]) == 1 and all(len(c) == 2 for c in d["forks"].values())
    assert len(d["joins"]) == 2 and all(len(p) == 2 for p in d["joins"].values())
    round_two = next(n for n in d["joins"] if n in d["forks"])  # joins round 1, forks round 2
    assert d["nodes"][[x["node_id"] for x in d["nodes"]].index(round_two)]["depth"] == 1


def test_tree_of_thought_is_a_two_level_tree(backend):
    _, d = _run("tree_of_thought", backend, width=2)
    # per plan: plan, prime, 2 steps, select (prime + 3 choices); the final answer
    assert d["num_calls"] == 2 * (1 + 1 + 2 + 1 + 3) + 1
    assert d["num_stages"] == 6
    final = d["leaves"][0]
    assert len(d["roots"]) == 2  # two plans, forked before any call
    assert sorted(len(c) for c in d["forks"].values()) == [2, 2, 3, 3]
    assert len(d["joins"][final]) == 2 * 3  # the final answer depends on both plans' ratings


def test_react_tool_loop_has_a_fork_join_per_select(backend):
    state, d = _run("react", backend, max_steps=2, min_steps=1)
    actions = [state[f"action_{i}"] for i in range(2) if f"action_{i}" in state]
    assert actions and actions[0] in ("lookup", "calculate")
    selects = len(actions) + sum(a == "lookup" for a in actions)
    assert len(d["forks"]) == selects and len(d["joins"]) == selects
    assert d["num_stages"] >= 3 * selects
    assert "Observation 1:" in state.text()
