#!/usr/bin/env bash
# The bounded-memory run of docs/DATA.md: a generated packed dataset of
# ROWS u8 images of 3x64x64 (default 655,360 rows: 8.05 GB) trained on for
# one epoch by NP ranks with a 512 MB prefetch window. Every rank prints
# its peak resident memory (VmHWM) and the bytes it read (/proc/self/io
# rchar); the script fails if a rank's peak passes 1 GB or the run fails.
# The data go to a temporary folder (TMPDIR) and are deleted afterwards;
# when its disk lacks the space the script says so and exits 0.
#   bash scripts/packed_memory.sh        ROWS=... NP=... WINDOW=... BUILD=...
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${BUILD:-build/rel}"
AXON="$PWD/$BUILD/bin/axon"
GEN="$PWD/$BUILD/bin/tests/gen_packed"
ROWS="${ROWS:-655360}"
NP="${NP:-2}"
WINDOW="${WINDOW:-536870912}"
ROW=$((3 * 64 * 64 + 1))
WORK="$(mktemp -d "${TMPDIR:-/tmp}/axon-packed-mem-XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
need_kb=$((ROWS * ROW / 1024 + 1048576))
avail_kb="$(df -Pk "$WORK" | awk 'NR == 2 { print $4 }')"
if [ "$avail_kb" -lt "$need_kb" ]; then
  echo "skipped: $WORK has $((avail_kb / 1048576)) GB free; the run needs $((need_kb / 1048576 + 1)) GB"
  exit 0
fi
t0=$SECONDS
"$GEN" "$WORK/data" "$ROWS" 3 64 64
echo "generated $ROWS rows ($(du -sh "$WORK/data" | cut -f1)) in $((SECONDS - t0)) s"
cat > "$WORK/c.yaml" <<EOF2
model:
  layers:
    - {type: global_avgpool}
    - {type: dense, units: 10}
loss: cross_entropy
optimizer: {type: adam}
data: {format: packed, train: $WORK/data, val_fraction: 0.02, normalize: scale,
       window: $WINDOW}
training: {epochs: 1, batch_size: 256, lr: 0.01, seed: 1}
logging: {print_every: 500}
EOF2
t0=$SECONDS
out="$(AXON_REPORT_IO=1 OPENBLAS_NUM_THREADS=1 scripts/mpirun.sh "$NP" "$AXON" train "$WORK/c.yaml" 2>&1)" \
  || { echo "$out"; echo "FAIL: the run did not finish"; exit 1; }
echo "$out" | grep -E "epoch 1|read .* bytes|done"
echo "trained one epoch on $NP ranks in $((SECONDS - t0)) s"
echo "each rank's rows: $((ROWS / NP * ROW)) bytes (of $((ROWS * ROW)) in the file)"
worst="$(echo "$out" | sed -n 's/.*peak RSS \([0-9]*\) kB/\1/p' | sort -n | tail -1)"
[ -n "$worst" ] && [ "$worst" -lt 1048576 ] \
  || { echo "FAIL: peak RSS ${worst:-?} kB is not below 1 GB"; exit 1; }
echo "ok: peak RSS per rank ${worst} kB < 1 GB with a $WINDOW-byte window"
