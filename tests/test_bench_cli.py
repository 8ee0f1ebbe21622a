"""``tempo-sglang bench`` and ``report`` end to end on the tiny model: files, keys and forced lengths.

One run launches its own server (policy fcfs); one runs against the session's Tempo server (``--url``),
appending to the same directory; then ``report --sim`` renders the table, the plots and the
simulator comparison.
"""

from __future__ import annotations

import json
import math

import pytest

from tempo_sglang.cli.main import main

SPEC_KEYS = ("request_goodput", "token_goodput", "token_goodput_soft", "service_gain", "slo_attainment",
             "latency_attainment", "latency_gap_attainment", "deadline_attainment", "program_attainment",
             "best_effort_throughput", "num_demoted", "latency.slo_attainment", "program.num_programs")
SGLANG_KEYS = ("completed", "request_throughput", "output_throughput", "mean_ttft_ms", "median_ttft_ms",
               "p99_ttft_ms", "mean_tpot_ms", "median_itl_ms", "mean_e2e_latency_ms", "total_input_tokens")
RUN_KEYS = ("policy", "rate", "seed", "workload", "profile", "num_jobs", "num_calls", "slo_scale",
            "length_scale", "window_s", "drain_s")


def test_bench_and_report_on_tiny_model(tmp_path, tiny_server):
    out = tmp_path / "bench"
    common = ["--model", "tiny", "--workload", "paper-mix", "--rates", "1.5", "--duration", "6", "--drain", "40",
              "--out", str(out), "--detail", "--no-progress", "--length-model", "none"]
    assert main(["bench", "--policies", "fcfs", *common]) == 0
    assert main(["bench", "--policies", "tempo", "--url", tiny_server.url, *common]) == 0
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["policy"] for r in rows] == ["fcfs", "tempo"]
    for row in rows:
        for key in (*SPEC_KEYS, *SGLANG_KEYS, *RUN_KEYS):
            assert key in row, key
        assert row["num_jobs"] == 9 and row["num_calls"] >= 9 and row["num_requests"] == row["num_calls"]
        assert row["profile"] == "tiny-llama-cpu" and row["length_scale"] == 0.25
        assert row["num_error"] == 0 and row["completed"] > 0
        detail = [json.loads(line) for line in
                  (out / "requests" / f"{row['policy']}-r1.5-s0.jsonl").read_text().splitlines()]
        assert len(detail) == row["num_calls"]  # a record for every call, sent or not
        for rec in detail:
            assert rec["status"] in ("ok", "aborted", "dropped")
            if rec["status"] == "ok":  # the client forced the recorded length (max_new_tokens stayed higher)
                assert rec["tokens"] == rec["target_len"]
    assert main(["report", str(out), "--sim"]) == 0
    report = (out / "report.md").read_text()
    assert "| fcfs | 1.5 | 1 |" in report and "| tempo | 1.5 | 1 |" in report
    assert "tempo / fcfs" in report and "sim / live" in report
    measured = json.loads((out / "measured-profile.json").read_text())  # fitted to the tempo server's steps
    assert "iterations" in measured["provenance"] and measured["coefficients"]["c0"] > 0
    sums = next(r for r in rows if r["policy"] == "tempo")["scheduler"]["cost_sums"]
    decoded = sum(rec["tokens"] or 0 for rec in map(json.loads, (out / "requests" / "tempo-r1.5-s0.jsonl").open()))
    assert 6 <= sums["n"] and sums["decode_steps"] <= decoded + 4  # this run's share, not the shared server's life
    for png in ("goodput.png", "classes.png"):
        assert (out / png).stat().st_size > 5000


