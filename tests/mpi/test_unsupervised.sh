#!/usr/bin/env bash
# Learning without full labels: the autoencoder (data.target input) reads
# no labels and reconstructs held-out images far better than their mean
# image; its encoder initialises the fine-tuning classifier bit for bit;
# semi-supervised training (data.labelled + pseudo-labels) ignores the
# labels it marks unseen: changing them changes no bit of the checkpoint,
# while changing a visible one does.
source "$(dirname "$0")/lib.sh"
TOOLS="$PWD/$BUILD/bin/tests"

# ---- autoencoder -----------------------------------------------------------
ae=(--quiet --set data.limit=6000 --set training.epochs=3
    --set checkpoint.every_epochs=0 --set logging.metrics="$WORK/ae.jsonl")
axon_np 2 train configs/fashion_autoencoder.yaml "${ae[@]}" \
  --set checkpoint.dir="$WORK/ae" >/dev/null || fail "autoencoder training"
grep -q '"train_loss"' "$WORK/ae.jsonl" || fail "no reconstruction loss in the metrics"
ev="$(axon_np 2 eval configs/fashion_autoencoder.yaml --checkpoint "$WORK/ae/last.ckpt")"
mse="$(sed -nE 's/.*10000 samples +loss ([0-9.e+-]+).*/\1/p' <<<"$ev")"
[ -n "$mse" ] || { echo "$ev" >&2; fail "eval printed no loss"; }
# The best constant reconstruction: each test image predicted by the mean
# test image (pixels / 255, as data.normalize scale): its per-pixel MSE and
# BCE; and the BCE of a perfect reconstruction (the pixels' own binary
# entropy: BCE is not 0 for targets strictly between 0 and 1).
read -r mean_mse mean_bce min_bce < <(python3 - "$FASHION/t10k-images-idx3-ubyte.gz" <<'PY'
import gzip, math, sys
from collections import Counter
d = gzip.open(sys.argv[1]).read()
n, h, w = (int.from_bytes(d[i:i + 4], "big") for i in (4, 8, 12))
P, px = h * w, d[16:16 + n * h * w]
def H(t):
    return 0.0 if t <= 0 or t >= 1 else -(t * math.log(t) + (1 - t) * math.log(1 - t))
mse = bce = 0.0
for j in range(P):
    col = [b / 255 for b in px[j::P]]
    s, q = sum(col), sum(v * v for v in col)
    mse += (q - s * s / n) / n
    bce += H(s / n)  # mean over images of BCE(t, p) with p the mean: linear in t
print(mse / P, bce / P, sum(c * H(b / 255) for b, c in Counter(px).items()) / (n * P))
PY
)
awk -v a="$mse" -v m="$mean_mse" 'BEGIN { exit !(a < 0.4 * m) }' \
  || fail "reconstruction MSE $mse is not well below the mean image's $mean_mse"
ok "test-set reconstruction MSE $mse < 0.4 x the mean image's $mean_mse"
# bce on the [0,1] pixels (the last layer's outputs are logits): its excess
# over a perfect reconstruction less than half the mean image's
axon_np 2 train configs/fashion_autoencoder.yaml "${ae[@]}" --set loss=bce \
  --set training.epochs=2 --set checkpoint.dir="$WORK/bce" >/dev/null || fail "bce training"
ev="$(axon_np 2 eval configs/fashion_autoencoder.yaml --set loss=bce --checkpoint "$WORK/bce/last.ckpt")"
bce="$(sed -nE 's/.*10000 samples +loss ([0-9.e+-]+).*/\1/p' <<<"$ev")"
awk -v a="$bce" -v m="$mean_bce" -v f="$min_bce" 'BEGIN { exit !(a - f < 0.5 * (m - f)) }' \
  || fail "reconstruction BCE $bce is not well below the mean image's $mean_bce (floor $min_bce)"
ok "test-set reconstruction BCE $bce: the mean image's $mean_bce, a perfect one's $min_bce"
# No labels are read with data.target input, and naming them is refused.
expect_exit 2 "data.train_labels: not read with data.target input" 1 train \
  configs/fashion_autoencoder.yaml --set data.train_labels=/nonexistent
expect_exit 2 "loss: cross_entropy needs class labels" 1 train \
  configs/fashion_autoencoder.yaml --set loss=cross_entropy

# ---- fine-tuning from the autoencoder --------------------------------------
# enc1 (784*256+256) and enc2 (256*64+64) come first in both models
enc=$((200960 + 16448))
axon_np 2 train configs/fashion_finetune.yaml --quiet --set training.epochs=2 \
  --set model.init_from="$WORK/ae/last.ckpt" --set checkpoint.dir="$WORK/ft" \
  --set logging.metrics="$WORK/ft.jsonl" >/dev/null || fail "fine-tuning"
