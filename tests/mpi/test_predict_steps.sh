#!/usr/bin/env bash
# predict on a sequence classifier (output [T, K], a class per step, as
# the char LSTM): one line per row and step, each step's K probabilities
# a softmax of its own. Checked against an independent computation: the
# model is an embedding table W[16, K] alone, so step t of any row is
# softmax(W[id_t]), which the prediction of a row holding id_t at every
# step also gives - whatever the other steps of the row hold.
source "$(dirname "$0")/lib.sh"
T=3; K=5
printf 'model:\n  layers:\n    - {type: embedding, vocab: 16, dim: %d}\nloss: cross_entropy\ndata: {format: csv, train: %s, targets: %d, normalize: none}\ntraining: {epochs: 3, batch_size: 8, lr: 0.5, seed: 3}\ncheckpoint: {dir: %s}\n' \
  $K "$WORK/seq.csv" $T "$WORK/ck" > "$WORK/seq.yaml"
python3 -c "
import random; random.seed(5)
print('a,b,c,y0,y1,y2')
for i in range(64):
    ids = [random.randrange(16) for _ in range($T)]
    print(','.join(map(str, ids + [i % $K for i in ids])))
" > "$WORK/seq.csv"
axon_np 2 train "$WORK/seq.yaml" --quiet >/dev/null || fail "training the sequence model"
# rows: every id repeated T times, then mixed rows
python3 -c "
import random; random.seed(6)
print('a,b,c')
for v in range(16): print(','.join([str(v)] * $T))
for i in range(20): print(','.join(str(random.randrange(16)) for _ in range($T)))
" > "$WORK/in.csv"
"$AXON" predict --checkpoint "$WORK/ck/last.ckpt" "$WORK/in.csv" --out "$WORK/p.csv" \
  2>/dev/null || fail "predict"
python3 - "$WORK/in.csv" "$WORK/p.csv" $T $K <<'PY' || fail "per-step predictions"
import sys
inp, out, T, K = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rows = [list(map(int, l.split(","))) for l in open(inp).read().split("\n")[1:] if l]
lines = open(out).read().split("\n")
head = lines[0].split(",")
assert head == ["row", "step", "class"] + [f"p{j}" for j in range(K)], head
pred = [l.split(",") for l in lines[1:] if l]
assert len(pred) == len(rows) * T, (len(pred), len(rows) * T)
# softmax(W[v]) from the rows holding v at every step (their steps agree)
table = {}
for r, ids in enumerate(rows[:16]):
    for t in range(T):
        p = [float(x) for x in pred[r * T + t][3:]]
        table.setdefault(ids[0], p)
        assert max(abs(a - b) for a, b in zip(p, table[ids[0]])) < 1e-5, (r, t)
for r, ids in enumerate(rows):
    for t in range(T):
        line = pred[r * T + t]
        assert int(line[0]) == r and int(line[1]) == t, line[:2]
        p = [float(x) for x in line[3:]]
        assert abs(sum(p) - 1) < 1e-4, f"row {r} step {t} sums to {sum(p)}"
        assert int(line[2]) == max(range(K), key=lambda j: p[j]), line
        want = table[ids[t]]
        assert max(abs(a - b) for a, b in zip(p, want)) < 1e-5, (r, t, p, want)
print(f"ok: {len(rows)} rows x {T} steps: each step softmax(W[id]) of its own id")
PY
ok "predict: a sequence output is one softmax per step"
