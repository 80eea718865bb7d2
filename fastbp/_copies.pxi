# parallel="copies", the deterministic schedule: rounds of ``shards``
# shards of consecutive examples, each shard trained on a copy of the
# weights as they were at the round's start, the copies' changes then added
# to the weights in the shards' order.  What each copy trains and how the
# changes add up depend only on positions in the order and on the shard
# size: the result is the same for any number of threads (and any timing),
# and the reference backend computes it too.  Included by _core.pyx.

cdef inline Py_ssize_t padded(Py_ssize_t n_weights) noexcept nogil:
    """A copy's length: n_weights rounded up to whole cache lines."""
    return (n_weights + 15) // 16 * 16


cdef inline Py_ssize_t share_start(Py_ssize_t t, Py_ssize_t n, Py_ssize_t batch,
                                  int n_threads) noexcept nogil:
    """Where thread t's share of n examples begins: shares of whole batches."""
    return min(n, t * ((n + batch - 1) // batch) // n_threads * batch)


cdef void momentum_drift(const Step* step, Py_ssize_t size, Py_ssize_t shard, int used,
                         floating* drift_w, floating* drift_v) noexcept nogil:
    """What a round's merge adds to w and v, times the round's starting
    velocity v0, so that v0 counts once, not once for each copy that
    started with it: with R_s the updates of copy s, T their sum and
    c(R) = sum_{k=1..R} mu^k (mu c(R) for Nesterov) what v0 adds to w over
    R updates, drift_w = c(T) - sum_s c(R_s) and drift_v = (copies - 1)
    - sum_s mu^R_s + mu^T."""
    cdef double mu = step.momentum, c_total, w_sum = 0, v_sum = 0, scale
    cdef Py_ssize_t s, updates, total = 0
    scale = mu if step.nesterov else 1
    for s in range(used):
        updates = (min(shard, size - s * shard) + step.batch - 1) // step.batch
        total += updates
        w_sum += scale * mu * (1 - pow(mu, updates)) / (1 - mu)
        v_sum += pow(mu, updates)
    c_total = scale * mu * (1 - pow(mu, total)) / (1 - mu)
    drift_w[0] = <floating> (c_total - w_sum)
    drift_v[0] = <floating> ((used - 1) - v_sum + pow(mu, total))


cdef enum:
    MERGE_BLOCK = 2048      # weights merged at a time: the copies' pieces stay in L1


cdef void merge(floating* copies, Py_ssize_t stride, Py_ssize_t n_weights, int used,
                floating* w, floating* v, Py_ssize_t lo, Py_ssize_t hi, floating drift_w,
                floating drift_v) noexcept nogil:
    """w[lo:hi] (and v's) += the sum over the copies s, in order, of
    copy_s - w (v: of the copies' v - v), plus v0 times drift_w (drift_v)
    with momentum; the sums built in copy 0, each loop along the weights."""
    cdef Py_ssize_t j
    cdef int s
    cdef floating* acc = copies
    cdef floating* acc_v = copies + padded(n_weights)
    cdef floating* other
    for j in range(lo, hi):
        acc[j] = acc[j] - w[j]
    for s in range(1, used):
        other = copies + s * stride
        for j in range(lo, hi):
            acc[j] = acc[j] + (other[j] - w[j])
    if v == NULL:
        for j in range(lo, hi):
            w[j] = w[j] + acc[j]
        return
    for j in range(lo, hi):
        acc_v[j] = acc_v[j] - v[j]
    for s in range(1, used):
        other = copies + s * stride + padded(n_weights)
        for j in range(lo, hi):
            acc_v[j] = acc_v[j] + (other[j] - v[j])
    for j in range(lo, hi):
        w[j] = w[j] + acc[j] + v[j] * drift_w
        v[j] = v[j] + acc_v[j] + v[j] * drift_v


cdef Py_ssize_t train_shards(const Layout* lay, floating* w, floating* v,
                             Py_ssize_t n_weights, const Rows* rows, const floating* Y,
                             const floating* sample_weight, const Py_ssize_t* order,
                             Py_ssize_t n, const Step* step, int n_threads,
                             floating* copies, floating* scratch, Py_ssize_t per_thread,
                             double* shard_totals, Py_ssize_t* shard_dones,
                             double* total) noexcept nogil:
    """The rounds of the copies over the n examples ``order``, on
    ``n_threads`` threads: each round's step.shards shards of step.round
    examples (the last round's may be fewer, or none) are trained by
    train_share on their copies in ``copies`` (w, then v where not NULL:
    each shard's at s * (1 or 2) * n_weights), claimed by whichever thread
    is free; then w (and v) += sum over the shards, in their order, of
    copy - w (with momentum, plus v0 times momentum_drift's factors).  Update numbers are those of the serial pass (the examples'
    places in the order).  Returns the examples done: up to the round in
    which an error was not finite (that round's changes not added)."""
    cdef Py_ssize_t start = 0, size, s, first, last, j, part, lo, hi
    cdef Py_ssize_t stride = (2 if v != NULL else 1) * padded(n_weights)
    cdef Py_ssize_t shard = step.round
    cdef int shards = step.shards, t, used
    cdef floating* own
    cdef floating drift_w = 0, drift_v = 0
    cdef bint failed
    while start < n:
        size = min(shards * shard, n - start)
        used = <int> ((size + shard - 1) // shard)
        if v != NULL:
            momentum_drift(step, size, shard, used, &drift_w, &drift_v)
        for s in prange(used, num_threads=n_threads, schedule="dynamic", chunksize=1):
            first = start + s * shard
            last = min(first + shard, start + size)
            own = copies + s * stride
            memcpy(own, w, n_weights * sizeof(floating))
            if v != NULL:
                memcpy(own + padded(n_weights), v, n_weights * sizeof(floating))
            shard_totals[s] = 0
            shard_dones[s] = train_share(lay, own, own + padded(n_weights) if v != NULL else NULL,
                                         NULL, n_weights, rows, Y, sample_weight,
                                         order + first, last - first, step,
                                         first // step.batch,
                                         scratch + threadid() * per_thread, shard_totals + s)
        failed = False
        for s in range(used):
            failed = failed or shard_dones[s] < min(shard, start + size - s * shard - start)
        if failed:
            return start
        part = (n_weights + n_threads - 1) // n_threads
        for t in prange(n_threads, num_threads=n_threads, schedule="static", chunksize=1):
            lo = t * part
            while lo < min(n_weights, (t + 1) * part):
                hi = min(min(n_weights, (t + 1) * part), lo + MERGE_BLOCK)
                merge(copies, stride, n_weights, used, w, v, lo, hi, drift_w, drift_v)
                lo = hi
        for s in range(used):
            total[0] += shard_totals[s]
        start += size
    return start
