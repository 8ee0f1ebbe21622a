"""Make the CUDA build of torchvision importable on a CPU-only machine.

torchvision's wheel on PyPI is a CUDA build: its native library fails to load without CUDA, and
two of its fake-op registrations (``torchvision::nms`` and ``torchvision::qnms``) are not guarded
by the "ops available" check, so ``import torchvision`` raises. SGLang imports torchvision at
start-up through config modules. This guard, installed by a ``.pth`` file, waits until something
imports torchvision and, just before that, defines those two op schemas with pure-torch CPU
implementations. Nothing else is imported early (torch is only imported when torchvision is).
"""

from __future__ import annotations

import importlib.abc
import sys

_DEFINED = False
_LIBRARY = None


def nms_reference(dets, scores, iou_threshold: float):
    """Greedy non-maximum suppression in plain torch (boxes as x1, y1, x2, y2)."""
    import torch

    order = torch.argsort(scores, descending=True)
    keep = []
    areas = (dets[:, 2] - dets[:, 0]).clamp(min=0) * (dets[:, 3] - dets[:, 1]).clamp(min=0)
    suppressed = torch.zeros(dets.shape[0], dtype=torch.bool)
    for idx in order.tolist():
        if suppressed[idx]:
            continue
        keep.append(idx)
        xx1 = torch.maximum(dets[idx, 0], dets[:, 0])
        yy1 = torch.maximum(dets[idx, 1], dets[:, 1])
        xx2 = torch.minimum(dets[idx, 2], dets[:, 2])
        yy2 = torch.minimum(dets[idx, 3], dets[:, 3])
        inter = (xx2 - xx1).clamp(min=0) * (yy2 - yy1).clamp(min=0)
        iou = inter / (areas[idx] + areas - inter).clamp(min=1e-12)
        suppressed |= iou > iou_threshold
    return torch.tensor(keep, dtype=torch.int64)


def define_missing_ops() -> bool:
    """Define ``torchvision::nms`` / ``qnms`` when torchvision's native library cannot provide them."""
    global _DEFINED, _LIBRARY
    if _DEFINED:
        return False
    _DEFINED = True
    import torch

    if torch.cuda.is_available():
        return False  # a real CUDA machine loads torchvision's own ops
    _LIBRARY = torch.library.Library("torchvision", "DEF")
    for name in ("nms", "qnms"):
        _LIBRARY.define(f"{name}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _LIBRARY.impl(name, nms_reference, "CPU")
    return True


class _TorchvisionFinder(importlib.abc.MetaPathFinder):
    """Runs `define_missing_ops` once, right before the first ``import torchvision``."""

    def find_spec(self, fullname, path, target=None):
        if fullname == "torchvision" and not _DEFINED:
            try:
                define_missing_ops()
            except Exception as exc:  # never break interpreter start-up
                print(f"tempo_cpu_shims: torchvision guard failed: {exc}", file=sys.stderr)
        return None  # let the normal finders import the real torchvision


def install() -> None:
    """Install the finder (idempotent); called from the ``.pth`` file."""
    if not any(isinstance(f, _TorchvisionFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _TorchvisionFinder())
