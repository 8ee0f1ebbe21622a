"""Tempo's Prometheus metrics, served on SGLang's ``/metrics`` (start the server with ``--enable-metrics``).

SGLang runs prometheus_client in multiprocess mode, so metrics created here, in the scheduler
process, are collected by the HTTP process. Per-class SLO attainment is judged when a request
finishes: deadline and program calls by their (stage) deadline, latency requests by their first token
and their last token against the due line ``arrival + ttft + i*tbt`` (the client-side benchmark
judges every token; this server-side figure is the cheap online approximation).
"""

from __future__ import annotations

from tempo_sglang.core.views import DECODE_WEIGHT, RequestView
from tempo_sglang.slo import SLOClass


def slo_met(view: RequestView, finish: float) -> bool:
    """Whether a finished request met its SLO, judged at the server."""
    cls = view.slo.slo_class
    if view.demoted or cls is SLOClass.BEST_EFFORT:
        return False
    if cls is SLOClass.LATENCY:
        first_due, last_due = view.token_due(0), view.token_due(max(0, view.generated - 1))
        return view.first_token_time is not None and view.first_token_time <= first_due and finish <= last_due
    deadline = view.deadline()
    return deadline is not None and finish <= deadline


class TempoMetrics:
    """Counters and gauges for Tempo's decisions; every method is a no-op when metrics are off."""

    def __init__(self, enabled: bool, policy: str):
        self.enabled = enabled
        if not enabled:
            return
        from prometheus_client import Counter, Gauge, Histogram

        labels = ["policy", "slo_class"]
        self.policy = policy
        self.finished = Counter("tempo_requests_finished_total", "Finished requests by class", labels)
        self.met = Counter("tempo_requests_slo_met_total", "Finished requests that met their SLO", labels)
        self.gain = Counter("tempo_service_gain_total", "Service gain of requests that met their SLO", labels)
        self.demoted = Counter("tempo_requests_demoted_total", "Requests demoted to best effort", ["policy"])
        self.rejected = Counter("tempo_requests_rejected_total", "Requests rejected past max_wait_ms", ["policy"])
        self.parked = Gauge("tempo_parked_requests", "Requests parked now (KV kept, skipping steps)",
                            ["policy"], multiprocess_mode="mostrecent")
        self.waiting = Gauge("tempo_waiting_requests", "Requests waiting", ["policy"], multiprocess_mode="mostrecent")
        self.share = Gauge("tempo_scheduler_share_of_step", "Scheduling pass time over engine step time",
                           ["policy"], multiprocess_mode="mostrecent")
        self.pass_time = Histogram("tempo_scheduling_pass_seconds", "Time of one Tempo scheduling pass", ["policy"],
                                   buckets=(1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 0.1))

    def on_pass(self, seconds: float, waiting: int, parked: int, share: float) -> None:
        if not self.enabled:
            return
        self.pass_time.labels(self.policy).observe(seconds)
        self.waiting.labels(self.policy).set(waiting)
        self.parked.labels(self.policy).set(parked)
        self.share.labels(self.policy).set(share)

    def on_finish(self, view: RequestView, finish: float, ok: bool) -> None:
        if not self.enabled:
            return
        cls = view.slo.slo_class.value
        self.finished.labels(self.policy, cls).inc()
        if ok and slo_met(view, finish):
            self.met.labels(self.policy, cls).inc()
            self.gain.labels(self.policy, cls).inc(view.prompt_len + DECODE_WEIGHT * view.generated)

    def on_demote(self, count: int) -> None:
        if self.enabled and count:
            self.demoted.labels(self.policy).inc(count)

    def on_reject(self) -> None:
        if self.enabled:
            self.rejected.labels(self.policy).inc()
