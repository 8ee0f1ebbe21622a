"""Tempo policy (placeholder while the full policy lands: EDF order)."""

from __future__ import annotations

from typing import Any

from tempo_sglang.core.baselines.simple import EDFPolicy


class TempoPolicy(EDFPolicy):
    name = "tempo"

    def __init__(self, oracle: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.oracle = oracle
        self.name = "oracle" if oracle else "tempo"
