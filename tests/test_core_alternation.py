"""A prefill pass after a prefill pass: only the decoding streams' slack pays for it.

Stock SGLang runs a prefill pass whenever one can be formed, so while prompts wait the decoders may
see several passes back to back. Tempo's per-step prefill budget has a sustainable part (what one
pass between two decode steps may take) that is spent once a pass has run; measured on the CPU
engine, ten such passes of 32-127 tokens in a row stalled thirteen streams for 2 s.
"""

from __future__ import annotations

import numpy as np

from tempo_sglang.core.policy import EngineBudget
from tempo_sglang.core.registry import make_policy
from tempo_sglang.core.tempo.pacing import prefill_budget
from tempo_sglang.core.views import RequestView
from tempo_sglang.slo import SLOClass, TempoSLO

V, OVERHEAD, P = 0.10, 0.03, 0.001  # decode step, fixed cost of a prefill pass, seconds per prompt token
TBT = 0.24


def test_the_sustainable_part_is_spent_after_a_pass():
    ahead, mask, tbt = np.array([0.2, 0.25]), np.array([True, True]), np.array([TBT, TBT])
    fresh = prefill_budget(ahead, mask, V + OVERHEAD, P, 4096, tbt=tbt, min_efficient=20)
    again = prefill_budget(ahead, mask, V + OVERHEAD, P, 4096, tbt=tbt, min_efficient=20, after_prefill=True)
    assert fresh >= int((TBT - V - OVERHEAD) / P) - 1  # one pass between two decode steps keeps the line
    assert again == 0  # 0.2 s ahead pays for no second pass and its decode step: decode now
    roomy = prefill_budget(np.array([2.0, 2.5]), mask, V + OVERHEAD, P, 4096, tbt=tbt, min_efficient=20,
                           after_prefill=True)
    assert 20 <= roomy < fresh + int(0.5 * 2.0 / P)  # slack pays for one, no sustainable part on top


def _streams(now: float, n: int = 4) -> list[RequestView]:
    """Streams that started 2 s ago and are on their due line with about 0.2 s to spare."""
    out = []
    for i in range(n):
        slo = TempoSLO(SLOClass.LATENCY, ttft_ms=500.0, tbt_ms=TBT * 1000)
        view = RequestView(f"s{i}", slo, now - 2.0, prompt_len=64, max_new_tokens=64, length_bound=64,
                           true_output_len=64)
        view.prefilled, view.first_token_time = 64, now - 1.5
        view.generated = 7  # token 7 is due at arrival + 0.5 + 7 x 0.24 = now + 0.18
        out.append(view)
    return out


def _decide(passes_since_decode: int) -> int | None:
    now = 100.0
    prompt = RequestView("d0", TempoSLO(SLOClass.DEADLINE, deadline_ms=60_000), now - 0.1, prompt_len=2000,
                         max_new_tokens=32, length_bound=32, true_output_len=32)
    budget = EngineBudget(now=now, max_running=64, kv_free_tokens=10**6, token_budget=4096, decode_step_time=V,
                          prefill_time_per_token=P, prefill_step_overhead=OVERHEAD,
                          prefill_passes_since_decode=passes_since_decode)
    return make_policy("tempo").schedule([prompt], _streams(now), budget).prefill_token_budget


def test_tempo_decodes_between_passes_when_the_streams_cannot_wait():
    assert _decide(0) > 0  # right after a decode step a pass may run
    assert _decide(1) == 0  # after a pass the streams need their decode step first
    assert make_policy("tempo", alternate_prefill=False).schedule(
        [], _streams(100.0), EngineBudget(now=100.0, max_running=64, kv_free_tokens=10**6, token_budget=4096,
                                          decode_step_time=V, prefill_time_per_token=P,
                                          prefill_step_overhead=OVERHEAD, prefill_passes_since_decode=1)
    ).prefill_token_budget != 0
