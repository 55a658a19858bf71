#!/usr/bin/env bash
# axon export --format onnx: for the MLP, LeNet, the ResNet, the batchnorm
# CNN, the row LSTM (and the same model with a gru and an rnn) and the
# char LSTM, each trained for a few steps, ONNX's checker and strict shape
# inference (python3-onnx) accept the file, and ONNX Runtime (npm's
# onnxruntime-node) computes predict's probabilities to 1e-5 on test
# inputs. A layer with no ONNX form is refused with exit 2, naming it.
# Without Node or ONNX Runtime the runtime half is skipped (exit 77, a
# SKIP line in the test run), never passed.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
T=tests/onnx
$PY -c 'import onnx' 2>/dev/null || fail "python3-onnx is missing (scripts/install-deps.sh)"

# ONNX Runtime: npm's package, kept outside the source tree.
ORT_DIR="${AXON_ORT_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/axon/onnxruntime}"
ort=""
if command -v node >/dev/null && command -v npm >/dev/null; then
  if ! NODE_PATH="$ORT_DIR/node_modules" node -e "require('onnxruntime-node')" 2>/dev/null; then
    mkdir -p "$ORT_DIR"
    timeout 600 npm install --prefix "$ORT_DIR" --ignore-scripts --no-audit --no-fund \
      onnxruntime-node >"$WORK/npm.log" 2>&1 || true
  fi
  NODE_PATH="$ORT_DIR/node_modules" node -e "require('onnxruntime-node')" 2>/dev/null && ort=1
fi
[ -n "$ort" ] || echo "note: ONNX Runtime unavailable (node, npm or onnxruntime-node); runtime checks skipped"

small=(--quiet --set data.limit=256 --set training.batch_size=16)
$PY $T/inputs.py idx $FASHION/t10k-images-idx3-ubyte.gz 32 "$WORK/img.idx"

# check NAME CONFIG INPUT DIMS OUTDIMS [train options...]: train, predict,
# export, check, run.
check() {
  local name="$1" cfg="$2" input="$3" dims="$4" odims="$5"; shift 5
  axon_np 1 train "$cfg" "${small[@]}" --set checkpoint.dir="$WORK/$name" "$@" >/dev/null
  local ck="$WORK/$name/last.ckpt" m="$WORK/$name.onnx"
  "$AXON" predict --checkpoint "$ck" "$input" --out "$WORK/$name.csv" 2>/dev/null ||
    fail "$name: predict"
  "$AXON" export --checkpoint "$ck" --format onnx --softmax --out "$m" 2>/dev/null ||
    fail "$name: export"
  $PY $T/check.py "$m" "$odims" >/dev/null || fail "$name: onnx checker"
  ok "$name: onnx.checker and shape inference accept it"
  [ -n "$ort" ] || return 0
  NODE_PATH="$ORT_DIR/node_modules" node $T/run.js "$m" "$input.f32" "$dims" \
    "$WORK/$name.out" || fail "$name: onnxruntime"
  local d
  d="$($PY $T/compare.py "$WORK/$name.csv" "$WORK/$name.out" 1e-5)" || fail "$name: $d"
  ok "$name: onnxruntime equals predict ($d)"
}

check mlp configs/fashion_mlp.yaml "$WORK/img.idx" 1,28,28 10 --set training.max_steps=10
check lenet configs/fashion_lenet.yaml "$WORK/img.idx" 1,28,28 10 --set training.max_steps=6
check bn_cnn configs/fashion_cnn_bn.yaml "$WORK/img.idx" 1,28,28 10 --set training.max_steps=4
check resnet configs/fashion_resnet.yaml "$WORK/img.idx" 1,28,28 10 --set training.max_steps=3
rowrnn=(--set training.max_steps=4 --set model.layers.1.hidden=16)
check row_lstm configs/fashion_rowrnn.yaml "$WORK/img.idx" 1,28,28 10 "${rowrnn[@]}"
check row_gru configs/fashion_rowrnn.yaml "$WORK/img.idx" 1,28,28 10 "${rowrnn[@]}" \
  --set model.layers.1.type=gru
check row_rnn configs/fashion_rowrnn.yaml "$WORK/img.idx" 1,28,28 10 "${rowrnn[@]}" \
  --set model.layers.1.type=rnn
$PY $T/inputs.py ids 60 64 8 "$WORK/ids.csv"
check char_lstm configs/char_lstm.yaml "$WORK/ids.csv" 64 64,256 \
  --set training.max_steps=4 --set model.layers.1.hidden=32

# no faithful form: refused, naming the layer
axon_np 1 train configs/char_gpt.yaml "${small[@]}" --set training.max_steps=1 \
  --set checkpoint.dir="$WORK/gpt" >/dev/null
rc=0; out="$("$AXON" export --checkpoint "$WORK/gpt/last.ckpt" --format onnx \
  --out "$WORK/gpt.onnx" 2>&1)" || rc=$?
[ $rc -eq 2 ] && grep -q "(attention) has no faithful ONNX form" <<<"$out" ||
  fail "attention: exit $rc: $out"
[ ! -e "$WORK/gpt.onnx" ] || fail "a refused export left a file"
ok "refused: $out"
rc=0; "$AXON" export --checkpoint "$WORK/mlp/last.ckpt" --format tflite \
  --out "$WORK/x" 2>/dev/null || rc=$?
[ $rc -eq 2 ] || fail "unknown format: exit $rc"
ok "an unknown format is refused with exit 2"

if [ -z "$ort" ]; then
  echo "SKIP: ONNX Runtime could not be installed (npm install --ignore-scripts onnxruntime-node); the outputs were not compared"
  exit 77
fi
