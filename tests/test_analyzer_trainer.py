"""The background trainer process: receives samples over ZMQ, retrains, and the new model is picked up."""

from __future__ import annotations

import time

import pytest

from tempo_sglang.analyzer import AnalyzerConfig, RequestAnalyzer
from tempo_sglang.analyzer.data import synthetic_samples
from tempo_sglang.analyzer.samples import read_jsonl
from tempo_sglang.analyzer.trainer import TrainerClient
from tempo_sglang.core.views import DEFAULT_LENGTH_BOUND, RequestView
from tempo_sglang.slo import SLOClass, TempoSLO


def _wait(cond, timeout=90.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.2)
    return False


def _push_all(client, samples) -> int:
    """Push every sample, retrying while the freshly spawned trainer is not connected yet."""
    return sum(_wait(lambda s=s: client.push(s), timeout=60.0) for s in samples)


@pytest.mark.timeout(180)
def test_trainer_process_learns_from_pushed_samples(tmp_path):
    client = TrainerClient.spawn(str(tmp_path), retrain_every=100, min_samples=100)
    other_rank = TrainerClient(str(tmp_path))  # connect-only, like a second TP rank
    try:
        samples, _ = synthetic_samples(150, seed=11)
        # pushing never blocks: a push before the trainer is up returns False and is retried
        sent = _push_all(client, samples[:75]) + _push_all(other_rank, samples[75:])
        assert sent == 150
        path = []
        assert _wait(lambda: path.append(client.poll_update()) or path[-1] is not None), "no model published"
        assert path[-1].endswith("length_model.npz") and client.version == 1
        assert (tmp_path / "samples.jsonl").read_text().count("\n") == 150
        assert _wait(lambda: other_rank.poll_update() is not None), "second client saw no model"
    finally:
        client.close()
        other_rank.close()
    assert client.process is None


@pytest.mark.timeout(180)
def test_analyzer_online_mode_picks_up_retrained_model(tmp_path):
    cfg = AnalyzerConfig(online=True, trainer_dir=str(tmp_path), retrain_every=100, poll_interval_s=0.0)
    an = RequestAnalyzer(cfg)
    try:
        samples, _ = synthetic_samples(120, seed=12)
        time.sleep(3.0)  # the trainer process starts in the background; give it time to bind
        for i, s in enumerate(samples):
            v = RequestView(rid=f"r{i}", slo=TempoSLO(slo_class=SLOClass(s.slo_class)), arrival=float(i),
                            prompt_len=s.prompt_len, max_new_tokens=8192)
            an.on_arrival(v)
            assert v.length_bound == DEFAULT_LENGTH_BOUND
            v.generated = s.output_len
            an.on_finish(v, now=float(i) + 1, output_ids=list(range(7, 7 + s.output_len)))
        assert _wait(an.poll), "the analyzer never picked up a model"
        # the trainer retrains once ``retrain_every`` samples are pending: whether the last 20 had arrived by
        # then depends on timing, so the first model holds between 100 and 120 samples
        assert an.predictor.has_model and 100 <= an.predictor.model.n_samples <= 120
        assert _wait(lambda: (tmp_path / "samples.jsonl").exists()
                     and (tmp_path / "samples.jsonl").read_text().count("\n") == 120), "samples were lost"
        logged = read_jsonl(tmp_path / "samples.jsonl")  # each with its answer's first token ids
        assert [r.output_head for r in logged] == [list(range(7, 7 + min(256, s.output_len))) for s in samples]
        v = RequestView(rid="new", slo=TempoSLO(slo_class=SLOClass.BEST_EFFORT), arrival=0.0, prompt_len=300,
                        max_new_tokens=8192)
        an.on_arrival(v)
        assert v.length_bound != DEFAULT_LENGTH_BOUND
    finally:
        an.close()
