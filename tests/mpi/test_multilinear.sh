#!/usr/bin/env bash
# Multiple linear regression, closed form vs gradient descent, agreeing to
# 1e-3 relative on standardised features: on the real Boston housing table
# and on a generated table with known coefficients.
source "$(dirname "$0")/lib.sh"
# y = 3 x1 - 2 x2 + 0.5 x3 + 10 + small noise, 400 rows, fixed seed;
# the features are already centred and of unit-order scale
awk 'BEGIN { srand(7); print "x1,x2,x3,y";
  for (i = 0; i < 400; i++) { a = rand()*4-2; b = rand()*6-3; c = rand()*2-1;
    n = (rand()-0.5)*0.01; printf "%.6f,%.6f,%.6f,%.6f\n", a, b, c, 3*a-2*b+0.5*c+10+n } }' \
  > "$WORK/synth.csv"
synth=(--set data.train="$WORK/synth.csv" --set data.skip_rows=0
       --set data.normalize=none --set training.batch_size=400)
out="$(axon_np 2 lstsq configs/boston_linreg.yaml "${synth[@]}" --set checkpoint.dir="$WORK/ls_s")"
echo "$out" | grep '^closed form'
line="$(grep '^closed form' <<<"$out")"
for pair in "x1:3" "x2:-2" "x3:0.5"; do
  k="${pair%%:*}"; want="${pair##*:}"
  got="$(grep -oE "[-0-9.e+]+\*$k( |$)" <<<"$line" | head -1 | sed 's/\*.*//')"
  awk -v g="$got" -v w="$want" 'BEGIN { d = g - w; if (d < 0) d = -d; exit !(d < 0.01) }' \
    || fail "coefficient $k: got $got want $want"
done
ok "known coefficients recovered"
axon_np 2 train configs/boston_linreg.yaml "${synth[@]}" --quiet --set checkpoint.dir="$WORK/gd_s"
"$CMP" "$WORK/ls_s/last.ckpt" "$WORK/gd_s/last.ckpt" --rtol 1e-3 || fail "synthetic: GD vs closed form"
ok "synthetic: gradient descent = closed form to 1e-3"
axon_np 2 lstsq configs/boston_linreg.yaml --set checkpoint.dir="$WORK/ls_b" | grep -E '^(closed|train)'
axon_np 2 train configs/boston_linreg.yaml --quiet --set checkpoint.dir="$WORK/gd_b"
"$CMP" "$WORK/ls_b/last.ckpt" "$WORK/gd_b/last.ckpt" --rtol 1e-3 || fail "boston: GD vs closed form"
ok "boston: gradient descent = closed form to 1e-3"
