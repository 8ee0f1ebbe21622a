"""Agent-program DAG templates: chat, ReAct, fork-join (map-reduce), tree of thought, self-refine,
multi-agent rounds.

Each template draws a DAG of LLM calls (`Node`s) with lengths from the chat fits, think/tool gaps, and
shared prefixes: a call that continues a conversation names its parent's rid as ``prefix_id`` (a
finished call's prompt + output stays in the prefix cache under its rid), siblings of a fork share
their parent's context, and agents of a debate round share a transcript key. `build_program` turns a DAG into `WorkItem`s
with program SLOs: stage = depth in the DAG, deadline = base x tier x number of stages (x scale).
Gaps are given for the 8B-GPU reference and multiplied by the SLO scale like every SLO.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tempo_sglang.workloads.items import WorkItem
from tempo_sglang.workloads.lengths import CHAT_INPUT, CHAT_MAX_TOKENS, CHAT_OUTPUT, LogNormal
from tempo_sglang.workloads.slos import program_slo

MAX_PROMPT = 8192
OBSERVATION = LogNormal(4.5, 0.8, lo=8, hi=1024)  # tool results / critiques appended to a context
ROOT_INPUT = LogNormal(CHAT_INPUT.mu, CHAT_INPUT.sigma, lo=16, hi=4096)


@dataclass
class Node:
    """One call of a program DAG before it becomes a WorkItem."""

    node_id: str
    parents: tuple[str, ...]
    prompt_len: int
    output_len: int
    gap_s: float = 0.0
    prefix_key: str | None = None  # a parent's node id (its prompt+output is cached) or a shared key
    prefix_len: int = 0


def _out(rng: np.random.Generator) -> int:
    return int(CHAT_OUTPUT.sample(rng, 1)[0])


def _obs(rng: np.random.Generator) -> int:
    return int(OBSERVATION.sample(rng, 1)[0])


def _cap(n: int) -> int:
    return int(min(MAX_PROMPT, n))


def _chain(rng: np.random.Generator, steps: int, gap: Callable[[], float], tag: str) -> list[Node]:
    """A sequential conversation: each call extends the previous prompt + output + an observation."""
    nodes: list[Node] = []
    prompt = int(ROOT_INPUT.sample(rng, 1)[0])
    for i in range(steps):
        if i == 0:
            nodes.append(Node(f"{tag}0", (), prompt, _out(rng), 0.0, None, 0))
            continue
        prev = nodes[-1]
        shared = _cap(prev.prompt_len + prev.output_len)
        prompt = _cap(shared + _obs(rng))
        nodes.append(Node(f"{tag}{i}", (prev.node_id,), prompt, _out(rng), gap(), prev.node_id,
                          min(shared, prompt)))
    return nodes


def chat_program(rng: np.random.Generator) -> list[Node]:
    """Multi-turn chat: 2-5 turns, a user think time of 1-5 s between turns."""
    return _chain(rng, int(rng.integers(2, 6)), lambda: float(rng.uniform(1.0, 5.0)), "turn")


def react_program(rng: np.random.Generator) -> list[Node]:
    """ReAct loop: 3-6 thought/action calls, each after a tool call of 0.2-1.5 s."""
    return _chain(rng, int(rng.integers(3, 7)), lambda: float(rng.uniform(0.2, 1.5)), "step")


def self_refine_program(rng: np.random.Generator) -> list[Node]:
    """Self-refine: draft, then 2-3 rounds of critique + refine, all in one growing context."""
    return _chain(rng, 1 + 2 * int(rng.integers(2, 4)), lambda: float(rng.uniform(0.02, 0.1)), "r")


def fork_join_program(rng: np.random.Generator) -> list[Node]:
    """Map-reduce: a planner, 3-8 parallel workers sharing the plan as prefix, one reducer."""
    plan_in = int(ROOT_INPUT.sample(rng, 1)[0])
    plan = Node("plan", (), plan_in, _out(rng), 0.0, None, 0)
    shared = _cap(plan.prompt_len + plan.output_len)
    n = int(rng.integers(3, 9))
    workers = [Node(f"map{i}", ("plan",), _cap(shared + _obs(rng)), _out(rng), float(rng.uniform(0.05, 0.5)),
                    "plan", shared) for i in range(n)]
    reduce_in = _cap(128 + sum(w.output_len for w in workers))
    reducer = Node("reduce", tuple(w.node_id for w in workers), reduce_in, _out(rng), 0.05, None, 0)
    return [plan, *workers, reducer]


def tree_of_thought_program(rng: np.random.Generator) -> list[Node]:
    """Tree of thought: depth 2 with branching 2-3, or depth 3 with branching 2; each branch extends
    its parent's context; a final vote reads every leaf."""
    depth = int(rng.integers(2, 4))
    branch = 2 if depth == 3 else int(rng.integers(2, 4))
    root = Node("t", (), int(ROOT_INPUT.sample(rng, 1)[0]), _out(rng), 0.0, None, 0)
    nodes, level = [root], [root]
    for _ in range(depth):
        nxt = []
        for parent in level:
            shared = _cap(parent.prompt_len + parent.output_len)
            for b in range(branch):
                nxt.append(Node(f"{parent.node_id}.{b}", (parent.node_id,), _cap(shared + 32), _out(rng),
                                0.02, parent.node_id, shared))
        nodes.extend(nxt)
        level = nxt
    vote_in = _cap(root.prompt_len + sum(leaf.output_len for leaf in level))
    nodes.append(Node("vote", tuple(leaf.node_id for leaf in level), vote_in, int(rng.integers(4, 64)), 0.02,
                      None, 0))
    return nodes


