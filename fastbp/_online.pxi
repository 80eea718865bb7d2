# One example at a time from Python: Predictor (x^(L) of one example),
# Stepper (one update by options fixed when it is made) and Dicts (examples
# as dicts of feature values, for fastbp.river), the backend interface's
# (fastbp._interface).  A call costs little more than the
# call itself: the example is read through the buffer protocol where it is
# already a C-contiguous finite array of the network's dtype (else the
# caller converts it and asks again), and the layout, the options and the
# scratch are made once.  Included by _core.pyx.

from cpython.buffer cimport PyBUF_RECORDS, PyBUF_RECORDS_RO, PyBuffer_Release
from cpython.buffer cimport PyObject_CheckBuffer
from cpython.buffer cimport PyObject_GetBuffer
from cpython.dict cimport PyDict_GetItem, PyDict_Next
from cpython.long cimport PyLong_AsDouble, PyLong_AsSsize_t, PyLong_Check
from cpython.object cimport PyObject


cdef bint one_example(object value, Py_buffer* view, bint single, Py_ssize_t width,
                      bint one_row) except -1:
    """Whether ``value`` is one example as the fast calls take it: (width,)
    (or (1, width) where ``one_row``), C-contiguous, float32 (``single``) or
    float64, all finite.  If so ``view`` holds it: release it."""
    cdef Py_ssize_t i, itemsize = 4 if single else 8
    cdef bint fits
    if not PyObject_CheckBuffer(value):
        return False
    if PyObject_GetBuffer(value, view, PyBUF_RECORDS_RO) < 0:
        return False
    fits = (view.itemsize == itemsize and view.format != NULL
            and view.format[0] == (ord("f") if single else ord("d")) and view.format[1] == 0
            and (view.ndim == 1 or (one_row and view.ndim == 2 and view.shape[0] == 1))
            and view.shape[view.ndim - 1] == width
            and (width == 1 or view.strides[view.ndim - 1] == itemsize))
    if fits:
        for i in range(width):
            if not (isfinite((<float*> view.buf)[i]) if single
                    else isfinite((<double*> view.buf)[i])):
                fits = False
                break
    if not fits:
        PyBuffer_Release(view)
    return fits


cdef void* buffer_of(object array) except NULL:
    """The data of a C-contiguous writable array that the caller keeps
    alive (and never resizes): the network's buffers."""
    cdef Py_buffer view
    cdef void* data
    PyObject_GetBuffer(array, &view, PyBUF_RECORDS)
    data = view.buf
    PyBuffer_Release(&view)
    return data


cdef bint target_in_range(int loss, double y) noexcept nogil:
    """Whether a target's value is one the loss takes: finite, and for
    SQUARED any such value, for CROSS_ENTROPY one in [0, 1], for POISSON
    one >= 0."""
    if not isfinite(y):
        return False
    if loss == CROSS_ENTROPY:
        return 0 <= y <= 1
    if loss == POISSON:
        return y >= 0
    return True


cdef void predict_example(const Layout* lay, const floating* w, const floating* x,
                          floating* out, floating* xs) noexcept nogil:
    """out = x^(L) of the example x, on the scratch xs (x, then s)."""
    cdef Py_ssize_t l, k
    for l in range(lay.L + 1):
        xs[lay.x_off[l]] = 1                    # the bias nodes
    load_input(lay, xs, x)
    forward_one(lay, w, xs, xs + lay.n_x)
    for k in range(lay.d[lay.L]):
        out[k] = xs[lay.x_off[lay.L] + 1 + k]


