#!/usr/bin/env bash
# Promise 4: killing rank 0 at random moments while it writes checkpoints
# (one per step here) never leaves a corrupt file under a checkpoint's real
# name: after every kill, every step-*.ckpt and last.ckpt reads and
# validates (magic, sizes, CRCs). Temporary files may remain; they never
# carry a real name.
source "$(dirname "$0")/../mpi/lib.sh"
c=(--quiet --set data.limit=6000 --set training.epochs=100 --set checkpoint.every_epochs=0
   --set checkpoint.every_steps=1 --set checkpoint.keep_last=3 --set logging.print_every=0
   --set model.layers.0.units=512)
trials="${KILL_TRIALS:-12}"
RANDOM=7
checked=0
for t in $(seq "$trials"); do
  dir="$WORK/t$t"
  axon_np 2 train configs/fashion_mlp.yaml "${c[@]}" --set checkpoint.dir="$dir" \
    > /dev/null 2>&1 &
  pid=$!
  for _ in $(seq 300); do [ -L "$dir/last.ckpt" ] && break; sleep 0.05; done
  # a random moment within the next ~0.6 s of continuous checkpointing
  sleep "0.$((RANDOM % 6))$((RANDOM % 10))"
  rank0="$(pgrep -f "^$AXON train.*$dir" | head -1 || true)"
  [ -n "$rank0" ] && kill -KILL "$rank0"
  wait $pid 2>/dev/null || true
  for f in "$dir"/step-*.ckpt "$dir/last.ckpt"; do
    [ -e "$f" ] || continue
    "$CMP" "$f" --print >/dev/null || fail "trial $t: $(basename "$f") is corrupt"
    checked=$((checked + 1))
  done
done
ok "$trials kills of rank 0 during checkpoint writes: all $checked checkpoints under real names valid"
