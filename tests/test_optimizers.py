"""Per-example Adam (as scikit-learn's) and Adagrad (as torch's): against an
oracle written here from the public gradient, compiled against reference,
and their state kept across partial_fit, save and pickle."""

import io
import pickle

import numpy as np
import pytest
from conftest import data, relative_error, twin

import fastbp

TOLERANCE = {"float64": 1e-12, "float32": 1e-5}


def oracle_epochs(
    start,
    X,
    Y,
    epochs,
    lr,
    optimizer,
    weight_decay=0.0,
    batch_size=1,
    beta_1=0.9,
    beta_2=0.999,
    epsilon=1e-8,
):
    """The optimizer's updates in order, from ``Network.gradient`` of each
    mini-batch (float64), one equation a line; returns the flat weights."""
    net = twin(start, backend="reference", dtype="float64")
    W = net.weights
    m = [np.zeros_like(w) for w in W]
    v = [np.zeros_like(w) for w in W]
    t = 0
    for _ in range(epochs):
        for begin in range(0, len(X), batch_size):
            grads = net.gradient(X[begin : begin + batch_size], Y[begin : begin + batch_size])
            t += 1
            for w, g, m_l, v_l in zip(W, grads, m, v):
                g[1:] += weight_decay * w[1:]  # no decay on the bias row
                if optimizer == "adam":
                    m_l[...] = beta_1 * m_l + (1 - beta_1) * g
                    v_l[...] = beta_2 * v_l + (1 - beta_2) * g * g
                    rate = lr * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
                    w -= rate * m_l / (np.sqrt(v_l) + epsilon)
                else:
                    v_l += g * g
                    w -= lr * g / (np.sqrt(v_l) + epsilon)
    return net.flat.copy()


@pytest.mark.parametrize("optimizer", ["adam", "adagrad"])
@pytest.mark.parametrize(
    "options",
    [{}, {"weight_decay": 0.01}, {"batch_size": 4}, {"batch_size": 3, "weight_decay": 0.01}],
)
def test_the_optimizers_match_the_oracle(backend, optimizer, options):
    layers = [4, 7, 5, 2]
    start = fastbp.Network(layers, hidden=["tanh", "relu"], seed=2)
    X, Y = data(layers, 30, seed=3)
    expected = oracle_epochs(start, X, Y, 2, 0.01, optimizer, **options)
    net = twin(start, backend=backend)
    net.fit(X, Y, epochs=2, lr=0.01, shuffle=False, optimizer=optimizer, **options)
    assert relative_error(net.flat, expected) < 1e-11


@pytest.mark.compiled
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("optimizer", ["adam", "adagrad"])
def test_compiled_equals_reference(dtype, optimizer):
    layers = [6, 40, 17, 3]
    X, Y = data(layers, 50, seed=5, loss="cross_entropy", output="softmax")
    trained = []
    for backend in ("compiled", "reference"):
        net = fastbp.Network(
            layers, output="softmax", loss="cross_entropy", dtype=dtype, backend=backend, seed=4
        )
        net.fit(
            X,
            Y,
            epochs=2,
            lr=0.003,
            optimizer=optimizer,
            beta_1=0.8,
            beta_2=0.99,
            epsilon=1e-6,
            weight_decay=1e-3,
            lr_schedule="invscaling",
        )
        trained.append(net.flat)
    assert relative_error(*trained) < TOLERANCE[dtype]


@pytest.mark.parametrize("optimizer", ["adam", "adagrad"])
@pytest.mark.parametrize("via", ["partial_fit", "save", "pickle"])
def test_the_moments_continue_across_calls_files_and_pickle(backend, optimizer, via):
    X, Y = data([3, 5, 2], 40, seed=1)
    whole = fastbp.Network([3, 5, 2], backend=backend, seed=6)
    whole.fit(X, Y, epochs=2, lr=0.01, optimizer=optimizer)
    parts = fastbp.Network([3, 5, 2], backend=backend, seed=6)
    parts.fit(X, Y, epochs=1, lr=0.01, optimizer=optimizer)
    if via == "save":
        buffer = io.BytesIO()
        parts.save(buffer)
        buffer.seek(0)
        parts = fastbp.load(buffer)
    elif via == "pickle":
        parts = pickle.loads(pickle.dumps(parts))
    parts.partial_fit(X, Y, lr=0.01, optimizer=optimizer)
    assert np.array_equal(parts.flat, whole.flat)
    state = parts.training_state
    assert state.progress["optimizer"] == optimizer
    assert state.moments.shape == ((2 if optimizer == "adam" else 1) * parts.flat.size,)


