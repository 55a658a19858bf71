#!/usr/bin/env bash
# Regenerate the committed seed corpora under tests/fuzz/corpus/: the binary
# seeds and some config texts from make_corpus.c (built against the io
# library), plus configs/*.yaml, and the inference library's model files
# from make_axm_corpus.c (written by export/axm.c).
# Run only when the formats change; the outputs are committed.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=build/fuzz-corpus
make -s BUILD=$B $B/lib/libaxon_io.a $B/lib/libaxon_nn.a
gcc -std=c11 -O1 -g -Wall -Wextra -Werror -I. -D_POSIX_C_SOURCE=200809L \
    tests/fuzz/make_corpus.c $B/lib/libaxon_io.a $B/lib/libaxon_nn.a \
    -lz -lm -lpthread $(pkg-config --libs openblas 2>/dev/null || echo -lopenblas) -o $B/make_corpus
C=tests/fuzz/corpus
rm -rf $C && mkdir -p $C/config $C/idx $C/csv $C/ckpt $C/dataset $C/packed
$B/make_corpus $C
for f in configs/*.yaml; do cp "$f" "$C/config/$(basename "$f")"; done
make -s BUILD=$B $B/lib/libaxon_export.a
BLAS_CFLAGS=$(pkg-config --cflags openblas 2>/dev/null || true)
BLAS_LIBS=$(pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
# shellcheck disable=SC2086
gcc -std=c11 -O1 -g -Wall -Wextra -Werror -I. -D_POSIX_C_SOURCE=200809L $BLAS_CFLAGS \
    tests/fuzz/make_axm_corpus.c $B/lib/libaxon_export.a $B/lib/libaxon_nn.a \
    $BLAS_LIBS -lz -lm -o $B/make_axm_corpus
mkdir -p $C/axm
$B/make_axm_corpus $C/axm
du -sh $C
