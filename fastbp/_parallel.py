"""How many threads a training pass runs on, and how they share the work.

With parallel="copies" the threads claim a round of examples at a time from
the order; the first trains the shared weights, each other one a copy of
them, whose change the first adds to the shared weights after the round.  A
round's updates reach the other threads about a round late, which takes
training away from the serial path by about what a round's updates move the
weights: an example's share of that is the step lr / batch_size /
(1 - momentum).  So a round holds ROUND_DISTANCE / step examples, from
MIN_ROUND to MAX_ROUND (each exchange costs time: longer rounds are
faster), and at most 1 / ROUNDS_PER_PASS of a thread's share of the pass.
benchmarks/bench_threads.py measures the speed and the loss against one
thread.

With parallel="hogwild" all threads update the shared weights at once,
without locks (Hogwild!, Niu et al. 2011).  On sparse X they do so for the
rows of W^(1) their examples' entries select; each keeps its own copy of
what every example updates (the other layers, W^(1)'s bias row) and of the
rows of the frequent inputs, and adds its change after each round, which
is at least MIN_SPARSE_ROUND examples (see fastbp/_hogwild.pxi).

GNU OpenMP cannot be used in a child forked after a parallel region ran in
its parent (the child's next parallel region waits forever for threads that
were not forked): a process remembers whether it ran one, and its forked
children train on one thread.
"""

import os
import sys
import warnings

MODES = ("copies", "hogwild")
# parallel="copies": a round is SHARDS shards of consecutive examples (fewer
# where their copies would take more than SHARD_BYTES), however many
# threads train them
SHARDS = 8
SHARD_BYTES = 1 << 29
MIN_SHARD = 16
MIN_ROUND = 64
# "hogwild" on sparse X: an exchange gathers scattered rows of W^(1)
MIN_SPARSE_ROUND = 512
MAX_ROUND = 1024
ROUND_DISTANCE = 0.64
# A chunk holds at least this many rounds per thread: a thread that finishes
# its last round early waits for the others at the chunk's end.
ROUNDS_PER_PASS = 8

_ran_parallel = False
_forked_after_parallel = False


def _after_fork_in_child():
    global _forked_after_parallel
    _forked_after_parallel = _forked_after_parallel or _ran_parallel


os.register_at_fork(after_in_child=_after_fork_in_child)


def threads(backend, requested):
    """The threads a training pass on ``backend`` runs on, for the
    ``n_threads`` asked for (-1: OpenMP's limit, which OMP_NUM_THREADS and
    threadpoolctl set, at most one per CPU this process may run on).  One
    where the backend cannot run in parallel (the reference, a build without
    OpenMP, a child forked after a parallel pass), and at most one per CPU
    this process may run on; asking for more warns."""
    global _ran_parallel
    if requested == 1:
        return 1
    if not backend.PARALLEL or _forked_after_parallel:
        if requested > 1:
            why = (backend.SERIAL_REASON if not backend.PARALLEL else
                   "this process was forked after a parallel pass, and OpenMP cannot start "
                   "threads in it (use the 'spawn' or 'forkserver' start method of "
                   "multiprocessing)")
            warnings.warn(f"n_threads={requested} trains on one thread: {why}.",
                          RuntimeWarning, stacklevel=_outside_fastbp())
        return 1
    cpus = usable_cpus()
    if requested == -1:
        requested = min(backend.max_threads(), cpus)
    if requested > cpus:
        # threads beyond the CPUs wait for each other's turns at every exchange
        warnings.warn(f"n_threads={requested} trains on {cpus} thread(s): this process may "
                      f"run on {cpus} CPU(s) only (its CPU affinity), and more threads than "
                      "CPUs would wait for each other's turns.",
                      RuntimeWarning, stacklevel=_outside_fastbp())
        requested = cpus
    _ran_parallel = _ran_parallel or requested > 1
    return requested


def usable_cpus():
    """The CPUs this process may run on (its affinity, where the system
    tells it; else all)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _outside_fastbp():
    """The stacklevel of this function's caller's first caller outside the
    fastbp package: where a warning points the user."""
    package = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(2), 2
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def shards(n_weights, itemsize, velocity):
    """The copies' shards a round: SHARDS, fewer (2 at least) where their
    copies of the weights (and velocity) would take more than SHARD_BYTES."""
    copy_bytes = max(1, n_weights * itemsize * (2 if velocity else 1))
    return max(2, min(SHARDS, SHARD_BYTES // copy_bytes))


def round_size(options, mode, n_threads, updates_done, examples, sparse=False, n_shards=0):
    """The examples of a copy's shard with ``n_shards`` shards a round
    (mode "copies": the same for any number of threads), or of a thread's
    round between exchanges in "hogwild" on ``sparse`` X (whole
    mini-batches); 0 for the serial pass or "hogwild" on dense X.
    ``examples`` is the size of the pass where known (else 0); ``options``
    a fastbp._options.Options."""
    sharing = n_shards or (n_threads if mode == "hogwild" and sparse else 0)
    if sharing <= 1:
        return 0
    rate = options.lr_of_update(updates_done + 1)       # the schedules only decrease
    step = rate / options.batch_size / (1 - options.momentum)
    # a round's copies all start where it starts: together they move about
    # ROUND_DISTANCE away from the path of the serial pass
    size = min(ROUND_DISTANCE / step / (n_shards or 1), MAX_ROUND)
    share = examples / (sharing * ROUNDS_PER_PASS)
    if share:
        size = min(size, share)
    least = MIN_SPARSE_ROUND if mode == "hogwild" else MIN_SHARD
    return whole_batches(max(least, int(size)), options.batch_size)


def chunk_rows(size, batch_size, n_threads, round_examples):
    """Examples in a chunk of about ``size``: whole mini-batches, and with
    copies, whole rounds for every thread (ROUNDS_PER_PASS or more)."""
    if not round_examples:
        return whole_batches(size, batch_size)
    rounds = n_threads * round_examples
    return max(ROUNDS_PER_PASS, -(-size // rounds)) * rounds


def whole_batches(size, batch_size):
    """``size`` rounded up to whole mini-batches: a chunk never splits one."""
    return -(-size // batch_size) * batch_size
