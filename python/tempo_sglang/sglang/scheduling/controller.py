"""The engine side of the core's policy interface inside SGLang's scheduler process.

Once per scheduler step (``before_step``) the controller turns SGLang's waiting queue, running batch
and parked requests into `RequestView`s, builds an `EngineBudget` from the live allocator and the
measured step times, calls ``policy.schedule`` and carries the `Decision` out: rejections (explicit
errors), demotions, parking and resuming. Admission order, the per-step prefill budget and the
decode-versus-prefill choice are read from the stored decision by the other hooks.
"""

from __future__ import annotations

import logging
import os
import time
from http import HTTPStatus

from tempo_sglang.analyzer.facade import PREFIX_KEY
from tempo_sglang.core.policy import Decision, EngineBudget
from tempo_sglang.core.registry import make_policy
from tempo_sglang.sglang.config import policy_options
from tempo_sglang.sglang.scheduling.metrics import TempoMetrics
from tempo_sglang.sglang.scheduling.parking import ParkingLot, preempt
from tempo_sglang.sglang.scheduling.req_views import view_of
from tempo_sglang.sglang.scheduling.stats import ControllerStats, StepTimeFit
from tempo_sglang.sglang.scheduling.step_observer import observe_engine_step
from tempo_sglang.slo import SLOClass

logger = logging.getLogger("tempo_sglang")
MIN_FREE_KV_FRACTION_FOR_PARKING = 0.1
DEBUG = bool(os.environ.get("TEMPO_SGLANG_DEBUG"))
DEFAULT_DECODE_STEP_S = 0.05
DEFAULT_PREFILL_S_PER_TOKEN = 1e-3


