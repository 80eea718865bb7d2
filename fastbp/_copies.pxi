# parallel="copies", the deterministic schedule: rounds of ``shards``
# shards of consecutive examples (from Step.bounds), each shard trained on
# a copy of the weights as they were at the round's start, the copies'
# changes then added to the weights in the shards' order.  What each copy
# trains and how the changes add up depend only on positions in the order
# and on the bounds: the result is the same for any number of threads
# (and any timing), and the reference backend computes it too.  Included
# by _core.pyx.

cdef inline Py_ssize_t padded(Py_ssize_t n_weights) noexcept nogil:
    """A copy's length: n_weights rounded up to whole cache lines."""
    return (n_weights + 15) // 16 * 16


cdef inline Py_ssize_t share_start(Py_ssize_t t, Py_ssize_t n, Py_ssize_t batch,
                                   int n_threads) noexcept nogil:
    """Where thread t's share of n examples begins: shares of whole batches."""
    return min(n, t * ((n + batch - 1) // batch) // n_threads * batch)


cdef inline int shards_in(const Step* step, Py_ssize_t size) noexcept nogil:
    """The shards of a round of ``size`` examples: all, or fewer in a pass's
    last round."""
    cdef int used = 0
    while used < step.shards and step.bounds[used] < size:
        used += 1
    return used


cdef inline Py_ssize_t shard_end(const Step* step, int s, Py_ssize_t size) noexcept nogil:
    """Where shard s of a round of ``size`` examples ends."""
    return min(step.bounds[s + 1], size)


cdef void momentum_drift(const Step* step, Py_ssize_t size, int used,
                         floating* drift_w, floating* drift_v) noexcept nogil:
    """What a round's merge adds to w and v, times the round's starting
    velocity v0, so that v0 counts once, not once for each copy that
    started with it: with R_s the updates of copy s, T their sum and
    c(R) = sum_{k=1..R} mu^k (mu c(R) for Nesterov) what v0 adds to w over
    R updates, drift_w = c(T) - sum_s c(R_s) and drift_v = (copies - 1)
    - sum_s mu^R_s + mu^T."""
    cdef double mu = step.momentum, c_total, w_sum = 0, v_sum = 0, scale
    cdef Py_ssize_t updates, total = 0
    cdef int s
    scale = mu if step.nesterov else 1
    for s in range(used):
        updates = (shard_end(step, s, size) - step.bounds[s] + step.batch - 1) // step.batch
        total += updates
        w_sum += scale * mu * (1 - pow(mu, updates)) / (1 - mu)
        v_sum += pow(mu, updates)
    c_total = scale * mu * (1 - pow(mu, total)) / (1 - mu)
    drift_w[0] = <floating> (c_total - w_sum)
    drift_v[0] = <floating> ((used - 1) - v_sum + pow(mu, total))


cdef enum:
    MERGE_BLOCK = 2048      # weights merged at a time: the copies' pieces stay in L1
    MERGE_PARTS = 16        # parts of a sparse round's shared rows, claimed by the threads


cdef void add_change(floating* acc, const floating* own, const floating* w, Py_ssize_t n,
                     bint first) noexcept nogil:
    """acc[:n] = own - w where ``first``, else acc[:n] += own - w: a term
    of the copies' sum of changes, added in the copies' order."""
    cdef Py_ssize_t j
    if first:
        for j in range(n):
            acc[j] = own[j] - w[j]
        return
    for j in range(n):
        acc[j] = acc[j] + (own[j] - w[j])


cdef void sum_changes(floating* copies, Py_ssize_t stride, int used, const floating* w,
                      Py_ssize_t n) noexcept nogil:
    """copies[:n] = the sum over the copies s, in order, of
    copies[s * stride:][:n] - w[:n] (the sum built in copy 0)."""
    cdef int s
    add_change(copies, copies, w, n, True)
    for s in range(1, used):
        add_change(copies, copies + s * stride, w, n, False)


cdef void apply_changes(const floating* acc, const floating* acc_v, floating* w, floating* v,
                        Py_ssize_t n, floating drift_w, floating drift_v) noexcept nogil:
    """w[:n] (and v's) += the summed changes ``acc`` (``acc_v``), plus v0
    times drift_w (drift_v) with momentum."""
    cdef Py_ssize_t j
    if v == NULL:
        for j in range(n):
            w[j] = w[j] + acc[j]
        return
    for j in range(n):
        w[j] = w[j] + acc[j] + v[j] * drift_w
        v[j] = v[j] + acc_v[j] + v[j] * drift_v


cdef void merge(floating* copies, Py_ssize_t stride, Py_ssize_t n_weights, int used,
                floating* w, floating* v, Py_ssize_t lo, Py_ssize_t hi, floating drift_w,
                floating drift_v) noexcept nogil:
    """w[lo:hi] (and v's) += the sum of the copies' changes (sum_changes),
    plus v0 times drift_w (drift_v) with momentum."""
    cdef floating* acc = copies + lo
    cdef floating* acc_v = copies + padded(n_weights) + lo
    sum_changes(acc, stride, used, w + lo, hi - lo)
    if v != NULL:
        sum_changes(acc_v, stride, used, v + lo, hi - lo)
    apply_changes(acc, acc_v, w + lo, v + lo if v != NULL else NULL, hi - lo, drift_w, drift_v)


cdef void start_copies(floating* copies, Py_ssize_t stride, int count, const floating* w,
                       const floating* v, Py_ssize_t n_weights, Py_ssize_t lo,
                       Py_ssize_t hi) noexcept nogil:
    """Copies 0 .. count - 1 of w[lo:hi] (and of v's, where not NULL): the
    next round's starting weights, written by the merge while its block of
    them is in cache."""
    cdef int s
    for s in range(count):
        memcpy(copies + s * stride + lo, w + lo, (hi - lo) * sizeof(floating))
        if v != NULL:
            memcpy(copies + s * stride + padded(n_weights) + lo, v + lo,
                   (hi - lo) * sizeof(floating))


cdef bint round_done(const Py_ssize_t* shard_dones, const double* shard_totals, int used,
                     const Step* step, Py_ssize_t size, double* total) noexcept nogil:
    """Whether every shard of a round of ``size`` examples trained all its
    examples (an error was not finite where not); if so, their errors are
    added to ``total`` in the shards' order."""
    cdef int s
    for s in range(used):
        if shard_dones[s] < shard_end(step, s, size) - step.bounds[s]:
            return False
    for s in range(used):
        total[0] += shard_totals[s]
    return True


cdef bint train_shards_in_turn(const Layout* lay, floating* w, floating* v,
                               Py_ssize_t n_weights, const Rows* rows, const floating* Y,
                               const floating* sample_weight, const Py_ssize_t* order,
                               Py_ssize_t start, Py_ssize_t size, const Step* step,
                               floating* copies, Py_ssize_t stride, floating* scratch,
                               double* shard_totals, Py_ssize_t* shard_dones, double* total,
                               floating drift_w, floating drift_v) noexcept nogil:
    """One round of train_shards on one thread, outside OpenMP: each shard
    trained in turn on the same copy (the second), its change added to the
    first as it ends (add_change: the sums of the merge, in its order), then
    w (and v) take them.  Whether every shard trained all its examples
    (round_done)."""
    cdef Py_ssize_t first, last
    cdef Py_ssize_t n_pad = padded(n_weights)
    cdef int used = shards_in(step, size), s
    cdef floating* own = copies + stride
    for s in range(used):
        first = start + step.bounds[s]
        last = start + shard_end(step, s, size)
        memcpy(own, w, n_weights * sizeof(floating))
        if v != NULL:
            memcpy(own + n_pad, v, n_weights * sizeof(floating))
        shard_totals[s] = 0
        shard_dones[s] = train_share(lay, own, own + n_pad if v != NULL else NULL, NULL,
                                     n_weights, rows, Y, sample_weight, order + first,
                                     last - first, step, first // step.batch, scratch,
                                     shard_totals + s)
        if shard_dones[s] < last - first:
            return False
        add_change(copies, own, w, n_weights, s == 0)
        if v != NULL:
            add_change(copies + n_pad, own + n_pad, v, n_weights, s == 0)
    if not round_done(shard_dones, shard_totals, used, step, size, total):
        return False
    apply_changes(copies, copies + n_pad, w, v, n_weights, drift_w, drift_v)
    return True


cdef Py_ssize_t train_shards(const Layout* lay, floating* w, floating* v,
                             Py_ssize_t n_weights, const Rows* rows, const floating* Y,
                             const floating* sample_weight, const Py_ssize_t* order,
                             Py_ssize_t n, const Step* step, int n_threads,
                             floating* copies, floating* scratch, Py_ssize_t per_thread,
                             double* shard_totals, Py_ssize_t* shard_dones,
                             double* total) noexcept nogil:
    """The rounds of the copies over the n examples ``order``, on
    ``n_threads`` threads: each round's step.round examples, in step.shards
    shards from step.bounds (the last round's may be fewer), are trained by
    train_share on their copies in ``copies`` (w, then v where not NULL:
    each shard's at s * (1 or 2) * padded(n_weights)), claimed by whichever
    thread is free; then w (and v) += sum over the shards, in their order,
    of copy - w (with momentum, plus v0 times momentum_drift's factors),
    and the copies of the next round take w (and v) block by block as the
    merge writes them.  Update numbers are those of the serial pass (the
    examples' places in the order).  Returns the examples done: up to the
    round in which an error was not finite (that round's changes not
    added)."""
    cdef Py_ssize_t start = 0, size, s, first, last, block, lo
    cdef Py_ssize_t stride = (2 if v != NULL else 1) * padded(n_weights)
    cdef int used, next_used
    cdef floating* own
    cdef floating drift_w = 0, drift_v = 0
    cdef bint started = False       # the copies hold the round's start already
    while start < n:
        size = min(step.round, n - start)
        used = shards_in(step, size)
        next_used = shards_in(step, min(step.round, n - start - size))
        if v != NULL:
            momentum_drift(step, size, used, &drift_w, &drift_v)
        if n_threads == 1:
            if not train_shards_in_turn(lay, w, v, n_weights, rows, Y, sample_weight, order,
                                        start, size, step, copies, stride, scratch,
                                        shard_totals, shard_dones, total, drift_w, drift_v):
                return start
            start += size
            continue
        for s in prange(used, num_threads=n_threads, schedule="dynamic", chunksize=1):
            first = start + step.bounds[s]
            last = start + shard_end(step, <int> s, size)
            own = copies + s * stride
            if not started:
                memcpy(own, w, n_weights * sizeof(floating))
                if v != NULL:
                    memcpy(own + padded(n_weights), v, n_weights * sizeof(floating))
            shard_totals[s] = 0
            shard_dones[s] = train_share(lay, own, own + padded(n_weights) if v != NULL else NULL,
                                         NULL, n_weights, rows, Y, sample_weight,
                                         order + first, last - first, step,
                                         first // step.batch,
                                         scratch + threadid() * per_thread, shard_totals + s)
        if not round_done(shard_dones, shard_totals, used, step, size, total):
            return start
        # blocks claimed as threads come free, so that a faster CPU merges more
        for block in prange((n_weights + MERGE_BLOCK - 1) // MERGE_BLOCK, num_threads=n_threads,
                            schedule="dynamic", chunksize=1):
            lo = block * MERGE_BLOCK
            merge(copies, stride, n_weights, used, w, v, lo, min(n_weights, lo + MERGE_BLOCK),
                  drift_w, drift_v)
            start_copies(copies, stride, next_used, w, v, n_weights, lo,
                         min(n_weights, lo + MERGE_BLOCK))
        started = next_used > 0
        start += size
    return start


# parallel="copies" on CSR rows.  A round's shards read few rows of W^(1)
# each: a row that one shard alone touches in the round is trained in place
# by that shard; the rows that several touch, W^(1)'s bias row and layers
# 2..L (what every example updates) are trained on each shard's own copy of
# them (Layout.slot, as sparse Hogwild!), and after the round the weights
# take the sum of the copies' changes to the rows and their mean change to
# the rest (summed, every example's update to those would count once per
# shard that made it: the rounds here are long); Adagrad's sums of squares
# add up whole.  Which rows are whose depends on the round's examples only.

cdef struct Owners:         # which rows of W^(1) each shard of a round touches
    unsigned long long* bits    # shards x words: shard s's rows from s words (add_bit)
    Py_ssize_t words            # bit_words(d[0])


cdef void mark_shard(Owners* owners, int s, const Rows* rows, const Py_ssize_t* order,
                     Py_ssize_t first, Py_ssize_t size) noexcept nogil:
    """Shard s's bits: the rows of the ``size`` examples of ``order`` from
    ``first`` (its bits of the round before cleared first).  Shards mark
    their own words, so the threads mark at once."""
    cdef unsigned long long* bits = owners.bits + s * owners.words
    cdef Py_ssize_t e, p
    cdef int i
    memset(bits, 0, owners.words * sizeof(unsigned long long))
    for e in range(first, first + size):
        if e + 8 < first + size:        # the rows' places are scattered: load them early
            fbp_prefetch(rows.indptr + order[e + 8], 2 * sizeof(Py_ssize_t))
        if e + 4 < first + size:
            p = rows.indptr[order[e + 4]]
            fbp_prefetch(rows.indices + p, (rows.indptr[order[e + 4] + 1] - p) * sizeof(int))
        for p in range(rows.indptr[order[e]], rows.indptr[order[e] + 1]):
            i = rows.indices[p]
            add_bit(bits, i)


cdef void choose_shared(const Owners* owners, Hot* hot, int used) noexcept nogil:
    """The rows that several of a round's ``used`` shards touch: their bits
    in hot.copied, and hot.slot 0, 1, ... (hot.inputs, hot.k) in ascending
    order."""
    cdef Py_ssize_t j, i
    cdef unsigned long long seen, several, mine
    cdef int s
    hot.k = 0
    for j in range(owners.words):
        seen = several = 0
        for s in range(used):
            mine = owners.bits[s * owners.words + j]
            several = several | (seen & mine)
            seen = seen | mine
        hot.copied[j] = several
        while several:
            i = 64 * j + fbp_lowest_bit(several)
            hot.slot[i] = <int> hot.k
            hot.inputs[hot.k] = i
            hot.k += 1
            several = several & (several - 1)


cdef void copy_pieces(const Layout* lay, const Hot* hot, const floating* shared,
                      floating* own, Py_ssize_t n_weights) noexcept nogil:
    """own = the pieces of ``shared`` a shard trains on its copy: W^(1)'s
    bias row, the rows of hot.inputs by slot, then layers 2..L."""
    cdef Py_ssize_t s, d1 = lay.d[1], rest = dense_start(lay, n_weights)
    memcpy(own, shared + lay.w_off[1], d1 * sizeof(floating))
    for s in range(hot.k):
        memcpy(own + (1 + s) * d1, shared + lay.w_off[1] + (1 + hot.inputs[s]) * d1,
               d1 * sizeof(floating))
    memcpy(own + (1 + hot.k) * d1, shared + rest, (n_weights - rest) * sizeof(floating))


cdef void merge_piece(floating* copies, Py_ssize_t stride, int used, floating* w,
                      Py_ssize_t n, floating share) noexcept nogil:
    """w[:n] += share times the sum of the copies' changes, in the copies'
    order: one pass over the pieces (a row of W^(1) is short)."""
    cdef Py_ssize_t j
    cdef int s
    cdef floating change
    cdef const floating* second = copies + stride
    if used == 2:       # a sparse round's shards: a loop the compiler vectorises
        for j in range(n):
            w[j] = w[j] + share * ((copies[j] - w[j]) + (second[j] - w[j]))
        return
    for j in range(n):
        change = copies[j] - w[j]
        for s in range(1, used):
            change = change + (copies[s * stride + j] - w[j])
        w[j] = w[j] + share * change


cdef void merge_pieces(const Layout* lay, const Hot* hot, floating* copies,
                       Py_ssize_t stride, int used, floating* shared, Py_ssize_t n_weights,
                       floating share, int part, int parts) noexcept nogil:
    """Part ``part`` of ``parts`` of the round's merge of ``shared``
    (weights, or sums of squares) from the copies' pieces: the rows of
    several shards take the sum of their changes; the bias row and layers
    2..L (in part 0) ``share`` of it."""
    cdef Py_ssize_t s, d1 = lay.d[1], rest = dense_start(lay, n_weights)
    cdef Py_ssize_t each = (hot.k + parts - 1) // parts
    if part == 0:
        merge_piece(copies, stride, used, shared + lay.w_off[1], d1, share)
        merge_piece(copies + (1 + hot.k) * d1, stride, used, shared + rest, n_weights - rest,
                    share)
    for s in range(part * each, min(hot.k, (part + 1) * each)):
        merge_piece(copies + (1 + s) * d1, stride, used,
                    shared + lay.w_off[1] + (1 + hot.inputs[s]) * d1, d1, 1)


cdef Py_ssize_t train_sparse_shard(const Layout* lay, const Hot* hot, floating* w,
                                   floating* squares, Py_ssize_t n_weights, const Rows* rows,
                                   const floating* Y, const floating* sample_weight,
                                   const Py_ssize_t* order, Py_ssize_t first, Py_ssize_t size,
                                   const Step* step, floating* own, Py_ssize_t* w_off,
                                   floating* scratch, double* total) noexcept nogil:
    """One shard of a sparse round: its copy ``own`` (then its sums of
    squares, for Adagrad) taken, then its ``size`` examples of ``order``
    from ``first`` trained, its own rows of W^(1) in place."""
    cdef Layout mine
    cdef Step my_step = step[0]
    cdef floating* own_squares = own + padded(hot.n_own) if squares != NULL else NULL
    own_layout(&mine, w_off, lay, hot, w + lay.w_off[1],
               squares + lay.w_off[1] if squares != NULL else NULL)
    my_step.moments = own_squares
    copy_pieces(lay, hot, w, own, n_weights)
    if squares != NULL:
        copy_pieces(lay, hot, squares, own_squares, n_weights)
    return train_share(&mine, own, NULL, NULL, hot.n_own, rows, Y, sample_weight,
                       order + first, size, &my_step, first, scratch, total)


cdef Py_ssize_t train_sparse_shards(const Layout* lay, Hot* hot, Owners* owners,
                                    floating* w, floating* squares, Py_ssize_t n_weights,
                                    const Rows* rows, const floating* Y,
                                    const floating* sample_weight, const Py_ssize_t* order,
                                    Py_ssize_t n, const Step* step, int n_threads,
                                    floating** buffer, Py_ssize_t* capacity,
                                    Py_ssize_t* w_offs, floating* scratch,
                                    Py_ssize_t per_thread, double* shard_totals,
                                    Py_ssize_t* shard_dones, double* total) noexcept nogil:
    """The rounds of the copies over the n CSR rows ``order`` (see above),
    step.round examples a round in step.shards shards from step.bounds,
    claimed by whichever of ``n_threads`` threads is free; the shards'
    copies in ``buffer`` (``capacity`` floats, grown as a round needs).
    Returns the examples done: up to the round in which an error was not
    finite; -1 where memory for the copies ran out."""
    cdef Py_ssize_t start = 0, size, s, first, last, stride, need, after, next_size
    cdef Py_ssize_t d1 = lay.d[1]
    cdef Py_ssize_t rest = n_weights - dense_start(lay, n_weights)
    cdef int used, next_used, t
    cdef floating* grown
    next_size = min(step.round, n)
    next_used = shards_in(step, next_size)
    for s in prange(next_used, num_threads=n_threads, schedule="dynamic", chunksize=1):
        first = step.bounds[s]
        mark_shard(owners, <int> s, rows, order, first,
                   shard_end(step, <int> s, next_size) - first)
    while start < n:
        size, used = next_size, next_used
        choose_shared(owners, hot, used)
        hot.n_own = (1 + hot.k) * d1 + rest
        stride = padded(hot.n_own) * (2 if squares != NULL else 1)
        need = used * stride
        if need > capacity[0]:
            free(buffer[0])
            grown = <floating*> malloc((2 * need + 16) * sizeof(floating))
            buffer[0] = grown
            capacity[0] = 2 * need if grown != NULL else 0
            if grown == NULL:
                return -1
        # the shards, then the marks of the next round's, claimed as threads
        # come free: a thread that ends its shard first marks more
        after = start + size
        next_size = min(step.round, n - after)
        next_used = shards_in(step, next_size)
        for s in prange(used + next_used, num_threads=n_threads, schedule="dynamic",
                        chunksize=1):
            if s < used:
                first = start + step.bounds[s]
                last = start + shard_end(step, <int> s, size)
                shard_totals[s] = 0
                shard_dones[s] = train_sparse_shard(
                    lay, hot, w, squares, n_weights, rows, Y, sample_weight, order, first,
                    last - first, step, <floating*> line_start(buffer[0]) + s * stride,
                    w_offs + threadid() * (lay.L + 1), scratch + threadid() * per_thread,
                    shard_totals + s)
            else:
                first = after + step.bounds[s - used]
                mark_shard(owners, <int> (s - used), rows, order, first,
                           after + shard_end(step, <int> (s - used), next_size) - first)
        if not round_done(shard_dones, shard_totals, used, step, size, total):
            return start
        for t in prange(MERGE_PARTS, num_threads=n_threads, schedule="dynamic", chunksize=1):
            merge_pieces(lay, hot, <floating*> line_start(buffer[0]), stride, used, w,
                         n_weights, <floating> (1.0 / used), t, MERGE_PARTS)
            if squares != NULL:
                merge_pieces(lay, hot, <floating*> line_start(buffer[0]) + padded(hot.n_own),
                             stride, used, squares, n_weights, 1, t, MERGE_PARTS)
        start += size
    return start
