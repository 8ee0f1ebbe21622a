"""A program with a feasible deadline under best-effort background load: met with the Tempo policy,
missed with fcfs (same program, same deadline, same load, same engine; one server at a time)."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from tempo_sglang.frontend import Deadline, TempoEndpoint, run_program

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the programs/ package at the repo root
pytestmark = [pytest.mark.server, pytest.mark.slow]

BACKGROUND_REQUESTS = 48  # best effort, queued at once: several seconds of backlog under fcfs
BACKGROUND_TOKENS = 96
SERVER_ARGS = ["--max-running-requests", "8"]


def _background_load(url: str, stop: threading.Event) -> list[threading.Thread]:
    def worker(i: int) -> None:
        body = {"text": f"Background job {i}: write a long story.",
                "sampling_params": {"max_new_tokens": BACKGROUND_TOKENS, "ignore_eos": True,
                                    "custom_params": {"tempo": {"class": "best_effort"}}}}
        try:
            if not stop.is_set():
                requests.post(url + "/generate", json=body, timeout=600)
        except requests.RequestException:
            pass  # the server is stopped under it at the end

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(BACKGROUND_REQUESTS)]
    for t in threads:
        t.start()
    return threads


def _program_time(server, deadline_s: float | None, under_load: bool) -> float:
    from programs import load

    module = load("map_reduce")
    backend = TempoEndpoint(server.url, chat_template_name="chatml")
    stop = threading.Event()
    if under_load:
        _background_load(server.url, stop)
        time.sleep(2.0)  # let the backlog queue up
    state = run_program(module.program, tempo=Deadline(deadline_s or 600), backend=backend,
                        temperature=0, **{**module.default_args(), "max_tokens": 16})
    stop.set()
    assert state.error() is None
    return state.tempo_elapsed_s


@pytest.mark.timeout(480, method="signal")  # fail (and stop the servers) rather than hang
def test_feasible_deadline_met_by_tempo_missed_by_fcfs(start_server):
    elapsed = {}
    deadline_s = None
    for policy in ("tempo", "fcfs"):
        server = start_server(policy, SERVER_ARGS)
        try:
            if deadline_s is None:  # feasible: a few times the program's unloaded time on this engine
                alone = min(_program_time(server, None, under_load=False) for _ in range(2))
                deadline_s = max(4.0 * alone, alone + 3.0)
            elapsed[policy] = _program_time(server, deadline_s, under_load=True)
        finally:
            server.stop()
    print(f"deadline {deadline_s:.2f} s; tempo {elapsed['tempo']:.2f} s; fcfs {elapsed['fcfs']:.2f} s")
    assert elapsed["tempo"] <= deadline_s
    assert elapsed["fcfs"] > deadline_s
