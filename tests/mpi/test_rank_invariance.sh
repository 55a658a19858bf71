#!/usr/bin/env bash
# The defining property: the same config on 1, 2 and 4 ranks with the same
# global batch gives the same parameters after several steps (max abs
# difference <= 1e-5 of the largest parameter magnitude). Batch 60 does not
# divide by 4, and the 2,000-row subset leaves uneven shards.
source "$(dirname "$0")/lib.sh"
common=(--quiet --set data.limit=2000 --set training.max_steps=25
        --set training.batch_size=60
        --set model.layers.0.units=64 --set model.layers.2.units=32
        --set checkpoint.every_epochs=0)
for np in 1 2 4; do
  axon_np "$np" train configs/fashion_mlp.yaml "${common[@]}" \
    --set checkpoint.dir="$WORK/np$np" >/dev/null || fail "training on $np ranks"
done
for np in 2 4; do
  "$CMP" "$WORK/np1/last.ckpt" "$WORK/np$np/last.ckpt" --tol 1e-5 \
    || fail "1 vs $np ranks differ"
  ok "1 vs $np ranks agree"
done
# And the parameters really moved (the test could fail the other way).
! "$CMP" "$WORK/np1/last.ckpt" "$WORK/np1/last.ckpt" --exact >/dev/null && fail "self-compare"
axon_np 1 train configs/fashion_mlp.yaml "${common[@]}" --set training.max_steps=5 \
  --set checkpoint.dir="$WORK/short" >/dev/null
if "$CMP" "$WORK/np1/last.ckpt" "$WORK/short/last.ckpt" --tol 1e-5 >/dev/null; then
  fail "5 and 25 steps give the same parameters"
fi
ok "parameters differ between 5 and 25 steps"
