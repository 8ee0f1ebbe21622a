"""The one contract between a scheduling policy and an engine.

Each scheduling point (every engine step, or once per frame plus on arrivals) the engine builds an
`EngineBudget` and the lists of waiting and running `RequestView`s, calls ``policy.schedule`` and
applies the returned `Decision`:

- ``admit``: waiting rids to start, in priority order. The engine admits them in that order, and a
  request that does not fit (KV, slots, token budget) is *skipped*, not a reason to stop.
- ``park``: running rids that skip this decode step but keep their KV cache.
- ``preempt``: running rids to evict (KV freed; they go back to waiting and are recomputed later).
- ``demote``: rids that can no longer meet their SLO: served as best effort from now on, reported.
- ``reject``: rid -> reason for requests that must end with an explicit error (``max_wait_ms``).
- ``prefill_token_budget``: how many prompt tokens may be computed in this step alongside decodes
  (``None``: engine default). Lets a policy protect running streams from prefill stalls.
- ``next_call_by``: an engine that does not call the policy every step must call it again no later
  than this time (``None``: no such need); set when requests are parked, whose parking must be
  reconsidered before they fall behind their due line.

The simulator and the SGLang plugin both implement the engine side; neither needs special cases.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from tempo_sglang.core.views import RequestView


@dataclass(frozen=True)
class EngineBudget:
    """What the engine can give in the next step, and what it costs."""

    now: float
    max_running: int  # request slots in the running batch
    kv_free_tokens: int  # KV tokens free for newly admitted requests
    token_budget: int  # max new tokens per step (the chunked-prefill size)
    decode_step_time: float  # seconds of one decode iteration at the current batch (v)
    prefill_time_per_token: float = 0.0  # seconds per prompt token of prefill
    kv_total_tokens: int = 0  # total KV capacity (0 if unknown)
    # decode step time as a function of the batch: about base + per_request * B + per_ctx_token * KV
    # tokens held (0: unknown or flat, as on a GPU far from its roofline)
    decode_time_base: float = 0.0
    decode_time_per_request: float = 0.0
    decode_time_per_ctx_token: float = 0.0  # ... plus this per KV token the running requests hold
    # fixed seconds of a step that computes prompt tokens apart from the decodes (an engine that runs
    # prefill chunks as their own forward passes); 0 when prefill rides inside the decode step
    prefill_step_overhead: float = 0.0
    # seconds between a request's consecutive tokens when it decodes every step: the decode step plus
    # the prefill passes and host work that run between two decode steps (0: same as decode_step_time)
    decode_interval: float = 0.0
    # separate prefill passes the engine ran since its last decode step (an engine that runs a prefill
    # pass whenever one can be formed may run several back to back while the decoders wait)
    prefill_passes_since_decode: int = 0

    @property
    def interval_ratio(self) -> float:
        """How much longer a decoding request waits per token than one decode step takes (>= 1)."""
        if self.decode_interval <= 0 or self.decode_step_time <= 0:
            return 1.0
        return max(1.0, self.decode_interval / self.decode_step_time)


@dataclass
class Decision:
    """A policy's answer for one scheduling point (see module docstring)."""

    admit: list[str] = field(default_factory=list)
    park: list[str] = field(default_factory=list)
    preempt: list[str] = field(default_factory=list)
    demote: list[str] = field(default_factory=list)
    reject: dict[str, str] = field(default_factory=dict)
    prefill_token_budget: int | None = None
    next_call_by: float | None = None


@runtime_checkable
class Policy(Protocol):
    """A scheduling policy. Implementations live in `tempo_sglang.core` and read only views."""

    name: str

    def schedule(self, waiting: Sequence[RequestView], running: Sequence[RequestView],
                 budget: EngineBudget) -> Decision:
        """Decide admissions, parking, preemption, demotion and rejection for the next step."""
        ...

    def on_finish(self, view: RequestView, now: float) -> None:
        """Called once when a request finishes (success or not)."""
        ...
