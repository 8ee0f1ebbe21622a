"""End to end on a real SGLang server (tiny random-weight model) with the Tempo plugin."""

from __future__ import annotations

import json

import psutil
import pytest
import requests

pytestmark = pytest.mark.server

LATENCY = {"class": "latency", "ttft_ms": 5000, "tbt_ms": 1000}


def _generate(server, tempo=None, max_new_tokens=8, stream=False, **extra):
    params = {"max_new_tokens": max_new_tokens, "temperature": 0, "ignore_eos": True}
    if tempo is not None:
        params["custom_params"] = {"tempo": tempo}
    body = {"text": "The quick brown fox", "sampling_params": params, "stream": stream, **extra}
    return requests.post(server.url + "/generate", json=body, timeout=120, stream=stream)


def test_tempo_view_is_computed_inside_the_scheduler_process(tiny_server):
    response = _generate(tiny_server, LATENCY)
    assert response.status_code == 200, response.text
    meta = response.json()["meta_info"]
    view = meta["tempo"][-1]
    assert view["class"] == "latency" and view["policy"] == "tempo"
    assert view["first_token_due"] == pytest.approx(view["arrival"] + 5.0)
    scheduler_pid = view["scheduler_pid"]
    server_children = {p.pid for p in psutil.Process(tiny_server.process.pid).children(recursive=True)}
    assert scheduler_pid != tiny_server.process.pid
    assert scheduler_pid in server_children
    assert "sglang::scheduler" in " ".join(psutil.Process(scheduler_pid).cmdline()) or \
        psutil.Process(scheduler_pid).name().startswith("sglang")
    assert meta["completion_tokens"] == 8


def test_best_effort_without_tempo_key(tiny_server):
    response = _generate(tiny_server, None)
    assert response.status_code == 200
    assert response.json()["meta_info"]["tempo"][-1]["class"] == "best_effort"


@pytest.mark.parametrize("tempo, field", [
    ({"class": "latency", "ttft_ms": -1, "tbt_ms": 50}, "ttft_ms"),
    ({"class": "deadline", "deadline_ms": "soon"}, "deadline_ms"),
    ({"class": "deadline", "deadline_ms": 1e15}, "deadline_ms"),
    ({"class": "program", "program_id": "p", "node_id": "a", "deadline_ms": 10, "parents": ["a"]}, "parents"),
    ({"class": "nope"}, "class"),
    ({"class": "deadline", "deadline_ms": 100, "_arrival": 0}, "_arrival"),
])
def test_invalid_slo_is_a_400_and_the_server_keeps_serving(tiny_server, tempo, field):
    bad = _generate(tiny_server, tempo)
    assert bad.status_code == 400
    assert field in bad.json()["error"]["message"]
    good = _generate(tiny_server, LATENCY)
    assert good.status_code == 200


def test_openai_route_with_slo_and_invalid_slo(tiny_server):
    url = tiny_server.url + "/v1/chat/completions"
    body = {"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4,
            "temperature": 0}
    ok = requests.post(url, json={**body, "custom_params": {"tempo": {"class": "deadline", "deadline_ms": 30000}}},
                       timeout=120)
    assert ok.status_code == 200 and ok.json()["usage"]["completion_tokens"] >= 1
    bad = requests.post(url, json={**body, "custom_params": {"tempo": {"class": "deadline"}}}, timeout=120)
    assert bad.status_code == 400 and "deadline_ms" in bad.text
    assert requests.post(url, json=body, timeout=120).status_code == 200


def test_streaming_reports_tempo_view_and_greedy_is_deterministic(tiny_server):
    first = _generate(tiny_server, LATENCY, max_new_tokens=12).json()["output_ids"]
    chunks = []
    with _generate(tiny_server, LATENCY, max_new_tokens=12, stream=True) as response:
        for line in response.iter_lines():
            if line.startswith(b"data: ") and line != b"data: [DONE]":
                chunks.append(json.loads(line[6:]))
    assert chunks[-1]["output_ids"] == first
    assert chunks[-1]["meta_info"]["tempo"][-1]["class"] == "latency"


def test_oversized_request_is_rejected_and_server_keeps_serving(tiny_server):
    body = {"input_ids": [5] * 20000, "sampling_params": {"max_new_tokens": 4}}
    response = requests.post(tiny_server.url + "/generate", json=body, timeout=120)
    assert response.status_code == 400
    assert _generate(tiny_server, LATENCY).status_code == 200


def test_batch_sharing_one_tempo_dict_and_parallel_samples(tiny_server):
    shared = {"max_new_tokens": 4, "temperature": 0, "ignore_eos": True,
              "custom_params": {"tempo": {"class": "deadline", "deadline_ms": 30000}}}
    out = requests.post(tiny_server.url + "/generate", json={"text": ["a b c", "d e f"], "sampling_params": shared},
                        timeout=120)
    assert out.status_code == 200, out.text
    assert [item["meta_info"]["tempo"][-1]["class"] for item in out.json()] == ["deadline", "deadline"]
    program = {"class": "program", "program_id": "n-samples", "node_id": "root", "deadline_ms": 30000}
    params = {"max_new_tokens": 4, "temperature": 0.8, "n": 2, "custom_params": {"tempo": program}}
    sampled = requests.post(tiny_server.url + "/generate", json={"text": "x y", "sampling_params": params},
                            timeout=120)
    assert sampled.status_code == 200, sampled.text
    assert len(sampled.json()) == 2
    assert _generate(tiny_server, LATENCY).status_code == 200


def _scheduler_figures(server) -> dict:
    return _generate(server, LATENCY, max_new_tokens=2).json()["meta_info"]["tempo"][-1]["scheduler"]


def test_a_stop_through_tempo_complete_ends_the_request_as_completed(tiny_server):
    """``POST /tempo/complete`` stops a streaming request, as ``/abort_request`` would, but the scheduler
    counts it as completed (so the analyzer learns from it). An unknown rid is answered with ``stopped: false``; a body without a rid is a 400."""
    import uuid

    from tempo_sglang.bench.client import LiveRequest, send_request
    from tempo_sglang.slo import parse_tempo_params

    async def stopped_early(rid):
        import aiohttp

        async with aiohttp.ClientSession() as session:
            req = LiveRequest(rid=rid, slo=parse_tempo_params(LATENCY), max_new_tokens=4000, ignore_eos=True,
                              input_ids=list(range(100, 140)), stop_after=3)
            return await send_request(session, tiny_server.url, req)

    import asyncio
    import time

    before = _scheduler_figures(tiny_server)["client_completed"]
    result = asyncio.run(stopped_early(f"complete-{uuid.uuid4().hex}"))
    assert result.record.status == "ok" and result.record.output_len == 3
    deadline = time.time() + 30
    while _scheduler_figures(tiny_server)["client_completed"] == before and time.time() < deadline:
        time.sleep(0.5)  # the scheduler notes the end at its next pass
    assert _scheduler_figures(tiny_server)["client_completed"] == before + 1
    unknown = requests.post(tiny_server.url + "/tempo/complete", json={"rid": "no-such-request"}, timeout=30)
    assert unknown.status_code == 200 and unknown.json() == {"rid": "no-such-request", "stopped": False}
    bad = requests.post(tiny_server.url + "/tempo/complete", json={"id": 1}, timeout=30)
    assert bad.status_code == 400 and "rid" in bad.json()["error"]["message"]
