# The declarations of the compiled core: the C kernels of _kernels.h, the
# codes of the activations, losses and schedules, and the structs of a pass.
# Included by _core.pyx.

cdef extern from "_kernels.h" nogil:
    int FBP_OPENMP
    const char* FBP_SIMD
    const char* FBP_ISA
    Py_ssize_t FBP_SPLIT(Py_ssize_t n, Py_ssize_t n_in)
    int fbp_cpu_levels()
    int fbp_max_threads()
    Py_ssize_t fbp_claim(Py_ssize_t* next, Py_ssize_t count)
    Py_ssize_t fbp_load(const Py_ssize_t* flag)
    void fbp_store(Py_ssize_t* flag, Py_ssize_t value)
    void fbp_spin()
    void fbp_prefetch(const void* p, Py_ssize_t n)
    int fbp_lowest_bit(unsigned long long word)
    unsigned int fbp_subnormals_off()
    void fbp_fp_restore(unsigned int mode)
    # The row kernels, one name for both floating types: _kernels.h picks the
    # float64 or float32 version by the type of the buffers (see there for
    # what each computes and the order of its arguments).
    void axpy "fbp_axpy" (Py_ssize_t n, ...)
    void tanh_rows "fbp_tanh" (Py_ssize_t n, ...)
    void signals "fbp_signals" (Py_ssize_t n_in, ...)
    void rank1 "fbp_rank1" (Py_ssize_t n_in, ...)
    void classical_rank1 "fbp_classical_rank1" (Py_ssize_t n_in, ...)
    void decay_rank1 "fbp_decay_rank1" (Py_ssize_t n_in, ...)
    void dot_rank1 "fbp_dot_rank1" (Py_ssize_t n_in, ...)
    void row_dots "fbp_row_dots" (Py_ssize_t n_in, ...)
    void rank4 "fbp_rank4" (Py_ssize_t n_in, ...)
    void signals4 "fbp_signals4" (Py_ssize_t n_in, ...)
    void dot_update "fbp_dot_update" (Py_ssize_t n_in, ...)
    void classical_dot_update "fbp_classical_dot_update" (Py_ssize_t n_in, ...)
    void decay_dot_update "fbp_decay_dot_update" (Py_ssize_t n_in, ...)
    double momentum_row "fbp_momentum_row" (Py_ssize_t n, ...)
    void momentum_rows "fbp_momentum_rows" (Py_ssize_t n_in, ...)
    void running_mean "fbp_running_mean" (Py_ssize_t n, ...)
    double zero_sum "fbp_zero_sum" (Py_ssize_t n, ...)
    void catch_up_row "fbp_catch_up" (Py_ssize_t n, ...)
    double adam_row "fbp_adam_row" (Py_ssize_t n, ...)
    double adagrad_row "fbp_adagrad_row" (Py_ssize_t n, ...)
    int FBP_TINY
    Py_ssize_t tiny_sgd "fbp_tiny_sgd" (const Py_ssize_t* d, ...)


from ._names import ACTIVATIONS, LOSSES, OPTIMIZERS, SCHEDULES
from ._names import LEAKY_SLOPE as _LEAKY_SLOPE

# The codes of fastbp._names' tuples (a name's code is its index there);
# ENUMS (in _core.pyx) pairs each with its name for the test that they agree.
cdef enum Activation:
    IDENTITY = 0
    TANH = 1
    SIGMOID = 2
    RELU = 3
    LEAKY_RELU = 4
    SOFTMAX = 5
    EXP = 6

cdef enum Loss:
    SQUARED = 0
    CROSS_ENTROPY = 1
    POISSON = 2

cdef enum Schedule:
    CONSTANT = 0
    INVSCALING = 1
    OPTIMAL = 2

cdef double LEAKY_SLOPE = _LEAKY_SLOPE


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
    # A thread of a sparse Hogwild! pass (_hogwild.pxi) trains its own copy
    # of the dense part: W^(1)'s bias row, the rows of the frequent inputs,
    # and layers 2..L, laid out as w_off says; input i's row of W^(1) is its
    # own row slot[i] + 1 where copied has it (has_bit), else the shared
    # one of shared_w1 (and of Adagrad's sums of squares, shared_squares1).
    # slot is NULL elsewhere: every row where w_off says.
    const int* slot
    const unsigned long long* copied
    void* shared_w1         # floating*: W^(1) of the shared weights
    void* shared_squares1   # floating*: the same block of the shared sums of squares


cdef enum Optimizer:
    SGD = 0
    ADAM = 1
    ADAGRAD = 2


cdef struct Rows:           # the examples' inputs: dense rows, or CSR rows
    Py_ssize_t n            # how many
    bint sparse
    const void* dense       # floating*: row r at r * d[0] (not sparse)
    const void* data        # floating*: the CSR values (sparse)
    const int* indices      # their columns, sorted in each row
    const Py_ssize_t* indptr    # row r's entries: indptr[r] to indptr[r + 1]


cdef enum:
    MAX_SHARDS = 16     # a round's shards of parallel="copies", at most


cdef struct Step:           # how a pass updates the weights: its Options and Plan (step_of)
    double lr, momentum, weight_decay, clip, power_t, t_done, average_from
    double beta_1, beta_2, epsilon, moments_from
    int schedule, optimizer
    void* moments           # floating*: Adam's m then v, or Adagrad's sums of squares
    bint nesterov
    Py_ssize_t batch
    Py_ssize_t t_stride     # update numbers go up by this much (the number of threads)
    int threads             # the plan: threads; a round's examples (parallel="copies"),
    Py_ssize_t round        # or a thread's between exchanges (sparse "hogwild"), 0: none;
    bint copying            # parallel="copies";
    int shards              # its shards a round (0: the serial pass),
    Py_ssize_t bounds[MAX_SHARDS + 1]   # and where in a round they start, then its end


cdef struct Lazy:           # W^(1)'s input rows kept up to date lazily (_lazy.pxi)
    double scale            # weight decay: the input rows are scale times flat's
    Py_ssize_t* last        # momentum: input i's rows of w and v are as after update last[i]
