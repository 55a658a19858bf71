#!/usr/bin/env bash
# Files that are not what they seem, and jobs that collide. A config,
# checkpoint, model.init_from or last.ckpt that is a FIFO (nobody writing)
# is refused at once instead of blocking open() - on 2 ranks with --resume
# auto too; /dev/zero and /dev/urandom as the config are refused instead of
# read until memory runs out; a gzip IDX file without its trailer or with
# rows past its header's count is refused; a YAML \0 escape is refused;
# --resume auto with a dangling or looping last.ckpt, or with checkpoints
# but no last.ckpt, refuses like --resume PATH. Two jobs on one
# checkpoint.dir: the second stops at start-up naming the holder's host and
# pid; temporaries of dead writers are removed; a metrics file that cannot
# be written (/dev/full) is reported and the run exits 3.
# Every run is under `timeout`: a hang fails the test (exit 124).
source "$(dirname "$0")/../mpi/lib.sh"
cfg=configs/linreg.yaml
q=(--quiet --set training.epochs=2)
T() { timeout 60 "$@"; }
expect_fast() { # CODE PATTERN NP args...: expect_exit within 60 s
  local code="$1" pat="$2" np="$3"; shift 3
  local out rc=0
  out="$(T "$MPIRUN" "$np" "$AXON" "$@" 2>&1)" || rc=$?
  [ "$rc" -eq "$code" ] || { echo "$out" >&2; fail "expected exit $code, got $rc (124: hung): axon $*"; }
  grep -qE -- "$pat" <<<"$out" || { echo "$out" >&2; fail "output lacks /$pat/: axon $*"; }
  ok "exit $code /$pat/ ($np ranks): $*"
}
mkfifo "$WORK/fifo"
# a checkpoint to work with
axon_np 1 train $cfg "${q[@]}" --set checkpoint.dir="$WORK/ck" >/dev/null || fail "training"
expect_fast 2 "fifo: config is not a regular file \(a FIFO\)" 2 train "$WORK/fifo"
expect_fast 2 "/dev/zero: config is not a regular file" 1 train /dev/zero
expect_fast 2 "/dev/urandom: config is not a regular file" 1 train /dev/urandom
expect_fast 3 "fifo: checkpoint is not a regular file \(a FIFO\)" 1 predict --checkpoint "$WORK/fifo" configs/data/textbook_linreg.csv
expect_fast 3 "fifo: checkpoint is not a regular file" 2 eval $cfg --checkpoint "$WORK/fifo"
expect_fast 3 "fifo: checkpoint is not a regular file" 2 train $cfg "${q[@]}" --resume "$WORK/fifo"
expect_fast 3 "fifo: checkpoint is not a regular file" 2 train $cfg "${q[@]}" --set model.init_from="$WORK/fifo"
expect_fast 3 "fifo: data file is not a regular file" 2 train $cfg "${q[@]}" --set data.train="$WORK/fifo"
# last.ckpt a FIFO, dangling, looping; checkpoints without last.ckpt
for kind in fifo dangling loop missing; do
  d="$WORK/r-$kind"; mkdir -p "$d"; cp "$WORK/ck/"step-*.ckpt "$d/"
  case $kind in
    fifo) mkfifo "$d/last.ckpt"; pat="last.ckpt: not a regular file \(a FIFO\)" ;;
    dangling) ln -s step-99999999.ckpt "$d/last.ckpt"; pat="last.ckpt: a dangling symlink" ;;
    loop) ln -s last.ckpt "$d/last.ckpt"; pat="last.ckpt: a symlink loop" ;;
    missing) pat="last.ckpt: missing, but .*step-.*ckpt is there" ;;
  esac
  expect_fast 3 "$pat" 2 train $cfg "${q[@]}" --set checkpoint.dir="$d" --resume auto
  [ $kind = missing ] || expect_fast 3 "last.ckpt" 2 train $cfg "${q[@]}" --set checkpoint.dir="$WORK/other-$kind" --resume "$d/last.ckpt"
done
# an empty (or new) directory: --resume auto starts fresh
T "$MPIRUN" 2 "$AXON" train $cfg "${q[@]}" --set checkpoint.dir="$WORK/fresh" --resume auto >/dev/null \
  || fail "--resume auto on a new directory"
ok "--resume auto on an empty directory starts fresh"

