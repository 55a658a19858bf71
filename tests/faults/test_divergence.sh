#!/usr/bin/env bash
# Promise 1: a NaN on ONE rank stops every rank at the same step, with one
# message naming the step and the rank, exit code 4, and the last good
# checkpoint intact (bit-identical, still readable).
source "$(dirname "$0")/../mpi/lib.sh"
c=(--quiet --set data.limit=3000 --set checkpoint.every_steps=10
   --set checkpoint.every_epochs=0 --set training.max_steps=40)
for np in 2 4; do
  rank=$((np - 1))
  rc=0
  out="$(AXON_INJECT_NAN=25:$rank axon_np "$np" train configs/fashion_mlp.yaml "${c[@]}" \
        --set checkpoint.dir="$WORK/d$np" 2>&1)" || rc=$?
  echo "$out" | grep -v '^\s*$' | head -20
  [ $rc -eq 4 ] || fail "$np ranks: exit $rc, want 4"
  [ "$(grep -c 'diverged' <<<"$out")" -eq 1 ] || fail "want exactly one divergence message"
  grep -q "diverged at step 25 .*rank(s) $rank;" <<<"$out" || fail "message must name step 25 and rank $rank"
  # the newest checkpoint is the one of step 20, complete and valid
  [ "$(readlink "$WORK/d$np/last.ckpt")" = "step-00000020.ckpt" ] || fail "last.ckpt moved"
  "$CMP" "$WORK/d$np/last.ckpt" --print >/dev/null || fail "checkpoint unreadable"
  ok "$np ranks: NaN on rank $rank stopped all at step 25, exit 4, step-20 checkpoint intact"
done
# and it resumes from there
axon_np 2 train configs/fashion_mlp.yaml "${c[@]}" --set checkpoint.dir="$WORK/d2" --resume auto >/dev/null \
  || fail "resume after divergence"
[ "$(readlink "$WORK/d2/last.ckpt")" = "step-00000040.ckpt" ] || fail "resumed run did not finish"
ok "resumed from the last good checkpoint"
