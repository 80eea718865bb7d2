"""Sparse X (scipy.sparse CSR, CSC, COO): compiled against the reference
(which densifies one row at a time), sparse against the same X dense, the
lazy rows of Adam and Adagrad, threads, and bad sparse input."""

import re

import numpy as np
import pytest
from conftest import relative_error, run_python
from scipy import sparse

import fastbp
from fastbp import _passes

TOLERANCE = {"float64": 1e-12, "float32": 1e-5}
LAYERS = [40, 9, 5, 3]


def _data(n=60, density=0.1, seed=0, layers=LAYERS):
    """CSR inputs with about density * d[0] entries a row (some rows empty),
    and targets for the squared loss."""
    rng = np.random.default_rng(seed)
    X = sparse.random(
        n,
        layers[0],
        density=density,
        format="lil",
        random_state=seed,
        data_rvs=lambda size: rng.normal(size=size),
    )
    if n > 3:
        X[3] = 0  # a row without entries
    X = X.tocsr()
    X.eliminate_zeros()
    Y = 0.5 * rng.normal(size=(n, layers[-1]))
    return X, Y


def _pair(dtype="float64", seed=3, layers=LAYERS, **kwargs):
    return [
        fastbp.Network(
            layers, hidden=["tanh", "relu"], seed=seed, backend=backend, dtype=dtype, **kwargs
        )
        for backend in ("compiled", "reference")
    ]


OPTIONS = [
    dict(),
    dict(lr_schedule="invscaling", power_t=0.5),
    dict(clip=0.05),
    dict(momentum=0.9),
    dict(momentum=0.9, nesterov=True, lr_schedule="invscaling"),
    dict(weight_decay=0.01),
    dict(weight_decay=0.5, lr_schedule="optimal"),
    dict(optimizer="adam"),
    dict(optimizer="adam", weight_decay=0.01),
    dict(optimizer="adagrad", weight_decay=0.01),
]


@pytest.mark.compiled
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("options", OPTIONS)
def test_compiled_equals_reference(dtype, options):
    X, Y = _data()
    weights = np.random.default_rng(1).uniform(0.5, 2, X.shape[0])
    compiled, reference = _pair(dtype)
    for net in (compiled, reference):
        net.fit(X, Y, epochs=2, lr=0.01, seed=2, sample_weight=weights, **options)
    assert relative_error(compiled.flat, reference.flat) < TOLERANCE[dtype]
    assert relative_error(compiled.predict(X), reference.predict(X)) < TOLERANCE[dtype]
    assert compiled.loss(X, Y) == pytest.approx(reference.loss(X, Y), rel=TOLERANCE[dtype])
    for mine, oracle in zip(compiled.gradient(X, Y), reference.gradient(X, Y)):
        assert relative_error(mine, oracle) < TOLERANCE[dtype]


@pytest.mark.compiled
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_strong_weight_decay_on_sparse_x_stays_exact(dtype):
    # shrink = 1 - lr wd = 0.4 an update: the scale the core keeps the
    # input rows at falls below float32's range within a chunk
    X, Y = _data(n=400)
    compiled, reference = _pair(dtype)
    for net in (compiled, reference):
        net.fit(X, Y, epochs=1, lr=0.01, weight_decay=60.0, shuffle=False)
    assert relative_error(compiled.flat, reference.flat) < TOLERANCE[dtype]


@pytest.mark.parametrize(
    "options",
    [
        dict(),
        dict(lr_schedule="invscaling", power_t=0.5),
        dict(clip=0.05),
        dict(optimizer="adagrad"),
        dict(momentum=0.9),
        dict(momentum=0.8, nesterov=True),
        dict(weight_decay=0.05),
    ],
)
def test_sparse_trains_as_the_same_x_dense(backend, options):
    """Where a zero input leaves its rows as they are (plain SGD; Adagrad,
    whose state a zero gradient does not change), or where the compiled
    core brings them up to date exactly (momentum, weight decay), sparse
    and dense X give the same weights to rounding."""
    X, Y = _data()
    on_sparse, on_dense = (fastbp.Network(LAYERS, seed=3, backend=backend) for _ in range(2))
    on_sparse.fit(X, Y, epochs=3, lr=0.05, seed=2, **options)
    on_dense.fit(X.toarray(), Y, epochs=3, lr=0.05, seed=2, **options)
    assert relative_error(on_sparse.flat, on_dense.flat) < 1e-13


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("hidden", [9, 16, 40, 130])
def test_plain_sgd_on_sparse_x_is_dense_sgd_bit_for_bit(backend, dtype, hidden):
    """A CSR row's s^(1), summed from its entries' rows, is summed in the
    order of the same row dense (the compiled core sums a layer of up to 16
    units as two sums, of the first and of the second half of the rows), and
    plain SGD leaves the rows of zero inputs as they are: the same weights,
    exactly."""
    layers = [31, hidden, 10, 2]
    X, Y = _data(n=80, density=0.3, layers=layers)
    X, Y = X.astype(dtype), Y.astype(dtype)
    on_sparse, on_dense = (
        fastbp.Network(layers, seed=3, dtype=dtype, backend=backend) for _ in range(2)
    )
    on_sparse.fit(X, Y, epochs=2, lr=0.05, seed=2)
    on_dense.fit(X.toarray(), Y, epochs=2, lr=0.05, seed=2)
    np.testing.assert_array_equal(on_sparse.flat, on_dense.flat)


