"""A length model trained on held-out draws of a workload: what a server that had served this
traffic before would have learned.

`tempo-sglang bench` and `tempo-sglang sim` (``--length-model auto``) both train one from other seeds
of the same workload (never the seeds they run), so the length predictor is evaluated on requests it
has not seen. ``tempo-sglang predictor seed`` does the same from a server's own logs.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tempo_sglang.analyzer.length_model import SCHEDULING_QUANTILE

HELD_OUT_SEED = 1000  # held-out draws use seeds 1000, 1001, ...: runs use small seeds


def train_on_workloads(workloads: Iterable, path: str | Path, quantile: float = SCHEDULING_QUANTILE) -> Path:
    """Train the default length model (bound at ``quantile``, default the scheduling one) on every call
    of ``workloads`` and save it to ``path``."""
    from tempo_sglang.analyzer.length_model import ForestConfig, train_length_model
    from tempo_sglang.analyzer.samples import LengthSample, to_arrays

    samples = [LengthSample(prompt_len=it.prompt_len, output_len=it.output_len, slo_class=it.slo_class.value,
                            program_kind=it.slo.program_kind, stage=it.slo.stage, prompt=it.prompt_text)
               for wl in workloads for it in wl.items]
    if not samples:
        raise ValueError("no calls to train a length model on")
    x, y = to_arrays(samples)
    path = Path(path)
    train_length_model(x, y, ForestConfig(quantile=quantile)).save(path)
    return path