cdef class Predictor:
    """Predictor(flat, layers, acts)
--

    x^(L) of one example: see the backend interface (fastbp.reference)."""
    cdef Layout lay
    cdef object flat, layers, acts, empty, dtype, shape, row_shape
    cdef void* w
    cdef bint single
    cdef Py_ssize_t scratch_bytes

    def __cinit__(self, flat, const Py_ssize_t[::1] layers, const int[::1] acts):
        import numpy
        self.lay.w_off = NULL
        self.flat, self.layers, self.acts = flat, layers.base, acts.base
        self.w, self.single = buffer_of(flat), flat.dtype == numpy.float32
        if self.single:
            layout_init(&self.lay, layers, acts, 0, <float*> NULL)
        else:
            layout_init(&self.lay, layers, acts, 0, <double*> NULL)
        self.scratch_bytes = (self.lay.n_x + self.lay.n_s) * (4 if self.single else 8) + 64
        self.empty, self.dtype = numpy.empty, flat.dtype
        self.shape, self.row_shape = (self.lay.d[self.lay.L],), (1, self.lay.d[self.lay.L])

    def __dealloc__(self):
        free(self.lay.w_off)

    cdef int compute(self, const void* x, void* out) except -1:
        """out = x^(L) of the example x (both of the network's dtype)."""
        cdef void* scratch = malloc(self.scratch_bytes)
        if scratch == NULL:
            raise MemoryError()
        if self.single:
            predict_example(&self.lay, <float*> self.w, <float*> x, <float*> out,
                            <float*> line_start(scratch))
        else:
            predict_example(&self.lay, <double*> self.w, <double*> x, <double*> out,
                            <double*> line_start(scratch))
        free(scratch)
        return 0

    def predict(self, x):
        cdef Py_buffer view, result
        if not one_example(x, &view, self.single, self.lay.d[0], True):
            return None
        try:
            out = self.empty(self.row_shape if view.ndim == 2 else self.shape, self.dtype)
            PyObject_GetBuffer(out, &result, PyBUF_RECORDS)
            try:
                self.compute(view.buf, result.buf)
            finally:
                PyBuffer_Release(&result)
            return out
        finally:
            PyBuffer_Release(&view)


cdef double step_example(const Layout* lay, Step* step, floating* w, floating* v,
                         floating* m, Py_ssize_t n_w, Py_ssize_t n_m, const floating* x,
                         const floating* y, floating* xs, floating* backup) noexcept nogil:
    """One update of train_share by ``step`` on the example (x, y), with
    velocity v and moments m (n_m values) where not NULL; returns the error
    before it, or NaN (all left as before) where that error or what the
    update wrote is not finite.  xs: the layout's scratch; backup: room for
    w, v and m."""
    cdef Rows rows
    cdef Py_ssize_t first = 0, n_v = n_w if v != NULL else 0
    cdef double total = 0
    memcpy(backup, w, n_w * sizeof(floating))
    if v != NULL:
        memcpy(backup + n_w, v, n_v * sizeof(floating))
    if m != NULL:
        memcpy(backup + n_w + n_v, m, n_m * sizeof(floating))
    rows.n, rows.sparse, rows.dense = 1, False, x
    rows.data, rows.indices, rows.indptr = NULL, NULL, NULL
    step.moments = m
    if train_share(lay, w, v, NULL, n_w, &rows, y, NULL, &first, 1, step, 0, xs, &total) == 0:
        return NAN                              # stopped before changing anything
    if (zero_sum(n_w, w) != 0 or (v != NULL and zero_sum(n_v, v) != 0)
            or (m != NULL and zero_sum(n_m, m) != 0)):
        memcpy(w, backup, n_w * sizeof(floating))
        if v != NULL:
            memcpy(v, backup + n_w, n_v * sizeof(floating))
        if m != NULL:
            memcpy(m, backup + n_w + n_v, n_m * sizeof(floating))
        return NAN
    return total


