"""Training on 1 and 2 threads: examples per second, and the training loss
after the same number of epochs.

    python benchmarks/bench_threads.py [--repeats 3] [--epochs 3] [--json FILE]

mnist [784, 128, 10] and wide [784, 512, 512, 10] in float64 and float32,
tanh hidden layers, identity output, squared error, lr 0.001 (mnist's
suite lr of 0.01 is past its stability for per-example SGD on these inputs:
its serial loss grows), shuffled, X ~ N(0, 1), Y ~ 0.5 N(0, 1) as in
run.py.  Each repeat trains a fresh network from the same weights for
``--epochs`` epochs on one thread, on two threads with parallel="copies" and
with parallel="hogwild", one after the other, so that the ratios of a
repeat come from the same phase of this shared machine.  The table gives
the rate of the fastest epoch of each run (the nearest to an idle machine
this shared one gets) and the speed-up from those, the median of the
per-repeat speed-ups (rates over all epochs, from ``History``), and the
median training loss of the last epoch (``History.loss``).
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
    rates = {run: [] for run in RUNS}
    best = {run: 0.0 for run in RUNS}
    losses = {run: [] for run in RUNS}
    for _ in range(repeats):
        for run, options in RUNS.items():
            net = fastbp.Network(layers, dtype=dtype, weights=start)
            history = net.fit(X, Y, epochs=epochs, lr=LR, seed=1, **options)
            rates[run].append(len(X) * epochs / sum(history.seconds))
            best[run] = max(best[run], max(history.examples_per_second))
            losses[run].append(history.loss[-1])
    serial = np.array(rates["1 thread"])
    return {run: {"best_examples_per_second": best[run],
                  "best_speedup": best[run] / best["1 thread"],
                  "speedup": float(np.median(np.array(rates[run]) / serial)),
                  "loss": float(np.median(losses[run])),
                  "loss_ratio": float(np.median(np.array(losses[run])
                                                / np.array(losses["1 thread"])))}
            for run in RUNS}


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
    print("| architecture | dtype | run | examples/s, fastest epoch | speed-up, fastest epochs "
          "| speed-up, median of repeats | loss after the last epoch | loss / 1 thread's |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for row in rows:
        for run, r in row["runs"].items():
            print(f"| {row['architecture']} | {row['dtype']} | {run} "
                  f"| {r['best_examples_per_second']:.3g} | {r['best_speedup']:.2f}x "
                  f"| {r['speedup']:.2f}x | {r['loss']:.4f} | {r['loss_ratio']:.3f} |")
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"date": when, "machine": machine, "epochs": args.epochs, "lr": LR,
                       "repeats": args.repeats, "results": rows}, file, indent=2)


if __name__ == "__main__":
    main()
