# cython: language_level=3, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False
"""Compiled backend: backpropagation on one contiguous weight buffer.

Notation is the seed's (Abu-Mostafa, "Learning From Data", lecture 10):
layers l = 0..L with d[l] nodes, weights w_ij^(l) from node i of layer l-1
to node j of layer l, signals s^(l), outputs x^(l) = g(s^(l)), sensitivities
delta^(l) = de/ds^(l).  Layer l's weights are the row-major block
(d[l-1]+1, d[l]) of ``flat`` that starts at w_off[l]; row 0 holds the bias
weights w_0j.

Every function takes the same description of the network:
``layers`` (intp, d[0..L]), ``acts`` (intc, acts[l] is the activation code of
layer l; acts[0] is unused) and, where an error is needed, ``loss`` (a loss
code).  Codes are indices into ACTIVATIONS and LOSSES.  The Python layer
(fastbp.network) validates every argument: nothing here checks bounds.

Scratch (outputs with their bias slot x_0 = 1, signals, deltas) is allocated
once per call, with the layer offsets, and reused for every example.
"""

from cython cimport floating
import numpy as np
from libc.math cimport exp, log, log1p, isfinite, pow
from libc.stdlib cimport calloc, malloc, free
from libc.string cimport memcpy, memset
from cython.parallel cimport prange

cdef extern from "_kernels.h" nogil:
    int FBP_OPENMP
    const char* FBP_SIMD
    int fbp_max_threads()
    Py_ssize_t fbp_claim(Py_ssize_t* next, Py_ssize_t count)
    Py_ssize_t fbp_load(const Py_ssize_t* flag)
    void fbp_store(Py_ssize_t* flag, Py_ssize_t value)
    void fbp_spin()
    void fbp_prefetch(const void* p, Py_ssize_t n)
    void fbp_axpy_d(Py_ssize_t n, double a, const double* x, double* y)
    void fbp_axpy_f(Py_ssize_t n, float a, const float* x, float* y)
    void fbp_dot_rank1_d(Py_ssize_t n_in, Py_ssize_t n, double scale, const double* x,
                         const double* delta, const double* W, double* T, double* dots)
    void fbp_dot_rank1_f(Py_ssize_t n_in, Py_ssize_t n, float scale, const float* x,
                         const float* delta, const float* W, float* T, float* dots)
    void fbp_decay_rank1_d(Py_ssize_t n_in, Py_ssize_t n, double scale, double keep,
                           const double* x, const double* delta, double* W, const double* xn,
                           double* s)
    void fbp_decay_rank1_f(Py_ssize_t n_in, Py_ssize_t n, float scale, float keep,
                           const float* x, const float* delta, float* W, const float* xn,
                           float* s)
    void fbp_decay_dot_update_d(Py_ssize_t n_in, Py_ssize_t n, double scale, double keep,
                                const double* x, const double* delta, double* W, double* dots)
    void fbp_decay_dot_update_f(Py_ssize_t n_in, Py_ssize_t n, float scale, float keep,
                                const float* x, const float* delta, float* W, float* dots)
    void fbp_dot_update_d(Py_ssize_t n_in, Py_ssize_t n, double scale, const double* x,
                          const double* delta, double* W, double* dots)
    void fbp_dot_update_f(Py_ssize_t n_in, Py_ssize_t n, float scale, const float* x,
                          const float* delta, float* W, float* dots)
    void fbp_classical_dot_update_d(Py_ssize_t n_in, Py_ssize_t n, double scale, double mu,
                                    const double* x, const double* delta, double* W,
                                    double* V, double* dots)
    void fbp_classical_dot_update_f(Py_ssize_t n_in, Py_ssize_t n, float scale, float mu,
                                    const float* x, const float* delta, float* W, float* V,
                                    float* dots)
    void fbp_tanh_d(Py_ssize_t n, const double* s, double* x)
    void fbp_tanh_f(Py_ssize_t n, const float* s, float* x)
    void fbp_signals_d(Py_ssize_t n_in, Py_ssize_t n, const double* W, const double* x, double* s)
    void fbp_signals_f(Py_ssize_t n_in, Py_ssize_t n, const float* W, const float* x, float* s)
    double fbp_momentum_row_d(Py_ssize_t n, double a, double wd, double lr, double mu,
                              int nesterov, const double* delta, double* w, double* v)
    float fbp_momentum_row_f(Py_ssize_t n, float a, float wd, float lr, float mu,
                             int nesterov, const float* delta, float* w, float* v)
    void fbp_momentum_rows_d(Py_ssize_t n_in, Py_ssize_t n, double wd, double lr, double mu,
                             int nesterov, const double* x, const double* delta, double* W,
                             double* V, double* dots)
    void fbp_momentum_rows_f(Py_ssize_t n_in, Py_ssize_t n, float wd, float lr, float mu,
                             int nesterov, const float* x, const float* delta, float* W,
                             float* V, float* dots)
    void fbp_running_mean_d(Py_ssize_t n, double inv_k, const double* w, double* avg)
    void fbp_running_mean_f(Py_ssize_t n, float inv_k, const float* w, float* avg)
    void fbp_rank1_d(Py_ssize_t n_in, Py_ssize_t n, double scale, const double* x,
                     const double* delta, double* T, const double* xn, double* s)
    void fbp_rank1_f(Py_ssize_t n_in, Py_ssize_t n, float scale, const float* x,
                     const float* delta, float* T, const float* xn, float* s)
    void fbp_classical_rank1_d(Py_ssize_t n_in, Py_ssize_t n, double scale, double mu,
                               const double* x, const double* delta, double* W, double* V,
                               const double* xn, double* s)
    void fbp_classical_rank1_f(Py_ssize_t n_in, Py_ssize_t n, float scale, float mu,
                               const float* x, const float* delta, float* W, float* V,
                               const float* xn, float* s)


