#!/usr/bin/env python3
"""PyTorch side of `make bench`: the same models, data, batch and optimizer
as axon's shipped configs, trained on the same data held in memory.

Steps in steady state (MLP and LeNet, as configs/fashion_mlp.yaml and
configs/fashion_lenet.yaml):

    bench_torch.py --model mlp|lenet --batch 64 --threads 1
                   [--blas-threads N] [--ddp 2] [--steps 300] [--windows 5]
                   [--warmup 50] [--rows 54000]

prints one JSON object: samples/s (all processes together for --ddp)
from the median step time over every timed step ("samples_s", the
statistic scripts/bench also takes for axon) and of every timed window
measured by the wall clock.

Whole runs (--epochs E): E epochs over the rows, shuffled each epoch,
batch --batch in all (split over the --ddp processes, as axon splits its
global batch over the ranks), each epoch's training loop timed on the
clock (a barrier at both ends under DDP), as axon's metrics file reports
samples_per_sec. Models: mlp, mlp_adam, lenet, autoencoder, rowrnn,
char_lstm, gan (see WHOLE below). Prints {"epochs": [samples/s, ...]}.

Threads are pinned through OPENBLAS_NUM_THREADS and OMP_NUM_THREADS BEFORE
torch is imported: torch.set_num_threads alone does not limit Debian's
OpenBLAS.
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
    p.add_argument("--model", required=True,
                   choices=["mlp", "lenet", "mlp_adam", "autoencoder", "rowrnn",
                            "char_lstm", "gan"])
    p.add_argument("--epochs", type=int, default=0,
                   help="whole run of this many epochs (0: steps mode)")
    p.add_argument("--global-batch", type=int, default=0,
                   help="whole runs: batch over all processes (default: the config's)")
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
        nesterov = True  # configs/fashion_lenet.yaml
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


# ---------------------------------------------------------------- whole runs
# Per model: the config's batch (global), optimizer and gradient clipping.
WHOLE = {
    "mlp": dict(batch=64, opt="sgd", lr=0.05),
    "mlp_adam": dict(batch=64, opt="adam", lr=0.001),
    "lenet": dict(batch=64, opt="sgd", lr=0.05),
    "autoencoder": dict(batch=128, opt="adam", lr=0.001),
    "rowrnn": dict(batch=64, opt="adam", lr=0.002, clip=5.0),
    "char_lstm": dict(batch=16, opt="adam", lr=0.005, clip=1.0),
    "gan": dict(batch=64, opt="adam", lr=0.0002, betas=(0.5, 0.999)),
}
TEXT = "/usr/share/common-licenses/GPL-3"


class RowLSTM(nn.Module):
    """configs/fashion_rowrnn.yaml: 28 rows of 28 pixels, the last state."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(28, 128, batch_first=True)
        self.out = nn.Linear(128, 10)

    def forward(self, x):
        h, _ = self.lstm(x.view(-1, 28, 28))
        return self.out(h[:, -1])


