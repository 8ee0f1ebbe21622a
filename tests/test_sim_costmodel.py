"""Cost model: hand-computed step times, shipped profiles against SPEC section 6, and the fit."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tempo_sglang.sim.costmodel import (
    PROFILE_DIR,
    CostModel,
    StepSample,
    available_profiles,
    fit,
    load_profile,
)


def test_step_time_matches_hand_computation():
    cm = CostModel("t", (0.010, 0.001, 1e-6, 1e-5, 0.002))
    # one prefill chunk of 100 tokens after 50 cached, plus 3 decodes with 600 context tokens in all
    expected = 0.010 + 0.001 * 103 + 1e-6 * 100 * (50 + 50) + 1e-5 * 600 + 0.002 * 4
    assert cm.step_time([(100, 50)], 3, 600) == pytest.approx(expected)
    assert cm.decode_step_time(4, 100) == pytest.approx(0.010 + 0.004 + 1e-5 * 400 + 0.008)
    assert cm.prefill_time(200) == pytest.approx(0.010 + 0.2 + 1e-6 * 200 * 100 + 0.002)


def test_shipped_profiles_load_and_have_provenance():
    assert {"llama-8b-h100", "smollm2-135m-cpu", "tiny-llama-cpu"} <= set(available_profiles())
    for name in available_profiles():
        data = json.loads((PROFILE_DIR / f"{name}.json").read_text())
        assert data["provenance"] and data["hardware"] and data["model"]
        cm = load_profile(name)
        assert all(c >= 0 for c in cm.coeffs) and cm.kv_capacity_tokens > 0 and cm.max_running > 0
    assert load_profile("llama-8b-h100").slo_scale() == pytest.approx(1.0)


@pytest.mark.parametrize("args,measured", [
    ((("prefill", 1024),), 1.4), ((("prefill", 2048),), 3.0), ((("decode", 8, 200),), 0.133),
    ((("decode", 16, 200),), 0.229), ((("decode", 32, 200),), 0.387), ((("decode", 16, 1000),), 0.652),
])
def test_smollm2_profile_reproduces_spec_measurements(args, measured):
    cm = load_profile("smollm2-135m-cpu")
    kind, *rest = args[0]
    got = cm.prefill_time(*rest) if kind == "prefill" else cm.decode_step_time(*rest)
    assert abs(got - measured) / measured < 0.21  # the fit's own held-out error is 15-21%


def test_tiny_profile_matches_envelope():
    cm = load_profile("tiny-llama-cpu")
    assert cm.prefill_time(2048) < 0.060
    assert 0.004 <= cm.decode_step_time(1, 200) <= 0.006
    assert 0.015 <= cm.decode_step_time(32, 200) <= 0.021


def test_8b_profile_is_plausible_for_an_h100():
    cm = load_profile("llama-8b-h100")
    assert 0.005 < cm.decode_step_time(1, 100) < 0.008  # weight-read bound
    assert 0.010 < cm.decode_step_time(64, 1000) < 0.020
    assert 0.04 < cm.prefill_time(2048) < 0.09


def _samples(truth: CostModel, rng: np.random.Generator, n: int, noise: float) -> list[StepSample]:
    out = []
    for _ in range(n):
        prefill = [(int(rng.integers(16, 1024)), int(rng.integers(0, 2048))) for _ in range(rng.integers(0, 3))]
        dec = [int(c) for c in rng.integers(50, 3000, size=rng.integers(0, 64))]
        if not prefill and not dec:
            dec = [100]
        t = truth.step_time(prefill, len(dec), sum(dec)) * (1 + noise * rng.standard_normal())
        out.append(StepSample(prefill, dec, t))
    return out


def test_fit_recovers_coefficients_and_reports_held_out_error():
    truth = load_profile("smollm2-135m-cpu")
    rng = np.random.default_rng(1)
    model, report = fit(_samples(truth, rng, 200, 0.0), name="refit")
    assert np.allclose(model.coeffs, truth.coeffs, rtol=1e-4, atol=1e-12)
    assert report["held_out"]["n"] == 40 and report["held_out"]["mean_abs_rel"] < 1e-6
    noisy, rep = fit(_samples(truth, rng, 200, 0.1), holdout=0.25)
    assert all(c >= 0 for c in noisy.coeffs)
    assert 0.02 < rep["held_out"]["mean_abs_rel"] < 0.2
    assert noisy.to_dict()["error"]["held_out"]["n"] == 50


def test_profile_roundtrip(tmp_path):
    cm = load_profile("tiny-llama-cpu")
    path = tmp_path / "p.json"
    cm.save(path)
    again = load_profile(str(path))
    assert again.coeffs == cm.coeffs and again.chunk_size == cm.chunk_size
    with pytest.raises(FileNotFoundError):
        load_profile("no-such-profile")


def test_prefill_pass_cost_is_charged_only_when_prompt_tokens_are_computed(tmp_path):
    """A separate prefill pass pays ``prefill_pass`` on top of c0; decode steps do not; the figure
    survives a save and load, and the simulator's budget reports it as the pass's fixed cost."""
    cm = CostModel(name="t", coeffs=(0.010, 0.001, 0.0, 0.0, 0.0), prefill_pass=0.050)
    assert cm.decode_step_time(4, 100) == pytest.approx(0.010 + 0.004)
    assert cm.prefill_time(100) == pytest.approx(0.010 + 0.050 + 0.100)
    cm.save(tmp_path / "p.json")
    assert load_profile(tmp_path / "p.json").prefill_pass == pytest.approx(0.050)
    assert "prefill_pass" not in CostModel(name="z", coeffs=(0.01, 0, 0, 0, 0)).to_dict()["coefficients"]


def test_host_profile_picks_the_amx_variant_only_on_an_amx_cpu(tmp_path):
    from tempo_sglang.sim.costmodel import cpu_flags, host_profile

    assert host_profile("smollm2-135m-cpu", {"avx512f", "amx_bf16"}) == "smollm2-135m-cpu-amx"
    assert host_profile("smollm2-135m-cpu", {"avx512f"}) == "smollm2-135m-cpu"
    assert host_profile("tiny-llama-cpu", {"amx_bf16"}) == "tiny-llama-cpu"  # no variant ships
    assert host_profile("smollm2-135m-cpu-amx", set()) == "smollm2-135m-cpu-amx"  # named outright
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 amx_tile amx_bf16\n")
    assert cpu_flags(info) == {"fpu", "sse2", "amx_tile", "amx_bf16"}
    assert cpu_flags(tmp_path / "missing") == set()
    amx = load_profile("smollm2-135m-cpu-amx")
    assert amx.decode_step_time(1, 200) < load_profile("smollm2-135m-cpu").decode_step_time(1, 200)
    assert amx.prefill_pass > 0


@pytest.mark.parametrize("kind,args,measured", [
    ("decode", (1, 200), 0.050), ("decode", (8, 200), 0.079), ("decode", (16, 200), 0.103),
    ("decode", (32, 200), 0.162), ("decode", (16, 1000), 0.208), ("prefill", (1024,), 0.445),
    ("prefill", (2048,), 0.904),
])
def test_amx_profile_reproduces_its_measured_table(kind, args, measured):
    """The AMX host's table (benchmark/fit_cpu_profile.py, 2026-12-05; decode at the measured
    tokens' mean context, ~28 past the prompt)."""
    cm = load_profile("smollm2-135m-cpu-amx")
    got = cm.prefill_time(*args) if kind == "prefill" else cm.decode_step_time(args[0], args[1] + 28)
    assert abs(got - measured) / measured < 0.08


def test_fit_cpu_profile_recovers_known_coefficients():
    """The profile fit of `benchmark/fit_cpu_profile.py` on a table made from known costs."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmark" / "fit_cpu_profile.py"
    spec = importlib.util.spec_from_file_location("fit_cpu_profile", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    truth = CostModel(name="t", coeffs=(0.040, 0.0005, 1e-7, 1e-5, 0.002), prefill_pass=0.020)
    mid = mod.DECODE_TOKENS // 2 + 4
    table = {"decode": {f"{b}x{c}": truth.decode_step_time(b, c + mid) for b, c in mod.DECODE_POINTS},
             "prefill": {str(n): truth.prefill_time(n) for n in mod.PREFILL_POINTS}}
    coeffs, prefill_pass, err = mod.fit_table(table)
    assert coeffs == pytest.approx(truth.coeffs, rel=1e-3, abs=1e-9)
    assert prefill_pass == pytest.approx(0.020, rel=1e-3)
    assert err["decode_mean_abs_rel"] < 1e-6 and err["prefill_mean_abs_rel"] < 1e-6
