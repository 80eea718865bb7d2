/* Row kernels of the compiled core, for double (_d) and float (_f).
 *
 * `#pragma omp simd` (built with -fopenmp-simd, no OpenMP runtime needed)
 * lets the compiler vectorise the loops: it may assume the rows do not
 * overlap in a way that crosses iterations, and it may split the dot
 * product's sum into several partial sums (a reduction), which gcc will not
 * do on its own without -ffast-math.
 *
 * A layer's weights W are row-major (n_in+1, n), row 0 the bias weights.
 * The kernels that sweep a whole layer (signals, the updates) work on column
 * blocks, widest first: 32, 16, 8, 4, 2 and 1 columns for the signals and
 * the hidden layers' updates; 32 (not for doubles when the next signals
 * are taken too), 16, 8, 4 and 1 for the first layer's.  A block's sums, or
 * its deltas, stay in registers while the rows go by.  Layers wider than
 * FBP_STREAM_N go a whole row at a time.
 * The sweeps (macros) work on their kernel's own parameters (n_in, n, x,
 * delta, ...); an update rule gets every operand as an argument.
 *
 * Each kernel is written once, in _kernels_body.h, for a type FBP_T, and
 * included below for double (names ending _d) and float (_f).
 */
#ifndef FASTBP_KERNELS_H
#define FASTBP_KERNELS_H

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The threads of a parallel training pass: built with -fopenmp, OpenMP's
 * limit; otherwise one (FBP_OPENMP 0, and prange runs serially). */
#ifdef _OPENMP
#include <omp.h>
#define FBP_OPENMP 1
static inline int fbp_max_threads(void) { return omp_get_max_threads(); }
#else
#define FBP_OPENMP 0
static inline int fbp_max_threads(void) { return 1; }
#endif

/* The widest vector instructions the compiler was allowed to use (fastbp
 * info reports it). */
#if defined(__AVX512F__)
#define FBP_SIMD "AVX-512"
#elif defined(__AVX2__) && defined(__FMA__)
#define FBP_SIMD "AVX2 with FMA"
#elif defined(__AVX2__)
#define FBP_SIMD "AVX2"
#elif defined(__AVX__)
#define FBP_SIMD "AVX"
#elif defined(__SSE2__)
#define FBP_SIMD "SSE2"
#elif defined(__ARM_NEON)
#define FBP_SIMD "NEON"
#else
#define FBP_SIMD "none (scalar)"
#endif

/* The instruction set this copy of the core was built for (setup.py
 * defines it: "baseline", "avx2", "avx512" or "native"). */
#ifndef FBP_ISA
#define FBP_ISA "native"
#endif

/* The copies of the core this CPU and its operating system run, beyond the
 * baseline: bit 0 x86-64-v3 (AVX2, FMA, BMI1/2), bit 1 x86-64-v4 (also
 * AVX-512 F, BW, CD, DQ, VL).  libgcc's and compiler-rt's checks include the
 * OS's support for the AVX and AVX-512 registers (XGETBV). */
static inline int fbp_cpu_levels(void)
{
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();
    const int v3 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")
                   && __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2");
    const int v4 = v3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
                   && __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq")
                   && __builtin_cpu_supports("avx512vl");
    return v3 | (v4 << 1);
#else
    return 0;
#endif
}

/* What the threads of a parallel pass share: counters and flags, read and
 * written atomically (sequentially consistent) where OpenMP runs threads;
 * the builds with OpenMP are gcc's and clang's (setup.py), whose __atomic
 * builtins these are. */
#ifdef _OPENMP
#define FBP_ATOMIC_ADD(p, n) __atomic_fetch_add(p, n, __ATOMIC_SEQ_CST)
#define FBP_ATOMIC_LOAD(p) __atomic_load_n(p, __ATOMIC_SEQ_CST)
#define FBP_ATOMIC_STORE(p, value) __atomic_store_n(p, value, __ATOMIC_SEQ_CST)
#else
#define FBP_ATOMIC_ADD(p, n) ((*(p) += (n)) - (n))
#define FBP_ATOMIC_LOAD(p) (*(p))
#define FBP_ATOMIC_STORE(p, value) (*(p) = (value))
#endif

/* Claim the next `count` items of a shared counter: returns where they
 * begin (count may be negative: a thread leaving a count of those running). */
