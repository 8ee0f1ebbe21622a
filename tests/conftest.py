"""Shared fixtures: a real SGLang server on the tiny random-weight model (started once per session)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model_path() -> Path:
    from tempo_sglang.models import resolve_model

    return resolve_model("tiny")


def _start(model_path: Path, policy: str | None, tmp_dir: Path, extra: list[str] | None = None,
           env: dict[str, str] | None = None):
    from tempo_sglang.launcher import ServerProcess

    log = tmp_dir / f"server-{policy or 'stock'}.log"
    return ServerProcess(model_path=model_path, policy=policy, log_path=log,
                         extra_args=list(extra or []), env=dict(env or {})).start()


@pytest.fixture(scope="session")
def tiny_server(tiny_model_path, tmp_path_factory):
    """A tiny-model server with the Tempo plugin enabled (policy ``tempo``)."""
    server = _start(tiny_model_path, os.environ.get("TEMPO_TEST_POLICY", "tempo"),
                    tmp_path_factory.mktemp("tiny-server"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def start_server(tiny_model_path, tmp_path_factory):
    """Factory for extra servers (stopped at the end of the session)."""
    started = []

    def factory(policy: str | None, extra: list[str] | None = None, model_path: Path | None = None,
                env: dict[str, str] | None = None):
        server = _start(model_path or tiny_model_path, policy, tmp_path_factory.mktemp("server"), extra, env)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()
