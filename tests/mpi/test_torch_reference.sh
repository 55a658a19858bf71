#!/usr/bin/env bash
# The transformer layers (attention, layernorm, gelu, position_embedding)
# against PyTorch: forward outputs, parameter and input gradients agree
# with torch's autograd in float64 (tests/torch/check_transformer.py).
# Needs Debian's python3-torch; without it the test says so and passes.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3
if ! "$PY" -c 'import torch' 2>/dev/null; then
  echo "skipped: python3-torch is not installed"
  exit 0
fi
"$PY" tests/torch/check_transformer.py "${BUILD:-build/rel}"
