#!/usr/bin/env bash
# The README's first command: a short training of the Fashion-MNIST MLP on
# 2 ranks, then its test accuracy.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${BUILD:-build/rel}"
exec scripts/mpirun.sh 2 "$BUILD/bin/axon" train configs/fashion_mlp.yaml \
  --set training.epochs="${EPOCHS:-2}" "$@"