static inline ptrdiff_t fbp_claim(ptrdiff_t *next, ptrdiff_t count)
{
    return FBP_ATOMIC_ADD(next, count);
}

static inline ptrdiff_t fbp_load(const ptrdiff_t *flag) { return FBP_ATOMIC_LOAD(flag); }
static inline void fbp_store(ptrdiff_t *flag, ptrdiff_t value) { FBP_ATOMIC_STORE(flag, value); }

/* A thread waiting on a flag: tell the core it spins. */
static inline void fbp_spin(void)
{
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __builtin_ia32_pause();
#endif
}

/* tanh(s) for the vectorised layer loop: no libm call, no branch, one
 * division, and a short dependency chain (the loop is latency-bound).
 *
 * tanh(|s|) = m / (m + 2) with m = expm1(2|s|).  With z = 2|s| clamped to
 * [0, 40] (tanh(20) rounds to 1), z = k ln 2 + r, |r| <= ln(2) / 2, and
 * m = (2^k - 1) + 2^k q, q = expm1(r) by its Taylor series to r^13
 * (truncation below 1e-17), evaluated by Estrin's scheme.  For k = 0,
 * m = q = expm1(z) keeps full relative accuracy as s -> 0; for k >= 1,
 * 2^k - 1 >= 1 outweighs |2^k q| and nothing cancels.  For float64
 * layers (float32's: fbp_tanh1f).
 */
static inline double fbp_tanh1(double s)
{
    const double a = s < 0 ? -s : s;
    double z = 2 * a;
    z = z > 40 ? 40 : z;
    /* k = round(z / ln 2) by adding 1.5 * 2^52: k lands in the low bits */
    const double shifter = 6755399441055744.0;
    const double shifted = z * 1.4426950408889634 + shifter, k = shifted - shifter;
    const double r = (z - k * 6.93147180369123816490e-01) - k * 1.90821492927058770002e-10;
    const double r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
    /* q / r = sum_{i=0..12} r^i / (i+1)!, in pairs, quads, octets */
    const double p01 = 1.0 + r * (1.0 / 2), p23 = 1.0 / 6 + r * (1.0 / 24);
    const double p45 = 1.0 / 120 + r * (1.0 / 720), p67 = 1.0 / 5040 + r * (1.0 / 40320);
    const double p89 = 1.0 / 362880 + r * (1.0 / 3628800);
    const double p1011 = 1.0 / 39916800 + r * (1.0 / 479001600), p12 = 1.0 / 6227020800.0;
    const double o0 = (p01 + r2 * p23) + r4 * (p45 + r2 * p67);
    const double o1 = (p89 + r2 * p1011) + r4 * p12;
    const double q = r * (o0 + r8 * o1);
    uint64_t bits;                               /* 2^k: k + 1023 into the exponent */
    memcpy(&bits, &shifted, sizeof bits);
    bits = (bits + 1023) << 52;
    double two_k;
    memcpy(&two_k, &bits, sizeof two_k);
    const double m = (two_k - 1) + two_k * q;
    const double t = m / (m + 2);
    return s < 0 ? -t : t;
}

/* tanh(s) in float arithmetic, for float32 layers: tanh(a) = a p(u) / q(u)
 * with a = |s| clamped to 9 (tanh rounds to 1 in float32 from 8.7 on),
 * u = a^2, p of degree 5 and q of degree 4 evaluated by Estrin's scheme: a
 * short chain of dependent operations, which a tiny network's examples wait
 * on.  The coefficients are a least-squares fit of tanh(a) / a in relative
 * error; the result is within 4 ulp of tanh with or without fused
 * multiply-adds (tests/test_backends.py, and test_isa for every copy of
 * the core).  The sign is s's; NaN stays NaN. */
static inline float fbp_tanh1f(float s)
{
    const float abs_s = fabsf(s), a = abs_s > 9.0f ? 9.0f : abs_s;
    const float u = a * a, u2 = u * u, u4 = u2 * u2;
    const float p = (1.0f + 0.1369007f * u) + u2 * (0.003881033f + 2.8262635e-05f * u)
                    + u4 * (3.1193416e-08f - 1.2649428e-11f * u);
    const float q = (1.0f + 0.470234f * u) + u2 * (0.027292384f + 0.00039609912f * u)
                    + u4 * 1.3051276e-06f;
    return copysignf(a * p / q, s);
}