cdef class Stepper:
    """Stepper(flat, layers, acts, loss, options, plan, velocity, moments, progress)
--

    One update by fixed options: see the backend interface (fastbp.reference)."""
    cdef Layout lay
    cdef Step update
    cdef object flat, layers, acts, velocity, moments, progress
    cdef void* w
    cdef void* v
    cdef void* m
    cdef void* xs
    cdef void* backup
    cdef Py_ssize_t n_w, n_m
    cdef bint single

    def __cinit__(self, flat, const Py_ssize_t[::1] layers, const int[::1] acts, int loss,
                  options, plan, velocity, moments, dict progress):
        import numpy
        self.lay.w_off, self.backup = NULL, NULL
        self.flat, self.layers, self.acts = flat, layers.base, acts.base
        self.velocity, self.moments, self.progress = velocity, moments, progress
        self.single = flat.dtype == numpy.float32
        self.n_w = flat.shape[0]
        self.n_m = 0 if moments is None else moments.shape[0]
        self.w = buffer_of(flat)
        self.v = NULL if velocity is None else buffer_of(velocity)
        self.m = NULL if moments is None else buffer_of(moments)
        self.update = step_of(options, plan, 0)
        if self.single:
            self.xs = layout_init(&self.lay, layers, acts, loss, <float*> NULL)
        else:
            self.xs = layout_init(&self.lay, layers, acts, loss, <double*> NULL)
        self.backup = malloc((2 * self.n_w + self.n_m) * (4 if self.single else 8))
        if self.backup == NULL:
            raise MemoryError()

    def __dealloc__(self):
        free(self.lay.w_off)
        free(self.backup)

    cdef double run(self, const void* x, const void* y) except? -1:
        """The update on the checked example (x, y), of the network's dtype:
        its error, or NaN (nothing changed); the update counted."""
        cdef double error
        self.update.t_done = self.progress["updates"]
        if self.single:
            error = step_example(&self.lay, &self.update, <float*> self.w, <float*> self.v,
                                 <float*> self.m, self.n_w, self.n_m, <const float*> x,
                                 <const float*> y, <float*> self.xs, <float*> self.backup)
        else:
            error = step_example(&self.lay, &self.update, <double*> self.w, <double*> self.v,
                                 <double*> self.m, self.n_w, self.n_m, <const double*> x,
                                 <const double*> y, <double*> self.xs, <double*> self.backup)
        if error == error:
            self.progress["updates"] = <Py_ssize_t> self.update.t_done + 1
        return error

    def step(self, x, y):
        cdef Py_buffer x_view, y_view
        cdef bint y_held = False
        cdef Py_ssize_t k, d_out = self.lay.d[self.lay.L]
        cdef double y_double
        cdef float y_float
        cdef void* target
        if not one_example(x, &x_view, self.single, self.lay.d[0], False):
            return None
        try:
            if d_out == 1 and PyFloat_Check(y):
                y_double = PyFloat_AS_DOUBLE(y)
                y_float = <float> y_double
                if not target_in_range(self.lay.loss, y_float if self.single else y_double):
                    return None
                target = <void*> &y_float if self.single else <void*> &y_double
            elif one_example(y, &y_view, self.single, d_out, False):
                y_held = True
                target = y_view.buf
                for k in range(d_out):
                    if not target_in_range(self.lay.loss, (<float*> target)[k] if self.single
                                           else (<double*> target)[k]):
                        return None
            else:
                return None
            return self.run(x_view.buf, target)
        finally:
            PyBuffer_Release(&x_view)
            if y_held:
                PyBuffer_Release(&y_view)


