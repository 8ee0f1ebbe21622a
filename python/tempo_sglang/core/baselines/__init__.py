"""Baseline policies behind the same `Policy` interface as Tempo."""

from tempo_sglang.core.baselines.program_service import AtlasPolicy, AutellixPolicy
from tempo_sglang.core.baselines.simple import EDFPolicy, FCFSPolicy, LPMPolicy, LTRPolicy, PriorityPolicy

__all__ = ["AtlasPolicy", "AutellixPolicy", "EDFPolicy", "FCFSPolicy", "LPMPolicy", "LTRPolicy",
           "PriorityPolicy"]
