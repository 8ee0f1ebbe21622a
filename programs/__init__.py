"""Six agent programs in SGLang's frontend language, runnable with a Tempo SLO (see run_all.py).

Each module defines ``program`` (an ``@sgl.function``), ``KIND``, ``default_args()`` (real inputs
from installed packages: HumanEval prompts, the Zen of Python, Python stdlib docstrings) and
``SHAPE`` (the DAG it makes, in words). `load` imports one by name.
"""

from __future__ import annotations

import importlib
from types import ModuleType

NAMES = ("chat", "react", "map_reduce", "tree_of_thought", "self_refine", "debate")


def load(name: str) -> ModuleType:
    """The program module ``programs.<name>``."""
    if name not in NAMES:
        raise KeyError(f"unknown program {name!r} (known: {', '.join(NAMES)})")
    return importlib.import_module(f"programs.{name}")
