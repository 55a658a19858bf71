#!/usr/bin/env bash
# Data that does not fit the model, and counts that do not fit memory: a
# test or validation file whose samples differ in shape from the training
# file (IDX images of another size, CSV tables wider or narrower; train,
# eval, data.val, data.normalize standardize), token ids outside an
# embedding's vocabulary (training and predict), huge counts on the
# command line and in the config. Each is refused at start-up with a
# message naming the file or key: exit 3 (data) or 2 (usage/config),
# never a crash, a hang or a silent wrong answer.
source "$(dirname "$0")/../mpi/lib.sh"
q=(--quiet --set training.max_steps=2 --set checkpoint.dir="$WORK/ck")

# IDX: n images of HxW (gzip), and n labels
python3 - "$WORK" <<'PY'
import gzip, struct, sys, random
w = sys.argv[1]
random.seed(1)
def images(path, n, h, wd):
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, h, wd))
        f.write(bytes(random.randrange(256) for _ in range(n * h * wd)))
def labels(path, n):
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">II", 0x801, n))
        f.write(bytes(random.randrange(10) for _ in range(n)))
images(f"{w}/img28.gz", 64, 28, 28); labels(f"{w}/lab.gz", 64)
images(f"{w}/img32.gz", 64, 32, 32)
images(f"{w}/img20.gz", 64, 20, 20)
images(f"{w}/img14x56.gz", 64, 14, 56)  # as many values as 28x28
# CSV: 4 features + 1 target; wider (7 + 1) and narrower (2 + 1)
for name, feats in (("t4", 4), ("t7", 7), ("t2", 2)):
    with open(f"{w}/{name}.csv", "w") as f:
        f.write(",".join(f"c{j}" for j in range(feats + 1)) + "\n")
        for i in range(40):
            f.write(",".join(str(random.random()) for _ in range(feats + 1)) + "\n")
PY
idx=(--set data.train="$WORK/img28.gz" --set data.train_labels="$WORK/lab.gz"
     --set data.test_labels="$WORK/lab.gz" --set data.val_fraction=0)
cfg=configs/fashion_mlp.yaml
for f in img32 img20; do
  expect_exit 3 "$f.gz: samples of shape \[1, ?$(echo $f | tr -dc 0-9)" 2 train $cfg "${q[@]}" "${idx[@]}" \
    --set data.test="$WORK/$f.gz"
  expect_exit 3 "$f.gz: samples of shape" 2 train $cfg "${q[@]}" "${idx[@]}" \
    --set data.test="$WORK/img28.gz" --set data.val="$WORK/$f.gz" --set data.val_labels="$WORK/lab.gz"
done
# the matching file still trains
axon_np 2 train $cfg "${q[@]}" "${idx[@]}" --set data.test="$WORK/img28.gz" >/dev/null \
  || fail "a test file of the training shape was refused"
ok "IDX test file of the training shape accepted"
# predict: an IDX file of another shape, even with as many values
for f in img32 img14x56; do
  expect_exit 3 "$f.gz: samples of shape \[1, [0-9]+, [0-9]+\] \([0-9]+ values\); the model takes \[1, 28, 28\]" 1 \
    predict --checkpoint "$WORK/ck/last.ckpt" "$WORK/$f.gz"
done

lin=(--set data.train="$WORK/t4.csv" --set model.layers.0.init=he)
for f in t7 t2; do
  for norm in none standardize; do
    expect_exit 3 "$f.csv: samples of shape \[${f#t}\]" 2 train configs/linreg.yaml "${q[@]}" "${lin[@]}" \
      --set data.normalize=$norm --set data.test="$WORK/$f.csv"
    expect_exit 3 "$f.csv: samples of shape" 2 train configs/linreg.yaml "${q[@]}" "${lin[@]}" \
      --set data.normalize=$norm --set data.val="$WORK/$f.csv"
  done
done
# eval of a good checkpoint on a file of another shape
axon_np 1 train configs/linreg.yaml "${q[@]}" "${lin[@]}" >/dev/null || fail "linreg training failed"
for f in t7 t2; do
  expect_exit 3 "$f.csv: samples of shape" 2 eval configs/linreg.yaml "${q[@]}" "${lin[@]}" \
    --set data.test="$WORK/$f.csv" --checkpoint "$WORK/ck/last.ckpt"
done

