"""A small mixed-SLO demo against a live server: chats, deadline jobs, one agent program, best effort.

SLOs are set for SmolLM2-135M on a 2-core CPU (SPEC section 6: ~72 ms per decode step for one
stream, ~133 ms at batch 8, 0.2-0.9 s per prefill): a chat token every 0.5 s after a 4 s first token,
deadline jobs of 96 tokens within 45 s, and a fork-join program of three calls within 60 s.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import aiohttp

from tempo_sglang.bench.client import LiveRequest, LiveResult, send_request
from tempo_sglang.core.metrics import summarize
from tempo_sglang.slo import parse_tempo_params

CHATS = [
    "What is the capital of France?",
    "Give me three tips for staying focused while studying.",
    "Explain in two sentences what a binary search does.",
    "Name a famous painting and who painted it.",
]
DEADLINE_JOBS = [
    "Write a short product description for a reusable water bottle.",
    "Summarize the benefits of regular exercise in a short paragraph.",
    "Write a polite email asking a colleague to review a document.",
]
BEST_EFFORT = [
    "Tell me a fun fact about octopuses.",
    "List five fruits that are red.",
    "Describe a sunset in one paragraph.",
]
PROGRAM_TOPIC = "the history of the bicycle"


def _chat(tokenizer_free_prompt: str) -> str:
    return f"<|im_start|>user\n{tokenizer_free_prompt}<|im_end|>\n<|im_start|>assistant\n"


def _request(prompt: str, tempo: dict | None, max_new_tokens: int, program_start: float | None = None) -> LiveRequest:
    return LiveRequest(rid=uuid.uuid4().hex, slo=parse_tempo_params(tempo), max_new_tokens=max_new_tokens,
                       text=_chat(prompt), program_start=program_start)


async def _after(delay: float, coro):
    await asyncio.sleep(delay)
    return await coro


async def _program(session: aiohttp.ClientSession, url: str, deadline_ms: float) -> list[LiveResult]:
    """Fork-join: two branches write notes in parallel, a join call merges them."""
    pid = f"demo-{uuid.uuid4().hex[:8]}"
    start = time.time()

    def call(node: str, parents: list[str], stage: int, prompt: str, max_new: int) -> LiveRequest:
        tempo = {"class": "program", "program_id": pid, "node_id": node, "parents": parents,
                 "stage": stage, "program_kind": "fork_join", "deadline_ms": deadline_ms}
        return _request(prompt, tempo, max_new, program_start=start)

    branches = await asyncio.gather(
        send_request(session, url, call("a", [], 0, f"Write one sentence about the origins of {PROGRAM_TOPIC}.", 40)),
        send_request(session, url, call("b", [], 0, f"Write one sentence about modern {PROGRAM_TOPIC}.", 40)))
    notes = " ".join(r.text.strip() for r in branches)
    join = await send_request(session, url, call("join", ["a", "b"], 1,
                                                 f"Combine these notes into two sentences: {notes}", 60))
    return [*branches, join]


async def run_demo(url: str) -> tuple[list[LiveResult], float]:
    """Send the demo mix to ``url`` and return every result and the run's duration."""
    started = time.time()
    async with aiohttp.ClientSession() as session:
        tasks = []
        for i, prompt in enumerate(CHATS):
            tempo = {"class": "latency", "ttft_ms": 4000, "tbt_ms": 500}
            tasks.append(_after(1.5 * i, send_request(session, url, _request(prompt, tempo, 48))))
        for i, prompt in enumerate(DEADLINE_JOBS):
            tempo = {"class": "deadline", "deadline_ms": 45000}
            tasks.append(_after(0.5 + 2.0 * i, send_request(session, url, _request(prompt, tempo, 96))))
        for i, prompt in enumerate(BEST_EFFORT):
            tasks.append(_after(1.0 + 2.5 * i, send_request(session, url, _request(prompt, None, 64))))
        program = _after(2.0, _program(session, url, 60000))
        *singles, program_results = await asyncio.gather(*tasks, program)
    return [*singles, *program_results], time.time() - started


def format_report(results: list[LiveResult], duration: float) -> str:
    """Per-class attainment and service gain, as a small table."""
    summary = summarize([r.record for r in results], duration)
    lines = [f"{'class':<12} {'requests':>8} {'met':>5} {'attainment':>11} {'gain':>10} {'demoted':>8}"]
    for cls, stats in summary["per_class"].items():
        met = stats.get("num_met", 0)
        att = f"{stats['slo_attainment']:.0f}%" if cls != "best_effort" else "-"
        lines.append(f"{cls:<12} {stats['num_requests']:>8} {met if cls != 'best_effort' else '-':>5} "
                     f"{att:>11} {stats['service_gain']:>10.0f} {stats['num_demoted']:>8}")
    lines.append(f"total gain {summary['service_gain']:.0f} (soft {summary['service_gain_soft']:.0f}), "
                 f"token goodput {summary['token_goodput']:.1f}/s, duration {duration:.1f} s, "
                 f"errors {summary['num_error'] + summary['num_aborted']}")
    if "latency_gap_attainment" in summary:
        lines.append(f"latency: {summary['latency_attainment']:.0f}% by due line, "
                     f"{summary['latency_gap_attainment']:.0f}% with every gap <= TBT")
    return "\n".join(lines)
