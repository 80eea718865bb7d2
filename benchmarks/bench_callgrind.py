"""Instructions per example of the serial training pass, counted by
callgrind: repeatable on a shared, noisy machine, where times are not.

    python benchmarks/bench_callgrind.py [--architectures xor digits ...] [--json F]

For each architecture and dtype, one process trains one epoch of n examples
and another of 2n, each under ``valgrind --tool=callgrind`` counting only
inside the core's serial loop (``train_share``, with what it calls); the
difference of the two counts over n is the count per example.  Under
valgrind, whose emulated CPU lacks AVX-512, fastbp runs its AVX2 copy of
the core (FASTBP_ISA=baseline counts that one's); a FASTBP_NATIVE=1 build
made on an AVX-512 machine cannot run there.  To compare two builds, run
this once with each on PYTHONPATH.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

from run import ARCHITECTURES, DTYPES, LR

EXAMPLES = {"xor": 20_000, "digits": 4_000, "mnist": 400, "wide": 40, "deep": 4_000}

TRAIN = """
import numpy as np, fastbp
layers, dtype, n, lr = {layers!r}, {dtype!r}, {n}, {lr}
rng = np.random.default_rng(0)
X = rng.normal(size=(n, layers[0])).astype(dtype)
Y = (0.5 * rng.normal(size=(n, layers[-1]))).astype(dtype)
fastbp.Network(layers, dtype=dtype).fit(X, Y, epochs=1, lr=lr, shuffle=False)
"""


def instructions(layers, dtype, n, lr):
    """Instructions of a process that trains one epoch of n examples."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        code = TRAIN.format(layers=layers, dtype=dtype, n=n, lr=lr)
        result = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                "--toggle-collect=*train_share*",
                sys.executable,
                "-c",
                code,
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(result.stderr[-2000:])
        return int(re.search(r"Collected : (\d+)", result.stderr).group(1))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--architectures", nargs="+", choices=list(ARCHITECTURES), default=list(ARCHITECTURES)
    )
    parser.add_argument("--dtypes", nargs="+", choices=DTYPES, default=DTYPES)
    parser.add_argument("--json", help="write the counts to this file")
    args = parser.parse_args(argv)
    counts = {}
    for arch in args.architectures:
        for dtype in args.dtypes:
            n = EXAMPLES[arch]
            once, twice = (
                instructions(ARCHITECTURES[arch], dtype, k, LR[arch]) for k in (n, 2 * n)
            )
            counts[f"{arch} {dtype}"] = (twice - once) / n
            print(
                f"{arch:6s} {dtype}  {counts[f'{arch} {dtype}']:12.1f} instructions/example",
                flush=True,
            )
    if args.json:
        with open(args.json, "w") as file:
            json.dump(counts, file, indent=1)


if __name__ == "__main__":
    main()
