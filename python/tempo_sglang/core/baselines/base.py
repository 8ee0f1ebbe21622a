"""Shared machinery of the baseline policies: admit in a fixed order, never park.

A baseline is a sort key over waiting requests (smaller = served first). The engine admits in the
returned order and skips what does not fit. A *preemptive* baseline also evicts the running requests
whose key is worse than that of waiting requests that cannot otherwise get a slot (as SGLang's
priority scheduling and Autellix's PLAS do); the rest leave running requests alone. All baselines
honour ``max_wait_ms`` the same way Tempo does, so rejection is never an advantage of one policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tempo_sglang.core.policy import Decision, EngineBudget
from tempo_sglang.core.views import RequestView


def max_wait_rejections(waiting: Sequence[RequestView], now: float) -> dict[str, str]:
    """Never-started waiting requests whose wait exceeds their ``max_wait_ms`` -> reason."""
    out: dict[str, str] = {}
    for v in waiting:
        mw = v.slo.max_wait_ms
        if mw is not None and v.generated == 0 and (now - v.arrival) * 1000.0 > mw:
            out[v.rid] = f"waited {(now - v.arrival) * 1000.0:.0f} ms, over max_wait_ms={mw:.0f}"
    return out


class OrderedPolicy:
    """Base class: subclasses define `key`; optionally preemptive on a strictly better key."""

    name = "ordered"
    preemptive = False

    def __init__(self, preemptive: bool | None = None, honor_max_wait: bool = True, **_: Any):
        if preemptive is not None:
            self.preemptive = preemptive
        self.honor_max_wait = honor_max_wait

    def key(self, view: RequestView, now: float) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def observe(self, waiting: Sequence[RequestView], running: Sequence[RequestView], now: float) -> None:
        """Hook for policies that track state from the views they see (attained service)."""

    def schedule(self, waiting: Sequence[RequestView], running: Sequence[RequestView],
                 budget: EngineBudget) -> Decision:
        now = budget.now
        self.observe(waiting, running, now)
        reject = max_wait_rejections(waiting, now) if self.honor_max_wait else {}
        cands = [v for v in waiting if v.rid not in reject]
        keyed = sorted(((self.key(v, now), i) for i, v in enumerate(cands)), key=lambda x: x[0])
        decision = Decision(admit=[cands[i].rid for _, i in keyed], reject=reject)
        if self.preemptive and keyed and running:
            free = max(0, budget.max_running - len(running))
            run_keys = sorted(((self.key(v, now), i) for i, v in enumerate(running)), key=lambda x: x[0])
            wait_iter = iter(k for k, _ in keyed[free:])
            for rk, ri in reversed(run_keys):
                wk = next(wait_iter, None)
                if wk is None or not wk < rk:
                    break
                decision.preempt.append(running[ri].rid)
        return decision

    def on_finish(self, view: RequestView, now: float) -> None:
        """Baselines keep no per-request state by default."""
