"""Training on 1 and 2 threads: examples per second, and the training loss
after the same number of epochs.

    python benchmarks/bench_threads.py [--repeats 5] [--epochs 3] [--json FILE]
    python benchmarks/bench_threads.py --busy [--repeats 5]

mnist [784, 128, 10] and wide [784, 512, 512, 10] in float64 and float32,
tanh hidden layers, identity output, squared error, lr 0.001 (mnist's
suite lr of 0.01 is past its stability for per-example SGD on these inputs:
its serial loss grows), shuffled, X ~ N(0, 1), Y ~ 0.5 N(0, 1) as in
run.py.  Each repeat trains a fresh network from the same weights for each
run (one thread on the first CPU; one thread on the second CPU; two with
parallel="copies"; two with parallel="hogwild") an epoch at a time, the
runs taking turns epoch by epoch (``partial_fit``, which continues exactly
as ``fit`` would), so that each epoch of two threads has epochs of one
thread next to it in time on this shared machine, whose speed drifts by
tenths within seconds.

The one-thread runs are pinned, one to each CPU, because the two CPUs of
this virtual machine have at times differed in speed (one-thread runs
pinned to each, in turn: 5.1e4-6.1e4 against 7.9e4-9.4e4 examples/s on mnist
float32 within a minute): two threads use both, and one thread is as fast
as the CPU it happens to get.  A run's speed-up in a turn is its examples/s over the
mean of the two one-thread epochs of that turn (what one thread gets on a
CPU drawn at random: the speed-up on equal cores); "over the faster" is
over the faster of the two, the least it can be.  The table gives each
run's median examples/s over its epochs, the median and quartiles of its
speed-ups, and the median training loss after the last epoch
(``History.loss``).

With ``--busy`` it instead times small trainings on 1 and 2 threads, in
turns, on a machine left alone, beside a busy process (a Python loop that
never ends, unpinned), and with the whole benchmark pinned to one CPU:
xor-sized (4,000 x [2, 8, 1], 10 epochs), the command line's tour size
(2,400 x [5, 64, 1], 20 epochs), digits-sized (1,797 x [64, 32, 10], 20
epochs), docs/scale.md's example (20,000 x [64, 32, 1] float32, 10 epochs)
and mnist-sized (10,000 x [784, 128, 10] float32, 2 epochs), a fresh
process for each condition: the fastest of the turns, and the first
turn's ratio (in which the copies' threads may first find the CPUs busy
and give way).  Two
threads should never be much slower than one (at least 0.9x its speed): a
thread that waits for another must not keep it from the CPU they share.

"2 independent trainings" is the ceiling: two networks trained on the
epoch at once, one thread pinned to each CPU, sharing nothing; its
examples/s is the sum of theirs (see ``independent``).  It shows what the
two CPUs give two threads at that moment, whatever the rest of the host is
doing.
"""

import os

for _name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from run import ARCHITECTURES, cpu_name, make_data  # noqa: E402

import fastbp  # noqa: E402

# Examples per epoch: about a second per epoch on one thread.
EXAMPLES = {"mnist": 30_000, "wide": 3_000}
DTYPES = ["float64", "float32"]
RUNS = {
    "1 thread": {"n_threads": 1},
    "2 threads, copies": {"n_threads": 2},
    "2 threads, hogwild": {"n_threads": 2, "parallel": "hogwild"},
}
LR = 0.001
# Two networks trained at once, one per CPU, one thread each: what this
# machine gives two threads that share nothing at that moment.
CEILING = "2 independent trainings"


