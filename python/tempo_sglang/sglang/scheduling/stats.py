"""What the controller measures inside the server: engine speed and its own overhead."""

from __future__ import annotations

from dataclasses import dataclass

EMA = 0.2


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

    def record_pass(self, seconds: float, waiting: int, running: int, parked: int) -> None:
        self.passes += 1
        self.pass_time_total += seconds
        self.last_waiting, self.last_running, self.last_parked = waiting, running, parked

    def _step(self, seconds: float) -> None:
        self.steps += 1
        self.step_time_total += seconds

    def observe_decode(self, seconds: float, batch_size: int) -> None:
        self._step(seconds)
        old = self.decode_step_time
        self.decode_step_time = seconds if old is None else (1 - EMA) * old + EMA * seconds

    def observe_prefill(self, seconds: float, tokens: int, min_tokens: int = 32) -> None:
        """Per-token prefill cost, net of the step's fixed cost (about one decode step)."""
        self._step(seconds)
        if tokens < min_tokens:
            return
        per_token = max(0.0, seconds - (self.decode_step_time or 0.0)) / tokens
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
            "parked_now": self.last_parked,
            "rejected": self.rejected,
            "demoted": self.demoted,
            "preempted": self.preempted,
        }
