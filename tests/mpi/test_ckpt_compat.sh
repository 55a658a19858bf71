#!/usr/bin/env bash
# Checkpoints of format version 2 (tests/fixtures, written by the axon of
# that format): a linear-regression run stopped at step 200 resumes under
# this build and ends bit for bit where a fresh run of this build ends;
# eval and predict read it; a version-2 GAN file (its two networks in one
# arena) is refused with a message by both resume and sample.
source "$(dirname "$0")/lib.sh"
F=tests/fixtures
c=(--quiet --set checkpoint.every_epochs=0)

axon_np 1 train configs/linreg.yaml "${c[@]}" --set checkpoint.dir="$WORK/fresh" \
  >/dev/null || fail "fresh run"
out="$(axon_np 2 train configs/linreg.yaml --set checkpoint.every_epochs=0 \
  --set checkpoint.dir="$WORK/res" --resume $F/ckpt_v2_linreg.ckpt)" \
  || fail "resume from the version-2 file"
grep -q "resumed from .*ckpt_v2_linreg.ckpt at epoch 201 step 0 (global step 200)" <<<"$out" \
  || { echo "$out"; fail "resume position"; }
python3 - "$WORK/fresh/last.ckpt" "$WORK/res/last.ckpt" <<'PY' || fail "resumed run differs from the fresh one"
import sys
sys.path.insert(0, 'tests/tools')
import axon_ckpt
a, b = axon_ckpt.read(sys.argv[1]), axon_ckpt.read(sys.argv[2])
assert a['objective'] == b['objective'] == b'supervised'
for k in ('model/params', 'model/state', 'model/optim', 'model/hash'):
    assert a[k] == b[k], k
assert a['run'][:24] == b['run'][:24]
PY
ok "version 2 + resume = a fresh run of this build, bit for bit"

ev="$("$AXON" eval configs/linreg.yaml --checkpoint $F/ckpt_v2_linreg.ckpt)" || fail "eval"
grep -qE "loss [0-9.]+" <<<"$ev" || fail "eval printed: $ev"
printf 'x,y\n2,0\n8,0\n' >"$WORK/in.csv"
"$AXON" predict --checkpoint $F/ckpt_v2_linreg.ckpt "$WORK/in.csv" >"$WORK/p.csv" \
  || fail "predict"
[ "$(wc -l <"$WORK/p.csv")" -eq 3 ] || fail "predict wrote $(cat "$WORK/p.csv")"
ok "eval and predict read the version-2 file"

expect_exit 3 "format 2 GAN checkpoint" 1 train $F/ckpt_v2_gan.yaml --quiet \
  --set data.limit=64 --set training.batch_size=32 --set checkpoint.dir="$WORK/g" \
  --resume $F/ckpt_v2_gan.ckpt
expect_exit 3 "not a GAN checkpoint of this version" 1 sample \
  --checkpoint $F/ckpt_v2_gan.ckpt --out "$WORK/g.png"
