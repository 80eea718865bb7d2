"""One example at a time: ``sgd_step`` with every option it takes, and
``predict`` of one example, on the fast path (an example already in the
network's dtype) and off it (anything that converts); the training state
carried from call to call as ``partial_fit`` carries it; bad input refused
with the network unchanged."""

import concurrent.futures

import numpy as np
import pytest
from conftest import data, relative_error, twin

import fastbp

# Every option sgd_step takes, alone and in the combinations that mix, with
# lr 0.01; Adam's is its usual 0.001 (larger steps on this noisy problem
# amplify rounding differences between the backends).
OPTIONS = {
    "plain": {},
    "momentum": {"momentum": 0.9},
    "nesterov": {"momentum": 0.9, "nesterov": True},
    "weight_decay": {"weight_decay": 1e-3},
    "momentum and weight_decay": {"momentum": 0.5, "weight_decay": 1e-3},
    "clip": {"clip": 0.05},
    "invscaling": {"lr_schedule": "invscaling", "power_t": 0.5},
    "optimal": {"lr_schedule": "optimal", "weight_decay": 1e-2},
    "adam": {"optimizer": "adam", "lr": 0.001},
    "adam, weight_decay, betas": {
        "optimizer": "adam",
        "lr": 0.001,
        "weight_decay": 1e-3,
        "beta_1": 0.8,
        "beta_2": 0.99,
        "epsilon": 1e-6,
    },
    "adagrad": {"optimizer": "adagrad"},
    "adagrad, invscaling": {"optimizer": "adagrad", "lr_schedule": "invscaling"},
}
OPTIONS = {name: {"lr": 0.01, **given} for name, given in OPTIONS.items()}
LAYERS = [5, 7, 3]


def state_of(net):
    """Everything a training call can change, copied."""
    state = net.training_state
    return (
        net.flat.copy(),
        {
            name: None if getattr(state, name) is None else getattr(state, name).copy()
            for name in state.ARRAYS
        },
        dict(state.progress),
    )


def assert_same_state(net, kept):
    flat, arrays, progress = state_of(net)
    assert np.array_equal(flat, kept[0])
    for name, array in arrays.items():
        assert (array is None and kept[1][name] is None) or np.array_equal(array, kept[1][name])
    assert progress == kept[2]


@pytest.mark.compiled
@pytest.mark.parametrize("name", OPTIONS)
def test_compiled_steps_equal_the_reference_over_10000_calls(name):
    """10,000 single-example calls, compiled against the reference, float64:
    the weights and the state agree to 1e-12."""
    X, Y = data(LAYERS, 10_000, seed=1)
    compiled = fastbp.Network(LAYERS, backend="compiled", seed=2)
    reference = twin(compiled, backend="reference")
    errors = [], []
    for x, y in zip(X, Y):
        errors[0].append(compiled.sgd_step(x, y, **OPTIONS[name]))
        errors[1].append(reference.sgd_step(x, y, **OPTIONS[name]))
    assert relative_error(compiled.flat, reference.flat) < 1e-12
    assert relative_error(errors[0], errors[1]) < 1e-12
    for array in ("velocity", "moments"):
        ours, theirs = (getattr(n.training_state, array) for n in (compiled, reference))
        assert (ours is None) == (theirs is None)
        if ours is not None:
            assert relative_error(ours, theirs) < 1e-12
    assert compiled.training_state.progress == reference.training_state.progress
    assert compiled.training_state.progress["updates"] == 10_000


