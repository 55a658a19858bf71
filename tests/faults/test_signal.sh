#!/usr/bin/env bash
# Promise 7: SIGTERM (what SLURM sends before a time limit) to the ranks
# makes rank 0 write a final checkpoint and every rank exit; the run then
# resumes and ends with the same parameters as an uninterrupted run.
source "$(dirname "$0")/../mpi/lib.sh"
c=(--quiet --set data.limit=20000 --set training.epochs=30
   --set checkpoint.every_epochs=0 --set logging.print_every=0)
axon_np 2 train configs/fashion_mlp.yaml "${c[@]}" --set checkpoint.dir="$WORK/full" >/dev/null
axon_np 2 train configs/fashion_mlp.yaml "${c[@]}" --set checkpoint.dir="$WORK/sig" \
  --set logging.metrics="$WORK/sig.jsonl" > "$WORK/out" 2>&1 &
pid=$!
# wait until the first epoch is done (training is under way), then signal
# the ranks themselves (not mpirun)
for _ in $(seq 600); do [ -s "$WORK/sig.jsonl" ] && break; sleep 0.05; done
[ -s "$WORK/sig.jsonl" ] || fail "training did not get through an epoch"
pkill -TERM -f "^$AXON train.*$WORK/sig" || fail "no axon process to signal"
t0=$SECONDS; rc=0; wait $pid || rc=$?
cat "$WORK/out" | grep -v '^\s*$' | head
[ $((SECONDS - t0)) -lt 30 ] || fail "took $((SECONDS - t0))s to stop"
grep -q "stopping on signal" "$WORK/out" || fail "no stop message (exit $rc)"
[ -L "$WORK/sig/last.ckpt" ] || fail "no checkpoint written on signal"
ok "SIGTERM: stopped (exit $rc) with a checkpoint"
axon_np 2 train configs/fashion_mlp.yaml "${c[@]}" --set checkpoint.dir="$WORK/sig" --resume auto >/dev/null \
  || fail "resume after signal"
"$CMP" "$WORK/full/last.ckpt" "$WORK/sig/last.ckpt" --exact || fail "resumed run differs"
ok "resumed run is bitwise identical to the uninterrupted one"

# The same for a GAN: its two networks go through the one loop, so a
# signal mid-run also leaves a checkpoint and an exact resume.
g="$WORK/gan.yaml"
sed -e 's/g1, units: 256/g1, units: 32/' -e 's/g2, units: 512/g2, units: 64/' \
    -e 's/d0, filters: 16/d0, filters: 4/' -e 's/d1, units: 256/d1, units: 32/' \
    configs/fashion_gan.yaml >"$g"
gc=(--quiet --set data.limit=1000 --set training.batch_size=32 --set training.epochs=12
    --set checkpoint.every_epochs=0 --set logging.print_every=0)
axon_np 2 train "$g" "${gc[@]}" --set checkpoint.dir="$WORK/gfull" >/dev/null || fail "GAN run"
axon_np 2 train "$g" "${gc[@]}" --set checkpoint.dir="$WORK/gsig" \
  --set logging.metrics="$WORK/gsig.jsonl" > "$WORK/gout" 2>&1 &
pid=$!
for _ in $(seq 600); do [ -s "$WORK/gsig.jsonl" ] && break; sleep 0.05; done
[ -s "$WORK/gsig.jsonl" ] || fail "GAN training did not get through an epoch"
pkill -TERM -f "^$AXON train.*$WORK/gsig" || fail "no GAN process to signal"
rc=0; wait $pid || rc=$?
grep -q "stopping on signal" "$WORK/gout" || { cat "$WORK/gout"; fail "GAN: no stop message (exit $rc)"; }
[ -L "$WORK/gsig/last.ckpt" ] || fail "GAN: no checkpoint written on signal"
axon_np 2 train "$g" "${gc[@]}" --set checkpoint.dir="$WORK/gsig" --resume auto >/dev/null \
  || fail "GAN resume after signal"
"$CMP" "$WORK/gfull/last.ckpt" "$WORK/gsig/last.ckpt" --exact || fail "resumed GAN run differs"
ok "GAN: SIGTERM leaves a checkpoint; the resumed run is bitwise identical"