/* The place of the lowest set bit of a nonzero word. */
static inline int fbp_lowest_bit(unsigned long long word)
{
#if defined(__GNUC__)
    return __builtin_ctzll(word);
#else
    int place = 0;
    while (!(word & 1)) {
        word >>= 1;
        place++;
    }
    return place;
#endif
}

/* Ask for the cache lines of the n bytes at p, ahead of their use: the next
 * examples of a shuffled epoch are random rows that no hardware prefetcher
 * can guess. */
static inline void fbp_prefetch(const void *p, Py_ssize_t n)
{
#if defined(__GNUC__)
    const char *c = (const char *)p;
    for (Py_ssize_t offset = 0; offset < n; offset += 64)
        __builtin_prefetch(c + offset);
    __builtin_prefetch(c + n - 1);
#else
    (void)p;
    (void)n;
#endif
}

/* FBP_MADD(a, b, c) = a b + c, rounded once where the target has a fused
 * multiply-add.  Written out where two kernels must round alike (the
 * signals of FBP_SIGNALS_BLOCKS and of FBP_UPDATE_BLOCKS): left to the
 * compiler, a multiply-add may be fused in one kernel and not the other. */
#ifdef __FMA__
#define FBP_MADD_D(a, b, c) fma(a, b, c)
#define FBP_MADD_F(a, b, c) fmaf(a, b, c)
#else
#define FBP_MADD_D(a, b, c) ((a) * (b) + (c))
#define FBP_MADD_F(a, b, c) ((a) * (b) + (c))
#endif

/* Adam's and Adagrad's rows stay out of line: inlined, they took gcc's
 * budget for inlining the per-example kernels into the training loop. */
#if defined(__GNUC__)
#define FBP_NOINLINE __attribute__((noinline))
#else
#define FBP_NOINLINE
#endif

/* Small layers: a kernel of the per-example path is compiled once more for
 * each width n = 1..16 as a constant, its column blocks and loops then
 * unrolled with no test of n at run time.  FBP_BY_WIDTH(n, AT) runs AT(n)
 * with n that constant where there is one, and as it is above 16. */
#if defined(__GNUC__)
#define FBP_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define FBP_ALWAYS_INLINE inline
#endif
#define FBP_BY_WIDTH(n, AT)                                                      \
    switch (n) {                                                                 \
    case 1: AT(1); break;   case 2: AT(2); break;   case 3: AT(3); break;        \
    case 4: AT(4); break;   case 5: AT(5); break;   case 6: AT(6); break;        \
    case 7: AT(7); break;   case 8: AT(8); break;   case 9: AT(9); break;        \
    case 10: AT(10); break; case 11: AT(11); break; case 12: AT(12); break;      \
    case 13: AT(13); break; case 14: AT(14); break; case 15: AT(15); break;      \
    case 16: AT(16); break; default: AT(n);                                      \
    }

/* FBP_APPLY(RULE, ARGS, ...) is RULE(the operands in the parenthesized
 * ARGS, then ...): how a sweep hands an update rule the rule's own operands
 * (the kernel's W, V, mu, ...) besides its own (a, k, dk, old). */
#define FBP_UNPACK(...) __VA_ARGS__
#define FBP_CALL(RULE, ...) RULE(__VA_ARGS__)
#define FBP_APPLY(RULE, ARGS, ...) FBP_CALL(RULE, FBP_UNPACK ARGS, __VA_ARGS__)

/* p[0] = the sum of the WIDTH (a power of 2) values of the array p, added
 * in a tree: the halves added lane by lane, then the halves of that, ...
 * Written out: a reduction over a block of constant width is unrolled
 * before it is vectorised, and is then summed one lane after another. */
#define FBP_HALVES_SUM(WIDTH, p)                                    \
    _Pragma("GCC unroll 8")                                         \
    for (int h = (WIDTH) / 2; h >= 1; h /= 2) {                     \
        _Pragma("omp simd")                                         \
        for (int b = 0; b < h; b++)                                 \
            p[b] += p[b + h];                                       \
    }

/* Column blocks of WIDTH from column j0 on, for fbp_signals and the rank-1
 * updates: the block's sums (acc) or deltas (d) stay in registers while the
 * rows go by.  Each leaves j0 at the first column it did not do.
 * A block's signals are two sums, of the rows i = 1..h with
 * h = FBP_SPLIT(n, n_in) (begun with the biases, row 0) and of the later
 * rows, added at the end.  A narrow layer (n <= 16, a vector or two a
 * block) splits its rows in halves: two chains of dependent multiply-adds,
 * each half as long as one, taken side by side (rows i and h + i); a wider
 * one has chains enough in a block, and sums all its rows in the first. */
