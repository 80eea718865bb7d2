# cython: language_level=3, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False
"""Compiled backend: backpropagation on one contiguous weight buffer.

Notation is the seed's (Abu-Mostafa, "Learning From Data", lecture 10):
layers l = 0..L with d[l] nodes, weights w_ij^(l) from node i of layer l-1
to node j of layer l, signals s^(l), outputs x^(l) = g(s^(l)), sensitivities
delta^(l) = de/ds^(l).  Layer l's weights are the row-major block
(d[l-1]+1, d[l]) of ``flat`` that starts at w_off[l]; row 0 holds the bias
weights w_0j.

The functions are the backend interface that ``fastbp.reference``'s
docstring writes down.  The Python layer validates every argument: nothing
here checks bounds.  The pieces are included from _declarations.pxi (the C
kernels and the codes), _example.pxi (one example's mathematics and the
serial loop), _copies.pxi (parallel="copies"), _hogwild.pxi
(parallel="hogwild" on CSR rows), _lazy.pxi (weight decay and momentum
on CSR rows) and _online.pxi (one example at a time from Python).

Scratch (outputs with their bias slot x_0 = 1, signals, deltas) is allocated
once per call, with the layer offsets, and reused for every example.
"""

from cython cimport floating
from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_Check
from libc.math cimport NAN, exp, log, log1p, isfinite, pow, sqrt
from libc.stdlib cimport calloc, malloc, free
from libc.string cimport memcpy, memset
from cython.parallel cimport prange, threadid

from ._buffers import zeros

include "_declarations.pxi"

# A copy built for wider instructions than this CPU runs refuses to load:
# its first call would die of SIGILL (fastbp._backend never imports it, but
# a user can).
_NEEDS_LEVELS = {"avx2": 1, "avx512": 3}.get(FBP_ISA.decode(), 0)
if fbp_cpu_levels() & _NEEDS_LEVELS != _NEEDS_LEVELS:
    raise ImportError(f"{__name__} is the core built for {FBP_ISA.decode()}, which this CPU "
                      f"does not run: import fastbp, which picks the copy it runs")

include "_example.pxi"
include "_hogwild.pxi"
include "_copies.pxi"
include "_lazy.pxi"
include "_online.pxi"


def forward(const floating[::1] flat, const Py_ssize_t[::1] layers, const int[::1] acts,
            X, floating[:, ::1] out):
    """out[n] = x^(L) for every row n of X (dense or CSR rows), one example
    at a time."""
    cdef Layout lay
    cdef floating* xs
    cdef Py_ssize_t r, k, n_out = out.shape[1]
    cdef Rows rows = rows_of(X, <floating*> NULL)
    xs = layout_init(&lay, layers, acts, 0, <floating*> NULL)
    try:
        with nogil:
            for r in range(rows.n):
                forward_one(&lay, &flat[0], xs, xs + lay.n_x,
                            load_example(&lay, &flat[0], &rows, r, xs, xs + lay.n_x))
                for k in range(n_out):
                    out[r, k] = xs[lay.x_off[lay.L] + 1 + k]
    finally:
        free(lay.w_off)


def activate_rows(int act, floating[:, ::1] S):
    """S[r] = g(S[r]) for every row r, in place."""
    cdef Py_ssize_t r
    with nogil:
        for r in range(S.shape[0]):
            activate(act, &S[r, 0], &S[r, 0], S.shape[1])


def loss(const floating[::1] flat, const Py_ssize_t[::1] layers, const int[::1] acts,
         int loss, X, const floating[:, ::1] Y):
    """Sum over the rows of X (dense or CSR rows) of the error e(h(x_n), y_n)."""
    cdef Layout lay
    cdef floating* xs
    cdef floating* ss
    cdef Py_ssize_t r
    cdef double total = 0
    cdef Rows rows = rows_of(X, <floating*> NULL)
    xs = layout_init(&lay, layers, acts, loss, <floating*> NULL)
    ss = xs + lay.n_x
    try:
        with nogil:
            for r in range(rows.n):
                forward_one(&lay, &flat[0], xs, ss, load_example(&lay, &flat[0], &rows, r, xs, ss))
                total += output_delta(&lay, xs, ss, &Y[r, 0], ss + lay.n_s)
    finally:
        free(lay.w_off)
    return total


