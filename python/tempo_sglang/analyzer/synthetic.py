"""Program graphs for tests and reports: timed DAGs from call templates, and partial views of them.

`timed_graph` turns a list of calls (``node_id``, ``parents``, ``prompt_len``, ``output_len``, ``gap_s``)
into a finished program graph by executing it on a simple cost model (each call starts ``gap_s`` after
its last parent ends and takes ``prefill_s * prompt + decode_s * output`` seconds). `small_programs`
draws four clearly different shapes (chain, fork-join, tree, debate); `workload_programs` uses the
project's six program templates (`tempo_sglang.workloads.programs`) when that module is importable.
`partial_view` cuts a finished graph back to what a tracker has seen while stage ``s`` is running.
"""

from __future__ import annotations

import networkx as nx
import numpy as np

from tempo_sglang.analyzer.graphs import depths


def timed_graph(calls: list[dict], kind: str | None, program_id: str = "p", prefill_s: float = 2e-4,
                decode_s: float = 0.02) -> nx.DiGraph:
    """A finished program graph with start/end times from a simple cost model."""
    g = nx.DiGraph(program_id=program_id, kind=kind)
    for call in calls:
        parents = tuple(call.get("parents", ()))
        ready = max((g.nodes[p]["end"] for p in parents), default=0.0)
        start = ready + float(call.get("gap_s", 0.0))
        end = start + prefill_s * call["prompt_len"] + decode_s * call["output_len"]
        g.add_node(call["node_id"], prompt_len=int(call["prompt_len"]), output_len=int(call["output_len"]),
                   start=start, end=end)
        for p in parents:
            g.add_edge(p, call["node_id"])
    return g


def _ln(rng: np.random.Generator, mu: float, sigma: float) -> int:
    return int(max(2, min(4096, round(float(np.exp(rng.normal(mu, sigma)))))))


def small_program(kind: str, rng: np.random.Generator) -> list[dict]:
    """Calls of one program of a distinct shape: chain, fork_join, tree or debate."""
    c = []
    if kind == "chain":
        for i in range(int(rng.integers(3, 6))):
            c.append({"node_id": f"s{i}", "parents": [f"s{i - 1}"] if i else [], "prompt_len": 300 + 150 * i,
                      "output_len": _ln(rng, 4.5, 0.4), "gap_s": 1.0 if i else 0.0})
    elif kind == "fork_join":
        c.append({"node_id": "plan", "parents": [], "prompt_len": 400, "output_len": _ln(rng, 5.0, 0.3)})
        n = int(rng.integers(3, 7))
        c += [{"node_id": f"m{i}", "parents": ["plan"], "prompt_len": 600, "output_len": _ln(rng, 4.0, 0.3),
               "gap_s": 0.05} for i in range(n)]
        c.append({"node_id": "reduce", "parents": [f"m{i}" for i in range(n)], "prompt_len": 900,
                  "output_len": _ln(rng, 5.5, 0.3), "gap_s": 0.05})
    elif kind == "tree":
        c.append({"node_id": "t", "parents": [], "prompt_len": 200, "output_len": _ln(rng, 3.5, 0.3)})
        level = ["t"]
        for _d in range(2):
            nxt = []
            for p in level:
                for b in range(2):
                    nid = f"{p}.{b}"
                    c.append({"node_id": nid, "parents": [p], "prompt_len": 300, "output_len": _ln(rng, 3.5, 0.3),
                              "gap_s": 0.02})
                    nxt.append(nid)
            level = nxt
        c.append({"node_id": "vote", "parents": level, "prompt_len": 500, "output_len": 16, "gap_s": 0.02})
    elif kind == "debate":
        prev: list[str] = []
        for r in range(int(rng.integers(2, 4))):
            cur = [f"a{r}.{a}" for a in range(3)]
            c += [{"node_id": n, "parents": list(prev), "prompt_len": 800 + 400 * r,
                   "output_len": _ln(rng, 6.0, 0.3), "gap_s": 0.1 if r else 0.0} for n in cur]
            prev = cur
        c.append({"node_id": "judge", "parents": prev, "prompt_len": 2500, "output_len": 64, "gap_s": 0.1})
    else:
        raise ValueError(f"unknown shape {kind!r}")
    return c


SMALL_KINDS = ("chain", "fork_join", "tree", "debate")


def small_programs(n: int, seed: int = 0, kinds: tuple[str, ...] = SMALL_KINDS) -> list[nx.DiGraph]:
    """``n`` finished graphs cycling through ``kinds``."""
    rng = np.random.default_rng(seed)
    return [timed_graph(small_program(kinds[i % len(kinds)], rng), kinds[i % len(kinds)], f"p{i}")
            for i in range(n)]


def workload_programs(n: int, seed: int = 0) -> list[nx.DiGraph] | None:
    """``n`` finished graphs from the project's six program templates (None if unavailable)."""
    try:
        from tempo_sglang.workloads.programs import PROGRAM_TEMPLATES
    except ImportError:
        return None
    rng = np.random.default_rng(seed)
    kinds = sorted(PROGRAM_TEMPLATES)
    out = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        calls = [{"node_id": nd.node_id, "parents": list(nd.parents), "prompt_len": nd.prompt_len,
                  "output_len": nd.output_len, "gap_s": nd.gap_s} for nd in PROGRAM_TEMPLATES[kind](rng)]
        out.append(timed_graph(calls, kind, f"w{i}"))
    return out


def partial_view(graph: nx.DiGraph, stage: int, keep_kind: bool = False) -> nx.DiGraph:
    """What a tracker has seen while stage ``stage`` runs: earlier stages finished, ``stage`` arrived."""
    depth = depths(graph)
    nodes = [n for n, d in depth.items() if d <= stage]
    sub = graph.subgraph(nodes).copy()
    for n in nodes:
        if depth[n] == stage:
            sub.nodes[n]["output_len"] = None
            sub.nodes[n]["end"] = None
    if not keep_kind:
        sub.graph["kind"] = None
    return sub
