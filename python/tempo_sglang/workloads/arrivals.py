"""Arrival processes: Poisson, Gamma (bursty, with a chosen coefficient of variation), trace replay."""

from __future__ import annotations

import numpy as np


def poisson_arrivals(rate: float, n: int, rng: np.random.Generator, start: float = 0.0) -> np.ndarray:
    """``n`` arrival times of a Poisson process of ``rate`` per second (first one after ``start``)."""
    if rate <= 0:
        raise ValueError(f"rate must be positive, got {rate}")
    return start + np.cumsum(rng.exponential(1.0 / rate, size=n))


def gamma_arrivals(rate: float, n: int, rng: np.random.Generator, cv: float = 2.0,
                   start: float = 0.0) -> np.ndarray:
    """Arrivals with Gamma inter-arrival times of mean ``1/rate`` and coefficient of variation ``cv``.

    ``cv = 1`` is Poisson; larger is burstier. Shape ``k = 1/cv^2``, scale ``1/(rate*k)``.
    """
    if rate <= 0 or cv <= 0:
        raise ValueError(f"rate and cv must be positive, got {rate}, {cv}")
    shape = 1.0 / (cv * cv)
    return start + np.cumsum(rng.gamma(shape, 1.0 / (rate * shape), size=n))


def scale_trace(timestamps: np.ndarray, rate: float | None) -> np.ndarray:
    """Shift trace timestamps to start at 0 and, if ``rate`` is given, rescale them to that mean rate.

    The shape of the trace (its burstiness) is kept; only the time axis is stretched.
    """
    ts = np.asarray(timestamps, dtype=float)
    ts = ts - ts[0]
    if rate is None or len(ts) < 2 or ts[-1] <= 0:
        return ts
    native = (len(ts) - 1) / ts[-1]
    return ts * (native / rate)


def make_arrivals(kind: str, rate: float, n: int, rng: np.random.Generator, cv: float | None = None
                  ) -> np.ndarray:
    """Dispatch on ``kind``: ``poisson`` or ``gamma`` (``cv`` defaults to 2)."""
    if kind == "poisson":
        return poisson_arrivals(rate, n, rng)
    if kind == "gamma":
        return gamma_arrivals(rate, n, rng, cv=cv if cv is not None else 2.0)
    raise ValueError(f"unknown arrival process {kind!r} (poisson, gamma)")