def test_adam_updates_only_the_rows_of_an_examples_entries(backend):
    """Lazy Adam (torch's SparseAdam): a first-layer row whose input has no
    entry in the example keeps its weights and moments."""
    X, Y = _data(n=1)
    net = fastbp.Network(LAYERS, seed=3, backend=backend)
    before = net.weights[0].copy()
    net.partial_fit(X, Y, lr=0.01, optimizer="adam", weight_decay=0.1)
    touched = np.zeros(LAYERS[0] + 1, dtype=bool)
    touched[0] = True  # the bias row
    touched[X.indices + 1] = True
    changed = (net.weights[0] != before).any(axis=1)
    assert np.array_equal(changed, touched)
    m = net.training_state.moments[: len(net.flat)]
    m_first = m[: net.weights[0].size].reshape(net.weights[0].shape)
    assert np.array_equal((m_first != 0).any(axis=1), touched)


def test_predict_loss_gradient_and_backprop_equal_dense(backend):
    X, Y = _data(n=9)
    net = fastbp.Network(LAYERS, seed=3, backend=backend, output="softmax", loss="cross_entropy")
    Y = np.eye(3)[np.arange(9) % 3]
    dense = X.toarray()
    assert relative_error(net.predict(X), net.predict(dense)) < 1e-14
    assert net.loss(X, Y) == pytest.approx(net.loss(dense, Y), rel=1e-14)
    for a, b in zip(net.gradient(X, Y), net.gradient(dense, Y)):
        assert relative_error(a, b) < 1e-14
    one, one_dense = net.backprop(X[2], Y[2]), net.backprop(dense[2], Y[2])
    assert one.error == pytest.approx(one_dense.error, rel=1e-14)
    for a, b in zip(one.gradients, one_dense.gradients):
        assert relative_error(a, b) < 1e-14


@pytest.mark.parametrize("fmt", ["csc", "coo", "csr_array"])
def test_other_formats_are_converted_once(backend, fmt):
    X, Y = _data()
    given = sparse.csr_array(X) if fmt == "csr_array" else X.asformat(fmt)
    a, b = (fastbp.Network(LAYERS, seed=3, backend=backend) for _ in range(2))
    a.fit(X, Y, epochs=1, lr=0.05, seed=2)
    b.fit(given, Y, epochs=1, lr=0.05, seed=2)
    assert np.array_equal(a.flat, b.flat)


def test_validation_fraction_and_fit_stream_take_sparse_rows(backend):
    X, Y = _data(n=80)
    net = fastbp.Network(LAYERS, seed=3, backend=backend)
    history = net.fit(X, Y, epochs=2, lr=0.05, validation_fraction=0.25, seed=1)
    assert len(history.val_loss) == 2 and np.isfinite(history.val_loss).all()
    streamed, whole = (fastbp.Network(LAYERS, seed=3, backend=backend) for _ in range(2))
    fastbp.fit_stream(
        streamed, ((X[i : i + 20], Y[i : i + 20]) for i in range(0, 80, 20)), lr=0.05, shuffle=False
    )
    whole.fit(X, Y, epochs=1, lr=0.05, shuffle=False)
    assert np.array_equal(streamed.flat, whole.flat)


