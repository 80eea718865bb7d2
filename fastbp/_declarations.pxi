# The declarations of the compiled core: the C kernels of _kernels.h, the
# codes of the activations, losses and schedules, the structs of a pass, and
# one fused name for each kernel's float64 (_d) and float32 (_f) versions.
# Included by _core.pyx.

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
                         const double* delta, const double* W, double* target, double* dots)
    void fbp_dot_rank1_f(Py_ssize_t n_in, Py_ssize_t n, float scale, const float* x,
                         const float* delta, const float* W, float* target, float* dots)
    void fbp_decay_rank1_d(Py_ssize_t n_in, Py_ssize_t n, double scale, double shrink,
                           const double* x, const double* delta, double* W, const double* xn,
                           double* s)
    void fbp_decay_rank1_f(Py_ssize_t n_in, Py_ssize_t n, float scale, float shrink,
                           const float* x, const float* delta, float* W, const float* xn,
                           float* s)
    void fbp_decay_dot_update_d(Py_ssize_t n_in, Py_ssize_t n, double scale, double shrink,
                                const double* x, const double* delta, double* W, double* dots)
    void fbp_decay_dot_update_f(Py_ssize_t n_in, Py_ssize_t n, float scale, float shrink,
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
                     const double* delta, double* target, const double* xn, double* s)
    void fbp_rank1_f(Py_ssize_t n_in, Py_ssize_t n, float scale, const float* x,
                     const float* delta, float* target, const float* xn, float* s)
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
                       const floating* delta, floating* target, const floating* xn,
                       floating* s) noexcept nogil:
    """target[i, j] += scale * x_i * delta_j for i = 1..n_in (row 0 done before);
    where xn (the next example's inputs) is not NULL, also
    s_j = target[0, j] + sum_i target[i, j] xn_(i-1) after the update (the next
    example's signals, exactly as signals() would give them)."""
    if floating is double:
        fbp_rank1_d(n_in, n, scale, x, delta, target, xn, s)
    else:
        fbp_rank1_f(n_in, n, scale, x, delta, target, xn, s)


cdef inline void classical_rank1(Py_ssize_t n_in, Py_ssize_t n, floating lr, floating mu,
                                 const floating* x, const floating* delta, floating* W,
                                 floating* V, const floating* xn, floating* s) noexcept nogil:
    """v_ij <- mu v_ij - lr x_i delta_j, w_ij <- w_ij + v_ij for i = 1..n_in,
    with xn and s as in rank1()."""
    if floating is double:
        fbp_classical_rank1_d(n_in, n, lr, mu, x, delta, W, V, xn, s)
    else:
        fbp_classical_rank1_f(n_in, n, lr, mu, x, delta, W, V, xn, s)


cdef inline void decay_rank1(Py_ssize_t n_in, Py_ssize_t n, floating scale, floating shrink,
                             const floating* x, const floating* delta, floating* W,
                             const floating* xn, floating* s) noexcept nogil:
    """W[i, j] <- shrink W[i, j] + scale x_i delta_j for i = 1..n_in; xn and s
    as in rank1."""
    if floating is double:
        fbp_decay_rank1_d(n_in, n, scale, shrink, x, delta, W, xn, s)
    else:
        fbp_decay_rank1_f(n_in, n, scale, shrink, x, delta, W, xn, s)


cdef inline void decay_dot_update(Py_ssize_t n_in, Py_ssize_t n, floating scale,
                                  floating shrink, const floating* x, const floating* delta,
                                  floating* W, floating* dots) noexcept nogil:
    """dots[i-1] = sum_j W[i, j] delta_j (W before the update) and
    W[i, j] <- shrink W[i, j] + scale x_i delta_j, for i = 1..n_in."""
    if floating is double:
        fbp_decay_dot_update_d(n_in, n, scale, shrink, x, delta, W, dots)
    else:
        fbp_decay_dot_update_f(n_in, n, scale, shrink, x, delta, W, dots)


cdef inline void dot_rank1(Py_ssize_t n_in, Py_ssize_t n, floating scale, const floating* x,
                           const floating* delta, const floating* W, floating* target,
                           floating* dots) noexcept nogil:
    """dots[i-1] = sum_j W[i, j] delta_j (W before the update) and
    target[i, j] += scale * x_i * delta_j, for i = 1..n_in; target may be W."""
    if floating is double:
        fbp_dot_rank1_d(n_in, n, scale, x, delta, W, target, dots)
    else:
        fbp_dot_rank1_f(n_in, n, scale, x, delta, W, target, dots)


cdef inline void dot_update(Py_ssize_t n_in, Py_ssize_t n, floating scale, const floating* x,
                            const floating* delta, floating* W, floating* dots) noexcept nogil:
    """dot_rank1 with target = W, each weight loaded once."""
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



cdef struct Step:           # how a training pass updates the weights: a Rule, filled once
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

