"""Pacing of latency streams: park those ahead of their due line, budget prefill by the slack.

A latency request only earns a token if it arrives by its due time; arriving earlier earns nothing.
A decoding latency request whose next token is due at least ``(2 + margin_steps)`` step times from
now can skip this step (be parked, keeping its KV) and still be served in time: parked now, its next
token comes at the end of the next step at the latest. It falls back toward its line and is served
again. That hands the step's capacity to others ("just enough bandwidth").

A prefill chunk stalls every decode in the same step, so the prompt tokens computed per step are
budgeted from the smallest slack among running latency streams that can still be on time:
``v + P * prefill_time_per_token <= slack_min - margin_steps * v``.
"""

from __future__ import annotations

import numpy as np

from tempo_sglang.core.tempo.store import LAT


def decoding_latency(cls: np.ndarray, pf_rem: np.ndarray, gen: np.ndarray) -> np.ndarray:
    """Mask of latency rows that are decoding (prompt done, first token out)."""
    return (cls == LAT) & (pf_rem == 0) & (gen > 0)


def prefill_budget(ahead: np.ndarray, mask: np.ndarray, v: float, p: float, token_budget: int,
                   margin_steps: float = 1.0, min_tokens: int = 32) -> int | None:
    """Prompt tokens allowed this step so that streams in ``mask`` keep their due line.

    ``ahead`` = next due - now per row. Rows already too late to save (``ahead < v``) do not
    constrain the budget. ``None`` when nothing constrains it or the prefill cost is unknown.
    """
    if p <= 0:
        return None
    rows = ahead[mask]
    rows = rows[rows >= v]
    if rows.size == 0:
        return None
    allowed = (float(rows.min()) - (1.0 + margin_steps) * v) / p
    upper = max(int(token_budget), min_tokens)
    return int(min(upper, max(min_tokens, np.floor(allowed))))


def park_mask(ahead: np.ndarray, mask: np.ndarray, step_time: float, margin_steps: float = 2.0) -> np.ndarray:
    """Rows in ``mask`` far enough ahead of their due line to skip this step."""
    return mask & (ahead >= (2.0 + margin_steps) * step_time)
