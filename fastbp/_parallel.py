"""How many threads a training pass runs on, and how they share the work.

With parallel="copies" (the default) a pass is rounds of consecutive
examples of the order, each cut into shards; every shard trains a copy of
the weights as they were at the round's start, and the copies' changes are
added in the shards' order (fastbp/_copies.pxi).  Threads claim shards as
they come free and the result is the same on any number of them.  The
copies start a round behind one another, which takes training away from
the serial path by about what a round's updates move the weights: an
example's share of that is the step lr / batch_size / (1 - momentum).  So
a round holds ROUND_DISTANCE / step examples (at most 1 / ROUNDS_PER_PASS
of the pass), in shards of SHARD_SHARES (or up to SHARDS equal ones of at
least MIN_SHARD); on sparse X SPARSE_SHARDS shards of at least
MIN_SPARSE_ROUND.  Since the result does not depend on the threads, the
chunks of a pass run on one thread for a while where other work keeps
the threads from their CPUs (ChunkThreads).  benchmarks/bench_threads.py measures the speed and the
loss against one thread, alone and beside a busy process.

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

import itertools
import math
import os
import sys
import time
import warnings

MODES = ("copies", "hogwild")
# parallel="copies": a round is shards of consecutive examples, however
# many threads train them.  A long round's shards are SHARD_SHARES of it,
# larger first: each thread that comes free takes the next, and the small
# last ones let threads on CPUs of different speeds, and 3 or 4 threads,
# end the round close together.  A round too short for the smallest to
# hold MIN_SHARD examples has up to SHARDS equal ones.  Fewer where their
# copies would take more than SHARD_BYTES.
SHARD_SHARES = (10, 10, 8, 6, 4, 2)
SHARDS = 4
SHARD_BYTES = 1 << 29
MIN_SHARD = 16
# on sparse X, where each shard copies the rows of W^(1) that other shards
# of its round touch too: fewer, so that fewer rows are shared
SPARSE_SHARDS = 2
# a shard's work (examples x weights) below which one thread runs them all
MIN_SHARD_WORK = 1 << 20
# "hogwild" on sparse X: an exchange gathers scattered rows of W^(1)
MIN_SPARSE_ROUND = 512
MAX_ROUND = 1024
ROUND_DISTANCE = 0.64
# A chunk holds at least this many rounds per thread: a thread that finishes
# its last round early waits for the others at the chunk's end.
ROUNDS_PER_PASS = 8
# The copies' threads give way to other work (ChunkThreads): after a chunk
# of BUSY_MIN_SECONDS or more on n threads that got under BUSY_SHARE x n
# CPUs, or where the machine's running tasks would leave the threads short
# of CPUs (looked at where no chunk found the CPUs free in the last
# LOOK_SECONDS), passes run on one thread for BUSY_SECONDS (doubling while
# the CPUs stay busy, to MAX_BUSY_SECONDS).
BUSY_MIN_SECONDS = 0.01
BUSY_SHARE = 0.7
BUSY_SECONDS = 0.25
MAX_BUSY_SECONDS = 16.0
LOOK_SECONDS = 1.0

_ran_parallel = False
_forked_after_parallel = False
# when the copies' threads may run again and when the CPUs were last found
# free (perf_counter), and for how long the threads give way next
_busy = {"until": 0.0, "free_at": -math.inf, "seconds": BUSY_SECONDS}


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
            why = (
                backend.SERIAL_REASON
                if not backend.PARALLEL
                else "this process was forked after a parallel pass, and OpenMP cannot start "
                "threads in it (use the 'spawn' or 'forkserver' start method of "
                "multiprocessing)"
            )
            warnings.warn(
                f"n_threads={requested} trains on one thread: {why}.",
                RuntimeWarning,
                stacklevel=_outside_fastbp(),
            )
        return 1
    cpus = usable_cpus()
    if requested == -1:
        requested = every_cpu(backend)
    if requested > cpus:
        # threads beyond the CPUs wait for each other's turns at every exchange
        warnings.warn(
            f"n_threads={requested} trains on {cpus} thread(s): this process may "
            f"run on {cpus} CPU(s) only (its CPU affinity), and more threads than "
            "CPUs would wait for each other's turns.",
            RuntimeWarning,
            stacklevel=_outside_fastbp(),
        )
        requested = cpus
    _ran_parallel = _ran_parallel or requested > 1
    return requested


def threads_for_shards(backend, requested, bounds, n_weights):
    """The threads that run a pass of parallel="copies" whose rounds' shards
    start at ``bounds`` (copies_schedule), for the ``n_threads`` asked for.
    The result is the same on any number, so this never warns: one where
    there are no shards, where the backend cannot run in parallel, or where
    the largest shard's work (examples x n_weights) is below
    MIN_SHARD_WORK, too little to pay for waking a thread; else at most one
    per shard and per CPU."""
    global _ran_parallel
    if (
        len(bounds) < 2
        or not backend.PARALLEL
        or _forked_after_parallel
        or max(shard_sizes(bounds)) * n_weights < MIN_SHARD_WORK
    ):
        return 1
    if requested == -1:
        requested = every_cpu(backend)
    requested = min(requested, usable_cpus(), len(bounds) - 1)
    _ran_parallel = _ran_parallel or requested > 1
    return requested


class ChunkThreads:
    """How many of a pass's ``plan.threads`` each chunk runs on.  The
    copies' result is the same on any number, so with copies this follows
    the machine: all of them, unless other work holds the CPUs; then one,
    in every pass of this process, for BUSY_SECONDS, and all again after
    that (twice as long each time they find the CPUs busy again, up to
    MAX_BUSY_SECONDS).  Other work holds them where a chunk of
    BUSY_MIN_SECONDS or more on all got under BUSY_SHARE of a CPU's time
    per thread (a waiting thread spins, so its time counts: what is missing
    went to other work, and every round waits for a thread that is not
    running), or, before a chunk where no chunk found the CPUs free in the
    last LOOK_SECONDS, where the tasks running on the machine besides this
    one and the threads would be more than its CPUs (others_running).
    Hogwild!'s result depends on its threads: always all."""

    def __init__(self, plan):
        self.threads = plan.threads
        self.adapts = plan.shards > 0 and plan.threads > 1

    def next(self):
        """The threads of the next chunk."""
        if not self.adapts:
            return self.threads
        now = time.perf_counter()
        if now < _busy["until"]:
            return 1
        if now - _busy["free_at"] > LOOK_SECONDS:
            others = others_running()
            if others is not None and others + self.threads > (os.cpu_count() or 1):
                _give_way(now)
                return 1
            _busy["free_at"] = now
        return self.threads

    def ran(self, threads, seconds, cpu_seconds):
        """A chunk ran on ``threads`` in ``seconds``, this process's threads
        using ``cpu_seconds`` of CPU time meanwhile."""
        if not self.adapts or threads == 1 or seconds < BUSY_MIN_SECONDS:
            return  # (a shorter chunk's threads may still be waking up)
        if cpu_seconds < BUSY_SHARE * threads * seconds:
            _give_way(time.perf_counter())
        else:
            _busy["free_at"], _busy["seconds"] = time.perf_counter(), BUSY_SECONDS


