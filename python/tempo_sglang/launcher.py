"""Launch and stop a patched SGLang server (used by ``serve``, ``demo``, the bench and the tests).

On a machine without CUDA the CPU recipe of SPEC section 5 is applied: ``SGLANG_USE_CPU_ENGINE=1``
plus ``--device cpu --attention-backend torch_native --sampling-backend pytorch --sleep-on-idle
--max-total-tokens N --mem-fraction-static 0.05``. The server runs in its own process group so
stopping it stops every child process SGLang spawned.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tempo_sglang.sglang.config import POLICY_ENV, STOCK_POLICIES

CPU_MAX_TOTAL_TOKENS = 32768


def has_cuda() -> bool:
    """True when a CUDA GPU is usable (then stock SGLang flags are used)."""
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:
        return False


def free_port() -> int:
    """A free TCP port on localhost."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _has_flag(args: list[str], flag: str) -> bool:
    return any(a == flag or a.startswith(flag + "=") for a in args)


def server_command(model_path: Path | str, port: int, extra_args: list[str] | None = None,
                   cpu: bool | None = None, host: str = "127.0.0.1", policy: str | None = None) -> list[str]:
    """The ``sglang.launch_server`` command line, with the CPU recipe when there is no GPU.

    Tempo's own policies park requests between steps, which needs SGLang's non-overlap scheduler:
    ``--disable-overlap-schedule`` is added for them (fcfs and lpm keep SGLang's default).
    """
    extra = list(extra_args or [])
    if policy and policy not in STOCK_POLICIES and not _has_flag(extra, "--disable-overlap-schedule"):
        extra.append("--disable-overlap-schedule")
    cmd = [sys.executable, "-m", "sglang.launch_server", "--model-path", str(model_path),
           "--host", host, "--port", str(port)]
    cpu = (not has_cuda()) if cpu is None else cpu
    if cpu:
        defaults = {
            "--device": "cpu", "--attention-backend": "torch_native", "--sampling-backend": "pytorch",
            "--max-total-tokens": str(CPU_MAX_TOTAL_TOKENS), "--mem-fraction-static": "0.05",
        }
        for flag, value in defaults.items():
            if not _has_flag(extra, flag):
                cmd += [flag, value]
        if not _has_flag(extra, "--sleep-on-idle"):
            cmd.append("--sleep-on-idle")
    return cmd + extra


def server_env(policy: str | None, cpu: bool | None = None) -> dict[str, str]:
    """Environment for the server: Tempo's policy and, without a GPU, SGLang's CPU engine."""
    env = dict(os.environ)
    cpu = (not has_cuda()) if cpu is None else cpu
    if cpu:
        env["SGLANG_USE_CPU_ENGINE"] = "1"
    if policy:
        env[POLICY_ENV] = policy
    else:
        env.pop(POLICY_ENV, None)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def stop_process_group(process: subprocess.Popen, timeout: float = 20.0) -> None:
    """Stop ``process`` and every process in its group (SIGTERM, then SIGKILL after ``timeout``)."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)
    except ProcessLookupError:
        pass


@dataclass
class ServerProcess:
    """A running SGLang server: start with `start`, stop with `stop` (or use as a context manager)."""

    model_path: Path | str
    policy: str | None = "tempo"
    port: int = 0
    extra_args: list[str] = field(default_factory=list)
    log_path: Path | None = None
    startup_timeout: float = 300.0
    env: dict[str, str] = field(default_factory=dict)  # extra environment (e.g. TEMPO_SGLANG_LENGTH_MODEL)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerProcess:
        """Launch the server and block until it answers ``/health_generate``."""
        if not self.port:
            self.port = free_port()
        cmd = server_command(self.model_path, self.port, self.extra_args, policy=self.policy)
        log = open(self.log_path, "w") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(cmd, env=server_env(self.policy) | self.env, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        deadline = time.time() + self.startup_timeout
        while time.time() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"SGLang server exited with code {self.process.returncode} during "
                                   f"start-up; see {self.log_path or 'its output'}")
            try:
                if requests.get(self.url + "/health_generate", timeout=30).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(1.0)
        self.stop()
        raise TimeoutError(f"SGLang server not ready after {self.startup_timeout:.0f} s")

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the server and every process in its group."""
        if self.process is not None:
            stop_process_group(self.process, timeout)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