def gradient(const floating[::1] flat, const Py_ssize_t[::1] layers, const int[::1] acts,
             int loss, X, const floating[:, ::1] Y, const floating[::1] weights,
             floating[::1] grad):
    """Add sum_r weights[r] de_r/dw to ``grad``; return sum_r weights[r] e_r
    (X dense or CSR rows).

    Four rows at a time, each weight block read once for the four: their
    signals, their deltas, then their gradients added to the block of
    ``grad``. A last group of fewer rows repeats its last row, times 0.
    CSR rows take W^(1)'s part one at a time, from their entries only."""
    cdef Layout lay[4]
    cdef floating* xs[4]
    cdef floating* ss[4]
    cdef floating* ds[4]
    cdef const floating* x_prev[4]
    cdef floating* s[4]
    cdef const floating* delta[4]
    cdef floating scale[4]
    cdef Rows rows = rows_of(X, <floating*> NULL)
    cdef Py_ssize_t r, k, l, row, n = rows.n
    cdef double total = 0, e
    cdef int made = 0
    try:
        for k in range(4):
            xs[k] = layout_init(&lay[k], layers, acts, loss, <floating*> NULL)
            made += 1
            ss[k] = xs[k] + lay[k].n_x
            ds[k] = ss[k] + lay[k].n_s
        with nogil:
            for r in range(0, n, 4):
                for k in range(4):
                    load_example(&lay[k], &flat[0], &rows, min(r + k, n - 1), xs[k], ss[k])
                    scale[k] = weights[r + k] if r + k < n else 0
                for l in range(1, lay[0].L + 1):
                    for k in range(4):
                        x_prev[k] = xs[k] + lay[k].x_off[l - 1]
                        s[k] = ss[k] + lay[k].s_off[l]
                    if l > 1 or not rows.sparse:     # CSR rows: s^(1) is there
                        signals4(lay[0].d[l - 1], lay[0].d[l], &flat[0] + lay[0].w_off[l],
                                 x_prev, s)
                    for k in range(4):
                        activate(lay[k].act[l], s[k], xs[k] + lay[k].x_off[l] + 1, lay[k].d[l])
                for k in range(4):
                    row = min(r + k, n - 1)
                    e = output_delta(&lay[k], xs[k], ss[k], &Y[row, 0], ds[k])
                    if r + k < n:
                        total += weights[r + k] * e
                    hidden_deltas(&lay[k], &flat[0], xs[k], ds[k])
                for l in range(lay[0].L, 1 if rows.sparse else 0, -1):
                    for k in range(4):
                        x_prev[k] = xs[k] + lay[k].x_off[l - 1]
                        delta[k] = ds[k] + lay[k].s_off[l]
                    rank4(lay[0].d[l - 1], lay[0].d[l], scale, x_prev, delta,
                          &grad[0] + lay[0].w_off[l])
                if rows.sparse:
                    for k in range(min(4, n - r)):
                        sparse_first_layer(&lay[k], &grad[0], scale[k], &rows, r + k, ds[k])
    finally:
        for k in range(made):
            free(lay[k].w_off)
    return total


