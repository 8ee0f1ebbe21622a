"""Cost model of one engine iteration (SPEC section 6) and its fit from measured iterations.

    T = c0 + c1*N_tokens + c2*sum_prefill l_i*(k_i + l_i/2) + c3*sum_decode k_j + c4*B

``N_tokens``: new tokens computed in the step (prefill chunk tokens + one per decode); ``l_i``: a
prefill chunk's length and ``k_i`` the context already cached before it (so ``l_i*(k_i + l_i/2)`` is
its attention work); ``k_j``: a decoding request's context length (KV reads); ``B``: requests in the
batch. Coefficients are seconds (per token, per token pair, per context token, per request). An
iteration that computes prompt tokens also pays ``prefill_pass`` (seconds, default 0; optional in the
profile's coefficients): on the CPU engine a separate prefill pass has a larger fixed cost than a
decode step (AMX host, `benchmark/fit_cpu_profile.py`: 9.6 ms more).

A profile is one JSON file per (model, hardware) under ``sim/profiles/``::

    {"name": ..., "model": ..., "hardware": ..., "provenance": "how the numbers were obtained",
     "coefficients": {"c0": s, "c1": s, "c2": s, "c3": s, "c4": s, "prefill_pass": s (optional)},
     "engine": {"max_running": int, "kv_capacity_tokens": int, "chunk_size": int},
     "error": {...held-out error of the fit, when fitted...}}
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tempo_sglang.sim.cost_sums import step_features
from tempo_sglang.workloads.slos import REF_BATCH, REF_CONTEXT, REFERENCE_PROFILE

PROFILE_DIR = Path(__file__).with_name("profiles")
COEFF_NAMES = ("c0", "c1", "c2", "c3", "c4")


@dataclass
class CostModel:
    """Iteration-time model plus the engine limits of one (model, hardware) profile."""

    name: str
    coeffs: tuple[float, float, float, float, float]
    max_running: int = 256
    kv_capacity_tokens: int = 200_000
    chunk_size: int = 8192
    meta: dict = field(default_factory=dict)  # model, hardware, provenance, error (free-form)
    prefill_pass: float = 0.0  # extra fixed seconds of an iteration that computes prompt tokens

    def step_time(self, prefill_chunks: Sequence[tuple[int, int]], n_decode: int, decode_context: int) -> float:
        """Seconds of one iteration: ``prefill_chunks`` = [(l_i, k_i)], ``n_decode`` decoding requests
        whose context lengths sum to ``decode_context``."""
        c0, c1, c2, c3, c4 = self.coeffs
        n_tok = n_decode
        attn = 0.0
        for length, ctx in prefill_chunks:
            n_tok += length
            attn += length * (ctx + length / 2.0)
        extra = self.prefill_pass if prefill_chunks else 0.0
        return c0 + extra + c1 * n_tok + c2 * attn + c3 * decode_context + c4 * (n_decode + len(prefill_chunks))

    def decode_step_time(self, batch: int, context: int) -> float:
        """One decode iteration of ``batch`` requests, each at ``context`` tokens of context."""
        return self.step_time((), batch, batch * context)

    def prefill_time(self, tokens: int) -> float:
        """One request's prefill of ``tokens`` tokens in a single step, nothing else in the batch."""
        return self.step_time(((tokens, 0),), 0, 0)

    def slo_scale(self) -> float:
        """SLO scale of this profile relative to the 8B-GPU reference (see `workloads.slos`)."""
        ref = load_profile(REFERENCE_PROFILE)
        return self.decode_step_time(REF_BATCH, REF_CONTEXT) / ref.decode_step_time(REF_BATCH, REF_CONTEXT)

    def to_dict(self) -> dict:
        out = {k: v for k, v in self.meta.items() if k not in ("coefficients", "engine")}
        coeffs = dict(zip(COEFF_NAMES, self.coeffs, strict=True))
        if self.prefill_pass:
            coeffs["prefill_pass"] = self.prefill_pass
        out.update({"name": self.name, "coefficients": coeffs,
                    "engine": {"max_running": self.max_running, "kv_capacity_tokens": self.kv_capacity_tokens,
                               "chunk_size": self.chunk_size}})
        return out

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def from_dict(cls, data: dict) -> CostModel:
        coeffs = data["coefficients"]
        engine = data.get("engine", {})
        return cls(name=data["name"], coeffs=tuple(float(coeffs[k]) for k in COEFF_NAMES),
                   max_running=int(engine.get("max_running", 256)),
                   kv_capacity_tokens=int(engine.get("kv_capacity_tokens", 200_000)),
                   chunk_size=int(engine.get("chunk_size", 8192)),
                   meta={k: v for k, v in data.items() if k not in ("name",)},
                   prefill_pass=float(coeffs.get("prefill_pass", 0.0)))


