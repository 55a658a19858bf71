#!/usr/bin/env bash
# Truncated BPTT over a text stream (data.stream true, a stateful lstm):
# 1, 2 and 3 ranks train to the same parameters; carrying the state
# between windows lowers the training loss compared with the same model
# restarted from zeros at every window; a resume at an epoch boundary is
# exact (the state is reset there anyway), and so is one mid-epoch (the
# checkpoint carries the streams' state); bad combinations are errors.
source "$(dirname "$0")/lib.sh"
TEXT=/usr/share/common-licenses/GPL-3
[ -r "$TEXT" ] || { echo "skipped: $TEXT not present"; exit 0; }

# Windows of 8 characters: without carried state the first characters of
# every window have almost no context, so state carrying shows clearly.
cat > "$WORK/s.yaml" <<EOF2
model:
  layers:
    - {type: embedding, vocab: 256, dim: 16}
    - {type: lstm, hidden: 64, sequences: true, stateful: true}
    - {type: dense, units: 256, time_distributed: true}
loss: cross_entropy
optimizer: {type: adam}
data: {format: text, train: $TEXT, seq_len: 8, stream: true}
training: {epochs: 3, batch_size: 16, lr: 0.01, clip_norm: 1.0, seed: 3}
checkpoint: {every_epochs: 0}
EOF2

# ---- rank counts agree ------------------------------------------------------
# batch 10 splits 5+5 and 4+3+3 over 2 and 3 ranks; 40 steps cross no epoch
# edge, so every step after the first starts from carried state.
few=(--quiet --set training.batch_size=10 --set training.max_steps=40)
for np in 1 2 3; do
  axon_np "$np" train "$WORK/s.yaml" "${few[@]}" \
    --set checkpoint.dir="$WORK/c$np" >/dev/null || fail "stream run on $np ranks"
done
"$CMP" "$WORK/c1/last.ckpt" "$WORK/c2/last.ckpt" --tol 1e-5 || fail "1 vs 2 ranks"
"$CMP" "$WORK/c1/last.ckpt" "$WORK/c3/last.ckpt" --tol 1e-5 || fail "1 vs 3 ranks"
ok "stream mode: 1, 2 and 3 ranks agree after 40 steps"
axon_np 2 train "$WORK/s.yaml" "${few[@]}" --set model.layers.1.stateful=false \
  --set checkpoint.dir="$WORK/c0" >/dev/null || fail "stateless stream run"
if "$CMP" "$WORK/c1/last.ckpt" "$WORK/c0/last.ckpt" --tol 1e-5 >/dev/null; then
  fail "stateful and stateless runs give the same parameters"
fi
ok "the carried state changes the result"

# ---- carrying state helps ---------------------------------------------------
loss_of() { grep -o '"train_loss":[0-9.e+-]*' "$1" | tail -1 | cut -d: -f2; }
for st in true false; do
  axon_np 2 train "$WORK/s.yaml" --quiet --set model.layers.1.stateful=$st \
    --set logging.metrics="$WORK/m_$st.jsonl" >/dev/null || fail "3 epochs, stateful $st"
done
a="$(loss_of "$WORK/m_true.jsonl")"
b="$(loss_of "$WORK/m_false.jsonl")"
awk -v a="$a" -v b="$b" 'BEGIN { exit !(a < b - 0.08) }' \
  || fail "stateful training loss $a is not below stateless $b - 0.08"
ok "epoch-3 training loss: stateful $a < stateless $b nats/char"

# ---- resume at an epoch boundary is exact -----------------------------------
axon_np 2 train "$WORK/s.yaml" --quiet --set checkpoint.dir="$WORK/full" \
  >/dev/null || fail "full run"
axon_np 2 train "$WORK/s.yaml" --quiet --set training.epochs=2 \
  --set checkpoint.dir="$WORK/part" >/dev/null || fail "first 2 epochs"
axon_np 2 train "$WORK/s.yaml" --quiet --set checkpoint.dir="$WORK/part" \
  --resume auto >/dev/null || fail "resumed run"
"$CMP" "$WORK/full/last.ckpt" "$WORK/part/last.ckpt" --tol 1e-6 \
  || fail "2 epochs + resume differs from 3 epochs"
ok "2 epochs + resume = 3 epochs"