def test_bench_on_the_simulator_writes_the_same_rows(tmp_path):
    """``--engine sim``: the same workload and row keys from the simulator, no server; report renders them."""
    from tempo_sglang.sim.costmodel import host_profile
    from tempo_sglang.workloads import make_workload
    from tempo_sglang.workloads.release import cutoff_time

    out = tmp_path / "sim"
    args = ["bench", "--engine", "sim", "--policies", "tempo,fcfs", "--workload", "paper-mix", "--rates", "0.2,0.4",
            "--duration", "60", "--drain", "30", "--seeds", "2", "--out", str(out), "--no-progress"]
    assert main(args) == 0
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * 2 * 2 and {r["engine"] for r in rows} == {"sim"}
    for row in rows:
        for key in (*SPEC_KEYS, *RUN_KEYS):
            assert key in row, key
        assert row["profile"] == host_profile("smollm2-135m-cpu") and row["num_jobs"] == math.ceil(row["rate"] * 60)
        wl = make_workload("paper-mix", row["rate"], row["seed"], row["num_jobs"], slo_scale=row["slo_scale"],
                           length_scale=row["length_scale"])
        # the cut: drain after the last arrival, as live (the step in flight at the cut may end it)
        assert row["duration"] <= cutoff_time(wl.items, 30) + 2.0
    assert (out / "length_model.npz").is_file()  # the held-out length model the live servers would get
    # deterministic: the same command gives the same figures
    again = tmp_path / "again"
    assert main([*args[:-2], str(again), "--no-progress"]) == 0
    rows2 = [json.loads(line) for line in (again / "results.jsonl").read_text().splitlines()]
    assert [r["request_goodput"] for r in rows] == [r["request_goodput"] for r in rows2]
    # --first-seed adds seeds later: seed 1 alone gives the same figures as seed 1 of the first run
    later = tmp_path / "later"
    assert main([*args[:args.index("--seeds")], "--seeds", "1", "--first-seed", "1", "--out", str(later),
                 "--no-progress"]) == 0
    rows3 = [json.loads(line) for line in (later / "results.jsonl").read_text().splitlines()]
    assert {r["seed"] for r in rows3} == {1}
    assert [r["request_goodput"] for r in rows3] == [r["request_goodput"] for r in rows if r["seed"] == 1]
    assert main(["report", str(out)]) == 0 and "| tempo | 0.2 | 2 |" in (out / "report.md").read_text()


def test_top_level_custom_params_on_native_generate(tiny_server):
    """SGLang's bench client puts --extra-request-body at the top level of /generate: the SLO must arrive."""
    import requests

    url, base = tiny_server.url + "/generate", {"input_ids": [300, 301, 302], "sampling_params": {"max_new_tokens": 3}}
    slo = {"class": "latency", "ttft_ms": 3000, "tbt_ms": 300}
    ok = requests.post(url, json={**base, "custom_params": {"tempo": slo}}, timeout=60)
    assert ok.status_code == 200 and ok.json()["meta_info"]["tempo"][-1]["class"] == "latency"
    bad = requests.post(url, json={**base, "custom_params": {"tempo": {**slo, "ttft_ms": -5}}}, timeout=60)
    assert bad.status_code == 400 and "ttft_ms" in bad.text
    both = {"input_ids": [300, 301], "custom_params": {"tempo": slo},
            "sampling_params": {"max_new_tokens": 3, "custom_params": {"tempo": {"class": "best_effort"}}}}
    clash = requests.post(url, json=both, timeout=60)
    assert clash.status_code == 400 and "different values" in clash.text
    assert requests.post(url, json=base, timeout=60).status_code == 200  # still serving


def test_sglang_bench_serving_runs_against_tempo(tiny_server, tiny_model_path, tmp_path):
    import subprocess
    import sys

    extra = json.dumps({"custom_params": {"tempo": {"class": "latency", "ttft_ms": 3000, "tbt_ms": 300}}})
    cmd = [sys.executable, "-m", "sglang.benchmark.serving", "--backend", "sglang", "--base-url", tiny_server.url,
           "--model", str(tiny_model_path), "--tokenizer", str(tiny_model_path), "--dataset-name", "random-ids",
           "--num-prompts", "6", "--random-input-len", "32", "--random-output-len", "8", "--request-rate", "4",
           "--goodput", "ttft:3000", "tpot:300", "--extra-request-body", extra,
           "--output-file", str(tmp_path / "sglang_bench.jsonl")]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Successful requests:                     6" in out.stdout and "Request goodput (req/s)" in out.stdout