def available_profiles() -> list[str]:
    """Names of the profiles shipped under ``sim/profiles``."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.json"))


_CACHE: dict[str, CostModel] = {}


def load_profile(name_or_path: str | Path) -> CostModel:
    """A shipped profile by name (``llama-8b-h100``) or any profile JSON by path."""
    key = str(name_or_path)
    if key not in _CACHE:
        path = Path(key)
        if not path.suffix:
            path = PROFILE_DIR / f"{key}.json"
        if not path.is_file():
            raise FileNotFoundError(f"no cost profile {key!r}; shipped: {', '.join(available_profiles())}")
        _CACHE[key] = CostModel.from_dict(json.loads(path.read_text()))
    return _CACHE[key]


def forget_profile(name_or_path: str | Path) -> None:
    """Drop a loaded profile from the cache (its file was rewritten)."""
    _CACHE.pop(str(name_or_path), None)


# ---- fitting ---------------------------------------------------------------------------------------
@dataclass
class StepSample:
    """One measured iteration: its prefill chunks [(l, k)], decode contexts, and measured seconds."""

    prefill: list[tuple[int, int]]
    decode_contexts: list[int]
    seconds: float

    def features(self) -> np.ndarray:
        """The c0..c4 features of `sim.cost_sums.step_features` (without its prefill-pass flag)."""
        return step_features(self.prefill, len(self.decode_contexts), sum(self.decode_contexts))[:5]


def nonneg_lstsq(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least squares with non-negative coefficients (drop negative features and refit)."""
    active = np.ones(x.shape[1], dtype=bool)
    while True:
        sol = np.zeros(x.shape[1])
        sol[active] = np.linalg.lstsq(x[:, active], y, rcond=None)[0]
        if (sol >= 0).all() or not active.any():
            return np.maximum(sol, 0.0)
        active &= sol > 0


def fit(samples: Sequence[StepSample], name: str = "fitted", holdout: float = 0.2, seed: int = 0,
        **engine) -> tuple[CostModel, dict]:
    """Fit c0..c4 by least squares on relative error from measured iterations.

    A random ``holdout`` share of the samples is kept out of the fit; the report gives the mean and
    p90 absolute relative error on them (and on the training set). ``engine`` passes ``max_running``,
    ``kv_capacity_tokens``, ``chunk_size`` through to the `CostModel`.
    """
    if len(samples) < 6:
        raise ValueError("need at least 6 samples to fit and hold some out")
    x = np.stack([s.features() for s in samples])
    y = np.array([s.seconds for s in samples])
    idx = np.random.default_rng(seed).permutation(len(samples))
    n_test = max(1, int(round(holdout * len(samples)))) if holdout > 0 else 0
    test, train = idx[:n_test], idx[n_test:]
    w = 1.0 / y[train]  # relative-error weighting
    coeffs = nonneg_lstsq(x[train] * w[:, None], y[train] * w)

    def rel_err(rows: np.ndarray) -> dict:
        if len(rows) == 0:
            return {"n": 0}
        err = np.abs(x[rows] @ coeffs - y[rows]) / y[rows]
        return {"n": int(len(rows)), "mean_abs_rel": float(err.mean()), "p90_abs_rel": float(np.quantile(err, 0.9))}

    report = {"train": rel_err(train), "held_out": rel_err(test)}
    model = CostModel(name=name, coeffs=tuple(float(c) for c in coeffs), meta={"error": report}, **engine)
    return model, report


# ---- host variants ---------------------------------------------------------------------------------
AMX_VARIANT = "-amx"


def cpu_flags(path: str | Path = "/proc/cpuinfo") -> set[str]:
    """The CPU feature flags of this host (Linux ``/proc/cpuinfo``; empty where it cannot be read)."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def host_profile(name: str, flags: set[str] | None = None) -> str:
    """The variant of the shipped CPU profile ``name`` for this host's CPU: ``NAME-amx`` on a CPU with
    AMX bf16 tiles, where it ships (oneDNN runs bf16 matmuls on them: on SmolLM2 the prefill is ~3x
    and the decode step 1.4-2.4x faster than on the AVX-512 host the plain profile was fitted on), else
    ``name``. ``flags`` default to `cpu_flags`."""
    variant = name + AMX_VARIANT
    if name.endswith(AMX_VARIANT) or variant not in available_profiles():
        return name
    return variant if "amx_bf16" in (cpu_flags() if flags is None else flags) else name
