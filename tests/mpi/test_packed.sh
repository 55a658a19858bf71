#!/usr/bin/env bash
# Packed datasets (axon pack, data.format packed, docs/DATA.md): training
# on the packed copy equals training on the files bit for bit (the
# Fashion-MNIST MLP with its validation split and test set on 1, 2 and 4
# ranks, and with data.labelled and pseudo-labels on 2; the char LSTM in
# shuffled and in stream order on 1 and 2); a resume mid-epoch from
# packed data equals the uninterrupted run; a damaged directory (a flipped
# byte, a truncated, missing or foreign shard, a newer version) is refused
# with exit 3 naming the file.
source "$(dirname "$0")/lib.sh"
[ -r "$FASHION/train-images-idx3-ubyte.gz" ] || { echo "skipped: $FASHION not present"; exit 0; }
TEXT=/usr/share/common-licenses/GPL-3

# packed_config SRC OUT DIR: SRC's config reading DIR/{train,test} instead
packed_config() {
  sed -e 's|format: [a-z]*|format: packed|' -e "s|^\(  *\)train: .*|\1train: $3/train|" \
      -e "s|^\(  *\)test: .*|\1test: $3/test|" -e '/_labels:/d' -e '/seq_len:/d' \
      "$1" > "$2"
}
# same A B: the two checkpoints hold the same training state, bit for bit
same() { "$CMP" "$1" "$2" --exact >/dev/null || { "$CMP" "$1" "$2" --exact; fail "$3"; }; }

# ---- the MLP on Fashion-MNIST: files vs packed, 1 and 2 ranks ---------------
"$AXON" pack configs/fashion_mlp.yaml --out "$WORK/fm" --shard-size 3000000 >"$WORK/pack.log" \
  || { cat "$WORK/pack.log"; fail "axon pack of the Fashion-MNIST config"; }
grep -q "60000 rows of \[1, 28, 28\] u8 with 1 u8 target" "$WORK/pack.log" || { cat "$WORK/pack.log"; fail "pack summary"; }
[ "$(ls "$WORK/fm/train" | grep -c '^shard-')" -ge 10 ] || fail "expected >= 10 training shards"
"$AXON" pack --verify "$WORK/fm" >/dev/null || fail "verify of a fresh pack"
ok "packed Fashion-MNIST (train, test) and verified it"
packed_config configs/fashion_mlp.yaml "$WORK/mlp.yaml" "$WORK/fm"
m=(--quiet --set data.limit=4000 --set model.layers.0.units=64 --set model.layers.2.units=32
   --set training.epochs=2 --set checkpoint.every_epochs=0 --set logging.metrics="$WORK/m.jsonl")
for np in 1 2; do
  axon_np "$np" train configs/fashion_mlp.yaml "${m[@]}" --set checkpoint.dir="$WORK/f$np" >/dev/null \
    || fail "MLP on the files, $np ranks"
  axon_np "$np" train "$WORK/mlp.yaml" "${m[@]}" --set checkpoint.dir="$WORK/p$np" \
    --set data.window=200000 >/dev/null || fail "MLP on packed data, $np ranks"
  same "$WORK/f$np/last.ckpt" "$WORK/p$np/last.ckpt" "MLP packed vs files on $np ranks"
  ok "MLP: packed = files, bit for bit, on $np rank(s)"
done

# 4 ranks (oversubscribed here), and data.labelled (labels hidden as read)
axon_np 4 train configs/fashion_mlp.yaml "${m[@]}" --set checkpoint.dir="$WORK/f4" >/dev/null \
  || fail "MLP on the files, 4 ranks"
axon_np 4 train "$WORK/mlp.yaml" "${m[@]}" --set checkpoint.dir="$WORK/p4" >/dev/null \
  || fail "MLP on packed data, 4 ranks"
same "$WORK/f4/last.ckpt" "$WORK/p4/last.ckpt" "MLP packed vs files on 4 ranks"
ok "MLP: packed = files, bit for bit, on 4 ranks"
l=(--set data.labelled=500 --set training.pseudo_label_threshold=0.9)
axon_np 2 train configs/fashion_mlp.yaml "${m[@]}" "${l[@]}" --set checkpoint.dir="$WORK/fl" \
  >/dev/null || fail "pseudo-labels on the files"
axon_np 2 train "$WORK/mlp.yaml" "${m[@]}" "${l[@]}" --set checkpoint.dir="$WORK/pl" \
  >/dev/null || fail "pseudo-labels on packed data"
same "$WORK/fl/last.ckpt" "$WORK/pl/last.ckpt" "data.labelled packed vs files"
ok "data.labelled 500 with pseudo-labels: packed = files, bit for bit"

# ---- resume mid-epoch from packed data -------------------------------------
axon_np 2 train "$WORK/mlp.yaml" "${m[@]}" --set training.max_steps=70 \
  --set checkpoint.dir="$WORK/pr" >/dev/null || fail "interrupted packed run"
