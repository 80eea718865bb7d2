"""The benchmark suite: per-example SGD in fastbp against what a Python user
would pick instead, side by side in one run, and a predict benchmark.

    pip install -e ".[bench]"
    python benchmarks/run.py [--architectures xor digits ...] [--dtypes float64 ...]
                             [--seconds 0.5] [--repeats 3] [--json F] [--markdown F]

Every implementation (benchmarks/peers.py) trains tanh hidden layers with an
identity output on the squared error, lr 0.01 (0.001 for wide, which
diverges with 0.01), one epoch in the order of the rows, from the same
initial weights and on the same data (X ~ N(0, 1), Y ~ 0.5 N(0, 1), fixed
seeds; the values are float32 numbers in both dtypes).  Each is timed on
its training loop alone, on enough examples for an epoch of about
--seconds (sized by untimed epochs of 200, 2,000, ... examples, up to one
that lasts a tenth of that: an epoch of 200 examples measures a fast
implementation's fixed cost per call more than its rate); the median of
--repeats epochs is reported.  Before its time counts, each result is checked
against fastbp's float64 compiled result on the same examples: the largest
weight difference over the largest weight must be below 1e-9 (float64) or
1e-4 (float32, checked on an epoch of at most 20,000 of the examples, since
float32 drifts from the float64 trajectory as an epoch grows); a failed
check is reported instead of a rate.

Everything runs on one thread.  The machine is shared and its speed drifts:
compare the ratios of one run.  ``--quick`` runs every check on a few hundred
examples and skips the timing targets (the smoke test in tests/ uses it).
"""

import os

# One thread for every library (set before any of them loads).
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from peers import AVAILABLE, IMPLEMENTATIONS  # noqa: E402

import fastbp  # noqa: E402
from fastbp.cli import cpu_name  # noqa: E402,F401  (the other benchmarks import it from here)

ARCHITECTURES = {
    "xor": [2, 4, 1],
    "digits": [64, 32, 10],
    "mnist": [784, 128, 10],
    "wide": [784, 512, 512, 10],
    "deep": [32] * 8 + [1],
}
DTYPES = ["float64", "float32"]
# lr 0.01, but wide diverges with it within its first 1,300 examples of
# N(0, 1) inputs: it gets 0.001 (the speed does not depend on lr).
LR = {"xor": 0.01, "digits": 0.01, "mnist": 0.01, "wide": 0.001, "deep": 0.01}
TOLERANCE = {"float64": 1e-9, "float32": 1e-4}
FLOPS_PER_WEIGHT = 6  # forward, delta, update: one multiply-add each
PILOT = 200  # examples of the first sizing epoch
# float32 drifts away from the float64 trajectory as an epoch grows (digits'
# float32 epoch of about 400,000 examples ends some 3e-4 away), so a float32
# result is checked on an epoch of at most this many of the same examples.
FLOAT32_CHECK_EXAMPLES = 20_000
# The targets of issue 4 on an idle machine: examples/s, or GFLOP/s.
TARGETS = {
    ("xor", "float64"): ("examples/s", 1.2e7),
    ("digits", "float64"): ("examples/s", 2e6),
    ("digits", "float32"): ("examples/s", 3.2e6),
    ("deep", "float64"): ("examples/s", 4e5),
    ("deep", "float32"): ("examples/s", 8.5e5),
    ("mnist", "float64"): ("GFLOP/s", 32),
    ("mnist", "float32"): ("GFLOP/s", 64),
    ("wide", "float64"): ("GFLOP/s", 28),
    ("wide", "float32"): ("GFLOP/s", 59),
}


def make_data(layers, n, seed=0):
    """X ~ N(0, 1), Y ~ 0.5 N(0, 1), as float64 holding float32 values."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, layers[0])).astype(np.float32).astype(np.float64)
    Y = (0.5 * rng.normal(size=(n, layers[-1]))).astype(np.float32).astype(np.float64)
    return X, Y


def initial_weights(layers):
    """fastbp's seeded initial weights, rounded to float32 values."""
    net = fastbp.Network(layers, seed=0)
    return [W.astype(np.float32).astype(np.float64) for W in net.weights]


def n_weights(layers):
    return sum((a + 1) * b for a, b in zip(layers[:-1], layers[1:]))


