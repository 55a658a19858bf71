#!/usr/bin/env bash
# GAN (configs/fashion_gan.yaml, trainer/obj_gan.c) on 2 ranks: each half-step
# updates only its own network - the discriminator step leaves the
# generator's parameters and optimizer state bit-identical and vice versa
# (AXON_GAN_HALF_STEP runs one half per step); a resumed run equals an
# uninterrupted one bit for bit; the metrics carry both losses; `axon
# sample` turns the checkpoint into a valid, non-blank PNG grid; bad
# configs and options are clear errors with exit 2.
source "$(dirname "$0")/lib.sh"
# Small networks and data: the mechanics, not the quality. The sizes are
# edited into a copy of the config (not --set), because a checkpoint
# stores the config file's text, which `axon sample` rebuilds from.
cfg="$WORK/small.yaml"
sed -e 's/g1, units: 256/g1, units: 32/' -e 's/g2, units: 512/g2, units: 64/' \
    -e 's/d0, filters: 16/d0, filters: 4/' -e 's/d1, units: 256/d1, units: 32/' \
    configs/fashion_gan.yaml >"$cfg"
[ "$(grep -cE 'g1, units: 32}|g2, units: 64}|d0, filters: 4,|d1, units: 32}' "$cfg")" -eq 4 ] \
  || fail "editing the config"
c=(--quiet --set data.limit=1000 --set training.batch_size=32
   --set checkpoint.every_epochs=0)
# The training runs add batchnorm to both networks: running statistics
# are parameters that a forward pass changes, so the network a half-step
# does not train must get them back.
bn="$WORK/bn.yaml"
sed -e '/name: g1,/a\      - {type: batchnorm}' -e '/name: d1,/a\      - {type: batchnorm}' \
    "$cfg" >"$bn"
[ "$(grep -c batchnorm "$bn")" -eq 2 ] || fail "editing the config (batchnorm)"
run() { # DIR args... : a 2-rank run of bn.yaml checkpointing into $WORK/DIR
  local d="$1"; shift
  axon_np 2 train "$bn" "${c[@]}" --set checkpoint.dir="$WORK/$d" \
    --set logging.metrics="$WORK/$d/metrics.jsonl" "$@" >/dev/null || fail "run $d: $*"
}

# parts.py A B: per network (G, D), are the params and the optimizer
# state of two checkpoints bit-identical? Reads the sections of
# docs/CHECKPOINT.md with tests/tools/axon_ckpt.py.
cat >"$WORK/parts.py" <<'EOF'
import struct, sys
sys.path.insert(0, 'tests/tools')
import axon_ckpt
def read(path):
    s = axon_ckpt.read(path)
    assert s['objective'] == b'gan'
    t = tuple(struct.unpack('<QQ', s[g + '/optim'])[1]
              for g in ('generator', 'discriminator'))
    return {'G': (s['generator/params'], s['generator/state']),
            'D': (s['discriminator/params'], s['discriminator/state']), 't': t}
a, b = read(sys.argv[1]), read(sys.argv[2])
for net in 'GD':
    print('%s params %s state %s' % (net, 'same' if a[net][0] == b[net][0] else 'diff',
                                     'same' if a[net][1] == b[net][1] else 'diff'))
print('t %d,%d -> %d,%d' % (a['t'] + b['t']))
EOF
parts() { python3 "$WORK/parts.py" "$@" | tr '\n' ' '; }

# --- one half-step at a time -------------------------------------------
run a --set training.max_steps=1
AXON_GAN_HALF_STEP=d run d --set training.max_steps=2 --resume "$WORK/a/last.ckpt"
AXON_GAN_HALF_STEP=g run g --set training.max_steps=2 --resume "$WORK/a/last.ckpt"
run both --set training.max_steps=2 --resume "$WORK/a/last.ckpt"
out="$(parts "$WORK/a/last.ckpt" "$WORK/d/last.ckpt")"
[ "$out" = "G params same state same D params diff state diff t 1,1 -> 1,2 " ] \
  || fail "discriminator step: $out"
ok "discriminator step: generator bit-identical (params, Adam state, t), discriminator trained"
out="$(parts "$WORK/a/last.ckpt" "$WORK/g/last.ckpt")"
[ "$out" = "G params diff state diff D params same state same t 1,1 -> 2,1 " ] \
  || fail "generator step: $out"
ok "generator step: discriminator bit-identical, generator trained"
out="$(parts "$WORK/a/last.ckpt" "$WORK/both/last.ckpt")"
[ "$out" = "G params diff state diff D params diff state diff t 1,1 -> 2,2 " ] \
  || fail "full step: $out"
