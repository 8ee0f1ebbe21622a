"""Run summary: service gain, goodput, attainment and SGLang's bench keys (SPEC section 2).

`summarize(records, duration)` returns one flat dict of totals plus ``"per_class"``, a dict of the same
figures per original SLO class (``latency``, ``deadline``, ``program``, ``best_effort``). Conventions:

- Every record is counted, whatever its status; failed (error / aborted / dropped) and demoted records
  earn 0 and never meet an SLO. Demoted records stay in their original class and are counted in
  ``num_demoted``.
- An SLO *unit* is a latency or deadline request, or a whole program (a program counts once).
  ``request_goodput`` = units meeting every SLO / duration; ``slo_attainment`` = 100 * met / units.
  Best effort has no SLO: it is not a unit (its throughput is reported instead).
- Latency requests meet their SLO by the due-line definition (every token, the first included, by its
  due time); ``latency_gap_attainment`` is the stricter figure (TTFT <= ttft_slo and every inter-token
  gap <= tbt_slo) and ``latency_token_attainment`` the share of latency output tokens on their due line.
- Serving metrics (``*_ttft_ms`` ...) are over successful records, like SGLang's bench_serving.
Empty statistics are reported as 0.0 so rows stay JSON-clean.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tempo_sglang.core import gain as G
from tempo_sglang.core.views import RequestRecord
from tempo_sglang.slo import SLOClass

CLASSES = (SLOClass.LATENCY, SLOClass.DEADLINE, SLOClass.PROGRAM, SLOClass.BEST_EFFORT)
STATUSES = ("ok", "error", "aborted", "dropped")


def _stat_keys(prefix: str, values_s: Sequence[float] | np.ndarray) -> dict[str, float]:
    arr = np.asarray(values_s, dtype=float) * 1000.0
    if arr.size == 0:
        return {f"{k}_{prefix}_ms": 0.0 for k in ("mean", "median", "p90", "p99")}
    return {
        f"mean_{prefix}_ms": float(arr.mean()),
        f"median_{prefix}_ms": float(np.median(arr)),
        f"p90_{prefix}_ms": float(np.percentile(arr, 90)),
        f"p99_{prefix}_ms": float(np.percentile(arr, 99)),
    }


def bench_keys(records: Sequence[RequestRecord], duration: float) -> dict[str, float]:
    """SGLang bench_serving keys over the successful records (TTFT/ITL over those with tokens)."""
    ok = [r for r in records if r.ok]
    ttft, tpot, itl, e2e = [], [], [], []
    for r in ok:
        times = np.asarray(r.token_times, dtype=float)
        finish = r.finish_time if r.finish_time is not None else (float(times[-1]) if times.size else None)
        if finish is not None:
            e2e.append(finish - r.arrival)
        if times.size == 0:
            continue
        ttft.append(times[0] - r.arrival)
        if times.size > 1:
            tpot.append((times[-1] - times[0]) / (times.size - 1))
            itl.extend(np.diff(times).tolist())
    out: dict[str, float] = {}
    for name, vals in (("ttft", ttft), ("tpot", tpot), ("itl", itl), ("e2e_latency", e2e)):
        out.update(_stat_keys(name, vals))
    dur = max(duration, 1e-12)
    out["completed"] = float(len(ok))
    out["total_input_tokens"] = float(sum(r.prompt_len for r in ok))
    out["total_output_tokens"] = float(sum(r.output_len for r in ok))
    out["request_throughput"] = len(ok) / dur
    out["input_throughput"] = out["total_input_tokens"] / dur
    out["output_throughput"] = out["total_output_tokens"] / dur
    return out


def _latency_met(rec: RequestRecord) -> tuple[bool, bool, int]:
    """(due-line met, every-gap met, on-time tokens) of one latency record."""
    if not rec.ok or rec.demoted or rec.slo.tbt_ms is None or rec.slo.ttft_ms is None:
        return False, False, 0
    if rec.output_len == 0 and not rec.token_times:  # prefix-priming call: met if prefilled in time
        met = rec.finish_time is not None and rec.finish_time - rec.arrival <= rec.slo.ttft_ms / 1000.0 + G.EPS
        return met, met, 0
    if not rec.token_times:
        return False, False, 0
    hits = G.latency_token_hits(rec)
    complete = len(rec.token_times) >= rec.output_len
    due_met = bool(complete and hits.all())
    times = np.asarray(rec.token_times[: rec.output_len], dtype=float)
    gaps_ok = bool(np.all(np.diff(times) <= rec.slo.tbt_ms / 1000.0 + G.EPS)) if times.size > 1 else True
    ttft_ok = times[0] - rec.arrival <= rec.slo.ttft_ms / 1000.0 + G.EPS
    return due_met, bool(complete and ttft_ok and gaps_ok), int(hits.sum())


def _class_summary(cls: SLOClass, recs: list[RequestRecord], duration: float) -> dict[str, Any]:
    dur = max(duration, 1e-12)
    out: dict[str, Any] = {"num_requests": len(recs)}
    for status in STATUSES:
        out[f"num_{status}"] = sum(1 for r in recs if r.status == status)
    out["num_demoted"] = sum(1 for r in recs if r.demoted)
    out["prompt_tokens"] = sum(r.prompt_len for r in recs if r.ok)
    out["output_tokens"] = sum(r.output_len for r in recs if r.ok)
    if cls is SLOClass.PROGRAM:
        groups = G.group_programs(recs)
        hard = sum(G.program_gain(c) for c in groups.values())
        soft = sum(G.program_gain(c, G.SOFT_K) for c in groups.values())
        units, met = len(groups), sum(1 for c in groups.values() if G.program_met(c))
        out["num_programs"] = units
    elif cls is SLOClass.BEST_EFFORT:
        hard = soft = 0.0
        units = met = 0
    else:
        hard = sum(G.request_gain(r) for r in recs)
        soft = sum(G.request_gain(r, G.SOFT_K) for r in recs)
        units = len(recs)
        if cls is SLOClass.LATENCY:
            rows = [_latency_met(r) for r in recs]
            met = sum(1 for due, _, _ in rows if due)
            gap_met = sum(1 for _, gap, _ in rows if gap)
            on_time = sum(n for _, _, n in rows)
            expected = sum(max(r.output_len, len(r.token_times)) for r in recs)
            out["latency_gap_attainment"] = 100.0 * gap_met / units if units else 0.0
            out["latency_token_attainment"] = 100.0 * on_time / expected if expected else 0.0
        else:
            met = sum(1 for r in recs if G.deadline_met(r))
    out.update({
        "service_gain": float(hard), "service_gain_soft": float(soft),
        "token_goodput": hard / dur, "token_goodput_soft": soft / dur,
        "num_units": units, "num_met": met,
        "request_goodput": met / dur,
        "slo_attainment": 100.0 * met / units if units else 0.0,
    })
    return out


def summarize(records: list[RequestRecord], duration: float) -> dict[str, Any]:
    """Summarise one run: totals (flat), SGLang bench keys and ``per_class`` breakdowns."""
    by_class: dict[SLOClass, list[RequestRecord]] = {c: [] for c in CLASSES}
    for rec in records:
        by_class[rec.slo.slo_class].append(rec)
    per_class = {c.value: _class_summary(c, by_class[c], duration) for c in CLASSES}
    dur = max(duration, 1e-12)
    out: dict[str, Any] = {"duration": float(duration), "num_requests": len(records)}
    for key in ("num_ok", "num_error", "num_aborted", "num_dropped", "num_demoted", "num_units",
                "num_met", "service_gain", "service_gain_soft"):
        out[key] = sum(pc[key] for pc in per_class.values())
    out["num_programs"] = per_class[SLOClass.PROGRAM.value].get("num_programs", 0)
    out["token_goodput"] = out["service_gain"] / dur
    out["token_goodput_soft"] = out["service_gain_soft"] / dur
    out["request_goodput"] = out["num_met"] / dur
    out["slo_attainment"] = 100.0 * out["num_met"] / out["num_units"] if out["num_units"] else 0.0
    lat = per_class[SLOClass.LATENCY.value]
    out["latency_attainment"] = lat["slo_attainment"]
    out["latency_gap_attainment"] = lat.get("latency_gap_attainment", 0.0)
    out["latency_token_attainment"] = lat.get("latency_token_attainment", 0.0)
    out["deadline_attainment"] = per_class[SLOClass.DEADLINE.value]["slo_attainment"]
    out["program_attainment"] = per_class[SLOClass.PROGRAM.value]["slo_attainment"]
    out["best_effort_throughput"] = per_class[SLOClass.BEST_EFFORT.value]["output_tokens"] / dur
    out.update(bench_keys(records, duration))
    out["per_class"] = per_class
    return out


def flatten(summary: dict[str, Any]) -> dict[str, Any]:
    """One level: ``per_class`` entries become ``"<class>.<key>"`` keys (for tables and JSONL)."""
    flat = {k: v for k, v in summary.items() if k != "per_class"}
    for cls, stats in summary.get("per_class", {}).items():
        for key, value in stats.items():
            flat[f"{cls}.{key}"] = value
    return flat