cmp -s <("$CMP" "$WORK/ae/last.ckpt" --print | head -n $enc) \
       <("$CMP" "$WORK/ft/last.ckpt" --print | head -n $enc) \
  || fail "the frozen encoder is not the autoencoder's"
ok "fine-tuning: enc1, enc2 are the autoencoder's, bit for bit, while frozen"

# ---- semi-supervised: unseen labels change nothing --------------------------
# 3000 rows, 10% validation (seed 1, as the config), 300 keep their labels.
LIM=3000 KEEP=300
"$TOOLS/labelled_rows" $LIM 1 0.1 $KEEP > "$WORK/rows" || fail "labelled_rows"
# Label files: "unseen" changes the label of every row that lost it, "seen"
# changes in addition the label of one row that kept it.
python3 - "$FASHION/train-labels-idx1-ubyte.gz" "$WORK" <<'PY'
import gzip, sys
labels = bytearray(gzip.open(sys.argv[1]).read())
rows = [tuple(map(int, l.split())) for l in open(sys.argv[2] + "/rows")]
hidden = [i for i, kept in rows if not kept]
seen = [i for i, kept in rows if kept]
assert len(hidden) > 2000 and len(seen) == 300
for i in hidden:  # another class, never the same
    labels[8 + i] = (labels[8 + i] + 1 + i % 9) % 10
open(sys.argv[2] + "/unseen.idx", "wb").write(labels)
labels[8 + seen[0]] = (labels[8 + seen[0]] + 1) % 10
open(sys.argv[2] + "/seen.idx", "wb").write(labels)
PY
semi() { # NAME THRESHOLD [--set ...]: a short run on ${NP:-2} ranks into $WORK/NAME
  local name="$1" th="$2"; shift 2
  axon_np "${NP:-2}" train configs/fashion_semisup.yaml --quiet --set data.limit=$LIM \
    --set data.labelled=$KEEP --set training.epochs=2 \
    --set training.pseudo_label_threshold="$th" --set checkpoint.every_epochs=0 \
    --set checkpoint.dir="$WORK/$name" --set logging.metrics="$WORK/$name.jsonl" \
    "$@" >/dev/null || fail "semi-supervised run $name"
}
semi p0 0.5
semi p1 0.5 --set data.train_labels="$WORK/unseen.idx"
semi p2 0.5 --set data.train_labels="$WORK/seen.idx"
n="$(sed -nE 's/.*"pseudo_labelled":([0-9]+).*/\1/p' "$WORK/p0.jsonl" | tail -n 1)"
[ "${n:-0}" -gt 100 ] || fail "only ${n:-0} rows were pseudo-labelled"
grep -q '"train_sup_loss":[0-9]' "$WORK/p0.jsonl" && grep -q '"train_pseudo_loss":[0-9]' "$WORK/p0.jsonl" \
  || fail "the metrics lack the supervised and pseudo-label losses"
"$CMP" "$WORK/p0/last.ckpt" "$WORK/p1/last.ckpt" --exact >/dev/null \
  || fail "changing unseen labels changed the pseudo-labelled run"
"$CMP" "$WORK/p0/last.ckpt" "$WORK/p2/last.ckpt" --exact >/dev/null \
  && fail "changing a seen label changed nothing"
ok "pseudo-labels ($n rows in the last epoch): unseen labels changed, checkpoint bit-identical; a seen one changes it"
# the pseudo-label term is rank-count invariant like the rest (25 steps;
# 3 ranks hold uneven shards)
NP=1 semi r1 0.5 --set training.max_steps=25
NP=3 semi r3 0.5 --set training.max_steps=25
"$CMP" "$WORK/r1/last.ckpt" "$WORK/r3/last.ckpt" --tol 1e-5 >/dev/null \
  || fail "pseudo-labelled training differs between 1 and 3 ranks"
ok "pseudo-labelled training: 1 and 3 ranks agree"
# supervised-only (threshold 0) trains on the labelled rows alone
semi s0 0
semi s1 0 --set data.train_labels="$WORK/unseen.idx"
"$CMP" "$WORK/s0/last.ckpt" "$WORK/s1/last.ckpt" --exact >/dev/null \
  || fail "changing unseen labels changed the supervised-only run"
ok "supervised-only on the same labels: unseen labels changed, checkpoint bit-identical"
expect_exit 2 "data.labelled 5000 exceeds the 2720 training rows" 1 train \
  configs/fashion_semisup.yaml --set data.limit=$LIM --set data.labelled=5000
