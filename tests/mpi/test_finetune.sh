#!/usr/bin/env bash
# Fine-tuning: layers are initialised from another checkpoint by name; a
# frozen layer stays bit-identical through training (on 2 ranks) until
# unfreeze_epoch; mismatched shapes and unknown names are clear errors.
source "$(dirname "$0")/lib.sh"
c=(--quiet --set data.limit=3000 --set checkpoint.every_epochs=0 --set training.epochs=2)
axon_np 2 train configs/fashion_mlp.yaml "${c[@]}" --set checkpoint.dir="$WORK/src" >/dev/null
# fc1: 784*256 + 256 = 200960 values, then fc2: 256*128 + 128 = 32896
"$CMP" "$WORK/src/last.ckpt" --print > "$WORK/src.txt"
ft=("${c[@]}" --set model.init_from="$WORK/src/last.ckpt" --set model.init_layers=fc1
    --set model.layers.0.trainable=false --set training.seed=9)
axon_np 2 train configs/fashion_mlp.yaml "${ft[@]}" --set checkpoint.dir="$WORK/ft" >/dev/null \
  || fail "fine-tune run"
"$CMP" "$WORK/ft/last.ckpt" --print > "$WORK/ft.txt"
cmp -s <(head -n 200960 "$WORK/src.txt") <(head -n 200960 "$WORK/ft.txt") \
  || fail "frozen fc1 changed"
cmp -s <(sed -n '200961,233856p' "$WORK/src.txt") <(sed -n '200961,233856p' "$WORK/ft.txt") \
  && fail "fc2 was copied or did not train"
ok "fc1 copied and bit-identical while frozen; fc2 trained from its own init"
axon_np 2 train configs/fashion_mlp.yaml "${ft[@]}" --set model.unfreeze_epoch=2 \
  --set checkpoint.dir="$WORK/uf" >/dev/null || fail "unfreeze run"
"$CMP" "$WORK/uf/last.ckpt" --print | head -n 200960 | cmp -s - <(head -n 200960 "$WORK/src.txt") \
  && fail "fc1 did not train after unfreeze_epoch"
ok "fc1 trains from unfreeze_epoch"
expect_exit 2 "layer 'fc1' does not match" 2 train configs/fashion_mlp.yaml "${c[@]}" \
  --set model.init_from="$WORK/src/last.ckpt" --set model.layers.0.units=64
expect_exit 2 "init_layers: 'nope'" 2 train configs/fashion_mlp.yaml "${c[@]}" \
  --set model.init_from="$WORK/src/last.ckpt" --set model.init_layers=fc1,nope
expect_exit 3 "missing.ckpt" 2 train configs/fashion_mlp.yaml "${c[@]}" \
  --set model.init_from="$WORK/missing.ckpt"
