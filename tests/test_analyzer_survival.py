"""Survival length model: conditional bounds given L > generated, exact score/bound agreement, persistence."""

from __future__ import annotations

import numpy as np
import pytest

from tempo_sglang.analyzer.data import load_source, synthetic_samples
from tempo_sglang.analyzer.evaluate import average_reports, length_report
from tempo_sglang.analyzer.length_model import ForestConfig, LengthModel, train_length_model
from tempo_sglang.analyzer.predictor import LengthPredictor
from tempo_sglang.analyzer.samples import LengthSample, iter_split, to_arrays
from tempo_sglang.analyzer.survival_model import EDGES, SurvivalModel, invert, load_model

FAST = ForestConfig(n_estimators=10, max_depth=8)


@pytest.fixture(scope="module")
def uniform_model():
    """Output lengths uniform on 1..1000 whatever the prompt: P95(L | L > g) = g + 0.95 (1000 - g)."""
    rng = np.random.default_rng(0)
    samples = [LengthSample(int(p), int(o)) for p, o in
               zip(rng.integers(10, 2000, 6000), rng.integers(1, 1001, 6000), strict=True)]
    x, y = to_arrays(samples)
    return train_length_model(x, y, FAST), x, y


def test_bound_is_the_conditional_quantile_given_generated(uniform_model):
    model, x, _ = uniform_model
    assert isinstance(model, SurvivalModel)
    for g in (0, 300, 600, 900):  # 600 and 900 lie between checkpoints
        truth = g + 0.95 * (1000 - g)
        bounds = np.array([model.predict(f, g) for f in x[:20]])
        assert abs(np.median(bounds) - truth) <= 0.03 * truth, (g, truth, bounds)
        assert np.all(np.abs(bounds - truth) <= 0.12 * truth), (g, truth, bounds)
    assert 990 < model.predict(x[0], 990) <= 1070  # within the ~6% bin holding the largest length


def test_low_quantile_comes_from_the_same_conditional_distribution(uniform_model):
    """``predict_with_low``: the bound as `predict` gives it, and the conditional ``level`` quantile
    g + level (1000 - g) of the same CDF, uncalibrated; the predictor clamps it to (g, bound]."""
    model, x, _ = uniform_model
    for g in (0, 300, 600):
        for level in (0.25, 0.5):
            truth = g + level * (1000 - g)
            pairs = [model.predict_with_low(f, g, level) for f in x[:20]]
            lows = np.array([lo for _, lo in pairs])
            assert [b for b, _ in pairs] == [model.predict(f, g) for f in x[:20]]
            assert abs(np.median(lows) - truth) <= 0.05 * truth, (g, level, truth, lows)
            assert all(g < lo <= b for b, lo in pairs)
    assert model.predict_with_low(x[0], 100, None)[1] is None
    predictor = LengthPredictor(model)
    bound, low = predictor.bounds(x[0], 200, max_new_tokens=300, low_level=0.5)
    assert bound == 300 and 200 < low <= 300  # both capped by max_new_tokens
    assert LengthPredictor().bounds(x[0], 0) == (LengthPredictor().default_bound, None)  # no model: no low


def test_coverage_of_requests_still_running_on_fresh_data(uniform_model):
    model, _, _ = uniform_model
    rng = np.random.default_rng(1)
    xt, yt = to_arrays([LengthSample(int(p), int(o)) for p, o in
                        zip(rng.integers(10, 2000, 3000), rng.integers(1, 1001, 3000), strict=True)])
    for g in (0, 50, 450):
        alive = yt > g
        bounds = np.array([model.predict(f, g) for f in xt[alive][:600]])
        assert np.mean(yt[alive][:600] <= bounds) >= 0.92, g


def test_scores_and_bounds_agree_exactly(uniform_model):
    model, x, _ = uniform_model
    rows = model.leaf_rows(x[:30])
    for g, weight, tau in ((0, 2.0, 0.95), (137, 0.25, 0.9), (420, 16.0, 0.8)):
        gs = np.full(30, float(g))
        bounds = invert(model.cdf_at_edges(rows, gs, weight), np.full(30, tau))
        assert np.all(model.scores(rows, bounds, gs, weight) <= tau + 1e-9)
        assert np.all(model.scores(rows, bounds + 1, gs, weight) > tau)


