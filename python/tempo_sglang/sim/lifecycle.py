"""Simulator state and request life cycle: arrivals, program release, admission, KV, finish."""

from __future__ import annotations

import heapq
import math

from tempo_sglang.core.views import RequestRecord, RequestView
from tempo_sglang.sim.costmodel import CostModel
from tempo_sglang.sim.state import PrefixCache, SimRequest, StepLog
from tempo_sglang.workloads.items import WorkItem
from tempo_sglang.workloads.release import ProgramReleaser


class DecodeInterval:
    """Seconds between consecutive decode steps (decayed mean over steps): the decode step plus any
    prefill pass that pauses the decoders in between. The plugin measures the same on the real engine."""

    def __init__(self, decay: float = 0.95) -> None:
        self.decay, self.time, self.steps = decay, 0.0, 0.0

    def add(self, seconds: float, steps: int) -> None:
        """``steps`` decode steps (0: a pass that only delayed them) took ``seconds`` in all."""
        d = self.decay ** steps
        self.time, self.steps = self.time * d + seconds, self.steps * d + steps

    @property
    def seconds(self) -> float:
        return self.time / self.steps if self.steps > 0 else 0.0


class EngineState:
    """Queues, KV accounting, arrivals and the life cycle of requests (`SimEngine` adds the loop)."""

    def __init__(self, items: list[WorkItem], policy, cost: CostModel, *, analyzer=None, frame_steps: int = 50,
                 frame_time: float | None = None, mixed: bool = True, max_running: int | None = None,
                 kv_capacity: int | None = None, chunk_size: int | None = None,
                 reveal_true_lengths: bool | None = None, max_sim_time: float = 1e7,
                 decode_reserve: int | str = 128):
        self.policy, self.cost, self.analyzer = policy, cost, analyzer
        self.frame_steps, self.frame_time, self.mixed = max(1, frame_steps), frame_time, mixed
        self.max_running = max_running or cost.max_running
        self.kv_capacity = kv_capacity or cost.kv_capacity_tokens
        self.chunk_size = chunk_size or cost.chunk_size
        self.max_sim_time = max_sim_time
        # KV kept free per running request for decode growth: a fixed number of tokens, or "max_new"
        # as SGLang's admission does for ignore_eos requests: each running request holds back
        # all its remaining max_new_tokens, and an admission needs its prompt plus its own
        self.reserve_max_new = decode_reserve == "max_new"
        self.decode_reserve = 0 if self.reserve_max_new else int(decode_reserve)
        if reveal_true_lengths is None:
            reveal_true_lengths = bool(getattr(policy, "uses_true_lengths", False)) or \
                getattr(policy, "name", "") == "oracle"
        self.reveal = reveal_true_lengths
        self.items = items
        self.now = 0.0
        self.log = StepLog()
        self.cache = PrefixCache()
        self.published = {it.prefix_id for it in items if it.prefix_id}
        self.waiting: dict[str, SimRequest] = {}
        self.waiting_views: dict[str, RequestView] = {}  # same order as waiting (handed to the policy)
        self._wait_by_prefix: dict[str, set[SimRequest]] = {}
        self._wait_need: dict[str, int] = {}  # rid -> prompt - cached + generated (KV to admit it)
        self._parked: set[str] = set()  # running rids parked by the last decision
        self.running: dict[str, SimRequest] = {}
        self.prefilling: dict[str, SimRequest] = {}  # running, prompt not done (admission order)
        self.decoding: dict[str, SimRequest] = {}  # running with an open decode segment
        self._dec_ctx = 0  # sum over decoding requests of their context length (prompt + generated)
        self.records: dict[str, RequestRecord] = {}
        self.kv_used = 0
        self.prefill_budget: int | None = None
        self.passes_since_decode = 0  # separate prefill passes run while decoders waited, since a decode step
        self.interval = DecodeInterval()  # what a decoding request waits per token, as the plugin measures
        self.stats = {"schedule_calls": 0, "steps": 0, "preemptions": 0, "retractions": 0, "forced": 0,
                      "rejected": 0, "demoted": 0}
        self._pending: list = []  # (time, seq, WorkItem)
        self._timers: list[float] = []
        self._finish_heap: list = []
        self._seq = 0
        self._since_sched, self._last_sched = 0, 0.0
        self._need_sched = True
        self.releaser = ProgramReleaser(items)
        self._program_start = self.releaser.program_start
        for it in self.releaser.roots():
            self._push(it.arrival, it)

    # ---- events ------------------------------------------------------------------------------
    def _push(self, t: float, item: WorkItem) -> None:
        self._seq += 1
        heapq.heappush(self._pending, (t, self._seq, item))

    def _arrive(self, t: float, item: WorkItem) -> None:
        target = max(1, min(item.output_len, item.max_new_tokens))
        view = RequestView(rid=item.rid, slo=item.slo, arrival=t, prompt_len=item.prompt_len,
                           max_new_tokens=item.max_new_tokens,
                           true_output_len=target if self.reveal else None,
                           program_start=self._program_start.get(item.program_id) if item.program_id else None)
        req = SimRequest(item=item, view=view, target=target, state="waiting")
        view.cached_len = self.cache.lookup(item.prefix_id, item.prefix_len)
        self._enqueue(req)
        self._need_sched = True
        if self.analyzer is not None:
            try:
                self.analyzer.on_arrival(view, prompt_text=item.prompt_text)
            except ValueError as exc:  # a malformed program graph: an explicit error, like HTTP 400
                self._finish(req, "error", str(exc))

    def _release_due(self) -> None:
        while self._pending and self._pending[0][0] <= self.now:
            t, _, item = heapq.heappop(self._pending)
            self._arrive(t, item)
        while self._timers and self._timers[0] <= self.now:
            heapq.heappop(self._timers)
            self._need_sched = True

    def _next_event_time(self) -> float:
        t = self._pending[0][0] if self._pending else math.inf
        if self._timers:
            t = min(t, self._timers[0])
        if self.frame_time is not None and self.running:
            t = min(t, self._last_sched + self.frame_time)
        return t

    # ---- request lifecycle ---------------------------------------------------------------------
    def _finish(self, req: SimRequest, status: str = "ok", reason: str | None = None) -> None:
        step = self.log.n
        if req.state == "running":
            self._release_kv(req, step)
            del self.running[req.item.rid]
        elif req.state == "waiting":
            self._dequeue(req)
        req.state = "done"
        view, item = req.view, req.item
        view.generated = req.generated(step)
        if status == "ok" and item.rid in self.published:
            self.cache.publish(item.rid, item.prompt_len + view.generated)
        token_times = self.log.gather(req.segments)
        rec = RequestRecord(rid=item.rid, slo=item.slo, arrival=view.arrival, prompt_len=item.prompt_len,
                            output_len=len(token_times), token_times=token_times, finish_time=self.now,
                            status=status, demoted=view.demoted, program_start=view.program_start,
                            cached_len=req.max_cached)
        if reason:
            view.extra["error"] = reason
        self.records[item.rid] = rec
        self.policy.on_finish(view, self.now)
        if self.analyzer is not None:
            self.analyzer.on_finish(view, now=self.now, ok=status == "ok")
        self._need_sched = True
        for t, child in self.releaser.finished(item, self.now):
            self._push(t, child)

    def _enqueue(self, req: SimRequest) -> None:
        rid = req.item.rid
        self.waiting[rid] = req
        self.waiting_views[rid] = req.view
        self._wait_need[rid] = req.item.prompt_len - req.view.cached_len + req.closed_tokens
        if req.item.prefix_id is not None:
            self._wait_by_prefix.setdefault(req.item.prefix_id, set()).add(req)

    def _dequeue(self, req: SimRequest) -> None:
        rid = req.item.rid
        del self.waiting[rid]
        del self.waiting_views[rid]
        del self._wait_need[rid]
        if req.item.prefix_id is not None:
            self._wait_by_prefix[req.item.prefix_id].discard(req)

    def _refresh_cached(self) -> None:
        """Update ``cached_len`` of waiting requests whose prefix entry changed since last time."""
        for key in self.cache.take_dirty():
            for req in self._wait_by_prefix.get(key, ()):
                req.view.cached_len = self.cache.lookup(key, req.item.prefix_len)
                self._wait_need[req.item.rid] = req.item.prompt_len - req.view.cached_len + req.closed_tokens

    def _open(self, req: SimRequest, step: int) -> None:
        req.open_segment(step)
        self.decoding[req.item.rid] = req
        self._dec_ctx += req.item.prompt_len + req.generated(self.log.n)
        self._seq += 1
        heapq.heappush(self._finish_heap, (req.finish_step(), self._seq, req.version, req))

    def _close(self, req: SimRequest, step: int) -> None:
        if req.seg_start is not None:
            self._dec_ctx -= req.item.prompt_len + req.generated(self.log.n)
            req.close_segment(step)
            del self.decoding[req.item.rid]

    def _release_kv(self, req: SimRequest, step: int) -> None:
        self._close(req, step)
        self.prefilling.pop(req.item.rid, None)
        self.kv_used -= self._kv_of(req, step)
        if req.prefix_held is not None:
            self.cache.release(req.prefix_held)
            req.prefix_held = None

    def _kv_of(self, req: SimRequest, step: int) -> int:
        """KV tokens a running request holds now: charged at admission plus tokens generated since."""
        return req.kv_own + req.generated(step) - req.gen_at_admit

    def _held_back(self, extra: int = 0) -> int:
        """KV held back for the running requests' decode growth; with a fixed reserve also for ``extra``
        requests about to be admitted (under "max_new" `_admit` adds the newcomer's own `_own_reserve`)."""
        if not self.reserve_max_new:
            return self.decode_reserve * (len(self.running) + extra)
        step = self.log.n
        return sum(max(0, r.item.max_new_tokens - r.generated(step)) for r in self.running.values())

    def _own_reserve(self, req: SimRequest) -> int:
        """What an admission holds back for its own decode under ``decode_reserve="max_new"``."""
        return max(0, req.item.max_new_tokens - req.closed_tokens) if self.reserve_max_new else 0

    def kv_free(self) -> int:
        """KV tokens free for admissions: unpinned prefix-cache entries count as free, and the
        running requests' decode growth (`_held_back`) is held back."""
        return self.kv_capacity - self.kv_used - self.cache.pinned - self._held_back()

    def _best_room(self) -> int:
        """KV an admission could get if every unpinned prefix-cache entry were evicted."""
        return self.kv_capacity - self.kv_used - self.cache.pinned - self._held_back(1)

    def _room(self) -> int:
        return self.kv_capacity - self.kv_used - self.cache.total - self._held_back(1)

    def _admit(self, req: SimRequest) -> bool:
        if len(self.running) >= self.max_running:
            return False
        item, view = req.item, req.view
        gen, own = req.closed_tokens, self._own_reserve(req)
        if item.prompt_len - item.prefix_len + gen + own > self._best_room():
            return False  # cannot fit even with every unpinned cache entry evicted
        cached = self.cache.lookup(item.prefix_id, item.prefix_len)
        need = max(1, item.prompt_len - cached + gen)
        if need + own > self._room():
            if need + own > self._best_room():
                return False
            self.cache.evict(need + own - self._room())
            cached = self.cache.lookup(item.prefix_id, item.prefix_len)
            need = max(1, item.prompt_len - cached + gen)
            if need + own > self._room():
                return False
        if cached:
            self.cache.acquire(item.prefix_id)
            req.prefix_held = item.prefix_id
        self._dequeue(req)
        self.running[item.rid] = req
        self.prefilling[item.rid] = req
        req.state, req.parked = "running", False
        req.kv_own, req.prefill_left, req.prefill_ctx = need, need, cached
        req.gen_at_admit = gen
        self.kv_used += need
        view.cached_len = cached
        view.prefilled = cached
        req.max_cached = max(req.max_cached, cached)
        self._seq += 1
        req.admit_seq = self._seq
        return True

    def _preempt(self, req: SimRequest) -> None:
        self._release_kv(req, self.log.n)
        del self.running[req.item.rid]
        req.state, req.parked = "waiting", False
        req.preemptions += 1
        req.view.generated = req.closed_tokens
        req.view.prefilled = 0
        req.view.cached_len = self.cache.lookup(req.item.prefix_id, req.item.prefix_len)
        self._enqueue(req)
        self.stats["preemptions"] += 1
        self._need_sched = True
