#!/usr/bin/env bash
# Resuming: a run interrupted after step k and resumed equals the
# uninterrupted run bitwise on the same rank count, and to float tolerance
# across rank counts (2 -> 4, 4 -> 1). Also checks keep_last and last.ckpt.
source "$(dirname "$0")/lib.sh"
c=(--quiet --set data.limit=3000 --set model.layers.0.units=64
   --set model.layers.2.units=32 --set training.epochs=3
   --set checkpoint.every_epochs=0 --set checkpoint.keep_last=2
   --set optimizer.type=adam --set training.lr=0.001)
# uninterrupted: 3 epochs of ceil(2700/64) = 43 steps
axon_np 2 train configs/fashion_mlp.yaml "${c[@]}" --set checkpoint.dir="$WORK/full" >/dev/null
# interrupted mid-epoch at step 50, resumed on the same rank count
axon_np 2 train configs/fashion_mlp.yaml "${c[@]}" --set training.max_steps=50 \
  --set checkpoint.dir="$WORK/part" >/dev/null
cp -r "$WORK/part" "$WORK/part4"
axon_np 2 train configs/fashion_mlp.yaml "${c[@]}" --set checkpoint.dir="$WORK/part" --resume auto >/dev/null
"$CMP" "$WORK/full/last.ckpt" "$WORK/part/last.ckpt" --exact || fail "2 -> 2 resume not bitwise"
ok "2 -> 2 resume is bitwise identical"
axon_np 4 train configs/fashion_mlp.yaml "${c[@]}" --set checkpoint.dir="$WORK/part4" --resume auto >/dev/null
"$CMP" "$WORK/full/last.ckpt" "$WORK/part4/last.ckpt" --tol 1e-5 || fail "2 -> 4 resume"
ok "2 -> 4 resume matches"
axon_np 4 train configs/fashion_mlp.yaml "${c[@]}" --set training.max_steps=70 \
  --set checkpoint.dir="$WORK/p41" >/dev/null
axon_np 1 train configs/fashion_mlp.yaml "${c[@]}" --set checkpoint.dir="$WORK/p41" \
  --resume "$WORK/p41/last.ckpt" >/dev/null
"$CMP" "$WORK/full/last.ckpt" "$WORK/p41/last.ckpt" --tol 1e-5 || fail "4 -> 1 resume"
ok "4 -> 1 resume matches"
n="$(ls "$WORK/part" | grep -c '^step-.*\.ckpt$')"
[ "$n" -le 2 ] || fail "keep_last 2 left $n checkpoints"
[ -L "$WORK/part/last.ckpt" ] || fail "last.ckpt is not a link"
ok "keep_last and last.ckpt"
# a fresh, shorter run in a directory holding a longer run's checkpoints
# keeps its own newest two and does not touch the others
cp -r "$WORK/full" "$WORK/reuse"
axon_np 2 train configs/fashion_mlp.yaml "${c[@]}" --set training.max_steps=20 \
  --set checkpoint.every_steps=10 --set checkpoint.dir="$WORK/reuse" >/dev/null
[ -e "$WORK/reuse/$(readlink "$WORK/reuse/last.ckpt")" ] || fail "last.ckpt dangles after a reused directory"
[ "$(readlink "$WORK/reuse/last.ckpt")" = step-00000020.ckpt ] || fail "last.ckpt is not the new run's"
for f in step-00000010.ckpt step-00000020.ckpt $(ls "$WORK/full" | grep '^step-'); do
  [ -e "$WORK/reuse/$f" ] || fail "reused directory lost $f"
done
ok "a reused checkpoint directory keeps the new run's checkpoints"
# a checkpoint of another architecture is refused with exit 3
expect_exit 3 "different model" 2 train configs/fashion_mlp.yaml "${c[@]}" \
  --set model.layers.0.units=32 --resume "$WORK/full/last.ckpt"
# resuming a finished run trains nothing and still evaluates and exits 0
out="$(axon_np 2 train configs/fashion_mlp.yaml "${c[@]}" --set checkpoint.dir="$WORK/full" \
       --resume auto 2>&1)" || { echo "$out"; fail "resume of a finished run"; }
"$CMP" "$WORK/full/last.ckpt" "$WORK/part/last.ckpt" --exact >/dev/null \
  || fail "resuming a finished run changed its parameters"
ok "resuming a finished run is a no-op"
