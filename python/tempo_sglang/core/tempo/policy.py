"""The Tempo policy: just-enough bandwidth for every SLO, the rest to whoever gains most.

One `schedule` call per engine step (or per scheduling point). Work is organised in *frames*
(SPEC section 3):

- a *full pass* scores every request (`density`), rejects requests past ``max_wait_ms``, demotes
  hopeless ones to best effort, forms the batch with GMAX over running + waiting by gain density,
  orders admissions (urgent chosen requests by least slack, then the chosen ones by density, then the
  rest; `admission`), limits them to what the KV cache can hold once the running requests' expected
  growth is reserved, and decides cost-aware preemptions (`preemption`). It runs when the request set
  changed (arrival, admission, finish) and at least every ``frame_steps`` passes / ``frame_seconds``;
  waiting requests' fields are re-read only on those frame refreshes (see `ViewStore`);
- a *cheap pass* (nothing changed) re-scores only the running requests for pacing and the prefill
  budget and returns the cached admission order.

Every pass sets ``prefill_token_budget`` from the latency slack and parks latency streams ahead of
their due line when something else needs the step and no SLO work is left waiting for KV or a slot
(`pacing`). Best effort (including demoted requests) is served oldest first from a residual share of
``be_share`` of the slots plus whatever is left, and a best-effort request older than
``be_max_wait_s`` that does not fit in free KV blocks further admissions until it does: nothing waits
forever. ``oracle=True`` reads true output lengths instead of the analyzer's bound. Decisions depend
only on the views and the budget (``budget.now``, never a wall clock), so every rank of a
tensor-parallel server computes the same decision.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from tempo_sglang.core.policy import Decision, EngineBudget
from tempo_sglang.core.tempo.admission import admission_order, best_effort_rows, kv_admissible, kv_needs
from tempo_sglang.core.tempo.batchsize import StepBudgeter, dp_line, request_costs, slots_within
from tempo_sglang.core.tempo.density import Scores, score
from tempo_sglang.core.tempo.gmax import gmax_select
from tempo_sglang.core.tempo.pacing import decoding_latency
from tempo_sglang.core.tempo.preemption import preempt_for_blocked
from tempo_sglang.core.tempo.stepchoice import step_seconds
from tempo_sglang.core.tempo.store import BE, LAT, ViewStore
from tempo_sglang.core.tempo.streampacer import StreamPacer
from tempo_sglang.core.tempo.triage import reject_and_demote
from tempo_sglang.core.views import RequestView

_EMPTY = np.empty(0, dtype=np.int64)


class TempoPolicy:
    """Tempo (or, with ``oracle=True``, oracle Tempo). See the module docstring."""

    def __init__(self, oracle: bool = False, frame_steps: int = 50, frame_seconds: float = 0.3,
                 gmax_p: float = 0.95, pacing: bool = True, park_margin_steps: float = 2.0,
                 prefill_margin_steps: float = 1.0, min_prefill_tokens: int = 32,
                 demote_bw: float = 1.0, be_share: float = 0.03, be_max_wait_s: float = 60.0,
                 max_preempt: int = 4, honor_max_wait: bool = True, pressure_bw: float = 0.5,
                 kv_growth_ratio: float = 0.8, urgent_rest: bool = True, admit_margin: int = 64,
                 hol_block: bool = False, preempt_ratio: float = 2.0, urgency_steps: float = 50.0,
                 tbt_step_fraction: float = 0.65, chunk_efficiency: float = 2.0,
                 reserve_decay: float = 0.995, aside_slack_steps: float = 20.0, time_share: bool = True,
                 step_choice: str = "gain", stage_use: str = "rem", late_is_lost: bool = False,
                 line_margin: float = 0.25, latency_overdraft: float = 0.33, give_way: bool = True,
                 risk_steps: float = 3.0, alternate_prefill: bool = True, arrival_slack_steps: float = 10.0,
                 idle_pass_ttft: float = 0.5, fit_power: float = 2.0, bound_slack: float = 3.0,
                 low_slack: float | None = 1.0, demote_lost_programs: bool = True, **_: Any):
        """Tunables (defaults in brackets; unknown keywords are ignored so one option dict fits all).

        frame_steps / frame_seconds [50 / 0.3 s]: frame length (full refresh of waiting views);
        gmax_p [0.95]: GMAX eligibility (density >= p x the B-th best); urgency_steps [50]: slack
        below ``max(frame_seconds, urgency_steps x v)`` is urgent (admitted first, least slack first);
        urgent_rest [True]: urgent requests outside the GMAX batch also go before calm chosen ones;
        pacing [True], park_margin_steps [2], pressure_bw [0.5]: parking of latency streams;
        prefill_margin_steps [1], min_prefill_tokens [32]: the prefill token budget;
        demote_bw [1.0], bound_slack [3], low_slack [1.0]: demotion threshold on bw: with the analyzer's
        low quantile (``view.length_low``) ``demote_bw x low_slack`` against it, else ``demote_bw x
        bound_slack`` against the bound (exact lengths: ``demote_bw``; ``low_slack`` 0: bound rule only);
        demote_lost_programs [True]: once a program call is demoted or rejected, its program's other
        calls are demoted too (the program earns nothing any more; `triage`); fit_power [2]: a
        deadline/program call whose bound does not fit counts its gain over ``bw ** fit_power`` (`density`);
        be_share [0.03], be_max_wait_s [60 s]: best-effort residual share and starvation guard;
        max_preempt [4], preempt_ratio [2]: cost-aware preemption; kv_growth_ratio [0.8] (1.0 for the
        oracle): share of the remaining bound reserved for KV growth; admit_margin [64]: admission
        candidates beyond free slots; hol_block [False]: a late, most urgent request that does not fit
        in KV blocks the admissions behind it; honor_max_wait [True]: reject past ``max_wait_ms``;
        tbt_step_fraction [0.65]: on an engine whose step time grows with the batch, run at most the
        batch whose decode step takes this share of the tightest per-token interval, the rest left
        for prefill passes (`batchsize`; 0.75 lost 3-5 points of latency attainment on the CPU
        engine, whose prefill passes each pay a fixed cost; the 8B simulator is the same at both);
        chunk_efficiency [2]: a separate prefill pass computes at least this many times its fixed
        cost in prompt tokens, else the step decodes only (`pacing`); reserve_decay [0.995 per full
        pass]: calm admissions leave room for the latency load seen lately; aside_slack_steps [20]: a
        deadline call with more slack than this many decode steps may step aside for the step budget;
        time_share [True]: deadline calls decode only their share of the steps (parked in between)
        instead of every step once admitted; step_choice ["gain"]: which latency line sizes the batch,
        the one with the most gain throughput (`stepchoice`), or "tight": always the tightest;
        stage_use ["rem"]: where a program call's stage deadline counts (`density.score`);
        line_margin [0.25]: share of a deadline call's window (arrival to due) its time-shared line
        ends before the due time, the reserve for step-time error (`batchsize.dp_line`);
        latency_overdraft [0.33]: share of the decode step budget a latency arrival may overdraw (`StepBudgeter`);
        give_way [True], risk_steps [3]: a latency arrival, or a stream due within ``risk_steps`` decode
        intervals, displaces running calls of lower budget density (`giveway`);
        alternate_prefill [True]: on an engine that runs prefill passes back to back while one can be
        formed, a pass after a pass (no decode step between) computes only what the decoding streams'
        slack pays for, else the step decodes (`pacing.prefill_budget`);
        arrival_slack_steps [10]: a latency arrival or a stream at risk may also displace running calls of
        any budget density with more plain slack than this many decode intervals (`giveway`; 0: off);
        idle_pass_ttft [0.5]: while no stream decodes, a prefill pass lasts at most this share of the
        tightest TTFT seen in the last minute (`StreamPacer.idle_budget`; 0: off).
        """
        self.oracle = oracle
        self.name = "oracle" if oracle else "tempo"
        self.frame_steps, self.frame_seconds = int(frame_steps), float(frame_seconds)
        self.gmax_p, self.demote_bw = float(gmax_p), float(demote_bw)
        self.pacer = StreamPacer(pacing=bool(pacing), park_margin_steps=float(park_margin_steps),
                                 prefill_margin_steps=float(prefill_margin_steps),
                                 min_prefill_tokens=int(min_prefill_tokens),
                                 chunk_efficiency=float(chunk_efficiency),
                                 alternate=bool(alternate_prefill), idle_pass_ttft=float(idle_pass_ttft))
        self.be_share, self.be_max_wait_s = float(be_share), float(be_max_wait_s)
        self.max_preempt, self.honor_max_wait = int(max_preempt), honor_max_wait
        self.pressure_bw = float(pressure_bw)
        self.kv_growth_ratio = float(kv_growth_ratio)
        self.urgent_rest = bool(urgent_rest)
        self.admit_margin = int(admit_margin)  # extra admission candidates beyond free slots (KV skips)
        self.hol_block = bool(hol_block)
        self.preempt_ratio = float(preempt_ratio)
        self.urgency_steps = float(urgency_steps)  # slack below this many decode steps is urgent
        self.tbt_step_fraction = float(tbt_step_fraction)
        if step_choice not in ("gain", "tight"):
            raise ValueError(f"step_choice must be gain or tight, not {step_choice!r}")
        self.step_choice = step_choice
        if stage_use not in ("rem", "slack", "full", "off"):
            raise ValueError(f"stage_use must be rem, slack, full or off, not {stage_use!r}")
        self.stage_use = stage_use
        self.late_is_lost = bool(late_is_lost)
        self.fit_power, self.bound_slack = float(fit_power), float(bound_slack)
        self.demote_lost_programs = bool(demote_lost_programs)
        self.low_slack = None if low_slack is None or float(low_slack) <= 0 else float(low_slack)
        if not 0.0 <= float(line_margin) < 1.0:
            raise ValueError(f"line_margin must be in [0, 1), not {line_margin!r}")
        self.line_margin = float(line_margin)
        self.budgeter = StepBudgeter(time_share=bool(time_share), aside_slack_steps=float(aside_slack_steps),
                                     reserve_decay=float(reserve_decay),
                                     latency_overdraft=float(latency_overdraft), give_way=bool(give_way),
                                     risk_steps=float(risk_steps),
                                     arrival_slack_steps=float(arrival_slack_steps))
        self.batch_cap: int | None = None  # the batch limit of the last full pass (introspection)
        self.store = ViewStore(oracle=oracle)
        self._passes = 0
        self._frame_time = -math.inf
        self._last_ir = _EMPTY
        self._last_iw = _EMPTY
        self._admit: list[str] = []
        self._blocked = False
        self._pending_prefill = 0.0  # prompt tokens waiting to be computed (last full pass)
        self._contended = False  # something else needs step time (last full pass)
        self._urgent_waiting = False  # SLO work waits whose slack is within the urgency horizon
        self._aside: list[str] = []  # deadline work parked to keep the decode batch within its cap
        self._v_floor: float | None = None  # fastest decode step time seen (slowly forgotten)
        self.full_passes = 0
        self.last: tuple[np.ndarray, Scores] | None = None  # rows and scores of the last full pass

    # ---- the Policy protocol -----------------------------------------------------------------
    def schedule(self, waiting: Sequence[RequestView], running: Sequence[RequestView],
                 budget: EngineBudget) -> Decision:
        """One scheduling point: full pass when something changed or a frame ended, else cheap."""
        now = budget.now
        v = budget.decode_step_time
        if v > 0:
            self._v_floor = v if self._v_floor is None else min(v, self._v_floor * 1.001)
        refresh = self._passes >= self.frame_steps or now - self._frame_time >= self.frame_seconds
        ir, iw, n_new = self.store.sync(waiting, running, refresh)
        changed = (refresh or n_new > 0 or not np.array_equal(ir, self._last_ir)
                   or not np.array_equal(iw, self._last_iw))
        self._last_ir, self._last_iw = ir, iw
        if refresh:
            self._passes, self._frame_time = 0, now
            live = len(waiting) + len(running)
            if len(self.store.slot) > 2 * live + 256:
                self.store.compact({v.rid for v in waiting} | {v.rid for v in running})
        self._passes += 1
        if not changed:
            return self._cheap_pass(ir, budget)
        return self._full_pass(ir, iw, budget)

    def on_finish(self, view: RequestView, now: float) -> None:
        """Forget the request's cached state."""
        self.store.release(view.rid)

    # ---- passes ------------------------------------------------------------------------------
    def _pace(self, sc: Scores, n_running: int, ir: np.ndarray, budget: EngineBudget, decision: Decision,
              exclude: set[int] | None = None) -> None:
        self.pacer.pace(sc, n_running, ir, self.store, budget, decision, urgent_waiting=self._urgent_waiting,
                        contended=self._contended, pending_prefill=self._pending_prefill, exclude=exclude,
                        blocked=self._blocked)

    def _score(self, idx: np.ndarray, budget: EngineBudget) -> Scores:
        return score(self.store, idx, budget.now, budget.decode_step_time, budget.prefill_time_per_token,
                     demote_bw=self.demote_bw, v_floor=self._v_floor, stage_use=self.stage_use,
                     late_is_lost=self.late_is_lost, fit_power=self.fit_power, bound_slack=self.bound_slack,
                     low_slack=self.low_slack)

    def _cheap_pass(self, ir: np.ndarray, budget: EngineBudget) -> Decision:
        decision = Decision(admit=list(self._admit))
        if ir.size:
            self._pace(self._score(ir, budget), ir.size, ir, budget, decision)
            decision.park = decision.park + self._aside
        return decision

    def _full_pass(self, ir: np.ndarray, iw: np.ndarray, budget: EngineBudget) -> Decision:
        st, now = self.store, budget.now
        self.full_passes += 1
        n_r = ir.size
        idx = np.concatenate((ir, iw))
        sc = self._score(idx, budget)
        decision = Decision()
        is_wait = np.arange(idx.size) >= n_r
        self.pacer.note_latency(now, st.ttft[idx][sc.cls == LAT])

        # rejection (never-started requests past max_wait) and demotion of hopeless requests
        alive = reject_and_demote(st, idx, sc, is_wait, now, self.honor_max_wait, decision,
                                  self.demote_lost_programs)

        # batch size: the slots, or fewer when a bigger batch would slow latency streams off their line
        v = max(budget.decode_step_time, 1e-6)
        lines = dp_line(sc, st, idx, now, self.line_margin)
        line_tbt = lines.tbt
        served = alive & (sc.gain > 0)
        costs = request_costs(st, idx, budget)
        step_s = step_seconds(sc, st, idx, served, costs, line_tbt, budget, self.tbt_step_fraction,
                              self.step_choice)
        slots = slots_within(step_s, costs[served | (np.arange(idx.size) < n_r)], budget.max_running)
        self.batch_cap = slots
        capped = step_s is not None and slots < budget.max_running

        # best effort: residual share, oldest first
        be = sc.cls == BE
        free = (budget.max_running if capped else slots) - n_r
        limit = max(free, 0) + self.max_preempt + self.admit_margin  # the engine cannot take more
        be_rows_w, be_rows_r, share, be_front = best_effort_rows(
            be, is_wait, alive, st.arrival[idx], n_r, slots, self.be_share, limit)

        # GMAX over the SLO candidates (running and waiting)
        cand = np.flatnonzero(~be & alive & (sc.gain > 0))
        chosen = cand[gmax_select(sc.density[cand], sc.rem[cand], slots - share, self.gmax_p)]
        in_batch = np.zeros(idx.size, dtype=bool)
        in_batch[chosen] = True
        sel_w = chosen[chosen >= n_r]
        rest = np.flatnonzero(is_wait & alive & ~be & ~in_batch)
        horizon = max(self.frame_seconds, self.urgency_steps * v)
        slo_order = admission_order(sel_w, rest, sc.slack, sc.density, horizon, self.urgent_rest, limit)
        order = np.concatenate((be_front, slo_order, be_rows_w[be_front.size:])).astype(np.int64)
        need, growth = kv_needs(sc, st, idx, n_r, 1.0 if self.oracle else self.kv_growth_ratio)
        order = kv_admissible(order, need, budget.kv_free_tokens, growth, n_r > 0)
        if self.hol_block and slo_order.size:  # the most urgent request, already late, waits for KV:
            head = int(slo_order[0])           # nothing overtakes it, so big prompts cannot starve
            if sc.slack[head] < 0 and not (order == head).any() and (
                    budget.kv_total_tokens <= 0 or need[head] <= budget.kv_total_tokens):
                order = np.array([head], dtype=np.int64)
        if capped:  # the step budget, in decode shares x costs, limits admission, not request slots
            order = self.budgeter.admit(order, sc, st, idx, n_r, is_wait & served, lines, v, budget,
                                        step_s, horizon)
            free = order.size
        fits = np.zeros(idx.size, dtype=bool)
        fits[order[:max(free, 0)]] = True  # gets a slot and its KV now
        admit = st.rids[idx[order]].tolist()
        if be_rows_w.size:  # starvation guard: an old best-effort request that does not fit blocks
            k = int(be_rows_w[0])
            if now - st.arrival[idx[k]] > self.be_max_wait_s and sc.pf_rem[k] > budget.kv_free_tokens:
                admit = [st.rids[idx[k]]]
        decision.admit = admit
        self._admit = [r for r in admit if r not in decision.reject]

        # cost-aware preemption for chosen waiting requests that find no slot or KV
        blocked = sel_w[~fits[sel_w]]
        picks = preempt_for_blocked(blocked, sc, st, idx, ir, in_batch, be_rows_r, share, capped, now, v,
                                    budget.prefill_time_per_token, self.max_preempt, self.preempt_ratio)
        preempted: set[int] = set(picks)
        decision.preempt = st.rids[idx[picks]].tolist()
        self._aside = []
        if capped:  # the decoders would overrun the step budget: calls with slack step aside
            gone = np.isin(st.rids[idx[:n_r]], decision.preempt)
            decoding = decoding_latency(sc.cls[:n_r], sc.pf_rem[:n_r], st.gen[ir])
            aside = self.budgeter.aside(sc, st, idx, lines, costs, order, n_r, gone, decoding, v, budget, step_s)
            self._aside = st.rids[idx[aside]].tolist()
        self._urgent_waiting = bool(np.any(sc.slack[sel_w] < horizon)) if sel_w.size else False
        self._pending_prefill = float(sc.pf_rem[alive].sum())
        dp = (sc.cls[:n_r] != LAT) & (sc.cls[:n_r] != BE)
        self._contended = self._pending_prefill > 0 or bool(np.any(sc.bw[:n_r][dp] > self.pressure_bw))
        self._blocked = int(fits[slo_order].sum()) < sel_w.size + rest.size  # SLO work left waiting
        self._pace(sc, n_r, ir, budget, decision, exclude=preempted)
        decision.park = decision.park + [r for r in self._aside if r not in decision.preempt]
        self.last = (idx, sc)
        return decision

    # ---- introspection -----------------------------------------------------------------------
    def explain(self, rid: str) -> dict[str, float] | None:
        """Tempo's view of a request at the last full pass (for ``meta_info``), or None."""
        if self.last is None or rid not in self.store.slot:
            return None
        idx, sc = self.last
        rows = np.flatnonzero(idx == self.store.slot[rid])
        if rows.size == 0:
            return None
        k = int(rows[0])
        return {"bw": float(sc.bw[k]), "density": float(sc.density[k]), "gain": float(sc.gain[k]),
                "t_gen": float(sc.t_gen[k]), "t_rem": float(sc.t_rem[k]), "slack": float(sc.slack[k]),
                "class": int(sc.cls[k]), "latency": bool(sc.cls[k] == LAT)}