def test_linear_cdf_equals_average_of_per_tree_cdfs(uniform_model):
    model, x, _ = uniform_model
    for n in (3, 20):  # the einsum and the sparse path
        rows = model.leaf_rows(x[:n])
        g = np.full(n, 120.0)
        fast = model.cdf_at_edges(rows, g, 2.0)
        ends = EDGES - 1.0
        slow = np.stack([model.scores(rows, np.full(n, e + 1.0), g, 2.0) for e in ends], axis=1)
        np.testing.assert_allclose(fast, slow, atol=1e-9)


def test_leaf_without_survivors_falls_back_to_the_prior_and_beyond_training_doubles():
    rng = np.random.default_rng(2)
    short = [LengthSample(100, int(o)) for o in rng.integers(5, 30, 400)]
    long = [LengthSample(5000, int(o)) for o in rng.integers(300, 600, 400)]
    x, y = to_arrays(short + long)
    model = train_length_model(x, y, FAST)
    f_short = short[0].features()
    b = model.predict(f_short, 100)  # no short-prompt leaf has a request longer than 100
    assert 100 < b <= 700
    assert model.predict(f_short, 0) < 60
    assert model.predict(f_short, 5000) == 10001  # beyond every training length: 2 g + 1


def test_a_few_hundred_requests_already_separate_two_kinds_of_request():
    """A fresh server's first ~170 finished requests (two classes, 64 and 128 tokens, told apart by
    prompt length and class): the forest must split them, not fall back to the 128-token marginal."""
    rng = np.random.default_rng(3)
    samples = [LengthSample(128, 64, slo_class="latency") if rng.random() < 0.5 else
               LengthSample(512, 128, slo_class="deadline") for _ in range(170)]
    x, y = to_arrays(samples)
    model = train_length_model(x, y, ForestConfig(quantile=0.95))
    assert model.predict(LengthSample(128, 64, slo_class="latency").features(), 0) == 64
    assert model.predict(LengthSample(512, 128, slo_class="deadline").features(), 0) == 128
    assert ForestConfig().leaf_size(119) == 9 and ForestConfig().leaf_size(6000) == 50


def test_persistence_round_trip_and_both_kinds_load(tmp_path, uniform_model):
    model, x, _ = uniform_model
    path = tmp_path / "surv.npz"
    model.save(path)
    back = load_model(path)
    assert isinstance(back, SurvivalModel) and back.quantile == 0.95
    for g in (0, 75, 333):
        assert [back.predict(f, g) for f in x[:10]] == [model.predict(f, g) for f in x[:10]]
    old = train_length_model(x[:500], np.arange(1, 501), ForestConfig(n_estimators=3, max_depth=4,
                                                                        kind="checkpoint"))
    assert isinstance(old, LengthModel)
    old.save(tmp_path / "old.npz")
    assert isinstance(load_model(tmp_path / "old.npz"), LengthModel)
    assert LengthPredictor.from_path(tmp_path / "old.npz").has_model
    with np.load(path) as z:
        arrays = dict(z)
    arrays["cum"] = arrays["cum"][:, :5]
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match="inconsistent"):
        load_model(tmp_path / "bad.npz")
    with pytest.warns(UserWarning, match="unusable"):
        assert not LengthPredictor.from_path(tmp_path / "bad.npz").has_model
    with pytest.raises(ValueError, match="unknown length model kind"):
        train_length_model(x[:50], np.arange(1, 51), ForestConfig(kind="nope"))


def test_report_fields_average_and_program_source():
    samples, _ = synthetic_samples(1200, seed=4)
    reports = []
    for seed in (0, 1):
        tr, te = iter_split(len(samples), 0.3, seed)
        reports.append(length_report([samples[i] for i in tr], [samples[i] for i in te], "s",
                                     ForestConfig(n_estimators=8, max_depth=6, seed=seed))[0])
    point = reports[0].points[50]
    assert point["remaining_tightness"] >= point["tightness"] >= 1.0
    avg = average_reports(reports)
    assert avg.points[0]["splits"] == 2
    assert avg.points[0]["min_coverage"] == min(r.points[0]["coverage"] for r in reports)
    capped, _ = length_report(samples[:800], samples[800:], "s", ForestConfig(n_estimators=4, max_depth=4),
                              (0,), max_new_tokens=3)
    assert capped.points[0]["tightness"] <= 3.0  # bounds clipped to the cap the requests ran with
    progs, desc = load_source("programs", limit=200)
    assert len(progs) == 200 and "program" in desc
    assert all(s.slo_class == "program" and s.program_kind and s.stage is not None for s in progs)
