"""``tempo-sglang bench`` and ``report`` end to end on the tiny model: files, keys and forced lengths.

One run launches its own server (policy fcfs); one runs against the session's Tempo server (``--url``),
appending to the same directory; then ``report --sim`` renders the table, the plots and the
simulator comparison.
"""

from __future__ import annotations

import json

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
    for png in ("goodput.png", "classes.png"):
        assert (out / png).stat().st_size > 5000
