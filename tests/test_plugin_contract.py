"""The plugin's contract with SGLang, and that it is inert unless Tempo is enabled."""

import os
import subprocess
import sys

from tempo_sglang.sglang import contract


def test_installed_sglang_matches_the_pinned_contract():
    assert contract.check_contract() == []


def test_contract_detects_a_changed_signature(monkeypatch):
    changed = dict(contract.HOOKED_SIGNATURES)
    target = "sglang.srt.sampling.sampling_params.SamplingParams.verify"
    changed[target] = ("self", "vocab_size", "strict")
    monkeypatch.setattr(contract, "HOOKED_SIGNATURES", changed)
    problems = contract.check_contract()
    assert any(target in p for p in problems)


def test_contract_detects_a_missing_name(monkeypatch):
    changed = dict(contract.HOOKED_SIGNATURES)
    changed["sglang.srt.managers.scheduler.Scheduler.no_such_method"] = ("self",)
    monkeypatch.setattr(contract, "HOOKED_SIGNATURES", changed)
    assert any("no_such_method" in p for p in contract.check_contract())


def _registered_targets(policy: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "TEMPO_SGLANG_POLICY"}
    if policy:
        env["TEMPO_SGLANG_POLICY"] = policy
    code = ("from sglang.srt.plugins.hook_registry import HookRegistry\n"
            "from tempo_sglang.sglang.plugin import register\n"
            "register()\n"
            "print(sorted(HookRegistry._hooks))")
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True, timeout=300).stdout.strip().splitlines()[-1]


def test_plugin_is_inert_without_tempo():
    assert _registered_targets(None) == "[]"


def test_plugin_registers_hooks_when_enabled():
    out = _registered_targets("fcfs")
    assert "SamplingParams.verify" in out and "_create_generation_req" in out
