#!/usr/bin/env bash
# The character GPT (configs/char_gpt.yaml: attention, layernorm, gelu,
# position embeddings, residual `add` layers, dropout) end to end: 1 and 2
# ranks give the same parameters; a short run gets its validation loss
# well below the unigram entropy of the text; `axon sample` runs on it;
# attention's bad keys are config errors.
source "$(dirname "$0")/lib.sh"
TEXT=/usr/share/common-licenses/GPL-3
[ -r "$TEXT" ] || { echo "skipped: $TEXT not present"; exit 0; }
CFG=configs/char_gpt.yaml

# ---- 1 rank and 2 ranks agree ---------------------------------------------
# A batch of 20 windows splits unevenly over the shards; dropout masks are
# keyed by sample id, so they do not depend on the rank count.
small=(--quiet --set data.limit=300 --set training.batch_size=20
       --set training.max_steps=6 --set checkpoint.every_epochs=0
       --set logging.metrics="$WORK/m.jsonl")
for np in 1 2; do
  axon_np "$np" train "$CFG" "${small[@]}" --set checkpoint.dir="$WORK/g$np" \
    >/dev/null || fail "char_gpt on $np ranks"
done
"$CMP" "$WORK/g1/last.ckpt" "$WORK/g2/last.ckpt" --tol 1e-5 || fail "1 vs 2 ranks"
ok "char_gpt: 1 and 2 ranks agree after 6 steps"

# ---- it learns --------------------------------------------------------------
H="$(od -An -v -tu1 "$TEXT" | awk '{ for (i = 1; i <= NF; i++) { c[$i]++; n++ } }
     END { for (k in c) { p = c[k] / n; h -= p * log(p) }; printf "%.4f", h }')"
axon_np 2 train "$CFG" --quiet --set training.epochs=8 --set training.warmup_steps=30 \
  --set training.lr=0.005 \
  --set checkpoint.dir="$WORK/ch" --set logging.metrics="$WORK/ch.jsonl" \
  >/dev/null || fail "char_gpt training"
val="$(grep -o '"val_loss":[0-9.e+-]*' "$WORK/ch.jsonl" | tail -1 | cut -d: -f2)"
awk -v v="$val" -v h="$H" 'BEGIN { exit !(v < 0.8 * h) }' \
  || fail "validation loss $val nats/char is not well below the unigram entropy $H"
ok "validation loss $val nats/char < 0.8 x unigram entropy $H nats after 8 epochs"

# ---- sampling: shorter and longer prompts than the 64-step window -----------
CK="$WORK/ch/last.ckpt"
"$AXON" sample --checkpoint "$CK" --prompt "The " --length 100 --seed 7 \
  --out "$WORK/s1" >/dev/null || fail "sample"
[ "$(wc -c < "$WORK/s1")" -eq 104 ] || fail "want the prompt and 100 characters"
long="$(head -c 150 "$TEXT")"
"$AXON" sample --checkpoint "$CK" --prompt "$long" --length 30 --seed 2 \
  --out "$WORK/s2" >/dev/null || fail "long prompt"
[ "$(wc -c < "$WORK/s2")" -eq 180 ] || fail "want 150 + 30 characters"
ok "sample: a prompt shorter and one longer than the window"

# ---- bad keys ---------------------------------------------------------------
expect_exit 2 "b1_attn.*3 heads do not divide the 64 input features" 1 train "$CFG" \
  --quiet --set model.layers.3.heads=3
expect_exit 2 "b1_attn.*heads" 1 train "$CFG" --quiet --set model.layers.3.heads=0