# token ids: an embedding fed pixels, and predict on ids past the vocabulary
printf 'model:\n  layers:\n    - {type: embedding, vocab: 16, dim: 2}\n    - {type: dense, units: 3}\nloss: cross_entropy\ndata: {format: csv, train: %s, normalize: none}\ntraining: {epochs: 1, batch_size: 8, lr: 0.1}\ncheckpoint: {dir: %s}\n' \
  "$WORK/ids.csv" "$WORK/ck2" > "$WORK/emb.yaml"
python3 -c "
import random; random.seed(2)
print('a,b,c,y')
for i in range(32): print(','.join(str(random.randrange(16)) for _ in range(3)) + ',' + str(random.randrange(3)))
" > "$WORK/ids.csv"
axon_np 2 train "$WORK/emb.yaml" --quiet >/dev/null || fail "embedding on valid ids failed"
printf 'a,b,c\n1,2,3\n4,16,0\n' > "$WORK/bad_ids.csv"
expect_exit 3 "bad_ids.csv: row 1, value 2: 16 is not a token id" 1 predict \
  --checkpoint "$WORK/ck2/last.ckpt" "$WORK/bad_ids.csv"
printf 'a,b,c,y\n1,2,3,0\n4,16,0,1\n' > "$WORK/bad_test.csv"
expect_exit 3 "bad_test.csv: row 1, value 2: 16 is not a token id" 2 train "$WORK/emb.yaml" \
  --quiet --set data.test="$WORK/bad_test.csv"
printf 'a,b,c,y\n1,2,3,0\n4,-5,0,1\n' > "$WORK/neg_ids.csv"
expect_exit 3 "neg_ids.csv: row 1, value 2: -5 is not a token id" 2 train "$WORK/emb.yaml" \
  --quiet --set data.train="$WORK/neg_ids.csv"
# an embedding first layer on pixel data (0..255 or scaled)
printf 'model:\n  layers:\n    - {type: embedding, vocab: 100, dim: 2}\n    - {type: dense, units: 10}\nloss: cross_entropy\ndata: {format: idx, train: %s, train_labels: %s, normalize: none}\ntraining: {epochs: 1, batch_size: 8, lr: 0.1}\n' \
  "$WORK/img28.gz" "$WORK/lab.gz" > "$WORK/emb_px.yaml"
expect_exit 3 "img28.gz: row [0-9]+, value [0-9]+: [0-9]+ is not a token id" 2 train "$WORK/emb_px.yaml" --quiet

# counts: command line
for len in 18446744073709549568 1e30 -1 12abc 100000001; do
  expect_exit 2 "length: '$len' must be a whole number" 1 sample --checkpoint "$WORK/ck2/last.ckpt" --length "$len"
done
expect_exit 2 "seed: '1e30' must be a whole number" 1 sample --checkpoint "$WORK/ck2/last.ckpt" --seed 1e30
expect_exit 2 "temperature: 'inf' is not a finite number" 1 sample --checkpoint "$WORK/ck2/last.ckpt" --temperature inf
sets=(); for i in $(seq 257); do sets+=(--set training.lr=0.1); done
expect_exit 2 "more than 256 --set options" 1 train configs/linreg.yaml "${sets[@]}"
# counts: config
for key in training.batch_size training.accumulate training.epochs training.max_steps; do
  expect_exit 2 "$key" 1 train configs/linreg.yaml "${q[@]}" "${lin[@]}" --set $key=18446744073709551615
done
expect_exit 2 "training.batch_size.*16777216" 1 train configs/linreg.yaml "${q[@]}" --set training.batch_size=16777217
# messages say what the user did, once, and what to do instead
out="$(axon_np 1 train configs/linreg.yaml --quiet --set model.layers.0.units=0 2>&1)" || true
grep -q "error: configs/linreg.yaml:[0-9]*: layer 'dense_1' (dense): units: 0" <<<"$out" || { echo "$out"; fail "layer error"; }
grep -q "configs/linreg.yaml: configs/linreg.yaml" <<<"$out" && fail "config path printed twice: $out"
ok "a layer error names the config once"
expect_exit 2 "the run has 3 optimizer steps .* the warmup takes 10, .* train more epochs or shorten the warmup" 1 \
  train configs/linreg.yaml --quiet --set training.schedule=cosine --set training.warmup_steps=10 --set training.epochs=3