class CharLSTM(nn.Module):
    """configs/char_lstm.yaml: embedding 32, LSTM 128, 256 logits a step."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(256, 32)
        self.lstm = nn.LSTM(32, 128, batch_first=True)
        self.out = nn.Linear(128, 256)

    def forward(self, x):
        h, _ = self.lstm(self.emb(x))
        return self.out(h).reshape(-1, 256)


def whole_model(kind):
    if kind in ("mlp", "mlp_adam", "lenet"):
        return build("lenet" if kind == "lenet" else "mlp")[0]
    if kind == "autoencoder":  # configs/fashion_autoencoder.yaml
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(),
                             nn.Linear(256, 64), nn.ReLU(), nn.Linear(64, 256),
                             nn.ReLU(), nn.Linear(256, 784))
    if kind == "rowrnn":
        return RowLSTM()
    if kind == "char_lstm":
        return CharLSTM()
    lr = nn.LeakyReLU(0.2)  # configs/fashion_gan.yaml
    g = nn.Sequential(nn.Linear(64, 256), lr, nn.Linear(256, 512), lr,
                      nn.Linear(512, 784), nn.Sigmoid())
    d = nn.Sequential(nn.Conv2d(1, 16, 3, stride=2, padding=1), lr, nn.Flatten(),
                      nn.Linear(16 * 14 * 14, 256), lr, nn.Linear(256, 1))
    return g, d


def whole_data(kind, rows):
    """x, y of the training rows (y is x for the autoencoder)."""
    if kind == "char_lstm":  # windows of 64 characters, y shifted by one
        raw = np.frombuffer(open(TEXT, "rb").read(), dtype=np.uint8)
        n = (len(raw) - 1) // 64
        n = n - n // 10  # data.val_fraction 0.1
        ids = torch.from_numpy(raw.astype(np.int64))
        return ids[:n * 64].view(n, 64), ids[1:n * 64 + 1].reshape(n, 64)
    x = torch.from_numpy(load_idx("train-images-idx3-ubyte.gz", rows)
                         .astype(np.float32) / 255.0).unsqueeze(1)
    if kind == "autoencoder":
        return x, x.reshape(len(x), -1)
    if kind == "gan":
        return x, None
    return x, torch.from_numpy(load_idx("train-labels-idx1-ubyte.gz", rows)
                               .astype(np.int64))


def make_opt(params, w):
    if w["opt"] == "sgd":
        return torch.optim.SGD(params, lr=w["lr"], momentum=0.9, nesterov=True)
    return torch.optim.Adam(params, lr=w["lr"], betas=w.get("betas", (0.9, 0.999)))


def whole_run(rank, world):
    """Per-epoch samples/s of the training loop, all processes together."""
    torch.set_num_threads(ARGS.threads)
    torch.manual_seed(1)
    w = WHOLE[ARGS.model]
    x, y = whole_data(ARGS.model, ARGS.rows)
    lo, hi = len(x) * rank // world, len(x) * (rank + 1) // world
    x = x[lo:hi].contiguous()
    y = None if y is None else y[lo:hi].contiguous()
    B = max(1, (ARGS.global_batch or w["batch"]) // world)
    ddp = (lambda m: nn.parallel.DistributedDataParallel(m)) if world > 1 else (lambda m: m)
    if ARGS.model == "gan":
        g, d = whole_model("gan")
        G, D = ddp(g), ddp(d)
        opt_g, opt_d = make_opt(G.parameters(), w), make_opt(D.parameters(), w)
        lossf = nn.BCEWithLogitsLoss()
        ones, zeros = torch.ones(B, 1), torch.zeros(B, 1)

        def step(xb, yb):
            n = len(xb)
            opt_d.zero_grad(set_to_none=False)  # D: real against 1, fakes against 0
            with torch.no_grad():
                fake = G(torch.randn(n, 64)).view(n, 1, 28, 28)
            (lossf(D(xb), ones[:n]) + lossf(D(fake), zeros[:n])).backward()
            opt_d.step()
            opt_g.zero_grad(set_to_none=False)  # G through D, D's weights fixed
            for p in d.parameters():
                p.requires_grad_(False)
            lossf(d(G(torch.randn(n, 64)).view(n, 1, 28, 28)), ones[:n]).backward()
            for p in d.parameters():
                p.requires_grad_(True)
            opt_g.step()
    else:
        model = ddp(whole_model(ARGS.model))
        opt = make_opt(model.parameters(), w)
        lossf = nn.MSELoss() if ARGS.model == "autoencoder" else nn.CrossEntropyLoss()

        def step(xb, yb):
            opt.zero_grad(set_to_none=False)
            lossf(model(xb), yb.reshape(-1) if ARGS.model == "char_lstm" else yb).backward()
            if "clip" in w:
                nn.utils.clip_grad_norm_(model.parameters(), w["clip"])
            opt.step()

    gen = torch.Generator().manual_seed(1 + rank)
    rates = []
    for _ in range(ARGS.epochs):
        perm = torch.randperm(len(x), generator=gen)
        if world > 1:
            torch.distributed.barrier()
        t = time.perf_counter()
        for i in range(0, len(x) - B + 1, B):
            idx = perm[i:i + B]
            step(x[idx], None if y is None else y[idx])
        if world > 1:
            torch.distributed.barrier()
        rates.append(world * (len(x) // B) * B / (time.perf_counter() - t))
    return {"epochs": rates}


def ddp_worker(rank, world, port, out):
    import torch.distributed as dist
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}",
                            rank=rank, world_size=world)
    res = (whole_run if ARGS.epochs else run)(rank, world)
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
        res = (whole_run if ARGS.epochs else run)(0, 1)
    world = max(ARGS.ddp, 1)
    if ARGS.epochs:
        info["batch_per_process"] = max(1, (ARGS.global_batch or WHOLE[ARGS.model]["batch"]) // world)
        info["epochs"] = [round(r, 1) for r in res["epochs"]]
        print(json.dumps(info))
        return 0
    info["samples_s"] = round(world * ARGS.batch / res["step_median_s"], 1)
    info["samples_s_windows"] = [round(r, 1) for r in res["windows"]]
    info["samples_s_wall"] = round(statistics.median(res["windows"]), 1)
    print(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
