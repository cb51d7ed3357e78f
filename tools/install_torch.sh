#!/usr/bin/env bash
# Install PyTorch 2.13.0 into the given Python environment, choosing the build for this machine:
#   - an NVIDIA GPU (nvidia-smi lists one)  -> the default PyPI build (CUDA)
#   - no NVIDIA GPU, a local CPU wheel found by pip's find-links (no index asked) -> that wheel
#   - no NVIDIA GPU otherwise                -> the CPU build from PyTorch's CPU index (~200 MB, not GBs)
# An environment that already has torch is left alone.
# Usage: tools/install_torch.sh PYTHON [--dry-run]   (--dry-run prints the choice, installs nothing)
set -euo pipefail
PY="${1:?usage: tools/install_torch.sh PYTHON [--dry-run]}"
DRY="${2:-}"
VERSION="2.13.0"
run() { if [ "$DRY" = "--dry-run" ]; then echo "would run: $*"; else "$@"; fi; }

if "$PY" -c "import torch" >/dev/null 2>&1; then
  echo "torch: already installed ($("$PY" -c 'import torch; print(torch.__version__)'))"
  exit 0
fi
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q "GPU"; then
  echo "torch: NVIDIA GPU found -> default (CUDA) build"
  run "$PY" -m pip install -q "torch==$VERSION"
elif [ "$DRY" != "--dry-run" ] && "$PY" -m pip install -q --no-index --no-deps "torch==$VERSION" >/dev/null 2>&1; then
  echo "torch: no NVIDIA GPU -> local CPU wheel"
  "$PY" -m pip install -q "torch==$VERSION"  # its dependencies
else
  echo "torch: no NVIDIA GPU -> CPU build"
  run "$PY" -m pip install -q "torch==$VERSION" --index-url https://download.pytorch.org/whl/cpu \
    --extra-index-url https://pypi.org/simple
fi
