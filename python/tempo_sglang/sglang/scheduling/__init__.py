"""Tempo's scheduling hooks inside SGLang's scheduler (policies other than stock fcfs/lpm).

| SGLang target | hook | what Tempo does there |
|---|---|---|
| ``Scheduler.get_next_batch_to_run`` | around | one policy pass per step: views, budget, decision; reject, demote, park/resume |
| ``Scheduler._should_defer_prefill`` | around | decode instead of prefill when running streams need the step |
| ``SchedulePolicy.calc_priority`` | around | original first (prefix matches stay fresh), then the policy's admission order |
| ``Scheduler.get_prefill_adder_class`` | after | an adder that skips requests that do not fit, stops at ones the policy holds back, and chunks prefill to the policy's per-step budget |
| ``Scheduler.run_batch`` | around | measure decode step time and prefill time per token |
| ``Scheduler.abort_request`` | around | resume a parked request first so SGLang's abort finds it |
"""

from __future__ import annotations

import time

from tempo_sglang.sglang.config import STOCK_POLICIES
from tempo_sglang.sglang.request_state import CLIENT_COMPLETE

_CONTROLLER = None
_POLICY: str | None = None
_ADDER_CLASSES: dict[type, type] = {}


def get_controller(scheduler=None):
    """The process's controller (created on the scheduler's first step)."""
    global _CONTROLLER
    if _CONTROLLER is None and scheduler is not None:
        from tempo_sglang.sglang.scheduling.controller import TempoController

        _CONTROLLER = TempoController(scheduler, _POLICY or "tempo")
    return _CONTROLLER


def _around_get_next_batch_to_run(original, scheduler, running_batch, last_batch, *args, **kwargs):
    ctl = get_controller(scheduler)
    running_batch = ctl.before_step(scheduler, running_batch, last_batch)
    return original(scheduler, running_batch, last_batch, *args, **kwargs)


def _around_should_defer_prefill(original, scheduler, running_batch, *args, **kwargs):
    if original(scheduler, running_batch, *args, **kwargs):
        return True
    ctl = get_controller()
    return ctl is not None and ctl.defer_prefill(running_batch)


def _around_calc_priority(original, schedule_policy, waiting_queue, *args, **kwargs):
    result = original(schedule_policy, waiting_queue, *args, **kwargs)
    ctl = get_controller()
    if ctl is not None and waiting_queue:
        waiting_queue.sort(key=ctl.sort_key)
    return result


def _after_get_prefill_adder_class(base, scheduler, *args, **kwargs):
    cls = _ADDER_CLASSES.get(base)
    if cls is None:
        from tempo_sglang.sglang.scheduling.admission import make_tempo_adder

        cls = _ADDER_CLASSES[base] = make_tempo_adder(base, get_controller)
    return cls


def _around_run_batch(original, scheduler, batch, *args, **kwargs):
    started = time.perf_counter()
    result = original(scheduler, batch, *args, **kwargs)
    ctl = get_controller()
    if ctl is not None and batch is not None:
        ctl.observe_step(batch, time.perf_counter() - started)
    return result


def _around_abort_request(original, scheduler, recv_req, *args, **kwargs):
    ctl = get_controller()
    if ctl is not None and getattr(recv_req, "abort_message", None) == CLIENT_COMPLETE:
        req = ctl.tracked.get(recv_req.rid)
        if req is not None and getattr(req, "tempo", None) is not None:
            req.tempo.client_complete = True  # stopped by the client with all it wanted: a completion
    if ctl is not None and len(ctl.parking):
        rids = [rid for rid in ctl.parking.reqs if recv_req.abort_all or rid.startswith(recv_req.rid or "")]
        if rids:
            scheduler.running_batch = ctl.parking.resume(scheduler, scheduler.running_batch, rids)
    return original(scheduler, recv_req, *args, **kwargs)


def _before_server_args_resolve(server_args, *args, **kwargs):
    """Parking needs the non-overlap scheduler: turn overlap off for Tempo's policies."""
    if not getattr(server_args, "disable_overlap_schedule", True):
        server_args.disable_overlap_schedule = True
    return None


HOOKS = {
    "sglang.srt.managers.scheduler.Scheduler.get_next_batch_to_run": _around_get_next_batch_to_run,
    "sglang.srt.managers.scheduler.Scheduler._should_defer_prefill": _around_should_defer_prefill,
    "sglang.srt.managers.schedule_policy.SchedulePolicy.calc_priority": _around_calc_priority,
    "sglang.srt.managers.scheduler.Scheduler.run_batch": _around_run_batch,
    "sglang.srt.managers.scheduler.Scheduler.abort_request": _around_abort_request,
}


def register_scheduling_hooks(policy: str) -> None:
    """Register Tempo's scheduling hooks for ``policy`` (nothing for SGLang's own fcfs/lpm)."""
    global _POLICY
    if policy in STOCK_POLICIES:
        return
    from sglang.srt.plugins.hook_registry import HookRegistry, HookType

    from tempo_sglang.core.registry import make_policy
    from tempo_sglang.sglang.config import policy_options

    make_policy(policy, **policy_options())  # fail at start-up, not at the first request, on a bad name
    _POLICY = policy
    for target, hook in HOOKS.items():
        HookRegistry.register(target, hook, HookType.AROUND)
    HookRegistry.register("sglang.srt.server_args.ServerArgs.resolve_once", _before_server_args_resolve,
                          HookType.BEFORE)
    HookRegistry.register("sglang.srt.managers.scheduler.Scheduler.get_prefill_adder_class",
                          _after_get_prefill_adder_class, HookType.AFTER)