# the full step's discriminator half is the half-step run's, exactly
out="$(parts "$WORK/d/last.ckpt" "$WORK/both/last.ckpt")"
[[ "$out" == *"D params same state same"* ]] || fail "D half differs from the full step's: $out"
ok "a full step trains both; its discriminator half equals the D-only step"

# --- resume is exact; metrics ------------------------------------------
# 32 steps per epoch: the run crosses an epoch's end
run full --set training.epochs=2 --set training.max_steps=40
run part --set training.epochs=2 --set training.max_steps=20
run part --set training.epochs=2 --set training.max_steps=40 --resume auto
"$CMP" "$WORK/full/last.ckpt" "$WORK/part/last.ckpt" --exact >/dev/null \
  || fail "resumed GAN run differs from the uninterrupted one"
ok "stop at step 20 + resume = 40 uninterrupted steps, bit for bit (both networks)"
grep -q '"epoch":1,' "$WORK/full/metrics.jsonl" || fail "no epoch record"
for k in d_loss g_loss d_real d_fake; do
  grep -qE "\"$k\":[0-9.e-]+" "$WORK/full/metrics.jsonl" || fail "metrics lack $k"
done
ok "metrics: d_loss g_loss d_real d_fake"

# --- sample ------------------------------------------------------------
ck="$WORK/full/last.ckpt"
"$AXON" sample --checkpoint "$ck" --out "$WORK/grid.png" >/dev/null 2>&1 || fail "sample"
"$AXON" sample --checkpoint "$ck" --out "$WORK/same.png" >/dev/null 2>&1 || fail "sample 2"
"$AXON" sample --checkpoint "$ck" --out "$WORK/other.png" --seed 7 >/dev/null 2>&1 \
  || fail "sample 3"
python3 - "$WORK/grid.png" <<'EOF' || fail "grid.png is not a valid, non-blank 242x242 PNG"
import struct, sys, zlib
b = open(sys.argv[1], 'rb').read()
assert b[:8] == b'\x89PNG\r\n\x1a\n'
at, idat, types = 8, b'', []
while at < len(b):
    n, t = struct.unpack('>I4s', b[at:at + 8]); d = b[at + 8:at + 8 + n]
    assert zlib.crc32(t + d) == struct.unpack('>I', b[at + 8 + n:at + 12 + n])[0]
    types.append(t)
    if t == b'IHDR': w, h, depth, colour = struct.unpack('>IIBB', d[:10])
    if t == b'IDAT': idat += d
    at += 12 + n
assert types[0] == b'IHDR' and types[-1] == b'IEND' and at == len(b)
assert (w, h, depth, colour) == (242, 242, 8, 0)
raw = zlib.decompress(idat)
assert len(raw) == h * (w + 1) and all(raw[y * (w + 1)] == 0 for y in range(h))
tile = [raw[y * (w + 1) + 1 + x] for y in range(2, 30) for x in range(2, 30)]
assert len(set(tile)) > 20, 'the first image is (nearly) blank'
EOF
cmp -s "$WORK/grid.png" "$WORK/same.png" || fail "same seed, different images"
cmp -s "$WORK/grid.png" "$WORK/other.png" && fail "--seed changed nothing"
ok "sample: valid 8x8-grid PNG (CRCs, IHDR, rows), reproducible per --seed"
expect_exit 2 "--out FILE.png" 1 sample --checkpoint "$ck"
expect_exit 2 "--out FILE.png" 1 sample --checkpoint "$ck" --out "$WORK/x.txt"

# --- bad configs -------------------------------------------------------
gan_cfg() { # NAME: configs/fashion_gan.yaml edited by the sed script on stdin
  sed -f - $cfg >"$WORK/$1.yaml"
}
gan_cfg nodisc <<<'/^  discriminator:/,/^      - {type: dense, name: d_out/d'
expect_exit 2 "nodisc.yaml:[0-9]+: gan.discriminator.layers: required key is missing" \
  2 train "$WORK/nodisc.yaml" --quiet
