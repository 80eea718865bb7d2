"""Backpropagation against central finite differences (float64), and the
gradient of one row against its backprop."""

import numpy as np
import pytest
from conftest import OUTPUT_AND_LOSS, data, relative_error

import fastbp
from fastbp._names import HIDDEN_ACTIVATIONS
from fastbp.tools import finite_differences

# the oracle: central differences of net.loss, the same that check_gradient uses
EPS = 1e-6


@pytest.mark.parametrize("output,loss", OUTPUT_AND_LOSS)
@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS)
def test_gradient_matches_finite_differences(backend, hidden, output, loss):
    layers = [3, 5, 4, 3]
    net = fastbp.Network(layers, hidden=hidden, output=output, loss=loss, seed=1, backend=backend)
    X, Y = data(layers, 4, seed=2, loss=loss, output=output)
    analytic = net.gradient(X, Y)
    numeric = finite_differences(net, X, Y, EPS)
    for l, (a, n) in enumerate(zip(analytic, numeric), start=1):
        assert relative_error(a, n) < 1e-6, f"layer {l}"


@pytest.mark.parametrize(
    "output,loss", [("identity", "squared"), ("softmax", "cross_entropy"), ("exp", "poisson")]
)
def test_backprop_gradients_of_one_example_match_finite_differences(backend, output, loss):
    layers = [4, 6, 3]
    net = fastbp.Network(
        layers, hidden=["sigmoid"], output=output, loss=loss, seed=3, backend=backend
    )
    X, Y = data(layers, 1, seed=4, loss=loss, output=output)
    result = net.backprop(X[0], Y[0])
    assert result.error == pytest.approx(net.loss(X, Y), rel=1e-14)
    for a, n in zip(result.gradients, finite_differences(net, X, Y, EPS)):
        assert relative_error(a, n) < 1e-6


@pytest.mark.parametrize("n", [1, 3, 4, 6, 9])
@pytest.mark.parametrize(
    "output,loss", [("identity", "squared"), ("softmax", "cross_entropy"), ("exp", "poisson")]
)
def test_the_mean_gradient_of_n_rows_is_the_mean_of_theirs(backend, n, output, loss):
    """The core takes rows four at a time; a last group of fewer rows must
    count each row once (and no row twice)."""
    layers = [5, 7, 4, 3]
    net = fastbp.Network(
        layers, hidden=["tanh", "relu"], output=output, loss=loss, seed=4, backend=backend
    )
    X, Y = data(layers, n, seed=5, loss=loss, output=output)
    each = [net.backprop(x, y).gradients for x, y in zip(X, Y)]
    for l, mean in enumerate(net.gradient(X, Y)):
        assert relative_error(mean, sum(g[l] for g in each) / n) < 1e-13


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("layers", [[30, 12, 3], [31, 9, 10, 2], [20, 40, 2]])
def test_the_gradient_of_one_row_is_its_backprop_bit_for_bit(backend, dtype, layers):
    """Four rows at a time or one example at a time, a row's signals are
    summed in the same order (the compiled core's two sums for layers of up
    to 16 units, one above): the same gradient, exactly."""
    net = fastbp.Network(layers, seed=3, dtype=dtype, backend=backend)
    X, Y = data(layers, 3, seed=6)
    X, Y = X.astype(dtype), Y.astype(dtype)
    for x, y in zip(X, Y):
        for mine, its in zip(net.gradient(x[None], y[None]), net.backprop(x, y).gradients):
            np.testing.assert_array_equal(mine, its)