ACTIVATIONS = ("identity", "tanh", "sigmoid", "relu", "leaky_relu", "softmax")
LOSSES = ("squared", "cross_entropy")

cdef enum:
    IDENTITY = 0
    TANH = 1
    SIGMOID = 2
    RELU = 3
    LEAKY_RELU = 4
    SOFTMAX = 5

cdef enum:
    SQUARED = 0
    CROSS_ENTROPY = 1

SCHEDULES = ("constant", "invscaling", "optimal")

cdef enum:
    CONSTANT = 0
    INVSCALING = 1
    OPTIMAL = 2

cdef double LEAKY_SLOPE = 0.01


cdef struct Layout:
    Py_ssize_t L
    const Py_ssize_t* d     # d[0..L]
    const int* act          # act[1..L]
    int loss
    Py_ssize_t* w_off       # start of block l in flat, l = 1..L
    Py_ssize_t* x_off       # start of x^(l) = (1, x_1..x_d) in the x scratch, l = 0..L
    Py_ssize_t* s_off       # start of s^(l) and delta^(l) in their scratch, l = 1..L
    Py_ssize_t n_x          # length of the x scratch
    Py_ssize_t n_s          # length of the s (and delta) scratch


# The row kernels of _kernels.h, one name for both floating types.

cdef inline void axpy(Py_ssize_t n, floating a, const floating* x, floating* y) noexcept nogil:
    """y[j] += a * x[j]"""
    if floating is double:
        fbp_axpy_d(n, a, x, y)
    else:
        fbp_axpy_f(n, a, x, y)


cdef inline void signals(Py_ssize_t n_in, Py_ssize_t n, const floating* W,
                         const floating* x, floating* s) noexcept nogil:
    """s_j = sum_{i=0..n_in} W[i, j] x_i for one layer (x_0 = 1)."""
    if floating is double:
        fbp_signals_d(n_in, n, W, x, s)
    else:
        fbp_signals_f(n_in, n, W, x, s)


cdef inline void rank1(Py_ssize_t n_in, Py_ssize_t n, floating scale, const floating* x,
                       const floating* delta, floating* T, const floating* xn,
                       floating* s) noexcept nogil:
    """T[i, j] += scale * x_i * delta_j for i = 1..n_in (row 0 done before);
    where xn (the next example's inputs) is not NULL, also
    s_j = T[0, j] + sum_i T[i, j] xn_(i-1) after the update (the next
    example's signals, exactly as signals() would give them)."""
    if floating is double:
        fbp_rank1_d(n_in, n, scale, x, delta, T, xn, s)
    else:
        fbp_rank1_f(n_in, n, scale, x, delta, T, xn, s)


cdef inline void classical_rank1(Py_ssize_t n_in, Py_ssize_t n, floating lr, floating mu,
                                 const floating* x, const floating* delta, floating* W,
                                 floating* V, const floating* xn, floating* s) noexcept nogil:
    """v_ij <- mu v_ij - lr x_i delta_j, w_ij <- w_ij + v_ij for i = 1..n_in,
    with xn and s as in rank1()."""
    if floating is double:
        fbp_classical_rank1_d(n_in, n, lr, mu, x, delta, W, V, xn, s)
    else:
        fbp_classical_rank1_f(n_in, n, lr, mu, x, delta, W, V, xn, s)


cdef inline void decay_rank1(Py_ssize_t n_in, Py_ssize_t n, floating scale, floating keep,
                             const floating* x, const floating* delta, floating* W,
                             const floating* xn, floating* s) noexcept nogil:
    """W[i, j] <- keep W[i, j] + scale x_i delta_j for i = 1..n_in; xn and s
    as in rank1."""
    if floating is double:
        fbp_decay_rank1_d(n_in, n, scale, keep, x, delta, W, xn, s)
    else:
        fbp_decay_rank1_f(n_in, n, scale, keep, x, delta, W, xn, s)


cdef inline void decay_dot_update(Py_ssize_t n_in, Py_ssize_t n, floating scale,
                                  floating keep, const floating* x, const floating* delta,
                                  floating* W, floating* dots) noexcept nogil:
    """dots[i-1] = sum_j W[i, j] delta_j (W before the update) and
    W[i, j] <- keep W[i, j] + scale x_i delta_j, for i = 1..n_in."""
    if floating is double:
        fbp_decay_dot_update_d(n_in, n, scale, keep, x, delta, W, dots)
    else:
        fbp_decay_dot_update_f(n_in, n, scale, keep, x, delta, W, dots)


