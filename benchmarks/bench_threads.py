"""Training on 1 and 2 threads: examples per second, and the training loss
after the same number of epochs.

    python benchmarks/bench_threads.py [--repeats 3] [--epochs 3] [--json FILE]

mnist [784, 128, 10] and wide [784, 512, 512, 10] in float64 and float32,
tanh hidden layers, identity output, squared error, lr 0.001 (mnist's
suite lr of 0.01 is past its stability for per-example SGD on these inputs:
its serial loss grows), shuffled, X ~ N(0, 1), Y ~ 0.5 N(0, 1) as in
run.py.  Each repeat trains a fresh network from the same weights for each
run (one thread; two with parallel="copies"; two with parallel="hogwild")
an epoch at a time, the runs taking turns epoch by epoch (``partial_fit``,
which continues exactly as ``fit`` would), so that each epoch of two
threads has an epoch of one thread next to it in time on this shared
machine, whose speed drifts by tenths within seconds.  The table gives
each run's median examples/s over its epochs, the median and quartiles of
its speed-ups over the one-thread epoch of the same turn, and the median
training loss after the last epoch (``History.loss``).
"""

import os

for _name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import fastbp  # noqa: E402
from run import ARCHITECTURES, cpu_name, make_data  # noqa: E402

# Examples per epoch: about a second per epoch on one thread.
EXAMPLES = {"mnist": 30_000, "wide": 3_000}
DTYPES = ["float64", "float32"]
RUNS = {"1 thread": {"n_threads": 1}, "2 threads, copies": {"n_threads": 2},
        "2 threads, hogwild": {"n_threads": 2, "parallel": "hogwild"}}
LR = 0.001


def measure(name, dtype, repeats, epochs):
    layers = ARCHITECTURES[name]
    X, Y = make_data(layers, EXAMPLES[name])
    X, Y = X.astype(dtype), Y.astype(dtype)
    start = fastbp.Network(layers, dtype=dtype, seed=0).weights
    rates = {run: [] for run in RUNS}       # one per epoch, in the same turns for every run
    losses = {run: [] for run in RUNS}
    for _ in range(repeats):
        nets = {run: fastbp.Network(layers, dtype=dtype, weights=start) for run in RUNS}
        for epoch in range(epochs):
            for run, options in RUNS.items():
                history = nets[run].partial_fit(X, Y, lr=LR, seed=1, **options)
                rates[run].append(history.examples_per_second[0])
                if epoch == epochs - 1:
                    losses[run].append(history.loss[0])
    serial = np.array(rates["1 thread"])
    results = {}
    for run in RUNS:
        speedups = np.array(rates[run]) / serial
        results[run] = {"examples_per_second": float(np.median(rates[run])),
                        "speedup": float(np.median(speedups)),
                        "speedup_quartiles": [float(q) for q in
                                              np.quantile(speedups, [0.25, 0.75])],
                        "loss": float(np.median(losses[run])),
                        "loss_ratio": float(np.median(np.array(losses[run])
                                                      / np.array(losses["1 thread"])))}
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    rows = []
    for name in EXAMPLES:
        for dtype in DTYPES:
            result = measure(name, dtype, args.repeats, args.epochs)
            rows.append({"architecture": name, "layers": ARCHITECTURES[name], "dtype": dtype,
                         "examples": EXAMPLES[name], "runs": result})
            print(name, dtype, json.dumps(result), flush=True)
    when = time.strftime("%Y-%m-%d")
    machine = f"{platform.processor() or platform.machine()}, {cpu_name()}, {os.cpu_count()} CPUs"
    print(f"\n{when}, {machine}, fastbp {fastbp.__version__}; {args.epochs} epochs, lr {LR}, "
          f"medians of {args.repeats} repeats\n")
    print("| architecture | dtype | run | examples/s, median epoch | speed-up, median "
          "| speed-up, quartiles | loss after the last epoch | loss / 1 thread's |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for row in rows:
        for run, r in row["runs"].items():
            low, high = r["speedup_quartiles"]
            print(f"| {row['architecture']} | {row['dtype']} | {run} "
                  f"| {r['examples_per_second']:.3g} | {r['speedup']:.2f}x "
                  f"| {low:.2f}x-{high:.2f}x | {r['loss']:.4f} | {r['loss_ratio']:.3f} |")
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"date": when, "machine": machine, "epochs": args.epochs, "lr": LR,
                       "repeats": args.repeats, "results": rows}, file, indent=2)


if __name__ == "__main__":
    main()
