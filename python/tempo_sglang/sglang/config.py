"""How a server is told to run Tempo: environment variables read in every SGLang process.

`tempo-sglang serve` sets them; SGLang's spawned processes inherit them. Without
``TEMPO_SGLANG_POLICY`` the plugin registers nothing and stock SGLang runs unchanged.
"""

from __future__ import annotations

import json
import os

POLICY_ENV = "TEMPO_SGLANG_POLICY"
STOCK_POLICIES = ("fcfs", "lpm")  # SGLang's own schedulers: the plugin validates and reports only
LENGTH_MODEL_ENV = "TEMPO_SGLANG_LENGTH_MODEL"  # a length model (.npz, `tempo-sglang predictor seed`)
ANALYZER_ONLINE_ENV = "TEMPO_SGLANG_ANALYZER_ONLINE"  # "1": retrain from finished requests as they come
POLICY_OPTIONS_ENV = "TEMPO_SGLANG_POLICY_OPTIONS"  # JSON object: keyword arguments of the policy
COST_PROFILE_ENV = "TEMPO_SGLANG_COST_PROFILE"  # simulator profile (name or JSON path): the step-time prior
_CPU_PROFILES = {"smollm2": "smollm2-135m-cpu", "tiny-llama": "tiny-llama-cpu"}


def enabled_policy() -> str | None:
    """The policy name the server was started with, or None when Tempo is not enabled."""
    value = os.environ.get(POLICY_ENV, "").strip()
    return value or None


def policy_options(environ: dict | None = None) -> dict:
    """Keyword arguments for the policy (``TEMPO_SGLANG_POLICY_OPTIONS``, a JSON object; {} if unset).

    Raises ValueError on anything but a JSON object, so a typo stops the server at start-up."""
    return parse_policy_options((os.environ if environ is None else environ).get(POLICY_OPTIONS_ENV), POLICY_OPTIONS_ENV)


def parse_policy_options(raw: str | None, source: str = "--policy-options") -> dict:
    """A JSON object of policy keyword arguments ({} when empty); ValueError naming ``source`` otherwise."""
    raw = (raw or "").strip()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{source} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{source} must be a JSON object, got {raw!r}")
    return value


def length_model_path() -> str | None:
    """The length model the analyzer starts from (None: the default bound until one is learned)."""
    value = os.environ.get(LENGTH_MODEL_ENV, "").strip()
    return value or None


def analyzer_online() -> bool:
    """Whether the analyzer learns from finished requests in a background trainer."""
    return os.environ.get(ANALYZER_ONLINE_ENV, "").strip() in ("1", "true", "yes")


def cost_profile_name(model_path: str | None) -> str | None:
    """The cost profile whose step-time coefficients seed the engine's online fit: the one named in
    ``TEMPO_SGLANG_COST_PROFILE``, else the shipped CPU profile of a known model on the CPU engine
    (its variant for this host's CPU, `sim.costmodel.host_profile`)."""
    value = os.environ.get(COST_PROFILE_ENV, "").strip()
    if value:
        return value
    if os.environ.get("SGLANG_USE_CPU_ENGINE") != "1" or not model_path:
        return None
    lowered = str(model_path).lower()
    name = next((profile for key, profile in _CPU_PROFILES.items() if key in lowered), None)
    if name is None:
        return None
    from tempo_sglang.sim.costmodel import host_profile  # no SGLang/torch import there

    return host_profile(name)