cdef inline void dot_rank1(Py_ssize_t n_in, Py_ssize_t n, floating scale, const floating* x,
                           const floating* delta, const floating* W, floating* T,
                           floating* dots) noexcept nogil:
    """dots[i-1] = sum_j W[i, j] delta_j (W before the update) and
    T[i, j] += scale * x_i * delta_j, for i = 1..n_in; T may be W."""
    if floating is double:
        fbp_dot_rank1_d(n_in, n, scale, x, delta, W, T, dots)
    else:
        fbp_dot_rank1_f(n_in, n, scale, x, delta, W, T, dots)


cdef inline void dot_update(Py_ssize_t n_in, Py_ssize_t n, floating scale, const floating* x,
                            const floating* delta, floating* W, floating* dots) noexcept nogil:
    """dot_rank1 with T = W, each weight loaded once."""
    if floating is double:
        fbp_dot_update_d(n_in, n, scale, x, delta, W, dots)
    else:
        fbp_dot_update_f(n_in, n, scale, x, delta, W, dots)


cdef inline void classical_dot_update(Py_ssize_t n_in, Py_ssize_t n, floating lr, floating mu,
                                      const floating* x, const floating* delta, floating* W,
                                      floating* V, floating* dots) noexcept nogil:
    """dot_update with classical momentum: v_ij <- mu v_ij - lr x_i delta_j,
    w_ij <- w_ij + v_ij; dots[i-1] with the weights from before."""
    if floating is double:
        fbp_classical_dot_update_d(n_in, n, lr, mu, x, delta, W, V, dots)
    else:
        fbp_classical_dot_update_f(n_in, n, lr, mu, x, delta, W, V, dots)


cdef inline floating momentum_row(Py_ssize_t n, floating a, floating wd, floating lr,
                                 floating mu, int nesterov, const floating* delta,
                                 floating* w, floating* v) noexcept nogil:
    """One row of the momentum / weight-decay update; returns sum_j w_j delta_j
    with the weights from before it."""
    if floating is double:
        return fbp_momentum_row_d(n, a, wd, lr, mu, nesterov, delta, w, v)
    else:
        return fbp_momentum_row_f(n, a, wd, lr, mu, nesterov, delta, w, v)


cdef inline void momentum_rows(Py_ssize_t n_in, Py_ssize_t n, floating wd, floating lr,
                               floating mu, int nesterov, const floating* x,
                               const floating* delta, floating* W, floating* V,
                               floating* dots) noexcept nogil:
    """Rows 1..n_in of the momentum / weight-decay update; dots[i-1] gets
    sum_j w_ij delta_j with the weights from before it (dots may be NULL)."""
    if floating is double:
        fbp_momentum_rows_d(n_in, n, wd, lr, mu, nesterov, x, delta, W, V, dots)
    else:
        fbp_momentum_rows_f(n_in, n, wd, lr, mu, nesterov, x, delta, W, V, dots)


cdef inline void running_mean(Py_ssize_t n, floating inv_k, const floating* w,
                              floating* avg) noexcept nogil:
    """avg += (w - avg) / k, with inv_k = 1 / k."""
    if floating is double:
        fbp_running_mean_d(n, inv_k, w, avg)
    else:
        fbp_running_mean_f(n, inv_k, w, avg)


cdef inline Py_ssize_t on_line(Py_ssize_t n) noexcept nogil:
    """n rounded up to a multiple of 16: whole cache lines (64 bytes) of
    float32 or of float64."""
    return (n + 15) // 16 * 16