#define FBP_SPLIT(n, n_in) ((n) <= 16 ? ((n_in) + 1) / 2 : (n_in))
#define FBP_SIGNALS_BLOCKS(WIDTH)                                   \
    for (; j0 + WIDTH <= n; j0 += WIDTH) {                          \
        const Py_ssize_t h = FBP_SPLIT(n, n_in);                    \
        FBP_T acc[WIDTH], later[WIDTH];                             \
        _Pragma("omp simd")                                         \
        for (int b = 0; b < WIDTH; b++) {                           \
            acc[b] = W[j0 + b];                                     \
            later[b] = 0;                                           \
        }                                                           \
        for (Py_ssize_t i = 1; i <= n_in - h; i++) {                \
            const FBP_T x_i = x[i], x_l = x[h + i];                 \
            const FBP_T *row = W + i * n + j0, *row_l = row + h * n; \
            _Pragma("omp simd")                                     \
            for (int b = 0; b < WIDTH; b++) {                       \
                acc[b] = FBP_MADD(x_i, row[b], acc[b]);             \
                later[b] = FBP_MADD(x_l, row_l[b], later[b]);       \
            }                                                       \
        }                                                           \
        for (Py_ssize_t i = n_in - h + 1; i <= h; i++) {            \
            const FBP_T x_i = x[i], *row = W + i * n + j0;          \
            _Pragma("omp simd")                                     \
            for (int b = 0; b < WIDTH; b++)                         \
                acc[b] = FBP_MADD(x_i, row[b], acc[b]);             \
        }                                                           \
        _Pragma("omp simd")                                         \
        for (int b = 0; b < WIDTH; b++)                             \
            s[j0 + b] = acc[b] + later[b];                          \
    }

/* The same for four examples' signals at once (fbp_signals4): each row of
 * the block is loaded once for the four, their sums summed as fbp_signals
 * sums one example's (A the sums row i goes to). */
#define FBP_SIGNALS4_ROW(WIDTH, A, i)                               \
    {                                                               \
        const FBP_T *row = W + (i) * n + j0;                        \
        const FBP_T x0 = x[0][i], x1 = x[1][i], x2 = x[2][i], x3 = x[3][i]; \
        _Pragma("omp simd")                                         \
        for (int b = 0; b < WIDTH; b++) {                           \
            A[0][b] = FBP_MADD(x0, row[b], A[0][b]);                \
            A[1][b] = FBP_MADD(x1, row[b], A[1][b]);                \
            A[2][b] = FBP_MADD(x2, row[b], A[2][b]);                \
            A[3][b] = FBP_MADD(x3, row[b], A[3][b]);                \
        }                                                           \
    }
#define FBP_SIGNALS4_BLOCKS(WIDTH)                                  \
    for (; j0 + WIDTH <= n; j0 += WIDTH) {                          \
        const Py_ssize_t h = FBP_SPLIT(n, n_in);                    \
        FBP_T acc[4][WIDTH], later[4][WIDTH];                       \
        for (int r = 0; r < 4; r++) {                               \
            _Pragma("omp simd")                                     \
            for (int b = 0; b < WIDTH; b++) {                       \
                acc[r][b] = W[j0 + b];                              \
                later[r][b] = 0;                                    \
            }                                                       \
        }                                                           \
        for (Py_ssize_t i = 1; i <= h; i++)                         \
            FBP_SIGNALS4_ROW(WIDTH, acc, i)                         \
        for (Py_ssize_t i = h + 1; i <= n_in; i++)                  \
            FBP_SIGNALS4_ROW(WIDTH, later, i)                       \
        for (int r = 0; r < 4; r++) {                               \
            _Pragma("omp simd")                                     \
            for (int b = 0; b < WIDTH; b++)                         \
                s[r][j0 + b] = acc[r][b] + later[r][b];             \
        }                                                           \
    }

