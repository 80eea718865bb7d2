/* The kernels of _kernels.h for one floating type: included once with
 * FBP_T double and once with FBP_T float; FBP_FN(name) appends the suffix
 * (_d or _f).  No include guard, on purpose. */

/* x[j] = tanh(s[j]) */
static FBP_ALWAYS_INLINE void FBP_FN(fbp_tanh_at)(Py_ssize_t n, const FBP_T *s, FBP_T *x)
{
    #pragma omp simd
    for (Py_ssize_t j = 0; j < n; j++)
        x[j] = FBP_TANH1(s[j]);
}

static inline void FBP_FN(fbp_tanh)(Py_ssize_t n, const FBP_T *s, FBP_T *x)
{
#define FBP_AT(N) FBP_FN(fbp_tanh_at)(N, s, x)
    FBP_BY_WIDTH(n, FBP_AT)
#undef FBP_AT
}

/* s[j] = sum_{i=0..n_in} W[i][j] x[i], with x[0] = 1: a layer's signals. */
static FBP_ALWAYS_INLINE void FBP_FN(fbp_signals_at)(Py_ssize_t n_in, Py_ssize_t n,
                                                     const FBP_T *W, const FBP_T *x, FBP_T *s)
{
    if (n > FBP_STREAM_N) {     /* whole rows, as in FBP_UPDATE_ROWS */
        #pragma omp simd
        for (Py_ssize_t j = 0; j < n; j++)
            s[j] = W[j];
        for (Py_ssize_t i = 1; i <= n_in; i++) {
            const FBP_T x_i = x[i], *row = W + i * n;
            #pragma omp simd
            for (Py_ssize_t j = 0; j < n; j++)
                s[j] = FBP_MADD(x_i, row[j], s[j]);
        }
        return;
    }
    Py_ssize_t j0 = 0;
    FBP_SIGNALS_BLOCKS(32)
    FBP_SIGNALS_BLOCKS(16)
    FBP_SIGNALS_BLOCKS(8)
    FBP_SIGNALS_BLOCKS(4)
    FBP_SIGNALS_BLOCKS(2)
    FBP_SIGNALS_BLOCKS(1)
}

static inline void FBP_FN(fbp_signals)(Py_ssize_t n_in, Py_ssize_t n,
                                        const FBP_T *W, const FBP_T *x, FBP_T *s)
{
#define FBP_AT(N) FBP_FN(fbp_signals_at)(n_in, N, W, x, s)
    FBP_BY_WIDTH(n, FBP_AT)
#undef FBP_AT
}

/* s[r][j] = sum_{i=0..n_in} W[i][j] x[r][i] for four examples r (x[r][0] =
 * 1): their signals in one pass over W, as fbp_signals's per example. */
static inline void FBP_FN(fbp_signals4)(Py_ssize_t n_in, Py_ssize_t n, const FBP_T *W,
                                         const FBP_T *const *x, FBP_T *const *s)
{
    Py_ssize_t j0 = 0;
    FBP_SIGNALS4_BLOCKS(16)
    FBP_SIGNALS4_BLOCKS(8)
    FBP_SIGNALS4_BLOCKS(4)
    FBP_SIGNALS4_BLOCKS(1)
}

/* The update rules of the in-place kernels below, for element k of a row
 * with a = scale x[i], dk = delta[j] and old = W[k] (the weight before):
 * plain SGD, W[i][j] += scale x[i] delta[j]; weight decay without momentum
 * (shrink = 1 - lr wd, scale = -lr), W[i][j] <- shrink W[i][j] - lr x[i]
 * delta[j], no velocity to read or write; and classical momentum without
 * weight decay (scale = lr), V[i][j] <- mu V[i][j] - lr x[i] delta[j],
 * W[i][j] <- W[i][j] + V[i][j]. */
#define FBP_SGD_UPDATE(W, a, k, dk, old) W[k] = FBP_MADD(a, dk, old)
#define FBP_DECAY_UPDATE(W, shrink, a, k, dk, old) W[k] = FBP_MADD(a, dk, (shrink) * (old))
#define FBP_CLASSICAL_UPDATE(W, V, mu, a, k, dk, old)               \
    {                                                               \
        const FBP_T step = FBP_FLUSHED(FBP_MADD(-(a), dk, (mu) * V[k]));\
        V[k] = step;                                                \
        W[k] = (old) + step;                                        \
    }

/* W[i][j] += scale x[i] delta[j] for i = 1..n_in: the rank-1 SGD update of a
 * layer whose delta^(l-1) is not needed (row 0 is left to the caller, first);
 * W may also be a gradient buffer to add to.  Where xn is not NULL, also
 * s[j] = sum_i W[i][j] xn[i] with the updated weights: the next example's
 * signals (see FBP_UPDATE_BLOCKS). */
