#!/usr/bin/env bash
# Promise 2: a rank killed with SIGKILL mid-training ends the whole job
# with a non-zero status within 60 s (no collective left hanging), the
# last complete checkpoint is valid, and --resume auto continues from it.
# Under real mpirun with 2 and 4 ranks.
source "$(dirname "$0")/../mpi/lib.sh"
c=(--quiet --set data.limit=20000 --set training.epochs=50 --set checkpoint.every_epochs=0
   --set checkpoint.every_steps=40 --set logging.print_every=0)
for np in 2 4; do
  dir="$WORK/k$np"
  axon_np "$np" train configs/fashion_mlp.yaml "${c[@]}" --set checkpoint.dir="$dir" \
    > "$WORK/out$np" 2>&1 &
  pid=$!
  for _ in $(seq 300); do [ -L "$dir/last.ckpt" ] && break; sleep 0.1; done
  [ -L "$dir/last.ckpt" ] || fail "$np ranks: no checkpoint appeared"
  sleep 0.5
  victims=($(pgrep -f "^$AXON train.*$dir" || true))
  [ ${#victims[@]} -eq "$np" ] || fail "$np ranks: found ${#victims[@]} axon processes"
  victim="${victims[$((np - 1))]}"
  t0=$SECONDS
  kill -KILL "$victim"
  rc=0; wait $pid || rc=$?
  took=$((SECONDS - t0))
  [ $rc -ne 0 ] || fail "$np ranks: job exited 0 after a rank was killed"
  [ $took -le 60 ] || fail "$np ranks: job took ${took}s to end"
  pgrep -f "^$AXON train.*$dir" >/dev/null && fail "$np ranks: axon processes left running"
  "$CMP" "$dir/last.ckpt" --print >/dev/null || fail "$np ranks: last checkpoint unreadable"
  ok "$np ranks: SIGKILL of one rank ended the job (exit $rc) in ${took}s; checkpoint valid"
  name="$(readlink "$dir/last.ckpt")"
  step=$((10#$(sed -E 's/step-0*([0-9]+)\.ckpt/\1/' <<<"$name")))
  # continue 20 more steps from that checkpoint
  axon_np "$np" train configs/fashion_mlp.yaml "${c[@]}" --set checkpoint.dir="$dir" \
    --set training.max_steps=$((step + 20)) --resume auto > "$WORK/res$np" 2>&1 \
    || { cat "$WORK/res$np"; fail "$np ranks: resume failed"; }
  [ "$(readlink "$dir/last.ckpt")" = "$(printf 'step-%08d.ckpt' $((step + 20)))" ] \
    || fail "$np ranks: the resumed run did not continue from step $step"
  ok "$np ranks: resumed from step $step and trained 20 more steps"
done
