"""Length predictor: compiled forest fidelity, coverage, tightening, persistence and fallbacks."""

from __future__ import annotations

import numpy as np
import pytest

from tempo_sglang.analyzer.data import synthetic_samples
from tempo_sglang.analyzer.evaluate import evaluate_predictor, length_report
from tempo_sglang.analyzer.length_model import (
    ForestConfig,
    LengthModel,
    augment,
    compile_forest,
    train_length_model,
)
from tempo_sglang.analyzer.predictor import LengthPredictor
from tempo_sglang.analyzer.samples import LengthSample, iter_split, read_jsonl, to_arrays, write_jsonl
from tempo_sglang.analyzer.survival_model import load_model
from tempo_sglang.core.views import DEFAULT_LENGTH_BOUND

FAST = ForestConfig(n_estimators=20, max_depth=10)


@pytest.fixture(scope="module")
def split():
    samples, desc = synthetic_samples(3000, seed=1)
    tr, te = iter_split(len(samples), 0.3, seed=1)
    return [samples[i] for i in tr], [samples[i] for i in te], desc


@pytest.fixture(scope="module")
def trained(split):
    train, test, desc = split
    return length_report(train, test, desc, FAST)


def test_compiled_forest_equals_quantile_forest_per_tree_estimator():
    from quantile_forest import RandomForestQuantileRegressor

    samples, _ = synthetic_samples(600, seed=3)
    x, y = to_arrays(samples)
    xa, ya, _ = augment(x, y)
    forest = RandomForestQuantileRegressor(n_estimators=5, max_depth=6, min_samples_leaf=10, bootstrap=False,
                                           max_features=0.5, max_samples_leaf=None, random_state=0).fit(xa, ya)
    arrays = compile_forest(forest, xa, ya, 0.9)
    model = LengthModel(*arrays, offsets=np.zeros(13, np.float32), meta={"quantile": 0.9})
    ours = model.predict_log(xa[:200])
    ref = forest.predict(xa[:200], quantiles=0.9, aggregate_leaves_first=False)
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-4)


def test_p95_coverage_on_held_out_lognormal(trained):
    report, _ = trained
    for g, point in report.points.items():
        assert point["coverage"] >= 0.92, (g, point)


def test_bound_tightens_as_tokens_are_generated(trained):
    report, _ = trained
    tight = [report.points[g]["tightness"] for g in (0, 50, 200)]
    assert tight[0] > tight[1] > tight[2], tight


def test_bound_stays_above_generated_and_under_max_new_tokens(trained):
    _, predictor = trained
    feats = LengthSample(100, 10, slo_class="latency").features()
    for g in (0, 49, 50, 333, 5000, 20000):
        b = predictor.bound(feats, g, max_new_tokens=30000)
        assert b > g
    assert predictor.bound(feats, 0, max_new_tokens=7) == 7


def test_default_bound_without_model():
    p = LengthPredictor()
    feats = LengthSample(10, 1).features()
    assert p.bound(feats, 0) == DEFAULT_LENGTH_BOUND
    assert p.bound(feats, 0, max_new_tokens=64) == 64
    assert p.bound(feats, 600) > 600


def test_persistence_round_trip(tmp_path, trained, split):
    _, predictor = trained
    path = tmp_path / "m.npz"
    predictor.model.save(path)
    loaded = LengthPredictor.from_path(path)
    assert loaded.has_model and loaded.model.quantile == 0.95
    x, _ = to_arrays(split[1][:50])
    for f in x:
        assert loaded.bound(f, 0) == predictor.bound(f, 0)
        assert loaded.bound(f, 120) == predictor.bound(f, 120)


def test_missing_and_corrupt_model_files_fall_back_with_warning(tmp_path, trained):
    with pytest.warns(UserWarning, match="not found"):
        p = LengthPredictor.from_path(tmp_path / "nope.npz")
    assert not p.has_model and p.bound(LengthSample(5, 5).features()) == DEFAULT_LENGTH_BOUND
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"this is not a zip file")
    with pytest.warns(UserWarning, match="unusable"):
        p = LengthPredictor.from_path(bad)
    assert not p.has_model
    # a broken file never replaces a working model
    _, good = trained
    keeper = LengthPredictor(good.model)
    with pytest.warns(UserWarning):
        assert keeper.load(bad) is False
    assert keeper.model is good.model


def test_seed_jsonl_round_trip_and_cli(tmp_path):
    samples, _ = synthetic_samples(300, seed=5)
    samples[0].prompt = "def add(a, b):\n    return a + b"
    path = tmp_path / "seed.jsonl"
    write_jsonl(path, samples)
    with open(path, "a") as fh:
        fh.write('{"prompt_len": 3}\nnot json\n')
    with pytest.warns(UserWarning, match="skipped 2"):
        back = read_jsonl(path)
    assert len(back) == 300 and back[0].prompt == samples[0].prompt and back[1].slo_class == samples[1].slo_class

    from tempo_sglang.cli.main import main
    out = tmp_path / "model.npz"
    with pytest.warns(UserWarning):
        assert main(["predictor", "seed", "--jsonl", str(path), "--out", str(out)]) == 0
    model = load_model(out)
    assert model.n_samples == 300
    report = evaluate_predictor(LengthPredictor(model), back[:100], "seed", 300, 0.95)
    assert report.points[0]["coverage"] > 0.8
    cfg = ForestConfig(n_estimators=5)
    x, y = to_arrays(back)
    assert train_length_model(x, y, cfg).feature.shape[0] == 5