static FBP_ALWAYS_INLINE void FBP_FN(fbp_rank1_at)(Py_ssize_t n_in, Py_ssize_t n, FBP_T scale,
                                                   const FBP_T *x, const FBP_T *delta,
                                                   FBP_T *W, const FBP_T *xn, FBP_T *s)
{
    FBP_UPDATE_ALL_BLOCKS(FBP_SGD_UPDATE, (W), W)
}

static inline void FBP_FN(fbp_rank1)(Py_ssize_t n_in, Py_ssize_t n, FBP_T scale,
                                      const FBP_T *x, const FBP_T *delta, FBP_T *W,
                                      const FBP_T *xn, FBP_T *s)
{
#define FBP_AT(N) FBP_FN(fbp_rank1_at)(n_in, N, scale, x, delta, W, xn, s)
    FBP_BY_WIDTH(n, FBP_AT)
#undef FBP_AT
}

/* The same rows with weight decay and no momentum; xn and s as in fbp_rank1. */
static inline void FBP_FN(fbp_decay_rank1)(Py_ssize_t n_in, Py_ssize_t n, FBP_T scale,
                                            FBP_T shrink, const FBP_T *x, const FBP_T *delta,
                                            FBP_T *W, const FBP_T *xn, FBP_T *s)
{
    FBP_UPDATE_ALL_BLOCKS(FBP_DECAY_UPDATE, (W, shrink), W)
}

/* The same rows with classical momentum; xn and s as in fbp_rank1. */
static inline void FBP_FN(fbp_classical_rank1)(Py_ssize_t n_in, Py_ssize_t n, FBP_T scale,
                                                FBP_T mu, const FBP_T *x, const FBP_T *delta,
                                                FBP_T *W, FBP_T *V, const FBP_T *xn, FBP_T *s)
{
    FBP_UPDATE_ALL_BLOCKS(FBP_CLASSICAL_UPDATE, (W, V, mu), W)
}

/* y[j] += a x[j] */
static FBP_ALWAYS_INLINE void FBP_FN(fbp_axpy_at)(Py_ssize_t n, FBP_T a, const FBP_T *x,
                                                  FBP_T *y)
{
    #pragma omp simd
    for (Py_ssize_t j = 0; j < n; j++)
        y[j] += a * x[j];
}

static inline void FBP_FN(fbp_axpy)(Py_ssize_t n, FBP_T a, const FBP_T *x, FBP_T *y)
{
#define FBP_AT(N) FBP_FN(fbp_axpy_at)(N, a, x, y)
    FBP_BY_WIDTH(n, FBP_AT)
#undef FBP_AT
}

/* dots[i-1] = sum_j W[i][j] delta[j] with W as it was, and
 * Tm[i][j] += scale x[i] delta[j], for rows i = 1..n_in.  Tm may be W itself
 * (the in-place SGD update): each W[i][j] is read before Tm[i][j] is written.
 * Four rows at a time share each load of delta and each loop overhead. */
static inline void FBP_FN(fbp_dot_rank1)(Py_ssize_t n_in, Py_ssize_t n,
                                          FBP_T scale, const FBP_T *x, const FBP_T *delta,
                                          const FBP_T *W, FBP_T *Tm, FBP_T *dots)
{
    Py_ssize_t i = 1;
    for (; i + 3 <= n_in; i += 4) {
        const FBP_T *w0 = W + i * n, *w1 = w0 + n, *w2 = w1 + n, *w3 = w2 + n;
        FBP_T *t0 = Tm + i * n, *t1 = t0 + n, *t2 = t1 + n, *t3 = t2 + n;
        const FBP_T a0 = scale * x[i], a1 = scale * x[i + 1],
                a2 = scale * x[i + 2], a3 = scale * x[i + 3];
        FBP_T acc0 = 0, acc1 = 0, acc2 = 0, acc3 = 0;
        #pragma omp simd reduction(+:acc0, acc1, acc2, acc3)
        for (Py_ssize_t j = 0; j < n; j++) {
            const FBP_T d = delta[j];
            acc0 += w0[j] * d;
            acc1 += w1[j] * d;
            acc2 += w2[j] * d;
            acc3 += w3[j] * d;
            t0[j] += a0 * d;
            t1[j] += a1 * d;
            t2[j] += a2 * d;
            t3[j] += a3 * d;
        }
        dots[i - 1] = acc0;
        dots[i] = acc1;
        dots[i + 1] = acc2;
        dots[i + 2] = acc3;
    }
    for (; i <= n_in; i++) {
        const FBP_T *w0 = W + i * n;
        FBP_T *t0 = Tm + i * n;
        const FBP_T a0 = scale * x[i];
        FBP_T acc0 = 0;
        #pragma omp simd reduction(+:acc0)
        for (Py_ssize_t j = 0; j < n; j++) {
            acc0 += w0[j] * delta[j];
            t0[j] += a0 * delta[j];
        }
        dots[i - 1] = acc0;
    }
}

