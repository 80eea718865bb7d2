"""Examples per second of one training epoch: compiled against reference,
and the compiled core with momentum (0.9, lr 0.001), with weight decay
(1e-4, no momentum), with Adam and with Adagrad against plain SGD.

    python benchmarks/bench_sgd.py [--repeats 5] [--shuffle] [--json FILE]

tanh hidden layers, identity output, squared error, lr 0.01, one epoch in
fixed order (with --shuffle, in a seeded random order); X ~ N(0, 1),
Y ~ 0.5 N(0, 1).  Each backend trains on enough
examples for an epoch of roughly half a second to a second (the reference
on far fewer), and reports the median rate of ``--repeats`` epochs, each
from the same initial weights.  Only the training pass is timed (what
``History.seconds`` measures).  Compare ratios from one run: the machine is
shared, and absolute rates drift between runs.
"""

import os

# One thread for numpy's BLAS too (set before numpy loads): fastbp's rates
# are single-thread rates, and the BLAS figure below calibrates the machine.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from run import blas_gflops, cpu_name  # noqa: E402  (benchmarks/run.py, the suite)

import fastbp  # noqa: E402

ARCHITECTURES = {"xor": [2, 4, 1], "digits": [64, 32, 10], "mnist": [784, 128, 10]}
DTYPES = ["float64", "float32"]
# What is timed: name -> (backend, options of fit).
# Momentum 0.9 multiplies the step by about 10: lr 0.001 keeps it stable.
# Plain and momentum are timed one after the other, so that each repeat gives
# a ratio from the same phase of the machine.
RUNS = {
    "compiled": ("compiled", {"lr": 0.01}),
    "momentum": ("compiled", {"lr": 0.001, "momentum": 0.9}),
    "weight decay": ("compiled", {"lr": 0.01, "weight_decay": 1e-4}),
    "adam": ("compiled", {"lr": 0.001, "optimizer": "adam"}),
    "adagrad": ("compiled", {"lr": 0.01, "optimizer": "adagrad"}),
    "reference": ("reference", {"lr": 0.01}),
}
# The runs whose cost over plain SGD (its rate over theirs) is reported.
COSTED = ("momentum", "weight decay", "adam", "adagrad")
SECONDS = 0.7  # aimed length of one timed epoch


def make_data(layers, n, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, layers[0])).astype(dtype)
    Y = (0.5 * rng.normal(size=(n, layers[-1]))).astype(dtype)
    return X, Y


def epoch_rates(layers, dtype, repeats, shuffle):
    """Examples/s of one epoch of each run in RUNS, each epoch sized to
    about SECONDS, the runs timed in turn (so that all see the same phases of
    a noisy machine): the median of each, and the medians over the repeats of
    plain SGD's rate over each of COSTED's (their costs)."""
    rates, sizes, prepared = {}, {}, {}
    for name, (backend, options) in RUNS.items():
        net = fastbp.Network(layers, dtype=dtype, backend=backend, seed=0)
        X, Y = make_data(layers, 200, dtype)
        guess = net.fit(X, Y, epochs=1, shuffle=False, **options)
        X, Y = make_data(layers, max(200, int(guess.examples_per_second[0] * SECONDS)), dtype)
        prepared[name] = (net, net.flat.copy(), X, Y, options)
        rates[name], sizes[name] = [], len(X)
    for _ in range(repeats):
        for name, (net, start, X, Y, options) in prepared.items():
            net.flat[...] = start
            history = net.fit(X, Y, epochs=1, shuffle=shuffle, seed=0, **options)
            rates[name].append(history.examples_per_second[0])
    costs = {name: float(np.median(np.divide(rates["compiled"], rates[name]))) for name in COSTED}
    return {name: float(np.median(r)) for name, r in rates.items()}, costs, sizes


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--shuffle", action="store_true", help="time shuffled epochs")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()

    blas = blas_gflops()
    print(f"numpy float64 matrix product, one thread: {blas:.1f} GFLOP/s", flush=True)
    rows = []
    for name, layers in ARCHITECTURES.items():
        for dtype in DTYPES:
            rates, costs, sizes = epoch_rates(layers, dtype, args.repeats, args.shuffle)
            compiled, reference = rates["compiled"], rates["reference"]
            rows.append(
                {
                    "architecture": name,
                    "layers": layers,
                    "dtype": dtype,
                    "compiled": compiled,
                    "reference": reference,
                    "ratio": compiled / reference,
                    "rates": rates,
                    "costs": costs,
                    "examples": sizes,
                }
            )
            print(
                f"{name:7s} {dtype}: compiled {compiled:10.4g}/s  reference "
                f"{reference:10.4g}/s  ratio {compiled / reference:7.1f}  "
                + "  ".join(f"{run} {rates[run]:10.4g}/s cost {costs[run]:.2f}x" for run in COSTED),
                flush=True,
            )

    when = time.strftime("%Y-%m-%d")
    machine = f"{platform.processor() or platform.machine()}, {cpu_name()}"
    order = "shuffled" if args.shuffle else "in order"
    print(
        f"\n{when}, {machine}, fastbp {fastbp.__version__}, median of {args.repeats} epochs "
        f"{order}; "
        f"numpy's float64 matrix product ran at {blas:.1f} GFLOP/s on one thread\n"
    )
    print(
        "| architecture | layers | dtype | compiled (examples/s) | reference (examples/s) "
        "| compiled / reference | " + " | ".join(f"{run}'s cost" for run in COSTED) + " |"
    )
    print("|---|---|---|---:|---:|---:|" + "---:|" * len(COSTED))
    for r in rows:
        print(
            f"| {r['architecture']} | {r['layers']} | {r['dtype']} | {r['compiled']:.3g} "
            f"| {r['reference']:.3g} | {r['ratio']:.0f}x | "
            + " | ".join(f"{r['costs'][run]:.2f}x" for run in COSTED)
            + " |"
        )
    if args.json:
        with open(args.json, "w") as file:
            json.dump(
                {
                    "date": when,
                    "machine": machine,
                    "repeats": args.repeats,
                    "order": order,
                    "blas_gflops": blas,
                    "results": rows,
                },
                file,
                indent=2,
            )


if __name__ == "__main__":
    main()
