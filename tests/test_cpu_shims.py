"""sgl-kernel-patches: the pure-torch sgl_kernel and the torchvision guard run for real."""

import os
import subprocess
import sys

import pytest
import torch

sgl_kernel = pytest.importorskip("sgl_kernel")


def test_shim_is_ours():
    assert getattr(sgl_kernel, "IS_TEMPO_SHIM", False)


def test_assign_req_to_token_pool_matches_reference():
    table = torch.zeros((4, 10), dtype=torch.int32)
    out_cache_loc = torch.arange(100, 107, dtype=torch.int64)
    sgl_kernel.assign_req_to_token_pool_cpu(
        torch.tensor([2, 0]), table, torch.tensor([3, 0]), torch.tensor([6, 4]), out_cache_loc, 10)
    assert table[2, 3:6].tolist() == [100, 101, 102]
    assert table[0, 0:4].tolist() == [103, 104, 105, 106]
    assert int(table.sum()) == sum(range(100, 107))


def test_unimplemented_op_fails_loudly_naming_it():
    with pytest.raises(NotImplementedError, match="copy_all_layer_kv_cache_cpu"):
        sgl_kernel.copy_all_layer_kv_cache_cpu(None, None, None, None)
    with pytest.raises(NotImplementedError, match="some_future_op"):
        sgl_kernel.some_future_op()


def _run(code: str) -> str:
    env = dict(os.environ, SGLANG_USE_CPU_ENGINE="1")
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True, timeout=300).stdout


def test_torchvision_imports_and_nms_runs_on_cpu():
    out = _run("import torch, torchvision, torchvision.transforms, torchvision.io\n"
               "b = torch.tensor([[0,0,10,10],[1,1,10,10],[20,20,30,30]], dtype=torch.float)\n"
               "s = torch.tensor([0.9, 0.8, 0.7])\n"
               "print(torch.ops.torchvision.nms(b, s, 0.5).tolist())")
    assert out.strip() == "[0, 2]"


def test_sglang_cpu_engine_binds_the_shim():
    out = _run("import sglang.srt.mem_cache.allocation as a, sgl_kernel\n"
               "print(a.assign_req_to_token_pool_cpu is sgl_kernel.assign_req_to_token_pool_cpu)")
    assert out.strip().endswith("True")