@pytest.mark.compiled
@pytest.mark.parametrize(
    "options",
    [{}, {"parallel": "copies"}, {"parallel": "hogwild"}, {"optimizer": "adagrad"}],
    ids=["default", "copies", "hogwild", "adagrad"],
)
def test_threads_train_sparse_x(options):
    X, Y = _data(n=400, density=0.05)
    serial, threaded = (fastbp.Network(LAYERS, seed=3) for _ in range(2))
    serial.fit(X, Y, epochs=5, lr=0.02, seed=2, optimizer=options.get("optimizer", "sgd"))
    threaded.fit(X, Y, epochs=5, lr=0.02, seed=2, n_threads=2, **options)
    assert threaded.loss(X, Y) < 1.2 * serial.loss(X, Y)
    assert np.isfinite(threaded.flat).all()


def _frequent_and_own(n=3000, unused=7, seed=0):
    """CSR rows with the two entries that every row has (frequent inputs)
    and one input of each row's own; the last ``unused`` inputs in none."""
    rng = np.random.default_rng(seed)
    columns = np.stack([np.zeros(n, int), np.ones(n, int), 2 + np.arange(n)], axis=1)
    X = sparse.csr_matrix(
        (rng.normal(size=3 * n), columns.ravel(), np.arange(0, 3 * n + 1, 3)),
        shape=(n, n + 2 + unused),
    )
    return X, rng.normal(size=(n, 2))


@pytest.mark.compiled
@pytest.mark.parametrize("hidden", [[], [8], [8, 5]], ids=["linear", "one", "two"])
def test_sparse_hogwild_shares_rare_rows_and_averages_the_rest(hidden):
    # With a rate this small the updates hardly change the gradients, so
    # their sum does not depend on the order.  Two threads update the rows
    # of the inputs of one example each in the shared weights (as one thread
    # does), and average their copies of the rest (half of one thread's
    # change): W^(1)'s bias row, the frequent inputs' rows, the other layers.
    X, Y = _frequent_and_own()
    layers = [X.shape[1], *hidden, 2]
    start = fastbp.Network(layers, seed=3).flat.copy()
    serial, threaded = (fastbp.Network(layers, seed=3) for _ in range(2))
    serial.fit(X, Y, epochs=2, lr=1e-9, seed=2)
    threaded.fit(X, Y, epochs=2, lr=1e-9, seed=2, n_threads=2, parallel="hogwild")
    one, two = serial.flat - start, threaded.flat - start
    own_rows = np.zeros(len(start), bool)
    own_rows[3 * layers[1] : (X.shape[0] + 3) * layers[1]] = True  # W^(1)'s rows 3..n+2
    assert relative_error(two[own_rows], one[own_rows]) < 1e-4
    assert relative_error(two[~own_rows], one[~own_rows] / 2) < 1e-4
    unused = threaded.weights[0][-7:]
    assert np.array_equal(unused, fastbp.Network(layers, seed=3).weights[0][-7:])


@pytest.mark.compiled
@pytest.mark.parametrize("hidden", [[], [8], [8, 5]], ids=["linear", "one", "two"])
def test_sparse_copies_sum_the_rows_and_average_the_rest(hidden):
    # As above, on the copies' schedule: an input of one example's own is
    # trained in place by its shard, the two frequent inputs' rows (every
    # shard's) take the sum of the shards' changes: both as serially.  The
    # bias row and the other layers take the mean of the shards' changes:
    # half the serial change, in rounds of 2 shards.
    X, Y = _frequent_and_own()
    layers = [X.shape[1], *hidden, 2]
    start = fastbp.Network(layers, seed=3).flat.copy()
    serial, threaded = (fastbp.Network(layers, seed=3) for _ in range(2))
    serial.fit(X, Y, epochs=1, lr=1e-9, shuffle=False)
    threaded.fit(X, Y, epochs=1, lr=1e-9, shuffle=False, n_threads=2)
    one, two = serial.flat - start, threaded.flat - start
    rows = np.zeros(len(start), bool)
    rows[layers[1] : (X.shape[0] + 3) * layers[1]] = True  # W^(1)'s rows 1..n+2
    assert relative_error(two[rows], one[rows]) < 1e-4
    assert relative_error(two[~rows], one[~rows] / 2) < 1e-4
    unused = threaded.weights[0][-7:]
    assert np.array_equal(unused, fastbp.Network(layers, seed=3).weights[0][-7:])


@pytest.mark.compiled
@pytest.mark.parametrize("parallel", ["copies", "hogwild"])
def test_sparse_threads_divergence_restores_the_weights(parallel):
    X, Y = _frequent_and_own(n=2000)
    net = fastbp.Network([X.shape[1], 8, 2], seed=3)
    net.fit(X, Y, epochs=1, lr=1e-3, n_threads=2, parallel=parallel)
    before = net.flat.copy()
    with pytest.raises(fastbp.DivergenceError, match="epoch 1"):
        net.fit(X, 1e30 * Y, epochs=2, lr=10.0, n_threads=2, parallel=parallel)
    assert np.array_equal(net.flat, before)


