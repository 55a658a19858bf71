#!/usr/bin/env bash
# Graph models from a config: a residual network trains on 2 ranks, its
# summary lists each layer's inputs, and its checkpoint loads into the
# same graph but not into one wired differently; a bad graph - a forward
# reference, a layer naming itself, an unknown name, `add` of two shapes,
# `concat` of mismatched maps - stops the run with one line naming the
# file, the line and the layer, exit 2.
source "$(dirname "$0")/lib.sh"
data="  format: idx
  train: $FASHION/train-images-idx3-ubyte.gz
  train_labels: $FASHION/train-labels-idx1-ubyte.gz
  limit: 256
  val_fraction: 0.25"
# net FILE LAYER-LINES: a config whose model is LAYER-LINES (one per line).
net() {
  printf 'model:\n  layers:\n%s\nloss: cross_entropy\ndata:\n%s\ntraining: {epochs: 1, batch_size: 32, lr: 0.05}\n' \
    "$2" "$data" > "$1"
}
net "$WORK/res.yaml" "    - {type: conv2d, name: c1, filters: 4, kernel: 3, padding: 1}
    - {type: batchnorm, name: bn1}
    - {type: relu, name: r1}
    - {type: conv2d, name: c2, filters: 4, kernel: 3, padding: 1}
    - {type: conv2d, name: proj, inputs: [input], filters: 4, kernel: 1}
    - {type: add, name: sum, inputs: [c2, proj, r1]}
    - {type: concat, name: cat, inputs: [sum, input]}
    - {type: global_avgpool}
    - {type: dense, units: 10}"
out="$(axon_np 2 train "$WORK/res.yaml" --set checkpoint.dir="$WORK/ck")" \
  || { echo "$out"; fail "residual net did not train"; }
grep -qE "^6 +sum +add .* c2, proj, r1$" <<<"$out" || { echo "$out"; fail "summary lacks sum's inputs"; }
grep -qE "^7 +cat +concat +\[5, 28, 28\]" <<<"$out" || { echo "$out"; fail "concat shape"; }
ok "a residual net trains on 2 ranks; the summary shows inputs"
# its checkpoint loads into the same graph, on another rank count ...
ev="$(axon_np 1 eval "$WORK/res.yaml" --checkpoint "$WORK/ck/last.ckpt")" \
  || { echo "$ev"; fail "eval of the residual net's checkpoint"; }
grep -q "accuracy" <<<"$ev" || { echo "$ev"; fail "eval printed no accuracy"; }
ok "the checkpoint of a graph loads"
# ... and not into a graph wired differently (same layers and shapes)
sed 's/name: c2,/name: c2, inputs: [bn1],/' "$WORK/res.yaml" > "$WORK/rewired.yaml"
grep -q "inputs: \[bn1\]" "$WORK/rewired.yaml" || fail "rewired config not written"
expect_exit 3 "architecture hash" 1 eval "$WORK/rewired.yaml" --checkpoint "$WORK/ck/last.ckpt"

net "$WORK/fwd.yaml" "    - {type: dense, name: a, units: 4}
    - {type: add, name: s, inputs: [a, b]}
    - {type: tanh, name: b}"
expect_exit 2 "fwd.yaml:4: layer 's' \(add\): inputs: 'b' is layer 3, after" 2 train "$WORK/fwd.yaml"
net "$WORK/self.yaml" "    - {type: dense, name: a, units: 4}
    - {type: add, name: s, inputs: [a, s]}"
expect_exit 2 "self.yaml:4: layer 's' \(add\): inputs: names the layer itself" 2 train "$WORK/self.yaml"
net "$WORK/unknown.yaml" "    - {type: dense, name: a, units: 4}
    - {type: add, name: s, inputs: [a, nope]}"
expect_exit 2 "unknown.yaml:4: layer 's' \(add\): inputs: no layer named 'nope'" 2 train "$WORK/unknown.yaml"
net "$WORK/addshape.yaml" "    - {type: dense, name: a, units: 4}
    - {type: dense, name: b, units: 5, inputs: [input]}
    - {type: add, name: s, inputs: [a, b]}"
expect_exit 2 "addshape.yaml:5: layer 's' \(add\): inputs: .*\[4\].*\[5\]" 2 train "$WORK/addshape.yaml"
net "$WORK/catshape.yaml" "    - {type: conv2d, name: a, filters: 2, kernel: 3}
    - {type: conv2d, name: b, filters: 2, kernel: 1, inputs: [input]}
    - {type: concat, name: j, inputs: [a, b]}"
expect_exit 2 "catshape.yaml:5: layer 'j' \(concat\): inputs: .*\[2, 26, 26\].*\[2, 28, 28\]" 2 train "$WORK/catshape.yaml"
# every error is one line
out="$(axon_np 2 train "$WORK/fwd.yaml" 2>&1 || true)"
[ "$(grep -c "fwd.yaml:4" <<<"$out")" -eq 1 ] || { echo "$out"; fail "error printed more than once"; }
ok "one line per error"
