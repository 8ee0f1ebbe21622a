#!/usr/bin/env bash
# The README's test command: install (fast when already installed), lint, then run every test,
# including the ones that start a real SGLang server on the tiny model and on the default model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
.venv/bin/ruff check python tests benchmark programs sgl-kernel-patches/src
.venv/bin/python -c "from tempo_sglang.models import resolve_model; resolve_model('tiny'); resolve_model('default')"
exec .venv/bin/pytest -q -p no:cacheprovider "$@"
