#!/usr/bin/python3
"""check.py MODEL.onnx DIMS : ONNX's own checker (full check) and strict
shape inference must accept an exported model, and infer its output as
[N, DIMS] (DIMS comma-separated). Exit 0, or 1 with the reason."""
import sys

import onnx


def main():
    path, want = sys.argv[1], [int(d) for d in sys.argv[2].split(",")]
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(model, check_type=True,
                                                 strict_mode=True)
    dims = inferred.graph.output[0].type.tensor_type.shape.dim
    got = [d.dim_param or d.dim_value for d in dims]
    if got != ["N"] + want:
        sys.exit(f"{path}: output shape {got}, expected {['N'] + want}")
    for v in inferred.graph.value_info:  # every tensor got a full shape
        if not v.type.tensor_type.HasField("shape"):
            sys.exit(f"{path}: no shape inferred for {v.name}")
    print(f"{path}: checker and shape inference ok, output {got}")


if __name__ == "__main__":
    main()
