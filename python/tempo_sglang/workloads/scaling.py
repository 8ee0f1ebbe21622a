"""Fitting a workload to a slow engine: the length scale, and the SLO scale a profile recommends.

SLOs are scaled with ``slo_scale`` (see `tempo_sglang.workloads.slos`). On a CPU engine the base
lengths of the public traces (chat prompts of ~750 tokens, outputs of ~150) make a single job last
tens of seconds and a program many minutes, so a live run of a few minutes would measure nothing but
its own drain. ``length_scale`` shrinks every prompt, output, shared prefix and output cap by one
factor (the shapes of the distributions and the DAGs are unchanged). SLOs and think/tool gaps are
left to ``slo_scale``: with outputs 4x shorter a deadline of the same length holds 4x the slack in
engine steps, closer to the 8B-GPU reference (10 s for ~150 tokens of ~7 ms steps). A profile may
recommend both factors for live benchmarks in a ``bench`` section::

    "bench": {"slo_scale": 2.4, "length_scale": 0.25, "why": "..."}

`bench_scaling` reads it; explicit values win; without it the SLO scale is computed from the
profile's iteration time and lengths are not scaled.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from tempo_sglang.workloads.items import WorkItem


@dataclass(frozen=True)
class BenchScaling:
    """The two factors a workload is built with, and where they came from."""

    slo_scale: float
    length_scale: float
    source: str


def bench_scaling(profile: object | None, slo_scale: float | None = None,
                  length_scale: float | None = None) -> BenchScaling:
    """SLO and length scale for a benchmark on ``profile`` (a `CostModel`, a profile name or None)."""
    if isinstance(profile, str):
        from tempo_sglang.sim.costmodel import load_profile  # no SGLang/torch import there

        profile = load_profile(profile)
    recommended = dict((getattr(profile, "meta", None) or {}).get("bench") or {})
    source = []
    if slo_scale is None and "slo_scale" in recommended:
        slo_scale = float(recommended["slo_scale"])
        source.append("slo scale from the profile's bench section")
    if slo_scale is None:
        slo_scale = float(profile.slo_scale()) if profile is not None else 1.0
        source.append("slo scale from the profile's iteration time" if profile is not None else "slo scale 1")
    if length_scale is None:
        length_scale = float(recommended.get("length_scale", 1.0))
        source.append("length scale from the profile's bench section" if "length_scale" in recommended
                      else "lengths unscaled")
    if slo_scale <= 0 or not 0 < length_scale <= 1:
        raise ValueError(f"need slo_scale > 0 and 0 < length_scale <= 1, got {slo_scale}, {length_scale}")
    return BenchScaling(slo_scale=float(slo_scale), length_scale=float(length_scale), source="; ".join(source))


def _scaled(n: int, factor: float, lo: int = 1) -> int:
    return max(lo, int(round(n * factor)))


def scale_lengths(items: list[WorkItem], factor: float) -> list[WorkItem]:
    """``items`` with prompt, output, shared-prefix and output-cap lengths times ``factor``."""
    if factor == 1.0:
        return items
    out = []
    for it in items:
        prompt = _scaled(it.prompt_len, factor, lo=2)
        output = _scaled(it.output_len, factor)
        prefix = min(_scaled(it.prefix_len, factor, lo=0), prompt - 1) if it.prefix_id else 0
        out.append(dataclasses.replace(
            it, prompt_len=prompt, output_len=output, prefix_len=prefix,
            max_new_tokens=max(output, _scaled(it.max_new_tokens, factor, lo=16))))
    return out
