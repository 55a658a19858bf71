#!/usr/bin/env bash
# Bad input: one clear message naming the file and the problem, the exit
# code STYLE.md gives (2 config, 3 data), and no rank left waiting (every
# run is under a time limit; a hang fails the test).
source "$(dirname "$0")/lib.sh"
cfg=configs/fashion_mlp.yaml
q=(--quiet --set training.max_steps=2)
# config errors -> 2
printf 'model:\n  layers:\n    - {type: dense, units: 10}\nloss: mse\nbogus: 1\n' > "$WORK/bad.yaml"
expect_exit 2 "bad.yaml:5.*bogus" 2 train "$WORK/bad.yaml"
expect_exit 2 "training.epochs" 2 train $cfg "${q[@]}" --set training.epochs=abc
expect_exit 2 "nope" 2 train $cfg "${q[@]}" --set model.layers.1.type=nope
expect_exit 2 "missing CONFIG" 1 train
expect_exit 2 "no_such.yaml" 2 train "$WORK/no_such.yaml"
# data errors -> 3
expect_exit 3 "missing.idx.*No such file" 2 train $cfg "${q[@]}" --set data.train="$WORK/missing.idx"
printf '\x00\x00\x09\x03\x00\x00\x00\x01\x00\x00\x00\x1c\x00\x00\x00\x1c' > "$WORK/badmagic.idx"
expect_exit 3 "badmagic.idx" 2 train $cfg "${q[@]}" --set data.train="$WORK/badmagic.idx"
expect_exit 3 "images 60000, labels 10000" 2 train $cfg "${q[@]}" \
  --set data.train_labels=$FASHION/t10k-labels-idx1-ubyte.gz
head -c 3000000 $FASHION/train-images-idx3-ubyte.gz > "$WORK/trunc.gz"
expect_exit 3 "trunc.gz.*truncat" 2 train $cfg "${q[@]}" --set data.train="$WORK/trunc.gz"
printf 'a,b,y\n1,2,3\n4,x5,6\n' > "$WORK/bad.csv"
expect_exit 3 "bad.csv:3.*column 2" 2 train configs/linreg.yaml --set data.train="$WORK/bad.csv"
# a label that is not a class of the model's output
expect_exit 3 "label" 2 train $cfg "${q[@]}" --set model.layers.4.units=5
# an embedding too small for the text's vocabulary is refused at start-up
expect_exit 2 "vocab 40 is smaller than the 76 characters" 2 train configs/char_lstm.yaml \
  --set model.layers.0.vocab=40 --set training.max_steps=1
