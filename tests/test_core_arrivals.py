"""A latency arrival gets its first token while deadline work fills the engine.

Two ways it used to lose it (measured in the replay of the live latency + deadline mix on a slow
stretch of the CPU engine): it waited for admission behind running deadline calls of higher budget
density that had seconds of slack to give, and it arrived just as one prefill pass of eight deadline
prompts (5 s on this CPU) began, with no stream decoding to bound that pass.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tempo_sglang.core.policy import EngineBudget
from tempo_sglang.core.registry import make_policy
from tempo_sglang.core.tempo import TempoPolicy
from tempo_sglang.core.tempo.streampacer import StreamPacer
from tempo_sglang.core.views import RequestView
from tempo_sglang.sim.engine import simulate
from tempo_sglang.slo import SLOClass, TempoSLO
from tempo_sglang.workloads import WorkItem

LATENCY = TempoSLO(SLOClass.LATENCY, ttft_ms=2000, tbt_ms=240)


def _displacement(arrival_slack_steps: float):
    """Five deadline calls near their end (high gain density), behind their line, 11.7 s of slack."""
    budget = EngineBudget(now=100.0, max_running=64, kv_free_tokens=10**9, token_budget=4096,
                          decode_step_time=0.03, prefill_time_per_token=1e-4, decode_time_base=0.02,
                          decode_time_per_request=0.01, decode_time_per_ctx_token=1e-5)
    deadline = TempoSLO(SLOClass.DEADLINE, deadline_ms=60_000)
    running = [RequestView(rid=f"d{i}", slo=deadline, arrival=52.0, prompt_len=512, max_new_tokens=512,
                           prefilled=512, generated=100 + i, length_bound=110, first_token_time=53.0)
               for i in range(5)]
    stream = TempoSLO(SLOClass.LATENCY, ttft_ms=2000, tbt_ms=100)
    waiting = [RequestView(rid="lat", slo=stream, arrival=100.0, prompt_len=64, max_new_tokens=64)]
    policy = TempoPolicy(step_choice="tight", latency_overdraft=0.0, tbt_step_fraction=0.75,
                         arrival_slack_steps=arrival_slack_steps)
    decision = policy.schedule(waiting, running, budget)
    _, sc = policy.last
    return decision, sc


def test_an_arrival_displaces_a_call_with_slack_to_give_at_any_budget_density():
    held, sc = _displacement(0.0)
    assert held.admit == [] and held.park == []  # every call earns more per step second than the stream
    assert np.all(sc.density[:5] > sc.density[5]) and np.all(sc.slack[:5] > 10.0)
    displaced, _ = _displacement(10.0)
    assert displaced.admit == ["lat"]
    assert displaced.park == ["d4"]  # one call parks (the most slack), keeping its KV


def _burst_behind_a_stream() -> list[WorkItem]:
    deadline = TempoSLO(SLOClass.DEADLINE, deadline_ms=60_000)
    items = [WorkItem(rid="lat0", arrival=0.0, prompt_len=128, output_len=4, slo=LATENCY, max_new_tokens=64)]
    items += [WorkItem(rid=f"d{k}", arrival=3.0, prompt_len=512, output_len=8, slo=deadline, max_new_tokens=64)
              for k in range(8)]
    items.append(WorkItem(rid="lat1", arrival=3.3, prompt_len=128, output_len=4, slo=LATENCY, max_new_tokens=64))
    return items


def test_a_pass_with_no_stream_decoding_leaves_room_for_the_next_first_token():
    """Eight 512-token prompts in one pass take ~5 s on the CPU profile; a stream arriving 0.3 s into
    it waits that out unless the pass is bounded by the TTFT of the latency traffic seen lately."""
    ttft = {}
    for share in (0.0, 0.5):
        policy = make_policy("tempo", idle_pass_ttft=share)
        recs = {r.rid: r for r in simulate(_burst_behind_a_stream(), policy, "smollm2-135m-cpu", mixed=False).records}
        assert all(r.ok and r.output_len in (4, 8) for r in recs.values())
        ttft[share] = recs["lat1"].token_times[0] - recs["lat1"].arrival
    assert ttft[0.0] > 2.0  # stuck behind the whole pass
    assert ttft[0.5] < 2.0


def test_the_idle_pass_bound_follows_the_latency_traffic_seen_lately():
    pacer = StreamPacer(idle_pass_ttft=0.5, latency_memory_s=60.0)
    budget = EngineBudget(now=10.0, max_running=64, kv_free_tokens=10**6, token_budget=4096, decode_step_time=0.1,
                          prefill_time_per_token=0.001, prefill_step_overhead=0.05)
    assert pacer.idle_budget(budget) is None  # no latency request seen: passes are not bounded
    pacer.note_latency(10.0, np.array([np.nan, 2.0, 4.0]))
    assert pacer.idle_budget(budget) == int((0.5 * 2.0 - 0.05) / 0.001)
    budget = dataclasses.replace(budget, now=71.0)
    assert pacer.idle_budget(budget) is None  # a minute without latency traffic: forgotten
    pacer.note_latency(71.0, np.array([3.0]))
    assert pacer.idle_budget(budget) == int((0.5 * 3.0 - 0.05) / 0.001)  # the old, tighter TTFT is gone
