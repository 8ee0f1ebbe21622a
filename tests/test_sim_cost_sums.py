"""`sim.cost_sums`: the normal equations a server ships instead of its steps fit the cost model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tempo_sglang.sim.cost_sums import CostSums, step_features
from tempo_sglang.sim.costmodel import load_profile


def _steps(cost, rng, n=600):
    for _ in range(n):
        if rng.random() < 0.7:
            b = int(rng.integers(1, 60))
            ctx = int(b * rng.integers(100, 1200))
            yield step_features((), b, ctx), cost.step_time((), b, ctx)
        else:
            chunks = [(int(rng.integers(8, 2000)), int(rng.integers(0, 1000))) for _ in range(rng.integers(1, 4))]
            yield step_features(chunks, 0, 0), cost.step_time(chunks, 0, 0)


def test_features_match_the_cost_model():
    cost = load_profile("smollm2-135m-cpu-amx")
    coef = np.array([*cost.coeffs, cost.prefill_pass])
    for chunks, n_dec, ctx in (((), 7, 2100), ([(300, 50), (20, 900)], 0, 0), ([(64, 0)], 3, 600)):
        assert step_features(chunks, n_dec, ctx) @ coef == pytest.approx(cost.step_time(chunks, n_dec, ctx))


def test_fit_recovers_the_coefficients_through_json_and_noise():
    cost = load_profile("smollm2-135m-cpu-amx")
    rng = np.random.default_rng(0)
    sums = CostSums()
    for feats, sec in _steps(cost, rng):
        sums.add(feats, sec * rng.lognormal(0.0, 0.03))
    sums = CostSums.from_dict(json.loads(json.dumps(sums.to_dict())))
    coeffs, prefill_pass, rms = sums.fit()
    assert coeffs == pytest.approx(cost.coeffs, rel=0.1)
    assert prefill_pass == pytest.approx(cost.prefill_pass, abs=0.004)
    assert 0.01 < rms < 0.05  # the noise put in
    assert sums.decode_steps > 0.6 * sums.n


def test_sums_add_and_subtract_like_runs():
    """A run's share of a long-lived server's totals is after minus before: the same fit as the run alone."""
    fast, rng = load_profile("smollm2-135m-cpu-amx"), np.random.default_rng(1)
    slow = load_profile("smollm2-135m-cpu")
    earlier, run = CostSums(), CostSums()
    for feats, sec in _steps(fast, rng, 200):
        earlier.add(feats, sec)
    for feats, sec in _steps(slow, rng, 200):
        run.add(feats, sec)
    share = (earlier + run) - earlier
    assert share.n == run.n
    assert share.fit()[0] == pytest.approx(run.fit()[0], rel=1e-6)
    assert share.fit()[0] == pytest.approx(slow.coeffs, rel=1e-3, abs=1e-9)


def test_unseparable_coefficients_stay_zero_and_too_few_steps_raise():
    cost = load_profile("smollm2-135m-cpu-amx")
    sums = CostSums()
    for b in range(1, 12):  # decode only, one context per request: no prefill figures to fit
        sums.add(step_features((), b, b * 400), cost.step_time((), b, b * 400))
    coeffs, prefill_pass, _ = sums.fit()
    assert coeffs[2] == 0.0 and prefill_pass == 0.0 and all(c >= 0 for c in coeffs)
    assert cost.step_time((), 30, 30 * 400) == pytest.approx(
        coeffs[0] + 30 * (coeffs[1] + coeffs[4]) + coeffs[3] * 30 * 400, rel=0.02)
    with pytest.raises(ValueError, match="too few"):
        CostSums().fit()
