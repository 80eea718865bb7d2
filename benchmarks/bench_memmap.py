"""One epoch from a memmapped file larger than it is wise to load, against
the same training in memory: examples per second and peak RSS.

    python benchmarks/bench_memmap.py [--rows 20000000] [--sample 2000000]
                                      [--dir DIR] [--keep] [--json FILE]

Writes X (rows x 64, float32: 5.1 GB for 2e7 rows) and Y (rows x 1) as .npy
files in DIR (a temporary directory by default, removed afterwards unless
--keep), then runs, each in a fresh process so that its peak RSS is its own:

- "memmap": ``fit(np.load(X, mmap_mode="r"), ...)`` over all the rows;
- "memmap, cold": the same after asking the kernel to drop the files from
  the page cache (posix_fadvise DONTNEED), so the pass reads the disk;
- "in memory": the first --sample rows loaded as arrays.

Network [64, 32, 1], tanh, float32, lr 0.001, shuffled (two-level for the
memmap), one thread.  The rate is examples/s of the epoch (History); the
peak RSS is the process's VmHWM (Linux).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

LAYERS = [64, 32, 1]
WRITE_ROWS = 1 << 20


def write_data(directory, rows):
    """X ~ N(0, 1), Y = tanh of a fixed linear map of X, written in pieces."""
    rng = np.random.default_rng(0)
    direction = rng.normal(size=(LAYERS[0], 1)) / np.sqrt(LAYERS[0])
    X = np.lib.format.open_memmap(
        os.path.join(directory, "X.npy"), mode="w+", dtype=np.float32, shape=(rows, LAYERS[0])
    )
    Y = np.lib.format.open_memmap(
        os.path.join(directory, "Y.npy"), mode="w+", dtype=np.float32, shape=(rows, 1)
    )
    for start in range(0, rows, WRITE_ROWS):
        stop = min(start + WRITE_ROWS, rows)
        piece = rng.standard_normal(size=(stop - start, LAYERS[0]), dtype=np.float32)
        X[start:stop] = piece
        Y[start:stop] = np.tanh(piece @ direction)
    X.flush()
    Y.flush()
    del X, Y


def drop_from_page_cache(directory):
    for name in ("X.npy", "Y.npy"):
        fd = os.open(os.path.join(directory, name), os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def child(directory, sample):
    """Train one epoch; print examples/s, loss and peak RSS as JSON."""
    import fastbp

    X = np.load(os.path.join(directory, "X.npy"), mmap_mode="r")
    Y = np.load(os.path.join(directory, "Y.npy"), mmap_mode="r")
    if sample:
        X, Y = np.array(X[:sample]), np.array(Y[:sample])
    net = fastbp.Network(LAYERS, dtype="float32", seed=0)
    history = net.fit(X, Y, epochs=1, lr=0.001, n_threads=1)
    with open("/proc/self/status") as status:  # VmHWM: this process's peak RSS
        peak = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM"))
    print(
        json.dumps(
            {
                "examples": len(X),
                "examples_per_second": history.examples_per_second[0],
                "loss": history.loss[0],
                "peak_rss_bytes": peak,
            }
        )
    )


def run_child(directory, sample=0):
    result = subprocess.run(
        [sys.executable, __file__, "--child", directory, "--sample", str(sample)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--sample", type=int, default=2_000_000)
    parser.add_argument("--dir", help="where to write the data (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the data files")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.sample)

    directory = args.dir or tempfile.mkdtemp(prefix="fastbp-memmap-")
    began = time.perf_counter()
    if not os.path.exists(os.path.join(directory, "X.npy")):
        write_data(directory, args.rows)
    size = sum(os.path.getsize(os.path.join(directory, name)) for name in ("X.npy", "Y.npy"))
    print(
        f"data: {args.rows} x {LAYERS[0]} float32, {size / 1e9:.2f} GB in {directory} "
        f"({time.perf_counter() - began:.0f} s)",
        flush=True,
    )
    try:
        results = {"memmap": run_child(directory)}
        print("memmap", results["memmap"], flush=True)
        drop_from_page_cache(directory)
        results["memmap, cold"] = run_child(directory)
        print("memmap, cold", results["memmap, cold"], flush=True)
        results["in memory"] = run_child(directory, args.sample)
        print("in memory", results["in memory"], flush=True)
    finally:
        if not args.keep and not args.dir:
            for name in ("X.npy", "Y.npy"):
                os.remove(os.path.join(directory, name))
            os.rmdir(directory)

    memory = results["in memory"]["examples_per_second"]
    when = time.strftime("%Y-%m-%d")
    print(
        f"\n{when}, {platform.machine()}, {os.cpu_count()} CPUs; network {LAYERS} float32, "
        "one epoch, one thread\n"
    )
    print("| data | examples | examples/s | / in memory | peak RSS | loss |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        print(
            f"| {name} | {r['examples']:.3g} | {r['examples_per_second']:.3g} "
            f"| {r['examples_per_second'] / memory:.2f} | {r['peak_rss_bytes'] / 2**20:.0f} MiB "
            f"| {r['loss']:.4g} |"
        )
    if args.json:
        with open(args.json, "w") as file:
            json.dump(
                {
                    "date": when,
                    "layers": LAYERS,
                    "rows": args.rows,
                    "bytes": size,
                    "results": results,
                },
                file,
                indent=2,
            )


if __name__ == "__main__":
    main()