def relative_difference(blocks, expected):
    """Largest weight difference over the largest expected weight."""
    top = max(float(np.max(np.abs(W))) for W in expected)
    return max(float(np.max(np.abs(a - b))) for a, b in zip(blocks, expected)) / top


class Oracle:
    """fastbp's float64 compiled result after the first n examples."""

    def __init__(self, blocks, X, Y, lr):
        self.blocks, self.X, self.Y, self.lr, self.results = blocks, X, Y, lr, {}

    def __call__(self, n):
        if n not in self.results:
            train = IMPLEMENTATIONS["fastbp"][0]
            self.results[n] = train(self.blocks, self.X[:n], self.Y[:n], self.lr)[1]
        return self.results[n]


def sized(train, blocks, draw, lr, seconds, most=np.inf):
    """Examples for an epoch of ``train`` of about ``seconds``: its rate on
    untimed epochs of PILOT, 10 PILOT, ... examples ``draw(n)`` (X and Y),
    up to one that lasts a tenth of ``seconds``; at most ``most``."""
    n = min(PILOT, most)
    while True:
        elapsed = train(blocks, *draw(n), lr)[0]
        if elapsed >= seconds / 10 or n == most:
            return int(min(max(PILOT, n / elapsed * seconds), most))
        n = min(10 * n, most)


def time_implementation(name, blocks, X, Y, oracle, dtype, seconds, repeats, quick):
    """Median examples/s of one epoch of ``name`` (with the oracle's lr), and
    its check."""
    lr = oracle.lr
    train, _, _ = IMPLEMENTATIONS[name]
    Xd, Yd = X.astype(dtype), Y.astype(dtype)
    if quick:
        n = min(PILOT, len(X))
    else:
        n = sized(train, blocks, lambda n: (Xd[:n], Yd[:n]), lr, seconds, len(X))
    checked_n = min(n, FLOAT32_CHECK_EXAMPLES) if dtype == "float32" else n
    result = train(blocks, Xd[:checked_n], Yd[:checked_n], lr)[1]
    difference = relative_difference(result, oracle(checked_n))
    times = [train(blocks, Xd[:n], Yd[:n], lr)[0] for _ in range(repeats)]
    return {
        "examples": n,
        "examples_per_second": n / float(np.median(times)),
        "checked_examples": checked_n,
        "difference": difference,
        "checked": bool(difference <= TOLERANCE[dtype]),
    }


def training_table(architectures, dtypes, names, seconds, repeats, quick):
    rows = []
    for arch in architectures:
        layers = ARCHITECTURES[arch]
        blocks = initial_weights(layers)
        for dtype in dtypes:
            # fastbp first: its rate sizes the data every implementation draws from
            fast = IMPLEMENTATIONS["fastbp"][0]
            n = PILOT
            if not quick:
                n = sized(
                    fast,
                    blocks,
                    lambda n: (a.astype(dtype) for a in make_data(layers, n)),
                    LR[arch],
                    seconds,
                )
            X, Y = make_data(layers, n)
            oracle = Oracle(blocks, X, Y, LR[arch])
            row = {"architecture": arch, "layers": layers, "dtype": dtype, "results": {}}
            for name in names:
                result = time_implementation(
                    name, blocks, X, Y, oracle, dtype, seconds, repeats, quick
                )
                row["results"][name] = result
                print(
                    f"{arch:6s} {dtype}  {name:22s} {result['examples_per_second']:10.4g} "
                    f"examples/s  ({result['examples']} examples, difference "
                    f"{result['difference']:.1e}{'' if result['checked'] else ' FAILED'})",
                    flush=True,
                )
            fastbp_rate = row["results"]["fastbp"]["examples_per_second"]
            row["gflops"] = FLOPS_PER_WEIGHT * n_weights(layers) * fastbp_rate / 1e9
            rows.append(row)
    return rows


# ------------------------------------------------------------------ predict


