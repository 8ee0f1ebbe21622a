"""SGLang ``Req`` objects seen as the core's `RequestView`s (created once, updated in place)."""

from __future__ import annotations

import time

from tempo_sglang.core.views import RequestView
from tempo_sglang.sglang.request_state import TempoReqState, state_from_custom_params

VIEW_ATTR = "_tempo_view"


def req_state(req, policy: str) -> TempoReqState:
    """The request's Tempo state (parsed at creation; rebuilt if a code path skipped the hook)."""
    state = getattr(req, "tempo", None)
    if state is None:
        state = state_from_custom_params(req.sampling_params.custom_params, policy)
        req.tempo = state
    return state


def view_of(req, policy: str) -> RequestView:
    """The `RequestView` of ``req``, refreshed from SGLang's fields (cheap: a few attribute reads)."""
    view = getattr(req, VIEW_ATTR, None)
    state = req_state(req, policy)
    if view is None:
        view = RequestView(
            rid=req.rid, slo=state.slo, arrival=state.arrival, prompt_len=len(req.origin_input_ids),
            max_new_tokens=int(req.sampling_params.max_new_tokens or 0) or 1 << 30,
            program_start=None)
        setattr(req, VIEW_ATTR, view)
    generated = len(req.output_ids)
    if generated and view.first_token_time is None:
        view.first_token_time = time.time()
    view.generated = generated
    view.cached_len = len(req.prefix_indices) if getattr(req, "prefix_indices", None) is not None else 0
    view.prefilled = view.prompt_len if generated else max(view.prefilled, view.cached_len)
    view.demoted = state.demoted
    return view
