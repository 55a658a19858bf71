#!/usr/bin/env bash
# The inference library end to end: an MLP and LeNet trained for a few
# steps, exported with --format axm, classify the first 100 Fashion-MNIST
# test images in examples/fashion_classify (built here with plain cc and
# libaxon_infer.a alone) exactly as axon predict does; the int8 files
# are at least 2x smaller and agree on nearly every image; a model the
# library cannot run is refused with exit 2; a damaged file is refused by
# the example with a message, not a crash.
source "$(dirname "$0")/lib.sh"
LIB="$PWD/$BUILD/lib/libaxon_infer.a"
[ -f "$LIB" ] || fail "no $LIB (make build)"
EX="$WORK/fashion_classify"
cc -std=c11 -O2 -Wall -Wextra -Werror -Iinfer examples/fashion_classify.c "$LIB" -lm -o "$EX" ||
  fail "the example does not build with cc and the library alone"
nm -u "$EX" | grep -Eiq 'mpi|cblas|yaml|gz|inflate' && fail "the example needs more than libc"
ok "examples/fashion_classify builds with cc and libaxon_infer.a alone"
zcat $FASHION/t10k-images-idx3-ubyte.gz > "$WORK/t10k.idx"
small=(--quiet --set data.limit=512 --set training.batch_size=32)

for name in mlp lenet; do
  axon_np 1 train configs/fashion_$name.yaml "${small[@]}" --set training.max_steps=12 \
    --set checkpoint.dir="$WORK/$name" >/dev/null
  ck="$WORK/$name/last.ckpt"
  "$AXON" predict --checkpoint "$ck" "$WORK/t10k.idx" --out "$WORK/$name.csv" 2>/dev/null ||
    fail "$name: predict"
  head -n 101 "$WORK/$name.csv" | tail -n +2 | cut -d, -f1,2 > "$WORK/$name.want"
  "$AXON" export --checkpoint "$ck" --format axm --out "$WORK/$name.axm" 2>/dev/null ||
    fail "$name: export"
  "$EX" "$WORK/$name.axm" "$WORK/t10k.idx" 100 2>/dev/null | tail -n +2 > "$WORK/$name.got" ||
    fail "$name: the example failed"
  cmp -s "$WORK/$name.want" "$WORK/$name.got" ||
    fail "$name: classes differ from predict's: $(diff "$WORK/$name.want" "$WORK/$name.got" | head -5)"
  ok "$name: the library's classes of 100 test images equal predict's"
  "$AXON" export --checkpoint "$ck" --format axm --int8 --calibrate 256 \
    --out "$WORK/$name.q.axm" 2>/dev/null || fail "$name: int8 export"
  fb=$(stat -c %s "$WORK/$name.axm"); qb=$(stat -c %s "$WORK/$name.q.axm")
  [ $((2 * qb)) -le "$fb" ] || fail "$name: int8 file $qb bytes, float $fb"
  "$EX" "$WORK/$name.q.axm" "$WORK/t10k.idx" 100 2>/dev/null | tail -n +2 > "$WORK/$name.q"
  same=$(paste -d' ' "$WORK/$name.want" "$WORK/$name.q" | awk '$1 == $2 { n++ } END { print n + 0 }')
  [ "$same" -ge 90 ] || fail "$name: int8 agrees with float on $same of 100 images"
  ok "$name: int8 file $qb bytes (float $fb), same class on $same of 100 images"
done

# refused: a layer the library lacks, named, exit 2, no file left
axon_np 1 train configs/fashion_rowrnn.yaml "${small[@]}" --set training.max_steps=1 \
  --set model.layers.1.hidden=8 --set checkpoint.dir="$WORK/rnn" >/dev/null
rc=0; out="$("$AXON" export --checkpoint "$WORK/rnn/last.ckpt" --format axm \
  --out "$WORK/rnn.axm" 2>&1)" || rc=$?
[ $rc -eq 2 ] && grep -q "(lstm): the inference library has no such layer" <<<"$out" ||
  fail "lstm: exit $rc: $out"
[ ! -e "$WORK/rnn.axm" ] || fail "a refused export left a file"
ok "refused: $out"
# a damaged file: a message and exit 3 from the example, no crash
head -c 1000 "$WORK/lenet.axm" > "$WORK/cut.axm"
rc=0; out="$("$EX" "$WORK/cut.axm" "$WORK/t10k.idx" 1 2>&1)" || rc=$?
[ $rc -eq 3 ] && grep -q "cut.axm: axm:" <<<"$out" || fail "truncated file: exit $rc: $out"
ok "a truncated file is refused: $out"
