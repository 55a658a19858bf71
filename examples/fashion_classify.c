/* examples/fashion_classify.c - classify Fashion-MNIST images with the
 * inference library alone (no MPI, BLAS, YAML or zlib):
 *
 *   axon export --checkpoint runs/fashion_lenet/last.ckpt --format axm \
 *       --out lenet.axm
 *   zcat /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz > t10k.idx
 *   cc -O2 -Iinfer examples/fashion_classify.c build/rel/lib/libaxon_infer.a \
 *       -lm -o fashion_classify
 *   ./fashion_classify lenet.axm t10k.idx 100
 *
 * Prints "row,class" for the first N images (default all) of an
 * uncompressed IDX file of 28x28 images, as `axon predict` numbers rows
 * and classes, then the time per image on stderr.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "axon_infer.h"

static unsigned long be32(const unsigned char *p)
{
    return (unsigned long)p[0] << 24 | (unsigned long)p[1] << 16 |
           (unsigned long)p[2] << 8 | p[3];
}

/* The first *n images (all if fewer) of an IDX file as floats 0..255. */
static float *read_images(const char *path, size_t *n, size_t want)
{
    FILE *f = fopen(path, "rb");
    unsigned char h[16];
    if (!f || fread(h, 1, 16, f) != 16 || be32(h) != 0x0803 ||
        be32(h + 8) != 28 || be32(h + 12) != 28) {
        fprintf(stderr, "%s: not an uncompressed IDX file of 28x28 images\n", path);
        if (f) fclose(f);
        return NULL;
    }
    *n = be32(h + 4) < want ? be32(h + 4) : want;
    unsigned char *px = malloc(*n * 784 + 1);
    float *x = malloc((*n * 784 + 1) * sizeof *x);
    if (!px || !x || fread(px, 1, *n * 784, f) != *n * 784) {
        fprintf(stderr, "%s: short file\n", path);
        free(px), free(x), fclose(f);
        return NULL;
    }
    for (size_t i = 0; i < *n * 784; i++) x[i] = px[i];
    free(px);
    fclose(f);
    return x;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL.axm IMAGES.idx [N]\n", argv[0]);
        return 2;
    }
    size_t n = 0, want = argc > 3 ? strtoul(argv[3], NULL, 10) : (size_t)-1;
    axi_model *m;
    char msg[256];
    if (axi_load_file(argv[1], 1, &m, msg, sizeof msg)) {
        fprintf(stderr, "%s\n", msg);
        return 3;
    }
    float *x = read_images(argv[2], &n, want);
    size_t classes = axi_output_size(m);
    if (!x || axi_input_size(m) != 784) {
        if (x) fprintf(stderr, "%s: the model does not take 28x28 images\n", argv[1]);
        axi_free(m);
        free(x);
        return 3;
    }
    float y[1024];
    if (classes > 1024) classes = 1024;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    printf("row,class\n");
    for (size_t i = 0; i < n; i++) {
        axi_run(m, x + i * 784, 1, y);
        size_t best = 0;
        for (size_t j = 1; j < classes; j++)
            if (y[j] > y[best]) best = j;
        printf("%zu,%zu\n", i, best);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double us = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 +
                 (double)(t1.tv_nsec - t0.tv_nsec)) / 1e3;
    fprintf(stderr, "%zu images, %.1f us per image (batch 1, printing included)\n",
            n, n ? us / (double)n : 0.0);
    axi_free(m);
    free(x);
    return 0;
}