@pytest.mark.parametrize("options", [{"momentum": 0.9}, {"weight_decay": 1e-3}])
def test_momentum_and_weight_decay_on_sparse_x_take_one_thread(backend, options):
    X, Y = _data()
    net = fastbp.Network(LAYERS, seed=3, backend=backend)
    before = net.flat.copy()
    with pytest.raises(ValueError, match="sparse X on one thread.*n_threads=1"):
        net.fit(X, Y, epochs=1, lr=0.05, n_threads=2, **options)
    assert np.array_equal(net.flat, before)


@pytest.mark.parametrize("parallel", ["copies", "hogwild"])
def test_adagrad_threads_need_sparse_x(backend, parallel):
    X, Y = _data()
    net = fastbp.Network(LAYERS, seed=3, backend=backend)
    before = net.flat.copy()
    with pytest.raises(ValueError, match="adagrad.*only on sparse X.*n_threads=1"):
        net.fit(
            X.toarray(), Y, epochs=1, lr=0.05, optimizer="adagrad", n_threads=2, parallel=parallel
        )
    assert np.array_equal(net.flat, before)


@pytest.mark.parametrize(
    "options, name",
    [
        (dict(average=True), "average"),
        (dict(batch_size=4), "batch_size"),
        (dict(momentum=0.9, weight_decay=1e-3), "momentum with weight_decay"),
    ],
)
def test_options_that_need_dense_x_say_so(backend, options, name):
    X, Y = _data()
    net = fastbp.Network(LAYERS, seed=3, backend=backend)
    before = net.flat.copy()
    with pytest.raises(ValueError, match=f"{name}.*sparse X"):
        net.fit(X, Y, epochs=1, lr=0.05, **options)
    assert np.array_equal(net.flat, before)


def _unsorted(X):
    X = X.copy()
    start = next(r for r in range(X.shape[0]) if X.indptr[r + 1] - X.indptr[r] >= 2)
    at = X.indptr[start]
    X.indices[at], X.indices[at + 1] = X.indices[at + 1], X.indices[at]
    X.has_sorted_indices = False
    return X


def _duplicated(X):
    X = _unsorted(X)
    r = next(r for r in range(X.shape[0]) if X.indptr[r + 1] - X.indptr[r] >= 2)
    X.indices[X.indptr[r] + 1] = X.indices[X.indptr[r]]
    return X


@pytest.mark.parametrize("disorder", [_unsorted, _duplicated])
def test_unsorted_and_duplicate_indices_are_sorted_and_summed_in_a_copy(backend, disorder):
    # as scikit-learn does (TfidfVectorizer's rows are unsorted); the
    # caller's matrix is left as it was
    X, Y = _data()
    given = disorder(X)
    before = [given.indices.copy(), given.indptr.copy(), given.data.copy()]
    canonical = given.copy()
    canonical.sum_duplicates()
    trained = []
    for inputs in (given, canonical):
        net = fastbp.Network(LAYERS, seed=3, backend=backend)
        net.fit(inputs, Y, epochs=1, lr=0.05)
        fastbp.fit_stream(net, [(inputs, Y)], lr=0.05)
        trained.append((net.flat.copy(), net.predict(inputs)))
    assert np.array_equal(trained[0][0], trained[1][0])
    assert np.array_equal(trained[0][1], trained[1][1])
    for array, kept in zip((given.indices, given.indptr, given.data), before):
        assert np.array_equal(array, kept)


def _negative(X):
    X = X.copy()
    X.indices[0] = -1
    return X


def _with_nan(X):
    X = X.copy()
    X.data[0] = np.nan
    return X


@pytest.mark.parametrize(
    "bad, error, message",
    [
        (lambda X: X[:, :-1], ValueError, r"X must have shape \(n, 40\)"),
        (_with_nan, ValueError, "NaN or infinity"),
        (_negative, ValueError, r"X.indices has values outside \[0, 39\]"),
        (lambda X: X.tolil(), TypeError, "CSR"),
        (lambda X: X.astype(np.complex128), TypeError, "real numbers"),
    ],
)
def test_bad_sparse_input_is_refused(backend, bad, error, message):
    X, Y = _data()
    net = fastbp.Network(LAYERS, seed=3, backend=backend)
    for call in (lambda: net.fit(bad(X), Y, epochs=1, lr=0.05), lambda: net.predict(bad(X))):
        with pytest.raises(error, match=message):
            call()


