"""Tempo scheduling inside a real SGLang server (tiny random-weight model, CPU)."""

from __future__ import annotations

import concurrent.futures as futures
import time

import pytest
import requests

pytestmark = pytest.mark.server

PROMPT = [11, 22, 33, 44, 55, 66, 77, 88]


def _generate(url, input_ids, max_new_tokens, tempo=None, timeout=300):
    params = {"max_new_tokens": max_new_tokens, "temperature": 0, "ignore_eos": True}
    if tempo is not None:
        params["custom_params"] = {"tempo": tempo}
    started = time.time()
    response = requests.post(url + "/generate", json={"input_ids": input_ids, "sampling_params": params},
                             timeout=timeout)
    return response, started, time.time()


def _long_prompt(seed: int, n: int) -> list[int]:
    return [(seed * 7919 + i * 104729) % 40000 + 100 for i in range(n)]


def test_parked_request_resumes_with_identical_greedy_tokens(start_server):
    server = start_server("tempo", ["--chunked-prefill-size", "128"])
    latency = {"class": "latency", "ttft_ms": 30000, "tbt_ms": 3000}
    solo, _, _ = _generate(server.url, PROMPT, 160, latency)
    assert solo.status_code == 200
    with futures.ThreadPoolExecutor(12) as pool:
        target = pool.submit(_generate, server.url, PROMPT, 160, latency)
        time.sleep(0.1)
        load = [pool.submit(_generate, server.url, _long_prompt(i, 1500), 4,
                            {"class": "deadline", "deadline_ms": 20000}) for i in range(10)]
        contended = target.result()[0]
        assert all(f.result()[0].status_code == 200 for f in load)
    assert contended.status_code == 200
    view = contended.json()["meta_info"]["tempo"][-1]
    assert view["parked_s"] > 0, repr(view)  # it really was parked while prompts were being prefilled
    assert contended.json()["output_ids"] == solo.json()["output_ids"]


def test_urgent_request_overtakes_queued_best_effort(start_server):
    server = start_server("tempo", ["--max-running-requests", "2"])
    with futures.ThreadPoolExecutor(8) as pool:
        best_effort = []
        for i in range(6):
            best_effort.append(pool.submit(_generate, server.url, _long_prompt(i, 32), 200))
            time.sleep(0.05)
        time.sleep(0.3)
        urgent = pool.submit(_generate, server.url, PROMPT, 8, {"class": "deadline", "deadline_ms": 60000})
        urgent_response, _, urgent_done = urgent.result()
        be_done = sorted(f.result()[2] for f in best_effort)
    assert urgent_response.status_code == 200
    # Stock FCFS would finish it after every best-effort request queued before it; Tempo admits it
    # at the first free slot, so at most the two requests running at its arrival finish earlier.
    assert urgent_done < be_done[3]


def test_program_siblings_are_admitted_in_the_same_pass(start_server):
    server = start_server("tempo", ["--chunked-prefill-size", "600", "--max-prefill-tokens", "600"])
    program = {"class": "program", "program_id": "sib-test", "deadline_ms": 60000, "parents": ["root"],
               "stage": 1}
    root = {"class": "program", "program_id": "sib-test", "node_id": "root", "deadline_ms": 60000}
    assert _generate(server.url, PROMPT, 2, root)[0].status_code == 200
    prompts = [_long_prompt(1, 300), _long_prompt(2, 300), _long_prompt(3, 300)]  # a + b fill the budget
    params = [
        {"max_new_tokens": 4, "ignore_eos": True, "custom_params": {"tempo": {**program, "node_id": "a"}}},
        {"max_new_tokens": 4, "ignore_eos": True},
        {"max_new_tokens": 4, "ignore_eos": True, "custom_params": {"tempo": {**program, "node_id": "b"}}},
    ]
    with futures.ThreadPoolExecutor(1) as pool:
        # a long best-effort prompt, prefilled in 600-token chunks, keeps the queue from draining
        # until all three requests below are waiting, so the admission order decides
        blocker = pool.submit(_generate, server.url, _long_prompt(9, 6000), 2)
        time.sleep(0.15)
        out = requests.post(server.url + "/generate", json={"input_ids": prompts, "sampling_params": params},
                            timeout=300)
        assert blocker.result()[0].status_code == 200
    assert out.status_code == 200, out.text
    a, x, b = (item["meta_info"]["tempo"][-1] for item in out.json())
    passes = (a["admitted_pass"], x["admitted_pass"], b["admitted_pass"])
    # Queue order a, x, b with room for two prompts per step: stock admission would split the fork
    # (a with x, b a step later). Tempo admits the branches together.
    assert a["admitted_pass"] == b["admitted_pass"], passes


def test_burst_under_kv_pressure_loses_no_request(start_server):
    server = start_server("tempo", ["--max-total-tokens", "2500", "--max-running-requests", "24"])
    tempos = [{"class": "latency", "ttft_ms": 20000, "tbt_ms": 2000},
              {"class": "deadline", "deadline_ms": 120000}, None]
    with futures.ThreadPoolExecutor(30) as pool:
        jobs = [pool.submit(_generate, server.url, _long_prompt(i, 100), 120, tempos[i % 3]) for i in range(30)]
        results = [f.result()[0] for f in jobs]
    assert [r.status_code for r in results] == [200] * 30
    assert all(r.json()["meta_info"]["completion_tokens"] == 120 for r in results)
    assert requests.get(server.url + "/health_generate", timeout=60).status_code == 200


def test_max_wait_gives_an_explicit_error(start_server):
    server = start_server("tempo", ["--max-running-requests", "1"])
    with futures.ThreadPoolExecutor(2) as pool:
        blocker = pool.submit(_generate, server.url, PROMPT, 400)
        time.sleep(0.5)
        waited, _, _ = _generate(server.url, PROMPT, 4, {"class": "deadline", "deadline_ms": 60000,
                                                          "max_wait_ms": 300})
        assert blocker.result()[0].status_code == 200
    assert waited.status_code == 408, waited.text
    assert "max_wait" in waited.text
    assert _generate(server.url, PROMPT, 4)[0].status_code == 200


def test_prometheus_metrics_report_tempo_decisions(start_server):
    server = start_server("tempo", ["--enable-metrics"])
    for tempo in ({"class": "deadline", "deadline_ms": 60000}, {"class": "latency", "ttft_ms": 20000, "tbt_ms": 5000}):
        assert _generate(server.url, PROMPT, 8, tempo)[0].status_code == 200
    assert _generate(server.url, PROMPT, 4)[0].status_code == 200  # one more pass sees the finishes
    text = requests.get(server.url + "/metrics", timeout=60).text
    finished = [line for line in text.splitlines() if line.startswith("tempo_requests_finished_total{")]
    assert any('slo_class="deadline"' in line and float(line.split()[-1]) >= 1 for line in finished), finished
    assert any(line.startswith("tempo_requests_slo_met_total{") for line in text.splitlines())
    assert "tempo_scheduling_pass_seconds_count" in text
    assert "tempo_parked_requests" in text
