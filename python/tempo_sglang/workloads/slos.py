"""SLO tiers and their scaling to an engine (SPEC section 6).

Base SLOs [artifact] are for an 8B model on one GPU: TTFT 1 s, TBT 0.1 s, deadline 10 s. Each request
draws a tier multiplier from 1..4; a program's deadline is ``base deadline x tier x number of stages``.

Scaling to another engine: every SLO (and every think/tool gap) is multiplied by one ``slo_scale``.
For a cost profile it is the ratio of the profile's decode-iteration time to the 8B-GPU reference
profile's, both at the reference batch (``REF_BATCH`` requests at ``REF_CONTEXT`` tokens of context)::

    slo_scale = T_profile(B=8, ctx=512) / T_llama-8b-h100(B=8, ctx=512)

so ``llama-8b-h100`` has scale 1 and an engine whose iterations are 20x slower gets SLOs 20x looser.
`tempo_sglang.sim.costmodel.CostModel.slo_scale` computes it; a live engine can pass a measured value.
"""

from __future__ import annotations

import numpy as np

from tempo_sglang.slo import SLOClass, TempoSLO

BASE_TTFT_S = 1.0
BASE_TBT_S = 0.1
BASE_DEADLINE_S = 10.0
TIERS = (1, 2, 3, 4)
REF_BATCH = 8
REF_CONTEXT = 512
REFERENCE_PROFILE = "llama-8b-h100"


def draw_tier(rng: np.random.Generator) -> int:
    """A tier multiplier, uniform over 1..4."""
    return int(TIERS[rng.integers(len(TIERS))])


def latency_slo(tier: int, scale: float) -> TempoSLO:
    """Streaming SLO: TTFT and TBT of the base times the tier and the engine scale."""
    return TempoSLO(slo_class=SLOClass.LATENCY, ttft_ms=1000.0 * BASE_TTFT_S * tier * scale,
                    tbt_ms=1000.0 * BASE_TBT_S * tier * scale)


def deadline_slo(tier: int, scale: float) -> TempoSLO:
    """Whole-response deadline: base deadline x tier x scale."""
    return TempoSLO(slo_class=SLOClass.DEADLINE, deadline_ms=1000.0 * BASE_DEADLINE_S * tier * scale)


def program_slo(tier: int, scale: float, stages: int, program_id: str, node_id: str,
                parents: tuple[str, ...], stage: int, kind: str) -> TempoSLO:
    """One call of a program: the program deadline is base x tier x stages x scale."""
    return TempoSLO(slo_class=SLOClass.PROGRAM, deadline_ms=1000.0 * BASE_DEADLINE_S * tier * stages * scale,
                    program_id=program_id, node_id=node_id, parents=parents, stage=stage,
                    program_kind=kind)


def best_effort_slo() -> TempoSLO:
    return TempoSLO(slo_class=SLOClass.BEST_EFFORT)


def resolve_slo_scale(slo_scale: float | None, profile: object | None) -> float:
    """The SLO scale to use: explicit ``slo_scale``, else the profile's (name or object), else 1.

    ``profile`` may be a profile name (loaded from `tempo_sglang.sim`) or any object with a
    ``slo_scale()`` method.
    """
    if slo_scale is not None:
        if slo_scale <= 0:
            raise ValueError(f"slo_scale must be positive, got {slo_scale}")
        return float(slo_scale)
    if profile is None:
        return 1.0
    if isinstance(profile, str):
        from tempo_sglang.sim.costmodel import load_profile  # no SGLang/torch import there

        profile = load_profile(profile)
    return float(profile.slo_scale())
