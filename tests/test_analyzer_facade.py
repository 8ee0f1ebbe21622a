"""RequestAnalyzer hooks: bounds on arrival/progress, oracle mode, program stage deadlines, errors."""

from __future__ import annotations

import pytest

from tempo_sglang.analyzer import AnalyzerConfig, ProgramGraphError, RequestAnalyzer
from tempo_sglang.analyzer.data import synthetic_samples
from tempo_sglang.analyzer.length_model import ForestConfig, train_length_model
from tempo_sglang.analyzer.predictor import LengthPredictor
from tempo_sglang.analyzer.samples import to_arrays
from tempo_sglang.analyzer.synthetic import small_programs
from tempo_sglang.core.views import DEFAULT_LENGTH_BOUND, RequestView
from tempo_sglang.slo import SLOClass, TempoSLO


def _view(rid="r", cls=SLOClass.LATENCY, prompt_len=200, max_new=4096, **slo_kw) -> RequestView:
    if cls is SLOClass.LATENCY:
        slo_kw = {"ttft_ms": 1000, "tbt_ms": 100, **slo_kw}
    return RequestView(rid=rid, slo=TempoSLO(slo_class=cls, **slo_kw), arrival=0.0, prompt_len=prompt_len,
                       max_new_tokens=max_new)


@pytest.fixture(scope="module")
def predictor():
    samples, _ = synthetic_samples(1500, seed=7)
    x, y = to_arrays(samples)
    return LengthPredictor(train_length_model(x, y, ForestConfig(n_estimators=10, max_depth=8)))


def test_default_bound_before_any_model():
    an = RequestAnalyzer()
    v = _view()
    an.on_arrival(v)
    assert v.length_bound == DEFAULT_LENGTH_BOUND
    v2 = _view(max_new=100)
    an.on_arrival(v2)
    assert v2.length_bound == 100 and v2.remaining_bound() == 100
    assert v.length_low is None  # no distribution to read a low quantile from


def test_progress_refines_every_50_tokens_and_never_falls_below_generated(predictor):
    an = RequestAnalyzer(predictor=predictor)
    v = _view(prompt_len=500)
    an.on_arrival(v, prompt_text="Explain the difference between TCP and UDP.")
    first = v.length_bound
    v.generated = 20
    an.on_progress(v)
    assert v.length_bound == first  # no re-prediction before refine_every tokens
    seen, lows = [], []
    for g in range(50, 3000, 50):
        v.generated = g
        an.on_progress(v)
        assert v.length_bound > g
        # the low quantile refines with the bound (none once past every length seen in training)
        assert v.length_low is None or g < v.length_low <= v.length_bound
        lows.append(v.length_low)
        seen.append(v.length_bound)
    assert len(set(seen)) > 1 and None not in lows[:5] and len(set(lows[:5])) > 1
    an.on_finish(v, now=10.0)
    assert "tempo_analyzer" not in v.extra


def test_oracle_mode_uses_true_lengths():
    an = RequestAnalyzer(AnalyzerConfig(oracle=True))
    v = _view()
    v.true_output_len = 77
    an.on_arrival(v)
    assert v.length_bound == 77 and v.remaining_bound() == 77
    v.generated = 60
    an.on_progress(v)
    assert v.remaining_bound() == 17


def _program_view(pid, node, parents=(), stage=0, at=0.0, kind=None):
    v = RequestView(rid=f"{pid}/{node}", arrival=at, prompt_len=300, max_new_tokens=1024,
                    slo=TempoSLO(slo_class=SLOClass.PROGRAM, deadline_ms=60000, program_id=pid, node_id=node,
                                 parents=tuple(parents), stage=stage, program_kind=kind))
    return v


def test_program_calls_get_stage_deadlines_from_the_library():
    an = RequestAnalyzer()
    for g in small_programs(40, seed=0, kinds=("fork_join",)):
        an.library.add(g)
    plan = _program_view("p1", "plan", at=100.0)
    an.on_arrival(plan)
    assert plan.program_start == 100.0
    assert 100.0 < plan.stage_deadline < 160.0
    plan.generated = 150
    an.on_finish(plan, now=104.0)
    workers = [_program_view("p1", f"m{i}", ["plan"], 1, at=104.1) for i in range(4)]
    for w in workers:
        an.on_arrival(w)
    assert all(w.program_start == 100.0 for w in workers)
    assert plan.stage_deadline < workers[0].stage_deadline < 160.0
    est = an.program_estimate("p1")
    assert est.kind == "fork_join" and est.remaining_calls == 1
    for w in workers:
        w.generated = 40
        an.on_finish(w, now=106.0)
    red = _program_view("p1", "reduce", [w.slo.node_id for w in workers], 2, at=106.1)
    an.on_arrival(red)
    assert red.stage_deadline == pytest.approx(160.0)
    red.generated = 10
    an.on_finish(red, now=107.0)
    n = len(an.library)
    an.end_program("p1", now=108.0)
    assert len(an.library) == n + 1 and "p1" not in an.tracker


def test_malformed_program_call_raises_before_changing_anything():
    an = RequestAnalyzer()
    an.on_arrival(_program_view("p", "a"))
    bad = _program_view("p", "b", ["nope"], 1)
    with pytest.raises(ProgramGraphError, match="unknown parent"):
        an.on_arrival(bad)
    assert bad.length_bound is None and "b" not in an.tracker.get("p").calls
    with pytest.raises(ProgramGraphError, match="reused"):
        an.on_arrival(_program_view("p", "a"))


def test_progress_without_arrival_predicts_without_registering_the_program():
    an = RequestAnalyzer()
    v = _program_view("p", "a")
    v.generated = 10
    an.on_progress(v)
    assert v.length_bound == DEFAULT_LENGTH_BOUND and "p" not in an.tracker