gan_cfg nogen <<<'/^  generator:/,/^      - {type: sigmoid}/d'
expect_exit 2 "nogen.yaml:[0-9]+: gan.generator.layers: required" 1 train "$WORK/nogen.yaml" --quiet
gan_cfg model <<<'s/^gan:/model: {layers: [{type: dense, units: 1}]}\ngan:/'
expect_exit 2 "model.yaml:[0-9]+: model: not used with a gan section" 1 train "$WORK/model.yaml" --quiet
expect_exit 2 "loss: a GAN is trained with bce" 1 train $cfg "${c[@]}" --set loss=mse
expect_exit 2 "d_out.*one logit per sample, not 2" 1 train $cfg "${c[@]}" \
  --set gan.discriminator.layers.5.units=2
expect_exit 2 "small.yaml:[0-9]+: .*the generator makes 700 values per sample.*784" 1 train $cfg "${c[@]}" \
  --set gan.generator.layers.4.units=700
expect_exit 2 "does not apply" 1 eval $cfg "${c[@]}" --checkpoint "$ck"
AXON_GAN_HALF_STEP=x expect_exit 2 "AXON_GAN_HALF_STEP" 1 train $cfg "${c[@]}"
axon_np 1 train configs/fashion_mlp.yaml --quiet --set data.limit=500 \
  --set training.max_steps=1 --set checkpoint.dir="$WORK/mlp" \
  --set logging.metrics="$WORK/mlp/m.jsonl" >/dev/null || fail "mlp run"
expect_exit 3 "not a GAN checkpoint" 1 train $cfg "${c[@]}" \
  --set checkpoint.dir="$WORK/x" --resume "$WORK/mlp/last.ckpt"

# --- the shared update path: accumulate and clip_norm --------------------
# Accumulating 4 passes over the same rows and noise is the same math as
# one pass (up to float summation order; without batchnorm, whose
# statistics are per pass); a clip below the gradient's norm changes the
# result, a huge one does not.
bn="$cfg"
run acc1 --set training.max_steps=3 --set training.accumulate=1
run acc4 --set training.max_steps=3 --set training.accumulate=4
"$CMP" "$WORK/acc1/last.ckpt" "$WORK/acc4/last.ckpt" --tol 1e-4 >/dev/null \
  || fail "accumulate 4 differs from accumulate 1 by more than rounding"
"$CMP" "$WORK/acc1/last.ckpt" "$WORK/acc4/last.ckpt" --exact >/dev/null \
  && fail "accumulate 4 is bit-identical: the passes were not split"
ok "GAN: training.accumulate=4 gives the 1-pass result to rounding"
run clipbig --set training.max_steps=3 --set training.clip_norm=1e30
"$CMP" "$WORK/acc1/last.ckpt" "$WORK/clipbig/last.ckpt" --exact >/dev/null \
  || fail "a clip_norm above the norm changed the GAN"
run clip --set training.max_steps=3 --set training.clip_norm=1e-3
"$CMP" "$WORK/acc1/last.ckpt" "$WORK/clip/last.ckpt" --exact >/dev/null \
  && fail "clip_norm 1e-3 changed nothing"
ok "GAN: training.clip_norm clips (1e-3 changes the run, 1e30 does not)"

# --- objectives: named, unknown, and keys that belong to another --------
printf 'objective: rbm\n' | cat - "$cfg" >"$WORK/obj.yaml"
expect_exit 2 "obj.yaml:1: objective: unknown 'rbm' \(known: supervised, gan, ppo" 1 \
  train "$WORK/obj.yaml" "${c[@]}"
expect_exit 2 "--set training.pseudo_label_weight: training.pseudo_label_weight: belongs to the 'supervised' objective; this config trains 'gan'" 1 \
  train $cfg "${c[@]}" --set training.pseudo_label_weight=2
expect_exit 2 "--set objective: objective: gan needs a gan section" 1 train configs/fashion_mlp.yaml \
  --quiet --set objective=gan

# --- the schedule spans the configured epochs, as for every run ----------
# max_steps stops the run after epoch 1 of 2; the cosine's horizon stays
# 2 epochs, so the rate after epoch 1 is half the peak (not its end, 0).
run sched --set training.epochs=2 --set training.max_steps=32 \
  --set training.schedule=cosine --set gan.generator_lr=0.001 \
  --set gan.discriminator_lr=0.002
python3 - "$WORK/sched/metrics.jsonl" <<'PY' || fail "GAN schedule horizon"
import json, sys
r = [json.loads(l) for l in open(sys.argv[1]) if '"epoch"' in l][0]
assert r['step'] == 32, r
assert abs(r['generator_lr'] - 0.0005) < 1e-9, r
assert abs(r['discriminator_lr'] - 0.001) < 1e-9, r
PY
ok "GAN: the cosine spans the configured epochs, not max_steps"