/* dots[i-1] = sum_j W[i][j] delta[j] for rows i = 1..n_in, W unchanged: the
 * sums of delta^(l-1), four rows at a time as in fbp_dot_rank1. */
static inline void FBP_FN(fbp_row_dots)(Py_ssize_t n_in, Py_ssize_t n, const FBP_T *W,
                                         const FBP_T *delta, FBP_T *dots)
{
    Py_ssize_t i = 1;
    for (; i + 3 <= n_in; i += 4) {
        const FBP_T *w0 = W + i * n, *w1 = w0 + n, *w2 = w1 + n, *w3 = w2 + n;
        FBP_T acc0 = 0, acc1 = 0, acc2 = 0, acc3 = 0;
        #pragma omp simd reduction(+:acc0, acc1, acc2, acc3)
        for (Py_ssize_t j = 0; j < n; j++) {
            const FBP_T d = delta[j];
            acc0 += w0[j] * d;
            acc1 += w1[j] * d;
            acc2 += w2[j] * d;
            acc3 += w3[j] * d;
        }
        dots[i - 1] = acc0;
        dots[i] = acc1;
        dots[i + 1] = acc2;
        dots[i + 2] = acc3;
    }
    for (; i <= n_in; i++) {
        const FBP_T *w0 = W + i * n;
        FBP_T acc0 = 0;
        #pragma omp simd reduction(+:acc0)
        for (Py_ssize_t j = 0; j < n; j++)
            acc0 += w0[j] * delta[j];
        dots[i - 1] = acc0;
    }
}

/* G[i][j] += sum_r a[r] x[r][i] delta[r][j] for the rows i = 0..n_in of a
 * layer's gradient block (x[r][0] = 1, the bias node) and four examples r:
 * their gradients added in one pass over G, not four. */
static inline void FBP_FN(fbp_rank4)(Py_ssize_t n_in, Py_ssize_t n, const FBP_T *a,
                                      const FBP_T *const *x, const FBP_T *const *delta,
                                      FBP_T *G)
{
    const FBP_T *d0 = delta[0], *d1 = delta[1], *d2 = delta[2], *d3 = delta[3];
    for (Py_ssize_t i = 0; i <= n_in; i++) {
        const FBP_T c0 = a[0] * x[0][i], c1 = a[1] * x[1][i], c2 = a[2] * x[2][i],
                    c3 = a[3] * x[3][i];
        FBP_T *g = G + i * n;
        #pragma omp simd
        for (Py_ssize_t j = 0; j < n; j++)
            g[j] += c0 * d0[j] + c1 * d1[j] + c2 * d2[j] + c3 * d3[j];
    }
}

/* One row of the update with momentum and weight decay (the general path).
 * Returns sum_j w[j] delta[j] with w as it was, and for every j:
 *   g = a delta[j] + wd w[j]        (a = x_i^(l-1); wd = 0 on the bias row)
 *   v[j] <- mu v[j] - lr g
 *   w[j] <- w[j] + v[j]             or, Nesterov, w[j] + mu v[j] - lr g
 * written w[j] + c v[j] - e g with (c, e) = (1, 0) or (mu, lr): no select in
 * the loop (for (1, 0) the result is exactly w[j] + v[j]). */
static inline FBP_T FBP_FN(fbp_momentum_row)(Py_ssize_t n, FBP_T a, FBP_T wd, FBP_T lr,
                                             FBP_T mu, int nesterov, const FBP_T *delta,
                                             FBP_T *w, FBP_T *v)
{
    const FBP_T c = nesterov ? mu : 1, e = nesterov ? lr : 0;
    FBP_T acc = 0;
    #pragma omp simd reduction(+:acc)
    for (Py_ssize_t j = 0; j < n; j++) {
        const FBP_T old = w[j], g = a * delta[j] + wd * old;
        const FBP_T step = FBP_FLUSHED(mu * v[j] - lr * g);
        acc += old * delta[j];
        v[j] = step;
        w[j] = old + c * step - e * g;
    }
    return acc;
}

/* The momentum / weight-decay update of rows i = 1..n_in, four rows at a
 * time so that their four sums run side by side (one row's sum is a chain of
 * dependent additions); dots[i-1] gets row i's sum, unless dots is NULL (the
 * first layer, whose delta^(0) is not needed).  STEP(ARGS..., w, v, a, acc,
 * d, j) updates element j of the rows w (weights) and v (velocity), with
 * a = A x[that row], d = delta[j], adding w[j] d to acc. */
