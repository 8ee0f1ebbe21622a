"""Which deadline work gives way to latency streams when the decode step budget binds.

Under a step budget (`batchsize`) the scarce resource is not a slot but step seconds: a request that
decodes a token spends its *cost* (seconds it adds to the step) for one step. So what a request earns
per unit of that resource is its gain density over its cost (its *budget density*): a latency stream
of 64 tokens at a 192-token context earns about twice what a deadline call with 128 tokens left at a
640-token context earns for the same step seconds, although their plain densities are alike.

Deadline and program calls step aside for the budget only while they have spare slack (`batchsize`).
A call admitted late has none and decodes every step, and on the CPU engine such calls pushed the
step past the streams' TBT: streams admitted beside them fell off their due line mid-way and new
streams waited 9 s for a first token (measured). So a stream about to leave its line, or a latency
arrival that would not fit, may displace the running calls of lower budget density, lowest first:
they are parked (keeping their KV) and resume when the step has room. A call that is displaced for
too long becomes hopeless and is demoted like any other (`triage`), which the response reports.
A stream already late is not rescued: it has lost its SLO, and displacing a call for it loses two.

Both may also displace calls of any budget density whose plain slack is longer than a few decode
steps (`StepBudgeter.arrival_slack_steps`), the most slack first: an arrival kept waiting loses its
first token, and a stream pushed off its line its tokens, while a call parked on slack it has loses
nothing unless it is parked until that slack is gone, and it is not: it stops being displaceable
before then, and the streams that finish free the step again. (Measured in the replay of the live
mix on a slow stretch: first tokens waited behind calls with 3-10 s of slack and a higher budget
density; live, streams fell off their line at 0.9 req/s behind such calls.)
"""

from __future__ import annotations

import numpy as np

from tempo_sglang.core.tempo.density import Scores
from tempo_sglang.core.tempo.store import DL, LAT, PROG


def budget_density(sc: Scores, final_costs: np.ndarray) -> np.ndarray:
    """Gain per second of engine time per second of step cost (``final_costs``: each row's cost at
    its final context, as admission weighs it)."""
    return sc.density / np.maximum(final_costs, 1e-12)


def displaceable(sc: Scores, n_running: int, flexible: np.ndarray) -> np.ndarray:
    """Running deadline/program rows with gain left that may not step aside on their slack
    (``flexible`` marks those that may): the ones a latency stream may displace."""
    cls = sc.cls[:n_running]
    return np.flatnonzero(((cls == DL) | (cls == PROG)) & (sc.gain[:n_running] > 0) & ~flexible[:n_running])


def displace_room(rows: np.ndarray, weight: np.ndarray, bd: np.ndarray, claimant_bd: np.ndarray,
                  spare: np.ndarray | None = None) -> np.ndarray:
    """Per claimant (budget density ``claimant_bd``): the summed ``weight`` of the ``rows`` it may
    displace: those of lower budget density, and those marked ``spare`` (slack to give, any density)."""
    if rows.size == 0:
        return np.zeros(claimant_bd.size)
    extra = 0.0
    if spare is not None:
        extra = float(weight[rows[spare[rows]]].sum())
        rows = rows[~spare[rows]]
    order = np.argsort(bd[rows], kind="stable")
    sorted_bd = bd[rows][order]
    cum = np.concatenate(([0.0], np.cumsum(weight[rows][order])))
    return cum[np.searchsorted(sorted_bd, claimant_bd, side="left")] + extra


def streams_at_risk(sc: Scores, n_running: int, decoding: np.ndarray, now: float, interval: float,
                    steps: float) -> np.ndarray:
    """Running latency rows (``decoding``) whose next token is due within ``steps`` decode intervals
    but not yet late: the streams whose line a shorter step still saves."""
    ahead = sc.due_lat[:n_running] - now
    return np.flatnonzero(decoding & (sc.cls[:n_running] == LAT) & (ahead >= 0) & (ahead < steps * interval))


def calls_to_displace(rows: np.ndarray, bd: np.ndarray, costs: np.ndarray, above: float, need: float,
                      slack: np.ndarray | None = None, spare: np.ndarray | None = None) -> np.ndarray:
    """Of the ``rows``, those of budget density below ``above`` to park, lowest first, then those
    marked ``spare`` (most ``slack`` first), until their ``costs`` cover ``need`` seconds of step
    (all of them if they cannot)."""
    if need <= 0 or rows.size == 0:
        return np.empty(0, dtype=np.int64)
    low = rows[bd[rows] < above]
    picked = low[np.argsort(bd[low], kind="stable")]
    if spare is not None and slack is not None:
        more = rows[(bd[rows] >= above) & spare[rows]]
        picked = np.concatenate((picked, more[np.argsort(-slack[more], kind="stable")]))
    k = int(np.searchsorted(np.cumsum(costs[picked]), need, side="left")) + 1
    return picked[:k].astype(np.int64)
