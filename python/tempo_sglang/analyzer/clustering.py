"""Library compaction: forget rarely matched graphs, then k-medoids over the rest.

`compact_indices` returns which rows to keep and, for each kept row, the rows it now stands for (its
k-medoids cluster), so the library can carry the cluster's weight and score over to the medoid.
Graphs of different kinds are kept apart by a large distance penalty.
"""

from __future__ import annotations

import numpy as np

STALE_SCORE = 0.05  # a graph whose decayed match score fell below this is "rarely matched"
KIND_PENALTY = 1e3


def pairwise(embed: np.ndarray, kind: np.ndarray) -> np.ndarray:
    """Euclidean distances, plus `KIND_PENALTY` between graphs of different kinds."""
    sq = (embed * embed).sum(1)
    d2 = np.maximum(0.0, sq[:, None] + sq[None, :] - 2.0 * embed @ embed.T)
    return np.sqrt(d2) + KIND_PENALTY * (kind[:, None] != kind[None, :])


def k_medoids(dist: np.ndarray, k: int, seed: int = 0, iters: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Alternating k-medoids (k-medoids++ start). Returns medoid rows and each row's cluster label."""
    n = dist.shape[0]
    k = max(1, min(k, n))
    rng = np.random.default_rng(seed)
    medoids = [int(rng.integers(n))]
    nearest = dist[medoids[0]].copy()
    for _ in range(1, k):
        p = nearest ** 2
        total = p.sum()
        nxt = int(rng.choice(n, p=p / total)) if total > 0 else int(rng.integers(n))
        medoids.append(nxt)
        nearest = np.minimum(nearest, dist[nxt])
    med = np.array(medoids)
    for _ in range(iters):
        labels = np.argmin(dist[:, med], axis=1)
        new = med.copy()
        for c in range(len(med)):
            members = np.flatnonzero(labels == c)
            if len(members):
                new[c] = members[np.argmin(dist[np.ix_(members, members)].sum(1))]
        if np.array_equal(new, med):
            break
        med = new
    labels = np.argmin(dist[:, med], axis=1)
    return med, labels


def compact_indices(embed: np.ndarray, score: np.ndarray, kind: np.ndarray, target: int,
                    seed: int = 0) -> tuple[list[int], list[np.ndarray]]:
    """Rows to keep (at most ``target``) and, per kept row, the rows it represents."""
    n = len(embed)
    if n <= target:
        return list(range(n)), [np.array([i]) for i in range(n)]
    alive = np.arange(n)
    stale = np.flatnonzero(score < STALE_SCORE)
    if len(stale):
        drop = stale[np.argsort(score[stale])][: n - target]
        alive = np.setdiff1d(alive, drop)
    if len(alive) <= target:
        return [int(i) for i in alive], [np.array([i]) for i in alive]
    dist = pairwise(embed[alive], kind[alive])
    med = np.unique(k_medoids(dist, target, seed)[0])
    labels = np.argmin(dist[:, med], axis=1)
    keep = [int(alive[m]) for m in med]
    members = [alive[labels == c] for c in range(len(med))]
    return keep, members
