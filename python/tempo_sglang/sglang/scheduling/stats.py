"""What the controller measures inside the server: engine speed and its own overhead."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tempo_sglang.sim.cost_sums import CostSums

EMA = 0.2
INTERVAL_EMA = 0.05  # decode intervals mix decode-only stretches with prefill bursts: average longer
MAX_INTERVAL_S = 10.0  # a longer gap between decode steps is idle time, not service
MAX_HOST_GAP_S = 1.0  # a longer gap after a busy step is not host work of that step: the step is dropped
FIT_DECAY = 0.995  # weight of an older decode observation in the step-time fit (half-life ~140 steps)
MIN_STEPS = 20  # decode steps seen before the fit is trusted
CTX_SCALE = 1000.0  # context tokens are fitted per thousand (keeps the normal equations balanced)
TYPICAL_BATCH, TYPICAL_KCTX = 8.0, 4.0  # a typical step, for the prior's weight per coefficient


@dataclass
class StepTimeFit:
    """Decode step time ``base + per_request * B + per_ctx_token * context`` fitted online.

    Exponentially weighted ridge least squares over the decode steps seen (B requests holding
    ``context`` KV tokens in all), so it follows the engine as load changes. With a ``prior`` (the
    coefficients of a cost profile for this model and hardware) the fit is anchored to it with the
    weight of ``prior_steps`` typical steps, which keeps the batch-size and context slopes apart when
    the two move together; without one it reports zeros (unknown) until ``MIN_STEPS`` steps were seen,
    and a negative slope falls back to the batch-size-only line.
    """

    prior: tuple[float, float, float] | None = None
    prior_steps: float = 100.0
    gram: np.ndarray = field(default_factory=lambda: np.zeros((3, 3)))
    rhs: np.ndarray = field(default_factory=lambda: np.zeros(3))
    n: int = 0

    def observe(self, batch: int, seconds: float, context: int = 0) -> None:
        x = np.array([1.0, float(batch), context / CTX_SCALE])
        self.gram = FIT_DECAY * self.gram + np.outer(x, x)
        self.rhs = FIT_DECAY * self.rhs + seconds * x
        self.n += 1

    def coefficients(self) -> tuple[float, float, float]:
        """(base, per_request, per_ctx_token) seconds; zeros while unknown."""
        if self.prior is not None:
            theta0 = np.array([self.prior[0], self.prior[1], self.prior[2] * CTX_SCALE])
            anchor = self.prior_steps * np.diag([1.0, TYPICAL_BATCH ** 2, TYPICAL_KCTX ** 2])
            coef = np.linalg.solve(self.gram + anchor, self.rhs + anchor @ theta0)
            return max(0.0, float(coef[0])), max(0.0, float(coef[1])), max(0.0, float(coef[2])) / CTX_SCALE
        if self.n < MIN_STEPS:
            return 0.0, 0.0, 0.0
        ridge = np.diag([0.0, 1e-3, 1e-3]) * self.gram[0, 0]
        try:
            coef = np.linalg.solve(self.gram + ridge, self.rhs)
        except np.linalg.LinAlgError:
            return 0.0, 0.0, 0.0
        if coef[1] < 0 or coef[2] < 0:  # context not separable from the batch size: one slope
            try:
                coef = np.append(np.linalg.solve(self.gram[:2, :2] + ridge[:2, :2], self.rhs[:2]), 0.0)
            except np.linalg.LinAlgError:
                return 0.0, 0.0, 0.0
        if coef[1] <= 0 and coef[2] <= 0:
            return 0.0, 0.0, 0.0
        return max(0.0, float(coef[0])), max(0.0, float(coef[1])), max(0.0, float(coef[2])) / CTX_SCALE


@dataclass
class PrefillFit:
    """Prefill step time ``overhead + per_token * tokens`` fitted online (exponentially weighted).

    A prefill pass has a fixed cost of its own (larger than a decode step's on this CPU engine), so
    dividing a step's time net of the *decode* base by its tokens overstates the per-token cost of
    small chunks, which then shrinks the next chunk budget: a loop that ended in 32-token chunks
    at an estimated 3.9 ms per token (true ~1.3 ms). Fitting both terms breaks it. Until the chunk
    sizes seen vary enough to separate them (``min_spread`` tokens of standard deviation), the
    overhead is taken as ``fallback_overhead`` and only the per-token cost is estimated.
    """

    decay: float = 0.98
    min_spread: float = 24.0
    sums: np.ndarray = field(default_factory=lambda: np.zeros(5))  # w, x, y, xx, xy

    def observe(self, tokens: int, seconds: float) -> None:
        x = float(tokens)
        self.sums = self.decay * self.sums + np.array([1.0, x, seconds, x * x, x * seconds])

    def coefficients(self, fallback_overhead: float) -> tuple[float, float] | None:
        """(overhead, per_token) seconds, or None before any prefill was seen."""
        w, sx, sy, sxx, sxy = self.sums
        if w <= 0 or sx <= 0:
            return None
        mx, my = sx / w, sy / w
        var = sxx / w - mx * mx
        if var >= self.min_spread ** 2:
            slope = (sxy / w - mx * my) / var
            overhead = my - slope * mx
            if slope > 0 and overhead >= 0:
                return overhead, slope
        overhead = min(max(fallback_overhead, 0.0), my)
        return overhead, max(my - overhead, 0.0) / mx


@dataclass
class ControllerStats:
    """Running figures: step times (EMA), scheduling pass time and counts."""

    decode_step_time: float | None = None
    prefill_time_per_token: float | None = None
    passes: int = 0
    pass_time_total: float = 0.0
    steps: int = 0
    step_time_total: float = 0.0
    rejected: int = 0
    client_completed: int = 0  # requests stopped through /tempo/complete (ended as completed)
    demoted: int = 0
    preempted: int = 0
    last_waiting: int = 0
    last_running: int = 0
    last_parked: int = 0
    step_fit: StepTimeFit = field(default_factory=StepTimeFit)
    prefill_fit: PrefillFit = field(default_factory=PrefillFit)
    prefill_overhead: float | None = None  # fixed seconds of a prefill pass (from `prefill_fit`)
    decode_interval: float | None = None  # wall seconds between consecutive decode steps (EMA)
    last_decode_end: float | None = None  # wall clock at the end of the last decode step
    cost_sums: CostSums = field(default_factory=CostSums)  # whole iterations, for an unanchored fit
    pending_iteration: tuple | None = None  # (features, forward seconds, end) of the last busy step

    def record_pass(self, seconds: float, waiting: int, running: int, parked: int) -> None:
        self.passes += 1
        self.pass_time_total += seconds
        self.last_waiting, self.last_running, self.last_parked = waiting, running, parked

    def _step(self, seconds: float) -> None:
        self.steps += 1
        self.step_time_total += seconds

    def observe_decode(self, seconds: float, batch_size: int, context: int = 0) -> None:
        self._step(seconds)
        self.step_fit.observe(batch_size, seconds, context)
        old = self.decode_step_time
        self.decode_step_time = seconds if old is None else (1 - EMA) * old + EMA * seconds

    def observe_decode_end(self, now: float) -> None:
        """The wall time between this decode step's end and the previous one's is what a request
        decoding every step waits per token: the step plus the prefill passes and host work between."""
        last, self.last_decode_end = self.last_decode_end, now
        if last is None or not 0.0 < now - last <= MAX_INTERVAL_S:
            return
        old = self.decode_interval
        self.decode_interval = now - last if old is None else (1 - INTERVAL_EMA) * old + INTERVAL_EMA * (now - last)

    def engine_idle(self) -> None:
        """Nothing is decoding: the next gap between decode steps is idle time, not a token interval."""
        self.last_decode_end = None

    def observe_prefill(self, seconds: float, tokens: int, min_tokens: int = 32,
                        fixed: float | None = None) -> None:
        """Prefill cost: a fixed cost per pass plus a cost per token (`PrefillFit`); ``fixed`` (default
        one decode step) stands in for the fixed cost until chunk sizes vary enough to fit it."""
        self._step(seconds)
        if tokens < min_tokens:
            return
        self.prefill_fit.observe(tokens, seconds)
        fit = self.prefill_fit.coefficients(fixed if fixed is not None else (self.decode_step_time or 0.0))
        if fit is not None:
            self.prefill_overhead, self.prefill_time_per_token = fit

    def observe_iteration(self, features, start: float, end: float, busy_after: bool) -> None:
        """One engine iteration for `cost_sums`: ``features`` (`sim.cost_sums.step_features`), its
        forward ran from ``start`` to ``end`` (perf-counter seconds). An iteration's cost is its forward
        plus the host work before the next forward starts (streaming results out, receiving requests,
        scheduling), as a client's token gaps see it; so the previous iteration is completed here, and
        one after which nothing was left running (idle follows) is not counted."""
        pending = self.pending_iteration
        if pending is not None and 0.0 <= start - pending[2] <= MAX_HOST_GAP_S:
            self.cost_sums.add(pending[0], pending[1] + start - pending[2])
        self.pending_iteration = (features, end - start, end) if busy_after else None

    def share_of_step(self) -> float:
        return self.pass_time_total / self.step_time_total if self.step_time_total else 0.0

    def snapshot(self) -> dict:
        """Figures for ``meta_info`` / metrics: pass time as a share of the engine's step time."""
        mean_pass = self.pass_time_total / self.passes if self.passes else 0.0
        mean_step = self.step_time_total / self.steps if self.steps else 0.0
        base, per_request, per_ctx = self.step_fit.coefficients()  # one solve, not one per figure
        return {
            "sched_passes": self.passes,
            "sched_pass_ms_mean": round(mean_pass * 1000, 4),
            "step_ms_mean": round(mean_step * 1000, 3),
            "sched_share_of_step": round(self.pass_time_total / self.step_time_total, 5)
            if self.step_time_total else 0.0,
            "decode_step_ms": round((self.decode_step_time or 0) * 1000, 2),
            "decode_interval_ms": round((self.decode_interval or 0) * 1000, 2),
            "prefill_ms_per_token": round((self.prefill_time_per_token or 0) * 1000, 4),
            "prefill_ms_overhead": round((self.prefill_overhead or 0) * 1000, 2),
            "decode_ms_base": round(base * 1000, 2),
            "decode_ms_per_request": round(per_request * 1000, 3),
            "decode_us_per_ctx_token": round(per_ctx * 1e6, 3),
            "cost_sums": self.cost_sums.to_dict(),
            "parked_now": self.last_parked,
            "rejected": self.rejected,
            "client_completed": self.client_completed,
            "demoted": self.demoted,
            "preempted": self.preempted,
        }