def backprop(const floating[::1] flat, const Py_ssize_t[::1] layers, const int[::1] acts,
             int loss, const floating[::1] x, const floating[::1] y,
             floating[::1] signals, floating[::1] outputs, floating[::1] deltas,
             floating[::1] grad):
    """Backpropagation of one example; returns e.

    Writes s^(1..L) to ``signals`` and delta^(1..L) to ``deltas`` (layer after
    layer), x^(0..L) without the bias nodes to ``outputs``, and adds
    de/dw^(1..L) to ``grad`` (laid out like ``flat``)."""
    cdef Layout lay
    cdef floating* xs
    cdef floating* ss
    cdef floating* ds
    cdef Py_ssize_t l, j, o
    cdef double e
    xs = layout_init(&lay, layers, acts, loss, <floating*> NULL)
    ss = xs + lay.n_x
    ds = ss + lay.n_s
    try:
        load_input(&lay, xs, &x[0])
        forward_one(&lay, &flat[0], xs, ss)
        e = output_delta(&lay, xs, ss, &y[0], ds)
        backward(&lay, &flat[0], &grad[0], 1, xs, ds)
        o = 0
        for l in range(1, lay.L + 1):
            for j in range(lay.d[l]):
                signals[o] = ss[lay.s_off[l] + j]
                deltas[o] = ds[lay.s_off[l] + j]
                o += 1
        o = 0
        for l in range(lay.L + 1):
            for j in range(lay.d[l]):
                outputs[o] = xs[lay.x_off[l] + 1 + j]
                o += 1
    finally:
        free(lay.w_off)
    return e


def max_threads():
    """The threads a parallel pass may use: OpenMP's limit (OMP_NUM_THREADS,
    or what threadpoolctl set), or 1 in a build without OpenMP."""
    return fbp_max_threads()


PARALLEL = bool(FBP_OPENMP)   # built with OpenMP: n_threads > 1 runs in parallel
SERIAL_REASON = "fastbp's compiled core was built without OpenMP"
SIMD = FBP_SIMD.decode()      # the widest vector instructions of this build
ISA = FBP_ISA.decode()        # the instruction set it was built for (setup.py)
# the C enums by the names of fastbp._names, whose indices they must be
ENUMS = {
    "ACTIVATIONS": {"identity": IDENTITY, "tanh": TANH, "sigmoid": SIGMOID, "relu": RELU,
                    "leaky_relu": LEAKY_RELU, "softmax": SOFTMAX, "exp": EXP},
    "LOSSES": {"squared": SQUARED, "cross_entropy": CROSS_ENTROPY, "poisson": POISSON},
    "SCHEDULES": {"constant": CONSTANT, "invscaling": INVSCALING, "optimal": OPTIMAL},
    "OPTIMIZERS": {"sgd": SGD, "adam": ADAM, "adagrad": ADAGRAD},
}


def cpu_isas():
    """The instruction sets of setup.py's copies of the core that this CPU
    runs, widest first: ("avx512", "avx2", "baseline"), or fewer."""
    cdef int levels = fbp_cpu_levels()
    return (("avx512",) if levels & 2 else ()) + (("avx2",) if levels & 1 else ()) + ("baseline",)


def workspace(Py_ssize_t n_weights, dtype, plan):
    """The copies of a pass of parallel="copies" (w, and v where
    plan.velocity, for each of plan.shards shards, on a cache line), or None."""
    if plan.shards > 0 and not plan.sparse:
        return zeros(plan.shards * (2 if plan.velocity else 1) * padded(n_weights), dtype)
    return None


cdef Step step_of(options, plan, double t_done) except *:
    """Everything the core reads of a pass's ``fastbp._options.Options`` and
    ``Plan``, read once: the one place that reads them."""
    cdef Step step
    cdef int s
    step.lr, step.momentum = options.lr, options.momentum
    step.weight_decay = options.weight_decay
    step.clip, step.power_t, step.t_done = options.clip, options.power_t, t_done
    step.average_from, step.schedule = options.average, options.schedule
    step.nesterov, step.batch = options.nesterov, options.batch_size
    step.optimizer = OPTIMIZERS.index(options.optimizer)
    step.beta_1, step.beta_2, step.epsilon = options.beta_1, options.beta_2, options.epsilon
    step.moments_from = plan.moments_from
    step.threads, step.round, step.copying = plan.threads, plan.round, plan.mode == "copies"
    step.shards = plan.shards
    if step.shards > MAX_SHARDS:
        raise ValueError(f"at most {MAX_SHARDS} shards a round, got {step.shards}")
    for s in range(step.shards + 1 if step.shards else 0):
        step.bounds[s] = plan.bounds[s]
    step.moments = NULL
    step.t_stride = 1
    return step