#define FBP_FOUR_ROWS(A, STEP, ARGS)                                          \
    for (; i + 3 <= n_in; i += 4) {                                           \
        FBP_T *w0 = W + i * n, *w1 = w0 + n, *w2 = w1 + n, *w3 = w2 + n;      \
        FBP_T *v0 = V + i * n, *v1 = v0 + n, *v2 = v1 + n, *v3 = v2 + n;      \
        const FBP_T a0 = (A) * x[i], a1 = (A) * x[i + 1], a2 = (A) * x[i + 2],\
                    a3 = (A) * x[i + 3];                                      \
        FBP_T acc0 = 0, acc1 = 0, acc2 = 0, acc3 = 0;                         \
        _Pragma("omp simd reduction(+:acc0, acc1, acc2, acc3)")               \
        for (Py_ssize_t j = 0; j < n; j++) {                                  \
            const FBP_T d = delta[j];                                         \
            FBP_APPLY(STEP, ARGS, w0, v0, a0, acc0, d, j)                     \
            FBP_APPLY(STEP, ARGS, w1, v1, a1, acc1, d, j)                     \
            FBP_APPLY(STEP, ARGS, w2, v2, a2, acc2, d, j)                     \
            FBP_APPLY(STEP, ARGS, w3, v3, a3, acc3, d, j)                     \
        }                                                                     \
        if (dots) {                                                           \
            dots[i - 1] = acc0;                                               \
            dots[i] = acc1;                                                   \
            dots[i + 1] = acc2;                                               \
            dots[i + 2] = acc3;                                               \
        }                                                                     \
    }

/* The general step (A = 1): as in fbp_momentum_row. */
#define FBP_MOMENTUM_STEP(wd, lr, mu, c, e, w, v, a, acc, d, j)               \
    {                                                                         \
        const FBP_T old = w[j], g = a * d + wd * old;                         \
        const FBP_T step = FBP_FLUSHED(mu * v[j] - lr * g);                   \
        acc += old * d;                                                       \
        v[j] = step;                                                          \
        w[j] = old + c * step - e * g;                                        \
    }

/* Classical momentum without weight decay in fewer operations (A = lr):
 * v <- mu v - (lr x_i) delta, w <- w + v. */
#define FBP_CLASSICAL_STEP(mu, w, v, a, acc, d, j)                            \
    {                                                                         \
        const FBP_T step = FBP_FLUSHED(mu * v[j] - a * d);                    \
        acc += w[j] * d;                                                      \
        v[j] = step;                                                          \
        w[j] += step;                                                         \
    }

static inline void FBP_FN(fbp_momentum_rows)(Py_ssize_t n_in, Py_ssize_t n, FBP_T wd,
                                             FBP_T lr, FBP_T mu, int nesterov,
                                             const FBP_T *x, const FBP_T *delta,
                                             FBP_T *W, FBP_T *V, FBP_T *dots)
{
    const FBP_T c = nesterov ? mu : 1, e = nesterov ? lr : 0;   /* as in fbp_momentum_row */
    Py_ssize_t i = 1;
    if (!nesterov && wd == 0)
        FBP_FOUR_ROWS(lr, FBP_CLASSICAL_STEP, (mu))
    else
        FBP_FOUR_ROWS(1, FBP_MOMENTUM_STEP, (wd, lr, mu, c, e))
    for (; i <= n_in; i++) {
        const FBP_T acc = FBP_FN(fbp_momentum_row)(n, x[i], wd, lr, mu, nesterov, delta,
                                                   W + i * n, V + i * n);
        if (dots)
            dots[i - 1] = acc;
    }
}

#undef FBP_FOUR_ROWS
#undef FBP_MOMENTUM_STEP
#undef FBP_CLASSICAL_STEP

#if FBP_TINY
/* A vector of FBP_LANES lanes, FBP_TINY bytes: the row sums' and the tiny
 * networks'. */
typedef FBP_T FBP_FN(fbp_lanes) __attribute__((vector_size(FBP_TINY)));
#endif

#if FBP_ROW_SUMS
/* sums[r] += sum_b W[r n + b] d[b] (b < width, a multiple of FBP_LANES)
 * for the rows r = 0..FBP_LANES-1: a vector of FBP_LANES products per row,
 * then the rows' sums added in a tree of shuffles that transposes them as
 * it goes, where one row's sum alone would take a shuffle per addition.
 * Vectors of 32 bytes, the width gcc gives the rest of the loop: 64-byte
 * ones (8 doubles) made the training of double layers slower. */
