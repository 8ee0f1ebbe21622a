"""The named workloads and `make_workload`, the one entry point both drivers use.

Workloads (``rate`` = top-level jobs per second; ``num_requests`` = top-level jobs, a program counts
once, as in request goodput):

- ``paper-mix``: latency : deadline : program = 1:1:1 plus 10% best effort [paper]; chat lengths,
  programs drawn from the five agentic templates, SLO tiers x1..x4.
- ``chat``: streaming chat (latency class) with chat lengths.
- ``reasoning``: latency : deadline 1:1 with heavy-tailed reasoning outputs.
- ``agentic``: programs only, the six templates (chat, ReAct, fork-join, tree of thought, self-refine,
  multi-agent) in equal shares.
- ``azure-conv`` / ``azure-code``: replay of the Azure 2023 traces (timestamps rescaled to ``rate``,
  recorded lengths), latency : deadline 1:1; a fitted generator with a warning when the file is absent.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from tempo_sglang.workloads import slos
from tempo_sglang.workloads.arrivals import make_arrivals, scale_trace
from tempo_sglang.workloads.azure import load_trace
from tempo_sglang.workloads.items import WorkItem, Workload
from tempo_sglang.workloads.lengths import (
    CHAT_INPUT,
    CHAT_MAX_TOKENS,
    CHAT_OUTPUT,
    REASONING_MAX_TOKENS,
    REASONING_OUTPUT,
)
from tempo_sglang.workloads.programs import PROGRAM_TEMPLATES, build_program
from tempo_sglang.workloads.scaling import scale_lengths

AGENTIC_KINDS = ("react", "fork_join", "tree_of_thought", "self_refine", "multi_agent")
PAPER_MIX = {"latency": 0.3, "deadline": 0.3, "program": 0.3, "best_effort": 0.1}


def _single(rid: str, cls: str, t: float, prompt: int, output: int, cap: int, tier: int,
            scale: float) -> WorkItem:
    if cls == "latency":
        slo = slos.latency_slo(tier, scale)
    elif cls == "deadline":
        slo = slos.deadline_slo(tier, scale)
    else:
        slo = slos.best_effort_slo()
    return WorkItem(rid=rid, arrival=float(t), prompt_len=int(prompt), output_len=int(min(output, cap)),
                    slo=slo, max_new_tokens=cap, tier=tier)


def _classes(rng: np.random.Generator, n: int, shares: dict[str, float]) -> list[str]:
    names = list(shares)
    p = np.asarray([shares[k] for k in names], dtype=float)
    return [names[i] for i in rng.choice(len(names), size=n, p=p / p.sum())]


def _mixed(name: str, times: np.ndarray, rng: np.random.Generator, scale: float, shares: dict[str, float],
           kinds: tuple[str, ...], output_dist=CHAT_OUTPUT, cap: int = CHAT_MAX_TOKENS) -> list[WorkItem]:
    """Jobs at ``times`` with classes drawn from ``shares``; programs drawn from ``kinds``."""
    n = len(times)
    classes = _classes(rng, n, shares)
    prompts, outputs = CHAT_INPUT.sample(rng, n), output_dist.sample(rng, n)
    items: list[WorkItem] = []
    for j, (cls, t) in enumerate(zip(classes, times, strict=True)):
        tier = slos.draw_tier(rng)
        if cls == "program":
            kind = kinds[int(rng.integers(len(kinds)))]
            nodes = PROGRAM_TEMPLATES[kind](rng)
            items.extend(build_program(nodes, kind, f"{name}-p{j}", float(t), tier, scale))
        else:
            items.append(_single(f"{name}-{j}", cls, t, prompts[j], outputs[j], cap, tier, scale))
    return items


def _replay(kind: str, name: str, rate: float | None, rng: np.random.Generator, n: int, scale: float,
            data_dir: str | Path | None, notes: list[str]) -> list[WorkItem]:
    trace = load_trace(kind, n, rng, data_dir)
    notes.append(f"{name}: lengths and timestamps from {trace.source}")
    times = scale_trace(trace.timestamps, rate)
    classes = _classes(rng, len(times), {"latency": 0.5, "deadline": 0.5})
    return [_single(f"{name}-{j}", classes[j], times[j], trace.input_lens[j], trace.output_lens[j],
                    max(CHAT_MAX_TOKENS, int(trace.output_lens[j])), slos.draw_tier(rng), scale)
            for j in range(len(times))]


Builder = Callable[..., list[WorkItem]]


def _paper_mix(times, rng, scale, **_):
    return _mixed("mix", times, rng, scale, PAPER_MIX, AGENTIC_KINDS)


def _chat(times, rng, scale, **_):
    return _mixed("chat", times, rng, scale, {"latency": 1.0}, AGENTIC_KINDS)


def _reasoning(times, rng, scale, **_):
    return _mixed("reason", times, rng, scale, {"latency": 0.5, "deadline": 0.5}, AGENTIC_KINDS,
                  REASONING_OUTPUT, REASONING_MAX_TOKENS)


def _agentic(times, rng, scale, **_):
    return _mixed("agent", times, rng, scale, {"program": 1.0}, tuple(PROGRAM_TEMPLATES))


GENERATED: dict[str, Builder] = {"paper-mix": _paper_mix, "chat": _chat, "reasoning": _reasoning,
                                 "agentic": _agentic}
REPLAYS = {"azure-conv": "conv", "azure-code": "code"}
WORKLOAD_NAMES = (*GENERATED, *REPLAYS)


def make_workload(name: str, rate: float | None, seed: int = 0, num_requests: int = 2000, *,
                  slo_scale: float | None = None, profile: object | None = None, arrival: str = "poisson",
                  cv: float | None = None, data_dir: str | Path | None = None,
                  length_scale: float = 1.0) -> Workload:
    """Build workload ``name`` (see module docstring) deterministically from ``seed``.

    ``rate``: jobs per second (``None`` keeps a trace's native timing; required otherwise).
    ``slo_scale`` / ``profile``: SLO scaling (see `tempo_sglang.workloads.slos`); default 1 (8B GPU).
    ``arrival``: ``poisson`` or ``gamma`` (burstiness ``cv``); ignored by trace replays.
    ``data_dir``: where the Azure CSVs live (default ``../shared/data`` next to the repo).
    ``length_scale``: shrink prompt and output lengths for a slow engine (`workloads.scaling`).
    """
    if num_requests <= 0:
        raise ValueError("num_requests must be positive")
    scale = slos.resolve_slo_scale(slo_scale, profile)
    rng = np.random.default_rng(seed)
    notes: list[str] = []
    if scale != 1.0:
        notes.append(f"SLOs and think/tool gaps scaled x{scale:.3g} from the 8B-GPU base")
    if name in REPLAYS:
        items = _replay(REPLAYS[name], name, rate, rng, num_requests, scale, data_dir, notes)
    elif name in GENERATED:
        if rate is None:
            raise ValueError(f"workload {name!r} needs a rate")
        times = make_arrivals(arrival, rate, num_requests, rng, cv)
        items = GENERATED[name](times, rng, scale)
    else:
        raise ValueError(f"unknown workload {name!r}; known: {', '.join(WORKLOAD_NAMES)}")
    if length_scale != 1.0:
        if not 0 < length_scale <= 1:
            raise ValueError(f"length_scale must be in (0, 1], got {length_scale}")
        items = scale_lengths(items, length_scale)
        notes.append(f"prompt and output lengths scaled x{length_scale:.3g}")
    items.sort(key=lambda it: it.arrival)
    native = rate if rate is not None else float("nan")
    return Workload(name=name, items=items, rate=native, seed=seed, slo_scale=scale, num_jobs=num_requests,
                    notes=notes)