@pytest.mark.parametrize("name", OPTIONS)
def test_steps_carry_the_state_as_partial_fit_does(backend, name):
    """n steps on the rows of (X, Y) then a partial_fit, and a partial_fit
    over the rows in order then the same partial_fit: bit for bit the same
    (weights, velocity, moments, update count)."""
    X, Y = data(LAYERS, 300, seed=3)
    stepped = fastbp.Network(LAYERS, backend=backend, seed=4)
    passed = twin(stepped)
    for x, y in zip(X[:200], Y[:200]):
        stepped.sgd_step(x, y, **OPTIONS[name])
    passed.partial_fit(X[:200], Y[:200], shuffle=False, **OPTIONS[name])
    for net in (stepped, passed):  # both continue the same state
        net.partial_fit(X[200:], Y[200:], shuffle=False, **OPTIONS[name])
    assert np.array_equal(stepped.flat, passed.flat)
    for array in ("velocity", "moments"):
        ours, theirs = (getattr(n.training_state, array) for n in (stepped, passed))
        assert (ours is None and theirs is None) or np.array_equal(ours, theirs)
    assert stepped.training_state.progress["updates"] == 300


@pytest.mark.compiled
def test_changing_options_and_training_calls_between_steps_match_the_reference():
    """Options changed from call to call, partial_fit and fit between steps:
    each change takes effect (the steps' options are made again), and the
    compiled network follows the reference."""
    X, Y = data(LAYERS, 600, seed=5)
    compiled = fastbp.Network(LAYERS, backend="compiled", seed=6)
    reference = twin(compiled, backend="reference")
    names = list(OPTIONS)
    for net in (compiled, reference):
        for k, (x, y) in enumerate(zip(X, Y)):
            given = OPTIONS[names[k // 50 % len(names)]]
            net.sgd_step(x, y, **{**given, "lr": given["lr"] * (1 if k % 3 else 2)})
            if k == 250:
                net.partial_fit(X[:20], Y[:20], lr=0.01, optimizer="adam", shuffle=False)
            if k == 400:
                net.fit(X[:20], Y[:20], epochs=1, momentum=0.5, shuffle=False)
    assert relative_error(compiled.flat, reference.flat) < 1e-12
    assert compiled.training_state.progress == reference.training_state.progress


def test_steps_on_converted_input_equal_steps_on_ready_input(backend):
    """Lists, float32 or strided arrays, an int target: converted and
    checked, then the same step as on a ready float64 example."""
    X, Y = data([4, 1], 20, seed=7)
    ready = fastbp.Network([4, 6, 1], backend=backend)
    converted = twin(ready)
    for x, y in zip(X, Y[:, 0]):
        ready.sgd_step(x, float(y), 0.05)
    for k, (x, y) in enumerate(zip(X, Y[:, 0])):
        given = [x.tolist(), np.repeat(x, 2)[::2], x.reshape(1, -1)[0]][k % 3]
        converted.sgd_step(given, [y] if k % 2 else np.array([y]), 0.05)
    assert np.array_equal(ready.flat, converted.flat)


def test_float32_networks_step_in_float32(backend):
    X, Y = data([4, 2], 50, seed=8)
    net = fastbp.Network([4, 6, 2], dtype="float32", backend=backend)
    double = twin(net, dtype="float64")
    for x, y in zip(X, Y):
        net.sgd_step(x, y, 0.05, momentum=0.5)  # float64 x: converted
        double.sgd_step(x, y, 0.05, momentum=0.5)
    assert net.flat.dtype == np.float32
    assert relative_error(net.flat, double.flat) < 1e-5


BAD_EXAMPLES = [
    ("x", ["a", "b", "c", "d"], 0.5, (TypeError, ValueError)),
    ("x", [0.0, np.nan, 0.0, 0.0], 0.5, ValueError),
    ("x", np.zeros(5), 0.5, ValueError),
    ("x", np.zeros((2, 4)), 0.5, ValueError),
    ("y", np.zeros(4), np.inf, ValueError),
    ("y", np.zeros(4), [0.5, 0.5], ValueError),
    ("y", np.zeros(4), "label", (TypeError, ValueError)),
    ("y", np.zeros(4), None, (TypeError, ValueError)),
]


@pytest.mark.parametrize("which, x, y, error", BAD_EXAMPLES)
def test_bad_examples_are_named_and_change_nothing(backend, which, x, y, error):
    X, Y = data([4, 1], 10)
    net = fastbp.Network([4, 6, 1], backend=backend)
    net.sgd_step(X[0], Y[0], 0.05, momentum=0.9)  # a state to keep
    kept = state_of(net)
    with pytest.raises(error, match=rf"\b{which}\b"):
        net.sgd_step(x, y, 0.05, momentum=0.9)
    assert_same_state(net, kept)


@pytest.mark.parametrize(
    "loss, output, y",
    [
        ("cross_entropy", "sigmoid", 1.5),
        ("cross_entropy", "sigmoid", -0.1),
        ("poisson", "exp", -1.0),
    ],
)
def test_targets_out_of_the_losss_range_are_refused(backend, loss, output, y):
    net = fastbp.Network([3, 4, 1], output=output, loss=loss, backend=backend)
    kept = state_of(net)
    with pytest.raises(ValueError, match=r"\by\b"):
        net.sgd_step(np.zeros(3), y, 0.1)
    assert_same_state(net, kept)


@pytest.mark.parametrize(
    "options, name",
    [
        ({"lr": -1.0}, "lr"),
        ({"lr": np.nan}, "lr"),
        ({"momentum": 1.5}, "momentum"),
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"lr_schedule": "adaptive"}, "lr_schedule"),
        ({"clip": 0.0}, "clip"),
        ({"nesterov": 1}, "nesterov"),
    ],
)
def test_bad_options_are_named_on_every_call(backend, options, name):
    """A bad option is refused whether or not good ones were cached before."""
    net = fastbp.Network([3, 4, 1], backend=backend)
    net.sgd_step(np.zeros(3), 0.5, 0.1)
    kept = state_of(net)
    given = {"lr": 0.1, **options}
    for _ in range(2):
        with pytest.raises((TypeError, ValueError), match=name):
            net.sgd_step(np.zeros(3), 0.5, **given)
    assert_same_state(net, kept)


