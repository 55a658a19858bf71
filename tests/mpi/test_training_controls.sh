#!/usr/bin/env bash
# Validation, accumulation, schedules and early stopping, end to end:
# - every validation row is counted exactly once on 1, 2 and 3 ranks, and
#   the validation loss is the same;
# - 4 micro-batches of 64 equal one batch of 256 (to 1e-5), on 1 and 2 ranks;
# - early stopping stops, reports the best epoch, writes best.ckpt and the
#   final evaluation uses the best weights;
# - a cosine schedule with warmup reaches the metrics file as planned.
source "$(dirname "$0")/lib.sh"
c=(--quiet --set data.limit=3000 --set checkpoint.every_epochs=0)
for np in 1 2 3; do
  axon_np "$np" train configs/fashion_mlp.yaml "${c[@]}" --set training.epochs=1 \
    --set logging.metrics="$WORK/v$np.jsonl" >/dev/null
  python3 - "$WORK/v$np.jsonl" "$WORK/v1.jsonl" <<'PY' || fail "validation on $np ranks"
import json, sys
rec = [json.loads(l) for l in open(sys.argv[1]) if '"epoch"' in l][0]
ref = [json.loads(l) for l in open(sys.argv[2]) if '"epoch"' in l][0]
assert rec["val_samples"] == ref["val_samples"] > 250, (rec, ref)
assert abs(rec["val_loss"] - ref["val_loss"]) <= 1e-5 * ref["val_loss"], (rec, ref)
PY
done
ok "validation rows counted once on 1, 2, 3 ranks"
a=(--set training.batch_size=256 --set training.max_steps=8)
axon_np 1 train configs/fashion_mlp.yaml "${c[@]}" "${a[@]}" --set checkpoint.dir="$WORK/big" >/dev/null
for np in 1 2; do
  axon_np "$np" train configs/fashion_mlp.yaml "${c[@]}" "${a[@]}" --set training.accumulate=4 \
    --set checkpoint.dir="$WORK/acc$np" >/dev/null
  "$CMP" "$WORK/big/last.ckpt" "$WORK/acc$np/last.ckpt" --tol 1e-5 || fail "accumulate on $np ranks"
done
ok "4 micro-batches = one batch of 256, on 1 and 2 ranks"
out="$(axon_np 2 train configs/fashion_mlp.yaml --set data.limit=3000 --set checkpoint.every_epochs=0 \
  --set training.epochs=40 --set training.lr=0.1 --set early_stopping.patience=2 \
  --set checkpoint.dir="$WORK/es" --set logging.print_every=0 --set logging.metrics="$WORK/es.jsonl")"
grep -q "early stopping after epoch" <<<"$out" || fail "no early stop in 40 epochs at lr 0.1"
best="$(sed -nE 's/.*best [0-9.e+-]+ at epoch ([0-9]+).*/\1/p' <<<"$out")"
python3 - "$WORK/es.jsonl" "$best" <<'PY' || fail "early stopping bookkeeping"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if '"epoch"' in l]
best = int(sys.argv[2])
losses = [r["val_loss"] for r in recs]
assert min(losses) == losses[best - 1], (losses, best)
assert len(recs) == best + 2, (len(recs), best)   # patience 2
PY
[ -f "$WORK/es/best.ckpt" ] || fail "no best.ckpt"
ok "early stopping at epoch $((best + 2)), best epoch $best"
# the final checkpoint holds the best weights: evaluating best.ckpt and
# last.ckpt gives the same test accuracy
e1="$(axon_np 2 eval configs/fashion_mlp.yaml --checkpoint "$WORK/es/best.ckpt" | grep accuracy)"
e2="$(axon_np 2 eval configs/fashion_mlp.yaml --checkpoint "$WORK/es/last.ckpt" | grep accuracy)"
[ "${e1##*: }" = "${e2##*: }" ] || fail "final weights are not the best: $e1 / $e2"
"$CMP" "$WORK/es/best.ckpt" "$WORK/es/last.ckpt" --tol 0 || fail "last.ckpt params != best.ckpt params"
ok "final weights are the best epoch's"
# The same run stopped after epoch 3 and resumed into another
# checkpoint.dir: best.ckpt is taken from beside the resumed file (and
# copied into the new directory), and the run ends exactly as the
# uninterrupted one.
steps="$(python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).readline())['step'])" "$WORK/es.jsonl")"
es=(--set data.limit=3000 --set training.epochs=40 --set training.lr=0.1
    --set early_stopping.patience=2 --set logging.print_every=0 --quiet)
axon_np 2 train configs/fashion_mlp.yaml "${es[@]}" --set checkpoint.dir="$WORK/esa" \
  --set training.max_steps=$((3 * steps)) >/dev/null || fail "early-stopping run, part 1"
axon_np 2 train configs/fashion_mlp.yaml "${es[@]}" --set checkpoint.dir="$WORK/esb" \
  --resume "$WORK/esa/last.ckpt" >/dev/null || fail "resume into another checkpoint.dir"
[ -f "$WORK/esb/best.ckpt" ] || fail "best.ckpt not copied into the new directory"
"$CMP" "$WORK/es/last.ckpt" "$WORK/esb/last.ckpt" --exact >/dev/null \
  || fail "resumed early-stopping run differs from the uninterrupted one"
ok "early stopping resumed into another checkpoint.dir ends as the uninterrupted run"
axon_np 1 train configs/fashion_mlp.yaml "${c[@]}" --set training.epochs=4 --set training.schedule=cosine \
  --set training.lr=0.02 \
  --set training.warmup_epochs=1 --set logging.metrics="$WORK/cos.jsonl" >/dev/null
python3 - "$WORK/cos.jsonl" <<'PY' || fail "cosine schedule"
import json, sys
lr = [json.loads(l)["lr"] for l in open(sys.argv[1]) if '"epoch"' in l]
# after epoch 1 warmup ends at the base rate; then cosine down to 0 at the end
assert abs(lr[0] - 0.02) < 1e-6 and lr[-1] < 1e-9 and lr[1] > lr[2] > lr[3], lr
PY
ok "cosine schedule with warmup"
