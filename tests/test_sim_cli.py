"""``tempo-sglang sim`` end to end on a tiny sweep, and the sweep's knee/ratio helpers."""

from __future__ import annotations

import json

import pytest

from tempo_sglang.cli.main import main
from tempo_sglang.sim.sweep import knee_rate, tempo_ratios


def test_sim_command_writes_jsonl_plot_and_summary(tmp_path):
    out = tmp_path / "out"
    rc = main(["sim", "--rates", "3,30", "--seeds", "1", "--num-requests", "40", "--policies", "tempo,fcfs",
               "--jobs", "1", "--out", str(out)])
    assert rc == 0
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert {(r["policy"], r["rate"]) for r in rows} == {("tempo", 3.0), ("tempo", 30.0), ("fcfs", 3.0),
                                                       ("fcfs", 30.0)}
    for r in rows:
        assert r["num_requests"] == r["num_calls"] and r["num_jobs"] == 40
        for key in ("token_goodput", "request_goodput", "slo_attainment", "service_gain_soft",
                    "mean_ttft_ms", "p99_itl_ms", "output_throughput", "latency.slo_attainment",
                    "engine.schedule_calls"):
            assert key in r
    assert (out / "goodput.png").stat().st_size > 1000
    summary = json.loads((out / "summary.json").read_text())
    assert summary["runs"] == 4 and summary["wall_s"] > 0


def _rows(table):
    return [{"policy": p, "rate": r, "seed": s, "slo_attainment": att, "token_goodput": tg}
            for (p, r), (att, tg) in table.items() for s in (0, 1)]


def test_knee_and_ratios():
    rows = _rows({("tempo", 1.0): (99, 100.0), ("fcfs", 1.0): (90, 90.0), ("edf", 1.0): (95, 95.0),
                  ("tempo", 2.0): (80, 80.0), ("fcfs", 2.0): (30, 20.0), ("edf", 2.0): (45, 40.0)})
    assert knee_rate(rows, ["fcfs", "edf"]) == 2.0
    assert knee_rate(rows, ["tempo"]) is None
    assert tempo_ratios(rows, 2.0) == pytest.approx({"fcfs": 4.0, "edf": 2.0})


def test_length_quantile_sets_the_auto_models_bound(tmp_path):
    """``--length-model auto --length-quantile q``: the held-out model gives q-quantile bounds."""
    from tempo_sglang.analyzer.survival_model import load_model

    models = {}
    for q in (0.5, 0.95):
        out = tmp_path / f"q{q}"
        assert main(["sim", "--rates", "3", "--seeds", "1", "--num-requests", "200", "--policies", "tempo",
                     "--jobs", "1", "--analyzer", "default", "--length-model", "auto", "--length-quantile", str(q),
                     "--out", str(out)]) == 0
        models[q] = load_model(out / "length_model.npz")
    assert models[0.5].quantile == 0.5 and models[0.95].quantile == 0.95
