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
 *
 * Each kernel is written once, in _kernels_body.h, for a type FBP_T, and
 * included below for double (names ending _d) and float (_f).
 */
#ifndef FASTBP_KERNELS_H
#define FASTBP_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* tanh of a whole layer, vectorised: no libm call, no branch.
 *
 * |s| < 0.625: tanh(s) = s + s^3 P(s^2) / Q(s^2), Cephes' rational
 * approximation (within 1 ulp there).  Elsewhere tanh(|s|) = 1 - 2 / (e + 1)
 * with e = exp(2|s|), which loses no digits as e >= 3.49; 2|s| is clamped to
 * [1.25, 40] (tanh(20) rounds to 1), where exp(z) = 2^k exp(r) with
 * k = round(z / ln 2), |r| <= ln(2) / 2 and exp(r) by its Taylor series to
 * r^13 (truncation error below 1e-17).  Both are computed and one selected,
 * as the sign of |s| - 0.625 is random from one node to the next (the
 * select needs -fno-trapping-math to become a vector blend).  Computed in
 * double for both float types; within 2 ulp of tanh in float64.
 */
static inline double fbp_tanh1(double s)
{
    const double a = s < 0 ? -s : s, q = s * s;
    const double small = s + s * q * (((-9.64399179425052238628e-1 * q
                                        - 9.92877231001918586564e1) * q
                                       - 1.61468768441708447952e3)
                                      / (((q + 1.12811678491632931402e2) * q
                                          + 2.23548839060100448583e3) * q
                                         + 4.84406305325125486048e3));
    double z = 2 * a;
    z = z < 1.25 ? 1.25 : z;
    z = z > 40 ? 40 : z;
    /* k = round(z / ln 2) by adding 1.5 * 2^52: k lands in the low bits */
    const double shifter = 6755399441055744.0;
    const double shifted = z * 1.4426950408889634 + shifter, k = shifted - shifter;
    const double r = (z - k * 6.93147180369123816490e-01) - k * 1.90821492927058770002e-10;
    double p = 1.0 / 6227020800.0;                                /* 1/13! */
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    uint64_t bits;                               /* 2^k: k + 1023 into the exponent */
    memcpy(&bits, &shifted, sizeof bits);
    bits = (bits + 1023) << 52;
    double two_k;
    memcpy(&two_k, &bits, sizeof two_k);
    const double large = 1 - 2 / (p * two_k + 1);
    return a < 0.625 ? small : (s < 0 ? -large : large);
}

/* Column blocks of WIDTH from column j0 on, for fbp_signals and fbp_rank1:
 * the block's sums (acc) or deltas (d) stay in registers while the rows go
 * by.  Each leaves j0 at the first column it did not do. */
#define FBP_SIGNALS_BLOCKS(WIDTH)                                   \
    for (; j0 + WIDTH <= n; j0 += WIDTH) {                          \
        FBP_T acc[WIDTH];                                           \
        _Pragma("omp simd")                                         \
        for (int b = 0; b < WIDTH; b++)                             \
            acc[b] = W[j0 + b];                                     \
        for (Py_ssize_t i = 1; i <= n_in; i++) {                    \
            const FBP_T x_i = x[i], *row = W + i * n + j0;          \
            _Pragma("omp simd")                                     \
            for (int b = 0; b < WIDTH; b++)                         \
                acc[b] += x_i * row[b];                             \
        }                                                           \
        _Pragma("omp simd")                                         \
        for (int b = 0; b < WIDTH; b++)                             \
            s[j0 + b] = acc[b];                                     \
    }

#define FBP_RANK1_BLOCKS(WIDTH)                                     \
    for (; j0 + WIDTH <= n; j0 += WIDTH) {                          \
        FBP_T d[WIDTH];                                             \
        _Pragma("omp simd")                                         \
        for (int b = 0; b < WIDTH; b++)                             \
            d[b] = delta[j0 + b];                                   \
        for (Py_ssize_t i = 1; i <= n_in; i++) {                    \
            const FBP_T a = scale * x[i];                           \
            FBP_T *row = Tm + i * n + j0;                           \
            _Pragma("omp simd")                                     \
            for (int b = 0; b < WIDTH; b++)                         \
                row[b] += a * d[b];                                 \
        }                                                           \
    }

/* The kernels themselves, once per floating type. */
#define FBP_T double
#define FBP_FN(name) name##_d
#include "_kernels_body.h"
#undef FBP_T
#undef FBP_FN

#define FBP_T float
#define FBP_FN(name) name##_f
#include "_kernels_body.h"
#undef FBP_T
#undef FBP_FN

#endif