static FBP_ALWAYS_INLINE void FBP_FN(fbp_add_row_sums)(const FBP_T *W, Py_ssize_t n, int width,
                                                       const FBP_T *d, FBP_T *sums)
{
    typedef FBP_FN(fbp_lanes) V;
#if FBP_LANES == 8
    /* rows in the order whose tree leaves the sums in order 0..7 */
    static const int order[8] = {0, 4, 2, 6, 1, 5, 3, 7};
#else
    static const int order[4] = {0, 1, 2, 3};
#endif
    V P[FBP_LANES], w, old;
    for (int r = 0; r < FBP_LANES; r++) {
        P[r] = (V){0};
        for (int c = 0; c < width; c += FBP_LANES) {
            V weights, deltas;
            memcpy(&weights, W + order[r] * n + c, sizeof(V));
            memcpy(&deltas, d + c, sizeof(V));
            P[r] += weights * deltas;
        }
    }
#if FBP_LANES == 8
    V u[4], v[2];
    for (int k = 0; k < 4; k++)         /* halves: rows 2k, 2k + 1 */
        u[k] = __builtin_shufflevector(P[2 * k], P[2 * k + 1], 0, 1, 2, 3, 8, 9, 10, 11)
               + __builtin_shufflevector(P[2 * k], P[2 * k + 1], 4, 5, 6, 7, 12, 13, 14, 15);
    for (int k = 0; k < 2; k++)         /* quarters */
        v[k] = __builtin_shufflevector(u[2 * k], u[2 * k + 1], 0, 1, 8, 9, 4, 5, 12, 13)
               + __builtin_shufflevector(u[2 * k], u[2 * k + 1], 2, 3, 10, 11, 6, 7, 14, 15);
    w = __builtin_shufflevector(v[0], v[1], 0, 8, 2, 10, 4, 12, 6, 14)
        + __builtin_shufflevector(v[0], v[1], 1, 9, 3, 11, 5, 13, 7, 15);
#else
    V u[2];
    for (int k = 0; k < 2; k++)         /* halves: rows 2k, 2k + 1 */
        u[k] = __builtin_shufflevector(P[2 * k], P[2 * k + 1], 0, 1, 4, 5)
               + __builtin_shufflevector(P[2 * k], P[2 * k + 1], 2, 3, 6, 7);
    w = __builtin_shufflevector(u[0], u[1], 0, 2, 4, 6)
        + __builtin_shufflevector(u[0], u[1], 1, 3, 5, 7);
#endif
    memcpy(&old, sums, sizeof old);
    old += w;
    memcpy(sums, &old, sizeof old);
}
#else
/* The same, one row after the other. */
static inline void FBP_FN(fbp_add_row_sums)(const FBP_T *W, Py_ssize_t n, int width,
                                            const FBP_T *d, FBP_T *sums)
{
    for (int r = 0; r < FBP_LANES; r++) {
        FBP_T acc = 0;
        #pragma omp simd reduction(+:acc)
        for (int c = 0; c < width; c++)
            acc += W[r * n + c] * d[c];
        sums[r] += acc;
    }
}
#endif

/* The in-place updates of a hidden layer with the sums of dot_rank1:
 * dots[i-1] = sum_j W[i][j] delta[j] with W as it was, and RULE(ARGS..., a,
 * k, dk, old) of element k = i n + j (dk = delta[j], old = W[k]), a = scale x[i],
 * for rows i = 1..n_in.  In column blocks, delta's block in registers; a
 * single column goes straight down its rows.  A row's update (with its sum
 * where SUMMED) is FBP_DOT_UPDATE_ROW; blocks of FBP_LANES columns or more
 * take the sums of FBP_LANES rows at a time first, fbp_add_row_sums. */
#define FBP_DOT_UPDATE_ROW(WIDTH, RULE, ARGS, i, SUMMED)            \
    {                                                               \
        const FBP_T a = scale * x[i];                               \
        const Py_ssize_t at = (i) * n + j0;                         \
        FBP_T products[WIDTH];                                      \
        _Pragma("omp simd")                                         \
        for (int b = 0; b < WIDTH; b++) {                           \
            const FBP_T old = W[at + b];                            \
            if (SUMMED)                                             \
                products[b] = old * d[b];                           \
            FBP_APPLY(RULE, ARGS, a, at + b, d[b], old);            \
        }                                                           \
        if (SUMMED) {                                               \
            FBP_HALVES_SUM(WIDTH, products);                        \
            dots[(i) - 1] += products[0];                           \
        }                                                           \
        (void)products;                                             \
    }
#define FBP_DOT_UPDATE_BLOCKS(WIDTH, RULE, ARGS)                    \
    for (; j0 + WIDTH <= n; j0 += WIDTH) {                          \
        FBP_T d[WIDTH];                                             \
        _Pragma("omp simd")                                         \
        for (int b = 0; b < WIDTH; b++)                             \
            d[b] = delta[j0 + b];                                   \
        Py_ssize_t i = 1;                                           \
        if (WIDTH >= FBP_LANES) {                                   \
            for (; i + FBP_LANES - 1 <= n_in; i += FBP_LANES) {     \
                FBP_FN(fbp_add_row_sums)(W + i * n + j0, n, WIDTH, d, dots + i - 1); \
                for (int r = 0; r < FBP_LANES; r++)                 \
                    FBP_DOT_UPDATE_ROW(WIDTH, RULE, ARGS, i + r, 0) \
            }                                                       \
        }                                                           \
        for (; i <= n_in; i++)                                      \
            FBP_DOT_UPDATE_ROW(WIDTH, RULE, ARGS, i, 1)             \
    }
