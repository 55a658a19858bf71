#!/usr/bin/env python3
"""Whole training runs, as users see them: part of `make bench`
(scripts/bench runs it last), or alone:

    python3 scripts/bench_runs.py [--build build/rel] [--smoke]
                                  [--epochs 3] [--launches 1] [--out FILE]
                                  [--only mlp,lenet,...] [--batch N]

For each shipped config (the MLP with SGD and with Adam, LeNet-5, the
char LSTM, the row LSTM, the autoencoder, the GAN) a real `axon train`
runs E epochs on 1 rank with 1 BLAS thread, on 1 rank with 2 and on 2
ranks with 1 each; next to it PyTorch (scripts/bench_torch.py --epochs)
trains the same model on the same data, in 1 process with 1 thread and
under DDP in 2 (gloo, 1 thread each). Each rate is the median over
epochs 2..E of the epoch's training-loop samples/s: axon's from the
metrics file (`logging.metrics`, read by field name), PyTorch's timed the
same way; epoch 1 (start-up, first touches, cold caches) is left out. The
runs of one config follow each other, so ratios compare like with like on
a shared machine. Prints a table; writes JSON (--out) for scripts/bench.

--smoke: the MLP only, 2 epochs of 3,000 rows: every part runs, the
timings mean nothing.

--deterministic: instead, the cost of training.deterministic (docs/
DETERMINISM.md): for the MLP and LeNet (or --only), 2 ranks with 1 BLAS
thread each, the default mode and the deterministic mode alternating,
--launches times (--micro-shards 8,2: one deterministic run per count;
--rows N: shorter runs); prints each mode's median samples/s, its ratio
to the default's, and the median of the launches' own ratios.
LeNet's deterministic runs set training.accumulate 1 (the micro-shards
replace its 4 passes).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

# name: (config, extra --set, rows when the run is limited, label)
CONFIGS = {
    "mlp": ("configs/fashion_mlp.yaml", [], None, "MLP, SGD Nesterov"),
    "mlp_adam": ("configs/fashion_mlp.yaml",
                 ["optimizer.type=adam", "training.lr=0.001"], None, "MLP, Adam"),
    "lenet": ("configs/fashion_lenet.yaml", [], None, "LeNet-5"),
    "char_lstm": ("configs/char_lstm.yaml", [], None, "char LSTM"),
    "rowrnn": ("configs/fashion_rowrnn.yaml", [], 6000, "row LSTM"),
    "autoencoder": ("configs/fashion_autoencoder.yaml", [], None, "autoencoder"),
    "gan": ("configs/fashion_gan.yaml", [], 6000, "GAN"),
}
# The char LSTM's text gives 494 training windows, 31 steps an epoch:
# too few for two processes to say anything, and its DDP run did not
# finish here (gloo), so it has no DDP row.
NO_DDP = {"char_lstm"}
# axon: (ranks, BLAS threads per rank); PyTorch: DDP processes (0: one).
AXON_RUNS = [(1, 1), (1, 2), (2, 1)]
TORCH_RUNS = [0, 2]


def parse():
    p = argparse.ArgumentParser()
    p.add_argument("--build", default=os.environ.get("BUILD", "build/rel"))
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--launches", type=int, default=1)
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--only", default="", help="comma-separated config names")
    p.add_argument("--batch", type=int, default=0,
                   help="global batch for every run (default: each config's)")
    p.add_argument("--out", default="")
    p.add_argument("--deterministic", action="store_true",
                   help="measure training.deterministic against the default")
    p.add_argument("--micro-shards", default="8",
                   help="--deterministic: comma-separated training.micro_shards to run")
    p.add_argument("--rows", type=int, default=0,
                   help="--deterministic: train on this many rows (short runs, "
                        "interleaved more finely on a loaded machine)")
    return p.parse_args()


def note(msg):
    print(msg, file=sys.stderr, flush=True)


def run(cmd, env=None, timeout=900):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run(cmd, env=e, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s%s" % (" ".join(cmd), p.returncode,
                                                       p.stdout[-1500:], p.stderr[-1500:]))
    return p


def later_epochs(rates):
    """Median of epochs 2.. (all epochs if there is only one)."""
    rates = [r for r in rates if r]
    return statistics.median(rates[1:] or rates) if rates else None


def axon_run(args, name, ranks, threads, work, more=()):
    cfg, sets, limit, _ = CONFIGS[name]
    metrics = os.path.join(work, "%s-%d-%d.jsonl" % (name, ranks, threads))
    sets = sets + list(more) + ["training.epochs=%d" % args.epochs, "checkpoint.dir=",
                   "logging.metrics=" + metrics]
    if limit:
        sets.append("data.limit=%d" % limit)
    if args.batch:
        sets.append("training.batch_size=%d" % args.batch)
    cmd = ["bash", "scripts/mpirun.sh", str(ranks), os.path.join(args.build, "bin", "axon"),
           "train", cfg, "--quiet"]
    for s in sets:
        cmd += ["--set", s]
    t = time.time()
    run(cmd, {"OPENBLAS_NUM_THREADS": str(threads)})
    wall = time.time() - t
    recs = [json.loads(l) for l in open(metrics) if l.strip()]
    rates = [r["samples_per_sec"] for r in recs if "epoch" in r and "samples_per_sec" in r]
    return {"epochs": rates, "samples_s": later_epochs(rates), "process_s": wall}


def torch_run(args, name, ddp):
    _, _, limit, _ = CONFIGS[name]
    cmd = [sys.executable, "scripts/bench_torch.py", "--model", name,
           "--epochs", str(args.epochs), "--threads", "1", "--blas-threads", "1"]
    if limit:
        cmd += ["--rows", str(limit)]
    if ddp:
        cmd += ["--ddp", str(ddp)]
    if args.batch:
        cmd += ["--global-batch", str(args.batch)]
    out = run(cmd, timeout=600).stdout
    res = json.loads(out[out.index("{"):out.rindex("}") + 1])
    return {"epochs": res["epochs"], "samples_s": later_epochs(res["epochs"]),
            "torch": res.get("torch")}


def have_torch():
    try:
        run([sys.executable, "-c", "import torch"])
        return True
    except Exception:
        return False


def measure(args):
    names = list(CONFIGS)
    if args.only:
        names = [n for n in args.only.split(",") if n in CONFIGS]
    if args.smoke:
        names, args.epochs = ["mlp"], 2
        for k in CONFIGS:
            CONFIGS[k] = CONFIGS[k][:2] + (3000,) + CONFIGS[k][3:]
    torch_ok = not args.no_torch and have_torch()
    if not torch_ok and not args.no_torch:
        note("bench_runs: PyTorch rows skipped: python3-torch is not installed")
    work = os.path.join(args.build, "bench-runs")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    runs = []
    for launch in range(args.launches):
        for name in names:
            note("bench_runs: %s, launch %d/%d" % (name, launch + 1, args.launches))
            for ranks, threads in AXON_RUNS:
                runs.append({"name": name, "who": "axon", "ranks": ranks, "threads": threads,
                             **axon_run(args, name, ranks, threads, work)})
            for ddp in TORCH_RUNS if torch_ok else []:
                if ddp and (args.smoke or name in NO_DDP):
                    continue
                try:
                    runs.append({"name": name, "who": "torch", "ranks": max(ddp, 1),
                                 "threads": 1, **torch_run(args, name, ddp)})
                except Exception as ex:  # report, do not abort the bench
                    note("bench_runs: PyTorch %s (ddp %d) failed: %s"
                         % (name, ddp, str(ex).splitlines()[0]))
    shutil.rmtree(work, ignore_errors=True)
    return names, runs


def rate(runs, name, who, ranks, threads=1):
    xs = [r["samples_s"] for r in runs if (r["name"], r["who"], r["ranks"], r["threads"])
          == (name, who, ranks, threads) and r["samples_s"]]
    return statistics.median(xs) if xs else None


def summarise(names, runs):
    S = {}
    for n in names:
        a11, a12, a21 = (rate(runs, n, "axon", r, t) for r, t in AXON_RUNS)
        t1, t2 = rate(runs, n, "torch", 1), rate(runs, n, "torch", 2)

        def ratio(x, y):
            return x / y if x and y else None
        S[n] = {"axon_1rank_1thread": a11, "axon_1rank_2threads": a12,
                "axon_2ranks_1thread": a21, "torch_1process": t1, "torch_ddp2": t2,
                "threads_2_vs_1": ratio(a12, a11), "ranks_2_vs_1": ratio(a21, a11),
                "axon_vs_torch_1": ratio(a11, t1), "axon_vs_torch_ddp2": ratio(a21, t2),
                "best_1rank_threads": None if not (a11 and a12) else (2 if a12 > a11 else 1)}
    return S


def table(S, args):
    f0 = lambda x: "-" if x is None else "{:,.0f}".format(x)
    fr = lambda x: "-" if x is None else "%.2f" % x
    L = ["Whole runs: `axon train` as shipped, median samples/s of epochs 2-%d "
         "(training loop, from the metrics file)%s" % (args.epochs, " (SMOKE)" if args.smoke else ""),
         "   %-27s %21s %9s %17s %9s  %14s %14s" % (
             "config", "1 rank: 1 thr  2 thr", "2 ranks", "PyTorch: 1 proc", "DDP 2",
             "axon/PyTorch 1", "2 ranks/DDP 2")]
    for n, s in S.items():
        label = CONFIGS[n][3] + ("" if not CONFIGS[n][2] else " (%dk rows)" % (CONFIGS[n][2] // 1000))
        L.append("   %-27s %10s %10s %9s %17s %9s  %14s %14s" % (
            label, f0(s["axon_1rank_1thread"]), f0(s["axon_1rank_2threads"]),
            f0(s["axon_2ranks_1thread"]), f0(s["torch_1process"]), f0(s["torch_ddp2"]),
            fr(s["axon_vs_torch_1"]), fr(s["axon_vs_torch_ddp2"])))
    L.append("   1 rank, 2 BLAS threads / 1: " + ", ".join(
        "%s %s" % (n, fr(s["threads_2_vs_1"])) for n, s in S.items()))
    L.append("   2 ranks / 1 rank (1 thread each): " + ", ".join(
        "%s %s" % (n, fr(s["ranks_2_vs_1"])) for n, s in S.items()))
    return L


# name: what the deterministic runs add to the config
DETERMINISTIC = {"mlp": ["training.deterministic=true"],
                 "lenet": ["training.deterministic=true", "training.accumulate=1"]}


def deterministic(args):
    """Default vs deterministic mode at 2 ranks, interleaved."""
    names = [n for n in (args.only.split(",") if args.only else DETERMINISTIC)
             if n in CONFIGS]
    modes = ["default"] + ["M=%d" % int(m) for m in args.micro_shards.split(",")]
    if args.rows:
        for n in names:
            CONFIGS[n] = CONFIGS[n][:2] + (args.rows,) + CONFIGS[n][3:]
    work = os.path.join(args.build, "bench-runs")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    rates = {}
    for launch in range(args.launches):
        for name in names:
            for mode in modes:
                note("bench_runs: %s %s, launch %d/%d" % (name, mode, launch + 1, args.launches))
                more = [] if mode == "default" else \
                    DETERMINISTIC.get(name, ["training.deterministic=true"]) + \
                    ["training.micro_shards=" + mode[2:]]
                r = axon_run(args, name, 2, 1, work, more)
                rates.setdefault((name, mode), []).append(r["samples_s"])
    shutil.rmtree(work, ignore_errors=True)
    L = ["training.deterministic at 2 ranks x 1 BLAS thread: median samples/s of "
         "epochs 2-%d over %d launch(es), modes interleaved" % (args.epochs, args.launches)]
    for name in names:
        d = statistics.median(rates[(name, "default")])
        row = "   %-20s default %8.0f" % (CONFIGS[name][3], d)
        for mode in modes[1:]:
            t = statistics.median(rates[(name, mode)])
            # each launch's ratio: the two runs of a launch follow each other
            q = statistics.median(x / y for x, y in zip(rates[(name, mode)],
                                                         rates[(name, "default")]))
            row += "  deterministic %s %8.0f (x%.2f; per launch x%.2f)" % (mode, t, t / d, q)
        L.append(row)
    print("\n".join(L), flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"rates": {"%s/%s" % k: v for k, v in rates.items()}, "table": L},
                      f, indent=1)
    return 0


def main():
    args = parse()
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    if args.deterministic:
        return deterministic(args)
    t0 = time.time()
    names, runs = measure(args)
    S = summarise(names, runs)
    L = table(S, args)
    print("\n".join(L), flush=True)
    res = {"epochs": args.epochs, "launches": args.launches, "smoke": args.smoke,
           "batch": args.batch or None,
           "seconds": round(time.time() - t0, 1), "runs": runs, "summary": S, "table": L}
    if args.out:
        with open(args.out, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
