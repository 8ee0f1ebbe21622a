"""The SLO API through SGLang's Python Engine (in-process server), tiny model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.server


def test_engine_validates_and_reports_tempo(tiny_model_path):
    probe = Path(__file__).with_name("engine_probe.py")
    done = subprocess.run([sys.executable, str(probe), str(tiny_model_path)], capture_output=True,
                          text=True, timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, done.stdout[-2000:] + done.stderr[-4000:]
    result = json.loads(lines[-1][len("RESULT "):])
    assert result["tempo"]["class"] == "deadline"
    assert result["tempo"]["policy"] == "tempo"
    assert result["error"] is not None and "deadline_ms" in result["error"]
