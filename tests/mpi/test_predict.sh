#!/usr/bin/env bash
# predict needs only the checkpoint: its predictions on the test images
# give the same accuracy eval reports; a CSV regression model predicts the
# rows it was fit on with the closed form's mean squared error; bad inputs
# are refused with exit code 3.
source "$(dirname "$0")/lib.sh"
axon_np 2 train configs/fashion_mlp.yaml --quiet --set training.max_steps=300 \
  --set checkpoint.dir="$WORK/ck" >/dev/null
ev="$(axon_np 2 eval configs/fashion_mlp.yaml --checkpoint "$WORK/ck/last.ckpt")"
acc="$(sed -nE 's/.*accuracy ([0-9.]+)%.*/\1/p' <<<"$ev")"
"$AXON" predict --checkpoint "$WORK/ck/last.ckpt" $FASHION/t10k-images-idx3-ubyte.gz \
  --out "$WORK/pred.csv" || fail "predict"
[ "$(wc -l < "$WORK/pred.csv")" -eq 10001 ] || fail "want a header and 10000 rows"
zcat $FASHION/t10k-labels-idx1-ubyte.gz | tail -c 10000 | od -An -v -tu1 -w1 | tr -d ' ' > "$WORK/labels"
pacc="$(tail -n +2 "$WORK/pred.csv" | cut -d, -f2 | paste -d' ' - "$WORK/labels" |
        awk '{ n++; if ($1 == $2) c++ } END { printf "%.2f", 100 * c / n }')"
[ "$pacc" = "$acc" ] || fail "predict accuracy $pacc% != eval accuracy $acc%"
ok "predict reproduces eval's $acc% on 10000 test images"
# probabilities of each row sum to 1
tail -n +2 "$WORK/pred.csv" | awk -F, '{ s = 0; for (i = 3; i <= NF; i++) s += $i;
  if (s < 0.999 || s > 1.001) { print "row " $1 " sums to " s; exit 1 } }' || fail "probabilities"
ok "probabilities sum to 1"
# regression from a standardised CSV model: predictions on the training table
axon_np 1 lstsq configs/boston_linreg.yaml --set checkpoint.dir="$WORK/b" > "$WORK/ls.txt"
mse="$(sed -nE 's/^train mse ([0-9.e+-]+).*/\1/p' "$WORK/ls.txt")"
B=/usr/lib/python3/dist-packages/sklearn/datasets/data/boston_house_prices.csv
"$AXON" predict --checkpoint "$WORK/b/last.ckpt" "$B" > "$WORK/bp.csv" || fail "predict csv"
tail -n +3 "$B" | cut -d, -f14 > "$WORK/by"
pmse="$(tail -n +2 "$WORK/bp.csv" | cut -d, -f2 | paste -d' ' - "$WORK/by" |
        awk '{ d = $1 - $2; s += d * d; n++ } END { printf "%.6g", s / n }')"
awk -v a="$mse" -v b="$pmse" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d < 1e-3 * a) }' \
  || fail "predict mse $pmse vs lstsq train mse $mse"
ok "regression predictions reproduce the training mse $mse"
# bad inputs
out="$("$AXON" predict --checkpoint "$WORK/ck/last.ckpt" "$B" 2>&1)" && fail "csv into an image model"
ok "wrong input refused: $out"
head -c 100 "$WORK/ck/last.ckpt" > "$WORK/cut.ckpt"
rc=0; "$AXON" predict --checkpoint "$WORK/cut.ckpt" "$B" >/dev/null 2>&1 || rc=$?
[ $rc -eq 3 ] || fail "truncated checkpoint: exit $rc"
ok "truncated checkpoint refused with exit 3"
# a model shaped by --set overrides is rebuilt with them (they are stored)
axon_np 1 train configs/fashion_mlp.yaml --quiet --set training.max_steps=5 \
  --set model.layers.0.units=32 --set checkpoint.dir="$WORK/ov" >/dev/null
"$AXON" predict --checkpoint "$WORK/ov/last.ckpt" $FASHION/t10k-images-idx3-ubyte.gz \
  > "$WORK/ov.csv" || fail "predict from a run with overrides"
[ "$(wc -l < "$WORK/ov.csv")" -eq 10001 ] || fail "overrides: want 10000 rows"
ok "overrides are stored with the checkpoint"
