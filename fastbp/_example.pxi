# One example's mathematics, and the serial per-example loop: the layout of
# a network's scratch, activations, the forward pass, the base step, the
# backward pass fused with the update (plain, with weight decay, with
# momentum), mini-batch updates, and train_share.  Included by _core.pyx.

cdef inline Py_ssize_t on_line(Py_ssize_t n) noexcept nogil:
    """n rounded up to a multiple of 16: whole cache lines (64 bytes) of
    float32 or of float64."""
    return (n + 15) // 16 * 16


cdef inline void* line_start(void* p) noexcept nogil:
    """The first cache line (64 bytes) at or after p."""
    return <void*> ((<size_t> p + 63) // 64 * 64)


# Sets of inputs as bits: input i is bit i % 64 of word i // 64.
cdef inline Py_ssize_t bit_words(Py_ssize_t n) noexcept nogil:
    """The words of a set of n inputs."""
    return (n + 63) // 64


cdef inline void add_bit(unsigned long long* words, Py_ssize_t i) noexcept nogil:
    words[i >> 6] |= 1ULL << (i & 63)


cdef inline bint has_bit(const unsigned long long* words, Py_ssize_t i) noexcept nogil:
    return (words[i >> 6] >> (i & 63)) & 1


cdef floating* layout_init(Layout* lay, const Py_ssize_t[::1] layers, const int[::1] acts,
                           int loss, floating* kind) except NULL:
    """Fill ``lay`` and return the call's scratch: x (bias slots set to 1),
    then s, then delta.  Each s^(l) and delta^(l) starts on a cache line,
    as the kernels' vector loads want (the padding is never read).  Offsets
    and scratch are one allocation: free it with free(lay.w_off).  ``kind``
    only selects the floating type."""
    cdef Py_ssize_t l, L = layers.shape[0] - 1, n_x = 0, n_s = 0
    cdef floating* xs
    for l in range(L + 1):
        n_x += layers[l] + 1
        n_s += on_line(layers[l]) if l > 0 else 0
    n_x = on_line(n_x)
    lay.w_off = <Py_ssize_t*> malloc(3 * (L + 1) * sizeof(Py_ssize_t)
                                     + (n_x + 2 * n_s) * sizeof(floating) + 64)
    if lay.w_off == NULL:
        raise MemoryError()
    lay.x_off = lay.w_off + (L + 1)
    lay.s_off = lay.x_off + (L + 1)
    xs = <floating*> line_start(lay.s_off + (L + 1))
    lay.L, lay.d, lay.act, lay.loss, lay.n_x, lay.n_s = L, &layers[0], &acts[0], loss, n_x, n_s
    lay.slot, lay.copied = NULL, NULL
    lay.shared_w1 = lay.shared_squares1 = NULL
    lay.w_off[0] = lay.s_off[0] = lay.x_off[0] = 0
    for l in range(1, L + 1):
        lay.w_off[l] = lay.w_off[l - 1] + (0 if l == 1 else (layers[l - 2] + 1) * layers[l - 1])
        lay.x_off[l] = lay.x_off[l - 1] + layers[l - 1] + 1
        lay.s_off[l] = lay.s_off[l - 1] + (0 if l == 1 else on_line(layers[l - 1]))
    for l in range(L + 1):
        xs[lay.x_off[l]] = 1   # x_0^(l) = 1, the bias node
    return xs


cdef inline double scheduled_lr(int schedule, double lr, double t, double power_t,
                                double alpha) noexcept nogil:
    """The learning rate of update number t = 1, 2, ...: lr; lr / t^power_t
    (invscaling); or lr / (1 + lr alpha (t - 1)) (optimal, Bottou's)."""
    if schedule == INVSCALING:
        return lr / pow(t, power_t)
    if schedule == OPTIMAL:
        return lr / (1 + lr * alpha * (t - 1))
    return lr


cdef inline void load_input(const Layout* lay, floating* xs,
                            const floating* x) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(lay.d[0]):
        xs[i + 1] = x[i]


cdef Rows rows_of(X, floating* kind) except *:
    """The inputs X as Rows: a C-contiguous 2-D array of the network's dtype,
    or checked CSR rows (fastbp._sparse.Rows: data of that dtype, int32
    indices, intp indptr).  X must outlive the Rows.  ``kind`` only selects
    the floating type."""
    cdef Rows rows
    cdef const floating[:, ::1] dense
    cdef const floating[::1] data
    cdef const int[::1] indices
    cdef const Py_ssize_t[::1] indptr
    rows.dense = rows.data = NULL
    rows.indices = NULL
    rows.indptr = NULL
    rows.sparse = hasattr(X, "indptr")
    if rows.sparse:
        data, indices, indptr = X.data, X.indices, X.indptr
        rows.n = indptr.shape[0] - 1
        rows.indptr = &indptr[0]
        if data.shape[0] > 0:
            rows.data, rows.indices = &data[0], &indices[0]
    else:
        dense = X
        rows.n = dense.shape[0]
        if rows.n > 0:
            rows.dense = &dense[0, 0]
    return rows


cdef inline floating* input_row(const Layout* lay, const floating* w, const void* shared,
                                Py_ssize_t i) noexcept nogil:
    """Input i's row of W^(1) (row i + 1; i = 0..d[0]-1) in ``w``, a buffer
    laid out as lay.w_off says (weights, or a state of the same layout);
    for a thread of a sparse Hogwild! pass, the rows of the inputs it keeps
    no copy of are those of ``shared`` (see Layout.slot)."""
    cdef Py_ssize_t n = lay.d[1]
    if lay.slot == NULL:
        return <floating*> w + lay.w_off[1] + (i + 1) * n
    if has_bit(lay.copied, i):      # (a bit a row: in L1, where slot's ints are not)
        return <floating*> w + lay.w_off[1] + (lay.slot[i] + 1) * n
    return <floating*> shared + (i + 1) * n


cdef inline bint load_example(const Layout* lay, const floating* w, const Rows* rows,
                              Py_ssize_t r, floating* xs, floating* ss,
                              double rows_scale=1) noexcept nogil:
    """Example r's input.  Dense: x^(0) into the x scratch; returns False.
    CSR: s^(1) straight into the s scratch, the bias row plus the rows of the
    example's entries times their values (x^(0) is not formed, and costs
    nothing per zero input), those rows times rows_scale (see Lazy);
    returns True (forward_one's have_s1).  The rows of the first
    FBP_SPLIT inputs and of the later ones are summed apart and then added,
    as a dense row's signals are, so that a CSR row and the same row dense
    get the same s^(1)."""
    cdef Py_ssize_t k, n = lay.d[1]
    cdef const floating* W = w + lay.w_off[1]
    cdef const floating* data = <const floating*> rows.data
    cdef floating* s = ss + lay.s_off[1]
    cdef floating* later = xs + lay.x_off[1] + 1    # x^(1)'s place, free until forward_one
    cdef Py_ssize_t first
    cdef bint two_sums
    if not rows.sparse:
        load_input(lay, xs, <const floating*> rows.dense + r * lay.d[0])
        return False
    first = FBP_SPLIT(n, lay.d[0])                  # the inputs of the first sum
    two_sums = first < lay.d[0]
    memcpy(s, W, n * sizeof(floating))
    if two_sums:
        memset(later, 0, n * sizeof(floating))
    for k in range(rows.indptr[r], rows.indptr[r + 1]):
        axpy(n, <floating> (data[k] * rows_scale),
             input_row(lay, w, lay.shared_w1, rows.indices[k]),
             later if rows.indices[k] >= first else s)
    if two_sums:
        axpy(n, 1, later, s)
    return True


cdef inline void sparse_first_layer(const Layout* lay, floating* target, floating scale,
                                    const Rows* rows, Py_ssize_t r,
                                    const floating* ds, double rows_scale=1) noexcept nogil:
    """target_ij^(1) += scale x_i^(0) delta_j^(1) for the bias row and the
    rows of CSR example r's entries: W^(1)'s part of backward, where the
    other rows' x_i^(0) are 0; the entries' rows over rows_scale (see
    Lazy)."""
    cdef Py_ssize_t k, n = lay.d[1]
    cdef floating* T = target + lay.w_off[1]
    cdef const floating* delta = ds + lay.s_off[1]
    cdef const floating* data = <const floating*> rows.data
    cdef double entry_scale = scale / rows_scale
    axpy(n, scale, delta, T)
    for k in range(rows.indptr[r], rows.indptr[r + 1]):
        axpy(n, <floating> (entry_scale * data[k]), delta,
             input_row(lay, target, lay.shared_w1, rows.indices[k]))


cdef inline void times_gprime(int act, const floating* x, floating* d, Py_ssize_t n) noexcept nogil:
    """d_i *= g'(s_i) for one layer, from x_i = g(s_i); one loop per activation
    so that the compiler can vectorise each.  IDENTITY: g' = 1, nothing to
    do; SOFTMAX is only an output, of cross-entropy, whose delta^(L) = x - y
    takes no g'."""
    cdef Py_ssize_t i
    cdef floating one = 1       # float32 layers in float arithmetic, not double
    if act == TANH:
        for i in range(n):
            d[i] *= one - x[i] * x[i]
    elif act == SIGMOID:
        for i in range(n):
            d[i] *= x[i] * (one - x[i])
    elif act == RELU:
        for i in range(n):
            d[i] = d[i] if x[i] > 0 else 0
    elif act == LEAKY_RELU:
        for i in range(n):
            d[i] = d[i] if x[i] > 0 else <floating> LEAKY_SLOPE * d[i]
    elif act == EXP:
        for i in range(n):
            d[i] *= x[i]


cdef inline void activate(int act, const floating* s, floating* x, Py_ssize_t n) noexcept nogil:
    """x_j = g(s_j) for one layer."""
    cdef Py_ssize_t j
    cdef double top, total
    if act == IDENTITY:
        for j in range(n):
            x[j] = s[j]
    elif act == TANH:      # vectorised, in _kernels.h: no libm call
        tanh_rows(n, s, x)
    elif act == SIGMOID:
        for j in range(n):
            x[j] = 1 / (1 + exp(-s[j]))
    elif act == RELU:
        for j in range(n):
            x[j] = s[j] if s[j] > 0 else 0
    elif act == LEAKY_RELU:
        for j in range(n):
            x[j] = s[j] if s[j] > 0 else <floating> LEAKY_SLOPE * s[j]
    elif act == EXP:
        for j in range(n):
            x[j] = exp(s[j])
    else:  # SOFTMAX, shifted by the largest signal so exp cannot overflow
        top = s[0]
        for j in range(1, n):
            if s[j] > top:
                top = s[j]
        total = 0
        for j in range(n):
            x[j] = exp(s[j] - top)
            total += x[j]
        for j in range(n):
            x[j] = x[j] / total


cdef inline void forward_one(const Layout* lay, const floating* w, floating* xs, floating* ss,
                             bint have_s1=False) noexcept nogil:
    """s_j^(l) = sum_i w_ij^(l) x_i^(l-1), x_j^(l) = g(s_j^(l)) for l = 1..L.

    x^(0) must already be in the x scratch, and s^(1) too where have_s1 (the
    previous example's update computed it)."""
    cdef Py_ssize_t l
    cdef floating* s
    for l in range(1, lay.L + 1):
        s = ss + lay.s_off[l]
        if l > 1 or not have_s1:
            signals(lay.d[l - 1], lay.d[l], w + lay.w_off[l], xs + lay.x_off[l - 1], s)
        activate(lay.act[l], s, xs + lay.x_off[l] + 1, lay.d[l])


cdef inline double output_delta(const Layout* lay, const floating* xs, const floating* ss,
                                const floating* y, floating* ds) noexcept nogil:
    """Base step: delta^(L) = de/ds^(L) into the delta scratch; returns e."""
    cdef Py_ssize_t k, n = lay.d[lay.L]
    cdef int act = lay.act[lay.L]
    cdef const floating* x = xs + lay.x_off[lay.L] + 1
    cdef const floating* s = ss + lay.s_off[lay.L]
    cdef floating* delta = ds + lay.s_off[lay.L]
    cdef double e = 0, diff, top, total
    if lay.loss == SQUARED:
        # e = 1/2 sum_k (x_k - y_k)^2, delta_k = (x_k - y_k) g'(s_k)   (1)
        for k in range(n):
            delta[k] = x[k] - y[k]      # in the layer's type: the next example waits on it
            diff = <double> x[k] - y[k]
            e += 0.5 * diff * diff
        times_gprime(act, x, delta, n)
        return e
    # CROSS_ENTROPY with a sigmoid or softmax output, POISSON with an exp
    # output: delta_k = x_k - y_k
    for k in range(n):
        delta[k] = x[k] - y[k]
    if lay.loss == POISSON:
        # e = y log(y / x) - y + x, with log x = s
        for k in range(n):
            e += (y[k] * log(y[k]) if y[k] > 0 else 0) - y[k] * s[k] - y[k] + x[k]
        return e
    if act == SIGMOID:
        # -[y log x + (1-y) log(1-x)] = softplus(s) - y s, in a form that cannot overflow
        for k in range(n):
            if s[k] > 0:
                e += s[k] + log1p(exp(-s[k])) - y[k] * s[k]
            else:
                e += log1p(exp(s[k])) - y[k] * s[k]
        return e
    # softmax: -sum_k y_k log x_k = sum_k y_k (logsumexp(s) - s_k)
    top = s[0]
    for k in range(1, n):
        if s[k] > top:
            top = s[k]
    total = 0
    for k in range(n):
        total += exp(s[k] - top)
    top += log(total)
    for k in range(n):
        e += y[k] * (top - s[k])
    return e


cdef inline void backward(const Layout* lay, const floating* w, floating* target, floating scale,
                          const floating* xs, floating* ds, const floating* xn=NULL,
                          floating* s1=NULL, floating shrink=1, Py_ssize_t lowest=1) noexcept nogil:
    """Induction step fused with the use of each gradient, one pass per block.

    For l = L..lowest and every row i of W^(l):
        target_ij += scale * x_i^(l-1) * delta_j^(l)
        delta_i^(l-1) = g'(s_i^(l-1)) * sum_j w_ij^(l) delta_j^(l)      (2)
    With target = w and scale = -lr this is the SGD update, done in place:
    each row's sum is taken before that row is written, so delta^(l-1) uses
    the weights from before the update.  With shrink != 1 (in place only) the
    rows i >= 1 are scaled by shrink first: shrink = 1 - lr wd is weight decay
    without momentum, with no velocity to read or write.  With target a
    gradient buffer it accumulates de/dw_ij^(l) = x_i^(l-1) delta_j^(l).
    Where xn (the next example's inputs, x_1..x_d of x^(0)) is not NULL, the
    pass over W^(1) also leaves that example's s^(1) in s1, from the updated
    weights (target must be w).
    """
    cdef Py_ssize_t l, n_in, n_out
    cdef floating* target_l
    cdef const floating* x_prev
    cdef const floating* delta
    cdef floating* delta_prev
    for l in range(lay.L, lowest - 1, -1):
        n_in = lay.d[l - 1]
        n_out = lay.d[l]
        target_l = target + lay.w_off[l]
        x_prev = xs + lay.x_off[l - 1]
        delta = ds + lay.s_off[l]
        axpy(n_out, scale, delta, target_l)          # row 0: x_0 = 1 (biases are not decayed)
        if l == 1:                            # delta^(0) is not needed
            if shrink == 1:
                rank1(n_in, n_out, scale, x_prev, delta, target_l, xn, s1)
            else:
                decay_rank1(n_in, n_out, scale, shrink, x_prev, delta, target_l, xn, s1)
            continue
        delta_prev = ds + lay.s_off[l - 1]
        if shrink != 1:                         # weight decay, in place
            decay_dot_update(n_in, n_out, scale, shrink, x_prev, delta, target_l, delta_prev)
        elif target_l == w + lay.w_off[l]:           # the SGD update, in place
            dot_update(n_in, n_out, scale, x_prev, delta, target_l, delta_prev)
        else:
            dot_rank1(n_in, n_out, scale, x_prev, delta, w + lay.w_off[l], target_l, delta_prev)
        times_gprime(lay.act[l - 1], x_prev + 1, delta_prev, n_in)


cdef inline void hidden_deltas(const Layout* lay, const floating* w, const floating* xs,
                               floating* ds) noexcept nogil:
    """Induction step alone, weights unchanged: delta^(l-1) from delta^(l) by
    (2) for l = L..2 (delta^(L) already in the delta scratch)."""
    cdef Py_ssize_t l
    cdef floating* delta_prev
    for l in range(lay.L, 1, -1):
        delta_prev = ds + lay.s_off[l - 1]
        row_dots(lay.d[l - 1], lay.d[l], w + lay.w_off[l], ds + lay.s_off[l], delta_prev)
        times_gprime(lay.act[l - 1], xs + lay.x_off[l - 1] + 1, delta_prev, lay.d[l - 1])


cdef void backward_momentum(const Layout* lay, floating* w, floating* v, floating lr,
                            floating mu, int nesterov, floating wd,
                            const floating* xs, floating* ds, const floating* xn=NULL,
                            floating* s1=NULL, Py_ssize_t lowest=1) noexcept nogil:
    """The backward pass fused with an update with momentum and weight decay.

    For l = L..1 and every row i of W^(l), with g_ij = x_i^(l-1) delta_j^(l)
    + wd w_ij^(l) (no wd on the bias row i = 0):
        v_ij <- mu v_ij - lr g_ij,   w_ij <- w_ij + v_ij
        (Nesterov: w_ij <- w_ij + mu v_ij - lr g_ij, with the new v_ij)
        delta_i^(l-1) = g'(s_i^(l-1)) * sum_j w_ij^(l) delta_j^(l)   (2)
    each row's sum taken with its weights from before the update.  xn and s1
    as in backward(), for classical momentum without weight decay only;
    lowest as in backward().
    """
    cdef Py_ssize_t l, n_in, n_out
    cdef floating* W
    cdef floating* V
    cdef const floating* x_prev
    cdef const floating* delta
    cdef floating* delta_prev
    cdef bint classical = not nesterov and wd == 0
    for l in range(lay.L, lowest - 1, -1):
        n_in = lay.d[l - 1]
        n_out = lay.d[l]
        W = w + lay.w_off[l]
        V = v + lay.w_off[l]
        x_prev = xs + lay.x_off[l - 1]
        delta = ds + lay.s_off[l]
        delta_prev = ds + lay.s_off[l - 1]
        momentum_row(n_out, 1, 0, lr, mu, nesterov, delta, W, V)     # row 0: x_0 = 1
        if l == 1 and classical:
            classical_rank1(n_in, n_out, lr, mu, x_prev, delta, W, V, xn, s1)
        elif l == 1:
            momentum_rows(n_in, n_out, wd, lr, mu, nesterov, x_prev, delta, W, V, NULL)
        else:
            if classical:
                classical_dot_update(n_in, n_out, lr, mu, x_prev, delta, W, V, delta_prev)
            else:
                momentum_rows(n_in, n_out, wd, lr, mu, nesterov, x_prev, delta, W, V,
                              delta_prev)
            times_gprime(lay.act[l - 1], x_prev + 1, delta_prev, n_in)


cdef void apply_batch(const Layout* lay, floating* w, floating* v, floating* grad,
                      Py_ssize_t n_weights, floating inv_m, floating lr, floating mu,
                      int nesterov, floating wd) noexcept nogil:
    """The update of a mini-batch of m examples from the sum of their
    gradients: g = grad / m + wd w (no wd on the bias rows), then
    v <- mu v - lr g, w <- w + v (Nesterov: w + mu v - lr g); without
    momentum (mu = 0) w <- w - lr g, and v (which may be NULL) is not
    touched.  grad is cleared.

    With momentum the rows go through the per-example momentum kernel, with
    the summed gradient row in place of delta and 1 / m in place of x_i."""
    cdef Py_ssize_t l, i, j, n_out, at
    cdef floating decay
    for l in range(1, lay.L + 1):
        n_out = lay.d[l]
        for i in range(lay.d[l - 1] + 1):
            at = lay.w_off[l] + i * n_out
            decay = 0 if i == 0 else wd
            if mu == 0:
                for j in range(at, at + n_out):
                    w[j] -= lr * (inv_m * grad[j] + decay * w[j])
            else:
                momentum_row(n_out, inv_m, decay, lr, mu, nesterov, grad + at, w + at, v + at)
    memset(grad, 0, n_weights * sizeof(floating))


cdef inline double adaptive_rate(const Step* step, double rate, double t) noexcept nogil:
    """The step size of update t: Adam's bias-corrected lr sqrt(1 - beta_2^k)
    / (1 - beta_1^k) (as scikit-learn's), k = t - moments_from its own step
    count; Adagrad's lr."""
    cdef double k = t - step.moments_from
    if step.optimizer == ADAM:
        return rate * sqrt(1 - pow(step.beta_2, k)) / (1 - pow(step.beta_1, k))
    return rate


cdef inline floating adaptive_row(Py_ssize_t n, floating a, floating wd, const floating* delta,
                                  floating* w, floating* m, floating* squares, const Step* step,
                                  floating rate) noexcept nogil:
    """One row of an Adam or Adagrad update with g_j = a delta_j + wd w_j;
    returns sum_j w_j delta_j with the weights from before it.
    Adam:    m_j <- beta_1 m_j + (1 - beta_1) g_j,  v_j <- beta_2 v_j + (1 - beta_2) g_j^2,
             w_j <- w_j - rate m_j / (sqrt(v_j) + epsilon)
    Adagrad: v_j <- v_j + g_j^2,  w_j <- w_j - rate g_j / (sqrt(v_j) + epsilon)
    (v is ``squares``; rate as adaptive_rate gives it)."""
    cdef floating b1 = <floating> step.beta_1, b2 = <floating> step.beta_2
    cdef floating eps = <floating> step.epsilon
    if step.optimizer == ADAM:
        return <floating> adam_row(n, a, wd, b1, b2, eps, rate, delta, w, m, squares)
    return <floating> adagrad_row(n, a, wd, eps, rate, delta, w, squares)


cdef void adaptive_update(const Layout* lay, floating* w, floating* moments, floating* grad,
                          Py_ssize_t n_weights, Py_ssize_t in_batch, const Step* step,
                          double scheduled, double t, const floating* xs,
                          floating* ds, const Rows* rows, Py_ssize_t r) noexcept nogil:
    """Update t of Adam or Adagrad (adaptive_row) on every row, no weight
    decay on the bias rows, at the schedule's rate ``scheduled``; moments
    holds Adam's m then v, or Adagrad's sums of squares.  Per example
    (batch_size 1): fused with the induction step (2), each row's sum taken
    with its weights from before the update; for a CSR example (row r of
    ``rows``), W^(1)'s bias row and the rows of its entries only (lazily, as
    torch's SparseAdam: the other rows, their moments and their weight
    decay wait).  For a mini-batch: from the summed gradient of its
    in_batch examples in ``grad`` (times 1 / in_batch, in place of x_i),
    which is then cleared."""
    cdef Py_ssize_t l, i, k, n_in, n_out, at
    cdef const floating* data = <const floating*> rows.data
    cdef floating acc, wd = <floating> step.weight_decay
    cdef floating rate = <floating> adaptive_rate(step, scheduled, t)
    cdef floating inv_m = 1.0 / in_batch if step.batch > 1 else 1
    cdef floating* m = moments if step.optimizer == ADAM else NULL
    cdef floating* squares = moments + n_weights if step.optimizer == ADAM else moments
    cdef const floating* x_prev
    cdef const floating* delta
    cdef floating* delta_prev
    if step.batch == 1:
        grad = NULL
    for l in range(lay.L, 0, -1):
        n_in, n_out = lay.d[l - 1], lay.d[l]
        x_prev = xs + lay.x_off[l - 1]
        delta = ds + lay.s_off[l]
        delta_prev = ds + lay.s_off[l - 1]
        if l == 1 and rows.sparse and grad == NULL:
            adaptive_row(n_out, 1, 0, delta, w + lay.w_off[1],
                         m + lay.w_off[1] if m != NULL else NULL, squares + lay.w_off[1], step,
                         rate)
            for k in range(rows.indptr[r], rows.indptr[r + 1]):
                i = rows.indices[k]     # Adam's m only where every row is w's (one thread)
                adaptive_row(n_out, data[k], wd, delta, input_row(lay, w, lay.shared_w1, i),
                             input_row(lay, m, NULL, i) if m != NULL else NULL,
                             input_row(lay, squares, lay.shared_squares1, i), step, rate)
            continue
        for i in range(n_in + 1):
            at = lay.w_off[l] + i * n_out
            if grad != NULL:
                adaptive_row(n_out, inv_m, 0 if i == 0 else wd, grad + at, w + at,
                             m + at if m != NULL else NULL, squares + at, step, rate)
                continue
            acc = adaptive_row(n_out, x_prev[i], 0 if i == 0 else wd, delta, w + at,
                               m + at if m != NULL else NULL, squares + at, step, rate)
            if i > 0 and l > 1:
                delta_prev[i - 1] = acc
        if grad == NULL and l > 1:
            times_gprime(lay.act[l - 1], x_prev + 1, delta_prev, n_in)
    if grad != NULL:
        memset(grad, 0, n_weights * sizeof(floating))


cdef inline bint tiny(const Layout* lay, const Step* step, const Rows* rows,
                      const floating* kind) noexcept nogil:
    """Whether fbp_tiny_sgd runs the pass: plain SGD at a constant rate, one
    example at a time, no average, the squared error, dense rows, and a tiny
    network: one hidden layer, tanh or identity layers, every width's values
    within FBP_TINY bytes (8 float32, 4 float64).  ``kind`` only selects the
    floating type."""
    cdef Py_ssize_t l
    if (rows.sparse or step.batch != 1 or step.optimizer != SGD or step.momentum != 0
            or step.weight_decay != 0 or step.schedule != CONSTANT or step.average_from >= 1
            or lay.loss != SQUARED or lay.L != 2):
        return False
    for l in range(3):
        if lay.d[l] * <Py_ssize_t> sizeof(floating) > FBP_TINY:
            return False
        if l > 0 and lay.act[l] != TANH and lay.act[l] != IDENTITY:
            return False
    return True


cdef enum UpdateRule:       # how train_share updates after an example (or a batch)
    PLAIN_RULE              # SGD, maybe with weight decay, dense X, one example
    MOMENTUM_RULE           # SGD with momentum (and weight decay), dense X, one example
    SPARSE_PLAIN_RULE       # SGD, maybe with weight decay, CSR X
    SPARSE_MOMENTUM_RULE    # SGD with momentum, CSR X
    BATCH_RULE              # SGD with or without momentum, a mini-batch's gradient
    ADAPTIVE_RULE           # ADAM, ADAGRAD


cdef inline int update_rule(const Step* step, const Rows* rows) noexcept nogil:
    """The rule of a pass's updates, chosen once (SGD, ADAM, ADAGRAD and the
    options of SGD)."""
    if step.optimizer != SGD:
        return ADAPTIVE_RULE
    if step.batch > 1:
        return BATCH_RULE
    if rows.sparse:
        return SPARSE_PLAIN_RULE if step.momentum == 0 else SPARSE_MOMENTUM_RULE
    return PLAIN_RULE if step.momentum == 0 else MOMENTUM_RULE


cdef inline void sparse_plain_update(const Layout* lay, floating* w, floating rate,
                                     double weight_decay, const Rows* rows, Py_ssize_t r,
                                     floating* xs, floating* ds, Lazy* lazy) noexcept nogil:
    """SGD on a CSR example, maybe with weight decay: layers L..2 as dense,
    then W^(1)'s bias row and the example's entries' rows (the others'
    decay kept lazily where ``lazy``)."""
    cdef floating shrink = 1 - rate * weight_decay
    backward(lay, w, w, -rate, xs, ds, NULL, NULL, shrink, 2)
    if lazy != NULL:
        decay_rows(lay, w, lazy, shrink)
    sparse_first_layer(lay, w, -rate, rows, r, ds, lazy.scale if lazy != NULL else 1)


cdef inline void sparse_momentum_update(const Layout* lay, floating* w, floating* v,
                                        floating rate, const Step* step, const Rows* rows,
                                        Py_ssize_t r, floating* xs, floating* ds, Lazy* lazy,
                                        Py_ssize_t updates) noexcept nogil:
    """SGD with momentum (no weight decay) on a CSR example: layers L..2 as
    dense, then W^(1)'s rows (sparse_momentum)."""
    backward_momentum(lay, w, v, rate, step.momentum, step.nesterov, 0, xs, ds, NULL, NULL, 2)
    sparse_momentum(lay, w, v, rate, step.momentum, step.nesterov, rows, r, ds, lazy, updates)


cdef Py_ssize_t train_share(const Layout* lay, floating* w, floating* v, floating* avg,
                            Py_ssize_t n_weights, const Rows* rows, const floating* Y,
                            const floating* sample_weight, const Py_ssize_t* order,
                            Py_ssize_t n, const Step* step, Py_ssize_t t_first, floating* xs,
                            double* total, Lazy* lazy=NULL) noexcept nogil:
    """Per-example SGD over the n rows ``order`` of ``rows``, the loop of train_pass
    on one thread; adds the errors to ``total`` and returns the examples done.
    xs is its scratch: x, s, delta, then (batch > 1) the gradient buffer.
    Its u-th update (u = 0, 1, ...) is update number t_done + t_first +
    u * t_stride + 1 of the schedules and the average.  (Returned, not
    written through a pointer, so that a prange's variable taking it is
    private to its thread.)  Adam and Adagrad keep their state in
    step.moments.  With ``lazy`` (CSR rows, plain SGD with weight decay or
    momentum, one thread) W^(1)'s rows 1..d[0] are brought up to date
    lazily: see _lazy.pxi.  A tiny network's plain SGD runs in
    fbp_tiny_sgd instead (see tiny).  Subnormal numbers are taken as 0
    meanwhile (fbp_subnormals_off)."""
    cdef Py_ssize_t d_in = lay.d[0], d_out = lay.d[lay.L]
    cdef floating* ss = xs + lay.n_x
    cdef floating* ds = ss + lay.n_s
    cdef floating* grad = ds + lay.n_s
    cdef floating* delta_L = ds + lay.s_off[lay.L]
    cdef Py_ssize_t k, r, j, done = 0, updates = 0, in_batch = 0
    cdef double e, t, errors = 0
    cdef floating rate = step.lr, minus_rate = -step.lr, weight = 1
    # Per-example plain SGD, weight decay alone and classical momentum (no
    # weight decay) take the next example's s^(1) in their pass over W^(1),
    # saving the forward pass that read (dense rows: a CSR example's s^(1)
    # reads only its entries' rows).
    cdef bint fuse = (step.batch == 1 and not step.nesterov and step.optimizer == SGD
                      and (step.weight_decay == 0 or step.momentum == 0) and not rows.sparse)
    cdef const floating* X = <const floating*> rows.dense
    cdef bint have_s1 = False
    cdef const floating* x_next = NULL   # the next example's inputs, when fused
    # Prefetch the example this many ahead: about 2 KiB of inputs in flight.
    cdef Py_ssize_t x_bytes = d_in * sizeof(floating), y_bytes = d_out * sizeof(floating)
    cdef Py_ssize_t ahead = max(1, min(16, 2048 // x_bytes))
    cdef int rule = update_rule(step, rows)
    cdef unsigned int fp_mode = fbp_subnormals_off()
    if lazy == NULL and tiny(lay, step, rows, w):   # the whole loop in registers
        done = tiny_sgd(lay.d, lay.act[1] == TANH, lay.act[2] == TANH, w, minus_rate,
                        <floating> step.clip, X, Y, sample_weight, order, n, total)
        fbp_fp_restore(fp_mode)
        return done
    for k in range(n):
        if k + ahead < n:
            if not rows.sparse:
                fbp_prefetch(X + order[k + ahead] * d_in, x_bytes)
            fbp_prefetch(Y + order[k + ahead] * d_out, y_bytes)
        r = order[k]
        if lazy != NULL and lazy.last != NULL:        # its entries' rows up to date
            for j in range(rows.indptr[r], rows.indptr[r + 1]):
                catch_up(lay, w, v, lazy, rows.indices[j], step.momentum, step.nesterov,
                         updates)
        have_s1 = load_example(lay, w, rows, r, xs, ss,
                               lazy.scale if lazy != NULL else 1) or have_s1
        forward_one(lay, w, xs, ss, have_s1)
        e = output_delta(lay, xs, ss, Y + r * d_out, ds)
        if not isfinite(e):
            break
        have_s1 = fuse and k + 1 < n
        x_next = X + order[k + 1] * d_in if have_s1 else NULL
        if step.clip > 0:
            for j in range(d_out):
                delta_L[j] = min(max(delta_L[j], -step.clip), step.clip)
        if sample_weight != NULL:
            weight = sample_weight[r]
            for j in range(d_out):
                delta_L[j] *= weight
        errors += weight * e
        done += 1
        if step.batch > 1:                  # sum the gradient; update at the batch's end
            backward(lay, w, grad, 1, xs, ds)
            in_batch += 1
            if in_batch < step.batch and k < n - 1:
                continue
        t = step.t_done + t_first + updates * step.t_stride + 1    # the number of this update
        updates += 1
        if step.schedule != CONSTANT:
            rate = scheduled_lr(step.schedule, step.lr, t, step.power_t, step.weight_decay)
            minus_rate = -rate
        if rule == PLAIN_RULE:              # plain SGD, or with weight decay: keep < 1
            backward(lay, w, w, minus_rate, xs, ds, x_next, ss, 1 - rate * step.weight_decay)
        elif rule == MOMENTUM_RULE:
            backward_momentum(lay, w, v, rate, step.momentum, step.nesterov, step.weight_decay,
                              xs, ds, x_next, ss)
        elif rule == SPARSE_PLAIN_RULE:
            sparse_plain_update(lay, w, rate, step.weight_decay, rows, r, xs, ds, lazy)
        elif rule == SPARSE_MOMENTUM_RULE:
            sparse_momentum_update(lay, w, v, rate, step, rows, r, xs, ds, lazy, updates)
        elif rule == BATCH_RULE:
            apply_batch(lay, w, v, grad, n_weights, 1.0 / in_batch, rate, step.momentum,
                        step.nesterov, step.weight_decay)
            in_batch = 0
        else:                               # ADAPTIVE_RULE: ADAM, ADAGRAD
            adaptive_update(lay, w, <floating*> step.moments, grad, n_weights, in_batch, step,
                            rate, t, xs, ds, rows, r)
            in_batch = 0
        if step.average_from >= 1 and t >= step.average_from:
            running_mean(n_weights, 1 / (t - step.average_from + 1), w, avg)
    if lazy != NULL:
        settle_rows(lay, w, v, lazy, step.momentum, step.nesterov, updates)
    fbp_fp_restore(fp_mode)
    total[0] += errors
    return done
