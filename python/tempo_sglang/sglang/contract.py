"""The SGLang names and signatures the plugin hooks, pinned to the SGLang version we patch.

`check_contract` compares them with the installed SGLang; the plugin refuses to start (loudly) and
the contract test fails when a hooked name or signature changes.
"""

from __future__ import annotations

import inspect
import pkgutil

PINNED_SGLANG_VERSION = "0.5.23"

# target -> parameter names (in order) the hooks rely on.
HOOKED_SIGNATURES: dict[str, tuple[str, ...]] = {
    "sglang.srt.sampling.sampling_params.SamplingParams.verify": ("self", "vocab_size"),
    "sglang.srt.managers.scheduler.Scheduler._create_generation_req": ("self", "recv_req", "args", "kwargs"),
    "sglang.srt.managers.scheduler.Scheduler.get_output_streamer_class": ("self",),
    "sglang.srt.managers.scheduler_components.output_streamer.SchedulerOutputStreamer."
    "build_additional_customized_info": ("self", "reqs"),
    "sglang.srt.managers.scheduler_components.output_streamer.SchedulerOutputStreamer."
    "is_request_level_customized_info_key": ("self", "key"),
    # scheduling hooks (tempo_sglang.sglang.scheduling)
    "sglang.srt.managers.scheduler.Scheduler.get_next_batch_to_run": ("self", "running_batch", "last_batch"),
    "sglang.srt.managers.scheduler.Scheduler._should_defer_prefill": ("self", "running_batch"),
    "sglang.srt.managers.schedule_policy.SchedulePolicy.calc_priority":
        ("self", "waiting_queue", "running_batch", "processed_tokens"),
    "sglang.srt.managers.scheduler.Scheduler.get_prefill_adder_class": ("self",),
    "sglang.srt.managers.scheduler.Scheduler.run_batch": ("self", "batch", "pp_proxy_tensors"),
    "sglang.srt.managers.scheduler.Scheduler.abort_request": ("self", "recv_req"),
    "sglang.srt.managers.schedule_policy.PrefillAdder.__init__": (
        "self", "page_size", "tree_cache", "token_to_kv_pool_allocator", "running_batch", "new_token_ratio",
        "rem_input_tokens", "rem_chunk_tokens", "num_mixed_decode_tokens",
        "priority_scheduling_preemption_threshold", "max_prefill_bs", "max_running_requests",
        "prefill_max_requests", "prefill_delayer_single_pass", "dllm_config", "waiting_queue_len",
        "prefill_tile_block_m"),
    "sglang.srt.managers.schedule_policy.PrefillAdder.add_one_req":
        ("self", "req", "has_chunked_req", "truncation_align_size"),
    "sglang.srt.server_args.ServerArgs.resolve_once": ("self",),
    # called, not hooked: parking and resuming
    "sglang.srt.managers.scheduler.Scheduler._build_hisparse_decode_batch": ("self", "reqs"),
    "sglang.srt.managers.schedule_batch.ScheduleBatch.filter_batch": ("self", "reqs_to_exclude", "keep_indices"),
    "sglang.srt.managers.schedule_batch.ScheduleBatch.merge_batch": ("self", "other"),
    "sglang.srt.managers.schedule_batch.ScheduleBatch.release_req": ("self", "idx", "remaing_req_count", "offload_kv"),
    "sglang.srt.managers.scheduler.Scheduler._add_request_to_queue": ("self", "req", "is_retracted"),
    # called, not hooked: /tempo/complete (routes.stop_as_complete)
    "sglang.srt.managers.tokenizer_manager.TokenizerManager._dispatch_to_scheduler": ("self", "obj"),
}

# Attributes of SGLang objects the hooks read or write.
REQUIRED_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "sglang.srt.sampling.sampling_params.SamplingParams": ("custom_params",),
    "sglang.srt.managers.io_struct.AbortReq": ("abort_message", "rid"),
}


class ContractError(RuntimeError):
    """The installed SGLang no longer matches what the plugin was written against."""


def _resolve(target: str):
    module_path, attr = target.rsplit(".", 1)
    owner = pkgutil.resolve_name(module_path)
    return getattr(owner, attr)


def check_contract() -> list[str]:
    """Return a list of mismatches between the installed SGLang and the pinned contract."""
    problems: list[str] = []
    try:
        from importlib.metadata import version

        installed = version("sglang")
    except Exception as exc:  # pragma: no cover - sglang missing
        return [f"sglang is not installed: {exc}"]
    if installed != PINNED_SGLANG_VERSION:
        problems.append(f"sglang {installed} installed, plugin pinned to {PINNED_SGLANG_VERSION}")
    for target, expected in HOOKED_SIGNATURES.items():
        try:
            func = inspect.unwrap(_resolve(target))
        except (AttributeError, ImportError, ValueError) as exc:
            problems.append(f"{target}: not found ({exc})")
            continue
        names = tuple(inspect.signature(func).parameters)
        if names != expected:
            problems.append(f"{target}: signature {names} != pinned {expected}")
    for target, attrs in REQUIRED_ATTRIBUTES.items():
        cls = _resolve(target)
        fields = set(getattr(cls, "__dataclass_fields__", {})) | set(dir(cls))
        if not fields:
            fields = set(inspect.signature(cls.__init__).parameters)
        fields |= set(inspect.signature(cls.__init__).parameters)
        for attr in attrs:
            if attr not in fields:
                problems.append(f"{target}.{attr}: attribute missing")
    return problems
