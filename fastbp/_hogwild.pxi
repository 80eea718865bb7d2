# parallel="hogwild" on CSR rows.  The threads update the shared rows of
# W^(1) that their examples' entries select, without locks (Hogwild!: two
# examples rarely share a rare input).  What every example updates (W^(1)'s
# bias row, layers 2..L) and the rows of the frequent inputs would go back
# and forth between the cores' caches at every example: each thread trains
# its own copy of those instead, and after every round of its examples adds
# the mean of the threads' changes, its own change / n_threads, one thread
# at a time (model averaging: a round can take a copy all the way to where
# its examples pull it, and summing the copies' changes would overshoot it
# n_threads-fold).  Adagrad's sums of squares add up whole.  Included by
# _core.pyx.

cdef enum:
    HOT_SHARE = 100     # an input is frequent in at least 1 of HOT_SHARE rows ...
    HOT_SAMPLE = 4096   # ... of the pass's first HOT_SAMPLE
    MAX_HOT = 256       # at most this many frequent inputs (the rarest dropped)


cdef struct Hot:        # what the threads of a sparse Hogwild! pass share
    int* slot           # d[0] entries: input i's row among a copy's, where copied says
    unsigned long long* copied  # bit_words(d[0]): the inputs that have a row among a copy's
    Py_ssize_t* inputs  # the frequent inputs, by their slot
    Py_ssize_t k        # how many
    Py_ssize_t n_own    # the length of a thread's copy
    Py_ssize_t lock     # 1 while a thread adds its change
    double share        # the part of a copy's change that a thread adds: 1 / n_threads
    Py_ssize_t claimed  # the examples of the pass's order claimed by the threads