cdef inline void* line_start(void* p) noexcept nogil:
    """The first cache line (64 bytes) at or after p."""
    return <void*> ((<size_t> p + 63) // 64 * 64)


cdef floating* layout_init(Layout* lay, const Py_ssize_t[::1] layers, const int[::1] acts,
                          int loss, floating* kind) except NULL:
    """Fill ``lay`` and return the call's scratch: x (bias slots set to 1),
    then s, then delta.  Each s^(l) and delta^(l) starts on a cache line,
    as the kernels' vector loads want (an A/B of two builds, one thread:
    wide float32 trained 1.10-1.14x as fast as with them packed, digits and
    deep float64 1.03x; the padding is never read).  Offsets and scratch
    are one allocation: free it with free(lay.w_off).  ``kind`` only selects
    the floating type."""
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


cdef inline void times_gprime(int act, const floating* x, floating* d, Py_ssize_t n) noexcept nogil:
    """d_i *= g'(s_i) for one layer, from x_i = g(s_i); one loop per activation
    so that the compiler can vectorise each."""
    cdef Py_ssize_t i
    if act == TANH:
        for i in range(n):
            d[i] *= 1 - x[i] * x[i]
    elif act == SIGMOID:
        for i in range(n):
            d[i] *= x[i] * (1 - x[i])
    elif act == RELU:
        for i in range(n):
            d[i] = d[i] if x[i] > 0 else 0
    elif act == LEAKY_RELU:
        for i in range(n):
            d[i] = d[i] if x[i] > 0 else <floating> LEAKY_SLOPE * d[i]


cdef inline void activate(int act, const floating* s, floating* x, Py_ssize_t n) noexcept nogil:
    """x_j = g(s_j) for one layer."""
    cdef Py_ssize_t j
    cdef double top, total
    if act == IDENTITY:
        for j in range(n):
            x[j] = s[j]
    elif act == TANH:      # vectorised, in _kernels.h: libm's tanh cost more than the sums
        if floating is double:
            fbp_tanh_d(n, s, x)
        else:
            fbp_tanh_f(n, s, x)
    elif act == SIGMOID:
        for j in range(n):
            x[j] = 1 / (1 + exp(-s[j]))
    elif act == RELU:
        for j in range(n):
            x[j] = s[j] if s[j] > 0 else 0
    elif act == LEAKY_RELU:
        for j in range(n):
            x[j] = s[j] if s[j] > 0 else <floating> LEAKY_SLOPE * s[j]
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
            diff = x[k] - y[k]
            e += 0.5 * diff * diff
            delta[k] = <floating> diff
        times_gprime(act, x, delta, n)
        return e
    # cross-entropy with a sigmoid or softmax output: delta_k = x_k - y_k
    for k in range(n):
        delta[k] = x[k] - y[k]
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
                   floating* s1=NULL, floating keep=1) noexcept nogil:
    """Induction step fused with the use of each gradient, one pass per block.

    For l = L..1 and every row i of W^(l):
        target_ij += scale * x_i^(l-1) * delta_j^(l)
        delta_i^(l-1) = g'(s_i^(l-1)) * sum_j w_ij^(l) delta_j^(l)      (2)
    With target = w and scale = -lr this is the SGD update, done in place:
    each row's sum is taken before that row is written, so delta^(l-1) uses
    the weights from before the update.  With keep != 1 (in place only) the
    rows i >= 1 are scaled by keep first: keep = 1 - lr wd is weight decay
    without momentum, with no velocity to read or write.  With target a
    gradient buffer it accumulates de/dw_ij^(l) = x_i^(l-1) delta_j^(l).
    Where xn (the next example's inputs, x_1..x_d of x^(0)) is not NULL, the
    pass over W^(1) also leaves that example's s^(1) in s1, from the updated
    weights (target must be w).
    """
    cdef Py_ssize_t l, n_in, n_out
    cdef floating* T
    cdef const floating* x_prev
    cdef const floating* delta
    cdef floating* delta_prev
    for l in range(lay.L, 0, -1):
        n_in = lay.d[l - 1]
        n_out = lay.d[l]
        T = target + lay.w_off[l]
        x_prev = xs + lay.x_off[l - 1]
        delta = ds + lay.s_off[l]
        axpy(n_out, scale, delta, T)          # row 0: x_0 = 1 (biases are not decayed)
        if l == 1:                            # delta^(0) is not needed
            if keep == 1:
                rank1(n_in, n_out, scale, x_prev, delta, T, xn, s1)
            else:
                decay_rank1(n_in, n_out, scale, keep, x_prev, delta, T, xn, s1)
            continue
        delta_prev = ds + lay.s_off[l - 1]
        if keep != 1:                         # weight decay, in place
            decay_dot_update(n_in, n_out, scale, keep, x_prev, delta, T, delta_prev)
        elif T == w + lay.w_off[l]:           # the SGD update, in place
            dot_update(n_in, n_out, scale, x_prev, delta, T, delta_prev)
        else:
            dot_rank1(n_in, n_out, scale, x_prev, delta, w + lay.w_off[l], T, delta_prev)
        times_gprime(lay.act[l - 1], x_prev + 1, delta_prev, n_in)


cdef void backward_momentum(const Layout* lay, floating* w, floating* v, floating lr,
                            floating mu, int nesterov, floating wd,
                            const floating* xs, floating* ds, const floating* xn=NULL,
                            floating* s1=NULL) noexcept nogil:
    """The backward pass fused with an update with momentum and weight decay.

    For l = L..1 and every row i of W^(l), with g_ij = x_i^(l-1) delta_j^(l)
    + wd w_ij^(l) (no wd on the bias row i = 0):
        v_ij <- mu v_ij - lr g_ij,   w_ij <- w_ij + v_ij
        (Nesterov: w_ij <- w_ij + mu v_ij - lr g_ij, with the new v_ij)
        delta_i^(l-1) = g'(s_i^(l-1)) * sum_j w_ij^(l) delta_j^(l)   (2)
    each row's sum taken with its weights from before the update.  xn and s1
    as in backward(), for classical momentum without weight decay only.
    """
    cdef Py_ssize_t l, n_in, n_out
    cdef floating* W
    cdef floating* V
    cdef const floating* x_prev
    cdef const floating* delta
    cdef floating* delta_prev
    cdef bint classical = not nesterov and wd == 0
    for l in range(lay.L, 0, -1):
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


# A batch goes through numpy's matrix product (BLAS) where rows x weights
# is at least BATCH_WORK (enough to pay for the calls into numpy) and, in
# float64, the network has at least BATCH_WEIGHTS weights: there it beats the
# per-example loop (measured on the architectures of benchmarks/run.py).
BATCH_WORK = 1 << 20
BATCH_WEIGHTS = 8192


