#!/usr/bin/env bash
# Run every test program: CUnit unit tests (nn, io), the comm tests under
# mpirun on 1, 2 and 3 ranks, and the integration tests in tests/mpi/
# (which drive bin/axon under mpirun); tests/trainer run the trainer library
# in one process (comm/single). Prints one line per program and a
# closing "N passed, N failed, N skipped". A program that exits 77 could
# not run for want of an optional tool (its last line says which): SKIP,
# neither passed nor failed. Exit status is non-zero if anything failed.
#   BUILD=build/rel|build/san  which build to test
#   UNIT_ONLY=1                skip tests/mpi integration scripts
#   TEST_FILTER=regex          run only programs whose name matches
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD="${BUILD:-build/rel}"
export AXON="$PWD/$BUILD/bin/axon"
export BUILD
LOGDIR="$BUILD/test-logs"
mkdir -p "$LOGDIR"
# Open MPI's own allocations are not ours to police.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export OMPI_MCA_rmaps_base_oversubscribe=1

passed=0; failed=0; skipped=0; failures=()

run() { # name, command...
  local name="$1"; shift
  if [ -n "${TEST_FILTER:-}" ] && ! [[ "$name" =~ $TEST_FILTER ]]; then return; fi
  local log="$LOGDIR/$(echo "$name" | tr ' /' '__').log"
  local t0=$SECONDS
  local rc=0
  timeout 900 "$@" >"$log" 2>&1 || rc=$?
  if [ $rc -eq 0 ]; then
    passed=$((passed + 1)); printf 'PASS  %-40s %4ss\n' "$name" $((SECONDS - t0))
  elif [ $rc -eq 77 ]; then
    skipped=$((skipped + 1))
    printf 'SKIP  %-40s %4ss  %s\n' "$name" $((SECONDS - t0)) "$(tail -n 1 "$log")"
  else
    failed=$((failed + 1)); failures+=("$name")
    printf 'FAIL  %-40s %4ss  (log: %s)\n' "$name" $((SECONDS - t0)) "$log"
    tail -n 30 "$log" | sed 's/^/      | /'
  fi
}

for t in "$BUILD"/bin/tests/nn_test_* "$BUILD"/bin/tests/envs_test_* \
         "$BUILD"/bin/tests/io_test_* \
         "$BUILD"/bin/tests/trainer_test_* "$BUILD"/bin/tests/infer_test_*; do
  [ -x "$t" ] && run "$(basename "$t")" "$t"
done
for t in "$BUILD"/bin/tests/comm_test_*; do
  [ -x "$t" ] || continue
  for np in 1 2 3; do
    run "$(basename "$t") np=$np" env ASAN_OPTIONS=detect_leaks=0 scripts/mpirun.sh "$np" "$t"
  done
done
if [ -z "${UNIT_ONLY:-}" ]; then
  for t in tests/mpi/test_*.sh tests/faults/test_*.sh; do
    [ -f "$t" ] && run "$(basename "$t" .sh)" env ASAN_OPTIONS=detect_leaks=0 bash "$t"
  done
fi

echo
if [ $failed -gt 0 ]; then echo "failed: ${failures[*]}"; fi
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
