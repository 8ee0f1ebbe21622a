"""Cost-aware preemption: evict a running request only when it pays (SPEC section 3).

Evicting running request r frees its slot and KV cache; r goes back to waiting and must recompute
``prompt + generated`` tokens later. That recompute is a prefill that stalls every running stream for
``tau = kv(r) * prefill_time_per_token`` seconds. Preempting r to admit a blocked waiting request w
pays only when the gain it makes room for exceeds the gain it loses:

- made room for: ``gain(w)`` if w cannot simply wait for the next natural release of a slot
  (``slack(w) < t_release``), else 0 (it will get a slot in time anyway);
- lost: ``gain(r)`` if r cannot absorb the delay (``slack(r) < tau + t_gen(w)``), plus the stall:
  ``w_d`` for every due token of running latency streams that ``tau`` pushes past its due time, plus
  the engine time itself: ``tau * max(gain_rate, density(w))``, where ``gain_rate`` is the summed gain
  density of the running batch (everything in it is delayed by the recompute) and ``density(w)`` the
  value of engine time to the incoming request (the recompute of r, due when r comes back, is engine
  time lost to requests like w; with ``gain(w) = density(w) * t_gen(w)`` this alone requires
  ``tau < t_gen(w)``).

Eviction candidates are tried cheapest first (lowest density), incoming requests densest first; at
most ``max_preempt`` evictions per pass, and only when the gain exceeds ``ratio`` times the loss (the
estimates come from conservative length bounds, so a margin keeps the engine from trading work away
on noise).
"""

from __future__ import annotations

import numpy as np

from tempo_sglang.core.tempo.density import Scores
from tempo_sglang.core.tempo.pacing import decoding_latency
from tempo_sglang.core.tempo.store import BE, LAT, ViewStore
from tempo_sglang.core.views import DECODE_WEIGHT


def stall_cost(tau: float, lat_ahead: np.ndarray, lat_tbt: np.ndarray) -> float:
    """Gain lost by delaying the running latency streams by ``tau`` seconds.

    ``lat_ahead`` = next due - now - v per stream (may be negative: those are late already and lose
    nothing more to the stall than they would anyway).
    """
    if tau <= 0 or lat_ahead.size == 0:
        return 0.0
    over = tau - np.maximum(lat_ahead, 0.0)
    hit = over > 0
    return float(DECODE_WEIGHT * np.sum(np.ceil(over[hit] / lat_tbt[hit])))


def choose_preemptions(incoming: np.ndarray, evictable: np.ndarray, gain: np.ndarray, slack: np.ndarray,
                       t_gen: np.ndarray, kv: np.ndarray, p: float, t_release: float,
                       lat_ahead: np.ndarray, lat_tbt: np.ndarray, max_preempt: int = 4,
                       gain_rate: float = 0.0, density: np.ndarray | None = None,
                       ratio: float = 1.0) -> list[int]:
    """Rows of ``evictable`` to preempt for rows of ``incoming`` (both in priority order)."""
    out: list[int] = []
    if incoming.size == 0 or evictable.size == 0 or max_preempt <= 0:
        return out
    ev = iter(evictable.tolist())
    for w in incoming.tolist():
        if len(out) >= max_preempt:
            break
        if slack[w] >= t_release:  # it can wait for a slot that frees naturally
            continue
        r = next(ev, None)
        if r is None:
            break
        tau = float(kv[r]) * p
        lost = gain[r] if slack[r] < tau + t_gen[w] else 0.0
        rate = max(gain_rate, float(density[w]) if density is not None else 0.0)
        if gain[w] > ratio * (lost + stall_cost(tau, lat_ahead, lat_tbt) + tau * rate):
            out.append(r)
        else:
            break  # the cheapest eviction does not pay; dearer ones would not either (roughly)
    return out


def preempt_for_blocked(blocked: np.ndarray, sc: Scores, store: ViewStore, idx: np.ndarray, ir: np.ndarray,
                        in_batch: np.ndarray, be_running: np.ndarray, be_keep: int, keep_latency: bool,
                        now: float, v: float, p: float, max_preempt: int, ratio: float) -> list[int]:
    """Rows (of ``idx``; running rows come first, ``ir`` = their store slots) to preempt for the
    chosen waiting rows ``blocked`` that found no slot or KV.

    Candidates: running rows outside the GMAX batch (``in_batch``), not among the ``be_keep``
    oldest of the running best-effort rows ``be_running`` (the best-effort residual share) and, when
    ``keep_latency`` (the batch is capped by a latency line), not latency streams; cheapest (lowest
    density) first.
    """
    n_r = ir.size
    if blocked.size == 0 or n_r == 0:
        return []
    protect = np.zeros(n_r, dtype=bool)
    if be_running.size:
        protect[be_running[np.argsort(store.arrival[idx[be_running]], kind="stable")][:be_keep]] = True
    evict = np.flatnonzero(~in_batch[:n_r] & ~protect & ~(keep_latency & (sc.cls[:n_r] == LAT)))
    evict = evict[np.argsort(sc.density[evict], kind="stable")]
    lat = decoding_latency(sc.cls[:n_r], sc.pf_rem[:n_r], store.gen[ir])
    kv = store.prompt[idx] + store.gen[idx]
    return choose_preemptions(
        blocked, evict, sc.gain, sc.slack, sc.t_gen, kv, p, float(sc.t_gen[:n_r].min()),
        sc.due_lat[:n_r][lat] - now - v, store.tbt[ir][lat], max_preempt,
        gain_rate=float(sc.density[:n_r][sc.cls[:n_r] != BE].sum()), density=sc.density, ratio=ratio)
