"""Discrete-event simulator of a continuous-batching engine driven by a fitted cost model.

`simulate(workload, policy, profile)` runs one policy over a `tempo_sglang.workloads.Workload`;
`load_profile` / `fit` handle the per-(model, hardware) cost profiles under ``sim/profiles``;
`tempo_sglang.sim.sweep` runs (policy, rate, seed) sweeps in parallel. No SGLang or torch import.
"""

from tempo_sglang.sim.costmodel import CostModel, StepSample, available_profiles, fit, load_profile
from tempo_sglang.sim.engine import SimEngine, SimResult, simulate

__all__ = ["CostModel", "SimEngine", "SimResult", "StepSample", "available_profiles", "fit", "load_profile",
           "simulate"]
