#!/usr/bin/python3
"""tests/torch/check_transformer.py - the transformer layers against PyTorch.

Runs attention (torch.nn.MultiheadAttention with a causal mask, and a
hand-written reference where head_size * heads != C), layernorm
(F.layer_norm), gelu (F.gelu, approximate='tanh') and position_embedding
through tests/tools/layer_io and compares the forward output, every
parameter gradient and the input gradient with torch's autograd in float64.

    /usr/bin/python3 tests/torch/check_transformer.py [BUILD_DIR]

Exit 0 if every tensor agrees within 1e-4 * max(1, max |ref|), 1 if not,
77 if torch is not installed (Debian: apt-get install python3-torch).
"""
import os
import subprocess
import sys

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError:
    print("skipped: python3-torch is not installed")
    sys.exit(77)

BUILD = sys.argv[1] if len(sys.argv) > 1 else "build/rel"
TOOL = os.path.join(BUILD, "bin", "tests", "layer_io")
RTOL = 1e-4
torch.manual_seed(5)


def run_c(layer, keys, T, C, N, params, x, dy):
    """Forward + backward in C; returns y, the flat grads and dx."""
    blob = b"".join(np.asarray(a, dtype=np.float32).tobytes()
                    for a in (params, x, dy))
    out = subprocess.run([TOOL, layer, keys, str(T), str(C), str(N)],
                         input=blob, capture_output=True, check=True).stdout
    v = np.frombuffer(out, dtype=np.float32).astype(np.float64)
    ny, nx = dy.numel(), x.numel()
    return v[:ny], v[ny:len(v) - nx], v[len(v) - nx:]


def compare(name, got, ref):
    ref = ref.detach().reshape(-1).numpy()
    scale = max(1.0, float(np.abs(ref).max()))
    err = float(np.abs(got - ref).max())
    ok = got.shape == ref.shape and err <= RTOL * scale
    print("%-44s max |c - torch| %.2e  scale %.2e  %s"
          % (name, err, scale, "ok" if ok else "MISMATCH"))
    return ok


def check(name, layer, keys, T, C, N, tensors, forward):
    """tensors: parameters in arena order (float64 leaves)."""
    x = torch.randn(N, T, C, dtype=torch.float64, requires_grad=True)
    for t in tensors:
        t.requires_grad_(True)
    # Round everything to float32 first, so both sides see the same inputs.
    with torch.no_grad():
        for t in tensors + [x]:
            t.copy_(t.float().double())
    y = forward(x, *tensors)
    dy = torch.randn_like(y).float().double()
    y.backward(dy)
    flat = torch.cat([t.detach().reshape(-1) for t in tensors]) if tensors \
        else torch.zeros(0, dtype=torch.float64)
    cy, cg, cdx = run_c(layer, keys, T, C, N, flat, x.detach(), dy)
    ok = compare(name + ": y", cy, y)
    off = 0
    for i, t in enumerate(tensors):
        k = t.numel()
        ok &= compare("%s: grad %d" % (name, i), cg[off:off + k], t.grad)
        off += k
    ok &= compare(name + ": dx", cdx, x.grad)
    return ok


def causal_mask(T):
    return torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)


def mha_torch(heads):
    """torch's own attention module, given our tensors as its weights."""
    def fwd(x, wqkv, bqkv, wo, bo):
        T, C = x.shape[1], x.shape[2]
        m = torch.nn.MultiheadAttention(C, heads, batch_first=True,
                                        dtype=torch.float64)
        del m.in_proj_weight, m.in_proj_bias
        del m.out_proj.weight, m.out_proj.bias
        m.in_proj_weight, m.in_proj_bias = wqkv, bqkv
        m.out_proj.weight, m.out_proj.bias = wo, bo
        y, _ = m(x, x, x, attn_mask=causal_mask(T), need_weights=False)
        return y
    return fwd


def attention_by_hand(heads, hs):
    def fwd(x, wqkv, bqkv, wo, bo):
        N, T, _ = x.shape
        D = heads * hs
        q, k, v = (x @ wqkv.T + bqkv).split(D, dim=-1)
        q, k, v = (a.reshape(N, T, heads, hs).transpose(1, 2)
                   for a in (q, k, v))
        s = (q @ k.transpose(-1, -2)) / hs ** 0.5
        p = s.masked_fill(causal_mask(T), float("-inf")).softmax(-1)
        return (p @ v).transpose(1, 2).reshape(N, T, D) @ wo.T + bo
    return fwd


def rand(*shape, scale=0.5):
    return torch.randn(*shape, dtype=torch.float64) * scale


def main():
    if not os.access(TOOL, os.X_OK):
        print("no %s: run make build first" % TOOL)
        return 1
    ok = True
    T, C, N = 5, 8, 3
    for heads in (1, 2, 4):
        ok &= check("attention heads=%d (MultiheadAttention)" % heads,
                    "attention", "heads=%d" % heads, T, C, N,
                    [rand(3 * C, C), rand(3 * C), rand(C, C), rand(C)],
                    mha_torch(heads))
    ok &= check("attention heads=3 head_size=3", "attention",
                "heads=3,head_size=3", T, C, N,
                [rand(27, C), rand(27), rand(C, 9), rand(C)],
                attention_by_hand(3, 3))
    ok &= check("attention T=64 C=32 heads=4", "attention", "heads=4",
                64, 32, 2, [rand(96, 32, scale=0.3), rand(96),
                            rand(32, 32, scale=0.3), rand(32)],
                mha_torch(4))
    ok &= check("layernorm", "layernorm", "eps=1e-5", T, C, N,
                [1 + rand(C), rand(C)],
                lambda x, g, b: F.layer_norm(x, (C,), g, b, 1e-5))
    ok &= check("gelu", "gelu", "", T, C, N, [],
                lambda x: F.gelu(x, approximate="tanh"))
    ok &= check("position_embedding", "position_embedding", "", T, C, N,
                [rand(T, C)], lambda x, p: x + p)
    print("all agree" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
