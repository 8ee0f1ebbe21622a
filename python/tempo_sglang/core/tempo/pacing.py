"""Pacing of latency streams: park those ahead of their due line, budget prefill by the slack.

A latency request only earns a token if it arrives by its due time; arriving earlier earns nothing.
A decoding latency request whose next token is due at least ``(2 + margin_steps)`` step times from
now can skip this step (be parked, keeping its KV) and still be served in time: parked now, its next
token comes at the end of the next step at the latest. It falls back toward its line and is served
again. That hands the step's capacity to others ("just enough bandwidth"). Slack is also what absorbs
the stall of a prefill chunk, so a stream is parked only beyond a *cushion* of the pending prefill
work (at most one chunk): streams bank that much slack first, then coast on their due line.

A prefill chunk stalls every decode in the same step, so the prompt tokens computed per step are
budgeted from the running latency streams: a step of ``v + P * p`` seconds delivers one token per
stream, so ``P = (min tbt - v) / p`` keeps every stream on its line indefinitely (the sustainable
part), and streams ahead of their line may spend ``spend_fraction`` of their excess slack
(``slack_min - (1 + margin_steps) * v``) per step on top (a geometric spend, so a long prompt never
drains it in one chunk). Latency requests still waiting for their first token need prefill
throughput too: with their prompts ordered by TTFT due time, the prefill rate must reach
``r = max_k sum_{j<=k} prompt_j / (due_k - now)`` tokens per second, i.e. ``P >= r v / (1 - r p)`` per
step, up to what the streams' slack absorbs in one step (a stall past their due line would cost every
running stream); the budget is the larger of the two (a missed first token costs the prompt's gain and the
stream it starts). ``min_tokens`` per step always pass, so prompts progress even when ``tbt <= v``.

On an engine that runs prefill chunks as their own forward passes, each chunk pays that pass's fixed
cost (``v`` here is then a decode step plus that overhead). A chunk smaller than ``min_efficient``
tokens would spend most of its time on the overhead, so such a step computes no prompt tokens
(budget 0: decode only) and the streams bank the slack that pays for a bigger chunk a few steps later.
"""

from __future__ import annotations

import numpy as np

from tempo_sglang.core.tempo.store import LAT


def decoding_latency(cls: np.ndarray, pf_rem: np.ndarray, gen: np.ndarray) -> np.ndarray:
    """Mask of latency rows that are decoding (prompt done, first token out)."""
    return (cls == LAT) & (pf_rem == 0) & (gen > 0)


def ttft_prefill_rate(ttft_ahead: np.ndarray, prompt_left: np.ndarray) -> float:
    """Prompt tokens per second needed for every first token to be due-on-time (EDF order)."""
    ok = ttft_ahead > 0
    if not ok.any():
        return 0.0
    order = np.argsort(ttft_ahead[ok], kind="stable")
    need = np.cumsum(prompt_left[ok][order])
    return float(np.max(need / ttft_ahead[ok][order]))


def prefill_budget(ahead: np.ndarray, mask: np.ndarray, v: float, p: float, token_budget: int,
                   margin_steps: float = 1.0, min_tokens: int = 32, ttft_rate: float = 0.0,
                   tbt: np.ndarray | None = None, spend_fraction: float = 0.5,
                   min_efficient: int = 0, after_prefill: bool = False) -> int | None:
    """Prompt tokens allowed this step so that streams in ``mask`` keep their due line.

    ``ahead`` = next due - now per row, ``tbt`` the rows' TBT (seconds). ``ttft_rate`` (see
    `ttft_prefill_rate`) raises the budget. ``None`` when no stream constrains it or the prefill cost
    is unknown. ``after_prefill``: a prefill pass already ran since the last decode step, so the
    sustainable part (one chunk per decode step) is spent and only the streams' slack can pay for
    another pass, with no minimum chunk: below an efficient chunk the step decodes (budget 0).
    """
    if p <= 0 or not mask.any():
        return None
    sustain = float(np.min(tbt[mask])) - v if tbt is not None and not after_prefill else 0.0
    excess = float(np.min(np.maximum(ahead[mask], 0.0))) - (1.0 + margin_steps) * v
    allowed = (max(sustain, 0.0) + spend_fraction * max(excess, 0.0)) / p
    if ttft_rate > 0:  # first tokens due soon raise it, but never past what the streams' slack absorbs
        need = ttft_rate * v / (1.0 - ttft_rate * p) if ttft_rate * p < 1.0 else np.inf
        absorb = (float(np.min(np.maximum(ahead[mask], 0.0))) - v) / p
        allowed = max(allowed, min(need, absorb))
    upper = max(int(token_budget), min_tokens)
    if after_prefill:
        return 0 if allowed < max(min_efficient, min_tokens, 1) else int(min(upper, np.floor(allowed)))
    if allowed < min(min_efficient, upper):
        return 0  # bank slack this step: the chunk would be mostly fixed cost
    return int(min(upper, max(min_tokens, np.floor(allowed))))


def park_mask(ahead: np.ndarray, mask: np.ndarray, step_time: float, margin_steps: float = 2.0,
              cushion: float = 0.0) -> np.ndarray:
    """Rows in ``mask`` far enough ahead of their due line (beyond ``cushion`` s) to skip this step."""
    return mask & (ahead >= (2.0 + margin_steps) * step_time + cushion)


def efficient_chunk(prefill_step_overhead: float, prefill_time_per_token: float, efficiency: float) -> int:
    """Smallest prefill chunk worth its own forward pass: its tokens cost ``efficiency`` x the pass's
    fixed cost (0 when prefill rides inside decode steps)."""
    if prefill_step_overhead <= 0 or prefill_time_per_token <= 0:
        return 0
    return int(efficiency * prefill_step_overhead / prefill_time_per_token)
