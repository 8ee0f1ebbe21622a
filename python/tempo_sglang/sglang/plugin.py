"""The ``sglang.srt.plugins`` entry point of tempo-sglang.

SGLang calls `register` in every one of its processes before serving. It stays inert (registers
nothing) unless the server was started with Tempo enabled (``TEMPO_SGLANG_POLICY``, set by
``tempo-sglang serve``). When enabled it hooks, without editing any SGLang file:

- ``SamplingParams.verify`` (tokenizer process): validate ``custom_params["tempo"]``; a bad field
  raises ValueError, which SGLang answers with HTTP 400 while it keeps serving;
- ``Scheduler._create_generation_req`` (scheduler process): parse Tempo's state once per request;
- ``Scheduler.get_output_streamer_class``: report Tempo's view in ``meta_info["tempo"]``;
- the scheduling patch points of `tempo_sglang.sglang.scheduling` (policies other than fcfs/lpm).
"""

from __future__ import annotations

import functools
import logging

from tempo_sglang.sglang.config import enabled_policy

logger = logging.getLogger("tempo_sglang")
_REGISTERED = False


def _after_verify(result, sampling_params, *args, **kwargs):
    from tempo_sglang.sglang.request_state import stamp_and_validate

    sampling_params.custom_params = stamp_and_validate(sampling_params.custom_params)
    intake = _program_intake()
    if intake is not None:
        intake.check_call(sampling_params.custom_params)  # ProgramGraphError (ValueError) -> HTTP 400
    return result


@functools.cache
def _program_intake():
    """The tokenizer-process program registry (validates program DAGs at intake), if installed."""
    import importlib.util

    if importlib.util.find_spec("tempo_sglang.sglang.program_intake") is None:
        return None
    from tempo_sglang.sglang import program_intake

    return program_intake


def _before_launch_server(*args, **kwargs):
    """HTTP process only: add Tempo's routes to SGLang's FastAPI app before it starts serving."""
    from sglang.srt.entrypoints import http_server

    from tempo_sglang.sglang import routes

    routes.install(http_server.app)


def _after_create_generation_req(req, scheduler, recv_req, *args, **kwargs):
    from tempo_sglang.sglang.request_state import state_from_custom_params

    req.tempo = state_from_custom_params(req.sampling_params.custom_params, enabled_policy() or "")
    return req


def _after_get_output_streamer_class(result, scheduler, *args, **kwargs):
    from tempo_sglang.sglang.streamer import TempoOutputStreamer

    return TempoOutputStreamer


def register() -> None:
    """Entry point: register the hooks when Tempo is enabled, otherwise do nothing."""
    global _REGISTERED
    policy = enabled_policy()
    if policy is None or _REGISTERED:
        return
    from sglang.srt.plugins.hook_registry import HookRegistry, HookType

    from tempo_sglang.sglang.contract import ContractError, check_contract

    problems = check_contract()
    if problems:
        raise ContractError("tempo-sglang cannot patch this SGLang: " + "; ".join(problems))
    _REGISTERED = True
    HookRegistry.register("sglang.srt.sampling.sampling_params.SamplingParams.verify",
                          _after_verify, HookType.AFTER)
    HookRegistry.register("sglang.srt.managers.scheduler.Scheduler._create_generation_req",
                          _after_create_generation_req, HookType.AFTER)
    HookRegistry.register("sglang.srt.managers.scheduler.Scheduler.get_output_streamer_class",
                          _after_get_output_streamer_class, HookType.AFTER)
    import multiprocessing

    if multiprocessing.parent_process() is None:  # the HTTP/tokenizer process, not a spawned worker
        HookRegistry.register("sglang.srt.entrypoints.http_server.launch_server",
                              _before_launch_server, HookType.BEFORE)
    try:
        from tempo_sglang.sglang import scheduling
    except ImportError:
        scheduling = None
    if scheduling is not None:
        scheduling.register_scheduling_hooks(policy)
    logger.info("tempo-sglang plugin active (policy=%s)", policy)