@pytest.mark.parametrize("before", ["sgd", "adagrad"])
def test_adam_after_another_optimizer_starts_afresh(backend, before):
    """Moments and Adam's bias correction start with Adam's first step, not
    with the training run's: after another optimizer's pass, Adam trains as
    from a fresh state."""
    X, Y = data([3, 5, 2], 40, seed=1)
    switched = fastbp.Network([3, 5, 2], backend=backend, seed=6)
    switched.fit(X, Y, epochs=1, lr=0.01, optimizer=before, shuffle=False)
    fresh = twin(switched)
    for net in (switched, fresh):
        net.partial_fit(X, Y, lr=0.01, optimizer="adam", shuffle=False)
    assert np.array_equal(switched.flat, fresh.flat)
    progress = switched.training_state.progress
    assert progress["optimizer"] == "adam" and progress["moments_from"] == len(X)


@pytest.mark.parametrize(
    "options, error, message",
    [
        ({"optimizer": "rmsprop"}, ValueError, "optimizer"),
        ({"optimizer": 3}, TypeError, "optimizer"),
        ({"optimizer": "adam", "momentum": 0.9}, ValueError, "momentum"),
        ({"optimizer": "adagrad", "n_threads": 2}, ValueError, "n_threads=1"),
        ({"optimizer": "adam", "beta_1": 1.0}, ValueError, "beta_1"),
        ({"optimizer": "adam", "beta_2": -0.1}, ValueError, "beta_2"),
        ({"optimizer": "adam", "epsilon": 0.0}, ValueError, "epsilon"),
    ],
)
def test_bad_optimizer_options_name_the_argument(backend, options, error, message):
    X, Y = data([3, 2], 10)
    with pytest.raises(error, match=message):
        fastbp.Network([3, 4, 2], backend=backend).fit(X, Y, epochs=1, **options)


def test_a_stored_moments_array_must_fit_its_optimizer(tmp_path):
    X, Y = data([3, 2], 20)
    net = fastbp.Network([3, 4, 2])
    net.fit(X, Y, epochs=1, optimizer="adam")
    state = net.__getstate__()
    state["progress"]["optimizer"] = "adagrad"  # moments twice too long now
    with pytest.raises(ValueError, match="its moments must be an array"):
        fastbp.Network.__new__(fastbp.Network).__setstate__(state)


@pytest.mark.compiled
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    "options",
    [
        dict(optimizer="adam"),
        dict(momentum=0.9),
        dict(momentum=0.9, nesterov=True),
        dict(momentum=0.9, batch_size=4),
    ],
)
def test_decaying_state_goes_to_zero_not_to_subnormal_numbers(dtype, options):
    """The weights of an input that is always 0 get gradient 0: their velocity
    or Adam's first moment is multiplied by mu or beta_1 every update. The
    compiled core takes it to 0 without the subnormal numbers on the way
    (many times slower to compute with), and the weights stay the
    reference's, which keeps them."""
    layers = [3, 4, 2]
    n = 50 * options.get("batch_size", 1)  # 50 updates an epoch
    X, Y = data(layers, n, seed=0)
    net = fastbp.Network(layers, dtype=dtype, seed=1)
    net.partial_fit(X, Y, lr=0.01, shuffle=False, **options)
    X[:, 0] = 0.0  # from now on
    for _ in range(200):  # 10,000 updates, looked at every 50: the state passes
        net.partial_fit(X, Y, lr=0.01, shuffle=False, **options)  # below 1e-308 in them
        state = net.training_state
        decayed = state.moments if state.moments is not None else state.velocity
        subnormal = (decayed != 0) & (np.abs(decayed) < np.finfo(dtype).tiny)
        assert not subnormal.any()
    assert (decayed == 0).any()
    if dtype == "float64":
        oracle = fastbp.Network(layers, seed=1, backend="reference")
        oracle.partial_fit(data(layers, n, seed=0)[0], Y, lr=0.01, shuffle=False, **options)
        for _ in range(200):
            oracle.partial_fit(X, Y, lr=0.01, shuffle=False, **options)
        assert relative_error(net.flat, oracle.flat) < 1e-10