cdef void choose_hot(Hot* hot, const Layout* lay, const Rows* rows, const Py_ssize_t* order,
                     Py_ssize_t n, Py_ssize_t n_weights, int n_threads) noexcept nogil:
    """Fill ``hot`` for the pass over the n rows ``order``: the inputs with
    an entry in at least one of HOT_SHARE of its first HOT_SAMPLE rows (and
    in 2), the threshold doubled until at most MAX_HOT are."""
    cdef Py_ssize_t i, k, count, sample = min(n, HOT_SAMPLE), d_in = lay.d[0]
    cdef Py_ssize_t least = max(2, sample // HOT_SHARE)
    cdef int* slot = hot.slot
    memset(slot, 0, d_in * sizeof(int))
    for k in range(sample):
        for i in range(rows.indptr[order[k]], rows.indptr[order[k] + 1]):
            slot[rows.indices[i]] += 1
    while True:
        count = 0
        for i in range(d_in):
            count += slot[i] >= least
        if count <= MAX_HOT:
            break
        least *= 2
    hot.k = 0
    memset(hot.copied, 0, bit_words(d_in) * sizeof(unsigned long long))
    for i in range(d_in):
        if slot[i] >= least:
            slot[i] = hot.k
            add_bit(hot.copied, i)
            hot.inputs[hot.k] = i
            hot.k += 1
    hot.n_own = (1 + hot.k) * lay.d[1] + n_weights - dense_start(lay, n_weights)
    hot.lock = hot.claimed = 0
    hot.share = 1.0 / n_threads


cdef inline Py_ssize_t dense_start(const Layout* lay, Py_ssize_t n_weights) noexcept nogil:
    """Where layers 2..L begin in the shared weights."""
    return lay.w_off[2] if lay.L >= 2 else n_weights


cdef void own_layout(Layout* mine, Py_ssize_t* w_off, const Layout* lay, const Hot* hot,
                     void* shared_w, void* shared_squares) noexcept nogil:
    """A thread's layout of its copy: W^(1)'s bias row, the rows of the
    frequent inputs by slot, then layers 2..L (w_off: L + 1 entries)."""
    cdef Py_ssize_t l
    mine[0] = lay[0]
    mine.w_off = w_off
    w_off[0] = w_off[1] = 0
    for l in range(2, lay.L + 1):
        w_off[l] = (1 + hot.k) * lay.d[1] + lay.w_off[l] - lay.w_off[2]
    mine.slot, mine.copied = hot.slot, hot.copied
    mine.shared_w1, mine.shared_squares1 = shared_w, shared_squares


cdef inline void sync_part(Py_ssize_t n, floating* shared, floating* own, floating* base,
                           floating part) noexcept nogil:
    """shared += part (own - base) (of the copy's change since it was taken);
    then own = base = shared."""
    cdef Py_ssize_t j
    if part != 0:
        for j in range(n):
            shared[j] += part * (own[j] - base[j])
    memcpy(own, shared, n * sizeof(floating))
    memcpy(base, shared, n * sizeof(floating))


cdef void sync_copy(const Layout* lay, const Hot* hot, floating* shared, floating* own,
                    Py_ssize_t n_weights, floating part) noexcept nogil:
    """sync_part on each piece of a thread's copy (``own``, then its base,
    each hot.n_own long) and the shared buffer it copies (weights, or a
    state of their layout)."""
    cdef Py_ssize_t s, d1 = lay.d[1], rest = dense_start(lay, n_weights)
    cdef floating* base = own + hot.n_own
    sync_part(d1, shared + lay.w_off[1], own, base, part)
    for s in range(hot.k):
        sync_part(d1, shared + lay.w_off[1] + (1 + hot.inputs[s]) * d1, own + (1 + s) * d1,
                  base + (1 + s) * d1, part)
    s = (1 + hot.k) * d1
    sync_part(n_weights - rest, shared + rest, own + s, base + s, part)


cdef inline void acquire(Py_ssize_t* lock) noexcept nogil:
    while fbp_claim(lock, 1) != 0:
        fbp_claim(lock, -1)
        while fbp_load(lock) != 0:
            fbp_spin()


cdef Py_ssize_t train_hogwild(const Layout* lay, Hot* hot, floating* w, floating* squares,
                              Py_ssize_t n_weights, const Rows* rows, const floating* Y,
                              const floating* sample_weight, const Py_ssize_t* order,
                              Py_ssize_t n, const Step* step, Py_ssize_t round_size,
                              floating* own, Py_ssize_t* w_off, floating* scratch,
                              double* total) noexcept nogil:
    """A thread of a sparse Hogwild! pass over the n rows ``order`` (plain
    SGD or Adagrad, one example per update).  It claims round_size examples
    at a time (hot.claimed counts those claimed), trains its copy on them
    (``own``: 2 hot.n_own, and as much again for Adagrad's sums of squares
    where ``squares`` is not NULL), and adds hot.share of the copy's change
    (all of the squares'), until none are left.  An example's update is
    numbered by its place in the order, as serially.  A non-finite error
    claims all that is left, so that every thread stops.  Returns the
    examples done."""
    cdef Layout mine
    cdef Step my_step = step[0]
    cdef Py_ssize_t size, did, start, done = 0
    cdef floating* own_squares = own + 2 * hot.n_own if squares != NULL else NULL
    own_layout(&mine, w_off, lay, hot, w + lay.w_off[1],
               squares + lay.w_off[1] if squares != NULL else NULL)
    my_step.moments = own_squares
    sync_copy(lay, hot, w, own, n_weights, 0)
    if squares != NULL:
        sync_copy(lay, hot, squares, own_squares, n_weights, 0)
    while True:
        start = fbp_claim(&hot.claimed, round_size)
        if start >= n:
            break
        size = min(round_size, n - start)
        did = train_share(&mine, own, NULL, NULL, hot.n_own, rows, Y, sample_weight,
                          order + start, size, &my_step, start, scratch, total)
        acquire(&hot.lock)
        sync_copy(lay, hot, w, own, n_weights, <floating> hot.share)
        if squares != NULL:
            sync_copy(lay, hot, squares, own_squares, n_weights, 1)
        fbp_claim(&hot.lock, -1)
        done += did
        if did < size:
            fbp_claim(&hot.claimed, n)
            break
    return done
