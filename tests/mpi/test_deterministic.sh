#!/usr/bin/env bash
# training.deterministic: the same bits on 1, 2, 4 (and 8) ranks. An MLP,
# LeNet (max-pooling: a last-bit difference flips a window's maximum;
# standardised inputs), a batchnorm CNN with dropout and a char LSTM (a
# whole epoch, with its validation loss) train a few steps on each rank
# count; every checkpoint's parameters, optimizer state, position and
# early-stopping record must be byte-identical (ckpt_compare --exact, and
# `cmp` of the parameter dumps). A
# checkpoint written on 4 ranks resumes on 2, and one from 1 rank on 4, and
# each ends byte-identical to the run that never changed rank count. Rank
# counts and options the mode cannot make deterministic stop at start-up.
source "$(dirname "$0")/lib.sh"
TEXT=/usr/share/common-licenses/GPL-3
det=(--quiet --set training.deterministic=true --set checkpoint.every_epochs=0)

# run NAME NP CONFIG ARGS...: train into $WORK/NAME-npNP
run() {
  local name="$1" np="$2" cfg="$3"; shift 3
  axon_np "$np" train "$cfg" "${det[@]}" "$@" \
    --set checkpoint.dir="$WORK/$name-np$np" >/dev/null \
    || fail "$name on $np ranks"
}
# same NAME A B: the two runs' checkpoints hold the same bits
same() {
  local a="$WORK/$1-np$2/last.ckpt" b="$WORK/$1-np$3/last.ckpt"
  "$CMP" "$a" "$b" --exact >/dev/null || { "$CMP" "$a" "$b" --exact; fail "$1: $2 vs $3 ranks differ"; }
  "$CMP" "$a" --print >"$WORK/a.txt" && "$CMP" "$b" --print >"$WORK/b.txt"
  cmp -s "$WORK/a.txt" "$WORK/b.txt" || fail "$1: $2 vs $3 ranks: parameter dumps differ"
}
# model NAME CONFIG NPS ARGS...: train on each rank count, compare to 1
model() {
  local name="$1" cfg="$2" nps="$3"; shift 3
  for np in 1 $nps; do run "$name" "$np" "$cfg" "$@"; done
  for np in $nps; do same "$name" 1 "$np"; done
  ok "$name: 1 and $nps ranks give the same bits"
}

mlp=(--set data.limit=1200 --set training.max_steps=6 --set training.batch_size=64
     --set model.layers.0.units=64 --set model.layers.2.units=32)
model mlp configs/fashion_mlp.yaml "2 4 8" "${mlp[@]}"
model lenet configs/fashion_lenet.yaml "2 4" --set data.limit=600 \
  --set training.max_steps=5 --set training.accumulate=1 \
  --set data.normalize=standardize
model bn configs/fashion_cnn_bn.yaml "2 4" --set data.limit=600 \
  --set training.max_steps=4 --set training.batch_size=64 \
  --set model.layers.0.filters=8 --set model.layers.4.filters=8 \
  --set model.layers.8.units=32
if [ -r "$TEXT" ]; then
  # a whole epoch: the validation loss (early stopping's record, raw
  # bytes in the checkpoint) is compared too
  model lstm configs/char_lstm.yaml "2 4" --set data.limit=200 \
    --set training.epochs=1 --set model.layers.1.hidden=32 \
    --set model.layers.0.dim=16 --set early_stopping.patience=2
fi
# across nodes the ranks' partial sums travel as messages, not through
# shared memory: the same tree, so the same bits
for np in 2 4; do
  AXON_TREE_BY_MESSAGES=1 run mlpmsg "$np" configs/fashion_mlp.yaml "${mlp[@]}"
  "$CMP" "$WORK/mlp-np1/last.ckpt" "$WORK/mlpmsg-np$np/last.ckpt" --exact >/dev/null \
    || fail "mlp on $np ranks by messages differs"
done
ok "mlp: the sum by messages (several nodes) gives the same bits on 2 and 4 ranks"
# the test can fail: more steps give other parameters
run mlp7 1 configs/fashion_mlp.yaml "${mlp[@]}" --set training.max_steps=7
! "$CMP" "$WORK/mlp-np1/last.ckpt" "$WORK/mlp7-np1/last.ckpt" --exact >/dev/null 2>&1 \
  || fail "6 and 7 steps give the same parameters"
ok "the parameters move from step to step"

# ---- resume on another rank count: 4 -> 2 and 1 -> 4 ----------------------
# resume FROM TO: 3 steps on FROM ranks, the other 3 on TO ranks; the
# result must be the bits of the 6-step run on 1 rank
resume() {
  local name="r$1$2"
  run "$name" "$1" configs/fashion_mlp.yaml "${mlp[@]}" --set training.max_steps=3
  mv "$WORK/$name-np$1" "$WORK/$name-np$2-resumed"
  axon_np "$2" train configs/fashion_mlp.yaml "${det[@]:1}" "${mlp[@]}" \
    --set checkpoint.dir="$WORK/$name-np$2-resumed" --resume auto >"$WORK/out" \
    || fail "resume $1 -> $2"
  grep -q "resumed from .*global step 3\b" "$WORK/out" || fail "$1 -> $2: did not resume"
  "$CMP" "$WORK/mlp-np1/last.ckpt" "$WORK/$name-np$2-resumed/last.ckpt" --exact >/dev/null \
    || fail "$1 -> $2 resume differs from the uninterrupted run"
  ok "a checkpoint of $1 rank(s) resumed on $2 gives the same bits"
}
resume 4 2
resume 1 4

# ---- what the mode refuses, at start-up, exit 2 ---------------------------
bad=(--quiet --set training.deterministic=true --set data.limit=300 --set training.max_steps=1)
expect_exit 2 "3 ranks do not divide the 8 micro-shards.*run on 1, 2, 4 or 8 ranks" 3 \
  train configs/fashion_mlp.yaml "${bad[@]}"
expect_exit 2 "4 ranks do not divide the 2 micro-shards" 4 \
  train configs/fashion_mlp.yaml "${bad[@]}" --set training.micro_shards=2
expect_exit 2 "training.micro_shards: must be a power of two" 1 \
  train configs/fashion_mlp.yaml "${bad[@]}" --set training.micro_shards=6
expect_exit 2 "training.micro_shards: exceeds training.batch_size" 1 \
  train configs/fashion_mlp.yaml "${bad[@]}" --set training.batch_size=4
expect_exit 2 "training.micro_shards: has no effect without training.deterministic" 1 \
  train configs/fashion_mlp.yaml --quiet --set training.micro_shards=4
expect_exit 2 "training.accumulate: not supported with training.deterministic" 1 \
  train configs/fashion_lenet.yaml "${bad[@]}"
expect_exit 2 "objective gan does not run its passes per micro-shard" 1 \
  train configs/fashion_gan.yaml "${bad[@]}"
if [ -r "$TEXT" ]; then
  expect_exit 2 "the stream sampler cannot cut its batches into micro-shards" 1 \
    train configs/char_lstm_stream.yaml "${bad[@]}"
fi
