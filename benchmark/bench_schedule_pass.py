"""Median time of one Tempo scheduling pass, against plainly sorting the same queue by arrival.

A steady loaded engine: N waiting requests (the 1:1:1 latency / deadline / program mix plus best
effort) and 256 running ones. Each step every running request generates a token, the clock advances by
one decode step, and with probability ``--arrival-prob`` a request arrives (a full pass: the set
changed); every 50 steps a frame refresh re-reads every waiting request. Reported per N: the median of
all passes as they come in that loop (``mixed``), and separately the median of passes with an
arrival (``full``), of frame refreshes (``refresh``) and of passes where nothing changed (``cheap``),
plus the median time of ``sorted(waiting + running, key=arrival)`` and the ratio.

    .venv/bin/python benchmark/bench_schedule_pass.py [--sizes 100 1000 10000] [--steps 400]
"""

from __future__ import annotations

import argparse
import operator
import random
import statistics
import time

from tempo_sglang.core.policy import EngineBudget
from tempo_sglang.core.registry import make_policy
from tempo_sglang.core.views import RequestView
from tempo_sglang.slo import SLOClass, TempoSLO

SLOS = [
    TempoSLO(SLOClass.LATENCY, ttft_ms=1000, tbt_ms=100),
    TempoSLO(SLOClass.DEADLINE, deadline_ms=10000),
    TempoSLO(SLOClass.BEST_EFFORT),
]


def make_view(i: int, now: float, rng: random.Random) -> RequestView:
    """One request of the paper mix, arrived within the last 10 s."""
    kind = i % 4
    if kind == 3:
        slo = TempoSLO(SLOClass.PROGRAM, deadline_ms=30000, program_id=f"p{i // 12}", node_id=f"n{i}")
    else:
        slo = SLOS[kind] if rng.random() > 0.05 else SLOS[2]
    return RequestView(rid=f"r{i}", slo=slo, arrival=now - rng.uniform(0, 10), prompt_len=rng.randint(50, 2000),
                       max_new_tokens=2048, length_bound=rng.choice([None, rng.randint(20, 1000)]))


def run(n_waiting: int, steps: int, arrival_prob: float, seed: int = 0) -> dict[str, float]:
    rng = random.Random(seed)
    now = 100.0
    waiting = [make_view(i, now, rng) for i in range(n_waiting)]
    running = [make_view(n_waiting + i, now, rng) for i in range(256)]
    for v in running:
        v.prefilled, v.generated, v.first_token_time = v.prompt_len, rng.randint(1, 200), now - 1
    policy = make_policy("tempo")
    next_id = n_waiting + 256
    kinds: dict[str, list[float]] = {"mixed": [], "full": [], "refresh": [], "cheap": []}
    sort_times: list[float] = []
    key = operator.attrgetter("arrival")
    for step in range(steps):
        arrived = rng.random() < arrival_prob
        if arrived:
            waiting.pop(0)  # keep N constant: one leaves (admitted elsewhere), one arrives
            waiting.append(make_view(next_id, now, rng))
            next_id += 1
        for v in running:
            v.generated += 1
        budget = EngineBudget(now=now, max_running=256, kv_free_tokens=20000, token_budget=4096,
                              decode_step_time=0.03, prefill_time_per_token=2e-5, kv_total_tokens=500000)
        refresh_before = policy._passes >= policy.frame_steps or now - policy._frame_time >= policy.frame_seconds
        full_before = policy.full_passes
        t0 = time.perf_counter()
        policy.schedule(waiting, running, budget)
        dt = time.perf_counter() - t0
        t0 = time.perf_counter()
        sorted(waiting + running, key=key)
        sort_times.append(time.perf_counter() - t0)
        if step >= 5:  # warm-up
            kinds["mixed"].append(dt)
            if refresh_before:
                kinds["refresh"].append(dt)
            elif policy.full_passes > full_before:
                kinds["full"].append(dt)
            else:
                kinds["cheap"].append(dt)
        now += 0.03
    out = {k: statistics.median(v) * 1e3 for k, v in kinds.items() if v}
    out["sort"] = statistics.median(sort_times) * 1e3
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--arrival-prob", type=float, default=0.5)
    args = ap.parse_args()
    print(f"{'waiting':>8} {'running':>8} {'mixed ms':>9} {'full ms':>8} {'refresh ms':>10} {'cheap ms':>9} "
          f"{'sort ms':>8} {'mixed/sort':>10}")
    for n in args.sizes:
        r = run(n, args.steps if n < 10000 else max(60, args.steps // 4), args.arrival_prob)
        print(f"{n:>8} {256:>8} {r['mixed']:>9.3f} {r.get('full', float('nan')):>8.3f} "
              f"{r.get('refresh', float('nan')):>10.3f} {r.get('cheap', float('nan')):>9.3f} {r['sort']:>8.3f} "
              f"{r['mixed'] / r['sort']:>10.1f}")


if __name__ == "__main__":
    main()