#define FBP_DOT_UPDATE_ALL(RULE, ARGS)                              \
    if (n == 1) {                                                   \
        const FBP_T dk = delta[0];                                  \
        _Pragma("omp simd")                                         \
        for (Py_ssize_t i = 1; i <= n_in; i++) {                    \
            const FBP_T a = scale * x[i], old = W[i];               \
            dots[i - 1] = old * dk;                                 \
            FBP_APPLY(RULE, ARGS, a, i, dk, old);                   \
        }                                                           \
        return;                                                     \
    }                                                               \
    memset(dots, 0, n_in * sizeof(FBP_T));                          \
    Py_ssize_t j0 = 0;                                              \
    FBP_DOT_UPDATE_BLOCKS(32, RULE, ARGS)                               \
    FBP_DOT_UPDATE_BLOCKS(16, RULE, ARGS)                               \
    FBP_DOT_UPDATE_BLOCKS(8, RULE, ARGS)                                \
    FBP_DOT_UPDATE_BLOCKS(4, RULE, ARGS)                                \
    FBP_DOT_UPDATE_BLOCKS(2, RULE, ARGS)                                \
    FBP_DOT_UPDATE_BLOCKS(1, RULE, ARGS)

/* Plain SGD.  Rows wider than FBP_STREAM_N go whole, four at a time,
 * through fbp_dot_rank1. */
static FBP_ALWAYS_INLINE void FBP_FN(fbp_dot_update_at)(Py_ssize_t n_in, Py_ssize_t n,
                                                        FBP_T scale, const FBP_T *x,
                                                        const FBP_T *delta, FBP_T *W,
                                                        FBP_T *dots)
{
    if (n > FBP_STREAM_N) {
        FBP_FN(fbp_dot_rank1)(n_in, n, scale, x, delta, W, W, dots);
        return;
    }
    FBP_DOT_UPDATE_ALL(FBP_SGD_UPDATE, (W))
}

static inline void FBP_FN(fbp_dot_update)(Py_ssize_t n_in, Py_ssize_t n, FBP_T scale,
                                           const FBP_T *x, const FBP_T *delta, FBP_T *W,
                                           FBP_T *dots)
{
#define FBP_AT(N) FBP_FN(fbp_dot_update_at)(n_in, N, scale, x, delta, W, dots)
    FBP_BY_WIDTH(n, FBP_AT)
#undef FBP_AT
}

/* Classical momentum without weight decay (scale = lr).
 * Rows wider than FBP_STREAM_N go whole, four at a time, through
 * fbp_momentum_rows. */
static inline void FBP_FN(fbp_classical_dot_update)(Py_ssize_t n_in, Py_ssize_t n,
                                                     FBP_T scale, FBP_T mu, const FBP_T *x,
                                                     const FBP_T *delta, FBP_T *W, FBP_T *V,
                                                     FBP_T *dots)
{
    if (n > FBP_STREAM_N) {
        FBP_FN(fbp_momentum_rows)(n_in, n, 0, scale, mu, 0, x, delta, W, V, dots);
        return;
    }
    FBP_DOT_UPDATE_ALL(FBP_CLASSICAL_UPDATE, (W, V, mu))
}
/* Weight decay without momentum (scale = -lr, shrink = 1 - lr wd), rows of
 * any width in column blocks. */
static inline void FBP_FN(fbp_decay_dot_update)(Py_ssize_t n_in, Py_ssize_t n, FBP_T scale,
                                                 FBP_T shrink, const FBP_T *x,
                                                 const FBP_T *delta, FBP_T *W, FBP_T *dots)
{
    FBP_DOT_UPDATE_ALL(FBP_DECAY_UPDATE, (W, shrink))
}
#undef FBP_SGD_UPDATE
#undef FBP_DECAY_UPDATE
#undef FBP_CLASSICAL_UPDATE
#undef FBP_DOT_UPDATE_ALL
#undef FBP_DOT_UPDATE_BLOCKS
#undef FBP_DOT_UPDATE_ROW


#if FBP_TINY
/* The sum of v's lanes, added in a tree.  (Vectors go by pointer: by value
 * they would take a different ABI in the copies built without AVX.) */
static inline FBP_T FBP_FN(fbp_lanes_sum)(const FBP_FN(fbp_lanes) *v)
{
#if FBP_LANES == 8
    return (((*v)[0] + (*v)[4]) + ((*v)[2] + (*v)[6]))
           + (((*v)[1] + (*v)[5]) + ((*v)[3] + (*v)[7]));
#else
    return ((*v)[0] + (*v)[2]) + ((*v)[1] + (*v)[3]);
#endif
}

