"""One training pass over blocks of examples, in chunks: the backend's
training loop runs a chunk at a time without the GIL, and Python gets it
back between chunks (Ctrl-C, progress); a divergence or an error restores
the state from before the pass.

It works on the Model (fastbp._state) that a Network hands training.
"""

import _signal  # signal's own functions: its enum wrappers cost more than a short pass
import contextlib
import dataclasses
import math
import signal
import threading
import time

import numpy as np

from . import _buffers, _parallel, _sparse
from ._state import moments_size

# The core trains in chunks of about this many seconds, giving Python the GIL
# (and Ctrl-C, which waits for the chunk it comes in) back between them; the
# first chunk has FIRST_CHUNK examples, few, so that it ends soon even on a
# slow network or the reference backend.
CHUNK_SECONDS = 0.05
# ... or up to LONG_CHUNK_SECONDS on large layers, whose per-chunk costs grow
# with the weights (parallel="copies" copies them all for each thread), so
# that Ctrl-C still stops training within about that.
LONG_CHUNK_SECONDS = 0.25
FIRST_CHUNK = 64
# The compiled core's lazy rows (sparse X, SGD with momentum or weight decay)
# catch up at the end of each chunk, which rounds otherwise than catching up
# later would: their chunks are sized in examples instead, from the data and
# the layout alone, at least LAZY_CHUNK_WORK multiply-adds and 20x the
# catch-up's (d[0] d[1]), so that the clock never decides the result.
LAZY_CHUNK_WORK = 1 << 25


class DivergenceError(FloatingPointError, ValueError):
    """Training produced a non-finite error or non-finite weights (also a
    ValueError, as scikit-learn raises for non-finite parameters)."""


def state_arrays(model, options):
    """(velocity or None, moments or None): the training state's buffers
    that updates by ``options`` change besides flat, made where missing
    (moments afresh for another optimizer than the one that made them)."""
    state, progress = model.state, model.state.progress
    if options.needs_velocity and state.velocity is None:
        state.velocity = _buffers.zeros(len(model.flat), model.dtype)
    if options.optimizer != "sgd" and progress["optimizer"] != options.optimizer:
        state.moments = _buffers.zeros(
            moments_size(options.optimizer, len(model.flat)), model.dtype
        )
        progress["optimizer"], progress["moments_from"] = options.optimizer, progress["updates"]
    return (
        state.velocity if options.needs_velocity else None,
        state.moments if options.optimizer != "sgd" else None,
    )


