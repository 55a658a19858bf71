#!/usr/bin/env bash
# Promise 3: ranks that disagree are detected at start-up, not deadlocked:
# a different binary, a different config (--set on one rank only) or data
# of a different size (the same relative path resolving to different files
# in each rank's working directory) each stop the job with one message
# naming the rank, exit code 2, within the time limit.
source "$(dirname "$0")/../mpi/lib.sh"
mp=(timeout 120 mpirun --oversubscribe)
[ "$(id -u)" -eq 0 ] && mp+=(--allow-run-as-root)
check() { # pattern, mpirun arguments...
  local pat="$1" rc=0 out; shift
  out="$("${mp[@]}" "$@" 2>&1)" || rc=$?
  [ $rc -eq 2 ] || { echo "$out"; fail "exit $rc, want 2"; }
  [ "$(grep -c 'ranks disagree' <<<"$out")" -eq 1 ] || { echo "$out"; fail "want one message"; }
  grep -q "$pat" <<<"$out" || { echo "$out"; fail "message lacks /$pat/"; }
  ok "$(grep -o 'rank [0-9]*.s [a-z]*' <<<"$out" | head -1) detected"
}
cfg="$PWD/configs/linreg.yaml"
cp "$AXON" "$WORK/axon-other"; printf 'x' >> "$WORK/axon-other"
check "rank 1's axon binary" -np 1 "$AXON" train "$cfg" --quiet : -np 1 "$WORK/axon-other" train "$cfg" --quiet
check "rank 1's config" -np 1 "$AXON" train "$cfg" --quiet : -np 1 "$AXON" train "$cfg" --quiet --set training.lr=0.01
mkdir -p "$WORK/a" "$WORK/b"
printf 'x,y\n2,81\n4,93\n6,91\n8,97\n' > "$WORK/a/d.csv"
printf 'x,y\n2,81\n4,93\n6,91\n' > "$WORK/b/d.csv"
check "rank 1's data" -np 1 -wdir "$WORK/a" "$AXON" train "$cfg" --quiet --set data.train=d.csv \
  : -np 1 -wdir "$WORK/b" "$AXON" train "$cfg" --quiet --set data.train=d.csv
