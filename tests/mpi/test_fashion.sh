#!/usr/bin/env bash
# Training is judged by what it learns on data it did not see: 2 epochs of
# the Fashion-MNIST MLP on 2 ranks must reach >= 85% on the 10,000 test
# images; the metrics file has one record per epoch and a final one.
source "$(dirname "$0")/lib.sh"
out="$(axon_np 2 train configs/fashion_mlp.yaml --set training.epochs=2 \
  --set checkpoint.dir="$WORK/ck" --set logging.metrics="$WORK/m.jsonl" \
  --set logging.print_every=300)"
echo "$out"
acc="$(sed -nE 's/^test: loss [0-9.]+  accuracy ([0-9.]+)%.*/\1/p' <<<"$out")"
[ -n "$acc" ] || fail "no test accuracy printed"
awk -v a="$acc" 'BEGIN { exit !(a >= 85) }' || fail "test accuracy $acc% < 85%"
ok "test accuracy $acc%"
[ "$(grep -c '"epoch"' "$WORK/m.jsonl")" -eq 2 ] || fail "metrics: want 2 epoch records"
grep -q '"val_accuracy"' "$WORK/m.jsonl" || fail "metrics: no val_accuracy"
grep -q '"final":true' "$WORK/m.jsonl" || fail "metrics: no final record"
python3 -c "import json,sys; [json.loads(l) for l in open(sys.argv[1])]" "$WORK/m.jsonl" \
  || fail "metrics file is not JSON lines"
ok "metrics file"
# eval of the saved checkpoint, on a different rank count, agrees
ev="$(axon_np 3 eval configs/fashion_mlp.yaml --checkpoint "$WORK/ck/last.ckpt")"
echo "$ev"
grep -q "accuracy ${acc}%" <<<"$ev" || fail "eval on 3 ranks disagrees with training's $acc%"
ok "eval on 3 ranks reproduces $acc%"
