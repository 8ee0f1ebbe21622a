"""The Tempo policy: gain density, GMAX batch formation, pacing, cost-aware preemption."""

from tempo_sglang.core.tempo.policy import TempoPolicy

__all__ = ["TempoPolicy"]