def _chunks(X, Y, size=50):
    return [
        (X[start : start + size], Y[start : start + size]) for start in range(0, X.shape[0], size)
    ]


@pytest.mark.compiled
def test_fit_stream_of_sparse_chunks_takes_the_sparse_thread_mode():
    # the kind of X is known only at the first chunk: Adagrad on threads
    # (sparse Hogwild! only) trains, and options that need one thread are
    # refused there, before any weight changes, never run on threads
    X, Y = _data(n=400, density=0.05)
    net = fastbp.Network(LAYERS, seed=3)
    before = net.loss(X, Y)
    fastbp.fit_stream(net, _chunks(X, Y), lr=0.05, optimizer="adagrad", n_threads=2, seed=1)
    assert net.loss(X, Y) < before
    for options, stream in (
        ({"momentum": 0.9}, _chunks(X, Y)),
        ({"optimizer": "adagrad"}, _chunks(X.toarray(), Y)),
    ):
        start = net.flat.copy()
        with pytest.raises(ValueError, match="n_threads=1"):
            fastbp.fit_stream(net, stream, lr=0.05, n_threads=2, **options)
        assert np.array_equal(net.flat, start)


# Malformed CSR that scipy accepts: each is refused by every entry point
# with a ValueError naming the array (it crashed the process, or was
# silently misread, before these checks).  The cases run in a child, so
# that a crash fails this test rather than the whole run.
MALFORMED = {
    "uint32 indptr past nnz": (
        "indptr",
        "A.indptr = A.indptr.astype(np.uint32); A.indptr[5] = A.indptr[-1] + 500",
    ),
    "uint64 indptr past nnz": (
        "indptr",
        "A.indptr = A.indptr.astype(np.uint64); A.indptr[5] = A.indptr[-1] + 500",
    ),
    "decreasing uint64 indptr": (
        "indptr",
        "A.indptr = A.indptr.astype(np.uint64); "
        "A.indptr[5], A.indptr[6] = A.indptr[6], A.indptr[5]",
    ),
    "float indptr": ("indptr", "A.indptr = A.indptr.astype(float)"),
    "NaN index": ("indices", "A.indices = A.indices.astype(float); A.indices[0] = np.nan"),
    "fractional index": ("indices", "A.indices = A.indices.astype(float); A.indices[0] = 2.7"),
    "int64 index past the width": (
        "indices",
        "A.indices = A.indices.astype(np.int64); A.indices[-1] = 2**32 + 1",
    ),
    "short indices": ("indices", "A.indices = A.indices[:-1]"),
}

