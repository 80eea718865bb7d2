"""Momentum, Nesterov and weight decay: both backends against a numpy oracle,
and the training state that partial_fit continues."""

import pickle

import numpy as np
import pytest

import fastbp

from conftest import data, relative_error, twin

OPTIONS = {
    "momentum": dict(momentum=0.9),
    "nesterov": dict(momentum=0.8, nesterov=True),
    "weight-decay": dict(weight_decay=0.01),
    "all": dict(momentum=0.5, nesterov=True, weight_decay=0.003),
}
TOLERANCE = {"float64": 1e-12, "float32": 1e-5}


def oracle_epochs(net, X, Y, epochs, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
    """The update rule in a few lines of numpy, on gradients from backprop."""
    W = [w.copy() for w in net.weights]
    V = [np.zeros_like(w) for w in W]
    probe = twin(net, "reference")
    for _ in range(epochs):
        for x, y in zip(X, Y):
            for w_probe, w in zip(probe.weights, W):
                w_probe[...] = w
            for w, v, g in zip(W, V, probe.backprop(x, y).gradients):
                g[1:] += weight_decay * w[1:]             # no decay on the bias row
                v[...] = momentum * v - lr * g
                w += momentum * v - lr * g if nesterov else v
    return np.concatenate([w.ravel() for w in W])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", list(OPTIONS))
def test_options_match_the_numpy_oracle(backend, dtype, name):
    layers = [5, 7, 3]
    start = fastbp.Network(layers, hidden="tanh", output="sigmoid", loss="cross_entropy",
                           seed=3, backend="reference")
    X, Y = data(layers, 30, seed=4, loss="cross_entropy")
    expected = oracle_epochs(start, X, Y, 2, 0.05, **OPTIONS[name])
    net = twin(start, backend, dtype)
    net.fit(X, Y, epochs=2, lr=0.05, shuffle=False, **OPTIONS[name])
    assert relative_error(net.flat, expected) < TOLERANCE[dtype]


@pytest.mark.parametrize("name", list(OPTIONS))
def test_two_partial_fits_equal_a_fit_of_two_epochs(backend, name):
    X, Y = data([4, 6, 2], 40, seed=1)
    a = fastbp.Network([4, 6, 2], backend=backend, seed=2)
    b = fastbp.Network([4, 6, 2], backend=backend, seed=2)
    a.fit(X, Y, epochs=2, lr=0.05, seed=7, **OPTIONS[name])
    b.partial_fit(X, Y, lr=0.05, seed=7, **OPTIONS[name])
    b.partial_fit(X, Y, lr=0.05, seed=7, **OPTIONS[name])
    assert a.flat.tobytes() == b.flat.tobytes()


def test_fit_starts_a_fresh_velocity_and_partial_fit_keeps_it(backend):
    X, Y = data([3, 4, 1], 20)
    a = fastbp.Network([3, 4, 1], backend=backend)
    b = fastbp.Network([3, 4, 1], backend=backend)
    a.partial_fit(X, Y, momentum=0.9, shuffle=False)
    b.partial_fit(X, Y, momentum=0.9, shuffle=False)
    a.partial_fit(X, Y, momentum=0.9, shuffle=False)      # continues the velocity
    start = b.flat.copy()
    b.fit(X, Y, epochs=1, momentum=0.9, shuffle=False)    # starts from v = 0
    c = fastbp.Network([3, 4, 1], backend=backend, weights=b.weights)
    c.flat[...] = start
    c.fit(X, Y, epochs=1, momentum=0.9, shuffle=False)
    assert b.flat.tobytes() == c.flat.tobytes()
    assert a.flat.tobytes() != b.flat.tobytes()


@pytest.mark.parametrize("via", ["save", "pickle"])
def test_the_velocity_travels_with_the_network(backend, via, tmp_path):
    X, Y = data([3, 5, 2], 25)
    net = fastbp.Network([3, 5, 2], backend=backend, dtype="float32")
    net.partial_fit(X, Y, lr=0.05, momentum=0.9)
    if via == "save":
        net.save(tmp_path / "net.npz")
        copy = fastbp.load(tmp_path / "net.npz")
    else:
        copy = pickle.loads(pickle.dumps(net))
    net.partial_fit(X, Y, lr=0.05, momentum=0.9)
    copy.partial_fit(X, Y, lr=0.05, momentum=0.9)
    assert copy.flat.tobytes() == net.flat.tobytes()


def test_divergence_with_momentum_restores_weights_and_velocity(backend):
    X, Y = np.ones((300, 1)), np.zeros(300)
    net = fastbp.Network([1, 1], hidden=[], backend=backend, weights=[[[0.5], [0.5]]])
    net.partial_fit(X[:5], Y[:5], lr=0.01, momentum=0.5, shuffle=False)
    flat, velocity = net.flat.copy(), net._velocity.copy()
    with pytest.raises(fastbp.DivergenceError):
        net.partial_fit(X, Y, lr=5.0, momentum=0.5, shuffle=False)
    np.testing.assert_array_equal(net.flat, flat)
    np.testing.assert_array_equal(net._velocity, velocity)


@pytest.mark.parametrize("options,error,message", [
    (dict(momentum=1.0), ValueError, "momentum"),
    (dict(momentum=-0.1), ValueError, "momentum"),
    (dict(momentum="high"), TypeError, "momentum"),
    (dict(nesterov=True), ValueError, "nesterov"),
    (dict(momentum=0.9, nesterov="yes"), TypeError, "nesterov"),
    (dict(weight_decay=-1e-4), ValueError, "weight_decay"),
    (dict(weight_decay=np.inf), ValueError, "weight_decay"),
])
def test_bad_options_name_the_argument(backend, options, error, message):
    net = fastbp.Network([2, 1], backend=backend)
    X, Y = data([2, 1], 5)
    with pytest.raises(error, match=message):
        net.fit(X, Y, **options)
    with pytest.raises(error, match=message):
        net.partial_fit(X, Y, **options)
