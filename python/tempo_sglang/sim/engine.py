"""The simulated engine: discrete-event continuous batching driven by a `CostModel`.

It implements the engine side of `tempo_sglang.core.policy`: at each scheduling point (arrivals,
finishes, a frame of ``frame_steps`` iterations or ``frame_time`` seconds, a parked request nearing
its due line, KV-pressure retraction) it hands the policy the waiting and running views and an
`EngineBudget`, and applies the `Decision`. Between scheduling points, runs of identical decode
iterations are fast-forwarded in one go: only the context grows (one token per request per step), so
``n`` steps take ``n*T0 + c3*B*n(n-1)/2`` in closed form.

Modelled: chunked prefill with a per-step prompt-token budget (``Decision.prefill_token_budget``),
mixed prefill+decode batches (``mixed=True``, Sarathi-style) or prefill-only steps that stall decodes
(``mixed=False``, stock SGLang), KV capacity in tokens with retraction of the newest request when
decodes outgrow it, preemption by recompute, parking (skip steps, keep KV), demotion, rejection,
prefix reuse, program DAGs (a child arrives when all its parents finished plus its think/tool gap),
and a cap on running requests. Every `WorkItem` ends as exactly one `RequestRecord`.

The optional ``analyzer`` (e.g. `tempo_sglang.analyzer.facade.RequestAnalyzer`) gets
``on_arrival(view, prompt_text=...)`` (a ``ValueError`` from it rejects the request with an error),
``on_progress(view)`` (about every 50 generated tokens, at scheduling points) and
``on_finish(view, now=sim_time, ok=...)``; it may set ``view.length_bound`` and
``view.stage_deadline``. Without one, views keep the safe default bound.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

import numpy as np

from tempo_sglang.core.policy import Decision, EngineBudget
from tempo_sglang.core.views import RequestRecord
from tempo_sglang.sim.costmodel import CostModel, load_profile
from tempo_sglang.sim.lifecycle import EngineState
from tempo_sglang.sim.state import SimRequest
from tempo_sglang.workloads.items import WorkItem, Workload

PROGRESS_EVERY = 50


@dataclass
class SimResult:
    """Records (one per item, in item order), the run's duration and engine counters."""

    records: list[RequestRecord]
    duration: float  # first arrival to last finish (seconds of simulated time)
    stats: dict = field(default_factory=dict)


