"""GMAX batch formation (SPEC section 3).

Sort by gain density; keep the candidates whose density is at least ``p`` times the density of the
B-th best; among them choose the window of B candidates of similar length (consecutive in length
order) with the largest summed density. Requests of similar length finish together, so the batch
stays full of requests that still need it. O(N log N): one partition, one sort of the eligible
candidates by length and a prefix sum.
"""

from __future__ import annotations

import numpy as np


def gmax_select(density: np.ndarray, length: np.ndarray, batch: int, p: float = 0.95) -> np.ndarray:
    """Positions (into ``density``) of the chosen batch, best density first.

    Every candidate is chosen when there are at most ``batch`` of them. Ties in summed density go to
    the window of shorter requests.
    """
    n = density.size
    if batch <= 0 or n == 0:
        return np.empty(0, dtype=np.int64)
    if n <= batch:
        return np.argsort(-density, kind="stable")
    kth = np.partition(density, n - batch)[n - batch]  # the B-th largest density
    elig = np.flatnonzero(density >= p * kth)
    by_len = elig[np.argsort(length[elig], kind="stable")]
    csum = np.concatenate(([0.0], np.cumsum(density[by_len])))
    sums = csum[batch:] - csum[:-batch]
    start = int(np.argmax(sums))  # first maximum: the shortest such window
    chosen = by_len[start:start + batch]
    return chosen[np.argsort(-density[chosen], kind="stable")]
