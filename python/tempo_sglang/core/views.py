"""Small engine-agnostic views of requests: what a policy sees and what metrics consume.

Both the SGLang plugin and the simulator build `RequestView`s from their own request objects; every
policy reads only these views, so the same policy object runs unchanged in both engines. Times are
seconds on one clock chosen by the engine (the simulator's virtual clock, or the server's shared
clock); only differences and comparisons with ``EngineBudget.now`` matter.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tempo_sglang.slo import SLOClass, TempoSLO

DECODE_WEIGHT = 8  # w_d: a decode token counts 8, a prefill token 1 (SPEC section 2)
DEFAULT_LENGTH_BOUND = 512  # safe default bound on output tokens before any prediction exists


@dataclass
class RequestView:
    """One request as a policy sees it. Mutable: engines update it in place each step."""

    rid: str
    slo: TempoSLO
    arrival: float
    prompt_len: int
    max_new_tokens: int
    generated: int = 0
    prefilled: int = 0  # prompt tokens already computed (cached prefix included)
    cached_len: int = 0  # prompt tokens found in the prefix cache when last matched
    first_token_time: float | None = None
    length_bound: int | None = None  # conservative bound on total output tokens (analyzer)
    length_low: int | None = None  # a low quantile of total output tokens (analyzer; hopelessness)
    true_output_len: int | None = None  # only the oracle policy may read this
    program_start: float | None = None  # arrival of the program's first call
    stage_deadline: float | None = None  # absolute stage deadline from the program analyzer
    demoted: bool = False
    parked_time: float = 0.0  # total seconds spent parked
    extra: dict = field(default_factory=dict)  # engine-private scratch, never read by policies

    # ---- derived quantities used by every policy -------------------------------------------
    @property
    def slo_class(self) -> SLOClass:
        """The class the request is served as now (best effort once demoted)."""
        return SLOClass.BEST_EFFORT if self.demoted else self.slo.slo_class

    @property
    def kv_tokens(self) -> int:
        """KV-cache tokens the request holds (or will hold once prefilled)."""
        return self.prompt_len + self.generated

    @property
    def prefill_remaining(self) -> int:
        return max(0, self.prompt_len - max(self.prefilled, self.cached_len))

    def remaining_bound(self) -> int:
        """Conservative bound on output tokens still to generate (at least 1 until finished)."""
        bound = self.length_bound if self.length_bound is not None else DEFAULT_LENGTH_BOUND
        bound = min(bound, self.max_new_tokens)
        return max(1, bound - self.generated)

    def true_remaining(self) -> int | None:
        if self.true_output_len is None:
            return None
        return max(1, min(self.true_output_len, self.max_new_tokens) - self.generated)

    def deadline(self) -> float | None:
        """Absolute deadline of the whole request (deadline class) or program (program class)."""
        if self.slo.deadline_ms is None:
            return None
        start = self.program_start if self.slo.slo_class is SLOClass.PROGRAM and self.program_start is not None \
            else self.arrival
        return start + self.slo.deadline_ms / 1000.0

    def token_due(self, index: int) -> float | None:
        """Due time of output token ``index`` (0 = first token) for latency requests."""
        if self.slo.ttft_ms is None or self.slo.tbt_ms is None:
            return None
        return self.arrival + self.slo.ttft_ms / 1000.0 + index * self.slo.tbt_ms / 1000.0

    def next_due(self) -> float | None:
        """The next point in time this request must have made progress by, if any."""
        if self.demoted:
            return None
        cls = self.slo.slo_class
        if cls is SLOClass.LATENCY:
            return self.token_due(self.generated)
        if cls is SLOClass.PROGRAM and self.stage_deadline is not None:
            return self.stage_deadline
        return self.deadline()


@dataclass
class RequestRecord:
    """The outcome of one finished (or failed) request, as metrics consume it."""

    rid: str
    slo: TempoSLO
    arrival: float
    prompt_len: int
    output_len: int
    token_times: list[float]  # absolute delivery time of each output token, in order
    finish_time: float | None
    status: str = "ok"  # ok | error | aborted | dropped
    demoted: bool = False
    program_start: float | None = None
    cached_len: int = 0

    @property
    def first_token_time(self) -> float | None:
        return self.token_times[0] if self.token_times else None

    @property
    def ok(self) -> bool:
        return self.status == "ok"
