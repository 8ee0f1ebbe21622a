"""How a server is told to run Tempo: environment variables read in every SGLang process.

`tempo-sglang serve` sets them; SGLang's spawned processes inherit them. Without
``TEMPO_SGLANG_POLICY`` the plugin registers nothing and stock SGLang runs unchanged.
"""

from __future__ import annotations

import os

POLICY_ENV = "TEMPO_SGLANG_POLICY"
STOCK_POLICIES = ("fcfs", "lpm")  # SGLang's own schedulers: the plugin validates and reports only


def enabled_policy() -> str | None:
    """The policy name the server was started with, or None when Tempo is not enabled."""
    value = os.environ.get(POLICY_ENV, "").strip()
    return value or None