def predict_table(architectures, dtypes, repeats, quick):
    """Rows/s of fastbp's predict over a batch, against the same layers as
    numpy matrix products (X @ W + b, then tanh) and PyTorch."""
    rows = []
    for arch in architectures:
        layers = ARCHITECTURES[arch]
        blocks = initial_weights(layers)
        n = 200 if quick else max(2000, int(2e8 / n_weights(layers)))
        for dtype in dtypes:
            X = make_data(layers, n)[0].astype(dtype)
            net = fastbp.Network(
                layers, dtype=dtype, backend="compiled", weights=[W.astype(dtype) for W in blocks]
            )
            Ws = [W[1:].astype(dtype) for W in blocks]
            bs = [W[0].astype(dtype) for W in blocks]

            def numpy_forward():
                x = X
                for l, (W, b) in enumerate(zip(Ws, bs)):
                    x = x @ W + b
                    if l < len(Ws) - 1:
                        np.tanh(x, out=x)
                return x

            runs = {"fastbp": lambda: net.predict(X), "numpy": numpy_forward}
            if AVAILABLE["torch eager"]:
                runs["torch"] = _torch_forward(blocks, X)
            expected = numpy_forward()
            row = {
                "architecture": arch,
                "layers": layers,
                "dtype": dtype,
                "rows": n,
                "rows_per_second": {},
            }
            for name, run in runs.items():
                out = run()
                error = float(np.max(np.abs(out - expected)) / np.max(np.abs(expected)))
                if error > 10 * TOLERANCE[dtype]:
                    raise AssertionError(f"predict of {name} differs from numpy by {error:.1e}")
                times = [_seconds(run) for _ in range(repeats)]
                row["rows_per_second"][name] = n / float(np.median(times))
            print(
                f"{arch:6s} {dtype}  predict  "
                + "  ".join(f"{k} {v:.4g}" for k, v in row["rows_per_second"].items())
                + "  rows/s",
                flush=True,
            )
            rows.append(row)
    return rows


def _torch_forward(blocks, X):
    import torch

    torch.set_num_threads(1)
    Xt = torch.from_numpy(X)
    layers = [torch.nn.Linear(W.shape[0] - 1, W.shape[1], dtype=Xt.dtype) for W in blocks]
    with torch.no_grad():
        for linear, W in zip(layers, blocks):
            linear.weight.copy_(torch.from_numpy(W[1:].T.astype(X.dtype)))
            linear.bias.copy_(torch.from_numpy(W[0].astype(X.dtype)))
    modules = []
    for l, linear in enumerate(layers):
        modules += [linear] if l == len(layers) - 1 else [linear, torch.nn.Tanh()]
    model = torch.nn.Sequential(*modules)

    def run():
        with torch.no_grad():
            return model(Xt).numpy()

    return run


def _seconds(work):
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


# ------------------------------------------------------------------- output


def targets_met(rows, predict_rows):
    """(target, measured, met) for each of issue 4's targets in this run."""
    lines = []
    for row in rows:
        results = row["results"]
        fastbp_rate = results["fastbp"]["examples_per_second"]
        others = {
            k: v["examples_per_second"]
            for k, v in results.items()
            if k != "fastbp" and v["checked"]
        }
        if others:
            best = max(others, key=others.get)
            lines.append(
                (
                    f"{row['architecture']} {row['dtype']}: fastbp the fastest",
                    f"next {best} at {fastbp_rate / others[best]:.2f}x slower",
                    fastbp_rate > others[best],
                )
            )
        target = TARGETS.get((row["architecture"], row["dtype"]))
        if target:
            unit, goal = target
            value = fastbp_rate if unit == "examples/s" else row["gflops"]
            lines.append(
                (
                    f"{row['architecture']} {row['dtype']}: {goal:.3g} {unit}",
                    f"{value:.3g} {unit}",
                    value >= goal,
                )
            )
    for row in predict_rows:
        rates = row["rows_per_second"]
        ratio = rates["numpy"] / rates["fastbp"]
        lines.append(
            (
                f"{row['architecture']} {row['dtype']}: predict within 1.5x of numpy",
                f"numpy {ratio:.2f}x fastbp's rate",
                ratio <= 1.5,
            )
        )
    return lines


