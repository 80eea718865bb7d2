/* Row kernels of the compiled core, for double (_d) and float (_f).
 *
 * `#pragma omp simd` (built with -fopenmp-simd, no OpenMP runtime needed)
 * lets the compiler vectorise the loops: it may assume the rows do not
 * overlap in a way that crosses iterations, and it may split the dot
 * product's sum into several partial sums (a reduction), which gcc will not
 * do on its own without -ffast-math.
 *
 * A layer's weights W are row-major (n_in+1, n), row 0 the bias weights.
 * The two kernels that sweep a whole layer (signals, rank1) work on column
 * blocks of WIDTH = 32, 16, 8, 4, then 1: a block's sums, or its deltas,
 * stay in registers while the rows go by, so each weight is loaded once.
 */
#ifndef FASTBP_KERNELS_H
#define FASTBP_KERNELS_H

#include <stddef.h>

/* s[j] = W[0][j] + sum_{i=1..n_in} x[i] W[i][j] for the columns j of blocks
 * of WIDTH from j0 on; leaves j0 at the first column not done. */
#define FBP_SIGNALS_BLOCKS(T, WIDTH)                                           \
    for (; j0 + WIDTH <= n; j0 += WIDTH) {                                     \
        T acc[WIDTH];                                                          \
        _Pragma("omp simd")                                                    \
        for (int b = 0; b < WIDTH; b++)                                        \
            acc[b] = W[j0 + b];                                                \
        for (Py_ssize_t i = 1; i <= n_in; i++) {                               \
            const T x_i = x[i], *row = W + i * n + j0;                         \
            _Pragma("omp simd")                                                \
            for (int b = 0; b < WIDTH; b++)                                    \
                acc[b] += x_i * row[b];                                        \
        }                                                                      \
        _Pragma("omp simd")                                                    \
        for (int b = 0; b < WIDTH; b++)                                        \
            s[j0 + b] = acc[b];                                                \
    }

/* T[i][j] += (scale x[i]) delta[j], rows 1..n_in, columns of blocks of WIDTH. */
#define FBP_RANK1_BLOCKS(T, WIDTH)                                             \
    for (; j0 + WIDTH <= n; j0 += WIDTH) {                                     \
        T d[WIDTH];                                                            \
        _Pragma("omp simd")                                                    \
        for (int b = 0; b < WIDTH; b++)                                        \
            d[b] = delta[j0 + b];                                              \
        for (Py_ssize_t i = 1; i <= n_in; i++) {                               \
            const T a = scale * x[i];                                          \
            T *row = Tm + i * n + j0;                                          \
            _Pragma("omp simd")                                                \
            for (int b = 0; b < WIDTH; b++)                                    \
                row[b] += a * d[b];                                            \
        }                                                                      \
    }

#define FASTBP_KERNELS(T, SUFFIX)                                              \
/* s[j] = sum_{i=0..n_in} W[i][j] x[i], with x[0] = 1: a layer's signals. */   \
static inline void fbp_signals_##SUFFIX(Py_ssize_t n_in, Py_ssize_t n,        \
                                        const T *W, const T *x, T *s)          \
{                                                                              \
    Py_ssize_t j0 = 0;                                                         \
    FBP_SIGNALS_BLOCKS(T, 32)                                                  \
    FBP_SIGNALS_BLOCKS(T, 16)                                                  \
    FBP_SIGNALS_BLOCKS(T, 8)                                                   \
    FBP_SIGNALS_BLOCKS(T, 4)                                                   \
    FBP_SIGNALS_BLOCKS(T, 1)                                                   \
}                                                                              \
/* T[i][j] += scale x[i] delta[j] for i = 1..n_in: the rank-1 SGD update of a  \
 * layer whose delta^(l-1) is not needed (row 0 is left to the caller). */    \
static inline void fbp_rank1_##SUFFIX(Py_ssize_t n_in, Py_ssize_t n, T scale, \
                                      const T *x, const T *delta, T *Tm)       \
{                                                                              \
    Py_ssize_t j0 = 0;                                                         \
    FBP_RANK1_BLOCKS(T, 32)                                                    \
    FBP_RANK1_BLOCKS(T, 16)                                                    \
    FBP_RANK1_BLOCKS(T, 8)                                                     \
    FBP_RANK1_BLOCKS(T, 4)                                                     \
    FBP_RANK1_BLOCKS(T, 1)                                                     \
}                                                                              \
/* y[j] += a x[j] */                                                           \
static inline void fbp_axpy_##SUFFIX(Py_ssize_t n, T a, const T *x, T *y)     \
{                                                                              \
    _Pragma("omp simd")                                                        \
    for (Py_ssize_t j = 0; j < n; j++)                                         \
        y[j] += a * x[j];                                                      \
}                                                                              \
/* Returns sum_j w[j] delta[j] with w as it was, and does t[j] += a delta[j]; \
 * t may be w itself (the in-place SGD update): each w[j] is read before      \
 * t[j] is written. */                                                         \
static inline T fbp_dot_axpy_##SUFFIX(Py_ssize_t n, T a, const T *delta,      \
                                      const T *w, T *t)                        \
{                                                                              \
    T acc = 0;                                                                 \
    _Pragma("omp simd reduction(+:acc)")                                       \
    for (Py_ssize_t j = 0; j < n; j++) {                                       \
        acc += w[j] * delta[j];                                                \
        t[j] += a * delta[j];                                                  \
    }                                                                          \
    return acc;                                                                \
}

FASTBP_KERNELS(double, d)
FASTBP_KERNELS(float, f)

#endif