def one_thread_runs():
    """The one-thread runs: one pinned to each of the first two CPUs this
    process may use, or one unpinned where it cannot pin."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cpus) < 2:
        return {"1 thread": None}
    return {f"1 thread, CPU {cpu}": cpu for cpu in cpus[:2]}


def pinned(cpu, train, results):
    """In the calling thread, pinned to ``cpu``: results.append(train())."""
    os.sched_setaffinity(0, {cpu})
    results.append(train())


def on_cpu(cpu, train):
    """``train()`` in a thread pinned to ``cpu`` (None: here, unpinned).  One
    thread never enters OpenMP, so the pinning stays with that thread and
    the OpenMP threads of the two-thread runs keep every CPU."""
    if cpu is None:
        return train()
    results = []
    worker = threading.Thread(target=pinned, args=(cpu, train, results))
    worker.start()
    worker.join()
    return results[0]


def independent(nets, cpus, X, Y):
    """The ceiling: two networks, each pinned to one of ``cpus``, trained on
    X at once, one thread each (nothing shared).  Returns (the sum of their
    examples/s, the mean of their losses).  The faster ends first, and the
    other trains its last examples alone, which can only make the sum
    larger."""
    histories = []
    workers = [
        threading.Thread(
            target=pinned,
            args=(
                cpu,
                lambda net=net: net.partial_fit(X, Y, lr=LR, seed=1, n_threads=1),
                histories,
            ),
        )
        for net, cpu in zip(nets, cpus)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return (
        sum(h.examples_per_second[0] for h in histories),
        float(np.mean([h.loss[0] for h in histories])),
    )


def measure(name, dtype, repeats, epochs):
    layers = ARCHITECTURES[name]
    X, Y = make_data(layers, EXAMPLES[name])
    X, Y = X.astype(dtype), Y.astype(dtype)
    start = fastbp.Network(layers, dtype=dtype, seed=0).weights
    serial = one_thread_runs()
    runs = {run: (RUNS["1 thread"], cpu) for run, cpu in serial.items()}
    runs.update({run: (options, None) for run, options in RUNS.items() if run != "1 thread"})
    if len(serial) == 2:
        runs[CEILING] = (None, list(serial.values()))
    rates = {run: [] for run in runs}  # one per epoch, in the same turns for every run
    losses = {run: [] for run in runs}
    for _ in range(repeats):
        nets = {run: fastbp.Network(layers, dtype=dtype, weights=start) for run in runs}
        pair = [fastbp.Network(layers, dtype=dtype, weights=start) for _ in range(2)]
        for epoch in range(epochs):
            for run, (options, cpu) in runs.items():
                if run == CEILING:
                    rate, loss = independent(pair, cpu, X, Y)
                else:
                    history = on_cpu(
                        cpu, lambda: nets[run].partial_fit(X, Y, lr=LR, seed=1, **options)
                    )
                    rate, loss = history.examples_per_second[0], history.loss[0]
                rates[run].append(rate)
                if epoch == epochs - 1:
                    losses[run].append(loss)
    one = np.array([rates[run] for run in serial])
    mean_one, faster_one = one.mean(axis=0), one.max(axis=0)
    first = np.array(losses[next(iter(serial))])
    results = {}
    for run in runs:
        speedups = np.array(rates[run]) / mean_one
        results[run] = {
            "examples_per_second": float(np.median(rates[run])),
            "speedup": float(np.median(speedups)),
            "speedup_quartiles": [float(q) for q in np.quantile(speedups, [0.25, 0.75])],
            "speedup_over_faster": float(np.median(np.array(rates[run]) / faster_one)),
            "loss": float(np.median(losses[run])),
            "loss_ratio": float(np.median(np.array(losses[run]) / first)),
        }
    return results


# --busy: (rows, layers, dtype, epochs) of the small trainings.
SMALL = {
    "xor-sized": (4_000, [2, 8, 1], "float64", 10),
    "command line": (2_400, [5, 64, 1], "float64", 20),
    "digits-sized": (1_797, [64, 32, 10], "float64", 20),
    "scale.md": (20_000, [64, 32, 1], "float32", 10),
    "mnist-sized": (10_000, [784, 128, 10], "float32", 2),
}


def busy(repeats):
    """Seconds of the SMALL trainings on 1 and 2 threads, fastest of
    ``repeats`` turns, in each condition, each in a fresh process (OpenMP's
    threads keep the CPUs of the process that started them): alone, beside
    a busy process, and pinned to one CPU."""
    import subprocess
    import sys

    results = {}
    for condition in ("alone", "beside a busy process", "pinned to one CPU"):
        spinner = None
        if condition == "beside a busy process":
            spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        one_cpu = min(os.sched_getaffinity(0))
        try:
            child = subprocess.run(
                [sys.executable, __file__, "--busy-turns", str(repeats)],
                check=True,
                capture_output=True,
                text=True,
                preexec_fn=(
                    (lambda: os.sched_setaffinity(0, {one_cpu}))
                    if condition == "pinned to one CPU"
                    else None
                ),
            )
        finally:
            if spinner:
                spinner.kill()
        for name, times in json.loads(child.stdout).items():
            results[(condition, name)] = times
            print(condition, name, times, flush=True)
    print(
        "\n| condition | training | 1 thread, s | 2 threads, s | 2 threads / 1 "
        "| first turn, 2 / 1 |"
    )
    print("|---|---|---:|---:|---:|---:|")
    for (condition, name), (one, two, first) in results.items():
        print(f"| {condition} | {name} | {one:.3f} | {two:.3f} | {two / one:.2f} | {first:.2f} |")
    return results


def busy_turns(repeats):
    """{training: (1 thread's seconds, 2 threads', fastest of ``repeats``
    turns; 2 threads' seconds over 1 thread's in the first turn, in which
    the copies' threads may first find the CPUs busy)} of the SMALL
    trainings, in this process as it is."""
    rng = np.random.default_rng(0)
    results = {}
    for name, (n, layers, dtype, epochs) in SMALL.items():
        X = rng.normal(size=(n, layers[0])).astype(dtype)
        Y = rng.normal(size=(n, layers[-1])).astype(dtype)
        times = {1: [], 2: []}
        for _ in range(repeats):
            for threads in (1, 2):
                net = fastbp.Network(layers, dtype=dtype, seed=0)
                start = time.perf_counter()
                net.fit(X, Y, epochs=epochs, lr=0.001, n_threads=threads, seed=0)
                times[threads].append(time.perf_counter() - start)
        results[name] = (min(times[1]), min(times[2]), times[2][0] / times[1][0])
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument(
        "--busy",
        action="store_true",
        help="instead: small trainings alone, beside a busy process, on one CPU",
    )
    parser.add_argument("--busy-turns", type=int, help=argparse.SUPPRESS)  # busy's child
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    if args.busy_turns:
        print(json.dumps(busy_turns(args.busy_turns)))
        return
    if args.busy:
        busy(args.repeats)
        return
    rows = []
    for name in EXAMPLES:
        for dtype in DTYPES:
            result = measure(name, dtype, args.repeats, args.epochs)
            rows.append(
                {
                    "architecture": name,
                    "layers": ARCHITECTURES[name],
                    "dtype": dtype,
                    "examples": EXAMPLES[name],
                    "runs": result,
                }
            )
            print(name, dtype, json.dumps(result), flush=True)
    when = time.strftime("%Y-%m-%d")
    machine = f"{platform.processor() or platform.machine()}, {cpu_name()}, {os.cpu_count()} CPUs"
    print(
        f"\n{when}, {machine}, fastbp {fastbp.__version__}; {args.epochs} epochs, lr {LR}, "
        f"medians of {args.repeats} repeats\n"
    )
    print(
        "| architecture | dtype | run | examples/s, median epoch | speed-up, median "
        "| speed-up, quartiles | speed-up over the faster CPU | loss after the last epoch "
        "| loss / 1 thread's |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        for run, r in row["runs"].items():
            low, high = r["speedup_quartiles"]
            print(
                f"| {row['architecture']} | {row['dtype']} | {run} "
                f"| {r['examples_per_second']:.3g} | {r['speedup']:.2f}x "
                f"| {low:.2f}x-{high:.2f}x | {r['speedup_over_faster']:.2f}x "
                f"| {r['loss']:.4f} | {r['loss_ratio']:.3f} |"
            )
    if args.json:
        with open(args.json, "w") as file:
            json.dump(
                {
                    "date": when,
                    "machine": machine,
                    "epochs": args.epochs,
                    "lr": LR,
                    "repeats": args.repeats,
                    "results": rows,
                },
                file,
                indent=2,
            )


if __name__ == "__main__":
    main()
