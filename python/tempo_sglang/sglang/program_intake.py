"""Program intake in the HTTP/tokenizer process: validate each program call's DAG before it is queued.

The plugin's ``SamplingParams.verify`` hook calls `check_call` for every request (after the SLO dict
was validated and put in canonical form). Calls of class ``"program"`` are checked against a
module-level `ProgramTracker` (the analyzer's; this module only adds a lock and the intake rules):

- a parent must be a node id already seen in the same program (so every graph stays acyclic);
- a node id names exactly one request: a node id already recorded in the program is "reused" and
  rejected, even with the same parents. A client that retries a call must give the retry a new node
  id with the same parents (`TempoEndpoint` gives every request its own id, the items of a batch
  request included; `TempoProgram.retry` does it for openai-client programs). Accepting duplicates
  would hand the scheduler two requests for one node;
- a node listing itself as a parent, or re-declaring a node under one of its descendants, is a cycle.

Violations raise `ProgramGraphError` (a ValueError: SGLang answers HTTP 400 with the message and
keeps serving). Non-program requests pass through untouched.

This process never sees a call finish, so each call is recorded as done at intake; a program is
forgotten once it has had no new call for ``TEMPO_PROGRAM_IDLE_S`` seconds (default 600), and at most
``TEMPO_PROGRAM_MAX`` programs (default 10000) are kept, least recently active dropped first.
`describe` returns the recorded DAG (served at ``GET /tempo/programs/{program_id}``).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from tempo_sglang.analyzer.program_tracker import ProgramGraphError, ProgramTracker, TrackedProgram

__all__ = ["ProgramGraphError", "check_call", "describe", "reset", "stats"]


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


def _new_tracker() -> ProgramTracker:
    idle = _env_float("TEMPO_PROGRAM_IDLE_S", 600.0)
    return ProgramTracker(ttl_s=max(idle, 1.0), idle_s=idle,
                          max_programs=int(_env_float("TEMPO_PROGRAM_MAX", 10000)),
                          max_calls=int(_env_float("TEMPO_PROGRAM_MAX_CALLS", 4096)))


_LOCK = threading.Lock()
_TRACKER = _new_tracker()
_REUSED = 0


def _program_fields(custom_params: Any) -> dict | None:
    if not isinstance(custom_params, dict):
        return None
    tempo = custom_params.get("tempo")
    if not isinstance(tempo, dict) or tempo.get("class") != "program":
        return None
    return tempo


def check_call(custom_params: dict | None) -> None:
    """Validate and record one program call; raise `ProgramGraphError` if its graph is malformed.

    ``custom_params`` is the request's ``sampling_params.custom_params``; requests without a
    ``tempo`` entry of class ``"program"`` are ignored.
    """
    global _REUSED
    tempo = _program_fields(custom_params)
    if tempo is None:
        return
    program_id, node_id = str(tempo.get("program_id") or ""), str(tempo.get("node_id") or "")
    if not program_id or not node_id:
        raise ProgramGraphError(program_id or "?", "a program call needs program_id and node_id")
    parents = tuple(str(p) for p in tempo.get("parents") or ())
    stage = tempo.get("stage")
    now = time.monotonic()
    with _LOCK:
        _TRACKER.sweep(now)
        prog = _TRACKER.get(program_id)
        known = prog.calls.get(node_id) if prog is not None else None
        if known is not None:
            _REUSED += 1
            _raise_if_cycle(prog, node_id, parents)
        _TRACKER.add_call(program_id, node_id, parents, stage if isinstance(stage, int) else None,
                          tempo.get("program_kind"), 0, now)
        # This process never sees calls end: count the call as done so the idle sweep can end it.
        _TRACKER.finish_call(program_id, node_id, 0, now)


def _raise_if_cycle(prog: TrackedProgram, node_id: str, parents: tuple[str, ...]) -> None:
    """Re-declaring a known node under one of its own descendants would close a cycle: say so."""
    descendants, frontier = set(), [node_id]
    while frontier:
        current = frontier.pop()
        for call in prog.calls.values():
            if current in call.parents and call.node_id not in descendants:
                descendants.add(call.node_id)
                frontier.append(call.node_id)
    closing = [p for p in parents if p in descendants]
    if closing:
        raise ProgramGraphError(prog.program_id, f"node {node_id!r} with parent {closing[0]!r} would make "
                                f"a cycle ({closing[0]!r} depends on {node_id!r}); node ids name one call")


def _describe(prog: TrackedProgram, now: float) -> dict[str, Any]:
    children: dict[str, list[str]] = {nid: [] for nid in prog.calls}
    for call in prog.calls.values():
        for p in call.parents:
            children[p].append(call.node_id)
    nodes = []
    for order, call in enumerate(prog.calls.values()):
        n_children = len(children[call.node_id])
        role = "join" if len(call.parents) > 1 else "root" if not call.parents else "call"
        nodes.append({"node_id": call.node_id, "parents": list(call.parents),
                      "children": children[call.node_id], "stage": call.stage, "depth": call.depth,
                      "kind": prog.kind, "role": role, "fork": n_children > 1, "order": order,
                      "t_s": round(call.start - prog.start, 6)})
    depth = prog.depth
    return {
        "program_id": prog.program_id,
        "kind": prog.kind,
        "num_calls": len(prog.calls),
        "nodes": nodes,
        "edges": [[p, c.node_id] for c in prog.calls.values() for p in c.parents],
        "depth": depth + 1,  # number of stages: longest root-to-leaf path, in calls
        "num_stages": depth + 1,
        "roots": [n["node_id"] for n in nodes if not n["parents"]],
        "leaves": [n["node_id"] for n in nodes if not n["children"]],
        "forks": {n["node_id"]: n["children"] for n in nodes if n["fork"]},
        "joins": {n["node_id"]: n["parents"] for n in nodes if n["role"] == "join"},
        "max_width": max((sum(1 for n in nodes if n["depth"] == d) for d in range(depth + 1)),
                         default=0),
        "age_s": round(now - prog.start, 3),
        "idle_s": round(now - prog.last_active, 3),
    }


def describe(program_id: str) -> dict[str, Any] | None:
    """The DAG recorded for ``program_id`` (None if unknown or already forgotten).

    Keys: ``nodes`` (node_id, parents, children, stage as declared, depth as computed, kind, role
    root/call/join, fork flag, arrival ``order``), ``edges`` ([parent, child] pairs), ``depth`` /
    ``num_stages`` (calls on the longest path), ``roots``, ``leaves``, ``forks`` (node -> children,
    for nodes with more than one child), ``joins`` (node -> parents, for nodes with more than one
    parent), ``max_width`` (most calls at one depth).
    """
    now = time.monotonic()
    with _LOCK:
        _TRACKER.sweep(now)
        prog = _TRACKER.get(str(program_id))
        return None if prog is None else _describe(prog, now)


def stats() -> dict[str, int]:
    """Counters: live programs, programs ended/forgotten, rejected reuses of a node id."""
    with _LOCK:
        return {"programs": len(_TRACKER), "completed": _TRACKER.completed,
                "abandoned": _TRACKER.abandoned, "reused_rejected": _REUSED}


def reset() -> None:
    """Forget every program (tests; re-reads the environment settings)."""
    global _TRACKER, _REUSED
    with _LOCK:
        _TRACKER, _REUSED = _new_tracker(), 0
