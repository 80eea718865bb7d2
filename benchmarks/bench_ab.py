"""Two builds of fastbp side by side: the suite's fastbp rows (training and
predict) for each, in alternating processes, turn after turn, so that both
meet the same phases of a shared, noisy machine.

    python benchmarks/bench_ab.py BEFORE AFTER [--turns 3] [--seconds 0.5]
                                   [--architectures wide deep ...] [--no-predict]

BEFORE and AFTER are directories that hold a built fastbp (a checkout with
the extension built in place).  The table gives each cell's median rate over
the turns, and AFTER's over BEFORE's, with the range of the per-turn ratios.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def one_run(tree, options):
    """The suite's fastbp rates with ``tree`` first on the path, run.py
    given ``options``: {cell: rate}."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "run.json")
        subprocess.run(
            [
                sys.executable,
                os.path.join(HERE, "run.py"),
                "--implementations",
                "fastbp",
                "--json",
                out,
                *options,
            ],
            check=True,
            capture_output=True,
            env=dict(os.environ, PYTHONPATH=tree),
        )
        with open(out) as file:
            report = json.load(file)
    rates = {
        f"train {row['architecture']} {row['dtype']}": row["results"]["fastbp"][
            "examples_per_second"
        ]
        for row in report["training"]
    }
    rates.update(
        {
            f"predict {row['architecture']} {row['dtype']}": row["rows_per_second"]["fastbp"]
            for row in report["predict"]
        }
    )
    return rates


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=0.5)
    parser.add_argument("--architectures", nargs="+")
    parser.add_argument("--no-predict", action="store_true")
    args = parser.parse_args()
    options = ["--seconds", str(args.seconds)] + (["--no-predict"] if args.no_predict else [])
    if args.architectures:
        options += ["--architectures", *args.architectures]
    turns = []
    for turn in range(args.turns):
        turns.append([one_run(tree, options) for tree in (args.before, args.after)])
        print(f"turn {turn + 1} of {args.turns} done", file=sys.stderr, flush=True)
    print("| cell | before, median | after, median | after / before | per-turn range |")
    print("|---|---:|---:|---:|---|")
    for cell in turns[0][0]:
        before = [t[0][cell] for t in turns]
        after = [t[1][cell] for t in turns]
        ratios = [a / b for a, b in zip(after, before)]
        print(
            f"| {cell} | {np.median(before):.3g} | {np.median(after):.3g} | "
            f"{np.median(after) / np.median(before):.2f} | "
            f"{min(ratios):.2f}-{max(ratios):.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
