#!/usr/bin/env bash
# Promise 4 (full disk) and checkpoint write failures: on a
# small tmpfs that holds one checkpoint but not two, a failed write is
# reported, the previous checkpoint stays bit-identical and valid, no
# temporary file is left, and training continues with a warning - or stops
# with exit 3 when checkpoint.stop_on_error is set. Needs root (mount).
source "$(dirname "$0")/../mpi/lib.sh"
DISK="$WORK/disk"
mkdir -p "$DISK"
mount -t tmpfs -o size=3000k axon-test "$DISK" || fail "cannot mount a tmpfs (root needed)"
trap 'umount "$DISK" 2>/dev/null; rm -rf "$WORK"' EXIT
c=(--quiet --set data.limit=3000 --set training.epochs=2 --set checkpoint.every_epochs=0
   --set checkpoint.dir="$DISK/ck")
# a first complete checkpoint (~1.8 MB: parameters and momentum)
axon_np 1 train configs/fashion_mlp.yaml "${c[@]}" --set training.max_steps=10 >/dev/null
cp "$DISK/ck/last.ckpt" "$WORK/good.ckpt"
# the rest of the run: its final checkpoint does not fit next to the first
rc=0
out="$(axon_np 1 train configs/fashion_mlp.yaml "${c[@]}" --resume auto 2>&1)" || rc=$?
echo "$out" | grep -v '^\s*$' | tail -3
[ $rc -eq 0 ] || fail "training should continue after a failed write (exit $rc)"
grep -q "warning: .*cannot write checkpoint" <<<"$out" || fail "no warning about the failed write"
cmp -s "$WORK/good.ckpt" "$DISK/ck/last.ckpt" || fail "last.ckpt changed"
"$CMP" "$DISK/ck/last.ckpt" --print >/dev/null || fail "previous checkpoint unreadable"
ls "$DISK/ck" | grep -q tmp && fail "temporary file left behind: $(ls "$DISK/ck")"
ok "disk full: warned, training finished, previous checkpoint intact, no temporary left"
rc=0
out="$(axon_np 1 train configs/fashion_mlp.yaml "${c[@]}" --resume auto \
       --set checkpoint.stop_on_error=true 2>&1)" || rc=$?
[ $rc -eq 3 ] || { echo "$out"; fail "stop_on_error: exit $rc, want 3"; }
cmp -s "$WORK/good.ckpt" "$DISK/ck/last.ckpt" || fail "last.ckpt changed"
ok "stop_on_error: exit 3, previous checkpoint intact"
