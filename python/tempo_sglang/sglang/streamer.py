"""Reports Tempo's view of each request back to the client in ``meta_info["tempo"]``."""

from __future__ import annotations

from sglang.srt.managers.scheduler_components.output_streamer import SchedulerOutputStreamer

TEMPO_META_KEY = "tempo"


def _controller():
    try:
        from tempo_sglang.sglang.scheduling import get_controller
    except ImportError:
        return None
    return get_controller()


class TempoOutputStreamer(SchedulerOutputStreamer):
    """SGLang's output streamer plus one request-level customized-info key, ``tempo``.

    The tokenizer process accumulates request-level values into a list: we emit one snapshot on a
    request's first output and one when it finishes, so ``meta_info["tempo"][-1]`` is the latest.
    """

    has_additional_customized_info = True
    __slots__ = ()

    def build_additional_customized_info(self, reqs) -> dict[str, list]:
        values = []
        for req in reqs:
            state = getattr(req, "tempo", None)
            first = not getattr(req, "_tempo_reported", False)
            if state is None or not (first or req.finished()):
                values.append([])
                continue
            req._tempo_reported = True
            report = state.report()
            ctl = _controller()
            if ctl is not None and req.finished():
                report["scheduler"] = ctl.stats.snapshot()
            values.append([report])
        return {TEMPO_META_KEY: values}

    def is_request_level_customized_info_key(self, key: str) -> bool:
        return key == TEMPO_META_KEY or super().is_request_level_customized_info_key(key)
