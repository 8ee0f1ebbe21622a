"""Azure trace replay reads the real file, rescales its time axis, and falls back when absent."""

from __future__ import annotations

import csv
import warnings

import numpy as np
import pytest

from tempo_sglang.workloads import make_workload
from tempo_sglang.workloads.azure import TRACE_FILES, default_data_dir, load_trace

DATA = default_data_dir()


@pytest.mark.skipif(not (DATA / TRACE_FILES["conv"]).is_file(), reason="shared Azure data not present")
@pytest.mark.parametrize("name,kind", [("azure-conv", "conv"), ("azure-code", "code")])
def test_replay_reads_the_real_file(name, kind):
    with open(DATA / TRACE_FILES[kind], newline="") as fh:
        rows = [r for _, r in zip(range(300), csv.DictReader(fh), strict=False)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning when the file is there
        wl = make_workload(name, rate=None, seed=0, num_requests=300)
    by_rid = sorted(wl.items, key=lambda it: int(it.rid.rsplit("-", 1)[1]))
    assert [it.prompt_len for it in by_rid] == [int(r["ContextTokens"]) for r in rows]
    assert [it.output_len for it in by_rid] == [int(r["GeneratedTokens"]) for r in rows]
    assert any(str(DATA) in n for n in wl.notes)
    classes = {it.slo_class.value for it in wl.items}
    assert classes == {"latency", "deadline"}


@pytest.mark.skipif(not (DATA / TRACE_FILES["conv"]).is_file(), reason="shared Azure data not present")
def test_replay_rescales_to_the_requested_rate():
    native = make_workload("azure-conv", rate=None, seed=0, num_requests=2000)
    assert (len(native.items) - 1) / native.duration == pytest.approx(5.5, rel=0.25)
    fast = make_workload("azure-conv", rate=20.0, seed=0, num_requests=2000)
    assert (len(fast.items) - 1) / fast.duration == pytest.approx(20.0, rel=1e-6)
    big = load_trace("code", 10000, np.random.default_rng(0))  # more rows than the file: cycles
    assert len(big.timestamps) == 10000 and np.all(np.diff(big.timestamps) >= 0)


@pytest.mark.parametrize("name", ["azure-conv", "azure-code"])
def test_falls_back_to_fitted_generator_when_absent(tmp_path, name):
    with pytest.warns(RuntimeWarning, match="synthetic generator"):
        wl = make_workload(name, rate=4.0, seed=1, num_requests=3000, data_dir=tmp_path)
    assert any("synthetic" in n for n in wl.notes)
    assert (len(wl.items) - 1) / wl.duration == pytest.approx(4.0, rel=1e-6)
    mu_in = 6.63 if name == "azure-conv" else 7.00
    assert np.log([it.prompt_len for it in wl.items]).mean() == pytest.approx(mu_in, abs=0.1)
