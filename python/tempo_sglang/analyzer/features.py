"""Prompt features for the length predictor: a fixed-width float vector per request.

Layout (``FEATURE_NAMES``): log prompt length, class code, program-kind code, stage, model code,
has-text flag, log text length, then ``TEXT_BUCKETS`` hashed word-count buckets (zero without text).
The generated-token checkpoint is appended by the model itself (see `length_model`). Hashing uses
crc32, so features are stable across processes (Python's ``hash`` is salted per process).
"""

from __future__ import annotations

import math
import re
import zlib

import numpy as np

TEXT_BUCKETS = 32
MAX_TEXT_CHARS = 4096  # only the head of a long prompt is hashed: bounded cost per request
FEATURE_NAMES = (
    "log_prompt_len", "class", "program_kind", "stage", "model", "has_text", "log_text_chars",
    *(f"text_{i}" for i in range(TEXT_BUCKETS)),
)
N_FEATURES = len(FEATURE_NAMES)

CLASS_CODES = {"latency": 0.0, "deadline": 1.0, "program": 2.0, "best_effort": 3.0}
_WORD = re.compile(r"\w+|[^\w\s]")


def stable_code(value: str | None, modulo: int = 1009) -> float:
    """A process-independent small integer code for a categorical string (-1 for none)."""
    if not value:
        return -1.0
    return float(zlib.crc32(value.encode("utf-8", "replace")) % modulo)


def text_buckets(text: str | None) -> np.ndarray:
    """Hashed, log-scaled word counts of the head of ``text`` (zeros when there is none)."""
    out = np.zeros(TEXT_BUCKETS, dtype=np.float32)
    if not text:
        return out
    for word in _WORD.findall(text[:MAX_TEXT_CHARS]):
        out[zlib.crc32(word.encode("utf-8", "replace")) % TEXT_BUCKETS] += 1.0
    return np.log1p(out)


def featurize(prompt_len: int, slo_class: str | None = None, program_kind: str | None = None,
              stage: int | None = None, model: str | None = None, text: str | None = None) -> np.ndarray:
    """The feature vector of one request (float32, length `N_FEATURES`)."""
    vec = np.empty(N_FEATURES, dtype=np.float32)
    vec[0] = math.log1p(max(0, int(prompt_len)))
    vec[1] = CLASS_CODES.get(slo_class or "", -1.0)
    vec[2] = stable_code(program_kind)
    vec[3] = -1.0 if stage is None else float(stage)
    vec[4] = stable_code(model)
    vec[5] = 1.0 if text else 0.0
    vec[6] = math.log1p(len(text)) if text else 0.0
    vec[7:] = text_buckets(text)
    return vec


def featurize_view(view, text: str | None = None, model: str | None = None) -> np.ndarray:
    """Features of a `RequestView` (duck-typed: only ``prompt_len`` and ``slo`` are read)."""
    slo = view.slo
    return featurize(view.prompt_len, slo.slo_class.value, slo.program_kind, slo.stage, model, text)
