"""Deadline calls give way to latency streams under a binding step budget, by budget density."""

from __future__ import annotations

import numpy as np

from tempo_sglang.core.policy import EngineBudget
from tempo_sglang.core.tempo import TempoPolicy
from tempo_sglang.core.tempo.density import Scores
from tempo_sglang.core.tempo.giveway import calls_to_displace, displace_room, streams_at_risk
from tempo_sglang.core.tempo.store import DL, LAT
from tempo_sglang.core.views import RequestView
from tempo_sglang.slo import SLOClass, TempoSLO


def test_a_claimant_may_displace_only_the_rows_of_lower_budget_density():
    bd = np.array([1.0, 3.0, 2.0, 9.0])
    weight = np.array([0.1, 0.2, 0.3, 0.4])
    rows = np.array([0, 1, 2])  # row 3 is the claimant itself, not displaceable
    room = displace_room(rows, weight, bd, np.array([2.5, 0.5, 9.0]))
    assert np.allclose(room, [0.4, 0.0, 0.6])
    assert displace_room(np.empty(0, dtype=np.int64), weight, bd, np.array([5.0])).tolist() == [0.0]


def test_calls_are_displaced_lowest_budget_density_first_until_the_need_is_covered():
    bd = np.array([5.0, 1.0, 3.0, 2.0])
    costs = np.full(4, 0.01)
    rows = np.arange(4)
    assert calls_to_displace(rows, bd, costs, above=4.0, need=0.015).tolist() == [1, 3]
    assert calls_to_displace(rows, bd, costs, above=4.0, need=1.0).tolist() == [1, 3, 2]  # never row 0
    assert calls_to_displace(rows, bd, costs, above=4.0, need=0.0).size == 0


def test_only_streams_due_soon_and_not_yet_late_are_at_risk():
    n = 4
    due = np.array([10.05, 10.5, 9.9, 10.1])  # now = 10; interval 0.1, 3 steps: due within 0.3 s
    zeros = np.zeros(n)
    sc = Scores(cls=np.array([LAT, LAT, LAT, DL]), rem=zeros, pf_rem=zeros, t_gen=zeros, t_rem=zeros, bw=zeros,
                slack=zeros, due_lat=due, gain=zeros, density=zeros, hopeless=np.zeros(n, dtype=bool))
    risk = streams_at_risk(sc, n, np.ones(n, dtype=bool), now=10.0, interval=0.1, steps=3.0)
    assert risk.tolist() == [0]  # 1 is far ahead, 2 already late, 3 is no stream


def _scene(give_way: bool):
    """Five running deadline calls with no slack to spare fill the step budget a waiting stream sets."""
    budget = EngineBudget(now=100.0, max_running=64, kv_free_tokens=10**9, token_budget=4096,
                          decode_step_time=0.03, prefill_time_per_token=1e-4, decode_time_base=0.02,
                          decode_time_per_request=0.01, decode_time_per_ctx_token=1e-5)
    deadline = TempoSLO(slo_class=SLOClass.DEADLINE, deadline_ms=112_000)
    running = [RequestView(rid=f"d{i}", slo=deadline, arrival=0.0, prompt_len=512, max_new_tokens=512,
                           prefilled=512, generated=10 + i, length_bound=400, first_token_time=1.0)
               for i in range(5)]
    latency = TempoSLO(slo_class=SLOClass.LATENCY, ttft_ms=2000, tbt_ms=100)
    waiting = [RequestView(rid="lat", slo=latency, arrival=100.0, prompt_len=64, max_new_tokens=64)]
    policy = TempoPolicy(step_choice="tight", latency_overdraft=0.0, give_way=give_way, tbt_step_fraction=0.75)
    return policy.schedule(waiting, running, budget)


def test_a_latency_arrival_displaces_a_deadline_call_without_spare_slack():
    held = _scene(give_way=False)
    assert "lat" not in held.admit and held.park == []  # the calls keep the step; the stream waits
    displaced = _scene(give_way=True)
    assert "lat" in displaced.admit
    # the call with the most tokens left (the lowest gain per step second) parks, keeping its KV
    assert displaced.park == ["d0"]
