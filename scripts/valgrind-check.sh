#!/usr/bin/env bash
# Memory cleanliness of the real trainer under valgrind's memcheck: a short
# Fashion-MNIST MLP training (IDX + gzip loading, model, optimizer,
# checkpoint write, evaluation) and the linear-regression example (CSV), on
# one rank without mpirun (MPI singleton init).
#
#   bash scripts/valgrind-check.sh
#
# Fails on any memcheck error in axon's own code: invalid reads or writes,
# uses of uninitialised values, definite leaks. Open MPI / hwloc / PMIx /
# OpenBLAS internals are suppressed by tests/valgrind.supp (keyed on those
# libraries, so axon's frames are never hidden). Logs:
# build/valgrind/NAME.{vg,out}; a failing log carries --gen-suppressions
# text for each error (only library noise belongs in the .supp file).
#   AXON=path   the binary to check (default build/rel/bin/axon, built if
#               missing)
set -uo pipefail
cd "$(dirname "$0")/.."

AXON_EXTRA_PKGS="valgrind" bash scripts/install-deps.sh || exit 1
AXON="${AXON:-build/rel/bin/axon}"
if [ ! -x "$AXON" ]; then
  make -s -j2 build/rel/bin/axon || exit 1
  AXON=build/rel/bin/axon
fi

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=1    # one thread: deterministic, and fast enough
LOGS=build/valgrind
rm -rf "$LOGS" && mkdir -p "$LOGS/work"

failed=0
# check NAME AXON-ARGS...: run axon under memcheck; ok needs exit 0 from
# axon and no memcheck error.
check() {
  local name="$1"; shift
  local vg="$LOGS/$name.vg" out="$LOGS/$name.out" t0=$SECONDS
  valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite \
      --errors-for-leak-kinds=definite --error-exitcode=99 \
      --track-origins=yes --num-callers=40 \
      --suppressions=tests/valgrind.supp --gen-suppressions=all \
      --log-file="$vg" "$AXON" "$@" >"$out" 2>&1
  local rc=$?
  local errors
  errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$vg" | tail -1)
  local supp
  supp=$(sed -n 's/.*ERROR SUMMARY: .*suppressed: \([0-9]*\) from.*/\1/p' "$vg" | tail -1)
  if [ "$rc" -eq 0 ] && [ "${errors:-x}" = 0 ]; then
    printf 'valgrind %-8s ok      0 errors (%s library errors suppressed)  %4ss\n' \
           "$name" "${supp:-?}" $((SECONDS - t0))
    return
  fi
  failed=1
  printf 'valgrind %-8s FAILED  %s errors, axon exit %s  %4ss  (log: %s)\n' \
         "$name" "${errors:-?}" "$rc" $((SECONDS - t0)) "$vg"
  # The first error reports, without the suppression boilerplate.
  grep -v -E '^==[0-9]+== *$' "$vg" | sed -n '/ERROR SUMMARY/q;/Invalid\|uninitialised\|definitely lost\|Mismatched\|Syscall param\|Conditional jump/,/^{/p' \
      | grep -v '^{' | head -n 60 | sed 's/^/      | /'
  [ "$rc" -ne 99 ] && tail -n 5 "$out" | sed 's/^/      > /'
}

check fashion train configs/fashion_mlp.yaml \
      --set training.max_steps=20 --set data.limit=2000 \
      --set checkpoint.dir="$LOGS/work/fashion" \
      --set logging.metrics="$LOGS/work/fashion/metrics.jsonl"
check linreg train configs/linreg.yaml

if [ $failed -ne 0 ]; then
  echo "valgrind-check: FAILED (memcheck errors in the runs above)"
  exit 1
fi
echo "valgrind-check: clean"