/* Rank-1 updates a = scale x[i], then RULE(ARGS..., a, k, dk, old) of
 * element k = i n + j with dk = delta[j] and old = UPDATED[k], for rows
 * i = 1..n_in (row 0 is left to the caller, and must be done first when
 * NEXT).  With NEXT (a constant 1) the same
 * pass also takes the next example's signals from the updated weights:
 * s[j] = UPDATED[0][j] + sum_{i=1..n_in} UPDATED[i][j] xn[i-1], xn being
 * the next example's inputs (no bias node), summed in the order and with the
 * operations of FBP_SIGNALS_BLOCKS (SUM the sums row i goes to), so that
 * s is exactly what the next forward pass would compute. */
#define FBP_UPDATE_ROW(WIDTH, RULE, ARGS, UPDATED, NEXT, SUM, i)    \
    {                                                               \
        const FBP_T a = scale * x[i], x_i = NEXT ? xn[(i) - 1] : 0; \
        const Py_ssize_t at = (i) * n + j0;                         \
        _Pragma("omp simd")                                         \
        for (int b = 0; b < WIDTH; b++) {                           \
            FBP_APPLY(RULE, ARGS, a, at + b, d[b], UPDATED[at + b]); \
            if (NEXT)                                               \
                SUM[b] = FBP_MADD(x_i, UPDATED[at + b], SUM[b]);    \
        }                                                           \
    }
#define FBP_UPDATE_BLOCKS(WIDTH, RULE, ARGS, UPDATED, NEXT)         \
    for (; j0 + WIDTH <= n; j0 += WIDTH) {                          \
        const Py_ssize_t h = FBP_SPLIT(n, n_in);                    \
        FBP_T d[WIDTH], acc[WIDTH], later[WIDTH];                   \
        _Pragma("omp simd")                                         \
        for (int b = 0; b < WIDTH; b++) {                           \
            d[b] = delta[j0 + b];                                   \
            if (NEXT) {                                             \
                acc[b] = UPDATED[j0 + b];                           \
                later[b] = 0;                                       \
            }                                                       \
        }                                                           \
        for (Py_ssize_t i = 1; i <= n_in - h; i++) {                \
            FBP_UPDATE_ROW(WIDTH, RULE, ARGS, UPDATED, NEXT, acc, i) \
            FBP_UPDATE_ROW(WIDTH, RULE, ARGS, UPDATED, NEXT, later, h + i) \
        }                                                           \
        for (Py_ssize_t i = n_in - h + 1; i <= h; i++)              \
            FBP_UPDATE_ROW(WIDTH, RULE, ARGS, UPDATED, NEXT, acc, i)    \
        if (NEXT) {                                                 \
            _Pragma("omp simd")                                     \
            for (int b = 0; b < WIDTH; b++)                         \
                s[j0 + b] = acc[b] + later[b];                      \
        }                                                           \
    }

/* With NEXT on a wide layer (n > FBP_STREAM_N): whole rows one after the
 * other, the sums in s itself, as fbp_signals sums such a layer's: one sum
 * of all rows in order (its many columns are chains enough).  Column blocks
 * would walk W with a stride of a row, which the cache and the prefetcher
 * serve badly once W is large. */
#define FBP_STREAM_N 128
#define FBP_UPDATE_ROWS(RULE, ARGS, UPDATED)                        \
    {                                                               \
        _Pragma("omp simd")                                         \
        for (Py_ssize_t j = 0; j < n; j++)                          \
            s[j] = UPDATED[j];                                      \
        for (Py_ssize_t i = 1; i <= n_in; i++) {                    \
            const FBP_T a = scale * x[i], x_i = xn[i - 1];          \
            const Py_ssize_t at = i * n;                            \
            _Pragma("omp simd")                                     \
            for (Py_ssize_t j = 0; j < n; j++) {                    \
                FBP_APPLY(RULE, ARGS, a, at + j, delta[j], UPDATED[at + j]); \
                s[j] = FBP_MADD(x_i, UPDATED[at + j], s[j]);        \
            }                                                       \
        }                                                           \
    }

