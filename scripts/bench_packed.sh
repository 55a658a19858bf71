#!/usr/bin/env bash
# Packed vs in-memory Fashion-MNIST, whole runs (docs/DATA.md): for the
# MLP and LeNet-5 configs, ROUNDS alternating pairs of E-epoch runs on NP
# ranks, one on the IDX files and one on their packed copy (axon pack),
# each timed whole (start-up, data loading, epochs, test) and by the
# epochs' own samples/s (the metrics file, median over the run's epochs).
# Prints one line per run and the ratios packed / files of the medians.
#   bash scripts/bench_packed.sh      ROUNDS=3 EPOCHS=2 NP=2 BUILD=build/rel
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${BUILD:-build/rel}"
AXON="$PWD/$BUILD/bin/axon"
ROUNDS="${ROUNDS:-3}"; EPOCHS="${EPOCHS:-2}"; NP="${NP:-2}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/axon-bench-packed-XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
"$AXON" pack configs/fashion_mlp.yaml --out "$WORK/fm" >/dev/null
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for name in mlp lenet; do
  src="configs/fashion_$name.yaml"
  sed -e 's|format: idx|format: packed|' -e "s|^\(  *\)train: .*|\1train: $WORK/fm/train|" \
      -e "s|^\(  *\)test: .*|\1test: $WORK/fm/test|" -e '/_labels:/d' "$src" > "$WORK/$name.yaml"
  for r in $(seq "$ROUNDS"); do
    for kind in files packed; do
      cfg="$src"; [ "$kind" = packed ] && cfg="$WORK/$name.yaml"
      m="$WORK/$name-$kind-$r.jsonl"
      t0=$(date +%s.%N)
      scripts/mpirun.sh "$NP" "$AXON" train "$cfg" --quiet --set training.epochs="$EPOCHS" \
        --set checkpoint.dir="$WORK/ck-$name-$kind-$r" --set logging.metrics="$m" >/dev/null
      wall=$(echo "$(date +%s.%N) - $t0" | bc)
      sps=$(grep -o '"samples_per_sec":[0-9.e+-]*' "$m" | cut -d: -f2 | median)
      echo "$name $kind round $r: whole run ${wall}s, epochs ${sps} samples/s"
      echo "$wall" >> "$WORK/$name-$kind.wall"; echo "$sps" >> "$WORK/$name-$kind.sps"
    done
  done
  fw=$(median < "$WORK/$name-files.wall"); pw=$(median < "$WORK/$name-packed.wall")
  fs=$(median < "$WORK/$name-files.sps"); ps=$(median < "$WORK/$name-packed.sps")
  echo "$name: median whole run files ${fw}s, packed ${pw}s (packed/files $(echo "scale=3; $pw / $fw" | bc));" \
       "epoch samples/s files $fs, packed $ps (packed/files $(echo "scale=3; $ps / $fs" | bc))"
done