def train_pass(floating[::1] flat, const Py_ssize_t[::1] layers, const int[::1] acts,
               int loss, X, const floating[:, ::1] Y,
               const floating[::1] sample_weight, const Py_ssize_t[::1] order, options,
               plan, double t_done, floating[::1] velocity, floating[::1] average,
               floating[::1] moments, floating[::1] workspace):
    """Per-example SGD over the rows ``order`` of X, in place on ``flat``, by
    ``options`` and ``plan`` (see the backend interface in ``fastbp.reference``).

    For each example: forward pass, delta^(L) (each component clipped to
    [-clip, clip] where clip > 0, then times the example's weight where
    ``sample_weight`` is not None), then the fused backward/update pass
    w_ij^(l) <- w_ij^(l) - lr x_i^(l-1) delta_j^(l) (with weight decay and
    no momentum, w_ij^(l) first scaled by 1 - lr weight_decay for i >= 1);
    or, with momentum, the update of ``backward_momentum`` through
    ``velocity``; or with optimizer "adam" or "adagrad" (serial only),
    the update of ``adaptive_update`` through ``moments``.  With
    batch_size > 1, one update follows every batch of consecutive examples
    of ``order`` (and the last, maybe fewer), from the mean of their
    gradients (``apply_batch``, or ``adaptive_update``).  Update number t = t_done + 1,
    t_done + 2, ... uses the rate ``scheduled_lr`` gives it; where
    options.average >= 1, ``average`` keeps the running mean of the weights
    from update options.average on.  Per example without weight decay or
    Nesterov, the update of W^(1) also computes the next example's s^(1)
    (see backward), bit for bit what its forward pass would.  On CSR rows
    (one thread), plain SGD's weight decay and momentum reach W^(1)'s input
    rows lazily, exactly: see _lazy.pxi.

    With plan.threads > 1 (and an OpenMP build), that many threads train,
    each with its own scratch.  With plan.mode "hogwild" each takes a
    consecutive share of whole batches and all update flat (and velocity,
    average) without locks: Hogwild!; thread t numbers its updates
    t_done + t + 1, then plan.threads further each time.  On CSR rows the
    threads claim plan.round examples at a time, and each keeps a copy of
    the weights every example updates, and of the frequent inputs' rows of
    W^(1), whose change over n_threads it adds to flat after each round: see
    ``train_hogwild``.  With plan.shards > 0 (plan.mode "copies") the pass
    is rounds of plan.round examples, in plan.shards shards starting at
    plan.bounds, each shard trained on a copy of the round's start (in
    ``workspace`` on dense X), the changes then added in the shards' order:
    see ``train_shards`` and,
    on CSR rows, ``train_sparse_shards``; the threads, however many, claim
    shards and change nothing the result depends on.

    The whole pass runs without the GIL.  A non-finite error stops a
    thread's share before that example changes any weight.  Returns (sum of
    the errors before each update, each times its example's weight; number
    of examples done: fewer than ``len(order)`` after a non-finite error,
    serially at example ``order[done]``).
    """
    cdef Layout lay
    cdef Step step = step_of(options, plan, t_done)
    cdef int n_threads = step.threads
    cdef Py_ssize_t round_size = step.round, batch = step.batch
    cdef Py_ssize_t n = order.shape[0], n_weights = flat.shape[0], t, first
    cdef Py_ssize_t per_thread, l, i, done = 0
    cdef bint hogwild_rows
    cdef double total = 0
    cdef floating* scratch
    cdef void* own_scratch = NULL
    cdef floating* v = &velocity[0] if velocity is not None else NULL
    cdef floating* avg = &average[0] if average is not None else NULL
    cdef const floating* weights = &sample_weight[0] if sample_weight is not None else NULL
    cdef double* totals = NULL
    cdef Py_ssize_t* dones
    cdef floating* copies = NULL            # parallel="copies": the shards' copies
    cdef floating* own_copies = NULL
    cdef Py_ssize_t n_copies = 0
    cdef Rows rows = rows_of(X, <floating*> NULL)
    cdef bint copying = step.copying
    cdef Hot hot                            # sparse Hogwild! or copies: the copied rows
    cdef Owners owners                      # sparse copies: whose rows of W^(1)
    cdef floating* shard_buffer = NULL      # sparse copies: the shards' copies
    cdef Py_ssize_t shard_capacity = 0
    cdef bint sparse_shards
    cdef floating* own = NULL
    cdef Py_ssize_t per_own = 0
    cdef Py_ssize_t* own_offsets = NULL
    cdef Lazy lazy                          # CSR rows with weight decay or momentum
    cdef bint lazy_rows = (rows.sparse and step.optimizer == SGD and batch == 1
                           and (step.momentum > 0 or step.weight_decay > 0))
    hot.slot, hot.inputs, hot.copied = NULL, NULL, NULL
    owners.bits = NULL
    owners.words = bit_words(layers[0])
    lazy.scale, lazy.last = 1, NULL
    lay.w_off = NULL
    if n == 0:
        return 0.0, 0
    step.moments = &moments[0] if moments is not None else NULL
    if step.shards > 0:                     # more threads than shards would idle
        n_threads = max(1, min(n_threads, step.shards))
    else:
        n_threads = max(1, min(n_threads, (n + batch - 1) // batch))
    if lazy_rows and (n_threads > 1 or step.shards > 0):   # the lazy rows' state is serial
        raise ValueError("momentum and weight_decay train on sparse X on one thread")
    step.t_stride = n_threads if n_threads > 1 and not copying and not rows.sparse else 1
    try:                 # the one exit: every buffer below is freed in finally
        layout_init(&lay, layers, acts, loss, <floating*> NULL)
        # Each thread's scratch (x, s, delta, then a gradient buffer for
        # batches) starts on its own cache lines (32 floats: at least 128 bytes).
        per_thread = lay.n_x + 2 * lay.n_s + (n_weights if batch > 1 else 0)
        per_thread = (per_thread + 31) // 32 * 32
        own_scratch = calloc(n_threads * per_thread + 32, sizeof(floating))
        scratch = <floating*> line_start(own_scratch)
        # a total and a count of examples done for each thread, or each shard
        totals = <double*> calloc(max(n_threads, step.shards), sizeof(double) + sizeof(Py_ssize_t))
        dones = <Py_ssize_t*> (totals + max(n_threads, step.shards))
        sparse_shards = step.shards > 0 and rows.sparse
        if step.shards > 0 and not rows.sparse:
            n_copies = step.shards * (2 if v != NULL else 1) * padded(n_weights)
            if workspace is not None and workspace.shape[0] >= n_copies:
                copies = &workspace[0]
            else:
                own_copies = <floating*> malloc((n_copies + 16) * sizeof(floating))
                copies = <floating*> line_start(own_copies)
        hogwild_rows = n_threads > 1 and not copying and rows.sparse
        if hogwild_rows or sparse_shards:
            hot.slot = <int*> malloc(layers[0] * sizeof(int))
            hot.copied = <unsigned long long*> malloc(
                bit_words(layers[0]) * sizeof(unsigned long long))
            own_offsets = <Py_ssize_t*> malloc(n_threads * (lay.L + 1) * sizeof(Py_ssize_t))
        if hogwild_rows:
            hot.inputs = <Py_ssize_t*> malloc(MAX_HOT * sizeof(Py_ssize_t))
            if hot.slot != NULL and hot.copied != NULL and hot.inputs != NULL:
                with nogil:
                    choose_hot(&hot, &lay, &rows, &order[0], n, n_weights, n_threads)
                per_own = on_line(4 * hot.n_own)      # copy and base of w and of the squares
                own = <floating*> malloc((n_threads * per_own + 16) * sizeof(floating))
        if sparse_shards:
            hot.inputs = <Py_ssize_t*> malloc(layers[0] * sizeof(Py_ssize_t))
            owners.bits = <unsigned long long*> malloc(
                step.shards * owners.words * sizeof(unsigned long long))
        if lazy_rows and step.momentum > 0:
            lazy.last = <Py_ssize_t*> calloc(layers[0], sizeof(Py_ssize_t))
        if (own_scratch == NULL or totals == NULL
                or (lazy_rows and step.momentum > 0 and lazy.last == NULL)
                or (step.shards > 0 and not rows.sparse and copies == NULL)
                or (sparse_shards and (hot.slot == NULL or hot.copied == NULL
                                       or hot.inputs == NULL or owners.bits == NULL
                                       or own_offsets == NULL))
                or (hogwild_rows and (own == NULL or own_offsets == NULL))):
            raise MemoryError()
        with nogil:
            for i in range(n_threads):
                for l in range(lay.L + 1):              # the bias slots x_0 = 1
                    scratch[i * per_thread + lay.x_off[l]] = 1
            if sparse_shards:
                done = train_sparse_shards(
                    &lay, &hot, &owners, &flat[0], <floating*> step.moments, n_weights, &rows,
                    &Y[0, 0], weights, &order[0], n, &step, n_threads, &shard_buffer,
                    &shard_capacity, own_offsets, scratch, per_thread, totals, dones, &total)
            elif step.shards > 0:
                done = train_shards(&lay, &flat[0], v, n_weights, &rows, &Y[0, 0], weights,
                                    &order[0], n, &step, n_threads, copies, scratch,
                                    per_thread, totals, dones, &total)
            elif n_threads == 1:
                dones[0] = train_share(&lay, &flat[0], v, avg, n_weights, &rows, &Y[0, 0],
                                       weights, &order[0], n, &step, 0, scratch, totals,
                                       &lazy if lazy_rows else NULL)
            elif hogwild_rows:
                for t in prange(n_threads, num_threads=n_threads, schedule="static",
                                chunksize=1):
                    dones[t] = train_hogwild(
                        &lay, &hot, &flat[0], <floating*> step.moments, n_weights, &rows,
                        &Y[0, 0], weights, &order[0], n, &step, round_size,
                        <floating*> line_start(own) + t * per_own,
                        own_offsets + t * (lay.L + 1), scratch + t * per_thread, totals + t)
            else:
                for t in prange(n_threads, num_threads=n_threads, schedule="static",
                                chunksize=1):
                    first = share_start(t, n, batch, n_threads)
                    dones[t] = train_share(&lay, &flat[0], v, avg, n_weights, &rows,
                                           &Y[0, 0], weights, &order[first],
                                           share_start(t + 1, n, batch, n_threads) - first,
                                           &step, t, scratch + t * per_thread, totals + t)
            if step.shards == 0:
                for i in range(n_threads):
                    total += totals[i]
                    done += dones[i]
    finally:
        free(own_scratch)
        free(totals)
        free(own_copies)
        free(hot.slot)
        free(hot.copied)
        free(hot.inputs)
        free(own)
        free(own_offsets)
        free(owners.bits)
        free(shard_buffer)
        free(lazy.last)
        free(lay.w_off)
    if done < 0:
        raise MemoryError("no memory for the copies of a round's shards")
    return total, done


def copy_into(floating[::1] to, const floating[::1] source, int n_threads):
    """to[:] = source, in n_threads parts on as many threads: a pass's state
    kept to restore."""
    cdef Py_ssize_t t, start, n = source.shape[0]
    cdef Py_ssize_t part = (n + n_threads - 1) // n_threads
    for t in prange(n_threads, nogil=True, num_threads=n_threads, schedule="static",
                    chunksize=1):
        start = t * part
        if start < n:
            memcpy(&to[start], &source[start], min(part, n - start) * sizeof(floating))


def all_finite(const floating[::1] values, int n_threads):
    """Whether every value is finite, in n_threads parts on as many threads."""
    cdef Py_ssize_t t, start, n = values.shape[0]
    cdef Py_ssize_t part = (n + n_threads - 1) // n_threads
    cdef double total = 0
    for t in prange(n_threads, nogil=True, num_threads=n_threads, schedule="static",
                    chunksize=1):
        start = t * part
        if start < n:
            total += zero_sum(min(part, n - start), &values[start])
    return total == 0
