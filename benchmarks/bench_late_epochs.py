"""Time per epoch early and late in a training run, for the update rules
whose state decays: momentum's velocity and Adam's moments.

    python benchmarks/bench_late_epochs.py [TREE ...] [--epochs 30]

A weight whose gradient stays 0 (here: the digits' pixels that are 0 in
every image) has its velocity or moments multiplied by mu or beta every
update; without care they reach the subnormal numbers, on which every
operation is many times slower, within a few epochs. Each TREE is a fastbp
source tree with the extension built in place (default: the fastbp this
Python imports); the trees run in alternating child processes, and the
table gives each one's median seconds per epoch over the first and the last
ten epochs.
"""

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, sys, time
import numpy as np
from sklearn.datasets import load_digits
import fastbp
X, y = load_digits(return_X_y=True)
X, Y = X / 16, np.eye(10)[y]
rows = {}
for dtype in ("float64", "float32"):
    for name, options in (("adam", dict(optimizer="adam")), ("momentum 0.9", dict(momentum=0.9))):
        net = fastbp.Network([64, 64, 10], hidden="relu", output="softmax",
                             loss="cross_entropy", seed=0, dtype=dtype)
        seconds = []
        for _ in range(EPOCHS):
            start = time.perf_counter()
            net.partial_fit(X, Y, lr=0.001, **options)
            seconds.append(time.perf_counter() - start)
        rows[f"{name}, {dtype}"] = (float(np.median(seconds[:10])), float(np.median(seconds[-10:])))
print(json.dumps(rows))
"""


def run(tree, epochs):
    environment = dict(os.environ, OMP_NUM_THREADS="1")
    if tree:
        environment["PYTHONPATH"] = os.path.abspath(tree)
    result = subprocess.run(
        [sys.executable, "-c", CHILD.replace("EPOCHS", str(epochs))],
        capture_output=True,
        text=True,
        env=environment,
        check=True,
        cwd=os.path.abspath(tree) if tree else None,
    )
    return json.loads(result.stdout)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="*", default=[""])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    if args.epochs < 20:
        parser.error("--epochs must be at least 20 (ten early, ten late)")
    runs = {tree: [] for tree in args.trees}
    for _ in range(args.repeats):
        for tree in args.trees:
            runs[tree].append(run(tree, args.epochs))
    print("| tree | rule | first 10 epochs (ms/epoch) | last 10 epochs (ms/epoch) |")
    print("|---|---|---:|---:|")
    for tree, results in runs.items():
        for rule in results[0]:
            early = sorted(result[rule][0] for result in results)[len(results) // 2]
            late = sorted(result[rule][1] for result in results)[len(results) // 2]
            print(f"| {tree or 'installed'} | {rule} | {early * 1e3:.1f} | {late * 1e3:.1f} |")


if __name__ == "__main__":
    main()