/* All the column blocks, widest first, with or without the next signals. */
#define FBP_UPDATE_ALL_BLOCKS(RULE, ARGS, UPDATED)                  \
    Py_ssize_t j0 = 0;                                              \
    if (xn && n > FBP_STREAM_N) {                                   \
        FBP_UPDATE_ROWS(RULE, ARGS, UPDATED)                        \
    } else if (xn) {  /* d and acc both in registers: 32 floats, 16 doubles */ \
        if (sizeof(FBP_T) == 4)                                     \
            FBP_UPDATE_BLOCKS(32, RULE, ARGS, UPDATED, 1)           \
        FBP_UPDATE_BLOCKS(16, RULE, ARGS, UPDATED, 1)               \
        FBP_UPDATE_BLOCKS(8, RULE, ARGS, UPDATED, 1)                \
        FBP_UPDATE_BLOCKS(4, RULE, ARGS, UPDATED, 1)                \
        FBP_UPDATE_BLOCKS(1, RULE, ARGS, UPDATED, 1)                \
    } else {                                                        \
        FBP_UPDATE_BLOCKS(32, RULE, ARGS, UPDATED, 0)               \
        FBP_UPDATE_BLOCKS(16, RULE, ARGS, UPDATED, 0)               \
        FBP_UPDATE_BLOCKS(8, RULE, ARGS, UPDATED, 0)                \
        FBP_UPDATE_BLOCKS(4, RULE, ARGS, UPDATED, 0)                \
        FBP_UPDATE_BLOCKS(1, RULE, ARGS, UPDATED, 0)                \
    }

/* The bytes of a vector of the GCC and Clang vector extensions, whose lanes
 * (FBP_LANES: 8 floats, 4 doubles) the row sums take at once and bound a
 * tiny network's widths (fbp_tiny_sgd); 0 where there are none. */
#if defined(__GNUC__)
#define FBP_TINY 32
#else
#define FBP_TINY 0
#endif

/* fbp_add_row_sums in vectors and their shuffles: where the compiler has
 * __builtin_shufflevector (or as -DFBP_ROW_SUMS=0 says). */
#ifndef FBP_ROW_SUMS
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
#define FBP_ROW_SUMS 1
#else
#define FBP_ROW_SUMS 0
#endif
#endif

/* A training thread's arithmetic takes subnormal numbers as 0 (x86's FTZ
 * and DAZ bits of MXCSR) from fbp_subnormals_off() until fbp_fp_restore()
 * of what it returned: weights that decay towards 0 (a network trained on
 * noise) reach them in float32, and every operation on them is many times
 * slower.  Elsewhere a no-op: IEEE arithmetic, and FBP_FLUSHED below. */
#if defined(__SSE2__)
#include <xmmintrin.h>
static inline unsigned int fbp_subnormals_off(void)
{
    const unsigned int mxcsr = _mm_getcsr();
    _mm_setcsr(mxcsr | 0x8040);
    return mxcsr;
}
static inline void fbp_fp_restore(unsigned int mxcsr) { _mm_setcsr(mxcsr); }
#else
static inline unsigned int fbp_subnormals_off(void) { return 0; }
static inline void fbp_fp_restore(unsigned int mxcsr) { (void)mxcsr; }
#endif

/* x, or 0 where |x| is below the normal range: velocities and moments that
 * decay there (a weight whose gradient stays 0) become 0, not subnormal
 * numbers, on which every operation is many times slower; a step that small
 * leaves any weight of the normal range as it was. */
#define FBP_FLUSHED(x) (FBP_FABS(x) < FBP_NORMAL ? 0 : (x))

/* The kernels themselves, once per floating type. */
#define FBP_T double
#define FBP_FN(name) name##_d
#define FBP_MADD FBP_MADD_D
#define FBP_SQRT sqrt
#define FBP_TANH1 fbp_tanh1
#define FBP_FABS fabs
#define FBP_NORMAL DBL_MIN
#define FBP_LANES 4
#include "_kernels_body.h"
#undef FBP_T
#undef FBP_FN
#undef FBP_MADD
#undef FBP_SQRT
#undef FBP_TANH1
#undef FBP_FABS
#undef FBP_NORMAL
#undef FBP_LANES

#define FBP_T float
#define FBP_FN(name) name##_f
#define FBP_MADD FBP_MADD_F
#define FBP_SQRT sqrtf
#define FBP_TANH1 fbp_tanh1f
#define FBP_FABS fabsf
#define FBP_NORMAL FLT_MIN
#define FBP_LANES 8
#include "_kernels_body.h"
#undef FBP_T
#undef FBP_FN
#undef FBP_MADD
#undef FBP_SQRT
#undef FBP_TANH1
#undef FBP_FABS
#undef FBP_NORMAL
#undef FBP_LANES

/* One name per kernel for the core's fused code: the float64 (_d) or
 * float32 (_f) version, picked by the type of the buffer B it writes. */
