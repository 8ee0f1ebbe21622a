"""The plugin hands the scheduler's generated token ids to the analyzer: a prefix model sets a live bound."""

from __future__ import annotations

import json

import numpy as np
import pytest
import requests

from tempo_sglang.analyzer.length_model import ForestConfig, train_length_model
from tempo_sglang.analyzer.samples import LengthSample, heads_of, to_arrays
from tempo_sglang.sglang.config import LENGTH_MODEL_ENV

pytestmark = pytest.mark.server

DEADLINE = {"class": "deadline", "deadline_ms": 600000}
MAX_NEW = 120


def _body(stream: bool) -> dict:
    params = {"max_new_tokens": MAX_NEW, "temperature": 0, "ignore_eos": True,
              "custom_params": {"tempo": DEADLINE}}
    return {"text": "Once upon a time", "sampling_params": params, "stream": stream}


@pytest.mark.timeout(600)
def test_live_bound_follows_the_prefix_model(tiny_server, start_server, tmp_path):
    ids = requests.post(tiny_server.url + "/generate", json=_body(False), timeout=300).json()["output_ids"]
    assert len(ids) == MAX_NEW
    # A model whose prompt features are all alike (so the forest can only split on the prefix): answers
    # that begin like this server's greedy answer end by 60-75 tokens; answers beginning with other ids
    # run to 400-450. From the prompt alone the bound is the long one (capped at MAX_NEW).
    rng = np.random.default_rng(0)
    other = [(t + 1000) % 40000 for t in ids]
    samples = [LengthSample(4, int(rng.integers(60, 76)), output_head=list(ids)) if i % 2 else
               LengthSample(4, int(rng.integers(400, 451)), output_head=other) for i in range(300)]
    x, y = to_arrays(samples)
    model = train_length_model(x, y, ForestConfig(n_estimators=10, max_depth=6, quantile=0.9),
                               heads=heads_of(samples))
    assert sorted(model.prefix_models) == [50]
    path = tmp_path / "prefix_model.npz"
    model.save(path)
    server = start_server("tempo", env={LENGTH_MODEL_ENV: str(path)})
    views = []
    with requests.post(server.url + "/generate", json=_body(True), timeout=300, stream=True) as response:
        for line in response.iter_lines():
            if line.startswith(b"data: ") and line != b"data: [DONE]":
                views += json.loads(line[6:])["meta_info"]["tempo"]
    first, last = views[0], views[-1]  # snapshots at the first token and at the end
    assert first["length_bound"] == MAX_NEW and "length_prefix" not in first  # prompt only: could be long
    assert last["length_prefix"] == 50  # the bound was refined from the first 50 generated ids
    # what the prefix model says for this answer (before the max_new_tokens cap), against the prompt alone
    feats = samples[1].features()
    assert model.predict_with_low(feats, 60, 0.25, ids)[0] <= 80 < MAX_NEW < model.predict(feats, 60)