def _give_way(now):
    """The copies' threads find the CPUs busy at ``now``: one thread until
    the hold ends, and the next hold twice as long."""
    _busy["until"], _busy["free_at"] = now + _busy["seconds"], -math.inf
    _busy["seconds"] = min(2 * _busy["seconds"], MAX_BUSY_SECONDS)


def others_running(reads=3, apart=0.001):
    """The tasks running or waiting for a CPU on the machine besides the
    caller (/proc/loadavg's count of runnable tasks, less one), or None
    where the system does not say: the least of ``reads`` reads ``apart``
    seconds apart (fewer where one finds none), so that a task that runs
    for a moment does not count."""
    try:
        handle = os.open("/proc/loadavg", os.O_RDONLY)
    except OSError:
        return None
    others = None
    try:
        for read in range(reads):
            if read:
                time.sleep(apart)
            count = int(os.pread(handle, 256, 0).split()[3].split(b"/")[0]) - 1
            others = count if others is None else min(others, count)
            if others <= 0:
                break
    except (OSError, ValueError, IndexError):
        return None
    finally:
        os.close(handle)
    return others


def forget_busy_cpus(look=False):
    """Let the next chunk on several threads run on all of them, however
    busy the CPUs were found (ChunkThreads), for tests and benchmarks that
    must see the threads run; with ``look``, a pass looks at the machine's
    running tasks before its first chunk, as in a new process."""
    _busy["until"], _busy["seconds"] = 0.0, BUSY_SECONDS
    _busy["free_at"] = -math.inf if look else time.perf_counter()


def every_cpu(backend):
    """What n_threads=-1 means, everywhere: one thread per CPU this process
    may run on (its affinity), at most OpenMP's limit (OMP_NUM_THREADS, or
    threadpoolctl's) where ``backend`` runs on OpenMP."""
    cpus = usable_cpus()
    return min(cpus, backend.max_threads()) if backend.PARALLEL else cpus


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