class TempoController:
    """Per-scheduler state: the policy, the parked requests and the measured engine speed."""

    def __init__(self, scheduler, policy_name: str):
        if getattr(scheduler, "enable_overlap", False):
            raise RuntimeError(f"tempo-sglang: policy {policy_name!r} needs the non-overlap scheduler; start "
                               "the server with --disable-overlap-schedule (tempo-sglang serve adds it)")
        self.policy_name = policy_name
        self.policy = make_policy(policy_name, **policy_options())
        self.parking = ParkingLot()
        self.decision = Decision()
        self.admit_ok: set[str] = set()
        self.admit_rank: dict[str, tuple[int, int]] = {}
        self.group_tokens: dict[tuple, int] = {}  # waiting prompt tokens per sibling group
        self.tracked: dict[str, object] = {}
        self.prefill_passes_since_decode = 0  # prefill passes run since the last decode step
        self._last_park: set[str] = set()  # (debug log) the parked set last reported
        self.stats = ControllerStats(step_fit=StepTimeFit(prior=_step_time_prior(scheduler)))
        self.analyzer = _make_analyzer(scheduler)
        self.metrics = TempoMetrics(bool(getattr(scheduler.server_args, "enable_metrics", False)), policy_name)

    # ---- one scheduling point -----------------------------------------------------------------
    def before_step(self, scheduler, running_batch, last_batch):
        """Decide this step; returns the (possibly rebuilt) running batch."""
        started = time.perf_counter()
        now = time.time()
        self._forget_finished(now)
        waiting_reqs = list(scheduler.waiting_queue)
        arriving = []
        if last_batch is not None and last_batch.forward_mode.is_extend() and last_batch is not running_batch:
            arriving = [r for r in last_batch.reqs if not r.finished() and r is not scheduler.chunked_req]
        running_reqs = [r for r in running_batch.reqs if not r.finished()] + arriving
        parked_reqs = list(self.parking.reqs.values())
        if not running_reqs and not parked_reqs:
            self.stats.engine_idle()
        waiting = [self._view(r) for r in waiting_reqs]
        running = [self._view(r) for r in running_reqs + parked_reqs]
        budget = self._budget(scheduler, now)
        decision = self.policy.schedule(waiting, running, budget)
        self.decision = decision
        self._apply_rejections(scheduler, decision)
        self._apply_demotions(decision, running_reqs + parked_reqs + waiting_reqs)
        self._set_admission(decision, waiting_reqs)
        running_batch = self._apply_parking(scheduler, running_batch, decision, arriving)
        if decision.preempt:
            preempted = preempt(scheduler, running_batch, set(decision.preempt) - set(self.parking.reqs))
            self.stats.preempted += len(preempted)
        if DEBUG and (decision.demote or decision.preempt or set(decision.park) != self._last_park):
            self._last_park = set(decision.park)
            cls = {r.rid: r.tempo.slo.slo_class.value[:3] for r in running_reqs + parked_reqs + waiting_reqs
                   if getattr(r, "tempo", None) is not None}
            logger.warning("tempo pass %d: park %s preempt %s demote %s v=%.3f", self.stats.passes,
                           sorted(f"{cls.get(r, '?')}:{r[:5]}" for r in decision.park),
                           [f"{cls.get(r, '?')}:{r[:5]}" for r in decision.preempt],
                           [f"{cls.get(r, '?')}:{r[:5]}" for r in decision.demote], budget.decode_step_time)
        if DEBUG and self.stats.passes % 20 == 0:
            logger.warning("tempo budget: v=%.3f p=%.5f base=%.3f per_req=%.4f per_kctx=%.4f cap=%s prefill=%s "
                           "park=%d run=%d wait=%d", budget.decode_step_time, budget.prefill_time_per_token,
                           budget.decode_time_base, budget.decode_time_per_request,
                           budget.decode_time_per_ctx_token * 1000,
                           getattr(self.policy, "batch_cap", None), decision.prefill_token_budget,
                           len(decision.park), len(running), len(waiting))
        elapsed = time.perf_counter() - started
        self.stats.record_pass(elapsed, len(waiting), len(running), len(self.parking))
        self.metrics.on_pass(elapsed, len(waiting), len(self.parking), self.stats.share_of_step())
        return running_batch

    def defer_prefill(self, running_batch) -> bool:
        """True when the running streams need this step for decoding (no prefill now)."""
        budget = self.decision.prefill_token_budget
        return budget is not None and budget <= 0 and not running_batch.is_empty()

    def prefill_chunk(self, default: int | None) -> int | None:
        budget = self.decision.prefill_token_budget
        if budget is None or budget <= 0:
            return default
        budget = max(16, int(budget))
        return budget if default is None or default <= 0 else min(default, budget)

    def observe_step(self, batch, elapsed: float) -> None:
        """Learn the engine's speed from one executed step."""
        kind = observe_engine_step(self.stats, batch, elapsed)
        if kind == "decode":
            self.prefill_passes_since_decode = 0
        elif kind == "prefill":
            self.prefill_passes_since_decode += 1

    # ---- helpers ------------------------------------------------------------------------------
    def _view(self, req):
        view = view_of(req, self.policy_name)
        try:
            if req.rid not in self.tracked:
                self.tracked[req.rid] = req
                if self.analyzer is not None:
                    self.analyzer.on_arrival(view, None)
            elif self.analyzer is not None and view.generated:
                self.analyzer.on_progress(view, req.output_ids)
        except ValueError as exc:  # e.g. a graph the analyzer cannot place (n > 1 copies of one call)
            if not view.extra.get("analyzer_error"):
                view.extra["analyzer_error"] = str(exc)
                req.tempo.notes.append(f"analyzer skipped: {exc}")
        if view.length_bound is not None:
            req.tempo.length_bound = view.length_bound
            req.tempo.length_low = view.length_low
            req.tempo.length_prefix = view.extra.get(PREFIX_KEY)
        req.tempo.stage_deadline = view.stage_deadline
        return view

    def _forget_finished(self, now: float) -> None:
        done = [rid for rid, req in self.tracked.items() if req.finished()]
        for rid in done:
            req = self.tracked.pop(rid)
            view = getattr(req, "_tempo_view", None)
            if view is None:
                continue
            view.generated = len(req.output_ids)
            self.policy.on_finish(view, now)
            client_complete = getattr(req.tempo, "client_complete", False)
            self.stats.client_completed += client_complete
            ok = type(req.finished_reason).__name__ != "FINISH_ABORT" or client_complete
            if self.analyzer is not None and not view.extra.get("analyzer_error"):
                try:
                    self.analyzer.on_finish(view, ok=ok, output_ids=req.output_ids)
                except ValueError as exc:
                    logger.warning("tempo-sglang: analyzer on_finish failed for %s: %s", rid, exc)
            self.metrics.on_finish(view, now, ok)

    def _budget(self, scheduler, now: float) -> EngineBudget:
        alloc = scheduler.token_to_kv_pool_allocator
        evictable = scheduler.tree_cache.evictable_size() if hasattr(scheduler.tree_cache, "evictable_size") else 0
        base, per_request, per_ctx = self.stats.step_fit.coefficients()
        chunk = scheduler.chunked_prefill_size if scheduler.chunked_prefill_size and \
            scheduler.chunked_prefill_size > 0 else scheduler.max_prefill_tokens
        return EngineBudget(
            now=now, max_running=int(scheduler.max_running_requests),
            kv_free_tokens=int(alloc.available_size() + evictable), token_budget=int(chunk),
            decode_step_time=self.stats.decode_step_time or DEFAULT_DECODE_STEP_S,
            prefill_time_per_token=self.stats.prefill_time_per_token or DEFAULT_PREFILL_S_PER_TOKEN,
            kv_total_tokens=int(scheduler.max_total_num_tokens),
            decode_time_base=base, decode_time_per_request=per_request, decode_time_per_ctx_token=per_ctx,
            prefill_step_overhead=self.stats.prefill_overhead or base or self.stats.decode_step_time or 0.0,
            decode_interval=self.stats.decode_interval or 0.0,
            prefill_passes_since_decode=self.prefill_passes_since_decode)

    def _apply_rejections(self, scheduler, decision: Decision) -> None:
        if not decision.reject:
            return
        from sglang.srt.managers.io_struct import AbortReq
        from sglang.srt.managers.schedule_batch import FINISH_ABORT

        waiting = {r.rid for r in scheduler.waiting_queue}
        for rid, reason in decision.reject.items():
            if rid not in waiting:
                continue
            finish = FINISH_ABORT(f"tempo: request not started in time ({reason})",
                                  status_code=HTTPStatus.REQUEST_TIMEOUT, err_type="MaxWaitExceeded")
            scheduler.abort_request(AbortReq(rid=rid, finished_reason=finish.to_json()))
            self.stats.rejected += 1
            self.metrics.on_reject()

    def _apply_demotions(self, decision: Decision, reqs) -> None:
        if not decision.demote:
            return
        demote = set(decision.demote)
        for req in reqs:
            state = getattr(req, "tempo", None)
            if req.rid in demote and state is not None and not state.demoted:
                state.demoted = True
                state.notes.append("demoted to best effort: the SLO can no longer be met")
                self.stats.demoted += 1
                self.metrics.on_demote(1)

    def _set_admission(self, decision: Decision, waiting_reqs) -> None:
        """Admission order; program siblings (same program, same parents) move up to their best
        member's place, so they are admitted together (and a sibling the policy left out comes too)."""
        own = {rid: i for i, rid in enumerate(decision.admit)}
        group_rank: dict[tuple, int] = {}
        for req in waiting_reqs:
            key = sibling_key(req)
            if key is not None and req.rid in own:
                group_rank[key] = min(group_rank.get(key, 1 << 30), own[req.rid])
        rank: dict[str, tuple[int, int]] = {}
        for req in waiting_reqs:
            key = sibling_key(req)
            if key is not None and key in group_rank:
                rank[req.rid] = (group_rank[key], own.get(req.rid, 1 << 30))
            elif req.rid in own:
                rank[req.rid] = (own[req.rid], own[req.rid])
        self.admit_rank = rank
        self.admit_ok = set(rank)
        tokens: dict[tuple, int] = {}
        for req in waiting_reqs:
            key = sibling_key(req)
            if key is not None:
                tokens[key] = tokens.get(key, 0) + len(req.origin_input_ids)
        self.group_tokens = tokens
        if DEBUG and waiting_reqs:
            logger.warning("tempo pass %d: waiting %s admit %s", self.stats.passes,
                           [r.rid[:6] for r in waiting_reqs], [(rid[:6], rank[rid]) for rid in rank])

    def sort_key(self, req) -> tuple[int, int]:
        return self.admit_rank.get(req.rid, (1 << 30, 1 << 30))

    def _apply_parking(self, scheduler, running_batch, decision: Decision, arriving):
        want = set(decision.park)
        alloc = scheduler.token_to_kv_pool_allocator
        total = max(1, int(scheduler.max_total_num_tokens))
        if alloc.available_size() < MIN_FREE_KV_FRACTION_FOR_PARKING * total:
            want = set()  # memory is tight: parked KV must be retractable, so run everyone
        resume = [rid for rid in self.parking.reqs if rid not in want]
        running_batch = self.parking.resume(scheduler, running_batch, resume)
        candidates = [r for r in running_batch.reqs if r.rid in want and not r.finished()]
        decodable = len(running_batch.reqs) + len(arriving)
        if candidates and len(candidates) >= decodable:
            candidates = candidates[:-1]  # never park every stream: the engine would idle and sleep
        self.parking.park(running_batch, candidates)
        if running_batch.is_empty() and len(self.parking):
            running_batch = self.parking.resume_all(scheduler, running_batch)
        return running_batch