axon_np 2 train "$WORK/mlp.yaml" "${m[@]}" --set checkpoint.dir="$WORK/pr" --resume auto \
  >/dev/null || fail "resumed packed run"
same "$WORK/p2/last.ckpt" "$WORK/pr/last.ckpt" "resume mid-epoch from packed data"
ok "resume mid-epoch (step 70, epoch 2) from packed data is exact"

# ---- the char LSTM: shuffled windows and stream order ------------------------
if [ -r "$TEXT" ]; then
  c=(--quiet --set training.epochs=1 --set training.max_steps=12 --set checkpoint.every_epochs=0
     --set model.layers.1.hidden=32 --set logging.metrics="$WORK/c.jsonl")
  for cfg in char_lstm char_lstm_stream; do
    "$AXON" pack "configs/$cfg.yaml" --out "$WORK/$cfg" --shard-size 20000 >/dev/null \
      || fail "pack $cfg"
    packed_config "configs/$cfg.yaml" "$WORK/$cfg.yaml" "$WORK/$cfg"
    for np in 1 2; do
      axon_np "$np" train "configs/$cfg.yaml" "${c[@]}" --set checkpoint.dir="$WORK/${cfg}_f$np" \
        >/dev/null || fail "$cfg on the text, $np ranks"
      axon_np "$np" train "$WORK/$cfg.yaml" "${c[@]}" --set checkpoint.dir="$WORK/${cfg}_p$np" \
        >/dev/null || fail "$cfg on packed data, $np ranks"
      same "$WORK/${cfg}_f$np/last.ckpt" "$WORK/${cfg}_p$np/last.ckpt" "$cfg packed vs text, $np ranks"
    done
    ok "$cfg: packed = text, bit for bit, on 1 and 2 ranks"
  done
fi

# ---- damaged directories: exit 3 naming the file ----------------------------
# damage DIR: a copy of the packed training set
damage() { rm -rf "$WORK/$1" && mkdir -p "$WORK/$1" && cp -r "$WORK/fm/train" "$WORK/$1/train" \
             && cp -r "$WORK/fm/test" "$WORK/$1/test"; }
short=(--quiet --set training.max_steps=2 --set checkpoint.dir="$WORK/bad")
# set_u32 FILE OFFSET VALUE: a header field, header CRC repaired
set_u32() {
  python3 - "$@" <<'EOF'
import struct, sys, zlib
path, off, val = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
b = bytearray(open(path, 'rb').read(64))
struct.pack_into('<I', b, off, val)
struct.pack_into('<I', b, 60, zlib.crc32(bytes(b[:60])))
with open(path, 'r+b') as f: f.write(b)
EOF
}
damage flip; s="$WORK/flip/train/shard-000003.bin"
printf '\xff' | dd of="$s" bs=1 seek=1000 conv=notrunc status=none
expect_exit 3 "shard-000003.bin: payload CRC" 1 pack --verify "$WORK/flip"
damage trunc; s="$WORK/trunc/train/shard-000002.bin"
truncate -s 5000 "$s"
expect_exit 3 "shard-000002.bin: 5000 bytes.*truncated" 2 train "$WORK/mlp.yaml" "${short[@]}" \
  --set data.train="$WORK/trunc/train"
damage miss; rm "$WORK/miss/train/shard-000001.bin"
expect_exit 3 "shard-000001.bin: cannot open" 2 train "$WORK/mlp.yaml" "${short[@]}" \
  --set data.train="$WORK/miss/train"
damage foreign; cp "$WORK/foreign/train/shard-000004.bin" "$WORK/foreign/train/shard-000001.bin"
expect_exit 3 "shard-000001.bin: the header's shard number disagrees" 2 train "$WORK/mlp.yaml" \
  "${short[@]}" --set data.train="$WORK/foreign/train"
damage rows; set_u32 "$WORK/rows/test/shard-000000.bin" 48 7
expect_exit 3 "test/shard-000000.bin: the header's row count disagrees" 2 train "$WORK/mlp.yaml" \
  "${short[@]}" --set data.train="$WORK/rows/train" --set data.test="$WORK/rows/test"
damage newer; set_u32 "$WORK/newer/train/shard-000000.bin" 8 2
expect_exit 3 "shard-000000.bin: packed format version 2" 2 train "$WORK/mlp.yaml" "${short[@]}" \
  --set data.train="$WORK/newer/train"
expect_exit 3 "index: .*No such file" 1 train "$WORK/mlp.yaml" "${short[@]}" \
  --set data.train="$WORK/nowhere"
expect_exit 2 "data.window: not used with data.format idx" 1 train configs/fashion_mlp.yaml \
  "${short[@]}" --set data.window=100000
