"""Sufficient statistics of measured engine iterations, and the cost model they fit.

A server cannot ship every step it ran to the client, but the relative-error least-squares fit of
the cost model (`sim.costmodel`) needs only the normal equations of its features. `CostSums` keeps
them: for each iteration with features ``x`` (those of `CostModel.step_time`, plus a prefill-pass
flag) and measured seconds ``y``, it adds ``x x^T / y^2`` and ``x / y``. Sums add (servers, runs)
and subtract (a run's share of a long-lived server's totals), and `CostSums.fit` solves them for
non-negative ``c0..c4`` and ``prefill_pass``.

Features of one iteration, in coefficient order::

    1, N_tokens, sum_prefill l_i*(k_i + l_i/2), sum_decode k_j, B (requests), 1 if it computed prompt tokens
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

NAMES = ("c0", "c1", "c2", "c3", "c4", "prefill_pass")
SCALE = np.array([1.0, 100.0, 1e6, 1e4, 10.0, 1.0])  # typical feature sizes: keeps the solve balanced


def step_features(prefill_chunks: Sequence[tuple[int, int]], n_decode: int, decode_context: int) -> np.ndarray:
    """The feature vector of one iteration: ``prefill_chunks`` = [(l_i, k_i)], ``n_decode`` decoding
    requests whose context lengths sum to ``decode_context`` (as in `CostModel.step_time`)."""
    tokens = n_decode + sum(length for length, _ in prefill_chunks)
    attn = sum(length * (ctx + length / 2.0) for length, ctx in prefill_chunks)
    return np.array([1.0, float(tokens), attn, float(decode_context), float(n_decode + len(prefill_chunks)),
                     1.0 if prefill_chunks else 0.0])


@dataclass
class CostSums:
    """Normal equations of the relative-error fit over the iterations seen (see module docstring)."""

    n: float = 0.0
    gram: np.ndarray = field(default_factory=lambda: np.zeros((6, 6)))
    rhs: np.ndarray = field(default_factory=lambda: np.zeros(6))
    decode_steps: float = 0.0

    def add(self, features: np.ndarray, seconds: float) -> None:
        """One iteration of ``seconds`` with `step_features` ``features``."""
        if seconds <= 0:
            return
        x = np.asarray(features, dtype=float) / SCALE
        self.gram += np.outer(x, x) / seconds ** 2
        self.rhs += x / seconds
        self.n += 1
        self.decode_steps += features[5] == 0

    def __add__(self, other: CostSums) -> CostSums:
        return CostSums(self.n + other.n, self.gram + other.gram, self.rhs + other.rhs,
                        self.decode_steps + other.decode_steps)

    def __sub__(self, other: CostSums) -> CostSums:
        return CostSums(self.n - other.n, self.gram - other.gram, self.rhs - other.rhs,
                        self.decode_steps - other.decode_steps)

    def to_dict(self) -> dict:
        return {"n": self.n, "decode_steps": self.decode_steps,
                "gram": [float(v) for v in self.gram[np.triu_indices(6)]], "rhs": [float(v) for v in self.rhs]}

    @classmethod
    def from_dict(cls, data: dict) -> CostSums:
        gram = np.zeros((6, 6))
        gram[np.triu_indices(6)] = data["gram"]
        gram = gram + np.triu(gram, 1).T
        return cls(float(data["n"]), gram, np.array(data["rhs"], dtype=float), float(data.get("decode_steps", 0)))

    def fit(self) -> tuple[tuple[float, ...], float, float]:
        """(c0..c4, prefill_pass, rms relative error) with every coefficient >= 0.

        Exact non-negative least squares on the normal equations: the best unconstrained solution over
        every subset of free coefficients (64 small solves) whose coefficients are all >= 0. A
        coefficient the iterations cannot separate (no prefill pass seen: ``c2`` and ``prefill_pass``)
        stays 0. Raises ``ValueError`` with fewer than 6 iterations."""
        if self.n < 6:
            raise ValueError(f"{self.n:g} iterations: too few to fit the cost model")
        best, best_obj = np.zeros(6), float(self.n)  # all-zero coefficients: every residual is -1
        ridge = 1e-12 * max(float(np.trace(self.gram)), 1e-30)
        for k in range(1, 7):
            for subset in itertools.combinations(range(6), k):
                idx = list(subset)
                g = self.gram[np.ix_(idx, idx)] + ridge * np.eye(k)
                try:
                    sol = np.linalg.solve(g, self.rhs[idx])
                except np.linalg.LinAlgError:
                    continue
                if (sol < 0).any():
                    continue
                obj = float(self.n - 2 * sol @ self.rhs[idx] + sol @ self.gram[np.ix_(idx, idx)] @ sol)
                if obj < best_obj - 1e-12:
                    best, best_obj = np.zeros(6), obj
                    best[idx] = sol
        coef = best / SCALE
        rms = float(np.sqrt(max(best_obj, 0.0) / self.n))
        return tuple(float(c) for c in coef[:5]), float(coef[5]), rms
