#!/usr/bin/env python3
"""PyTorch side of `make bench`: the same models, data, batch and optimizer
as configs/fashion_mlp.yaml and configs/fashion_lenet.yaml, trained on
Fashion-MNIST held in memory, timed in steady state.

    bench_torch.py --model mlp|lenet --batch 64 --threads 1
                   [--blas-threads N] [--ddp 2] [--steps 300] [--windows 5]
                   [--warmup 50] [--rows 54000]

Prints one JSON object: samples/s (all processes together for --ddp)
from the median step time over every timed step ("samples_s", the
statistic scripts/bench also takes for axon) and of every timed window
measured by the wall clock. Threads are pinned through
OPENBLAS_NUM_THREADS and OMP_NUM_THREADS BEFORE torch is imported:
torch.set_num_threads alone does not limit Debian's OpenBLAS.
"""
import argparse
import gzip
import json
import os
import statistics
import sys
import time

DATA = "/usr/share/datasets/fashion-mnist"


def parse():
    p = argparse.ArgumentParser()
    p.add_argument("--model", choices=["mlp", "lenet"], required=True)
    p.add_argument("--batch", type=int, default=64, help="per process")
    p.add_argument("--threads", type=int, default=1,
                   help="intra-op (OpenMP) threads per process")
    p.add_argument("--blas-threads", type=int, default=0,
                   help="OpenBLAS threads per process (default: --threads)")
    p.add_argument("--ddp", type=int, default=0, help="processes (gloo)")
    p.add_argument("--steps", type=int, default=300, help="per window")
    p.add_argument("--windows", type=int, default=5)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--rows", type=int, default=54000)
    return p.parse_args()


ARGS = parse()
ARGS.blas_threads = ARGS.blas_threads or ARGS.threads
os.environ["OMP_NUM_THREADS"] = str(ARGS.threads)
os.environ["MKL_NUM_THREADS"] = str(ARGS.threads)
os.environ["OPENBLAS_NUM_THREADS"] = str(ARGS.blas_threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402


def load_idx(name, rows):
    with gzip.open(os.path.join(DATA, name), "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    return arr.reshape(dims)[:rows]


def build(kind):
    if kind == "mlp":
        model = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(),
                              nn.Linear(256, 128), nn.ReLU(),
                              nn.Linear(128, 10))
        nesterov = True  # configs/fashion_mlp.yaml
    else:
        model = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(),
                              nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                              nn.MaxPool2d(2), nn.Flatten(),
                              nn.Linear(400, 120), nn.ReLU(),
                              nn.Linear(120, 84), nn.ReLU(),
                              nn.Linear(84, 10))
        nesterov = False  # configs/fashion_lenet.yaml
    return model, nesterov


def run(rank, world):
    torch.set_num_threads(ARGS.threads)
    torch.manual_seed(1)
    x = torch.from_numpy(load_idx("train-images-idx3-ubyte.gz", ARGS.rows)
                         .astype(np.float32) / 255.0).unsqueeze(1)
    y = torch.from_numpy(load_idx("train-labels-idx1-ubyte.gz", ARGS.rows)
                         .astype(np.int64))
    if world > 1:  # each process its contiguous shard, like axon
        lo, hi = len(x) * rank // world, len(x) * (rank + 1) // world
        x, y = x[lo:hi].contiguous(), y[lo:hi].contiguous()
    model, nesterov = build(ARGS.model)
    if world > 1:
        model = nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9,
                          nesterov=nesterov)
    lossf = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(1 + rank)
    perm, pos = torch.randperm(len(x), generator=gen), 0
    B = ARGS.batch

    def step():
        nonlocal perm, pos
        if pos + B > len(perm):
            perm, pos = torch.randperm(len(x), generator=gen), 0
        idx = perm[pos:pos + B]
        pos += B
        xb, yb = x[idx], y[idx]
        opt.zero_grad(set_to_none=False)
        loss = lossf(model(xb), yb)
        loss.backward()
        opt.step()

    for _ in range(ARGS.warmup):
        step()
    rates, steps = [], []
    for _ in range(ARGS.windows):
        if world > 1:
            torch.distributed.barrier()
        t = time.perf_counter()
        for _ in range(ARGS.steps):
            s = time.perf_counter()
            step()
            steps.append(time.perf_counter() - s)
        if world > 1:
            torch.distributed.barrier()
        rates.append(world * B * ARGS.steps / (time.perf_counter() - t))
    return {"windows": rates, "step_median_s": statistics.median(steps)}


def ddp_worker(rank, world, port, out):
    import torch.distributed as dist
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}",
                            rank=rank, world_size=world)
    res = run(rank, world)
    if rank == 0:
        out.put(res)
    dist.destroy_process_group()


def main():
    info = {"model": ARGS.model, "batch_per_process": ARGS.batch,
            "threads": ARGS.threads, "blas_threads": ARGS.blas_threads,
            "processes": max(ARGS.ddp, 1),
            "torch": torch.__version__}
    if ARGS.ddp > 1:
        import socket
        import torch.multiprocessing as mp
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        ctx = mp.get_context("spawn")
        out = ctx.Queue()
        procs = [ctx.Process(target=ddp_worker, args=(r, ARGS.ddp, port, out))
                 for r in range(ARGS.ddp)]
        for p in procs:
            p.start()
        res = out.get(timeout=600)
        for p in procs:
            p.join()
    else:
        res = run(0, 1)
    world = max(ARGS.ddp, 1)
    info["samples_s"] = round(world * ARGS.batch / res["step_median_s"], 1)
    info["samples_s_windows"] = [round(r, 1) for r in res["windows"]]
    info["samples_s_wall"] = round(statistics.median(res["windows"]), 1)
    print(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
