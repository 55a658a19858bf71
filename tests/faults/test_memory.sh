#!/usr/bin/env bash
# A config that cannot fit in memory is refused at start-up, with exit 2
# and a message naming what is large and what to change - not a malloc
# failure (exit 1, the job aborted) or the kernel's OOM killer. Both sizes
# below are far beyond any machine this runs on: 16 TB of parameters, and
# 4096 filters of 26x26 for a batch of 60,000 on 2 ranks (~300 GB of
# activations per rank, even in LeNet's 4 micro-batches).
source "$(dirname "$0")/../mpi/lib.sh"
q=(--quiet --set training.max_steps=1 --set checkpoint.dir="$WORK/ck")
expect_exit 2 "model: [0-9.]+ GB of parameters and gradients exceed this machine's [0-9.]+ GB; the largest is layer 'fc1' \(dense\)" \
  2 train configs/fashion_mlp.yaml "${q[@]}" --set model.layers.0.units=2000000000
expect_exit 2 "the run needs about [0-9.]+ GB per rank .* the output of layer 'conv2d_1' \(conv2d, 2768896 values per row\) for [0-9]+ rows .* lower training.batch_size, raise training.accumulate" \
  2 train configs/fashion_lenet.yaml "${q[@]}" --set model.layers.0.filters=4096 \
  --set model.layers.0.padding=0 --set model.layers.0.kernel=3 --set training.batch_size=60000
# a model that fits still trains
axon_np 2 train configs/fashion_lenet.yaml "${q[@]}" --set data.limit=512 --set training.batch_size=64 >/dev/null \
  || fail "a LeNet that fits was refused"
ok "a LeNet that fits still trains"
