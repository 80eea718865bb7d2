"""Tiny networks (one hidden layer, every width within 8 float32 or 4
float64 values, tanh or identity layers) trained by plain SGD at a constant
rate on dense rows: the compiled core runs their whole per-example loop in
vector registers (fbp_tiny_sgd).  Against the float64 reference, against
finite differences, and on both sides of the width bound and of every
option that decides the path; and subnormal numbers in training, on this
loop and on the general one.
"""

import platform

import numpy as np
import pytest
from conftest import data, relative_error, twin

import fastbp

pytestmark = pytest.mark.compiled

TOLERANCE = {"float64": 1e-12, "float32": 1e-5}
# (layers, dtype): tiny, and one wider than the bound (the general loop)
NETWORKS = [
    ([2, 4, 1], "float32"),
    ([8, 8, 8], "float32"),
    ([1, 1, 1], "float32"),
    ([3, 9, 2], "float32"),
    ([2, 4, 1], "float64"),
    ([4, 4, 4], "float64"),
    ([2, 5, 1], "float64"),
    ([5, 3, 2], "float64"),
]
LAYERS = [("tanh", "identity"), ("tanh", "tanh"), ("identity", "identity"), ("identity", "tanh")]


def trained(layers, hidden, output, backend, dtype, **options):
    """A seeded network trained 3 epochs on 60 examples with ``options``."""
    oracle = fastbp.Network(layers, hidden=hidden, output=output, seed=2, backend="reference")
    net = twin(oracle, backend, dtype)
    X, Y = data(layers, 60, seed=3)
    history = net.fit(X.astype(dtype), Y.astype(dtype), epochs=3, lr=0.05, seed=4, **options)
    return net, history


@pytest.mark.parametrize("layers, dtype", NETWORKS, ids=[f"{l}-{d}" for l, d in NETWORKS])
@pytest.mark.parametrize("hidden, output", LAYERS, ids=["-".join(a) for a in LAYERS])
@pytest.mark.parametrize(
    "options", [{}, {"clip": 0.2}, {"shuffle": False}], ids=["plain", "clip", "in-order"]
)
def test_tiny_networks_train_as_the_reference(layers, dtype, hidden, output, options):
    rng = np.random.default_rng(5)
    options = dict(options, sample_weight=rng.uniform(0.5, 2, size=60)) if options else options
    net, history = trained(layers, hidden, output, "compiled", dtype, **options)
    oracle, expected = trained(layers, hidden, output, "reference", "float64", **options)
    assert relative_error(net.flat, oracle.flat) < TOLERANCE[dtype]
    np.testing.assert_allclose(history.loss, expected.loss, rtol=10 * TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_one_step_of_a_tiny_network_is_its_gradient(dtype):
    """(w - w') / lr after one example is de/dw by central differences."""
    net = fastbp.Network([3, 4, 2], output="tanh", dtype=dtype, seed=7)
    x, y = np.array([[0.3, -1.2, 0.8]]), np.array([[0.4, -0.1]])
    before, lr = net.flat.astype(np.float64), 1e-3
    net.fit(x.astype(dtype), y.astype(dtype), epochs=1, lr=lr, shuffle=False)
    step = (before - net.flat) / lr
    probe = fastbp.Network([3, 4, 2], output="tanh", backend="reference", seed=7)
    numeric, h = np.empty_like(before), 1e-6
    for k in range(before.size):
        errors = []
        for sign in (1, -1):
            probe.flat[:] = before
            probe.flat[k] += sign * h
            errors.append(0.5 * np.sum((probe.predict(x) - y) ** 2))
        numeric[k] = (errors[0] - errors[1]) / (2 * h)
    tolerance = 1e-7 if dtype == "float64" else 5e-3
    assert relative_error(step, numeric) < tolerance


def test_a_tiny_network_that_diverges_stops_at_the_example_the_reference_does():
    X, Y = np.ones((300, 2)), np.full((300, 1), 1e3)
    results, messages = [], []
    for backend in ("compiled", "reference"):
        net = fastbp.Network([2, 3, 1], hidden="identity", backend=backend, seed=1)
        net.fit(X, Y, epochs=1, lr=1e-7, shuffle=False)
        finished = net.flat.copy()
        with pytest.raises(fastbp.DivergenceError, match="epoch 1 at example") as error:
            net.fit(X, Y, epochs=2, lr=0.5, shuffle=False)
        np.testing.assert_array_equal(net.flat, finished)
        results.append(finished)
        messages.append(str(error.value))
    assert relative_error(*results) < 1e-12
    assert messages[0] == messages[1]


@pytest.mark.parametrize(
    "options",
    [{}, {"lr_schedule": "invscaling", "power_t": 0.0}],
    ids=["tiny loop", "general loop"],
)
def test_training_takes_subnormal_numbers_as_0_on_x86(options):
    """An update of 1e-20 x 1e-20 is below float32's normal range: the
    compiled core's training makes it 0 on x86 (FTZ/DAZ), the reference
    keeps it."""
    weights = [[[0.0], [1e-20]], [[0.0], [0.0]]]  # h = 1e-20, output 0
    X, Y = np.ones((1, 1)), np.full((1, 1), -1e-20)  # delta = 1e-20
    trained = {}
    for backend in ("compiled", "reference"):
        net = fastbp.Network(
            [1, 1, 1], hidden="identity", dtype="float32", backend=backend, weights=weights
        )
        net.fit(X, Y, epochs=1, lr=1.0, shuffle=False, **options)
        trained[backend] = net.weights[1][1, 0]  # 0 - 1e-20 x 1e-20
    assert 0 < -trained["reference"] < np.finfo(np.float32).tiny
    x86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")
    assert trained["compiled"] == (0 if x86 else trained["reference"])
