"""Admission in the policy's order: a subclass of whatever prefill adder SGLang would use.

Stock admission walks the waiting queue and stops at the first request that does not fit. Tempo's
adder (1) stops at the first request the policy holds back this step (the queue is sorted so admitted
requests and their program siblings come first), (2) *skips* an admitted request that does not fit
instead of blocking everyone behind it, and (3) caps the prefill tokens of the step at the policy's
``prefill_token_budget`` (chunking long prompts) so running streams stay on their due line.
"""

from __future__ import annotations

from collections.abc import Callable


def make_tempo_adder(base: type, get_controller: Callable):
    """A subclass of SGLang's prefill adder ``base`` that follows the controller's decision."""
    from sglang.srt.managers.schedule_policy import AddReqResult

    class TempoPrefillAdder(base):
        def __init__(self, *args, **kwargs):
            ctl = get_controller()
            args = list(args)
            # positional layout of PrefillAdder.__init__ (pinned by the contract test):
            # page_size, tree_cache, allocator, running_batch, new_token_ratio, rem_input_tokens, rem_chunk_tokens
            if ctl is not None and len(args) >= 7:
                chunk = ctl.prefill_chunk(args[6])
                if chunk is not None:
                    args[6] = chunk
                    args[5] = min(args[5], max(chunk, 1))
            super().__init__(*args, **kwargs)
            self.tempo_skipped = 0

        def add_one_req(self, req, has_chunked_req, truncation_align_size=None):
            ctl = get_controller()
            if ctl is not None and req.rid not in ctl.admit_ok:
                return AddReqResult.OTHER  # held back this step: stop admitting
            before = len(self.can_run_list)
            result = super().add_one_req(req, has_chunked_req, truncation_align_size)
            if result == AddReqResult.NO_TOKEN and len(self.can_run_list) == before \
                    and self.budget_state() == AddReqResult.CONTINUE:
                self.tempo_skipped += 1
                return AddReqResult.CONTINUE  # does not fit now: skip it, try the next one
            state = getattr(req, "tempo", None)
            if ctl is not None and state is not None and len(self.can_run_list) > before:
                state.admitted_pass = ctl.stats.passes
            return result

    TempoPrefillAdder.__name__ = f"Tempo{base.__name__}"
    TempoPrefillAdder.__qualname__ = TempoPrefillAdder.__name__
    return TempoPrefillAdder
