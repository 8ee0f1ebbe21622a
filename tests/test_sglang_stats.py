"""The engine-speed figures the controller learns inside the server (no server needed)."""

from __future__ import annotations

import random

import pytest

from tempo_sglang.sglang.scheduling.stats import ControllerStats, PrefillFit, StepTimeFit


def test_prefill_fit_separates_the_pass_overhead_from_the_per_token_cost():
    rng = random.Random(0)
    fit = PrefillFit()
    for _ in range(200):
        tokens = rng.choice([32, 48, 64, 96, 128, 512])
        fit.observe(tokens, 0.15 + 0.0013 * tokens + rng.gauss(0.0, 0.005))
    overhead, per_token = fit.coefficients(fallback_overhead=0.06)
    assert abs(overhead - 0.15) < 0.01 and abs(per_token - 0.0013) < 0.0001


def test_small_chunks_no_longer_inflate_the_per_token_cost():
    """Net of the decode base alone, 32-token chunks with a 150 ms pass cost read as ~4 ms per token."""
    stats = ControllerStats(step_fit=StepTimeFit(prior=(0.06, 0.003, 3e-5)))
    for tokens in [512, 32, 40, 64, 32, 100, 32, 48, 256, 32] * 5:
        stats.observe_prefill(0.15 + 0.0013 * tokens, tokens, fixed=0.06)
    assert abs(stats.prefill_time_per_token - 0.0013) < 1e-4
    assert abs(stats.prefill_overhead - 0.15) < 0.005
    assert stats.snapshot()["prefill_ms_overhead"] == 150.0


def test_without_spread_in_chunk_sizes_the_fallback_overhead_is_used():
    fit = PrefillFit()
    for _ in range(10):
        fit.observe(64, 0.06 + 64 * 0.001)
    overhead, per_token = fit.coefficients(fallback_overhead=0.06)
    assert abs(overhead - 0.06) < 1e-9 and abs(per_token - 0.001) < 1e-9
    assert PrefillFit().coefficients(0.06) is None


def test_decode_interval_counts_the_prefill_passes_between_decode_steps_not_idle_time():
    stats = ControllerStats()
    t = 100.0
    for k in range(200):  # 0.1 s decode steps, a 0.2 s prefill pass after every second one
        t += 0.1 + (0.2 if k % 2 else 0.0)
        stats.observe_decode_end(t)
    assert abs(stats.decode_interval - 0.2) < 0.02  # (0.1 + 0.3) / 2 per token
    stats.engine_idle()  # nothing running for a while: the gap is not a token interval
    stats.observe_decode_end(t + 5.0)
    assert abs(stats.decode_interval - 0.2) < 0.02
    stats.observe_decode_end(t + 5.0 + 30.0)  # far past MAX_INTERVAL_S: ignored too
    assert abs(stats.decode_interval - 0.2) < 0.02
    assert stats.snapshot()["decode_interval_ms"] > 150


def test_an_iteration_costs_its_forward_plus_the_host_work_before_the_next():
    """`ControllerStats.observe_iteration`: the gap to the next forward belongs to the step before it
    (a client's token gap sees both); a step after which nothing runs, or a long gap, is not counted."""
    from tempo_sglang.sim.cost_sums import step_features

    stats = ControllerStats()
    feats = [step_features((), b, b * 300) for b in (4, 8, 16, 32, 2, 6, 10)]
    t, truth = 100.0, []
    for i, f in enumerate(feats):
        forward = 0.04 + 0.002 * f[4]
        stats.observe_iteration(f, t, t + forward, busy_after=i != 3)
        host = 0.01 if i != 3 else 5.0  # after step 3 the engine idles
        truth.append(forward + host)
        t += forward + host
    stats.observe_iteration(feats[0], t, t + 0.05, busy_after=True)  # completes the last one
    sums = stats.cost_sums
    assert sums.n == 6  # 7 iterations, the one before idle time dropped
    expected = [(f, s) for i, (f, s) in enumerate(zip(feats, truth, strict=True)) if i != 3]
    coef = sums.fit()[0]
    for f, s in expected:
        assert coef[0] + (coef[1] + coef[4]) * f[4] + coef[3] * f[3] == pytest.approx(s, rel=0.01)
    assert "cost_sums" in stats.snapshot() and stats.snapshot()["cost_sums"]["n"] == 6