def forward(const floating[::1] flat, const Py_ssize_t[::1] layers, const int[::1] acts,
            const floating[:, ::1] X, floating[:, ::1] out):
    """out[n] = x^(L) for every row n of X: one example at a time, or, for a
    batch large enough (BATCH_WORK, BATCH_WEIGHTS), through forward_batch."""
    cdef Layout lay
    cdef floating* xs
    cdef Py_ssize_t r, k, n_out = out.shape[1]
    if (X.shape[0] * flat.shape[0] >= BATCH_WORK
            and (floating is float or flat.shape[0] >= BATCH_WEIGHTS)):
        forward_batch(flat, layers, acts, X, out)
        return
    xs = layout_init(&lay, layers, acts, 0, <floating*> NULL)
    try:
        with nogil:
            for r in range(X.shape[0]):
                load_input(&lay, xs, &X[r, 0])
                forward_one(&lay, &flat[0], xs, xs + lay.n_x)
                for k in range(n_out):
                    out[r, k] = xs[lay.x_off[lay.L] + 1 + k]
    finally:
        free(lay.w_off)


def forward_batch(const floating[::1] flat, const Py_ssize_t[::1] layers, const int[::1] acts,
                  const floating[:, ::1] X, floating[:, ::1] out):
    """out = x^(L) for the rows of X, a layer at a time for the whole batch:
    S^(l) = X^(l-1) W^(l)[1:] + W^(l)[0] by numpy's matrix product, then
    X^(l) = g(S^(l)) in place."""
    cdef Py_ssize_t l, start = 0, size
    weights = np.asarray(flat)
    x = np.asarray(X)
    for l in range(1, layers.shape[0]):
        size = (layers[l - 1] + 1) * layers[l]
        W = weights[start:start + size].reshape(layers[l - 1] + 1, layers[l])
        start += size
        x = x @ W[1:]
        x += W[0]
        activate_rows(acts[l], x)
    np.asarray(out)[...] = x


def activate_rows(int act, floating[:, ::1] S):
    """S[r] = g(S[r]) for every row r, in place."""
    cdef Py_ssize_t r
    with nogil:
        for r in range(S.shape[0]):
            activate(act, &S[r, 0], &S[r, 0], S.shape[1])


def loss(const floating[::1] flat, const Py_ssize_t[::1] layers, const int[::1] acts,
         int loss, const floating[:, ::1] X, const floating[:, ::1] Y):
    """Sum over the rows of X of the error e(h(x_n), y_n)."""
    cdef Layout lay
    cdef floating* xs
    cdef floating* ss
    cdef Py_ssize_t r
    cdef double total = 0
    xs = layout_init(&lay, layers, acts, loss, <floating*> NULL)
    ss = xs + lay.n_x
    try:
        with nogil:
            for r in range(X.shape[0]):
                load_input(&lay, xs, &X[r, 0])
                forward_one(&lay, &flat[0], xs, ss)
                total += output_delta(&lay, xs, ss, &Y[r, 0], ss + lay.n_s)
    finally:
        free(lay.w_off)
    return total


def gradient(const floating[::1] flat, const Py_ssize_t[::1] layers, const int[::1] acts,
             int loss, const floating[:, ::1] X, const floating[:, ::1] Y,
             floating[::1] grad):
    """Add the mean over the rows of X of de/dw to ``grad``; return the error sum."""
    cdef Layout lay
    cdef floating* xs
    cdef floating* ss
    cdef floating* ds
    cdef Py_ssize_t r, n = X.shape[0]
    cdef floating scale = 1.0 / n
    cdef double total = 0
    xs = layout_init(&lay, layers, acts, loss, <floating*> NULL)
    ss = xs + lay.n_x
    ds = ss + lay.n_s
    try:
        with nogil:
            for r in range(n):
                load_input(&lay, xs, &X[r, 0])
                forward_one(&lay, &flat[0], xs, ss)
                total += output_delta(&lay, xs, ss, &Y[r, 0], ds)
                backward(&lay, &flat[0], &grad[0], scale, xs, ds)
    finally:
        free(lay.w_off)
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


cdef struct Step:           # how a training pass updates the weights: train_epoch's options
    double lr, momentum, weight_decay, clip, power_t, t_done, average_from
    int schedule
    bint nesterov
    Py_ssize_t batch
    Py_ssize_t t_stride     # update numbers go up by this much (the number of threads)


# parallel="copies": thread t >= 1 trains a copy in its 4 buffers (copy of w,
# base of w, copy of v, base of v) at (t - 1) * 4 * n_weights of ``copies``,
# and thread 0 adds their changes (copy - base) to w and v when they ask.
cdef enum:
    FLAG_STRIDE = 16        # thread t's flag at pending[t * FLAG_STRIDE]: a cache line each


cdef struct Exchange:
    void* copies            # floating*
    Py_ssize_t* pending     # thread t's flag is 1 while its change waits for thread 0
    Py_ssize_t running      # threads t >= 1 in their training loop
    Py_ssize_t n_weights
    int n_threads
    bint velocity           # the changes include v's


