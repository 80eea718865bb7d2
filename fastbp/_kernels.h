/* Row kernels of the compiled core, for double (_d) and float (_f).
 *
 * `#pragma omp simd` (built with -fopenmp-simd, no OpenMP runtime needed)
 * lets the compiler vectorise the loops: it may assume the rows do not
 * overlap in a way that crosses iterations, and it may split the dot
 * product's sum into several partial sums (a reduction), which gcc will not
 * do on its own without -ffast-math.
 */
#ifndef FASTBP_KERNELS_H
#define FASTBP_KERNELS_H

#include <stddef.h>

/* Columns of a signal block kept in registers by fbp_signals. */
#define FBP_BLOCK 16

#define FASTBP_KERNELS(T, SUFFIX)                                              \
/* y[j] += a * x[j] */                                                         \
static inline void fbp_axpy_##SUFFIX(Py_ssize_t n, T a, const T *x, T *y)     \
{                                                                              \
    _Pragma("omp simd")                                                        \
    for (Py_ssize_t j = 0; j < n; j++)                                         \
        y[j] += a * x[j];                                                      \
}                                                                              \
/* returns sum_j w[j] * delta[j] with w as it was, and t[j] += a * delta[j];   \
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
}                                                                              \
/* s[j] = W[0][j] + sum_{i=1..n_in} x[i] W[i][j], W row-major (n_in+1, n).     \
 * FBP_BLOCK columns at a time, their sums held in registers while the rows  \
 * go by, so each weight is loaded once and s is written once. */            \
static inline void fbp_signals_##SUFFIX(Py_ssize_t n_in, Py_ssize_t n,        \
                                        const T *W, const T *x, T *s)          \
{                                                                              \
    Py_ssize_t i, j0 = 0;                                                      \
    for (; j0 + FBP_BLOCK <= n; j0 += FBP_BLOCK) {                             \
        T acc[FBP_BLOCK];                                                      \
        _Pragma("omp simd")                                                    \
        for (int b = 0; b < FBP_BLOCK; b++)                                    \
            acc[b] = W[j0 + b];                                                \
        for (i = 1; i <= n_in; i++) {                                          \
            const T x_i = x[i], *row = W + i * n + j0;                         \
            _Pragma("omp simd")                                                \
            for (int b = 0; b < FBP_BLOCK; b++)                                \
                acc[b] += x_i * row[b];                                        \
        }                                                                      \
        _Pragma("omp simd")                                                    \
        for (int b = 0; b < FBP_BLOCK; b++)                                    \
            s[j0 + b] = acc[b];                                                \
    }                                                                          \
    if (j0 == n)                                                               \
        return;                                                                \
    for (Py_ssize_t j = j0; j < n; j++)                                        \
        s[j] = W[j];                                                           \
    for (i = 1; i <= n_in; i++)                                                \
        fbp_axpy_##SUFFIX(n - j0, x[i], W + i * n + j0, s + j0);               \
}

FASTBP_KERNELS(double, d)
FASTBP_KERNELS(float, f)

#endif
