"""Per-pass pacing of the running latency streams: the prefill token budget and which streams park.

`StreamPacer.pace` applies the rules of `pacing` to one scheduling pass of `TempoPolicy`: the prompt
tokens this step may compute without pushing the decoding streams off their due line (raised for
latency prompts whose first token is due, and for SLO work that must start), and the streams far
enough ahead of their line to skip this step, keeping their KV.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tempo_sglang.core.policy import Decision, EngineBudget
from tempo_sglang.core.tempo.density import Scores
from tempo_sglang.core.tempo.pacing import (
    decoding_latency,
    efficient_chunk,
    park_mask,
    prefill_budget,
    ttft_prefill_rate,
)
from tempo_sglang.core.tempo.store import LAT, ViewStore


@dataclass
class StreamPacer:
    """Options of the pacing rules (see `TempoPolicy` for each) and the prefill rate the waiting
    latency prompts need, refreshed on full passes and reused by cheap ones."""

    pacing: bool = True
    park_margin_steps: float = 2.0
    prefill_margin_steps: float = 1.0
    min_prefill_tokens: int = 32
    chunk_efficiency: float = 2.0
    alternate: bool = True
    idle_pass_ttft: float = 0.5
    latency_memory_s: float = 60.0
    ttft_rate: float = 0.0  # prompt tokens/s the waiting latency requests need (last full pass)
    recent_ttft: float = float("inf")  # tightest TTFT of the latency requests seen lately
    recent_ttft_at: float = float("-inf")  # when a latency request was last seen

    def _remembered_ttft(self, now: float) -> float:
        """The tightest TTFT seen within ``latency_memory_s`` of ``now`` (inf: none)."""
        return self.recent_ttft if now - self.recent_ttft_at <= self.latency_memory_s else float("inf")

    def note_latency(self, now: float, ttfts: np.ndarray) -> None:
        """Remember the tightest TTFT of the latency requests of a full pass (``ttfts``, seconds)."""
        self.recent_ttft = self._remembered_ttft(now)
        ttfts = ttfts[np.isfinite(ttfts) & (ttfts > 0)]
        if ttfts.size:
            self.recent_ttft = min(self.recent_ttft, float(ttfts.min()))
            self.recent_ttft_at = now

    def idle_budget(self, budget: EngineBudget) -> int | None:
        """Prompt tokens of a pass while no stream decodes: a pass must not outlast ``idle_pass_ttft`` of
        the tightest TTFT seen within ``latency_memory_s``, or a latency request arriving as it starts
        waits out its first token behind it (None: no such request seen lately, or no prefill cost)."""
        p, ttft = budget.prefill_time_per_token, self._remembered_ttft(budget.now)
        if self.idle_pass_ttft <= 0 or p <= 0 or not np.isfinite(ttft):
            return None
        efficient = efficient_chunk(budget.prefill_step_overhead, p, self.chunk_efficiency)
        seconds = self.idle_pass_ttft * ttft - max(budget.prefill_step_overhead, 0.0)
        return int(min(budget.token_budget, max(efficient, self.min_prefill_tokens, seconds / p)))

    def pace(self, sc: Scores, n_running: int, ir: np.ndarray, store: ViewStore, budget: EngineBudget,
             decision: Decision, *, urgent_waiting: bool, contended: bool, pending_prefill: float,
             exclude: set[int] | None = None, blocked: bool = False) -> None:
        """Set ``decision``'s prefill budget and parked streams for the running rows ``0..n_running-1``.

        Parking only helps when something else needs the step (``contended``: prompt tokens to
        compute, or a deadline/program request under pressure); otherwise streams run flat out and
        finish early. No stream is parked while waiting work is ``blocked`` on slots or KV either: a
        parked stream holds its slot and KV for longer. Rows in ``exclude`` (being preempted) stay.
        """
        v, p = max(budget.decode_step_time, 1e-6), max(budget.prefill_time_per_token, 0.0)
        v_interval = v + max(budget.prefill_step_overhead, 0.0)  # a decode step and a prefill step
        cls, pf_rem = sc.cls[:n_running], sc.pf_rem[:n_running]
        mask = decoding_latency(cls, pf_rem, store.gen[ir])
        if not mask.any():
            decision.prefill_token_budget = self.idle_budget(budget)
            return
        ahead = sc.due_lat[:n_running] - budget.now
        if sc.cls.size > n_running:  # a full pass sees the waiting prompts; a cheap pass reuses it
            first = (sc.cls == LAT) & (sc.pf_rem > 0)  # latency prompts awaiting their first token
            self.ttft_rate = ttft_prefill_rate(sc.due_lat[first] - budget.now - v, sc.pf_rem[first]) \
                if first.any() else 0.0
        efficient = efficient_chunk(budget.prefill_step_overhead, budget.prefill_time_per_token,
                                    self.chunk_efficiency)
        on_line = mask & (ahead >= 0)  # late streams catch up at full speed; they do not hold prefill back
        # a pass already ran since the last decode step: only the on-line streams' slack pays for another
        after_prefill = self.alternate and budget.prefill_step_overhead > 0 and \
            budget.prefill_passes_since_decode > 0 and bool(on_line.any())
        decision.prefill_token_budget = prefill_budget(
            ahead, on_line if on_line.any() else mask, v_interval, p, budget.token_budget,
            self.prefill_margin_steps, self.min_prefill_tokens, self.ttft_rate, tbt=store.tbt[ir],
            min_efficient=efficient, after_prefill=after_prefill)
        if (urgent_waiting or not on_line.any()) and decision.prefill_token_budget is not None \
                and not after_prefill:
            # SLO work must start now, or every stream is late anyway: prefill progresses efficiently
            decision.prefill_token_budget = max(decision.prefill_token_budget, efficient, self.min_prefill_tokens)
        if not self.pacing or blocked or not contended:
            return
        step = v_interval + (decision.prefill_token_budget or 0) * p
        cushion = min(pending_prefill, float(budget.token_budget)) * p
        parked = np.flatnonzero(park_mask(ahead, mask, step, self.park_margin_steps, cushion))
        if exclude:
            parked = np.array([k for k in parked.tolist() if k not in exclude], dtype=np.int64)
        if parked.size:  # reconsider before the first parked stream gets within its margin
            wake = float(sc.due_lat[parked].min()) - (2.0 + self.park_margin_steps) * step - cushion
            decision.next_call_by = max(budget.now, wake)
        decision.park = store.rids[ir[parked]].tolist()
