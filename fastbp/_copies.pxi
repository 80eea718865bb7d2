# parallel="copies": thread t >= 1 trains a copy in its 4 buffers (copy of
# w, base of w, copy of v, base of v) at (t - 1) * 4 * n_weights of the
# workspace, and thread 0 adds their changes (copy - base) to w and v when
# they ask.  Included by _core.pyx.

cdef bint add_changes(Exchange* ex, floating* w, floating* v) noexcept nogil:
    """Thread 0 of parallel="copies", between two of its examples: adds to w
    (and v) the change of each other thread's copy that waits for it
    (copy - base), and tells that thread so.  Returns whether any did."""
    cdef int t
    cdef Py_ssize_t j, n = ex.n_weights
    cdef floating* own
    cdef bint added = False
    for t in range(1, ex.n_threads):
        if fbp_load(&ex.pending[t * FLAG_STRIDE]):
            own = <floating*> ex.copies + (t - 1) * 4 * n
            for j in range(n):
                w[j] += own[j] - own[n + j]
            if ex.velocity:
                for j in range(n):
                    v[j] += own[2 * n + j] - own[3 * n + j]
            fbp_store(&ex.pending[t * FLAG_STRIDE], 0)
            added = True
    return added


cdef inline void refresh(Py_ssize_t n, const floating* w, floating* copy,
                      floating* base) noexcept nogil:
    """copy = base = w (w may be changing meanwhile: each copies the other)."""
    memcpy(copy, w, n * sizeof(floating))
    memcpy(base, copy, n * sizeof(floating))


cdef inline Py_ssize_t share_start(Py_ssize_t t, Py_ssize_t n, Py_ssize_t batch,
                                  int n_threads) noexcept nogil:
    """Where thread t's share of n examples begins: shares of whole batches."""
    return min(n, t * ((n + batch - 1) // batch) // n_threads * batch)


cdef void train_copy(const Layout* lay, floating* w, floating* v, Py_ssize_t n_weights,
                     const Rows* rows, const floating* Y, const floating* sample_weight,
                     const Py_ssize_t* order, Py_ssize_t n, const Step* step,
                     Py_ssize_t round_size, int me, Exchange* ex, floating* scratch,
                     Py_ssize_t* claimed, double* total, Py_ssize_t* done) noexcept nogil:
    """Thread ``me`` of the parallel pass on copies.  It claims the next
    round_size examples of ``order`` (``claimed`` counts the examples
    claimed by all threads) and trains on them, until none are left.  A
    non-finite error claims all that is left, so that every thread stops.

    Thread 0 trains w (and v) itself.  Each other thread trains a copy
    (with the copy of v, and their bases: what they were when taken); after
    each claim it raises its flag, waits while thread 0, after its current
    example, adds the copy's change to w (add_changes), and takes w again.
    Thread 0 is the only thread that writes w, so no update is lost.  One
    thread on w keeps the weights the threads stream at three sets for two
    threads, not the five that copies for both would need, which on wide
    layers decides the speed (benchmarks/bench_threads.py).  Thread 0's
    additions grow with the threads (one per round of each): made for a few
    cores, not dozens.  Thread 0 leaves only when no other thread trains
    (``ex.running``): a thread that joins after it has left finds no
    examples left to claim."""
    cdef floating* own
    cdef floating* copy_v = NULL
    cdef Py_ssize_t start, size, did
    cdef Py_ssize_t* pending
    if me == 0:
        while True:
            start = fbp_claim(claimed, round_size)
            if start >= n:
                break
            size = min(round_size, n - start)
            # update numbers as serially: these examples' place in the order
            did = train_share(lay, w, v, NULL, n_weights, rows, Y, sample_weight, order + start,
                              size, step, start // step.batch, scratch, total, ex)
            done[0] += did
            if did < size:
                fbp_claim(claimed, n)
                break
        while fbp_load(&ex.running) > 0:
            if not add_changes(ex, w, v):
                fbp_spin()
        return
    fbp_claim(&ex.running, 1)               # before claiming: see above
    pending = &ex.pending[me * FLAG_STRIDE]
    own = <floating*> ex.copies + (me - 1) * 4 * n_weights
    if v != NULL:
        copy_v = own + 2 * n_weights
    refresh(n_weights, w, own, own + n_weights)
    if v != NULL:
        refresh(n_weights, v, copy_v, copy_v + n_weights)
    while True:
        start = fbp_claim(claimed, round_size)
        if start >= n:
            break
        size = min(round_size, n - start)
        did = train_share(lay, own, copy_v, NULL, n_weights, rows, Y, sample_weight,
                          order + start, size, step, start // step.batch, scratch, total)
        done[0] += did
        if did < size:
            fbp_claim(claimed, n)
            break
        fbp_store(pending, 1)
        while fbp_load(pending):
            fbp_spin()
        refresh(n_weights, w, own, own + n_weights)
        if v != NULL:
            refresh(n_weights, v, copy_v, copy_v + n_weights)
    fbp_claim(&ex.running, -1)