# ---- resume mid-epoch is exact ----------------------------------------------
# The checkpoint carries every stream's state: 25 steps, then a resume to
# 60, equals 60 steps straight, bitwise on the same 2 ranks and within
# 1e-5 on 3 (the rows per rank change, so do the sums). The streams cross
# no epoch edge, and the test evaluation at each run's end does not
# disturb the state the last checkpoint holds.
mid=(--quiet --set training.max_steps=60)
axon_np 2 train "$WORK/s.yaml" "${mid[@]}" --set checkpoint.dir="$WORK/m60" \
  >/dev/null || fail "60 steps"
for np in 2 3; do
  axon_np 2 train "$WORK/s.yaml" --quiet --set training.max_steps=25 \
    --set checkpoint.dir="$WORK/m25_$np" >/dev/null || fail "25 steps"
  axon_np "$np" train "$WORK/s.yaml" "${mid[@]}" --resume auto \
    --set checkpoint.dir="$WORK/m25_$np" >"$WORK/resume_$np.log" 2>&1 \
    || fail "resumed to 60 steps on $np ranks"
  if grep -q "restart from zero state" "$WORK/resume_$np.log"; then
    fail "the resume on $np ranks lost the carried state"
  fi
done
"$CMP" "$WORK/m60/last.ckpt" "$WORK/m25_2/last.ckpt" --exact \
  || fail "25 + resume to 60 differs from 60 steps (2 ranks)"
"$CMP" "$WORK/m60/last.ckpt" "$WORK/m25_3/last.ckpt" --tol 1e-5 \
  || fail "25 on 2 ranks + 35 on 3 differs from 60 steps"
ok "mid-epoch resume: 25 + 35 steps = 60 steps (bitwise on 2 ranks, 1e-5 on 3)"
# A resume with another batch size cannot continue the streams: it warns
# and restarts them from zero state.
axon_np 2 train "$WORK/s.yaml" "${mid[@]}" --resume "$WORK/m25_2/step-00000025.ckpt" \
  --set training.batch_size=12 --set checkpoint.dir="$WORK/mb12" \
  >"$WORK/b12.log" 2>&1 || fail "resume with another batch size"
grep -q "carried state is for another batch size or model; the streams restart from zero state" \
  "$WORK/b12.log" || fail "no warning for a resume with another batch size"
ok "a resume with another batch size warns and restarts the streams"

# ---- bad combinations -------------------------------------------------------
expect_exit 2 "data.val_fraction: not supported with data.stream" 1 train \
  "$WORK/s.yaml" --quiet --set data.val_fraction=0.1
expect_exit 2 "training.accumulate: not supported with data.stream" 1 train \
  "$WORK/s.yaml" --quiet --set training.accumulate=2
expect_exit 2 "data.stream needs at least training.batch_size \(5000\) windows" 2 \
  train "$WORK/s.yaml" --quiet --set training.batch_size=5000
expect_exit 2 "data.stream: not used with data.format csv" 1 train \
  configs/boston_linreg.yaml --quiet --set data.stream=true

# ---- the sampler by name ----------------------------------------------------
# data.sampler: stream is the same run as data.stream: true, bit for bit
sed 's/stream: true}/sampler: stream}/' "$WORK/s.yaml" >"$WORK/named.yaml"
grep -q "sampler: stream" "$WORK/named.yaml" || fail "named.yaml not made"
for f in s named; do
  axon_np 2 train "$WORK/$f.yaml" --quiet --set training.max_steps=6 \
    --set checkpoint.every_epochs=0 --set checkpoint.dir="$WORK/by_$f" >/dev/null \
    || fail "training with $f.yaml"
done
"$CMP" "$WORK/by_s/last.ckpt" "$WORK/by_named/last.ckpt" --exact >/dev/null \
  || fail "data.sampler: stream differs from data.stream: true"
ok "data.sampler: stream = data.stream: true"
expect_exit 2 "--set data.sampler: data.sampler: unknown 'shuffled' \(known: stratified, stream\)" 1 \
  train configs/fashion_mlp.yaml --quiet --set data.sampler=shuffled
expect_exit 2 "data.sampler: stratified, but data.stream is true" 1 train \
  "$WORK/s.yaml" --quiet --set data.sampler=stratified
expect_exit 2 "data.sampler: stream is for data.format text, not csv" 1 train \
  configs/boston_linreg.yaml --quiet --set data.sampler=stream
