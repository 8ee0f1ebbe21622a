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

    from tempo_sglang.sglang.scheduling.controller import sibling_key

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
            self.tempo_full_budget = self.rem_input_tokens
            self.tempo_group_admitted: dict[tuple, int] = {}

        def _split_group(self, ctl, req) -> bool:
            """True when admitting ``req`` now would split its sibling group across steps although
            the whole group fits in a fresh step's budget: then the group waits for the next step."""
            key = sibling_key(req)
            if key is None or key in self.tempo_group_admitted:
                return False
            need = ctl.group_tokens.get(key, 0)
            return len(req.origin_input_ids) < need <= self.tempo_full_budget and need > self.rem_input_tokens

        def add_one_req(self, req, has_chunked_req, truncation_align_size=None):
            ctl = get_controller()
            if ctl is not None and req.rid not in ctl.admit_ok:
                return AddReqResult.OTHER  # held back this step: stop admitting
            if ctl is not None and self._split_group(ctl, req):
                return AddReqResult.CONTINUE  # admit the fork's branches together next step
            before = len(self.can_run_list)
            result = super().add_one_req(req, has_chunked_req, truncation_align_size)
            if len(self.can_run_list) > before and sibling_key(req) is not None:
                self.tempo_group_admitted[sibling_key(req)] = 1
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
