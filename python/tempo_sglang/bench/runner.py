"""``tempo-sglang bench``: policies x rates x seeds of one workload against live servers.

For each policy the runner launches the patched server (or uses the one at ``url``), then for each
(rate, seed) flushes the prefix cache, builds the workload with `make_workload` (the very objects the
simulator runs), drives it (`live_driver`) and appends one JSONL row to ``OUT/results.jsonl`` with the
metrics of SPEC section 2, SGLang's bench keys and everything needed to replay the run in the
simulator (workload, rate, seed, job count, scales, window, drain). ``--detail`` adds one JSONL file
of per-call records per run under ``OUT/requests/``. With ``engine="sim"`` the same runs go through the
simulator instead (the served model's cost profile, prefill as separate passes, the same cut: the
drain after the last arrival, the same held-out length model): the same rows in seconds, no server.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import requests

from tempo_sglang.bench.live_driver import drive_workload
from tempo_sglang.core.metrics import flatten, summarize
from tempo_sglang.workloads import make_workload
from tempo_sglang.workloads.scaling import bench_scaling

MODEL_PROFILES = {"default": "smollm2-135m-cpu", "tiny": "tiny-llama-cpu"}


@dataclass
class BenchConfig:
    """Everything one bench invocation does (the CLI maps its flags onto this)."""

    policies: list[str]
    workload: str = "paper-mix"
    rates: list[float] = field(default_factory=lambda: [0.15, 0.3, 0.5])
    duration: float = 120.0  # arrival window per run, seconds
    seeds: int = 1
    first_seed: int = 0  # seeds run are first_seed .. first_seed + seeds - 1 (add seeds to a run later)
    out: str = "bench-out"
    model: str = "default"
    url: str | None = None  # a running server instead of launching one per policy
    profile: str | None = None  # cost profile for SLO/length scaling and the simulator (default: by model)
    arrival: str = "poisson"
    cv: float | None = None
    drain: float | None = None  # seconds after the window before cutting (default: max(60, window))
    slo_scale: float | None = None
    length_scale: float | None = None
    length_model: str = "auto"  # auto | none | path to a length-model .npz (for the analyzer)
    detail: bool = False
    data_dir: str | None = None
    server_args: list[str] = field(default_factory=list)
    progress: bool = True
    engine: str = "live"  # live | sim (the simulator drives the same workload objects)
    policy_options: dict = field(default_factory=dict)  # every launched server's --policy-options

    def resolved_profile(self) -> str:
        from tempo_sglang.sim.costmodel import host_profile

        return self.profile or host_profile(MODEL_PROFILES.get(self.model, "smollm2-135m-cpu"))

    def seed_list(self) -> range:
        """The seeds each (policy, rate) runs."""
        return range(self.first_seed, self.first_seed + self.seeds)

    def drain_s(self) -> float:
        return self.drain if self.drain is not None else max(60.0, self.duration)


def _jobs(rate: float, duration: float) -> int:
    return max(1, math.ceil(rate * duration))


def _workload(cfg: BenchConfig, rate: float, seed: int):
    scaling = bench_scaling(cfg.resolved_profile(), cfg.slo_scale, cfg.length_scale)
    return make_workload(cfg.workload, rate, seed, _jobs(rate, cfg.duration), slo_scale=scaling.slo_scale,
                         arrival=cfg.arrival, cv=cfg.cv, data_dir=cfg.data_dir,
                         length_scale=scaling.length_scale), scaling


def train_held_out_model(cfg: BenchConfig, out: Path) -> Path:
    """A length model from held-out draws of the same workload (other seeds, `analyzer.held_out`)."""
    from tempo_sglang.analyzer.held_out import HELD_OUT_SEED, train_on_workloads

    draws = [_workload(cfg, rate, HELD_OUT_SEED + i)[0] for i, rate in enumerate(cfg.rates)]
    return train_on_workloads(draws, out / "length_model.npz")


def _flush(url: str) -> None:
    try:
        requests.post(url + "/flush_cache", timeout=30)
    except requests.RequestException:
        pass


def _row_head(cfg: BenchConfig, policy: str, rate: float, seed: int, wl, scaling) -> dict:
    """The keys that name a run (enough to replay it in the simulator)."""
    return {"policy": policy, "rate": rate, "seed": seed, "engine": cfg.engine, "workload": cfg.workload,
            "model": cfg.model, "profile": cfg.resolved_profile(), "arrival": cfg.arrival, "cv": cfg.cv,
            "window_s": cfg.duration, "drain_s": cfg.drain_s(), "num_jobs": wl.num_jobs,
            "num_calls": len(wl.items), "slo_scale": scaling.slo_scale, "length_scale": scaling.length_scale,
            "notes": wl.notes, "policy_options": cfg.policy_options}


def _sim_point(cfg: BenchConfig, policy: str, rate: float, seed: int, length_model: Path | None) -> dict:
    from tempo_sglang.bench.sim_compare import sim_row

    wl, scaling = _workload(cfg, rate, seed)
    row = _row_head(cfg, policy, rate, seed, wl, scaling)
    sim = sim_row(row, length_model)
    row.update({k: v for k, v in sim.items() if k not in row or k == "wall_s"})
    return row


def _run_point(cfg: BenchConfig, url: str, policy: str, rate: float, seed: int, out: Path) -> dict:
    wl, scaling = _workload(cfg, rate, seed)
    _flush(url)
    tag = f"{policy}-r{rate:g}-s{seed}-{int(time.time())}"
    t0 = time.time()
    run = drive_workload(url, wl, tag=tag, drain_s=cfg.drain_s(), seed=seed, progress=cfg.progress)
    row = _row_head(cfg, policy, rate, seed, wl, scaling)
    row.update({"wall_s": time.time() - t0, "scheduler": run.scheduler})
    row.update(flatten(summarize(run.records, run.duration)))
    if cfg.detail:
        (out / "requests").mkdir(exist_ok=True)
        with open(out / "requests" / f"{policy}-r{rate:g}-s{seed}.jsonl", "w") as fh:
            for rec in run.detail:
                fh.write(json.dumps(rec) + "\n")
    return row


def run_bench(cfg: BenchConfig, on_row=None) -> list[dict]:
    """Run every (policy, rate, seed) of ``cfg``; rows are appended to ``OUT/results.jsonl`` as they end."""
    from tempo_sglang.launcher import ServerProcess
    from tempo_sglang.models import resolve_model
    from tempo_sglang.sglang.config import LENGTH_MODEL_ENV, POLICY_OPTIONS_ENV

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2) + "\n")
    if cfg.url and len(cfg.policies) != 1:
        raise ValueError("with --url give exactly one policy name (the running server's, used as a label)")
    env = {}
    path = None
    if cfg.length_model != "none" and not cfg.url:
        path = train_held_out_model(cfg, out) if cfg.length_model == "auto" else Path(cfg.length_model)
        env[LENGTH_MODEL_ENV] = str(path)
    if cfg.policy_options:
        env[POLICY_OPTIONS_ENV] = json.dumps(cfg.policy_options)
    if cfg.engine == "sim":
        return _simulate_all(cfg, out, path, on_row)
    if cfg.engine != "live":
        raise ValueError(f"unknown engine {cfg.engine!r} (live, sim)")
    rows = []
    with open(out / "results.jsonl", "a") as fh:
        for policy in cfg.policies:
            server = None if cfg.url else ServerProcess(
                model_path=resolve_model(cfg.model), policy=policy, log_path=out / f"server-{policy}.log",
                extra_args=list(cfg.server_args), env=env).start()
            try:
                url = cfg.url or server.url
                for rate in cfg.rates:
                    for seed in cfg.seed_list():
                        row = _run_point(cfg, url, policy, rate, seed, out)
                        fh.write(json.dumps(row, default=float) + "\n")
                        fh.flush()
                        rows.append(row)
                        if on_row is not None:
                            on_row(row)
            finally:
                if server is not None:
                    server.stop()
    return rows


def _simulate_all(cfg: BenchConfig, out: Path, length_model: Path | None, on_row) -> list[dict]:
    """``engine="sim"``: every (policy, rate, seed) through the simulator, rows to ``OUT/results.jsonl``."""
    rows = []
    with open(out / "results.jsonl", "a") as fh:
        for policy in cfg.policies:
            for rate in cfg.rates:
                for seed in cfg.seed_list():
                    row = _sim_point(cfg, policy, rate, seed, length_model)
                    fh.write(json.dumps(row, default=float) + "\n")
                    fh.flush()
                    rows.append(row)
                    if on_row is not None:
                        on_row(row)
    return rows
