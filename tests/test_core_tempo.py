"""Tempo policy behaviour: pacing, starvation-freedom, demotion, rejection, preemption, frames.

`StepLoop` is a minimal engine for these tests: fixed decode step time ``v``; prefill done in one step
for free when ``prefill_time_per_token`` is 0, else chunked under ``Decision.prefill_token_budget``
(unless ``honor_budget`` is off) with the step taking ``v + tokens * p``; the first token comes at the
end of the step that completes the prompt; the Decision is applied as the policy contract says.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tempo_sglang.core.policy import EngineBudget
from tempo_sglang.core.registry import make_policy
from tempo_sglang.core.tempo.preemption import choose_preemptions
from tempo_sglang.core.views import RequestView
from tempo_sglang.slo import SLOClass, TempoSLO

BE = TempoSLO()


class StepLoop:
    """Tiny continuous-batching engine driving a policy step by step."""

    def __init__(self, policy, requests: list[RequestView], v: float = 0.01, max_running: int = 64,
                 prefill_time_per_token: float = 0.0, honor_budget: bool = True):
        self.policy, self.v, self.max_running = policy, v, max_running
        self.p, self.honor_budget = prefill_time_per_token, honor_budget
        self.pending = sorted(requests, key=lambda r: r.arrival)
        self.waiting: list[RequestView] = []
        self.running: list[RequestView] = []
        self.times: dict[str, list[float]] = {r.rid: [] for r in requests}
        self.finished: dict[str, float] = {}
        self.rejected: dict[str, str] = {}
        self.parks = 0
        self.now = 0.0

    def step(self) -> None:
        while self.pending and self.pending[0].arrival <= self.now:
            self.waiting.append(self.pending.pop(0))
        budget = EngineBudget(now=self.now, max_running=self.max_running, kv_free_tokens=10**9,
                              token_budget=8192, decode_step_time=self.v, prefill_time_per_token=self.p)
        d = self.policy.schedule(list(self.waiting), list(self.running), budget)
        by_rid = {r.rid: r for r in self.waiting + self.running}
        waiting = {r.rid for r in self.waiting}
        drop = set(d.reject)
        self.rejected.update(d.reject)
        for rid in d.demote:
            by_rid[rid].demoted = True
        running = [r for r in self.running if r.rid not in set(d.preempt)]
        for rid in d.preempt:
            by_rid[rid].prefilled = 0  # KV freed: recomputed when admitted again
            waiting.add(rid)
        for rid in d.admit:
            if rid in waiting and rid not in drop and len(running) < self.max_running:
                waiting.discard(rid)
                running.append(by_rid[rid])
        self.running = running
        self.waiting = [r for r in self.waiting + [by_rid[x] for x in d.preempt]
                        if r.rid in waiting and r.rid not in drop]
        parked = set(d.park)
        self.parks += len(parked)
        chunk = 8192 if d.prefill_token_budget is None or not self.honor_budget else d.prefill_token_budget
        done_prefill, tokens = set(), 0
        for r in self.running:
            if r.prefilled < r.prompt_len:
                take = r.prompt_len - r.prefilled if self.p == 0 else min(chunk - tokens, r.prompt_len - r.prefilled)
                r.prefilled += max(take, 0)
                tokens += max(take, 0)
                if r.prefilled >= r.prompt_len:
                    done_prefill.add(r.rid)
        end = self.now + self.v + tokens * self.p
        for r in self.running:
            if r.prefilled < r.prompt_len or (r.rid in parked and r.rid not in done_prefill):
                continue
            r.generated += 1
            self.times[r.rid].append(end)
            if r.generated >= r.true_output_len:
                self.finished[r.rid] = end
                self.policy.on_finish(r, end)
        self.running = [r for r in self.running if r.rid not in self.finished]
        self.now = end

    def run(self, steps: int) -> None:
        for _ in range(steps):
            self.step()


def lat_request(i: int, arrival: float, ttft: float, tbt: float, n: int) -> RequestView:
    slo = TempoSLO(SLOClass.LATENCY, ttft_ms=ttft * 1000, tbt_ms=tbt * 1000)
    return RequestView(f"l{i}", slo, arrival, prompt_len=32, max_new_tokens=n, true_output_len=n,
                       length_bound=n)


def pressured_deadline(i: int = 0, n: int = 300, v: float = 0.01) -> RequestView:
    """A long deadline request needing ~2/3 of the steps: contention that makes pacing worthwhile."""
    slo = TempoSLO(SLOClass.DEADLINE, deadline_ms=n * v * 1.5 * 1000)
    return RequestView(f"d{i}", slo, 0.0, prompt_len=16, max_new_tokens=n, true_output_len=n, length_bound=n)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(2, 20), st.integers(1, 10), st.integers(1, 60)),
                min_size=1, max_size=24), st.booleans())
def test_pacing_never_misses_a_due_token_when_capacity_suffices(specs, contended):
    v = 0.01
    reqs = [lat_request(i, a, ttft_steps * v, tbt_steps * v, n) for i, (a, ttft_steps, tbt_steps, n) in
            enumerate(specs)]
    extra = [pressured_deadline(v=v)] if contended else []
    loop = StepLoop(make_policy("tempo"), reqs + extra, v=v, max_running=64)
    loop.run(int(1.2 / v) + max(t * n for _, _, t, n in specs) + 50)
    for r in reqs:
        times = loop.times[r.rid]
        assert len(times) == r.true_output_len and not r.demoted
        for j, t in enumerate(times):
            assert t <= r.token_due(j) + 1e-9, (r.rid, j, t, r.token_due(j))


def test_pacing_parks_streams_ahead_of_their_line_only_under_contention():
    v = 0.01
    reqs = [lat_request(i, 0.0, 0.05, 0.1, 40) for i in range(8)]  # TBT = 10 steps
    loop = StepLoop(make_policy("tempo"), [*reqs, pressured_deadline(v=v)], v=v)
    loop.run(500)
    assert loop.parks > 8 * 20 * 5  # most steps skipped while the deadline request runs ...
    assert all(len(loop.times[r.rid]) == 40 for r in reqs)  # ... and every token still delivered
    assert "d0" in loop.finished
    unpaced = StepLoop(make_policy("tempo", pacing=False), [lat_request(i, 0.0, 0.05, 0.1, 40)
                                                            for i in range(8)] + [pressured_deadline(v=v)], v=v)
    unpaced.run(100)
    assert unpaced.parks == 0
    idle = StepLoop(make_policy("tempo"), [lat_request(i, 0.0, 0.05, 0.1, 40) for i in range(8)], v=v)
    idle.run(100)
    assert idle.parks == 0  # nothing else needs the steps: streams run ahead and finish early


@settings(max_examples=5, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 6))
def test_best_effort_is_never_starved(seed, max_running):
    """SLO work arrives all the time, far beyond capacity; every best-effort request still finishes."""
    rng = np.random.default_rng(seed)
    v, steps = 0.01, 700
    reqs = []
    for i in range(steps // 2):  # ~11 tokens of SLO demand per step against <= 6 of capacity
        slo = TempoSLO(SLOClass.DEADLINE, deadline_ms=float(rng.uniform(500, 3000)))
        n = int(rng.integers(5, 40))
        reqs.append(RequestView(f"d{i}", slo, i * 2 * v, 16, n, true_output_len=n, length_bound=n))
    for i in range(4):
        n = int(rng.integers(5, 30))
        reqs.append(RequestView(f"be{i}", BE, float(rng.uniform(0, 0.2)), 16, n, true_output_len=n))
    loop = StepLoop(make_policy("tempo"), reqs, v=v, max_running=max_running)
    loop.run(steps)
    assert loop.pending == []  # SLO arrivals went on for the whole run
    assert all(f"be{i}" in loop.finished for i in range(4))


def test_demotion_of_hopeless_requests():
    pol = make_policy("tempo")
    dl = TempoSLO(SLOClass.DEADLINE, deadline_ms=1000)
    waiting = [
        RequestView("infeasible", dl, 0.0, 10, 1000, length_bound=500),  # 500 * 0.01 s > 1 s left
        RequestView("unknown", dl, 0.0, 10, 1000),  # default bound only: never declared hopeless early
        RequestView("past", dl, -2.0, 10, 1000, length_bound=5),  # deadline passed
        RequestView("fine", dl, 0.0, 10, 1000, length_bound=50),
    ]
    lat = TempoSLO(SLOClass.LATENCY, ttft_ms=100, tbt_ms=10)
    running = [RequestView("stream", lat, -10.0, 10, 20, prefilled=10, generated=5, length_bound=10)]
    budget = EngineBudget(now=0.0, max_running=8, kv_free_tokens=10**6, token_budget=512, decode_step_time=0.01)
    d = pol.schedule(waiting, running, budget)
    assert set(d.demote) == {"infeasible", "past", "stream"}
    assert "fine" in d.admit and "unknown" in d.admit and not d.reject
    oracle = make_policy("oracle")  # the oracle knows "unknown" needs 900 tokens: hopeless
    waiting[1].true_output_len = 900
    assert "unknown" in oracle.schedule(waiting[1:2], [], budget).demote


def test_hopelessness_reads_the_analyzers_low_quantile_where_it_gives_one():
    """1 s left at 0.01 s a step: 100 tokens fit. A bound proves nothing (it is a p95); the low
    quantile does: a call whose typical length cannot fit is hopeless, one whose typical length fits is
    not, however far its bound is off. Without a low quantile the bound rule (x bound_slack) holds."""
    dl = TempoSLO(SLOClass.DEADLINE, deadline_ms=1000)

    def waiting():
        return [RequestView("typical_fits", dl, 0.0, 10, 1000, length_bound=500, length_low=60),
                RequestView("typical_too_long", dl, 0.0, 10, 1000, length_bound=250, length_low=150),
                RequestView("bound_only", dl, 0.0, 10, 1000, length_bound=500)]

    budget = EngineBudget(now=0.0, max_running=8, kv_free_tokens=10**6, token_budget=512, decode_step_time=0.01)
    assert set(make_policy("tempo").schedule(waiting(), [], budget).demote) == {"typical_too_long", "bound_only"}
    off = make_policy("tempo", low_slack=0)  # the low quantile switched off: the bound rule alone
    assert set(off.schedule(waiting(), [], budget).demote) == {"typical_fits", "bound_only"}


def test_calls_of_a_program_that_already_lost_a_call_are_demoted():
    """A program earns nothing once one of its calls is demoted or rejected, so its later calls are
    served as best effort (and say so) instead of taking SLO capacity."""
    def call(rid: str, program: str, bound: int) -> RequestView:
        slo = TempoSLO(SLOClass.PROGRAM, deadline_ms=1000, program_id=program, node_id=rid)
        return RequestView(rid, slo, 0.0, 10, 1000, length_bound=bound, length_low=bound, program_start=0.0)

    budget = EngineBudget(now=0.0, max_running=8, kv_free_tokens=10**6, token_budget=512, decode_step_time=0.01)
    for name in ("tempo", "oracle"):
        pol = make_policy(name)
        lost = call("a", "p", 400)
        lost.true_output_len = 400
        assert pol.schedule([lost], [], budget).demote == ["a"]  # 4 s of work, 1 s left
        lost.demoted = True
        later, other = call("b", "p", 20), call("c", "q", 20)
        later.true_output_len = other.true_output_len = 20
        d = pol.schedule([lost, later, other], [], budget)
        assert d.demote == ["b"] and "c" in d.admit, name


def test_rejection_past_max_wait():
    slo = TempoSLO(SLOClass.DEADLINE, deadline_ms=60000, max_wait_ms=500)
    waiting = [RequestView("old", slo, 0.0, 10, 10), RequestView("new", slo, 0.8, 10, 10),
               RequestView("started", slo, 0.0, 10, 10, generated=3)]
    budget = EngineBudget(now=1.0, max_running=8, kv_free_tokens=10**6, token_budget=512, decode_step_time=0.01)
    d = make_policy("tempo").schedule(waiting, [], budget)
    assert list(d.reject) == ["old"] and "max_wait" in d.reject["old"]
    assert "old" not in d.admit and {"new", "started"} <= set(d.admit)


def test_oracle_prefers_truly_short_requests():
    dl = TempoSLO(SLOClass.DEADLINE, deadline_ms=60000)
    waiting = [RequestView("long", dl, 0.0, 10, 1000, length_bound=400, true_output_len=390),
               RequestView("short", dl, 0.1, 10, 1000, length_bound=400, true_output_len=10)]
    budget = EngineBudget(now=1.0, max_running=1, kv_free_tokens=10**6, token_budget=512, decode_step_time=0.01)
    assert make_policy("oracle").schedule(waiting, [], budget).admit[0] == "short"
    assert make_policy("tempo").schedule(waiting, [], budget).admit[0] == "long"  # same bound: FCFS tie


def test_cheap_pass_between_frames_reuses_the_order():
    dl = TempoSLO(SLOClass.DEADLINE, deadline_ms=60000)
    waiting = [RequestView(f"w{i}", dl, 0.0, 10, 100, length_bound=10 + i) for i in range(20)]
    running = [RequestView("r", dl, 0.0, 10, 100, prefilled=10, generated=1, length_bound=50)]
    pol = make_policy("tempo", frame_seconds=10.0)
    budget = EngineBudget(now=1.0, max_running=1, kv_free_tokens=10**6, token_budget=512, decode_step_time=0.01)
    first = pol.schedule(waiting, running, budget)
    running[0].generated += 1
    second = pol.schedule(waiting, running, budget)
    assert pol.full_passes == 1 and second.admit == first.admit
    waiting.append(RequestView("new", dl, 1.0, 10, 100, length_bound=1))
    third = pol.schedule(waiting, running, budget)
    assert pol.full_passes == 2 and third.admit[0] == "new"


def test_preemption_only_when_it_pays():
    gain = np.array([5000.0, 100.0, 10.0])  # rows: 0 incoming, 1 cheap victim, 2 other
    slack = np.array([0.05, 100.0, 100.0])
    t_gen = np.array([1.0, 1.0, 1.0])
    kv = np.array([10, 100, 100])
    empty = np.empty(0)
    args = dict(gain=gain, slack=slack, t_gen=t_gen, kv=kv, p=1e-4, lat_ahead=empty, lat_tbt=empty)
    assert choose_preemptions(np.array([0]), np.array([1]), t_release=1.0, **args) == [1]
    # the incoming request can wait for a natural release: no preemption
    assert choose_preemptions(np.array([0]), np.array([1]), t_release=0.01, **args) == []
    # the victim would lose more than the incoming gains
    gain2 = np.array([50.0, 100.0, 10.0])
    slack2 = np.array([0.05, 0.0, 100.0])
    assert choose_preemptions(np.array([0]), np.array([1]), t_release=1.0,
                              **{**args, "gain": gain2, "slack": slack2}) == []
    # a recompute stall that makes many latency tokens late outweighs the gain
    ahead = np.zeros(100)
    tbt = np.full(100, 0.001)
    big_kv = np.array([10, 10**5, 100])
    assert choose_preemptions(np.array([0]), np.array([1]), t_release=1.0,
                              **{**args, "kv": big_kv, "lat_ahead": ahead, "lat_tbt": tbt}) == []


def test_tempo_preempts_for_an_urgent_dense_request():
    lat = TempoSLO(SLOClass.LATENCY, ttft_ms=200, tbt_ms=50)
    running = [RequestView("be_run", BE, 0.0, 10, 5000, prefilled=10, generated=10, length_bound=4000),
               RequestView("be_run2", BE, 0.5, 10, 5000, prefilled=10, generated=10, length_bound=4000)]
    waiting = [RequestView("urgent", lat, 0.95, 50, 40, length_bound=40)]
    budget = EngineBudget(now=1.0, max_running=2, kv_free_tokens=10**6, token_budget=512,
                          decode_step_time=0.01, prefill_time_per_token=1e-5)
    d = make_policy("tempo").schedule(waiting, running, budget)
    assert d.preempt == ["be_run2"]  # the oldest best-effort request keeps its residual slot
    assert d.admit == ["urgent"]


def test_admission_order_urgent_first_then_density():
    from tempo_sglang.core.tempo.admission import admission_order
    slack = np.array([5.0, 0.2, 9.0, 0.1, 3.0])
    density = np.array([1.0, 2.0, 9.0, 0.5, 7.0])
    order = admission_order(np.array([0, 1, 2, 3]), np.array([4]), slack, density, horizon=1.0)
    assert order.tolist() == [3, 1, 2, 0, 4]  # urgent by slack, calm by density, then the rest
    slack[4] = 0.5  # an urgent request outside the chosen batch goes before the calm chosen ones
    assert admission_order(np.array([0, 1, 2, 3]), np.array([4]), slack, density, 1.0).tolist() == [3, 1, 4, 2, 0]
    assert admission_order(np.array([0, 1, 2, 3]), np.array([4]), slack, density, 1.0,
                           urgent_rest=False).tolist() == [3, 1, 2, 0, 4]


def test_kv_admissible_reserves_running_growth_and_skips_what_does_not_fit():
    from tempo_sglang.core.tempo.admission import kv_admissible
    need = np.array([50.0, 500.0, 30.0, 40.0])
    order = np.array([0, 1, 2, 3])
    assert kv_admissible(order, need, 200, 100, True).tolist() == [0, 2]  # 100 left: 50 + 30 fit, 40 not
    assert kv_admissible(order, need, 1000, 0, True).tolist() == [0, 1, 2, 3]
    assert kv_admissible(np.array([1, 0]), need, 10, 100, False).tolist() == [1]  # progress when idle


def test_program_calls_share_their_program_density_and_use_stage_deadlines():
    pol = make_policy("tempo")
    slo = TempoSLO(SLOClass.PROGRAM, deadline_ms=60000, program_id="p", node_id="a")
    slo_b = TempoSLO(SLOClass.PROGRAM, deadline_ms=60000, program_id="p", node_id="b")
    a = RequestView("a", slo, 0.0, 100, 500, length_bound=100, program_start=0.0)
    b = RequestView("b", slo_b, 0.0, 100, 500, length_bound=10, program_start=0.0, stage_deadline=0.9)
    budget = EngineBudget(now=0.5, max_running=8, kv_free_tokens=10**6, token_budget=512, decode_step_time=0.01)
    pol.schedule([a, b], [], budget)
    ea, eb = pol.explain("a"), pol.explain("b")
    assert ea["density"] == eb["density"]  # one program, one density: live gain / critical path
    assert abs(eb["t_rem"] - 0.4) < 1e-9  # the stage deadline
    assert abs(ea["t_rem"] - 59.5) < 1e-9  # no stage deadline: the program deadline
    # a stage deadline that can no longer be kept gives way to the program deadline (the program
    # may still make it); the call is not scored as endlessly urgent
    c = RequestView("c", TempoSLO(SLOClass.PROGRAM, deadline_ms=60000, program_id="p", node_id="c"), 0.0, 100,
                    500, length_bound=100, program_start=0.0, stage_deadline=0.6)
    pol.schedule([a, b, c], [], budget)
    ec = pol.explain("c")
    assert abs(ec["t_rem"] - 59.5) < 1e-9 and ec["slack"] > 0
    # the stage deadline sets the bandwidth need, not the admission slack (by default)
    assert abs(eb["slack"] - (59.5 - eb["t_gen"])) < 1e-9
    full = make_policy("tempo", stage_use="full")
    full.schedule([a, b], [], budget)
    assert abs(full.explain("b")["slack"] - (0.4 - eb["t_gen"])) < 1e-9
    off = make_policy("tempo", stage_use="off")
    off.schedule([a, b], [], budget)
    assert abs(off.explain("b")["t_rem"] - 59.5) < 1e-9


def test_admissions_respect_kv_growth_and_streams_are_not_parked_while_work_waits():
    lat = TempoSLO(SLOClass.LATENCY, ttft_ms=1000, tbt_ms=100)
    dl = TempoSLO(SLOClass.DEADLINE, deadline_ms=60000)
    running = [RequestView(f"s{i}", lat, 0.0, 10, 100, prefilled=10, generated=1, length_bound=20)
               for i in range(4)]  # far ahead of their due lines
    waiting = [RequestView(f"w{i}", dl, 0.0, 100, 1000, length_bound=100) for i in range(5)]
    budget = EngineBudget(now=0.2, max_running=64, kv_free_tokens=400, token_budget=512,
                          decode_step_time=0.01, prefill_time_per_token=1e-4)
    d = make_policy("tempo", kv_growth_ratio=1.0).schedule(waiting, running, budget)
    # running growth reserves 4 * 19 = 76 tokens; each waiting request needs 100 + 100: one fits
    assert len(d.admit) == 1
    assert d.park == []  # SLO work is left waiting for KV: streams run flat out to free it
    roomy = EngineBudget(now=0.2, max_running=64, kv_free_tokens=10**6, token_budget=512,
                         decode_step_time=0.01, prefill_time_per_token=1e-4)
    d = make_policy("tempo", kv_growth_ratio=1.0).schedule(waiting, running, roomy)
    assert len(d.admit) == 5 and set(d.park) == {f"s{i}" for i in range(4)}
    # an engine that does not call every step must call again before a parked stream needs a step
    assert d.next_call_by is not None and 0.2 <= d.next_call_by < min(s.token_due(s.generated) for s in running)


_SLOS = [TempoSLO(SLOClass.LATENCY, ttft_ms=500, tbt_ms=50), TempoSLO(SLOClass.DEADLINE, deadline_ms=3000),
         TempoSLO(SLOClass.PROGRAM, deadline_ms=9000, program_id="p", node_id="n"), BE,
         TempoSLO(SLOClass.DEADLINE, deadline_ms=3000, max_wait_ms=200)]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.floats(0, 5), st.integers(1, 3000), st.integers(0, 300),
                          st.one_of(st.none(), st.integers(1, 2000)), st.booleans()), max_size=40),
       st.integers(1, 16), st.integers(0, 20000), st.floats(1e-4, 0.2), st.floats(0, 1e-3),
       st.sampled_from(["tempo", "oracle"]))
def test_decisions_are_well_formed(rows, max_running, kv_free, v, p, name):
    views = []
    for i, (k, arrival, prompt, gen, bound, run) in enumerate(rows):
        views.append(RequestView(f"r{i}", _SLOS[k], arrival, prompt, 2048, generated=gen if run else 0,
                                 prefilled=prompt if run else 0, length_bound=bound, true_output_len=gen + 5))
    running = [v_ for v_, r in zip(views, rows, strict=True) if r[5]][:max_running]
    waiting = [v_ for v_ in views if v_ not in running]
    pol = make_policy(name)
    for now in (5.0, 5.0 + v, 7.0):
        d = pol.schedule(waiting, running, EngineBudget(now=now, max_running=max_running, kv_free_tokens=kv_free,
                                                        token_budget=512, decode_step_time=v,
                                                        prefill_time_per_token=p))
        w_ids, r_ids = {x.rid for x in waiting}, {x.rid for x in running}
        assert set(d.admit) <= w_ids and len(set(d.admit)) == len(d.admit)
        assert set(d.park) <= r_ids and set(d.preempt) <= r_ids and not set(d.park) & set(d.preempt)
        assert set(d.reject) <= w_ids and not set(d.reject) & set(d.admit)
        assert set(d.demote) <= w_ids | r_ids
        assert d.prefill_token_budget is None or d.prefill_token_budget >= 1
        for rid in d.demote:
            next(x for x in views if x.rid == rid).demoted = True


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=0, max_size=30), st.one_of(st.none(), st.integers(0, 35)))
def test_top_k_matches_a_stable_sort(keys, k):
    from tempo_sglang.core.tempo.admission import top_k
    key = np.array(keys, dtype=float)
    rows = np.arange(key.size)
    full = rows[np.argsort(key, kind="stable")]
    assert top_k(rows, key, k).tolist() == (full if k is None else full[:k]).tolist()


def test_prefill_budget_keeps_streams_on_their_due_line():
    """Long prompts arriving beside running streams: Tempo's prefill budget chunks them so the
    streams keep every due token; ignoring the budget (one big prefill chunk) makes them miss."""
    v, p = 0.01, 0.0001  # a 3,000-token prompt in one chunk stalls for 0.3 s = 30 decode steps

    def run(honor: bool) -> tuple[int, list[RequestView]]:
        streams = [lat_request(i, 0.0, 0.05, 0.015, 200) for i in range(4)]  # TBT = 1.5 steps
        dl = TempoSLO(SLOClass.DEADLINE, deadline_ms=60000)
        prompts = [RequestView(f"big{i}", dl, 0.3 + 0.4 * i, 3000, 20, true_output_len=20, length_bound=20)
                   for i in range(3)]
        loop = StepLoop(make_policy("tempo"), streams + prompts, v=v, prefill_time_per_token=p, honor_budget=honor)
        loop.run(400)
        misses = sum(t > r.token_due(j) + 1e-9 for r in streams for j, t in enumerate(loop.times[r.rid]))
        assert all(f"big{i}" in loop.finished for i in range(3))
        return misses, streams

    misses, streams = run(honor=True)
    assert misses == 0 and all(r.generated == 200 for r in streams)
    stalled, _ = run(honor=False)
    assert stalled > 0


def test_a_stream_past_its_due_line_is_demoted_only_with_late_is_lost():
    lat = TempoSLO(SLOClass.LATENCY, ttft_ms=1000, tbt_ms=100)
    budget = EngineBudget(now=2.0, max_running=8, kv_free_tokens=10**6, token_budget=512, decode_step_time=0.01)

    def late_stream():  # token 5 was due at 1.5 s; it is 2.0 s and the token is not out
        return RequestView("late", lat, 0.0, 10, 100, prefilled=10, generated=5, length_bound=50)

    assert "late" in make_policy("tempo", late_is_lost=True).schedule([], [late_stream()], budget).demote
    assert "late" not in make_policy("tempo").schedule([], [late_stream()], budget).demote  # can catch up