/* x = tanh(s) lane by lane, vectorised: through an array (the compiler
 * does not vectorise FBP_TANH1 over a vector's lanes). */
static inline void FBP_FN(fbp_tanh_lanes)(const FBP_FN(fbp_lanes) *s, FBP_FN(fbp_lanes) *x)
{
    FBP_T in[FBP_LANES], out[FBP_LANES];
    memcpy(in, s, sizeof in);
    FBP_FN(fbp_tanh_at)(FBP_LANES, in, out);
    memcpy(x, out, sizeof out);
}

/* train_share's loop for a tiny network: one hidden layer, widths of at
 * most FBP_LANES, tanh or identity layers; plain SGD at a constant rate
 * (scale = -lr), one example at a time, the squared error, dense rows.
 * The weights are copied into vectors of FBP_LANES lanes and back at the
 * end: W^(1) by rows (row 0 the biases), W^(2) by columns (W2[j][i] =
 * w_(i+1)j^(2), biases b2), so that the output sums and the induction step's
 * sums are vector operations too.  An example stays in registers from its
 * input to its update, with no call and no store on the way: the
 * per-example loop of a tiny network is bound by that chain's latency.
 * Lanes beyond a layer's width hold zeros, and keep them: their signals,
 * outputs and deltas are 0.  clip > 0 clamps delta^(2); sample_weight may
 * be NULL.
 * Returns the examples done (it stops before the update of an example whose
 * error is not finite) and adds their weighted errors to *errors. */
static Py_ssize_t FBP_FN(fbp_tiny_sgd)(const Py_ssize_t *d, int tanh_hidden, int tanh_output,
                                       FBP_T *w, FBP_T scale, FBP_T clip, const FBP_T *X,
                                       const FBP_T *Y, const FBP_T *sample_weight,
                                       const Py_ssize_t *order, Py_ssize_t n, double *errors)
{
    typedef FBP_FN(fbp_lanes) V;
    enum { P = FBP_LANES };
    const Py_ssize_t d0 = d[0], d1 = d[1], d2 = d[2];
    FBP_T *w2 = w + (d0 + 1) * d1;
    V W1[P + 1], W2[P], b2 = {0};                 /* W2[j][i] = w_(i+1)j^(2) */
    memset(W1, 0, sizeof W1);
    memset(W2, 0, sizeof W2);
    for (Py_ssize_t i = 0; i <= d0; i++)
        for (Py_ssize_t j = 0; j < d1; j++)
            W1[i][j] = w[i * d1 + j];
    for (Py_ssize_t j = 0; j < d2; j++) {
        b2[j] = w2[j];
        for (Py_ssize_t i = 0; i < d1; i++)
            W2[j][i] = w2[(i + 1) * d2 + j];
    }
    double total = 0;
    Py_ssize_t k;
    for (k = 0; k < n; k++) {
        const Py_ssize_t r = order[k];
        if (k + 16 < n) {
            fbp_prefetch(X + order[k + 16] * d0, d0 * sizeof(FBP_T));
            fbp_prefetch(Y + order[k + 16] * d2, d2 * sizeof(FBP_T));
        }
        const FBP_T *x0 = X + r * d0, *y = Y + r * d2;
        V s = W1[0], h, out = b2, y_lanes = {0}, delta, up;
        for (Py_ssize_t i = 0; i < d0; i++)
            s = x0[i] * W1[i + 1] + s;
        if (tanh_hidden)
            FBP_FN(fbp_tanh_lanes)(&s, &h);
        else
            h = s;
        #pragma GCC unroll 8
        for (int j = 0; j < P; j++)
            if (j < d2) {
                const V products = h * W2[j];
                out[j] += FBP_FN(fbp_lanes_sum)(&products);
            }
        if (tanh_output)
            FBP_FN(fbp_tanh_lanes)(&out, &out);
        #pragma GCC unroll 8
        for (int j = 0; j < P; j++)
            if (j < d2)
                y_lanes[j] = y[j];
        delta = out - y_lanes;
        double e = 0;
        for (Py_ssize_t j = 0; j < d2; j++) {
            const double diff = (double)out[j] - y[j];
            e += 0.5 * diff * diff;
        }
        if (!isfinite(e))
            break;
        if (tanh_output)
            delta *= 1 - out * out;
        if (clip > 0) {
            for (int j = 0; j < P; j++)
                delta[j] = delta[j] < -clip ? -clip : (delta[j] > clip ? clip : delta[j]);
        }
        FBP_T weight = 1;
        if (sample_weight) {
            weight = sample_weight[r];
            delta *= weight;
        }
        total += weight * e;
        V dots = {0};                           /* delta^(1) before g' */
        const V scaled_h = scale * h;
        #pragma GCC unroll 8
        for (int j = 0; j < P; j++)
            if (j < d2) {
                dots = W2[j] * delta[j] + dots;
                W2[j] = scaled_h * delta[j] + W2[j];
            }
        b2 = scale * delta + b2;
        up = tanh_hidden ? dots * (1 - h * h) : dots;
        W1[0] = scale * up + W1[0];
        for (Py_ssize_t i = 0; i < d0; i++)
            W1[i + 1] = (scale * x0[i]) * up + W1[i + 1];
    }
    for (Py_ssize_t i = 0; i <= d0; i++)
        for (Py_ssize_t j = 0; j < d1; j++)
            w[i * d1 + j] = W1[i][j];
    for (Py_ssize_t j = 0; j < d2; j++) {
        w2[j] = b2[j];
        for (Py_ssize_t i = 0; i < d1; i++)
            w2[(i + 1) * d2 + j] = W2[j][i];
    }
    *errors += total;
    return k;
}
#endif