@pytest.mark.parametrize("options", [{}, {"momentum": 0.9}, {"optimizer": "adam"}])
@pytest.mark.parametrize(
    "hidden, x, y",
    [
        ("identity", 1e152, 0.0),  # the update overflows
        ("tanh", 1.0, 1e300),
    ],
)  # the error overflows
def test_a_diverging_step_raises_and_leaves_the_network_as_it_was(backend, options, hidden, x, y):
    """DivergenceError, and the weights, velocity, moments and count unchanged."""
    net = fastbp.Network([3, 4, 1], hidden=hidden, backend=backend)
    net.sgd_step(np.ones(3), 0.5, 0.01, **options)
    kept = state_of(net)
    with pytest.raises(fastbp.DivergenceError, match="sgd_step"):
        net.sgd_step(np.full(3, x), y, 1e6, **options)
    assert_same_state(net, kept)
    net.sgd_step(np.ones(3), 0.5, 0.01, **options)  # and it steps again
    assert net.training_state.progress["updates"] == 2


def test_a_sparse_row_steps_as_its_dense_row(backend):
    from scipy import sparse

    x = np.array([0.0, 1.5, 0.0, -2.0])
    dense = fastbp.Network([4, 5, 1], backend=backend)
    csr = twin(dense)
    dense.sgd_step(x, 0.3, 0.1)
    csr.sgd_step(sparse.csr_matrix(x), 0.3, 0.1)
    assert np.array_equal(dense.flat, csr.flat)


