#!/usr/bin/env bash
# Fuzz every parser of hostile files with libFuzzer (clang, ASan + UBSan):
# the YAML config loader, the IDX and CSV readers (plain and gzip), the
# checkpoint reader, a training and a test file meeting one model
# (dataset loading and the shape check), the packed-dataset index and
# shard readers, and the inference library's model loader (infer/).
# Harnesses: tests/fuzz/fuzz_*.c.
#
#   bash scripts/fuzz.sh [SECONDS]     default 60 s per harness
#
# Each harness runs SECONDS on a scratch copy of its seeds (tests/fuzz/
# corpus/NAME, tests/fuzz/regressions/NAME and, for the config harness,
# today's configs/*.yaml; dictionary tests/fuzz/NAME.dict if there is one),
# with limits that turn an unbounded allocation into a failure; then every
# saved regression input is replayed. A crash, leak, sanitizer report,
# timeout or limit hit fails the script, and the input that did it is saved
# under tests/fuzz/regressions/NAME/ (commit it with the fix). Input layouts
# of the harnesses: tests/fuzz/README.md.
#   FUZZ_JOBS=N       harnesses run at once (default 2)
#   FUZZ_ONLY="a b"   only these harnesses (config idx csv ckpt dataset packed axm)
#   FUZZ_SEED=N       fixed libFuzzer seed (default: a random one per run)
set -uo pipefail
cd "$(dirname "$0")/.."

SECS="${1:-60}"
JOBS="${FUZZ_JOBS:-2}"
NAMES=(${FUZZ_ONLY:-config idx csv ckpt dataset packed axm})
B=build/fuzz
LIMITS=(-rss_limit_mb=512 -malloc_limit_mb=256 -timeout=5)
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"

# clang and libFuzzer (libclang-rt-14-dev) besides the usual packages.
AXON_EXTRA_PKGS="clang libclang-rt-14-dev" bash scripts/install-deps.sh || exit 1

# The library sources as they are, instrumented for coverage, in their own
# build directory (the one Makefile, with the compiler and flags swapped).
echo "fuzz: building harnesses in $B"
make -s -j2 CC=clang BUILD=$B OPT=-O1 \
     EXTRA_CFLAGS="-fsanitize=fuzzer-no-link $SAN" \
     $B/lib/libaxon_io.a $B/lib/libaxon_nn.a $B/lib/libaxon_infer.a || exit 1
BLAS_CFLAGS=$(pkg-config --cflags openblas 2>/dev/null)
BLAS_LIBS=$(pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
mkdir -p $B/bin
for n in "${NAMES[@]}"; do
  # shellcheck disable=SC2086
  clang -std=c11 -O1 -g -Wall -Wextra -Werror -I. -D_POSIX_C_SOURCE=200809L \
        $BLAS_CFLAGS -fsanitize=fuzzer $SAN tests/fuzz/fuzz_$n.c \
        $B/lib/libaxon_io.a $B/lib/libaxon_nn.a $B/lib/libaxon_infer.a \
        -lyaml -lz -lm -lpthread $BLAS_LIBS -o $B/bin/fuzz_$n || exit 1
done

# Leak checking stays on whatever the caller's environment says.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1:abort_on_error=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

# fuzz_one NAME: fuzz for SECS; writes $B/work/NAME/{log,result}.
fuzz_one() {
  local n="$1" w="$B/work/$1" reg="tests/fuzz/regressions/$1"
  rm -rf "$w" && mkdir -p "$w/corpus" "$reg"
  cp tests/fuzz/corpus/"$n"/* "$w/corpus/"
  cp "$reg"/* "$w/corpus/" 2>/dev/null
  [ "$n" = config ] && cp configs/*.yaml "$w/corpus/" 2>/dev/null
  local opts=()
  [ -f "tests/fuzz/$n.dict" ] && opts=(-dict="tests/fuzz/$n.dict")
  [ -n "${FUZZ_SEED:-}" ] && opts+=(-seed="$FUZZ_SEED")
  local t0=$SECONDS
  timeout $((SECS + 120)) "$B/bin/fuzz_$n" "${LIMITS[@]}" "${opts[@]}" \
      -max_total_time="$SECS" -print_final_stats=1 \
      -artifact_prefix="$reg/" "$w/corpus" >"$w/log" 2>&1
  local rc=$? execs
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$w/log" | tail -1)
  local result=ok
  if [ $rc -ne 0 ]; then
    result="FAILED (exit $rc): $(grep -m1 -E '^==[0-9]+==|^SUMMARY|ERROR: libFuzzer' "$w/log" | cut -c1-150)"
  fi
  printf 'fuzz %-7s %10s execs %5ss  %s\n' "$n" "${execs:-?}" \
         $((SECONDS - t0)) "$result" >"$w/result"
  return $rc
}

pids=(); failed=0
for n in "${NAMES[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
  fuzz_one "$n" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || failed=1; done

# Replay every saved regression input once (a harness given files runs
# each of them and exits).
for n in "${NAMES[@]}"; do
  reg="tests/fuzz/regressions/$n"
  mapfile -t files < <(find "$reg" -maxdepth 1 -type f 2>/dev/null | sort)
  if [ ${#files[@]} -eq 0 ]; then
    printf 'replay %-7s %5d inputs  ok\n' "$n" 0 >>"$B/work/$n/result"
    continue
  fi
  if "$B/bin/fuzz_$n" "${LIMITS[@]}" "${files[@]}" >"$B/work/$n/replay.log" 2>&1; then
    printf 'replay %-7s %5d inputs  ok\n' "$n" ${#files[@]} >>"$B/work/$n/result"
  else
    failed=1
    printf 'replay %-7s %5d inputs  FAILED (log: %s)\n' "$n" ${#files[@]} \
           "$B/work/$n/replay.log" >>"$B/work/$n/result"
  fi
done

echo
for n in "${NAMES[@]}"; do cat "$B/work/$n/result"; done
for n in "${NAMES[@]}"; do
  if grep -q FAILED "$B/work/$n/result"; then
    echo; echo "---- $n: tail of the log ($B/work/$n/log, replay.log) ----"
    tail -n 40 "$B/work/$n/log" "$B/work/$n/replay.log" 2>/dev/null
  fi
done
if [ $failed -ne 0 ]; then
  echo "fuzz: FAILED; inputs saved under tests/fuzz/regressions/"
  exit 1
fi
echo "fuzz: all harnesses clean"