cdef class Dicts:
    """Dicts(model, features, classes)
--

    Examples as dicts of feature values: see the backend interface (fastbp.reference)."""
    cdef Predictor predictor
    cdef Stepper stepper
    cdef object model, lock, acquire, release, labels
    cdef dict features, classes
    cdef Py_ssize_t width, d_out
    cdef bint single
    cdef void* row                          # the inputs, then the target, of learn
    cdef void* target

    def __cinit__(self, model, dict features, classes):
        self.model, self.features, self.classes = model, features, classes
        self.predictor = model.predictor
        self.stepper = model.stepper
        self.lock = model.lock
        self.acquire, self.release = self.lock.acquire, self.lock.release
        self.labels = None if classes is None else list(classes)
        layers = model.layers
        self.width, self.d_out = layers[0], layers[len(layers) - 1]
        self.single = self.predictor.single
        self.row = malloc((self.width + self.d_out) * (4 if self.single else 8) + 8)
        if self.row == NULL:
            raise MemoryError()
        self.target = <char*> self.row + self.width * (4 if self.single else 8)

    def __dealloc__(self):
        free(self.row)

    cdef bint read(self, dict x, void* row) except -1:
        """Whether x's values all are floats or ints (bools and numpy's
        float64 among them), finite, of features with inputs; if so they are
        at their inputs of ``row``, 0 elsewhere."""
        cdef Py_ssize_t position = 0, where
        cdef PyObject* name
        cdef PyObject* value
        cdef PyObject* found
        cdef double number
        memset(row, 0, self.width * (4 if self.single else 8))
        while PyDict_Next(x, &position, &name, &value):
            found = PyDict_GetItem(self.features, <object> name)
            if found == NULL:
                return False
            if PyFloat_Check(<object> value):
                number = PyFloat_AS_DOUBLE(<object> value)
            elif PyLong_Check(<object> value):
                number = PyLong_AsDouble(<object> value)
            else:
                return False
            if not isfinite(number):
                return False
            where = PyLong_AsSsize_t(<object> found)
            if self.single:
                (<float*> row)[where] = <float> number
            else:
                (<double*> row)[where] = number
        return True

    cdef bint set_target(self, y) except -1:
        """Whether y is a known label (its one-hot target) or, with no
        classes, a finite float or int (the target); if so it is in
        ``target``."""
        cdef PyObject* unit
        cdef double value
        cdef Py_ssize_t where, size = 4 if self.single else 8
        if self.classes is not None:
            unit = PyDict_GetItem(self.classes, y)
            if unit == NULL:
                return False
            memset(self.target, 0, self.d_out * size)
            value = 1
            where = PyLong_AsSsize_t(<object> unit)
        elif PyFloat_Check(y) or PyLong_Check(y):
            value = PyFloat_AS_DOUBLE(y) if PyFloat_Check(y) else PyLong_AsDouble(y)
            if not isfinite(value):
                return False
            where = 0
        else:
            return False
        if self.single:
            (<float*> self.target)[where] = <float> value
        else:
            (<double*> self.target)[where] = value
        return True

    def learn(self, x, y):
        """The error of sgd_step on (x, y), NaN where it diverged (nothing
        changed), or None where the caller must take its own path."""
        if (type(x) is not dict or self.stepper is None
                or self.model.stepper is not self.stepper):
            return None
        if not self.acquire(False):
            return None                     # training elsewhere: the caller's path says so
        try:                                # row and target are this object's: one call at a time
            if not self.set_target(y) or not self.read(x, self.row):
                return None
            return self.stepper.run(self.row, self.target)
        finally:
            self.release()

    cdef object outputs(self, x):
        """x^(L) of the dict x as a list of floats, or None (the caller's path)."""
        cdef void* buffer
        cdef Py_ssize_t k, size = 4 if self.single else 8
        if type(x) is not dict:
            return None
        buffer = malloc((self.width + self.d_out) * size)
        if buffer == NULL:
            raise MemoryError()
        try:
            if not self.read(x, buffer):
                return None
            self.predictor.compute(buffer, <char*> buffer + self.width * size)
            if self.single:
                return [(<float*> buffer)[self.width + k] for k in range(self.d_out)]
            return [(<double*> buffer)[self.width + k] for k in range(self.d_out)]
        finally:
            free(buffer)

    def value(self, x):
        """x^(L)_1 of the dict x, or None."""
        out = self.outputs(x)
        return None if out is None else out[0]

    def label(self, x):
        """The label of the largest output for the dict x (the first of
        equals), or None."""
        cdef Py_ssize_t k, best = 0
        out = self.outputs(x)
        if out is None:
            return None
        for k in range(1, self.d_out):
            if out[k] > out[best]:
                best = k
        return self.labels[best]

    def probabilities(self, x):
        """{label: output} for the dict x (float32 outputs scaled to sum to
        1 in float64), or None."""
        cdef Py_ssize_t k
        out = self.outputs(x)
        if out is None:
            return None
        if self.single:
            total = sum(out)
            out = [value / total for value in out]
        return dict(zip(self.labels, out))
