# Plain SGD on CSR rows with weight decay or momentum, one thread: W^(1)'s
# rows 1..d[0] (the inputs' rows) brought up to date lazily, and exactly.
# An update changes every row of a dense step, but on the rows of inputs
# the example has no entry for, the gradient is 0, and what is left has a
# closed form:
#
# - weight decay without momentum: every update multiplies all of them by
#   shrink = 1 - lr wd.  They are kept as scale times what flat holds;
#   scale takes the shrinks, an entry's row gets its step over the scale,
#   and flat's rows take the scale at the end of a call (or where the
#   scale gets small).
# - momentum without weight decay: k updates whose gradient is 0 take
#   v to mu^k v and w to w + c v, with c = mu (1 - mu^k) / (1 - mu)
#   (Nesterov's w <- w + mu v_new: mu^2 (1 - mu^k) / (1 - mu)).  A row is
#   brought up to date before an example reads it, and every row at the
#   end of a call.
#
# Both equal the dense computation to rounding (the state: Lazy, in
# _declarations.pxi).  Included by _core.pyx.

cdef double LEAST_SCALE = 1e-20     # below this, flat's rows take the scale


cdef void settle_scale(const Layout* lay, floating* w, Lazy* lazy) noexcept nogil:
    """flat's rows 1..d[0] of W^(1) times the scale; the scale back to 1."""
    cdef Py_ssize_t j, n = lay.d[0] * lay.d[1]
    cdef floating* W = w + lay.w_off[1] + lay.d[1]
    cdef floating scale = <floating> lazy.scale
    if lazy.scale != 1:
        for j in range(n):
            W[j] *= scale
    lazy.scale = 1


cdef inline void decay_rows(const Layout* lay, floating* w, Lazy* lazy,
                            double shrink) noexcept nogil:
    """One update's weight decay of the inputs' rows."""
    lazy.scale *= shrink
    if lazy.scale < LEAST_SCALE:
        settle_scale(lay, w, lazy)


cdef void catch_up(const Layout* lay, floating* w, floating* v, Lazy* lazy, Py_ssize_t i,
                   double mu, bint nesterov, Py_ssize_t updates) noexcept nogil:
    """Input i's rows of w and v from update last[i] to ``updates`` (of the
    call)."""
    cdef Py_ssize_t k = updates - lazy.last[i]
    cdef double decay, c
    if k == 0:
        return
    decay = pow(mu, k)
    c = (mu * mu if nesterov else mu) * (1 - decay) / (1 - mu)
    catch_up_row(lay.d[1], <floating> c, <floating> decay, input_row(lay, w, NULL, i),
                 input_row(lay, v, NULL, i))
    lazy.last[i] = updates


cdef void sparse_momentum(const Layout* lay, floating* w, floating* v, floating lr,
                          floating mu, int nesterov, const Rows* rows, Py_ssize_t r,
                          const floating* ds, Lazy* lazy, Py_ssize_t update) noexcept nogil:
    """W^(1)'s part of backward_momentum for CSR example r, update number
    ``update`` of the call: the bias row, and the rows of its entries
    (brought up to date before its forward pass), which are then as after
    that update."""
    cdef Py_ssize_t k, i, n = lay.d[1]
    cdef const floating* delta = ds + lay.s_off[1]
    cdef const floating* data = <const floating*> rows.data
    momentum_row(n, 1, 0, lr, mu, nesterov, delta, w + lay.w_off[1], v + lay.w_off[1])
    for k in range(rows.indptr[r], rows.indptr[r + 1]):
        i = rows.indices[k]
        momentum_row(n, data[k], 0, lr, mu, nesterov, delta, input_row(lay, w, NULL, i),
                     input_row(lay, v, NULL, i))
        lazy.last[i] = update


cdef void settle_rows(const Layout* lay, floating* w, floating* v, Lazy* lazy, double mu,
                      bint nesterov, Py_ssize_t updates) noexcept nogil:
    """Every input's rows up to date: the end of a call of ``updates``."""
    cdef Py_ssize_t i
    if lazy.last != NULL:
        for i in range(lay.d[0]):
            catch_up(lay, w, v, lazy, i, mu, nesterov, updates)
    settle_scale(lay, w, lazy)
