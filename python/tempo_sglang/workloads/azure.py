"""Azure LLM inference trace 2023 (conversation and code services): replay, or a fitted stand-in.

The CSVs (TIMESTAMP, ContextTokens, GeneratedTokens) live in ``../shared/data`` relative to the repo
by default. When a file is missing, `load_trace` returns a synthetic trace with the same fitted shape
(log-normal lengths, Gamma inter-arrivals with the trace's rate and CV) and a warning saying so.
"""

from __future__ import annotations

import csv
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from tempo_sglang.workloads.arrivals import gamma_arrivals
from tempo_sglang.workloads.lengths import CHAT_INPUT, CHAT_OUTPUT, CODE_INPUT, CODE_OUTPUT, LogNormal

TRACE_FILES = {"conv": "azure_llm_2023_conv.csv", "code": "azure_llm_2023_code.csv"}


@dataclass(frozen=True)
class TraceShape:
    """Fitted shape of a trace: native rate (req/s), inter-arrival CV, length distributions."""

    rate: float
    cv: float
    input: LogNormal
    output: LogNormal


# Fitted from the files themselves (one hour each): rate, inter-arrival CV, log-normal lengths.
TRACE_SHAPES = {
    "conv": TraceShape(5.53, 1.09, CHAT_INPUT, CHAT_OUTPUT),
    "code": TraceShape(2.57, 13.2, CODE_INPUT, CODE_OUTPUT),
}


@dataclass
class Trace:
    """Arrival timestamps (seconds from the first) and recorded lengths."""

    timestamps: np.ndarray
    input_lens: np.ndarray
    output_lens: np.ndarray
    source: str  # the file read, or "synthetic (...)"


def default_data_dir() -> Path:
    """``../shared/data`` relative to the repository root (``<repo>/python/tempo_sglang/workloads``)."""
    return Path(__file__).resolve().parents[3].parent / "shared" / "data"


def _parse_time(text: str) -> float:
    return datetime.fromisoformat(text.strip()[:26]).timestamp()


def read_trace_file(path: Path, limit: int | None = None) -> Trace:
    """Read one Azure trace CSV (optionally only its first ``limit`` rows)."""
    ts, ins, outs = [], [], []
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            ts.append(_parse_time(row["TIMESTAMP"]))
            ins.append(int(row["ContextTokens"]))
            outs.append(int(row["GeneratedTokens"]))
            if limit is not None and len(ts) >= limit:
                break
    t = np.asarray(ts, dtype=float)
    return Trace(t - t[0], np.maximum(1, np.asarray(ins)), np.maximum(1, np.asarray(outs)), str(path))


def synthetic_trace(kind: str, n: int, rng: np.random.Generator) -> Trace:
    """A stand-in with the fitted shape of trace ``kind`` (``conv`` or ``code``)."""
    shape = TRACE_SHAPES[kind]
    ts = gamma_arrivals(shape.rate, n, rng, cv=shape.cv)
    return Trace(ts - ts[0], shape.input.sample(rng, n), shape.output.sample(rng, n),
                 f"synthetic (fitted shape of {TRACE_FILES[kind]})")


def load_trace(kind: str, n: int, rng: np.random.Generator, data_dir: str | Path | None = None) -> Trace:
    """The first ``n`` rows of trace ``kind`` from ``data_dir`` (default `default_data_dir`), cycling
    through the file (shifted in time) if it has fewer rows; a fitted synthetic trace if absent."""
    if kind not in TRACE_FILES:
        raise ValueError(f"unknown trace {kind!r} (conv, code)")
    path = Path(data_dir if data_dir is not None else default_data_dir()) / TRACE_FILES[kind]
    if not path.is_file():
        warnings.warn(f"Azure trace {path} not found: using a synthetic generator with the same fitted "
                      f"shape instead (rate, CV, log-normal lengths)", RuntimeWarning, stacklevel=2)
        return synthetic_trace(kind, n, rng)
    trace = read_trace_file(path, limit=n)
    if len(trace.timestamps) >= n:
        return trace
    reps = -(-n // len(trace.timestamps))
    span = trace.timestamps[-1] + float(np.mean(np.diff(trace.timestamps)))
    ts = np.concatenate([trace.timestamps + i * span for i in range(reps)])[:n]
    return Trace(ts, np.tile(trace.input_lens, reps)[:n], np.tile(trace.output_lens, reps)[:n], trace.source)
