#!/usr/bin/env bash
# The textbook line: least squares on x = 2 4 6 8, y = 81 93 91 97 is
# y = 2.3 x + 79, in closed form and by gradient descent (|error| < 1e-3),
# on 1 and 2 ranks.
source "$(dirname "$0")/lib.sh"
near() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d < t) }'; }
for np in 1 2; do
  out="$(axon_np "$np" lstsq configs/linreg.yaml)"
  echo "$out"
  line="$(grep '^closed form:' <<<"$out")"
  a="$(sed -E 's/.*= ([-0-9.e+]+)\*x1.*/\1/' <<<"$line")"
  b="$(sed -E 's/.*\+ ([-0-9.e+]+)$/\1/' <<<"$line")"
  near "$a" 2.3 1e-6 && near "$b" 79 1e-6 || fail "closed form gave a=$a b=$b"
  ok "closed form a=$a b=$b ($np ranks)"
  out="$(axon_np "$np" train configs/linreg.yaml --set checkpoint.dir="$WORK/gd$np")"
  line="$(grep '^learned:' <<<"$out")"
  a="$(sed -E 's/.*= ([-0-9.e+]+)\*x1.*/\1/' <<<"$line")"
  b="$(sed -E 's/.*\+ ([-0-9.e+]+)$/\1/' <<<"$line")"
  near "$a" 2.3 1e-3 && near "$b" 79 1e-3 || fail "gradient descent gave a=$a b=$b"
  ok "gradient descent a=$a b=$b ($np ranks)"
done
