"""Prefix models: the first generated token ids refine the length bound once a request is under way."""

from __future__ import annotations

import numpy as np
import pytest

from tempo_sglang.analyzer.evaluate import evaluate_predictor
from tempo_sglang.analyzer.facade import AnalyzerConfig, RequestAnalyzer
from tempo_sglang.analyzer.length_model import ForestConfig, train_length_model
from tempo_sglang.analyzer.predictor import LengthPredictor
from tempo_sglang.analyzer.prefix_features import N_PREFIX_FEATURES, prefix_features
from tempo_sglang.analyzer.samples import LengthSample, heads_of, read_jsonl, to_arrays, write_jsonl
from tempo_sglang.analyzer.survival_model import SurvivalModel, load_model
from tempo_sglang.core.views import RequestView
from tempo_sglang.slo import SLOClass, TempoSLO

FAST = ForestConfig(n_estimators=12, max_depth=8, quantile=0.95)


def _answers(n: int, seed: int) -> list[LengthSample]:
    """One prompt shape; the answer either loops on a few tokens (and runs long, ~400-480 tokens) or
    is varied prose (~70-130 tokens). Only the generated prefix tells them apart."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        if rng.random() < 0.4:
            cycle = list(rng.integers(100, 50000, 3))
            head, length = (cycle * 100)[:256], int(rng.integers(400, 481))
        else:
            length = int(rng.integers(70, 131))
            head = [int(t) for t in rng.integers(100, 50000, min(length, 256))]
        out.append(LengthSample(200, length, slo_class="deadline", output_head=[int(t) for t in head]))
    return out


@pytest.fixture(scope="module")
def trained():
    train = _answers(1500, 0)
    x, y = to_arrays(train)
    return train_length_model(x, y, FAST, heads=heads_of(train))


def test_prefix_features_see_loops_and_only_the_first_ids():
    loop = prefix_features([5, 6, 7] * 30, 50)
    varied = prefix_features(list(range(1000, 1050)), 50)
    assert loop.shape == (N_PREFIX_FEATURES,)
    assert loop[1] > 0.9 and loop[2] > 0.9 and loop[0] < 0.1  # repeated 4-grams, few distinct tokens
    assert varied[1] == 0 and varied[0] == 1
    assert np.array_equal(prefix_features(list(range(1000, 1050)) + [1] * 99, 50), varied)
    assert not prefix_features([], 50).any()


def test_prefix_model_tightens_bounds_after_50_tokens_and_keeps_coverage(trained):
    model = trained
    assert isinstance(model, SurvivalModel) and sorted(model.prefix_models) == [50, 100, 200]
    test = _answers(600, 1)
    predictor = LengthPredictor(model)
    with_prefix = evaluate_predictor(predictor, test, "t", 1500, 0.95, (0, 50), use_prefix=True)
    prompt_only = evaluate_predictor(predictor, test, "t", 1500, 0.95, (0, 50), use_prefix=False)
    assert with_prefix.points[0] == prompt_only.points[0]  # before generation there is no prefix
    p, q = with_prefix.points[50], prompt_only.points[50]
    assert p["coverage"] >= 0.92 and q["coverage"] >= 0.92
    assert p["tightness"] < 1.5 < q["tightness"]  # the prompt alone cannot tell prose from a loop


def test_prefix_model_needs_the_ids_and_enough_generated_tokens(trained):
    sample = _answers(1, 7)[0]
    feats = sample.features()
    assert trained.prefix_checkpoint(49, sample.output_head) is None
    assert trained.prefix_checkpoint(60, sample.output_head) == 50
    assert trained.prefix_checkpoint(60, None) is None and trained.prefix_checkpoint(160, [1] * 60) == 50
    loop = ([9, 10, 11] * 100)[:256]
    prose = list(range(2000, 2256))
    assert trained.predict_with_low(feats, 60, 0.25, loop)[0] > 380
    assert trained.predict_with_low(feats, 60, 0.25, prose)[0] < 150
    assert trained.predict_with_low(feats, 60, 0.25, None)[0] > 380  # prompt only: could be a loop


def test_prefix_models_persist_and_seed_rows_carry_heads(tmp_path, trained):
    path = tmp_path / "m.npz"
    trained.save(path)
    back = load_model(path)
    assert sorted(back.prefix_models) == [50, 100, 200]
    for s in _answers(20, 3):
        for g in (0, 60, 120):
            assert back.predict_with_low(s.features(), g, 0.25, s.output_head) == \
                trained.predict_with_low(s.features(), g, 0.25, s.output_head)
    write_jsonl(tmp_path / "s.jsonl", _answers(3, 4))
    rows = read_jsonl(tmp_path / "s.jsonl")
    assert len(rows) == 3 and all(len(r.output_head) >= 70 for r in rows)
    (tmp_path / "bad.jsonl").write_text('{"prompt_len": 5, "output_len": 3, "output_head": ["x"]}\n')
    with pytest.warns(UserWarning, match="malformed"):
        assert read_jsonl(tmp_path / "bad.jsonl") == []


def test_facade_refines_from_output_ids_and_learns_the_head(trained):
    analyzer = RequestAnalyzer(AnalyzerConfig(quantile=0.95), predictor=LengthPredictor(trained))
    view = RequestView(rid="r", slo=TempoSLO(slo_class=SLOClass.DEADLINE, deadline_ms=60000), arrival=0.0,
                       prompt_len=200, max_new_tokens=1000)
    analyzer.on_arrival(view)
    first = view.length_bound
    view.generated = 60
    analyzer.on_progress(view, list(range(3000, 3060)))
    assert view.length_bound < 150 < first
    view.generated = 110
    analyzer.on_progress(view)  # no ids (the simulator): the prompt-only bound, which allows a loop
    assert view.length_bound > 380
