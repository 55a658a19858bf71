#!/usr/bin/python3
"""compare.py PRED.csv OUT.f32 TOL : the values axon predict wrote (the
columns after row[,step][,class]) must equal the float32 values ONNX
Runtime wrote, row by row, within TOL. Prints the largest difference."""
import csv
import sys

import numpy as np


def main():
    pred_path, out_path, tol = sys.argv[1], sys.argv[2], float(sys.argv[3])
    with open(pred_path, newline="") as f:
        rows = list(csv.reader(f))
    head = rows[0]
    first = next(i for i, h in enumerate(head) if h[0] in "py" and h[1:].isdigit())
    want = np.array([[float(v) for v in r[first:]] for r in rows[1:]])
    got = np.fromfile(out_path, dtype=np.float32).astype(np.float64)
    if got.size != want.size:
        sys.exit(f"{out_path}: {got.size} values, predict wrote {want.size}")
    diff = np.abs(got.reshape(want.shape) - want)
    worst = float(diff.max())
    print(f"max |onnxruntime - predict| = {worst:.3g} over {want.size} values")
    if not worst <= tol:
        sys.exit(f"difference {worst:.3g} > {tol}")


if __name__ == "__main__":
    main()
