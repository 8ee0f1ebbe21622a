#!/usr/bin/env bash
# The README's main job: install, then serve the real default model with Tempo and run the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/tempo-sglang demo "$@"
