"""Prompt and output length distributions fitted to public traces (SPEC section 6).

- chat (Azure LLM 2023 conversation trace): log-normal input (mu 6.63, sigma 0.99), output (5.02, 0.86)
- code (Azure LLM 2023 code trace, fitted from the file): input (7.00, 1.36), output (2.79, 0.85)
- reasoning outputs (DeepSeek-R1-like, heavy-tailed): p50 ~1.3k, p90 ~5.4k, p99 ~12k tokens. A single
  log-normal cannot hit all three (through p50/p90 its p99 is ~17k), so it is sampled by inverse CDF,
  interpolating log-length linearly between quantile knots that pass exactly through those points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LogNormal:
    """A clipped log-normal length distribution (integers in [lo, hi])."""

    mu: float
    sigma: float
    lo: int = 1
    hi: int = 1 << 20

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        x = np.exp(rng.normal(self.mu, self.sigma, size=n))
        return np.clip(np.rint(x), self.lo, self.hi).astype(np.int64)


@dataclass(frozen=True)
class QuantileKnots:
    """Inverse-CDF sampling through (quantile, length) knots, log-linear between knots."""

    qs: tuple[float, ...]
    values: tuple[float, ...]

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        u = rng.random(n)
        logs = np.interp(u, self.qs, np.log(self.values))
        return np.maximum(1, np.rint(np.exp(logs))).astype(np.int64)


CHAT_INPUT = LogNormal(6.63, 0.99, lo=4, hi=8192)
CHAT_OUTPUT = LogNormal(5.02, 0.86, lo=2, hi=2048)
CODE_INPUT = LogNormal(7.00, 1.36, lo=4, hi=8192)
CODE_OUTPUT = LogNormal(2.79, 0.85, lo=2, hi=2048)
REASONING_OUTPUT = QuantileKnots(
    qs=(0.0, 0.10, 0.50, 0.90, 0.99, 1.0),
    values=(48.0, 313.0, 1300.0, 5400.0, 12000.0, 16000.0),
)
REASONING_MAX_TOKENS = 16384
CHAT_MAX_TOKENS = 2048