#define FBP_PICK(B, NAME) _Generic((B), double *: NAME##_d, float *: NAME##_f)
#define fbp_axpy(n, a, x, y) FBP_PICK(y, fbp_axpy)(n, a, x, y)
#define fbp_row_dots(n_in, n, W, delta, dots) FBP_PICK(dots, fbp_row_dots)(n_in, n, W, delta, dots)
#define fbp_rank4(n_in, n, a, x, delta, G) FBP_PICK(G, fbp_rank4)(n_in, n, a, x, delta, G)
#define fbp_signals4(n_in, n, W, x, s) FBP_PICK((s)[0], fbp_signals4)(n_in, n, W, x, s)
#define fbp_tanh(n, s, x) FBP_PICK(x, fbp_tanh)(n, s, x)
#define fbp_signals(n_in, n, W, x, s) FBP_PICK(s, fbp_signals)(n_in, n, W, x, s)
#define fbp_rank1(n_in, n, scale, x, delta, W, xn, s) \
    FBP_PICK(W, fbp_rank1)(n_in, n, scale, x, delta, W, xn, s)
#define fbp_classical_rank1(n_in, n, scale, mu, x, delta, W, V, xn, s) \
    FBP_PICK(W, fbp_classical_rank1)(n_in, n, scale, mu, x, delta, W, V, xn, s)
#define fbp_decay_rank1(n_in, n, scale, shrink, x, delta, W, xn, s) \
    FBP_PICK(W, fbp_decay_rank1)(n_in, n, scale, shrink, x, delta, W, xn, s)
#define fbp_dot_rank1(n_in, n, scale, x, delta, W, Tm, dots) \
    FBP_PICK(Tm, fbp_dot_rank1)(n_in, n, scale, x, delta, W, Tm, dots)
#define fbp_dot_update(n_in, n, scale, x, delta, W, dots) \
    FBP_PICK(W, fbp_dot_update)(n_in, n, scale, x, delta, W, dots)
#define fbp_classical_dot_update(n_in, n, scale, mu, x, delta, W, V, dots) \
    FBP_PICK(W, fbp_classical_dot_update)(n_in, n, scale, mu, x, delta, W, V, dots)
#define fbp_decay_dot_update(n_in, n, scale, shrink, x, delta, W, dots) \
    FBP_PICK(W, fbp_decay_dot_update)(n_in, n, scale, shrink, x, delta, W, dots)
#define fbp_momentum_row(n, a, wd, lr, mu, nesterov, delta, w, v) \
    FBP_PICK(w, fbp_momentum_row)(n, a, wd, lr, mu, nesterov, delta, w, v)
#define fbp_momentum_rows(n_in, n, wd, lr, mu, nesterov, x, delta, W, V, dots) \
    FBP_PICK(W, fbp_momentum_rows)(n_in, n, wd, lr, mu, nesterov, x, delta, W, V, dots)
#define fbp_running_mean(n, inv_k, w, avg) FBP_PICK(avg, fbp_running_mean)(n, inv_k, w, avg)
#define fbp_adam_row(n, a, wd, beta_1, beta_2, epsilon, rate, delta, w, m, v) \
    FBP_PICK(w, fbp_adam_row)(n, a, wd, beta_1, beta_2, epsilon, rate, delta, w, m, v)
#define fbp_adagrad_row(n, a, wd, epsilon, rate, delta, w, v) \
    FBP_PICK(w, fbp_adagrad_row)(n, a, wd, epsilon, rate, delta, w, v)
#if FBP_TINY
#define fbp_tiny_sgd(d, tanh_hidden, tanh_output, w, scale, clip, X, Y, sample_weight, order, \
                     n, errors) \
    FBP_PICK(w, fbp_tiny_sgd)(d, tanh_hidden, tanh_output, w, scale, clip, X, Y, \
                              sample_weight, order, n, errors)
#else   /* never called: no network is tiny (FBP_TINY 0) */
#define fbp_tiny_sgd(...) ((Py_ssize_t)0)
#endif
#define fbp_catch_up(n, c, decay, w, v) FBP_PICK(w, fbp_catch_up)(n, c, decay, w, v)
/* ... and for a kernel that only reads, by the type of the buffer it reads */
#define fbp_zero_sum(n, x) \
    _Generic((x), const double *: fbp_zero_sum_d, const float *: fbp_zero_sum_f, \
             double *: fbp_zero_sum_d, float *: fbp_zero_sum_f)(n, x)

#endif
