#!/usr/bin/env bash
# Recurrent networks end to end: a character model on data.format text and
# a row-by-row image classifier give the same parameters on 1 and 2 ranks;
# a short character-model run gets its validation loss well below the
# unigram entropy of the text; `axon sample` writes N characters of the
# vocabulary, deterministically for a seed; bad inputs are clear errors.
source "$(dirname "$0")/lib.sh"
TEXT=/usr/share/common-licenses/GPL-3
[ -r "$TEXT" ] || { echo "skipped: $TEXT not present"; exit 0; }

# char_cfg FILE HIDDEN SEQ_LEN [gru]: a character model (embedding ->
# [gru ->] lstm -> dense) in a file of its own (sample rebuilds the model
# from the config text stored in the checkpoint: the file's text, without
# --set overrides).
char_cfg() {
  local gru=""
  [ "${4:-}" = gru ] && gru="    - {type: gru, hidden: $2, sequences: true}"
  cat > "$1" <<EOF
model:
  layers:
    - {type: embedding, vocab: 256, dim: 16}
$gru
    - {type: lstm, hidden: $2, sequences: true}
    - {type: dense, units: 256, time_distributed: true}
loss: cross_entropy
optimizer: {type: adam}
data: {format: text, train: $TEXT, seq_len: $3, val_fraction: 0.1}
training: {epochs: 6, batch_size: 16, lr: 0.02, clip_norm: 1.0, seed: 3}
checkpoint: {every_epochs: 0}
EOF
}

# ---- 1 rank and 2 ranks agree ---------------------------------------------
# A batch of 20 windows splits unevenly over the shards; clip_norm 0.5 is
# below the gradient norm, so clipping acts at every step.
char_cfg "$WORK/small.yaml" 24 16 gru
small=(--quiet --set data.limit=300 --set training.batch_size=20
       --set training.max_steps=8 --set training.clip_norm=0.5)
rowrnn=(--quiet --set data.limit=600 --set training.batch_size=30
        --set training.max_steps=6 --set model.layers.1.hidden=16
        --set checkpoint.every_epochs=0 --set logging.metrics="$WORK/r.jsonl")
for np in 1 2; do
  axon_np "$np" train "$WORK/small.yaml" "${small[@]}" \
    --set checkpoint.dir="$WORK/c$np" >/dev/null || fail "char model on $np ranks"
  axon_np "$np" train configs/fashion_rowrnn.yaml "${rowrnn[@]}" \
    --set checkpoint.dir="$WORK/r$np" >/dev/null || fail "rowrnn on $np ranks"
done
"$CMP" "$WORK/c1/last.ckpt" "$WORK/c2/last.ckpt" --tol 1e-5 || fail "char model: 1 vs 2 ranks"
ok "char model (gru + lstm, clipped): 1 and 2 ranks agree after 8 steps"
"$CMP" "$WORK/r1/last.ckpt" "$WORK/r2/last.ckpt" --tol 1e-5 || fail "rowrnn: 1 vs 2 ranks"
ok "row-by-row lstm classifier: 1 and 2 ranks agree after 6 steps"
axon_np 1 train "$WORK/small.yaml" "${small[@]}" --set training.max_steps=2 \
  --set checkpoint.dir="$WORK/c0" >/dev/null
if "$CMP" "$WORK/c1/last.ckpt" "$WORK/c0/last.ckpt" --tol 1e-5 >/dev/null; then
  fail "2 and 8 steps give the same parameters"
fi
ok "parameters move between 2 and 8 steps"

# ---- the character model learns -------------------------------------------
# Unigram entropy H = -sum p(c) ln p(c) over the bytes of the text, in nats:
# what a model that ignores the context scores at best.
H="$(od -An -v -tu1 "$TEXT" | awk '{ for (i = 1; i <= NF; i++) { c[$i]++; n++ } }
     END { for (k in c) { p = c[k] / n; h -= p * log(p) }; printf "%.4f", h }')"
