#!/usr/bin/env bash
# Subnormals are flushed to zero in the training process itself, on every
# rank (the start-up line says so only if all ranks' arithmetic flushes),
# unless AXON_KEEP_SUBNORMALS=1; and flushing does not change what the MLP
# learns: 2 epochs (1,686 steps, past the ~800 after which momentum that
# is only ever scaled by 0.9 turns subnormal) with and without give the
# same losses and test accuracy within tolerance.
source "$(dirname "$0")/lib.sh"
quick=(train configs/fashion_mlp.yaml --set training.max_steps=3 --set checkpoint.dir=
       --set logging.metrics=)
# (the output is read whole first: grep -q leaving a pipe early would
# make mpirun fail on SIGPIPE)
out="$(axon_np 2 "${quick[@]}")" || fail "2 ranks: run failed"
grep -q "per rank, subnormals flushed to zero$" <<<"$out" \
  || fail "2 ranks: start-up line does not say subnormals are flushed"
out="$(AXON_KEEP_SUBNORMALS=1 axon_np 2 "${quick[@]}")" || fail "keep: run failed"
grep -q "per rank, subnormals kept$" <<<"$out" \
  || fail "AXON_KEEP_SUBNORMALS=1: start-up line does not say subnormals are kept"
ok "flushed on every rank by default, kept on request"
for mode in flush keep; do
  keep=""; [ "$mode" = keep ] && keep=1
  AXON_KEEP_SUBNORMALS="$keep" OPENBLAS_NUM_THREADS=1 axon_np 1 train configs/fashion_mlp.yaml \
    --set training.epochs=2 --set checkpoint.dir= --set logging.metrics="$WORK/$mode.jsonl" \
    --quiet
done
python3 - "$WORK/flush.jsonl" "$WORK/keep.jsonl" <<'PY' || fail "flushing changed the results"
import json, sys
a, b = ([json.loads(l) for l in open(p)] for p in sys.argv[1:3])
assert len(a) == len(b) == 3, (a, b)
for x, y in zip(a, b):
    for k in ("train_loss", "val_loss", "loss"):
        if k in x:
            assert abs(x[k] - y[k]) <= 2e-3 * abs(y[k]), (k, x, y)
    for k in ("val_accuracy", "accuracy"):
        if k in x:
            assert abs(x[k] - y[k]) <= 0.003, (k, x, y)
print("losses and accuracies agree:", [(x.get("val_loss") or x.get("loss")) for x in a])
PY
ok "2 MLP epochs: the same losses and accuracy with and without flushing"