def test_move_custom_params_unit():
    from tempo_sglang.sglang.generate_body import SLOPlacementError, move_custom_params

    body = move_custom_params({"text": ["a", "b"], "sampling_params": [{}, {"max_new_tokens": 2}],
                               "custom_params": {"tempo": {"class": "best_effort"}}})
    assert "custom_params" not in body
    assert all(p["custom_params"] == {"tempo": {"class": "best_effort"}} for p in body["sampling_params"])
    assert move_custom_params({"text": "a"}) == {"text": "a"}
    import pytest

    with pytest.raises(SLOPlacementError):
        move_custom_params({"custom_params": "x"})


def test_policy_options_reach_the_policy_in_bench_and_sim(tmp_path):
    """``--policy-options`` is what every server gets (serve's option) and what the simulator's policy
    is built with; a bad value fails loudly instead of being ignored."""
    out = tmp_path / "po"
    base = ["bench", "--engine", "sim", "--policies", "tempo", "--workload", "paper-mix", "--rates", "0.3",
            "--duration", "30", "--drain", "20", "--no-progress", "--length-model", "none"]
    assert main([*base, "--out", str(out), "--policy-options", '{"step_choice": "tight"}']) == 0
    row = json.loads((out / "results.jsonl").read_text().splitlines()[0])
    assert row["policy_options"] == {"step_choice": "tight"}
    with pytest.raises(ValueError, match="step_choice"):
        main([*base, "--out", str(tmp_path / "bad"), "--policy-options", '{"step_choice": "nope"}'])
    with pytest.raises(ValueError, match="JSON object"):
        main(["sim", "--rates", "3", "--seeds", "1", "--num-requests", "10", "--policies", "tempo", "--jobs", "1",
              "--out", str(tmp_path / "s"), "--policy-options", "[1]"])


def test_measured_profile_pools_the_servers_iterations(tmp_path):
    """The replay's profile is fitted once to every iteration of every plugin-scheduled server (rows'
    ``cost_sums``), whatever the rate; a stock fcfs row brings none; too few iterations: no profile."""
    from tempo_sglang.bench.sim_compare import measured_profile
    from tempo_sglang.sim.cost_sums import CostSums, step_features
    from tempo_sglang.sim.costmodel import load_profile

    truth = load_profile("smollm2-135m-cpu-amx")
    slow = (truth.coeffs[0] * 1.2, truth.coeffs[1], truth.coeffs[2], truth.coeffs[3] * 1.5, truth.coeffs[4] * 2)

    def row(policy, rate, steps):
        if steps is None:
            return {"policy": policy, "rate": rate, "profile": "smollm2-135m-cpu-amx", "scheduler": None}
        sums = CostSums()
        for b, ctx, chunk in steps:
            feats = step_features([(chunk, ctx)] if chunk else (), 0 if chunk else b, 0 if chunk else b * ctx)
            c0, c1, c2, c3, c4 = slow
            sums.add(feats, c0 + c1 * feats[1] + c2 * feats[2] + c3 * feats[3] + c4 * feats[4] + 0.02 * feats[5])
        return {"policy": policy, "rate": rate, "profile": "smollm2-135m-cpu-amx",
                "scheduler": {"cost_sums": sums.to_dict()}}

    light = [(b, 300, 0) for b in (1, 2, 3)] + [(1, 0, n) for n in (64, 300)]
    heavy = [(b, c, 0) for b in (20, 40) for c in (300, 900)] + [(1, k, 500) for k in (0, 800)]
    rows = [row("fcfs", 2.0, None), row("tempo", 0.5, light), row("edf", 2.0, heavy)]
    cost = load_profile(measured_profile(rows, "smollm2-135m-cpu-amx", tmp_path))
    assert cost.coeffs == pytest.approx(slow, rel=1e-3)
    assert cost.prefill_pass == pytest.approx(0.02, rel=1e-3)
    assert cost.kv_capacity_tokens == truth.kv_capacity_tokens
    assert measured_profile(rows[:2], "smollm2-135m-cpu-amx", tmp_path) is None  # 5 iterations: too few
    assert measured_profile(rows[:1], "smollm2-135m-cpu-amx", tmp_path) is None  # fcfs alone: none
