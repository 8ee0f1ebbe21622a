"""Structure-of-arrays cache of the request views Tempo schedules.

Reading attributes of a thousand Python objects costs about as much as the whole scheduling budget,
so Tempo reads each view as rarely as it can: static fields (class, SLO, arrival, prompt length) once
per request; dynamic fields of *running* requests every pass (they change every step); dynamic
fields of *waiting* requests when first seen, when they come back from running (preemption), and on
frame refreshes (the analyzer may tighten a bound or set a stage deadline meanwhile). Everything the
policy computes then runs on NumPy arrays indexed by slot.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tempo_sglang.core.views import RequestView
from tempo_sglang.slo import SLOClass

LAT, DL, PROG, BE = 0, 1, 2, 3
CLASS_CODE = {SLOClass.LATENCY: LAT, SLOClass.DEADLINE: DL, SLOClass.PROGRAM: PROG,
              SLOClass.BEST_EFFORT: BE}
INF = float("inf")
NAN = float("nan")

_FLOAT_FIELDS = ("arrival", "ttft", "tbt", "deadline", "max_wait", "lb", "stage_dl", "lo")
_INT_FIELDS = ("cls", "prompt", "max_new", "pcode", "gen", "pre")
_BOOL_FIELDS = ("demoted", "was_running", "informed")


class ViewStore:
    """Slots of per-request arrays; ``sync`` maps the current views to slot indices."""

    def __init__(self, oracle: bool = False, capacity: int = 1024):
        self.oracle = oracle
        self.cap = 0
        self.slot: dict[str, int] = {}
        self.free: list[int] = []
        self.program_code: dict[str, int] = {}
        self.lost = np.zeros(64, dtype=bool)  # by program code: a call was demoted or rejected
        self.rids = np.empty(0, dtype=object)
        # one 2-D array per dtype, so a pass gathers all fields of its rows in three indexing ops;
        # the per-field names are views of their rows
        self.F = np.zeros((len(_FLOAT_FIELDS), 0))
        self.I = np.zeros((len(_INT_FIELDS), 0), dtype=np.int64)
        self.B = np.zeros((len(_BOOL_FIELDS), 0), dtype=bool)
        self._grow(capacity)

    # ---- slot management ---------------------------------------------------------------------
    def _grow(self, new_cap: int) -> None:
        old = self.cap
        for name in ("F", "I", "B"):
            arr = getattr(self, name)
            grown = np.zeros((arr.shape[0], new_cap), dtype=arr.dtype)
            grown[:, :old] = arr
            setattr(self, name, grown)
        rids = np.empty(new_cap, dtype=object)
        rids[:old] = self.rids
        self.rids = rids
        for table, names in ((self.F, _FLOAT_FIELDS), (self.I, _INT_FIELDS), (self.B, _BOOL_FIELDS)):
            for row, name in enumerate(names):
                setattr(self, name, table[row])
        self.free.extend(range(new_cap - 1, old - 1, -1))
        self.cap = new_cap

    def gather(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All float, int and bool fields of the slots ``idx`` (rows in `_*_FIELDS` order)."""
        return self.F[:, idx], self.I[:, idx], self.B[:, idx]

    def _new_slot(self, view: RequestView) -> int:
        if not self.free:
            self._grow(max(1024, 2 * self.cap))
        s = self.free.pop()
        self.slot[view.rid] = s
        slo = view.slo
        self.rids[s] = view.rid
        self.cls[s] = CLASS_CODE[slo.slo_class]
        self.arrival[s] = view.arrival
        self.ttft[s] = slo.ttft_ms / 1000.0 if slo.ttft_ms is not None else NAN
        self.tbt[s] = slo.tbt_ms / 1000.0 if slo.tbt_ms is not None else NAN
        dl = view.deadline()
        self.deadline[s] = dl if dl is not None else INF
        self.max_wait[s] = view.arrival + slo.max_wait_ms / 1000.0 if slo.max_wait_ms is not None else INF
        self.prompt[s] = view.prompt_len
        self.max_new[s] = view.max_new_tokens
        if slo.slo_class is SLOClass.PROGRAM:
            pid = slo.program_id if slo.program_id is not None else f"__rid__{view.rid}"
            self.pcode[s] = self.program_code.setdefault(pid, len(self.program_code))
        else:
            self.pcode[s] = -1
        self.was_running[s] = False
        self.demoted[s] = False
        self.read_dynamic(s, view)
        return s

    def mark_lost(self, codes: np.ndarray) -> None:
        """Remember that the programs with these codes can no longer meet their SLO."""
        if codes.size:
            top = int(codes.max())
            if top >= self.lost.size:
                grown = np.zeros(max(2 * self.lost.size, top + 1), dtype=bool)
                grown[:self.lost.size] = self.lost
                self.lost = grown
            self.lost[codes] = True

    def lost_rows(self, idx: np.ndarray) -> np.ndarray:
        """Mask of the slots ``idx`` whose program is lost (False for non-program requests)."""
        pc = self.pcode[idx]
        return (pc >= 0) & (pc < self.lost.size) & self.lost[np.clip(pc, 0, self.lost.size - 1)]

    def release(self, rid: str) -> None:
        """Forget a request (finished, rejected or vanished)."""
        s = self.slot.pop(rid, None)
        if s is not None:
            self.rids[s] = None
            self.free.append(s)

    def read_dynamic(self, s: int, view: RequestView) -> None:
        """Refresh the fields that change while a request lives."""
        self.gen[s] = view.generated
        self.pre[s] = view.prefilled if view.prefilled > view.cached_len else view.cached_len
        bound = view.length_bound
        if self.oracle and view.true_output_len is not None:
            bound = view.true_output_len
        self.lb[s] = NAN if bound is None else bound
        self.lo[s] = NAN if view.length_low is None else view.length_low  # unused by the oracle
        self.informed[s] = bound is not None
        self.stage_dl[s] = NAN if view.stage_deadline is None else view.stage_deadline
        self.demoted[s] = self.demoted[s] or view.demoted

    # ---- per pass ----------------------------------------------------------------------------
    def sync(self, waiting: Sequence[RequestView], running: Sequence[RequestView],
             refresh_waiting: bool) -> tuple[np.ndarray, np.ndarray, int]:
        """Slot indices of running and waiting views; returns (idx_running, idx_waiting, n_new)."""
        slot = self.slot
        n_new = 0
        idx_r = [slot.get(v.rid, -1) for v in running]
        idx_w = [slot.get(v.rid, -1) for v in waiting]
        if -1 in idx_r:
            for k, v in enumerate(running):
                if idx_r[k] < 0:
                    idx_r[k] = self._new_slot(v)
                    n_new += 1
        if -1 in idx_w:
            for k, v in enumerate(waiting):
                if idx_w[k] < 0:
                    idx_w[k] = self._new_slot(v)
                    n_new += 1
        ir = np.array(idx_r, dtype=np.int64)
        iw = np.array(idx_w, dtype=np.int64)
        if running:  # running requests change every step: vectorised refresh
            self.gen[ir] = [v.generated for v in running]
            self.pre[ir] = [v.prefilled if v.prefilled > v.cached_len else v.cached_len for v in running]
            lbs = [v.length_bound for v in running]
            if self.oracle:
                lbs = [v.true_output_len if v.true_output_len is not None else b for v, b in zip(running, lbs, strict=True)]
            lb = np.array(lbs, dtype=float)
            self.lb[ir] = lb
            self.lo[ir] = np.array([v.length_low for v in running], dtype=float)
            self.informed[ir] = ~np.isnan(lb)
            self.stage_dl[ir] = np.array([v.stage_deadline for v in running], dtype=float)
            self.demoted[ir] |= np.array([v.demoted for v in running], dtype=bool)
        if refresh_waiting:
            for v, s in zip(waiting, idx_w, strict=True):
                self.read_dynamic(s, v)
        elif waiting:
            back = np.flatnonzero(self.was_running[iw])  # preempted since the last pass
            for k in back.tolist():
                self.read_dynamic(idx_w[k], waiting[k])
        self.was_running[iw] = False
        self.was_running[ir] = True
        return ir, iw, n_new

    def compact(self, live: set[str]) -> None:
        """Drop slots of requests that are no longer seen (no on_finish came for them)."""
        for rid in [r for r in self.slot if r not in live]:
            self.release(rid)