char_cfg "$WORK/char.yaml" 64 64
axon_np 2 train "$WORK/char.yaml" --quiet --set checkpoint.dir="$WORK/ch" \
  --set logging.metrics="$WORK/ch.jsonl" >/dev/null || fail "char model training"
val="$(grep -o '"val_loss":[0-9.e+-]*' "$WORK/ch.jsonl" | tail -1 | cut -d: -f2)"
awk -v v="$val" -v h="$H" 'BEGIN { exit !(v < 0.8 * h) }' \
  || fail "validation loss $val nats/char is not well below the unigram entropy $H"
ok "validation loss $val nats/char < 0.8 x unigram entropy $H nats"

# ---- sampling ---------------------------------------------------------------
CK="$WORK/ch/last.ckpt"
sample() { "$AXON" sample --checkpoint "$CK" "$@"; }
sample --prompt "The " --length 200 --seed 7 --out "$WORK/s1" >/dev/null || fail "sample"
sample --prompt "The " --length 200 --seed 7 --out "$WORK/s2" >/dev/null
sample --prompt "The " --length 200 --seed 8 --out "$WORK/s3" >/dev/null
[ "$(wc -c < "$WORK/s1")" -eq 204 ] || fail "want the prompt and 200 characters"
[ "$(head -c 4 "$WORK/s1")" = "The " ] || fail "the output starts with the prompt"
cmp -s "$WORK/s1" "$WORK/s2" || fail "the same seed gives different text"
cmp -s "$WORK/s1" "$WORK/s3" && fail "seeds 7 and 8 give the same text"
bytes() { od -An -v -tu1 "$1" | tr -s ' ' '\n' | sed '/^$/d' | sort -u; }
bytes "$TEXT" > "$WORK/vocab"
bytes "$WORK/s1" > "$WORK/used"
[ -z "$(comm -13 "$WORK/vocab" "$WORK/used")" ] || fail "characters outside the vocabulary"
ok "sample: 200 characters of the vocabulary, the same for the same seed"
# no prompt: N characters, the first drawn at random; stdout adds a newline
sample --length 50 --seed 1 > "$WORK/s4" || fail "sample without a prompt"
[ "$(wc -c < "$WORK/s4")" -eq 51 ] || fail "want 50 characters and a newline"
# a prompt longer than the window, and the same on 2 ranks (rank 0 works)
long="$(head -c 150 "$TEXT")"
sample --prompt "$long" --length 30 --seed 2 --out "$WORK/s5" >/dev/null || fail "long prompt"
[ "$(wc -c < "$WORK/s5")" -eq 180 ] || fail "want 150 + 30 characters"
axon_np 2 sample --checkpoint "$CK" --prompt "$long" --length 30 --seed 2 \
  > "$WORK/s6" || fail "sample on 2 ranks"
{ cat "$WORK/s5"; echo; } | cmp -s - "$WORK/s6" || fail "2 ranks sample differently"
ok "no prompt, a prompt longer than seq_len, and 2 ranks"

# ---- bad input --------------------------------------------------------------
expect_exit 2 "character '@' \(byte 0x40\) is not in the training vocabulary" 1 \
  sample --checkpoint "$CK" --prompt "mail@example"
expect_exit 2 "neither a character model" 1 sample --checkpoint "$WORK/r1/last.ckpt"
: > "$WORK/empty.txt"
expect_exit 3 "empty.txt: empty text file" 2 train "$WORK/small.yaml" --quiet \
  --set data.train="$WORK/empty.txt"
printf 'short' > "$WORK/short.txt"
expect_exit 3 "short.txt: 5 characters, but data.seq_len 16 needs at least 17" 2 \
  train "$WORK/small.yaml" --quiet --set data.train="$WORK/short.txt"
printf 'This License\nis a Zebra of a License\n' > "$WORK/test.txt"
expect_exit 3 "test.txt:2:6: character 'Z'" 2 train "$WORK/small.yaml" --quiet \
  --set data.test="$WORK/test.txt"
expect_exit 2 "data.seq_len: required when data.format is text" 1 train \
  "$WORK/small.yaml" --quiet --set data.seq_len=
