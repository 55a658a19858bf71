#!/usr/bin/env bash
# A stalled rank (SIGSTOP: alive, holding its sockets, never arriving)
# must not hang the job. With training.collective_timeout T, the ranks
# waiting for it warn at T/2, then at T print which collective (name and
# call site), at which step, and which ranks have not arrived, and the job
# ends with exit 5. While they wait they sleep-poll instead of spinning:
# a waiting rank uses well under half a core. On 2 and 3 ranks; the rank
# stopped is the last. Plus AXON_DEBUG_COLLECTIVES on a healthy run (no
# mismatch, same result) - the mismatch itself is tested in
# comm_test_fingerprint.
source "$(dirname "$0")/../mpi/lib.sh"
T=8
c=(--quiet --set data.limit=6000 --set training.epochs=1000 --set checkpoint.every_epochs=0
   --set logging.print_every=0 --set training.collective_timeout=$T)
rank_of() { tr '\0' '\n' < /proc/$1/environ | sed -n 's/^OMPI_COMM_WORLD_RANK=//p'; }
cpu_ticks() { awk '{ print $14 + $15 }' /proc/$1/stat; }
for np in 2 3; do
  dir="$WORK/s$np"
  "$MPIRUN" "$np" "$AXON" train configs/fashion_mlp.yaml "${c[@]}" \
    --set checkpoint.dir="$dir" > "$WORK/out$np" 2>&1 &
  job=$!
  pids=()
  for _ in $(seq 300); do
    mapfile -t pids < <(pgrep -f "^$AXON train.*$dir" || true)
    [ ${#pids[@]} -eq "$np" ] && grep -q . /proc/${pids[0]}/stat 2>/dev/null && break
    sleep 0.1
  done
  [ ${#pids[@]} -eq "$np" ] || fail "$np ranks: found ${#pids[@]} axon processes"
  sleep 4 # into training (data loaded, steps running)
  victim=""; waiter=""
  for p in "${pids[@]}"; do
    r="$(rank_of "$p")"
    [ "$r" = $((np - 1)) ] && victim=$p
    [ "$r" = 0 ] && waiter=$p
  done
  [ -n "$victim" ] && [ -n "$waiter" ] || fail "$np ranks: ranks not identified"
  kill -STOP "$victim"
  t0=$SECONDS
  # the waiting rank's CPU over 2 s, from 1 s after the stop
  sleep 1
  a=$(cpu_ticks "$waiter"); sleep 2; b=$(cpu_ticks "$waiter")
  hz=$(getconf CLK_TCK)
  used=$(( (b - a) * 100 / (2 * hz) ))
  rc=0; timeout $((T * 4 + 30)) tail --pid=$job -f /dev/null || true
  wait $job || rc=$?
  took=$((SECONDS - t0))
  kill -CONT "$victim" 2>/dev/null || true
  out="$(cat "$WORK/out$np")"
  [ $rc -eq 5 ] || { echo "$out" | tail -20; fail "$np ranks: exit $rc, want 5"; }
  [ $took -ge $T ] && [ $took -le $((T + 20)) ] || fail "$np ranks: ended after ${took}s (timeout ${T}s)"
  grep -qE "warning: \[rank [0-9]+\] waited [0-9]+ s in [a-z -]+ \(collective [0-9]+, [a-z/_.]+:[0-9]+\) at step [0-9]+; ranks not arrived: $((np - 1)) " <<<"$out" \
    || { echo "$out" | tail -20; fail "$np ranks: no half-time warning naming rank $((np - 1))"; }
  grep -qE "error: collective timeout: \[rank [0-9]+\] waited [0-9]+ s in .* at step [1-9][0-9]*; ranks not arrived: $((np - 1)) " <<<"$out" \
    || { echo "$out" | tail -20; fail "$np ranks: no timeout message naming the step and rank $((np - 1))"; }
  [ $used -le 40 ] || fail "$np ranks: the waiting rank used ${used}% of a core"
  pgrep -f "^$AXON train.*$dir" >/dev/null && fail "$np ranks: axon processes left running"
  ok "$np ranks: rank $((np - 1)) stopped; warned at ${T}/2 s, ended with exit 5 after ${took}s; waiting rank used ${used}% CPU"
done
# debug fingerprints on a healthy run: same parameters as without
d=(--quiet --set data.limit=2000 --set training.max_steps=30 --set logging.print_every=0)
axon_np 2 train configs/fashion_mlp.yaml "${d[@]}" --set checkpoint.dir="$WORK/n" >/dev/null || fail "plain run"
AXON_DEBUG_COLLECTIVES=1 axon_np 2 train configs/fashion_mlp.yaml "${d[@]}" --set checkpoint.dir="$WORK/f" \
  >/dev/null || fail "run with AXON_DEBUG_COLLECTIVES=1"
"$CMP" "$WORK/n/last.ckpt" "$WORK/f/last.ckpt" --exact >/dev/null || fail "fingerprints changed the result"
ok "AXON_DEBUG_COLLECTIVES=1: healthy run agrees, bitwise the same result"
# a mismatch: rank 0 broadcasts 8 bytes while rank 1 sums 3 floats
DBG="$PWD/$BUILD/bin/tests/comm_test_debug_collectives"
rc=0; out="$(timeout 60 "$MPIRUN" 2 "$DBG" mismatch 2>&1)" || rc=$?
[ $rc -eq 1 ] || { echo "$out"; fail "mismatch: exit $rc, want 1 (124: deadlocked)"; }
grep -qE "collective mismatch \(AXON_DEBUG_COLLECTIVES\): rank 0 calls bcast of 8 elements at tests/comm/test_debug_collectives.c:[0-9]+ \(collective 1\); rank 1 calls allreduce of 3 elements at tests/comm/test_debug_collectives.c:[0-9]+" <<<"$out" \
  || { echo "$out"; fail "mismatch: no message with both fingerprints"; }
ok "AXON_DEBUG_COLLECTIVES=1: a mismatch is reported with both fingerprints, exit 1"