# ---------------------------------------------------------------- predict


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_predict_of_one_example_equals_predict_of_its_row(backend, dtype):
    X, _ = data([6, 3], 30, seed=9)
    net = fastbp.Network(
        [6, 8, 3], output="softmax", loss="cross_entropy", dtype=dtype, backend=backend
    )
    rows = net.predict(X)
    close = 1e-6 if dtype == "float32" else 1e-14  # the reference's numpy sums otherwise
    for k, x in enumerate(X):
        ready = x.astype(dtype)
        one = net.predict(ready)
        assert one.shape == (3,) and one.dtype == np.dtype(dtype)
        assert relative_error(one, rows[k]) < close
        assert net.predict(ready.reshape(1, -1)).shape == (1, 3)
        assert np.array_equal(net.predict(ready.reshape(1, -1))[0], one)
        assert np.array_equal(net.predict(x.tolist()), one)  # converted
    with pytest.raises(ValueError, match="X"):
        net.predict(np.full(6, np.nan))
    with pytest.raises(ValueError, match="X"):
        net.predict(np.zeros(5))


def test_predict_of_one_example_from_many_threads(backend):
    """Each call has its own scratch: threads predicting at once all get
    their own example's outputs."""
    X, _ = data([6, 3], 400, seed=10)
    net = fastbp.Network([6, 32, 3], backend=backend)
    expected = net.predict(X)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        got = list(pool.map(net.predict, X))
    assert relative_error(np.array(got), expected) < 1e-14


def test_predict_returns_a_new_array_each_time(backend):
    net = fastbp.Network([2, 3, 1], backend=backend)
    first = net.predict(np.ones(2))
    second = net.predict(np.zeros(2))
    assert first is not second and not np.shares_memory(first, second)
    assert first[0] == net.predict(np.ones(2))[0]


# ---------------------------------------------------------------- partial_fit


def test_partial_fit_options_changed_between_calls_take_effect(backend):
    """The options of the last call are reused only while unchanged: a new
    lr is used, and a bad option is refused after good ones."""
    X, Y = data([4, 2], 40, seed=11)
    net = fastbp.Network([4, 6, 2], backend=backend)
    net.partial_fit(X, Y, lr=0.01, shuffle=False)
    other = twin(net)
    net.partial_fit(X, Y, lr=0.05, shuffle=False)
    other.partial_fit(X, Y, lr=0.05, shuffle=False)
    assert np.array_equal(net.flat, other.flat)
    kept = state_of(net)
    for bad, name in (({"momentum": 1.5}, "momentum"), ({"lr": np.array([0.1, 0.2])}, "lr")):
        with pytest.raises((TypeError, ValueError), match=name):
            net.partial_fit(X, Y, **{"lr": 0.05, "shuffle": False, **bad})
    assert_same_state(net, kept)


@pytest.mark.parametrize("rows", [1, 3, 10])
def test_small_blocks_of_partial_fit_equal_one_pass(backend, rows):
    """partial_fit on blocks of a few rows, in order, equals one pass over
    them all: the per-call path (its options reused) keeps no state of its
    own."""
    X, Y = data([4, 2], 30, seed=12)
    blocks = fastbp.Network([4, 6, 2], backend=backend)
    whole = twin(blocks)
    for start in range(0, 30, rows):
        blocks.partial_fit(
            X[start : start + rows], Y[start : start + rows], lr=0.02, momentum=0.5, shuffle=False
        )
    whole.partial_fit(X, Y, lr=0.02, momentum=0.5, shuffle=False)
    assert np.array_equal(blocks.flat, whole.flat)


def test_one_row_is_the_same_shuffled_or_not(backend):
    """One example has one order: shuffle=True (which skips drawing it)
    gives the same update as shuffle=False; more rows are shuffled."""
    X, Y = data([4, 2], 10, seed=13)
    shuffled = fastbp.Network([4, 6, 2], backend=backend)
    in_order = twin(shuffled)
    shuffled.partial_fit(X[:1], Y[:1], lr=0.05, shuffle=True, seed=1)
    in_order.partial_fit(X[:1], Y[:1], lr=0.05, shuffle=False)
    assert np.array_equal(shuffled.flat, in_order.flat)
    shuffled.partial_fit(X, Y, lr=0.05, shuffle=True, seed=1)
    in_order.partial_fit(X, Y, lr=0.05, shuffle=False)
    assert not np.array_equal(shuffled.flat, in_order.flat)
