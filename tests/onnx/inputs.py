#!/usr/bin/python3
"""inputs.py idx IMAGES.gz K OUT : the first K images of an IDX file as an
uncompressed IDX file OUT (what axon predict reads) and OUT.f32 (the same
values as raw float32, what ONNX Runtime reads).
inputs.py ids V T K OUT : K rows of T token ids in [0, V) (a fixed
pseudo-random sequence) as a CSV with a header, and OUT.f32."""
import gzip
import struct
import sys

import numpy as np


def idx(src, k, out):
    with gzip.open(src, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    per = int(np.prod(dims[1:]))
    start = 4 + 4 * ndim
    pixels = data[start:start + k * per]
    with open(out, "wb") as f:
        f.write(data[:4] + struct.pack(">I", k) + data[8:start] + pixels)
    np.frombuffer(pixels, dtype=np.uint8).astype(np.float32).tofile(out + ".f32")


def ids(v, t, k, out):
    rng = np.random.default_rng(1)
    x = rng.integers(0, v, size=(k, t))
    with open(out, "w") as f:
        f.write(",".join(f"t{j}" for j in range(t)) + "\n")
        for r in x:
            f.write(",".join(str(int(a)) for a in r) + "\n")
    x.astype(np.float32).tofile(out + ".f32")


if __name__ == "__main__":
    if sys.argv[1] == "idx":
        idx(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        ids(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
