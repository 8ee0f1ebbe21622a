"""A pure-torch stand-in for the CPU build of ``sgl_kernel`` (not published on PyPI).

Under ``SGLANG_USE_CPU_ENGINE=1`` two SGLang modules import ops from ``sgl_kernel`` at import time.
This package implements what plain CPU serving can reach with plain torch and makes every other
op fail loudly, naming the op, instead of computing something wrong.
"""

from __future__ import annotations

import torch

__version__ = "0.0.0+tempo.cpu.shim"
IS_TEMPO_SHIM = True

# Counts calls of the implemented fallbacks, so tests can prove the real code path ran.
CALL_COUNTS: dict[str, int] = {}


class ShimOpNotImplementedError(NotImplementedError):
    """Raised when SGLang calls an sgl_kernel op that this CPU shim does not implement."""


def assign_req_to_token_pool_cpu(req_pool_indices: torch.Tensor, req_to_token: torch.Tensor,
                                 start_offset: torch.Tensor, end_offset: torch.Tensor,
                                 out_cache_loc: torch.Tensor, pool_len: int) -> None:
    """Write each request's new KV slots into its row of the request-to-token table.

    Request ``i`` gets ``out_cache_loc[o_i : o_i + (end_i - start_i)]`` written to
    ``req_to_token[req_pool_indices[i], start_i:end_i]``, where ``o_i`` is the running sum of the
    lengths of the requests before it (the same contract as SGLang's Triton kernel).
    """
    CALL_COUNTS["assign_req_to_token_pool_cpu"] = CALL_COUNTS.get("assign_req_to_token_pool_cpu", 0) + 1
    starts = start_offset.tolist()
    ends = end_offset.tolist()
    rows = req_pool_indices.tolist()
    offset = 0
    for row, start, end in zip(rows, starts, ends, strict=True):
        length = end - start
        if length <= 0:
            continue
        if end > pool_len:
            raise IndexError(f"assign_req_to_token_pool_cpu: end {end} exceeds pool length {pool_len}")
        req_to_token[row, start:end] = out_cache_loc[offset:offset + length].to(req_to_token.dtype)
        offset += length


def _missing(name: str):
    def op(*args, **kwargs):
        raise ShimOpNotImplementedError(
            f"sgl_kernel.{name} is not implemented by the tempo CPU shim (sgl-kernel-patches); "
            "this code path needs SGLang's native CPU kernels, which are not on PyPI")

    op.__name__ = name
    return op


copy_all_layer_kv_cache_cpu = _missing("copy_all_layer_kv_cache_cpu")


def __getattr__(name: str):
    """Any other op resolves to a function that raises ShimOpNotImplementedError when called."""
    if name.startswith("__"):
        raise AttributeError(name)
    return _missing(name)