# gzip IDX: trailer cut, rows past the count (through the CLI)
python3 - "$WORK" <<'PY'
import gzip, struct, sys, random
w = sys.argv[1]; random.seed(3)
img = struct.pack(">IIII", 0x803, 64, 28, 28) + bytes(random.randrange(256) for _ in range(64 * 784))
lab = struct.pack(">II", 0x801, 64) + bytes(random.randrange(10) for _ in range(64))
for name, data in (("img", img), ("lab", lab)):
    open(f"{w}/{name}.gz", "wb").write(gzip.compress(data))
    open(f"{w}/{name}-cut.gz", "wb").write(gzip.compress(data)[:-8])
open(f"{w}/img-long.gz", "wb").write(gzip.compress(img + bytes(784)))
open(f"{w}/img-junk.gz", "wb").write(gzip.compress(img) + b"not gzip, after the trailer")
PY
f=configs/fashion_mlp.yaml
g=(--quiet --set training.max_steps=1 --set data.val_fraction=0 --set checkpoint.dir="$WORK/gz")
expect_fast 3 "img-cut.gz: truncated: the gzip stream ends without its trailer" 2 train $f "${g[@]}" \
  --set data.train="$WORK/img-cut.gz" --set data.train_labels="$WORK/lab.gz"
expect_fast 3 "lab-cut.gz: truncated: the gzip stream ends without its trailer" 2 train $f "${g[@]}" \
  --set data.train="$WORK/img.gz" --set data.train_labels="$WORK/lab-cut.gz"
expect_fast 3 "img-long.gz: data past the end of the 64 samples" 2 train $f "${g[@]}" \
  --set data.train="$WORK/img-long.gz" --set data.train_labels="$WORK/lab.gz"
expect_fast 3 "img-junk.gz: bytes after the end of the gzip stream" 2 train $f "${g[@]}" \
  --set data.train="$WORK/img-junk.gz" --set data.train_labels="$WORK/lab.gz"
# YAML \0
sed 's/^  lr: 0.02/  "lr\\0junk": 0.02/' $cfg > "$WORK/nul.yaml"
grep -q 'lr\\0junk' "$WORK/nul.yaml" || fail "nul.yaml not made"
expect_fast 2 "nul.yaml:[0-9]+:[0-9]+: a NUL character" 1 train "$WORK/nul.yaml"

# two jobs, one checkpoint.dir: the second stops at start-up
d="$WORK/shared"
long=(--quiet --set training.epochs=1000000000 --set checkpoint.every_epochs=0 --set checkpoint.dir="$d")
"$MPIRUN" 1 "$AXON" train $cfg "${long[@]}" >/dev/null 2>&1 &
first=$!
for i in $(seq 100); do [ -s "$d/.lock" ] && break; sleep 0.1; done
[ -s "$d/.lock" ] || fail "the first job made no lock"
expect_fast 2 "shared: in use by another job \(host $(hostname), pid [0-9]+" 2 train $cfg "${q[@]}" --set checkpoint.dir="$d"
kill $first; wait $first 2>/dev/null || true
# the holder is gone: the lock went with it; a dead writer's temporary goes too
sh -c 'exit 0' & dead=$!; wait $dead
touch "$d/step-00000001.ckpt.tmp.$dead" "$d/.last.ckpt.$dead" "$d/keep.tmp.x1"
out="$(T "$MPIRUN" 2 "$AXON" train $cfg --set training.epochs=1 --set checkpoint.dir="$d" 2>&1)" \
  || { echo "$out"; fail "lock not released by the first job's end"; }
grep -q "removed 2 temporary files of writers that died" <<<"$out" || { echo "$out"; fail "no clean-up message"; }
[ ! -e "$d/step-00000001.ckpt.tmp.$dead" ] && [ ! -e "$d/.last.ckpt.$dead" ] && [ -e "$d/keep.tmp.x1" ] \
  || fail "stale temporaries: $(ls -a "$d")"
ok "lock released at exit; dead writers' temporaries removed, other files kept"

# metrics on a full disk
[ -w /dev/full ] || fail "/dev/full is needed"
rc=0; out="$(T "$MPIRUN" 1 "$AXON" train $cfg "${q[@]}" --set logging.metrics=/dev/full \
  --set checkpoint.dir="$WORK/m" 2>&1)" || rc=$?
[ $rc -eq 3 ] || { echo "$out"; fail "metrics on /dev/full: exit $rc, want 3"; }
grep -q "warning: /dev/full: cannot write metrics: No space left on device" <<<"$out" || { echo "$out"; fail "no warning"; }
[ "$(grep -c 'cannot write metrics' <<<"$out")" -eq 1 ] || fail "warned more than once"
ok "metrics on /dev/full: warned once, exit 3"
