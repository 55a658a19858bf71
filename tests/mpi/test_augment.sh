#!/usr/bin/env bash
# data.augment (random crop after zero padding, horizontal flip) on a
# residual network: the same parameters on 1, 2 and 4 ranks (to float
# summation order), since a row's transform depends on (seed, epoch, row
# id) alone; augmentation changes what is learned; resuming is exact with
# it on; configs it does not fit are refused naming the key. The network
# has no batchnorm: its batch statistics are per rank, which no
# augmentation scheme can make rank-count independent.
source "$(dirname "$0")/lib.sh"
common=(--quiet --set data.limit=600 --set training.max_steps=6
        --set training.batch_size=48 --set checkpoint.every_epochs=0
        --set logging.print_every=0 --set training.epochs=2
        --set training.schedule=constant --set training.warmup_epochs=0)
cfg="$WORK/res.yaml"
sed -n '/^loss:/,$p' configs/fashion_resnet.yaml >"$WORK/tail.yaml"
cat >"$cfg" <<'YAML'
model:
  layers:
    - {type: conv2d, name: stem, filters: 4, kernel: 3, padding: 1}
    - {type: relu, name: stem_relu}
    - {type: conv2d, name: c1, filters: 4, kernel: 3, padding: 1}
    - {type: relu, name: r1}
    - {type: conv2d, name: c2, filters: 4, kernel: 3, padding: 1}
    - {type: add, name: skip, inputs: [c2, stem_relu]}
    - {type: relu, name: out}
    - {type: global_avgpool, name: pool}
    - {type: dense, name: logits, units: 10}
YAML
cat "$WORK/tail.yaml" >>"$cfg"
grep -q "augment: {crop_pad: 2, hflip: true}" "$cfg" || fail "the ResNet config lost its augment line"
for np in 1 2 4; do
  axon_np "$np" train $cfg "${common[@]}" --set checkpoint.dir="$WORK/np$np" \
    >/dev/null || fail "training on $np ranks"
done
for np in 2 4; do
  "$CMP" "$WORK/np1/last.ckpt" "$WORK/np$np/last.ckpt" --tol 2e-5 \
    || fail "augmented residual network: 1 vs $np ranks differ"
done
ok "augmented residual network: 1, 2 and 4 ranks agree"
axon_np 2 train $cfg "${common[@]}" --set data.augment.crop_pad=0 \
  --set data.augment.hflip=false --set checkpoint.dir="$WORK/plain" >/dev/null \
  || fail "training without augmentation"
"$CMP" "$WORK/np1/last.ckpt" "$WORK/plain/last.ckpt" --tol 1e-3 >/dev/null \
  && fail "augmentation changed nothing"
ok "augmentation changes the run"
axon_np 2 train $cfg "${common[@]}" --set training.max_steps=3 \
  --set checkpoint.dir="$WORK/part" >/dev/null || fail "first half"
axon_np 2 train $cfg "${common[@]}" --set checkpoint.dir="$WORK/part" \
  --resume auto >/dev/null || fail "resume"
"$CMP" "$WORK/np2/last.ckpt" "$WORK/part/last.ckpt" --exact >/dev/null \
  || fail "resumed augmented run differs"
ok "resume with augmentation is exact"
expect_exit 2 "data.augment.hflip: not used with data.target input" 1 train \
  configs/fashion_autoencoder.yaml --quiet --set data.augment.hflip=true
expect_exit 2 "boston_linreg.yaml: data.augment: .*shape" 1 train \
  configs/boston_linreg.yaml --quiet --set data.augment.hflip=true
expect_exit 2 "data.augment.crop_pad: .*64" 1 train configs/fashion_resnet.yaml --quiet \
  --set data.augment.crop_pad=65
