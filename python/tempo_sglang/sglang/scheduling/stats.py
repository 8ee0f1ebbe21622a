"""What the controller measures inside the server: engine speed and its own overhead."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

EMA = 0.2
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
class ControllerStats:
    """Running figures: step times (EMA), scheduling pass time and counts."""

    decode_step_time: float | None = None
    prefill_time_per_token: float | None = None
    passes: int = 0
    pass_time_total: float = 0.0
    steps: int = 0
    step_time_total: float = 0.0
    rejected: int = 0
    demoted: int = 0
    preempted: int = 0
    last_waiting: int = 0
    last_running: int = 0
    last_parked: int = 0
    step_fit: StepTimeFit = field(default_factory=StepTimeFit)

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

    def observe_prefill(self, seconds: float, tokens: int, min_tokens: int = 32,
                        fixed: float | None = None) -> None:
        """Per-token prefill cost, net of the step's fixed cost ``fixed`` (default: one decode step)."""
        self._step(seconds)
        if tokens < min_tokens:
            return
        overhead = fixed if fixed is not None else (self.decode_step_time or 0.0)
        per_token = max(0.0, seconds - overhead) / tokens
        old = self.prefill_time_per_token
        self.prefill_time_per_token = per_token if old is None else (1 - EMA) * old + EMA * per_token

    def share_of_step(self) -> float:
        return self.pass_time_total / self.step_time_total if self.step_time_total else 0.0

    def snapshot(self) -> dict:
        """Figures for ``meta_info`` / metrics: pass time as a share of the engine's step time."""
        mean_pass = self.pass_time_total / self.passes if self.passes else 0.0
        mean_step = self.step_time_total / self.steps if self.steps else 0.0
        return {
            "sched_passes": self.passes,
            "sched_pass_ms_mean": round(mean_pass * 1000, 4),
            "step_ms_mean": round(mean_step * 1000, 3),
            "sched_share_of_step": round(self.pass_time_total / self.step_time_total, 5)
            if self.step_time_total else 0.0,
            "decode_step_ms": round((self.decode_step_time or 0) * 1000, 2),
            "prefill_ms_per_token": round((self.prefill_time_per_token or 0) * 1000, 4),
            "decode_ms_base": round(self.step_fit.coefficients()[0] * 1000, 2),
            "decode_ms_per_request": round(self.step_fit.coefficients()[1] * 1000, 3),
            "decode_us_per_ctx_token": round(self.step_fit.coefficients()[2] * 1e6, 3),
            "parked_now": self.last_parked,
            "rejected": self.rejected,
            "demoted": self.demoted,
            "preempted": self.preempted,
        }
