"""Background trainer: a separate process that learns length models from finished requests over ZMQ.

The scheduler side (`TrainerClient`) PUSHes finished-request samples with ``NOBLOCK`` (a full queue
drops the sample and counts it; the scheduling loop never waits) and polls a SUB socket for "a new model
is at PATH" notices. The trainer process (``python -m tempo_sglang.analyzer.trainer``) PULLs samples,
appends them to ``samples.jsonl`` in its work directory (so a restart keeps them), retrains every
``retrain_every`` new samples, writes the model atomically and PUBlishes its path; it repeats the latest
notice every few seconds for late subscribers, runs at a lower CPU priority with one thread, and exits
on a ``stop`` message or when its parent process is gone.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

import zmq

from tempo_sglang.analyzer.length_model import SCHEDULING_QUANTILE
from tempo_sglang.analyzer.samples import LengthSample, heads_of, read_jsonl, to_arrays, write_jsonl

SAMPLES_SOCK = "samples.ipc"
UPDATES_SOCK = "updates.ipc"
HEARTBEAT_S = 2.0


def endpoints(workdir: str | Path) -> tuple[str, str]:
    workdir = Path(workdir)
    return f"ipc://{workdir / SAMPLES_SOCK}", f"ipc://{workdir / UPDATES_SOCK}"


class TrainerClient:
    """The scheduler side: non-blocking sample push, non-blocking model-update poll."""

    def __init__(self, workdir: str | Path, process: subprocess.Popen | None = None, hwm: int = 10000):
        self.workdir = Path(workdir)
        self.process = process
        samples_ep, updates_ep = endpoints(self.workdir)
        self._ctx = zmq.Context.instance()
        self._push = self._ctx.socket(zmq.PUSH)
        self._push.setsockopt(zmq.SNDHWM, hwm)
        self._push.setsockopt(zmq.LINGER, 0)
        self._push.connect(samples_ep)
        self._sub = self._ctx.socket(zmq.SUB)
        self._sub.setsockopt(zmq.LINGER, 0)
        self._sub.setsockopt(zmq.SUBSCRIBE, b"")
        self._sub.connect(updates_ep)
        self.version = 0
        self.dropped = 0

    @classmethod
    def spawn(cls, workdir: str | None = None, model_path: str | None = None, seed_jsonl: str | None = None,
              retrain_every: int = 200, min_samples: int = 100, quantile: float = SCHEDULING_QUANTILE,
              model_name: str | None = None) -> TrainerClient:
        """Start a trainer process and connect to it."""
        workdir = workdir or tempfile.mkdtemp(prefix="tempo-an-")
        Path(workdir).mkdir(parents=True, exist_ok=True)
        model_path = model_path or str(Path(workdir) / "length_model.npz")
        cmd = [sys.executable, "-m", "tempo_sglang.analyzer.trainer", "--workdir", str(workdir),
               "--model-path", model_path, "--retrain-every", str(retrain_every),
               "--min-samples", str(min_samples), "--quantile", str(quantile), "--parent", str(os.getpid())]
        if seed_jsonl:
            cmd += ["--seed-jsonl", seed_jsonl]
        if model_name:
            cmd += ["--model-name", model_name]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, env=env)
        return cls(workdir, proc)

    def push(self, sample: LengthSample) -> bool:
        """Queue a finished request for training; never blocks (False: dropped)."""
        try:
            self._push.send_json(sample.to_json(), flags=zmq.NOBLOCK)
            return True
        except zmq.Again:
            self.dropped += 1
            return False

    def command(self, name: str) -> bool:
        """Send a control message (``train`` or ``stop``) without blocking."""
        try:
            self._push.send_json({"cmd": name}, flags=zmq.NOBLOCK)
            return True
        except zmq.Again:
            return False

    def poll_update(self) -> str | None:
        """Path of a model newer than the last one seen, if announced; never blocks."""
        newest = None
        while True:
            try:
                note = self._sub.recv_json(flags=zmq.NOBLOCK)
            except zmq.Again:
                break
            if int(note.get("version", 0)) > self.version:
                self.version = int(note["version"])
                newest = note.get("path")
        return newest

    def close(self, timeout: float = 5.0) -> None:
        if self.process is not None:
            self.command("stop")
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.terminate()
                self.process.wait(timeout)
            self.process = None
        self._push.close()
        self._sub.close()


def _train_and_publish(samples, args, version: int, pub) -> int:
    from tempo_sglang.analyzer.length_model import ForestConfig, train_length_model

    x, y = to_arrays(samples)
    model = train_length_model(x, y, ForestConfig(quantile=args.quantile), model_name=args.model_name,
                               heads=heads_of(samples))
    model.save(args.model_path)
    version += 1
    pub.send_json({"version": version, "path": args.model_path, "n_samples": len(samples)})
    return version


def run(args: argparse.Namespace) -> int:
    """The trainer process's main loop."""
    try:
        os.nice(10)
    except OSError:
        pass
    workdir = Path(args.workdir)
    log_path = workdir / "samples.jsonl"
    samples: deque[LengthSample] = deque(maxlen=args.max_samples)
    for src in (args.seed_jsonl, log_path):
        if src and Path(src).exists():
            samples.extend(read_jsonl(src))
    ctx = zmq.Context.instance()
    pull = ctx.socket(zmq.PULL)
    pub = ctx.socket(zmq.PUB)
    samples_ep, updates_ep = endpoints(workdir)
    pull.bind(samples_ep)
    pub.bind(updates_ep)
    version, pending, last_beat = 0, len(samples), time.monotonic()
    while True:
        if pull.poll(500):
            batch, force, stop = [], False, False
            while True:
                try:
                    msg = pull.recv_json(flags=zmq.NOBLOCK)
                except zmq.Again:
                    break
                cmd = msg.get("cmd") if isinstance(msg, dict) else None
                if cmd == "stop":
                    stop = True
                elif cmd == "train":
                    force = True
                else:
                    try:
                        batch.append(LengthSample.from_json(msg))
                    except (ValueError, TypeError):
                        continue
            if batch:
                samples.extend(batch)
                write_jsonl(log_path, batch, append=True)
                pending += len(batch)
            if stop:
                break
            if len(samples) >= args.min_samples and (pending >= args.retrain_every or (force and pending)):
                try:
                    version = _train_and_publish(list(samples), args, version, pub)
                except Exception as exc:  # keep serving the last model; never die on a bad fit
                    print(f"tempo-sglang trainer: training failed: {type(exc).__name__}: {exc}", file=sys.stderr)
                pending = 0
        if version and time.monotonic() - last_beat >= HEARTBEAT_S:
            pub.send_json({"version": version, "path": args.model_path, "n_samples": len(samples)})
            last_beat = time.monotonic()
        if args.parent and not _alive(args.parent):
            break
    pull.close()
    pub.close()
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="tempo-sglang background length-model trainer")
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--model-path", required=True)
    parser.add_argument("--seed-jsonl")
    parser.add_argument("--model-name")
    parser.add_argument("--retrain-every", type=int, default=200)
    parser.add_argument("--min-samples", type=int, default=100)
    parser.add_argument("--max-samples", type=int, default=50000)
    parser.add_argument("--quantile", type=float, default=SCHEDULING_QUANTILE)
    parser.add_argument("--parent", type=int, default=0)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