def copies_schedule(options, updates_done, examples, n_weights, itemsize):
    """Where the shards of a round of parallel="copies" start, and the
    round's end: (0, ..., round), after ``updates_done`` updates in a pass
    of ``examples`` (0: unknown).  The round holds ROUND_DISTANCE / step
    examples (the step an example moves the weights: lr / batch_size /
    (1 - momentum)), at most SHARDS x MAX_ROUND and 1 / ROUNDS_PER_PASS of
    the pass, in shards of whole mini-batches: SHARD_SHARES of it where the
    smallest holds MIN_SHARD examples (and a batch), else SHARDS equal ones
    (fewer where the round is short); fewer where their copies of the
    weights and velocity would take more than SHARD_BYTES.  () where not
    even 2 shards fit: the step is too large for copies, and the pass is
    serial.  The same for any number of threads."""
    rate = options.lr_of_update(updates_done + 1)  # the schedules only decrease
    step = rate / options.batch_size / (1 - options.momentum)
    round_examples = ROUND_DISTANCE / step * (1 + 1e-12)  # 0.64 / (0.001 / 0.1): 64
    round_examples = min(round_examples, SHARDS * MAX_ROUND)
    if examples:
        round_examples = min(round_examples, examples / ROUNDS_PER_PASS)
    copy_bytes = max(1, n_weights * itemsize * (2 if options.needs_velocity else 1))
    most = SHARD_BYTES // copy_bytes
    smallest = max(MIN_SHARD, options.batch_size)
    batch = options.batch_size
    if len(SHARD_SHARES) <= most:
        batches, whole = int(round_examples // batch), sum(SHARD_SHARES)
        ends = (0, *itertools.accumulate(SHARD_SHARES))
        bounds = tuple(batches * end // whole * batch for end in ends)
        if min(shard_sizes(bounds)) >= smallest:
            return bounds
    shards = min(SHARDS, most, int(round_examples // smallest))
    if shards < 2:
        return ()
    size = whole_batches(min(MAX_ROUND, int(round_examples // shards)), batch)
    return tuple(s * size for s in range(shards + 1))


def shard_sizes(bounds):
    """The examples of each shard of a round whose shards start at
    ``bounds`` (then its end)."""
    return [end - start for start, end in zip(bounds, bounds[1:])]


def sparse_copies_schedule(options, updates_done, examples):
    """Where the shards of a round of parallel="copies" on sparse X start,
    and the round's end (as copies_schedule): SPARSE_SHARDS shards of
    ROUND_DISTANCE / step examples, at least MIN_SPARSE_ROUND (sparse
    examples rarely share a row of W^(1); the bias row and layers 2..L,
    which all share, take the shards' mean change) and at most MAX_ROUND
    and 1 / (SPARSE_SHARDS x ROUNDS_PER_PASS) of the pass; (), the serial
    pass, where the pass holds fewer than 2 shards of MIN_SPARSE_ROUND."""
    if examples and examples < 2 * MIN_SPARSE_ROUND:
        return ()
    step = options.lr_of_update(updates_done + 1) / options.batch_size
    size = min(ROUND_DISTANCE / step, MAX_ROUND)
    if examples:
        size = min(size, examples / (SPARSE_SHARDS * ROUNDS_PER_PASS))
    size = max(MIN_SPARSE_ROUND, int(size))
    return tuple(s * size for s in range(SPARSE_SHARDS + 1))


def hogwild_round(options, n_threads, updates_done, examples):
    """Examples a thread trains between exchanges in "hogwild" on sparse X
    (0 for one thread): ROUND_DISTANCE / step, at least MIN_SPARSE_ROUND,
    at most MAX_ROUND and 1 / ROUNDS_PER_PASS of a thread's share of a pass
    of ``examples``."""
    if n_threads == 1:
        return 0
    step = options.lr_of_update(updates_done + 1) / options.batch_size
    size = min(ROUND_DISTANCE / step, MAX_ROUND)
    if examples:
        size = min(size, examples / (n_threads * ROUNDS_PER_PASS))
    return whole_batches(max(MIN_SPARSE_ROUND, int(size)), options.batch_size)


def chunk_rows(size, batch_size, plan):
    """Examples in a chunk of about ``size`` in a pass by ``plan``: whole
    mini-batches; with copies, whole rounds, at least one (a pass's first
    chunk stays short where other work slows its threads: ChunkThreads);
    with Hogwild!'s rounds, ROUNDS_PER_PASS or more for every thread (a
    thread that finishes its last round early waits for the others at the
    chunk's end)."""
    if plan.shards:
        return -(-size // plan.round) * plan.round
    if plan.round:
        rounds = plan.threads * plan.round
        return max(ROUNDS_PER_PASS, -(-size // rounds)) * rounds
    return whole_batches(size, batch_size)


def whole_batches(size, batch_size):
    """``size`` rounded up to whole mini-batches: a chunk never splits one."""
    return -(-size // batch_size) * batch_size