def run_pass(model, blocks, options, where, on_chunk=None, kept=None, examples_hint=0):
    """Run the backend's training pass by ``options`` (an Options) over
    ``blocks`` ((X, Y, sample weights or None, order, number of the
    block's first row) each), each in chunks of about CHUNK_SECONDS, so
    that Python gets the GIL back between them (Ctrl-C, and
    ``on_chunk(examples done)`` for progress).  ``kept``: a list that a
    caller making several passes holds for them, to keep the state from
    before each pass in (filled on the first, reused).  ``examples_hint``:
    the examples of the pass where known (else 0), for its Plan.
    Returns (sum of the errors, examples).

    Ctrl-C stops at the end of the chunk it comes in, with that chunk's
    state (its KeyboardInterrupt is held back until then); divergence (a
    non-finite error, or weights or state non-finite at the end), or an
    error in a block (bad data further on in a file), restores the state
    from before the pass and raises."""
    progress = model.state.progress
    velocity, moments = state_arrays(model, options)
    # the buffers the backend is handed (and changes), held here for the whole pass
    flat, average = model.flat, model.state.average
    arrays = [a for a in (flat, velocity, average, moments) if a is not None]
    backend = model.backend
    plan = before = None  # known at the first block: sparse or not
    updates_before = progress["updates"]
    total, examples, size, aim = 0.0, 0, FIRST_CHUNK, CHUNK_SECONDS

    def diverged(at=""):
        return DivergenceError(
            f"training diverged in {where}{at}: the error or the weights became non-finite "
            f"(lr={options.lr}). The weights are those from before {where}. Try a smaller lr, "
            f"or scale the inputs and targets."
        )

    try:
        for X, Y, weights, order, first in blocks:  # Ctrl-C acts at once here
            sparse = isinstance(X, _sparse.Rows)
            if sparse and options.dense_only:
                raise ValueError(
                    f"{options.dense_only} does not train on sparse X yet: "
                    f"give dense X, or leave the option out"
                )
            if plan is None or plan.sparse != sparse:  # the first block, or another kind
                plan = options.plan(
                    backend,
                    progress["updates"],
                    examples_hint or len(order),
                    sparse,
                    progress["moments_from"],
                    len(flat),
                    model.dtype.itemsize,
                )
                workspace = backend.workspace(len(flat), model.dtype, plan)
                chunk_threads = _parallel.ChunkThreads(plan)
                plans = {plan.threads: plan, 1: dataclasses.replace(plan, threads=1)}
            if before is None:  # nothing has changed yet
                keeping = time.perf_counter()
                before = _keep(backend, chunk_threads.next(), arrays, [] if kept is None else kept)
                # chunks at least 20x as long as copying the weights once takes
                aim = min(
                    max(CHUNK_SECONDS, 20 * (time.perf_counter() - keeping)), LONG_CHUNK_SECONDS
                )
            fixed = options.lazy_rows(sparse) and model.network.backend == "compiled"
            if fixed:
                size = _lazy_chunk(model.layers, X)
            start = 0
            while start < len(order):
                with _interrupts_held():  # a chunk and its bookkeeping
                    updates_at_chunk = progress["updates"]
                    stop = min(
                        start + _parallel.chunk_rows(size, options.batch_size, plan),
                        len(order),
                    )
                    threads = chunk_threads.next()
                    began, cpu_began = time.perf_counter(), time.process_time()
                    part, done = backend.train_pass(
                        flat,
                        *model.spec,
                        X,
                        Y,
                        weights,
                        order[start:stop],
                        options,
                        plans[threads],
                        updates_at_chunk,
                        velocity,
                        average,
                        moments,
                        workspace,
                    )
                    progress["updates"] = updates_at_chunk - (-done // options.batch_size)
                    if done < stop - start:
                        # the serial pass alone knows the example (not the copies' rounds)
                        raise diverged(
                            f" at example {first + order[start + done]}"
                            if plan.threads == 1 and not plan.shards
                            else ""
                        )
                    total += float(part)
                    seconds = time.perf_counter() - began
                    chunk_threads.ran(threads, seconds, time.process_time() - cpu_began)
                    if not fixed:
                        size = _next_chunk(size, stop - start, seconds, aim)
                    start = stop
                    if on_chunk:
                        on_chunk(done)
            examples += len(order)
        # a weight can overflow in an update whose error was finite
        if plan is not None and not all(
            backend.all_finite(a, chunk_threads.next()) for a in arrays
        ):
            raise diverged()
    except KeyboardInterrupt:  # raised between chunks: their state stands
        if before is not None and not all(backend.all_finite(a, 1) for a in arrays):
            _restore(before, arrays, progress, updates_before)
        raise
    except BaseException:
        if before is not None:
            _restore(before, arrays, progress, updates_before)
        raise
    return total, examples


def _keep(backend, n_threads, arrays, kept):
    """Copies of ``arrays`` in ``kept`` (a list, whose arrays are reused
    where they match), made on ``n_threads``: the state to restore."""
    if [(a.shape, a.dtype) for a in kept] != [(a.shape, a.dtype) for a in arrays]:
        kept[:] = [np.empty_like(a) for a in arrays]
    for copy, array in zip(kept, arrays):
        backend.copy_into(copy, array, n_threads)
    return kept


def _restore(before, arrays, progress, updates):
    for kept, now in zip(before, arrays):
        np.copyto(now, kept)
    progress["updates"] = updates


@contextlib.contextmanager
def _interrupts_held():
    """Hold Ctrl-C's KeyboardInterrupt back while the block runs (a chunk's
    training and its bookkeeping, which it must not fall between) and raise
    it after.  Elsewhere (the caller's generator of chunks, say) it acts at
    once.  Only in the main thread (where Python delivers SIGINT) and under
    Python's own handler."""
    held = []
    deferred = (
        threading.current_thread() is threading.main_thread()
        and _signal.getsignal(signal.SIGINT) is signal.default_int_handler
    )
    if deferred:
        _signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        if deferred:
            _signal.signal(signal.SIGINT, signal.default_int_handler)
    if held:
        raise KeyboardInterrupt


def _lazy_chunk(layers, X):
    """Examples in a chunk of lazy rows on CSR rows ``X`` (see LAZY_CHUNK_WORK)."""
    per_example = (X.indptr[-1] / len(X) + 1) * layers[1] + sum(
        (a + 1) * b for a, b in zip(layers[1:-1], layers[2:])
    )
    return math.ceil(max(LAZY_CHUNK_WORK, 20 * layers[0] * layers[1]) / per_example)


def _next_chunk(size, rows, seconds, aim=CHUNK_SECONDS):
    """Examples in the next chunk, after one of ``size`` asked for and
    ``rows`` run in ``seconds``: aimed at ``aim`` seconds, at most 4x size
    (times aim / CHUNK_SECONDS: longer chunks get there in fewer steps)."""
    most = 4 * size * max(1.0, aim / CHUNK_SECONDS)
    aimed = rows * aim / seconds if seconds > 0 else most
    return int(max(1, min(most, aimed)))
