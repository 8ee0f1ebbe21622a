"""How a server is told to run Tempo: environment variables read in every SGLang process.

`tempo-sglang serve` sets them; SGLang's spawned processes inherit them. Without
``TEMPO_SGLANG_POLICY`` the plugin registers nothing and stock SGLang runs unchanged.
"""

from __future__ import annotations

import os

POLICY_ENV = "TEMPO_SGLANG_POLICY"
STOCK_POLICIES = ("fcfs", "lpm")  # SGLang's own schedulers: the plugin validates and reports only
LENGTH_MODEL_ENV = "TEMPO_SGLANG_LENGTH_MODEL"  # a length model (.npz, `tempo-sglang predictor seed`)
ANALYZER_ONLINE_ENV = "TEMPO_SGLANG_ANALYZER_ONLINE"  # "1": retrain from finished requests as they come


def enabled_policy() -> str | None:
    """The policy name the server was started with, or None when Tempo is not enabled."""
    value = os.environ.get(POLICY_ENV, "").strip()
    return value or None


def length_model_path() -> str | None:
    """The length model the analyzer starts from (None: the default bound until one is learned)."""
    value = os.environ.get(LENGTH_MODEL_ENV, "").strip()
    return value or None


def analyzer_online() -> bool:
    """Whether the analyzer learns from finished requests in a background trainer."""
    return os.environ.get(ANALYZER_ONLINE_ENV, "").strip() in ("1", "true", "yes")