def markdown(report):
    names = report["implementations"]
    out = [
        f"{report['date']}, {report['machine']}, fastbp {report['version']}; one thread, "
        f"median of {report['repeats']} epochs; numpy's float64 matrix product ran at "
        f"{report['blas_gflops']:.1f} GFLOP/s. Examples per second (fastbp's rate over "
        "each other's in brackets):",
        "",
        "| architecture | dtype | " + " | ".join(names) + " | fastbp GFLOP/s |",
        "|---|---|" + "---:|" * (len(names) + 1),
    ]
    for row in report["training"]:
        fastbp_rate = row["results"]["fastbp"]["examples_per_second"]
        cells = []
        for name in names:
            result = row["results"].get(name)
            if result is None:
                cells.append("not installed")
            elif not result["checked"]:
                cells.append(f"check failed ({result['difference']:.1e})")
            elif name == "fastbp":
                cells.append(f"**{fastbp_rate:.3g}**")
            else:
                rate = result["examples_per_second"]
                cells.append(f"{rate:.3g} ({fastbp_rate / rate:.1f}x)")
        out.append(
            f"| {row['architecture']} {row['layers']} | {row['dtype']} | "
            + " | ".join(cells)
            + f" | {row['gflops']:.1f} |"
        )
    if report["predict"]:
        peers = [k for k in report["predict"][0]["rows_per_second"] if k != "fastbp"]
        out += [
            "",
            "Predict over a batch, rows per second (numpy's rate over fastbp's in brackets):",
            "",
            "| architecture | dtype | rows | fastbp | " + " | ".join(peers) + " |",
            "|---|---|---:|---:|" + "---:|" * len(peers),
        ]
        for row in report["predict"]:
            rates = row["rows_per_second"]
            cells = [f"{rates[k]:.3g} ({rates[k] / rates['fastbp']:.2f}x)" for k in peers]
            out.append(
                f"| {row['architecture']} | {row['dtype']} | {row['rows']} | "
                f"{rates['fastbp']:.3g} | " + " | ".join(cells) + " |"
            )
    if report["targets"]:
        out += ["", "Targets (issue 4; set for an idle machine):", ""]
    out += [
        f"- {'met' if met else 'NOT met'}: {goal} ({value})"
        for goal, value, met in report["targets"]
    ]
    return "\n".join(out) + "\n"


def blas_gflops(repeats=5):
    """Best float64 GFLOP/s of numpy's matrix product on one thread: how fast
    this machine is right now."""
    a = np.random.default_rng(0).random((1000, 1000))
    return 2.0 / min(_seconds(lambda: a @ a) for _ in range(repeats))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--architectures", nargs="+", choices=list(ARCHITECTURES), default=list(ARCHITECTURES)
    )
    parser.add_argument("--dtypes", nargs="+", choices=DTYPES, default=DTYPES)
    parser.add_argument(
        "--implementations", nargs="+", choices=list(IMPLEMENTATIONS), default=list(IMPLEMENTATIONS)
    )
    parser.add_argument(
        "--seconds", type=float, default=0.5, help="aimed length of one timed epoch"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-predict", action="store_true", help="skip the predict table")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="the checks on a few hundred examples, once (a smoke test)",
    )
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--markdown", help="write the tables to this file")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats = 1
    if fastbp.BACKEND != "compiled":
        parser.error("fastbp's compiled core is not built")

    names = ["fastbp"] + [name for name in args.implementations if name != "fastbp"]
    for name in names:
        if not AVAILABLE[name]:
            print(f"note: {name} is left out ({IMPLEMENTATIONS[name][1]} is not installed)")
    names = [name for name in names if AVAILABLE[name]]
    blas = blas_gflops()
    print(f"numpy float64 matrix product, one thread: {blas:.1f} GFLOP/s", flush=True)
    training = training_table(
        args.architectures, args.dtypes, names, args.seconds, args.repeats, args.quick
    )
    predict = (
        []
        if args.no_predict
        else predict_table(args.architectures, args.dtypes, args.repeats, args.quick)
    )
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": cpu_name(),
        "version": fastbp.__version__,
        "repeats": args.repeats,
        "blas_gflops": blas,
        "implementations": names,
        "training": training,
        "predict": predict,
        "targets": [] if args.quick else targets_met(training, predict),
    }
    text = markdown(report)
    print("\n" + text)
    if args.json:
        with open(args.json, "w") as file:
            json.dump(report, file, indent=2)
    if args.markdown:
        with open(args.markdown, "w") as file:
            file.write(text)
    failed = [
        (row["architecture"], row["dtype"], name)
        for row in training
        for name, result in row["results"].items()
        if not result["checked"]
    ]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