/* One row of Adam (scikit-learn's) with g = a delta[j] + wd w[j]:
 *   m[j] <- beta_1 m[j] + (1 - beta_1) g,  v[j] <- beta_2 v[j] + (1 - beta_2) g^2,
 *   w[j] <- w[j] - rate m[j] / (sqrt(v[j]) + epsilon)
 * (rate bias-corrected by the caller); returns sum_j w[j] delta[j] with w
 * as it was. */
static FBP_NOINLINE FBP_T FBP_FN(fbp_adam_row)(Py_ssize_t n, FBP_T a, FBP_T wd, FBP_T beta_1,
                                         FBP_T beta_2, FBP_T epsilon, FBP_T rate,
                                         const FBP_T *delta, FBP_T *w, FBP_T *m, FBP_T *v)
{
    const FBP_T keep_1 = 1 - beta_1, keep_2 = 1 - beta_2;
    FBP_T acc = 0;
    #pragma omp simd reduction(+:acc)
    for (Py_ssize_t j = 0; j < n; j++) {
        const FBP_T old = w[j], g = a * delta[j] + wd * old;
        const FBP_T m_j = beta_1 * m[j] + keep_1 * g, v_j = beta_2 * v[j] + keep_2 * g * g;
        acc += old * delta[j];
        m[j] = FBP_FLUSHED(m_j);
        v[j] = FBP_FLUSHED(v_j);
        w[j] = old - rate * m[j] / (FBP_SQRT(v[j]) + epsilon);
    }
    return acc;
}

/* One row of Adagrad (torch's) with g = a delta[j] + wd w[j]:
 *   v[j] <- v[j] + g^2,  w[j] <- w[j] - rate g / (sqrt(v[j]) + epsilon)
 * returns sum_j w[j] delta[j] with w as it was. */
static FBP_NOINLINE FBP_T FBP_FN(fbp_adagrad_row)(Py_ssize_t n, FBP_T a, FBP_T wd, FBP_T epsilon,
                                            FBP_T rate, const FBP_T *delta, FBP_T *w,
                                            FBP_T *v)
{
    FBP_T acc = 0;
    #pragma omp simd reduction(+:acc)
    for (Py_ssize_t j = 0; j < n; j++) {
        const FBP_T old = w[j], g = a * delta[j] + wd * old;
        acc += old * delta[j];
        v[j] = v[j] + g * g;
        w[j] = old - rate * g / (FBP_SQRT(v[j]) + epsilon);
    }
    return acc;
}

/* w[j] += c v[j], v[j] = decay v[j]: momentum's updates of a row whose
 * gradient was 0 (see _lazy.pxi). */
static inline void FBP_FN(fbp_catch_up)(Py_ssize_t n, FBP_T c, FBP_T decay, FBP_T *w, FBP_T *v)
{
    #pragma omp simd
    for (Py_ssize_t j = 0; j < n; j++) {
        w[j] += c * v[j];
        v[j] = FBP_FLUSHED(decay * v[j]);
    }
}

/* sum_j x[j] * 0: 0 where every x[j] is finite, else NaN. */
static inline FBP_T FBP_FN(fbp_zero_sum)(Py_ssize_t n, const FBP_T *x)
{
    FBP_T acc = 0;
    #pragma omp simd reduction(+:acc)
    for (Py_ssize_t j = 0; j < n; j++)
        acc += x[j] * 0;
    return acc;
}

/* Averaged SGD: avg[j] += (w[j] - avg[j]) * inv_k, the running mean of the
 * iterates with inv_k = 1 / (number of iterates averaged, this one included). */
static inline void FBP_FN(fbp_running_mean)(Py_ssize_t n, FBP_T inv_k, const FBP_T *w,
                                            FBP_T *avg)
{
    #pragma omp simd
    for (Py_ssize_t j = 0; j < n; j++)
        avg[j] += (w[j] - avg[j]) * inv_k;
}