def multi_agent_program(rng: np.random.Generator) -> list[Node]:
    """Multi-agent debate: 2-4 agents over 2-3 rounds; every agent of a round reads all agents of the
    previous round (shared transcript prefix); a judge closes."""
    agents, rounds = int(rng.integers(2, 5)), int(rng.integers(2, 4))
    topic = int(ROOT_INPUT.sample(rng, 1)[0])
    nodes: list[Node] = []
    prev: list[Node] = []
    transcript = before = topic
    for r in range(rounds):
        before = transcript
        cur = []
        for a in range(agents):
            parents = tuple(p.node_id for p in prev)
            prompt = _cap(transcript + 48)
            cur.append(Node(f"a{r}.{a}", parents, prompt, _out(rng), 0.05 if r else 0.0, f"round{r}",
                            min(transcript, prompt)))
        transcript = _cap(transcript + sum(c.output_len for c in cur))
        nodes.extend(cur)
        prev = cur
    nodes.append(Node("judge", tuple(p.node_id for p in prev), transcript, _out(rng), 0.05,
                      f"round{rounds - 1}", min(before, transcript)))
    return nodes


PROGRAM_TEMPLATES: dict[str, Callable[[np.random.Generator], list[Node]]] = {
    "chat": chat_program,
    "react": react_program,
    "fork_join": fork_join_program,
    "tree_of_thought": tree_of_thought_program,
    "self_refine": self_refine_program,
    "multi_agent": multi_agent_program,
}


def stage_depths(nodes: list[Node]) -> dict[str, int]:
    """Stage of each node: the length of the longest path from a root (nodes are topologically ordered)."""
    depth: dict[str, int] = {}
    for node in nodes:
        depth[node.node_id] = 1 + max((depth[p] for p in node.parents), default=-1)
    return depth


def build_program(nodes: list[Node], kind: str, program_id: str, start: float, tier: int,
                  scale: float) -> list[WorkItem]:
    """WorkItems of one program instance released at ``start``."""
    depth = stage_depths(nodes)
    stages = 1 + max(depth.values())
    items = []
    for node in nodes:
        slo = program_slo(tier, scale, stages, program_id, node.node_id, node.parents, depth[node.node_id], kind)
        prefix_id = f"{program_id}/{node.prefix_key}" if node.prefix_key is not None else None
        items.append(WorkItem(
            rid=f"{program_id}/{node.node_id}", arrival=start, prompt_len=int(node.prompt_len),
            output_len=int(node.output_len), slo=slo, max_new_tokens=CHAT_MAX_TOKENS,
            gap_s=float(node.gap_s) * scale, prefix_id=prefix_id,
            prefix_len=int(node.prefix_len) if prefix_id else 0, tier=tier))
    return items
