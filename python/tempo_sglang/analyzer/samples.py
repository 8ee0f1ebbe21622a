"""Training samples for the length predictor and the seed JSONL format.

One JSON object per line; only ``output_len`` and one of ``prompt_len`` / ``prompt`` are required::

    {"prompt": "def f(x): ...", "prompt_len": 87, "output_len": 142, "class": "latency",
     "program_kind": null, "stage": null, "model": "SmolLM2-135M-Instruct", "finish_reason": "stop",
     "output_head": [1, 57, 6803, 28]}

``prompt_len`` is in tokens of the served model; when it is missing it is estimated as
``len(prompt) / 4`` characters per token. ``output_head`` (optional) holds the first generated token
ids (up to `HEAD_TOKENS`): the prefix models (`prefix_features`) train on them. The server's own
finished requests are pushed to the background trainer in the same shape (without the text when it is
not kept).
"""

from __future__ import annotations

import gzip
import json
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from tempo_sglang.analyzer.features import featurize

HEAD_TOKENS = 256  # generated token ids kept per finished request (prefix models read at most this many)


@dataclass
class LengthSample:
    """One finished request: its prompt features' inputs and its true output length."""

    prompt_len: int
    output_len: int
    slo_class: str | None = None
    program_kind: str | None = None
    stage: int | None = None
    model: str | None = None
    prompt: str | None = None
    output_head: list[int] | None = None  # the first generated token ids, when known

    def features(self) -> np.ndarray:
        return featurize(self.prompt_len, self.slo_class, self.program_kind, self.stage, self.model,
                         self.prompt)

    def to_json(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if v is not None}
        if "slo_class" in out:
            out["class"] = out.pop("slo_class")
        return out

    @classmethod
    def from_json(cls, row: dict) -> LengthSample:
        """Parse one seed row; raises ValueError naming the problem."""
        if not isinstance(row, dict):
            raise ValueError("a sample must be a JSON object")
        if "output_len" not in row:
            raise ValueError("sample has no output_len")
        output_len = int(row["output_len"])
        prompt = row.get("prompt")
        if prompt is not None and not isinstance(prompt, str):
            raise ValueError("prompt must be a string")
        prompt_len = row.get("prompt_len")
        if prompt_len is None:
            if prompt is None:
                raise ValueError("sample needs prompt_len or prompt")
            prompt_len = max(1, len(prompt) // 4)
        if output_len < 0 or int(prompt_len) < 0:
            raise ValueError("lengths must be non-negative")
        stage = row.get("stage")
        head = row.get("output_head")
        if head is not None:
            if not isinstance(head, list) or not all(isinstance(t, int) and t >= 0 for t in head):
                raise ValueError("output_head must be a list of token ids")
            head = head[:HEAD_TOKENS]
        return cls(prompt_len=int(prompt_len), output_len=output_len,
                   slo_class=row.get("class", row.get("slo_class")), program_kind=row.get("program_kind"),
                   stage=None if stage is None else int(stage), model=row.get("model"), prompt=prompt,
                   output_head=head)


def read_jsonl(path: str | Path) -> list[LengthSample]:
    """Samples of a seed JSONL file (``.jsonl.gz``: gzip-compressed); malformed lines are skipped with one
    warning summarising them."""
    samples: list[LengthSample] = []
    bad = 0
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                samples.append(LengthSample.from_json(json.loads(line)))
            except (ValueError, TypeError):
                bad += 1
    if bad:
        warnings.warn(f"{path}: skipped {bad} malformed sample line(s)", stacklevel=2)
    return samples


def write_jsonl(path: str | Path, samples: Iterable[LengthSample], append: bool = False) -> None:
    with open(path, "a" if append else "w", encoding="utf-8") as fh:
        for sample in samples:
            fh.write(json.dumps(sample.to_json()) + "\n")


def to_arrays(samples: Iterable[LengthSample]) -> tuple[np.ndarray, np.ndarray]:
    """Feature matrix and output lengths of ``samples``."""
    rows = list(samples)
    if not rows:
        from tempo_sglang.analyzer.features import N_FEATURES
        return np.zeros((0, N_FEATURES), np.float32), np.zeros(0, np.int64)
    x = np.stack([s.features() for s in rows])
    y = np.array([s.output_len for s in rows], dtype=np.int64)
    return x, y


def heads_of(samples: Iterable[LengthSample]) -> list[list[int] | None] | None:
    """Each sample's ``output_head`` (None for the whole list when no sample has one)."""
    heads = [s.output_head for s in samples]
    return heads if any(h for h in heads) else None


def iter_split(n: int, test_fraction: float, seed: int) -> Iterator[np.ndarray]:
    """Yield train indices then test indices of a seeded random split of ``n`` items."""
    perm = np.random.default_rng(seed).permutation(n)
    cut = int(round(n * (1.0 - test_fraction)))
    yield perm[:cut]
    yield perm[cut:]