ENTRY_POINTS = """
calls = {
    "fit": lambda net: net.fit(A, Y, epochs=1),
    "predict": lambda net: net.predict(A),
    "loss": lambda net: net.loss(A, Y),
    "gradient": lambda net: net.gradient(A, Y),
    "threads": lambda net: net.fit(A, Y, epochs=1, n_threads=2),
    "adam": lambda net: net.fit(A, Y, epochs=1, optimizer="adam"),
    "lazy momentum": lambda net: net.fit(A, Y, epochs=1, momentum=0.9),
    "fit_stream": lambda net: fastbp.fit_stream(net, [(A, Y)]),
}
for name, call in calls.items():
    try:
        call(fastbp.Network([4, 3, 1], seed=0, backend=backend))
        print(name, "accepted")
    except ValueError as error:
        print(name, "ValueError", error)
"""


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_csr_is_refused_naming_the_array(backend, case):
    array, damage = MALFORMED[case]
    result = run_python(
        "-c",
        f"""
import numpy as np, scipy.sparse as sp, fastbp
backend = {backend!r}
A = sp.random(20, 4, density=0.5, format="csr", random_state=0)
Y = np.zeros(20)
{damage}
{ENTRY_POINTS}""",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 8
    for line in lines:  # fit_stream's X is "X of chunk 0"
        assert re.search(rf"ValueError X( of chunk 0)?\.{array}", line), line


@pytest.mark.parametrize("fmt", ["csc", "coo"])
def test_malformed_csc_and_coo_are_refused_before_conversion(backend, fmt):
    # scipy's conversions index with the arrays as they are
    result = run_python(
        "-c",
        f"""
import numpy as np, scipy.sparse as sp, fastbp
A = sp.random(20, 4, density=0.5, format={fmt!r}, random_state=0)
if A.format == "coo":
    A.row[0] = 10**6
else:
    A.indptr = A.indptr.astype(np.uint32); A.indptr[2] = A.indptr[-1] + 500
try:
    fastbp.Network([4, 3, 1], backend={backend!r}).predict(A)
except ValueError as error:
    print(error)
""",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("X.row" if fmt == "coo" else "X.indptr"), result.stdout


def test_no_rows_are_refused_as_dense_ones_are(backend):
    net = fastbp.Network(LAYERS, backend=backend)
    for X in (np.zeros((0, 40)), sparse.csr_matrix((0, 40))):
        with pytest.raises(ValueError, match="X has no rows"):
            net.predict(X)


def test_the_callers_csr_arrays_changed_during_fit_do_not_reach_the_core(backend):
    # Between epochs (a callback) and while an epoch trains (another
    # thread), the caller's index arrays are filled with an index far past
    # the network's input: fit trains on its own copies, which were checked.
    n = 200000 if backend == "compiled" else 2000
    result = run_python(
        "-c",
        f"""
import threading, numpy as np, scipy.sparse as sp, fastbp
A = sp.random({n}, 100, density=0.05, format="csr", random_state=1)
Y = np.zeros({n})
expected = fastbp.Network([100, 32, 1], seed=0, backend={backend!r})
expected.fit(A.copy(), Y, epochs=3, lr=0.001, seed=1)

def spoil(network, epoch, logs):
    A.indices[:] = 2**30
    A.indptr[1:] = A.indptr[-1] + 7

net = fastbp.Network([100, 32, 1], seed=0, backend={backend!r})
net.fit(A, Y, epochs=3, lr=0.001, seed=1, callbacks=[spoil])
assert (A.indices == 2**30).all()
print("between epochs", np.array_equal(net.flat, expected.flat))

B = sp.random({n}, 100, density=0.05, format="csr", random_state=1)
started = threading.Event()
def spoil_while_training():
    started.wait()
    B.indices[:] = 2**30
    B.indptr[::2] = 2**62
spoiler = threading.Thread(target=spoil_while_training)
spoiler.start()
def start(network, epoch, logs):
    started.set()
fastbp.Network([100, 32, 1], backend={backend!r}).fit(B, Y, epochs=4, lr=0.001,
                                                       callbacks=[start])
spoiler.join()
print("while training: no crash")
""",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["between epochs True", "while training: no crash"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    "options", [dict(momentum=0.9), dict(momentum=0.9, nesterov=True), dict(weight_decay=0.01)]
)
def test_lazy_rows_do_not_depend_on_where_chunks_end(backend, monkeypatch, dtype, options):
    # the lazy rows catch up at the ends of the core's chunks; chunks sized
    # by the clock made one thread's results differ from run to run
    X, Y = _data(n=3000, density=0.05, layers=[200, 16, 3])
    results = []
    for seconds, first in ((_passes.CHUNK_SECONDS, _passes.FIRST_CHUNK), (1e-9, 1), (10.0, 10**6)):
        monkeypatch.setattr(_passes, "CHUNK_SECONDS", seconds)
        monkeypatch.setattr(_passes, "FIRST_CHUNK", first)
        net = fastbp.Network([200, 16, 3], seed=3, backend=backend, dtype=dtype)
        net.fit(X, Y, epochs=2, lr=0.005, seed=1, **options)
        results.append(net.flat.copy())
    for flat in results[1:]:
        assert np.array_equal(flat, results[0])


@pytest.mark.parametrize(
    "index_dtype", [np.int8, np.uint8, np.int16, np.uint16, np.uint32, np.int64, np.uint64]
)
def test_valid_csr_of_any_integer_index_dtype_is_taken(backend, index_dtype):
    X, Y = _data()
    other = X.copy()
    other.indices = X.indices.astype(index_dtype)
    if X.nnz <= np.iinfo(index_dtype).max:
        other.indptr = X.indptr.astype(index_dtype)
    nets = [fastbp.Network(LAYERS, seed=3, backend=backend) for _ in range(2)]
    for net, inputs in zip(nets, (X, other)):
        net.fit(inputs, Y, epochs=1, lr=0.05)
    assert np.array_equal(nets[0].flat, nets[1].flat)
    assert np.array_equal(nets[0].predict(X), nets[1].predict(other))