def sibling_key(req) -> tuple | None:
    """Program calls with the same program and the same parents are siblings (a fork's branches)."""
    state = getattr(req, "tempo", None)
    if state is None or state.slo.slo_class is not SLOClass.PROGRAM:
        return None
    return (state.slo.program_id, state.slo.parents)


def _make_analyzer(scheduler):
    """The request analyzer (length bounds, program stage deadlines); None if it cannot start."""
    try:
        from tempo_sglang.analyzer.facade import AnalyzerConfig, RequestAnalyzer
        from tempo_sglang.sglang.config import analyzer_online, length_model_path

        name = getattr(scheduler.server_args, "served_model_name", None)
        model_path = length_model_path()
        analyzer = RequestAnalyzer(AnalyzerConfig(model_name=str(name) if name else None, clock=time.time,
                                                  model_path=model_path, online=analyzer_online()))
        if model_path and not analyzer.predictor.has_model:
            logger.warning("tempo-sglang: length model %s not loaded; default bound in use", model_path)
        return analyzer
    except Exception as exc:  # the scheduler must keep serving without it
        logger.warning("tempo-sglang: analyzer disabled (%s)", exc)
        return None


def _step_time_prior(scheduler) -> tuple[float, float, float] | None:
    """(base, per_request, per_ctx_token) from the cost profile of this model and hardware, if any."""
    from tempo_sglang.sglang.config import cost_profile_name

    name = cost_profile_name(getattr(scheduler.server_args, "model_path", None))
    if name is None:
        return None
    try:
        from tempo_sglang.sim.costmodel import load_profile

        c0, c1, _c2, c3, c4 = load_profile(name).coeffs
        return float(c0), float(c1 + c4), float(c3)  # a decoding request: one new token and its share
    except Exception as exc:  # a bad profile must not stop the server: fit from scratch
        logger.warning("tempo-sglang: cost profile %s not used (%s)", name, exc)
        return None
