"""Where the weights start: one thread's examples/s with the weight buffer
at each offset of 0, 16, 32 and 48 bytes from a 64-byte cache line.

    python benchmarks/bench_align.py [--turns 15]

numpy starts its arrays on 16 bytes, so a network's weights used to land
on any of the four offsets, by chance of the process.  The compiled core's
kernels load 32 bytes of a weight row at a time; off a cache line, every
other load spans two lines.  Since this benchmark, fastbp's weight buffers
(and the velocity, the average, the threads' copies) start on a cache line
(``fastbp._buffers.zeros``).

mnist [784, 128, 10] and wide [784, 512, 512, 10] in float64 and float32,
lr 0.001, the same data as run.py, one epoch in order, calling the core's
``train_pass`` on the same weights at each offset in turn, turn after turn
(the machine's speed drifts); the table gives the median examples/s and
its ratio to the aligned buffer's.
"""

import argparse
import time

import numpy as np
from run import ARCHITECTURES, make_data

import fastbp
from fastbp import _core
from fastbp._names import ACTIVATIONS, LOSSES

EXAMPLES = {"mnist": 10_000, "wide": 1_000}
OFFSETS = [0, 16, 32, 48]
LR = 0.001


def at_offset(values, offset):
    """A copy of ``values`` that starts ``offset`` bytes past a 64-byte line."""
    raw = np.empty(values.nbytes + 64 + offset, dtype=np.uint8)
    start = -raw.ctypes.data % 64 + offset
    copy = raw[start : start + values.nbytes].view(values.dtype)
    copy[...] = values
    return copy


def measure(name, dtype, turns):
    layers = ARCHITECTURES[name]
    net = fastbp.Network(layers, dtype=dtype, seed=0)
    X, Y = make_data(layers, EXAMPLES[name])
    X, Y = X.astype(dtype), Y.astype(dtype)
    d = np.array(layers, dtype=np.intp)
    acts = np.array(
        [ACTIVATIONS.index(a) for a in ["identity"] + ["tanh"] * (len(layers) - 2) + ["identity"]],
        dtype=np.intc,
    )
    loss = LOSSES.index("squared")
    order = np.arange(len(X), dtype=np.intp)
    rule = fastbp.training.Rule(LR)
    rates = {offset: [] for offset in OFFSETS}
    for _ in range(turns):
        for offset in OFFSETS:
            flat = at_offset(net.flat, offset)
            began = time.perf_counter()
            _core.train_pass(
                flat, d, acts, loss, X, Y, None, order, rule, 0, None, None, None, None
            )
            rates[offset].append(len(X) / (time.perf_counter() - began))
    return {offset: float(np.median(r)) for offset, r in rates.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=15)
    args = parser.parse_args()
    print("| architecture | dtype | offset (bytes) | examples/s, median | / aligned |")
    print("|---|---|---:|---:|---:|")
    for name in EXAMPLES:
        for dtype in ["float64", "float32"]:
            rates = measure(name, dtype, args.turns)
            for offset, rate in rates.items():
                print(
                    f"| {name} | {dtype} | {offset} | {rate:.3g} | {rate / rates[0]:.2f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