class SimEngine(EngineState):
    """One simulated run (see module docstring); `simulate` is the usual entry point."""

    # ---- scheduling points -----------------------------------------------------------------------
    def _decode_ctx(self) -> int:
        return self._dec_ctx

    def budget(self) -> EngineBudget:
        """What the engine offers the policy now."""
        c = self.cost.coeffs
        return EngineBudget(now=self.now, max_running=self.max_running, kv_free_tokens=max(0, self.kv_free()),
                            token_budget=self.chunk_size,
                            decode_step_time=self.cost.step_time((), max(1, len(self.decoding)),
                                                                 self._decode_ctx()),
                            prefill_time_per_token=c[1] + c[2] * 512, kv_total_tokens=self.kv_capacity,
                            decode_time_base=c[0], decode_time_per_request=c[1] + c[4],
                            decode_time_per_ctx_token=c[3],
                            prefill_step_overhead=0.0 if self.mixed else c[0] + self.cost.prefill_pass,
                            decode_interval=self.interval.seconds,
                            prefill_passes_since_decode=self.passes_since_decode)

    def _schedule(self) -> None:
        step = self.log.n
        for req in self.decoding.values():  # only decoding requests' counts moved since last time
            view = req.view
            view.generated = req.generated(step)
            if self.analyzer is not None and view.generated - req.progress_mark >= PROGRESS_EVERY:
                req.progress_mark = view.generated
                self.analyzer.on_progress(view)
        self._refresh_cached()
        budget = self.budget()
        decision = self.policy.schedule(list(self.waiting_views.values()),
                                        [r.view for r in self.running.values()], budget)
        self.stats["schedule_calls"] += 1
        self._apply(decision, budget)
        self._need_sched, self._since_sched, self._last_sched = False, 0, self.now

    def _apply(self, d: Decision, budget: EngineBudget) -> None:
        step = self.log.n
        for rid, reason in d.reject.items():
            req = self.waiting.get(rid) or self.running.get(rid)
            if req is not None:
                self.stats["rejected"] += 1
                self._finish(req, "error", reason)
        for rid in d.demote:
            req = self.waiting.get(rid) or self.running.get(rid)
            if req is not None and not req.view.demoted:
                req.view.demoted = True
                self.stats["demoted"] += 1
        for rid in d.preempt:
            if rid in self.running:
                self._preempt(self.running[rid])
        park = {rid for rid in d.park if rid in self.running}
        for rid in self._parked - park:
            req = self.running.get(rid)
            if req is not None:
                req.parked = False
                if req.prefill_left == 0 and req.seg_start is None:
                    self._open(req, step)
        for rid in park:
            req = self.running[rid]
            req.parked = True
            self._close(req, step)
            due = req.view.next_due()
            if due is not None and due - 2 * budget.decode_step_time > self.now:
                heapq.heappush(self._timers, due - 2 * budget.decode_step_time)
        self._parked = park
        best_room = self._best_room()
        tokens = self._admission_tokens(d.prefill_token_budget)
        if best_room >= 1 and len(self.running) < self.max_running and tokens > 0:
            need = self._wait_need  # a lower bound of each waiting request's KV need
            for rid in [r for r in d.admit if need.get(r, best_room + 1) <= best_room]:
                if len(self.running) >= self.max_running or tokens <= 0:
                    break  # skipped ones are not a reason to stop: only a full batch (or pass) is
                req = self.waiting.get(rid)
                if req is not None and need[rid] <= best_room and self._admit(req):
                    best_room = self._best_room()
                    tokens -= req.prefill_left
        self.prefill_budget = d.prefill_token_budget

    def _admission_tokens(self, prefill_budget: int | None) -> float:
        """Prompt tokens admissions may bring in now. A mixed engine admits what the policy lists and
        prefills it over the following steps. Stock SGLang (``mixed=False``) admits only what its next
        prefill pass computes (the last admitted request chunked over later passes), so the rest stays
        waiting, where a later arrival may overtake it; the policy decides again after every pass."""
        if self.mixed:
            return math.inf
        budget = self.chunk_size if prefill_budget is None or (prefill_budget <= 0 and not self.decoding) \
            else prefill_budget
        return budget - sum(r.prefill_left for r in self.prefilling.values() if not r.parked)

    def _force_progress(self) -> bool:
        """Nothing runs and no event is ahead: unpark, else admit the oldest waiting request."""
        self.stats["forced"] += 1
        self._parked = set()
        parked = [r for r in self.running.values() if r.parked]
        for req in parked:
            req.parked = False
            if req.prefill_left == 0:
                self._open(req, self.log.n)
        if parked:
            return True
        for req in list(self.waiting.values()):
            if self._admit(req):
                return True
        if self.waiting:  # cannot fit even alone: an explicit error, never a silent loss
            self._finish(next(iter(self.waiting.values())), "error", "does not fit in KV capacity")
            return True
        return False

    # ---- iterations ------------------------------------------------------------------------------
    def _ensure_kv(self, grow: int) -> bool:
        """Make room for ``grow`` new KV tokens: evict cache, then retract the newest request."""
        short = grow - (self.kv_capacity - self.kv_used - self.cache.total)
        if short > 0:
            self.cache.evict(short)
        retracted = False
        while grow > self.kv_capacity - self.kv_used - self.cache.total and len(self.running) > 1:
            victim = max(self.running.values(), key=lambda r: r.admit_seq)
            self._preempt(victim)
            self.stats["retractions"] += 1
            retracted = True
        return not retracted

    def _finish_due(self) -> None:
        heap, step = self._finish_heap, self.log.n
        while heap and heap[0][0] <= step:
            _, _, version, req = heapq.heappop(heap)
            if req.state == "running" and req.version == version and req.seg_start is not None:
                self._finish(req)

    def _prefill_step(self, active: list[SimRequest]) -> None:
        left = self.prefill_budget if self.prefill_budget is not None else self.chunk_size
        if left <= 0 and not self.decoding:
            left = self.chunk_size
        alloc = []
        for req in active:
            if left <= 0:
                break
            take = min(req.prefill_left, left)
            alloc.append((req, take))
            left -= take
        step = self.log.n
        paused = [] if self.mixed or not alloc else list(self.decoding.values())
        for req in paused:
            self._close(req, step)
        n_dec = len(self.decoding)
        dur = self.cost.step_time([(take, r.prefill_ctx) for r, take in alloc], n_dec, self._decode_ctx())
        self.now += dur
        self.log.append(self.now)
        if n_dec or paused:  # a mixed step decodes too; a separate prefill pass only delays the decoders
            self.interval.add(dur, 1 if n_dec else 0)
        if paused:
            self.passes_since_decode += 1
            if self.passes_since_decode > 1:
                self.stats["prefill_after_prefill"] = self.stats.get("prefill_after_prefill", 0) + 1
        if not self.mixed and (paused or self.waiting):  # SGLang's policy runs before every iteration
            self._need_sched = True
        self._dec_ctx += n_dec
        self.kv_used += n_dec
        for req, take in alloc:
            req.prefill_left -= take
            req.prefill_ctx += take
            req.view.prefilled = min(req.item.prompt_len, req.prefill_ctx)
            if req.prefill_left == 0:
                del self.prefilling[req.item.rid]
                if req.item.prefix_id is not None:
                    self.cache.publish(req.item.prefix_id, req.item.prefix_len)
                self._open(req, step)
                self.kv_used += 1
        for req in paused:
            self._open(req, self.log.n)
        self._since_sched += 1

    def _steps_until(self, t: float, t0: float, slope: float) -> float:
        """Smallest step count n >= 1 whose cumulative time n*t0 + slope*n(n-1)/2 reaches t - now."""
        gap = t - self.now
        if gap <= t0:
            return 1
        a, b = slope / 2.0, t0 - slope / 2.0
        n = gap / b if a <= 0 else (-b + math.sqrt(b * b + 4 * a * gap)) / (2 * a)
        return max(1, math.ceil(n - 1e-9))

    def _decode_run(self, max_steps: int | None = None) -> None:
        self.passes_since_decode = 0
        n_dec = len(self.decoding)
        ctx = self._decode_ctx()
        t0 = self.cost.step_time((), n_dec, ctx)
        slope = self.cost.coeffs[3] * n_dec
        heap = self._finish_heap
        n = self.frame_steps - self._since_sched
        if heap:
            n = min(n, heap[0][0] - self.log.n)
        free = self.kv_capacity - self.kv_used - self.cache.total
        n = min(n, free // n_dec)
        t_next = self._next_event_time()
        if t_next < math.inf:
            n = min(n, self._steps_until(t_next, t0, slope))
        n = max(1, int(n) if max_steps is None else min(int(n), max_steps))
        m = np.arange(1, n + 1, dtype=float)
        ends = self.now + m * t0 + slope * m * (m - 1) / 2.0
        self.log.extend(ends)
        self.interval.add(float(ends[-1]) - self.now, n)
        self.now = float(ends[-1])
        self._dec_ctx = ctx + n * n_dec
        self.kv_used += n * n_dec
        self._since_sched += n

    def run(self) -> SimResult:
        """Drive the simulation until every item has a record."""
        total = len(self.items)
        while len(self.records) < total:
            self._release_due()
            if self._since_sched >= self.frame_steps or (
                    self.frame_time is not None and self.now - self._last_sched >= self.frame_time):
                self._need_sched = True
            if self._need_sched:
                self._schedule()
            if self.now > self.max_sim_time:
                for req in [*self.running.values(), *self.waiting.values()]:
                    self._finish(req, "aborted", "simulation time limit")
                while self._pending:
                    self._arrive(*heapq.heappop(self._pending)[::2])
                continue
            active = [r for r in self.prefilling.values() if not r.parked]
            if not active and not self.decoding:
                t_next = self._next_event_time()
                if t_next < math.inf:
                    self.now = max(self.now, t_next)
                elif not self._force_progress():
                    raise RuntimeError("simulator stalled with nothing to run")  # unreachable by design
                continue
            if not self._ensure_kv(len(self.decoding) + len(active)):  # retracted: run a step anyway
                active = [r for r in self.prefilling.values() if not r.parked]
                if not active and not self.decoding:
                    continue
            if active and (self.prefill_budget is None or self.prefill_budget > 0 or not self.decoding):
                self._prefill_step(active)
            elif active and not self.mixed:  # prefill deferred for the decoders: one step, then decide again
                self._decode_run(max_steps=1)
                self._need_sched = True
            else:
                self._decode_run()
            self.stats["steps"] = self.log.n
            self._finish_due()
        records = [self.records[it.rid] for it in self.items]
        start = min((r.arrival for r in records), default=0.0)
        end = max((r.finish_time or r.arrival for r in records), default=0.0)
        self.stats["sim_time"] = self.now
        return SimResult(records=records, duration=max(end - start, 1e-9), stats=dict(self.stats))


def simulate(workload: Workload | list[WorkItem], policy, profile: CostModel | str = "llama-8b-h100",
             **options) -> SimResult:
    """Run ``policy`` over ``workload`` on the engine of ``profile`` (a `CostModel` or profile name).

    ``options`` go to `SimEngine`: ``analyzer``, ``frame_steps`` (50), ``frame_time`` (None),
    ``mixed`` (True), ``max_running`` / ``kv_capacity`` / ``chunk_size`` (profile defaults),
    ``reveal_true_lengths`` (default: only for a policy named ``oracle`` or with
    ``uses_true_lengths``), ``max_sim_time``.
    """
    items = workload.items if isinstance(workload, Workload) else list(workload)
    cost = load_profile(profile) if isinstance(profile, str) else profile
    return SimEngine(items, policy, cost, **options).run()