cdef Py_ssize_t train_share(const Layout* lay, floating* w, floating* v, floating* avg,
                            Py_ssize_t n_weights, const floating* X, const floating* Y,
                            const floating* sample_weight, const Py_ssize_t* order,
                            Py_ssize_t n, const Step* o, Py_ssize_t t_first, floating* xs,
                            double* total, Exchange* ex=NULL) noexcept nogil:
    """Per-example SGD over the n rows ``order`` of X, the loop of train_epoch
    on one thread; adds the errors to ``total`` and returns the examples done.
    xs is its scratch: x, s, delta, then (batch > 1) the gradient buffer.
    Its u-th update (u = 0, 1, ...) is update number t_done + t_first +
    u * t_stride + 1 of the schedules and the average.  (Returned, not
    written through a pointer, so that a prange's variable taking it is
    private to its thread.)  With ``ex`` (thread 0 of parallel="copies"),
    after each example it adds the changes of the other threads' copies
    that wait for it (add_changes)."""
    cdef Py_ssize_t d_in = lay.d[0], d_out = lay.d[lay.L]
    cdef floating* ss = xs + lay.n_x
    cdef floating* ds = ss + lay.n_s
    cdef floating* grad = ds + lay.n_s
    cdef floating* delta_L = ds + lay.s_off[lay.L]
    cdef Py_ssize_t k, r, j, done = 0, updates = 0, in_batch = 0
    cdef double e, t, errors = 0
    cdef floating rate = o.lr, step = -o.lr, weight = 1
    # Per-example plain SGD, weight decay alone and classical momentum (no
    # weight decay) take the next example's s^(1) in their pass over W^(1),
    # saving the forward pass that read.
    cdef bint fuse = o.batch == 1 and not o.nesterov and (o.weight_decay == 0
                                                          or o.momentum == 0)
    cdef bint have_s1 = False
    cdef const floating* x_next = NULL   # the next example's inputs, when fused
    # Prefetch the example this many ahead: about 2 KiB of inputs in flight.
    cdef Py_ssize_t x_bytes = d_in * sizeof(floating), y_bytes = d_out * sizeof(floating)
    cdef Py_ssize_t ahead = max(1, min(16, 2048 // x_bytes))
    for k in range(n):
        if k + ahead < n:
            fbp_prefetch(X + order[k + ahead] * d_in, x_bytes)
            fbp_prefetch(Y + order[k + ahead] * d_out, y_bytes)
        r = order[k]
        load_input(lay, xs, X + r * d_in)
        forward_one(lay, w, xs, ss, have_s1)
        e = output_delta(lay, xs, ss, Y + r * d_out, ds)
        if not isfinite(e):
            break
        have_s1 = fuse and k + 1 < n
        x_next = X + order[k + 1] * d_in if have_s1 else NULL
        if o.clip > 0:
            for j in range(d_out):
                delta_L[j] = min(max(delta_L[j], -o.clip), o.clip)
        if sample_weight != NULL:
            weight = sample_weight[r]
            for j in range(d_out):
                delta_L[j] *= weight
        errors += weight * e
        done += 1
        if o.batch > 1:                  # sum the gradient; update at the batch's end
            backward(lay, w, grad, 1, xs, ds)
            in_batch += 1
            if in_batch < o.batch and k < n - 1:
                continue
        t = o.t_done + t_first + updates * o.t_stride + 1    # the number of this update
        updates += 1
        if o.schedule != CONSTANT:
            rate = scheduled_lr(o.schedule, o.lr, t, o.power_t, o.weight_decay)
            step = -rate
        if o.batch > 1:
            apply_batch(lay, w, v, grad, n_weights, 1.0 / in_batch, rate, o.momentum,
                        o.nesterov, o.weight_decay)
            in_batch = 0
        elif o.momentum == 0:            # plain SGD, or with weight decay: keep < 1
            backward(lay, w, w, step, xs, ds, x_next, ss, 1 - rate * o.weight_decay)
        else:
            backward_momentum(lay, w, v, rate, o.momentum, o.nesterov, o.weight_decay,
                              xs, ds, x_next, ss)
        if o.average_from >= 1 and t >= o.average_from:
            running_mean(n_weights, 1 / (t - o.average_from + 1), w, avg)
        if ex != NULL and add_changes(ex, w, v):
            have_s1 = False              # s^(1) was taken from w before the changes
    total[0] += errors
    return done


cdef bint add_changes(Exchange* ex, floating* w, floating* v) noexcept nogil:
    """Thread 0 of parallel="copies", between two of its examples: adds to w
    (and v) the change of each other thread's copy that waits for it
    (copy - base), and tells that thread so.  Returns whether any did."""
    cdef int t
    cdef Py_ssize_t j, n = ex.n_weights
    cdef floating* mine
    cdef bint added = False
    for t in range(1, ex.n_threads):
        if fbp_load(&ex.pending[t * FLAG_STRIDE]):
            mine = <floating*> ex.copies + (t - 1) * 4 * n
            for j in range(n):
                w[j] += mine[j] - mine[n + j]
            if ex.velocity:
                for j in range(n):
                    v[j] += mine[2 * n + j] - mine[3 * n + j]
            fbp_store(&ex.pending[t * FLAG_STRIDE], 0)
            added = True
    return added


cdef inline void take(Py_ssize_t n, const floating* w, floating* copy,
                      floating* base) noexcept nogil:
    """copy = base = w (w may be changing meanwhile: each copies the other)."""
    memcpy(copy, w, n * sizeof(floating))
    memcpy(base, copy, n * sizeof(floating))


cdef inline Py_ssize_t share_start(Py_ssize_t t, Py_ssize_t n, Py_ssize_t batch,
                                  int n_threads) noexcept nogil:
    """Where thread t's share of n examples begins: shares of whole batches."""
    return min(n, t * ((n + batch - 1) // batch) // n_threads * batch)


cdef void train_copy(const Layout* lay, floating* w, floating* v, Py_ssize_t n_weights,
                     const floating* X, const floating* Y, const floating* sample_weight,
                     const Py_ssize_t* order, Py_ssize_t n, const Step* o,
                     Py_ssize_t sync_every, int me, Exchange* ex, floating* scratch,
                     Py_ssize_t* claimed, double* total, Py_ssize_t* done) noexcept nogil:
    """Thread ``me`` of the parallel pass on copies.  It claims the next
    sync_every examples of ``order`` (``claimed`` counts the examples
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
    cdef floating* mine
    cdef floating* copy_v = NULL
    cdef Py_ssize_t start, size, did
    cdef Py_ssize_t* pending
    if me == 0:
        while True:
            start = fbp_claim(claimed, sync_every)
            if start >= n:
                break
            size = min(sync_every, n - start)
            # update numbers as serially: these examples' place in the order
            did = train_share(lay, w, v, NULL, n_weights, X, Y, sample_weight, order + start,
                              size, o, start // o.batch, scratch, total, ex)
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
    mine = <floating*> ex.copies + (me - 1) * 4 * n_weights
    if v != NULL:
        copy_v = mine + 2 * n_weights
    take(n_weights, w, mine, mine + n_weights)
    if v != NULL:
        take(n_weights, v, copy_v, copy_v + n_weights)
    while True:
        start = fbp_claim(claimed, sync_every)
        if start >= n:
            break
        size = min(sync_every, n - start)
        did = train_share(lay, mine, copy_v, NULL, n_weights, X, Y, sample_weight,
                          order + start, size, o, start // o.batch, scratch, total)
        done[0] += did
        if did < size:
            fbp_claim(claimed, n)
            break
        fbp_store(pending, 1)
        while fbp_load(pending):
            fbp_spin()
        take(n_weights, w, mine, mine + n_weights)
        if v != NULL:
            take(n_weights, v, copy_v, copy_v + n_weights)
    fbp_claim(&ex.running, -1)


def max_threads():
    """The threads a parallel pass may use: OpenMP's limit (OMP_NUM_THREADS,
    or what threadpoolctl set), or 1 in a build without OpenMP."""
    return fbp_max_threads()


PARALLEL = bool(FBP_OPENMP)   # built with OpenMP: n_threads > 1 runs in parallel
SIMD = FBP_SIMD.decode()      # the widest vector instructions of this build


def train_epoch(floating[::1] flat, const Py_ssize_t[::1] layers, const int[::1] acts,
                int loss, const floating[:, ::1] X, const floating[:, ::1] Y,
                const Py_ssize_t[::1] order, double lr, floating[::1] velocity,
                double momentum, bint nesterov, double weight_decay,
                const floating[::1] sample_weight, double clip, int schedule=CONSTANT,
                double power_t=0.25, double t_done=0, floating[::1] average=None,
                double average_from=0, Py_ssize_t batch=1, int n_threads=1,
                Py_ssize_t sync_every=0, floating[::1] room=None):
    """Per-example SGD over the rows ``order`` of X, in place on ``flat``.

    For each example: forward pass, delta^(L) (each component clipped to
    [-clip, clip] where clip > 0, then times the example's weight where
    ``sample_weight`` is not empty), then the fused backward/update pass
    w_ij^(l) <- w_ij^(l) - lr x_i^(l-1) delta_j^(l) (with weight_decay and no
    momentum, w_ij^(l) first scaled by 1 - lr weight_decay for i >= 1); or,
    where momentum is not 0, the update of ``backward_momentum`` with the
    velocity buffer ``velocity`` (laid out like ``flat``; neither read nor
    written where momentum is 0, and then it may be empty).  With
    batch > 1, one update follows every ``batch`` consecutive examples of
    ``order`` (and the last, maybe fewer), from the mean of their
    gradients, through ``apply_batch``.

    Update number t = t_done + 1, t_done + 2, ... uses the learning rate
    ``scheduled_lr`` gives it.  Where average_from >= 1, ``average`` (laid
    out like ``flat``) keeps the running mean of the weights after updates
    average_from, average_from + 1, ... (averaged SGD).

    Per example without weight decay or Nesterov (batch 1), the update of
    W^(1) also computes the next example's s^(1) (see backward), bit for bit
    what its forward pass would.

    With n_threads > 1 (and an OpenMP build), n_threads threads train,
    each with its own scratch.  With sync_every = 0 each takes a consecutive
    share of whole batches and all update flat (and velocity, average)
    without locks: Hogwild!; thread t numbers its updates t_done + t + 1,
    then n_threads further each time, so the schedules see about the serial
    count.  With
    sync_every > 0 (a multiple of batch) the threads claim sync_every
    examples at a time in turn from ``order``; thread 0 trains flat itself,
    each other thread a copy, whose change thread 0 adds to flat: see
    ``train_copy`` (no ``average`` then).  The copies go in ``room`` where
    it holds 4 * (n_threads - 1) * len(flat) numbers (a caller
    that calls again and again passes the same room, and the pages are not
    mapped afresh each call), else in memory of the call's own.
    n_threads = 1 is the serial pass.

    The whole pass runs without the GIL.  A non-finite error stops a
    thread's share before that example changes any weight.

    Returns (sum of the errors before each update, each times its example's
    weight; number of examples done).  Fewer done than ``len(order)`` means
    a share stopped on a non-finite error (serially: at example
    ``order[done]``).
    """
    cdef Layout lay
    cdef Step o
    cdef Py_ssize_t n = order.shape[0], n_weights = flat.shape[0], t, first
    cdef Py_ssize_t per_thread, l, i, done = 0
    cdef double total = 0
    cdef floating* scratch
    cdef void* own_scratch
    cdef floating* v = &velocity[0] if velocity.shape[0] > 0 else NULL
    cdef floating* avg = &average[0] if average is not None and average.shape[0] > 0 else NULL
    cdef const floating* weights = &sample_weight[0] if sample_weight.shape[0] > 0 else NULL
    cdef double* totals
    cdef Py_ssize_t* dones
    cdef floating* copies = NULL            # parallel="copies": 4 buffers per thread but 0
    cdef floating* own_copies = NULL
    cdef Py_ssize_t claimed = 0             # examples of order claimed by the threads
    cdef Exchange ex
    if n == 0:
        return 0.0, 0
    o.lr, o.momentum, o.weight_decay, o.clip = lr, momentum, weight_decay, clip
    o.power_t, o.t_done, o.average_from = power_t, t_done, average_from
    o.schedule, o.nesterov, o.batch = schedule, nesterov, batch
    n_threads = max(1, min(n_threads, (n + batch - 1) // batch))
    o.t_stride = n_threads if n_threads > 1 and sync_every == 0 else 1
    layout_init(&lay, layers, acts, loss, <floating*> NULL)
    # Each thread's scratch (x, s, delta, then a gradient buffer for
    # batches) starts on its own cache lines (32 floats: at least 128 bytes).
    per_thread = lay.n_x + 2 * lay.n_s + (n_weights if batch > 1 else 0)
    per_thread = (per_thread + 31) // 32 * 32
    own_scratch = calloc(n_threads * per_thread + 32, sizeof(floating))
    scratch = <floating*> line_start(own_scratch)
    totals = <double*> calloc(n_threads, sizeof(double) + sizeof(Py_ssize_t))
    dones = <Py_ssize_t*> (totals + n_threads)
    ex.pending = <Py_ssize_t*> calloc(n_threads * FLAG_STRIDE, sizeof(Py_ssize_t))
    ex.running, ex.n_weights, ex.n_threads, ex.velocity = 0, n_weights, n_threads, v != NULL
    if n_threads > 1 and sync_every > 0:
        if room is not None and room.shape[0] >= (n_threads - 1) * 4 * n_weights:
            copies = &room[0]
        else:
            copies = own_copies = <floating*> malloc((n_threads - 1) * 4 * n_weights
                                                     * sizeof(floating))
    ex.copies = copies
    if (own_scratch == NULL or totals == NULL or ex.pending == NULL
            or (n_threads > 1 and sync_every > 0 and copies == NULL)):
        free(own_scratch)
        free(totals)
        free(ex.pending)
        free(own_copies)
        free(lay.w_off)
        raise MemoryError()
    try:
        with nogil:
            for i in range(n_threads):
                for l in range(lay.L + 1):              # the bias slots x_0 = 1
                    scratch[i * per_thread + lay.x_off[l]] = 1
            if n_threads == 1:
                dones[0] = train_share(&lay, &flat[0], v, avg, n_weights, &X[0, 0], &Y[0, 0],
                                       weights, &order[0], n, &o, 0, scratch, totals)
            elif sync_every == 0:
                for t in prange(n_threads, num_threads=n_threads, schedule="static",
                                chunksize=1):
                    first = share_start(t, n, batch, n_threads)
                    dones[t] = train_share(&lay, &flat[0], v, avg, n_weights, &X[0, 0],
                                           &Y[0, 0], weights, &order[first],
                                           share_start(t + 1, n, batch, n_threads) - first,
                                           &o, t, scratch + t * per_thread, totals + t)
            else:
                for t in prange(n_threads, num_threads=n_threads, schedule="static",
                                chunksize=1):
                    train_copy(&lay, &flat[0], v, n_weights, &X[0, 0], &Y[0, 0], weights,
                               &order[0], n, &o, sync_every, t, &ex,
                               scratch + t * per_thread, &claimed, totals + t, dones + t)
            for i in range(n_threads):
                total += totals[i]
                done += dones[i]
    finally:
        free(own_scratch)
        free(totals)
        free(ex.pending)
        free(own_copies)
        free(lay.w_off)
    return total, done
