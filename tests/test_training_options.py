"""Momentum, Nesterov and weight decay: both backends against a numpy oracle,
and the training state that partial_fit continues."""

import pickle

import numpy as np
import pytest
from conftest import data, relative_error, twin

import fastbp

OPTIONS = {
    "momentum": dict(momentum=0.9),
    "nesterov": dict(momentum=0.8, nesterov=True),
    "weight-decay": dict(weight_decay=0.01),
    "all": dict(momentum=0.5, nesterov=True, weight_decay=0.003),
}
TOLERANCE = {"float64": 1e-12, "float32": 1e-5}


def oracle_epochs(
    net, X, Y, epochs, lr, momentum=0.0, nesterov=False, weight_decay=0.0, lr_of=None
):
    """The update rule in a few lines of numpy, on gradients from backprop;
    ``lr_of(t)`` gives the learning rate of update t = 1, 2, ..."""
    W = [w.copy() for w in net.weights]
    V = [np.zeros_like(w) for w in W]
    probe = twin(net, "reference")
    t = 0
    for _ in range(epochs):
        for x, y in zip(X, Y):
            t += 1
            rate = lr if lr_of is None else lr_of(t)
            for w_probe, w in zip(probe.weights, W):
                w_probe[...] = w
            for w, v, g in zip(W, V, probe.backprop(x, y).gradients):
                g[1:] += weight_decay * w[1:]  # no decay on the bias row
                v[...] = momentum * v - rate * g
                w += momentum * v - rate * g if nesterov else v
    return np.concatenate([w.ravel() for w in W])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", list(OPTIONS))
def test_options_match_the_numpy_oracle(backend, dtype, name):
    layers = [5, 7, 3]
    start = fastbp.Network(
        layers, hidden="tanh", output="sigmoid", loss="cross_entropy", seed=3, backend="reference"
    )
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
    a.partial_fit(X, Y, momentum=0.9, shuffle=False)  # continues the velocity
    start = b.flat.copy()
    b.fit(X, Y, epochs=1, momentum=0.9, shuffle=False)  # starts from v = 0
    c = fastbp.Network([3, 4, 1], backend=backend)
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
    flat, velocity = net.flat.copy(), net.training_state.velocity.copy()
    with pytest.raises(fastbp.DivergenceError):
        net.partial_fit(X, Y, lr=5.0, momentum=0.5, shuffle=False)
    np.testing.assert_array_equal(net.flat, flat)
    np.testing.assert_array_equal(net.training_state.velocity, velocity)


@pytest.mark.parametrize(
    "options,error,message",
    [
        (dict(momentum=1.0), ValueError, "momentum"),
        (dict(momentum=-0.1), ValueError, "momentum"),
        (dict(momentum="high"), TypeError, "momentum"),
        (dict(nesterov=True), ValueError, "nesterov"),
        (dict(momentum=0.9, nesterov="yes"), TypeError, "nesterov"),
        (dict(weight_decay=-1e-4), ValueError, "weight_decay"),
        (dict(weight_decay=np.inf), ValueError, "weight_decay"),
    ],
)
def test_bad_options_name_the_argument(backend, options, error, message):
    net = fastbp.Network([2, 1], backend=backend)
    X, Y = data([2, 1], 5)
    with pytest.raises(error, match=message):
        net.fit(X, Y, **options)
    with pytest.raises(error, match=message):
        net.partial_fit(X, Y, **options)


def overfitting_problem():
    """Few noisy examples and a wide network: the validation loss soon rises."""
    rng = np.random.default_rng(5)
    X, Xv = rng.normal(size=(20, 3)), rng.normal(size=(200, 3))
    Y = np.sin(X.sum(axis=1)) + 0.5 * rng.normal(size=20)
    Yv = np.sin(Xv.sum(axis=1))
    return X, Y, Xv, Yv


def test_validation_loss_is_recorded_every_epoch(backend):
    X, Y, Xv, Yv = overfitting_problem()
    net = fastbp.Network([3, 16, 1], backend=backend)
    history = net.fit(X, Y, epochs=4, lr=0.05, validation_data=(Xv, Yv))
    assert len(history.val_loss) == 4
    assert history.val_loss[-1] == net.loss(Xv, Yv)


def test_early_stopping_restores_the_best_epoch(backend):
    X, Y, Xv, Yv = overfitting_problem()
    net = fastbp.Network([3, 32, 1], backend=backend)
    seen = []
    history = net.fit(
        X,
        Y,
        epochs=500,
        lr=0.05,
        validation_data=(Xv, Yv),
        early_stopping=True,
        patience=4,
        tol=0.0,
        callbacks=[lambda network, epoch, logs: seen.append(network.flat.copy())],
    )
    best = int(np.argmin(history.val_loss))
    assert len(history.val_loss) == best + 1 + 4 < 500  # stopped 4 epochs after the best
    np.testing.assert_array_equal(net.flat, seen[best])


def test_early_stopping_holds_out_a_seeded_fraction(backend):
    X, Y, _, _ = overfitting_problem()
    runs = []
    for seed in (1, 1, 2):
        net = fastbp.Network([3, 8, 1], backend=backend)
        history = net.fit(X, Y, epochs=3, early_stopping=True, seed=seed, validation_fraction=0.25)
        runs.append((history.val_loss, net.flat.copy()))
    assert runs[0][0] == runs[1][0] and np.array_equal(runs[0][1], runs[1][1])
    assert runs[0][0] != runs[2][0]


def test_a_callback_returning_false_stops_after_its_epoch(backend):
    X, Y, _, _ = overfitting_problem()
    calls = []

    def stop_at_three(network, epoch, logs):
        calls.append((epoch, sorted(logs)))
        return False if epoch == 3 else None

    history = fastbp.Network([3, 4, 1], backend=backend).fit(
        X, Y, epochs=10, callbacks=[stop_at_three, lambda n, e, logs: 0]
    )
    assert history.epochs == 3
    assert calls == [(e, ["loss", "lr"]) for e in (1, 2, 3)]


@pytest.mark.parametrize(
    "options,error,message",
    [
        (dict(validation_data=np.zeros((3, 3))), TypeError, "validation_data"),
        (
            dict(validation_data=(np.zeros((3, 2)), np.zeros(3))),
            ValueError,
            r"validation_data\[0\]",
        ),
        (
            dict(validation_data=(np.zeros((3, 3)), np.zeros(4))),
            ValueError,
            r"validation_data\[1\]",
        ),
        (dict(validation_fraction=0.0), ValueError, "validation_fraction"),
        (dict(validation_fraction=1.0), ValueError, "validation_fraction"),
        (dict(validation_fraction=0.001), ValueError, "validation_fraction"),
        (
            dict(validation_fraction=0.2, validation_data=(np.zeros((3, 3)), np.zeros(3))),
            ValueError,
            "not both",
        ),
        (dict(early_stopping=True, patience=0), ValueError, "patience"),
        (dict(early_stopping=True, tol=-1.0), ValueError, "tol"),
        (dict(callbacks=print), TypeError, "callbacks"),
        (dict(callbacks=[print, 3]), TypeError, r"callbacks\[1\]"),
    ],
)
def test_bad_validation_and_callback_arguments(backend, options, error, message):
    X, Y, _, _ = overfitting_problem()
    with pytest.raises(error, match=message):
        fastbp.Network([3, 1], backend=backend).fit(X, Y, **options)


def oracle_weighted_clipped_epoch(net, X, Y, lr, weights, clip):
    """One in-order epoch of plain SGD on a tanh network, delta^(L) clipped
    and weighted, with the induction step written out in numpy."""
    W = [w.copy() for w in net.weights]
    probe = twin(net, "reference")
    for x, y, weight in zip(X, Y, weights):
        for w_probe, w in zip(probe.weights, W):
            w_probe[...] = w
        outputs = probe.backprop(x, y).outputs  # x^(0..L)
        deltas = [np.clip(outputs[-1] - y, -clip, clip) * weight]  # identity output
        for l in range(len(W) - 1, 0, -1):  # tanh' = 1 - x^2
            deltas.insert(0, (1 - outputs[l] ** 2) * (W[l][1:] @ deltas[0]))
        for l, w in enumerate(W):
            w -= lr * np.outer(np.concatenate([[1.0], outputs[l]]), deltas[l])
    return np.concatenate([w.ravel() for w in W])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sample_weight_and_clip_match_the_numpy_oracle(backend, dtype):
    layers = [4, 6, 5, 2]
    start = fastbp.Network(layers, hidden="tanh", seed=8, backend="reference")
    X, Y = data(layers, 30, seed=9)
    Y *= 4  # errors large enough to clip
    weights = np.random.default_rng(10).uniform(0, 2, size=30)
    expected = oracle_weighted_clipped_epoch(start, X, Y, 0.02, weights, 0.3)
    net = twin(start, backend, dtype)
    net.fit(X, Y, epochs=1, lr=0.02, shuffle=False, sample_weight=weights, clip=0.3)
    assert relative_error(net.flat, expected) < TOLERANCE[dtype]


def test_unit_sample_weights_change_nothing_and_weight_the_loss(backend):
    X, Y = data([3, 4, 2], 20)
    a, b, c = (fastbp.Network([3, 4, 2], backend=backend) for _ in range(3))
    history = a.fit(X, Y, epochs=1)
    b.fit(X, Y, epochs=1, sample_weight=np.ones(20))
    assert a.flat.tobytes() == b.flat.tobytes()
    # with a negligible lr the errors are those of the starting weights
    weighted = c.fit(X, Y, epochs=1, lr=1e-12, sample_weight=np.full(20, 2.0))
    assert weighted.loss[0] == pytest.approx(2 * c.loss(X, Y), rel=1e-9)
    assert history.loss[0] != weighted.loss[0]
    zero = fastbp.Network([3, 4, 2], backend=backend)
    before = zero.flat.copy()
    zero.fit(X, Y, epochs=1, sample_weight=np.zeros(20))
    np.testing.assert_array_equal(zero.flat, before)  # weight 0: no update


@pytest.mark.parametrize(
    "options,error,message",
    [
        (dict(sample_weight=np.ones(4)), ValueError, "sample_weight"),
        (dict(sample_weight=-np.ones(5)), ValueError, "sample_weight must be >= 0"),
        (dict(sample_weight=np.full(5, np.nan)), ValueError, "sample_weight"),
        (dict(clip=0.0), ValueError, "clip"),
        (dict(clip=-1.0), ValueError, "clip"),
        (dict(clip="big"), TypeError, "clip"),
    ],
)
def test_bad_sample_weight_and_clip(backend, options, error, message):
    X, Y = data([3, 1], 5)
    with pytest.raises(error, match=message):
        fastbp.Network([3, 1], backend=backend).fit(X, Y, **options)


SCHEDULES = {
    "invscaling": (dict(lr_schedule="invscaling", power_t=0.5), lambda t: 0.2 / t**0.5),
    "optimal": (
        dict(lr_schedule="optimal", weight_decay=0.5),
        lambda t: 1 / (0.5 * (1 / (0.2 * 0.5) + t - 1)),
    ),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedules_match_the_numpy_oracle(backend, dtype, name):
    options, lr_of = SCHEDULES[name]
    layers = [3, 6, 2]
    start = fastbp.Network(layers, seed=6, backend="reference")
    X, Y = data(layers, 25, seed=7)
    expected = oracle_epochs(
        start, X, Y, 2, 0.2, weight_decay=options.get("weight_decay", 0), lr_of=lr_of
    )
    net = twin(start, backend, dtype)
    history = net.fit(X, Y, epochs=2, lr=0.2, shuffle=False, **options)
    assert relative_error(net.flat, expected) < TOLERANCE[dtype]
    assert history.lr == pytest.approx([lr_of(25), lr_of(50)], rel=1e-12)


@pytest.mark.parametrize(
    "options",
    [
        SCHEDULES["invscaling"][0],
        SCHEDULES["optimal"][0],
        dict(lr_schedule="adaptive", tol=1e9, patience=1),
    ],
    ids=["invscaling", "optimal", "adaptive"],
)
def test_schedules_resume_across_partial_fit_save_and_pickle(backend, options, tmp_path):
    X, Y = data([3, 5, 1], 30)
    a = fastbp.Network([3, 5, 1], backend=backend)
    b = fastbp.Network([3, 5, 1], backend=backend)
    a.fit(X, Y, epochs=3, lr=0.1, seed=4, **options)
    b.partial_fit(X, Y, lr=0.1, seed=4, **options)
    b.save(tmp_path / "b.npz")
    b = fastbp.load(tmp_path / "b.npz")
    b.partial_fit(X, Y, lr=0.1, seed=4, **options)
    b = pickle.loads(pickle.dumps(b))
    b.partial_fit(X, Y, lr=0.1, seed=4, **options)
    assert a.flat.tobytes() == b.flat.tobytes()


def test_adaptive_divides_lr_by_five_after_patience_epochs_without_progress(backend):
    X, Y = data([3, 5, 1], 30)
    net = fastbp.Network([3, 5, 1], backend=backend)
    # tol 1e9: no epoch ever counts as an improvement on the first
    history = net.fit(X, Y, epochs=7, lr=0.1, lr_schedule="adaptive", tol=1e9, patience=2)
    assert history.lr == pytest.approx([0.1, 0.1, 0.1, 0.02, 0.02, 0.004, 0.004])
    steady = fastbp.Network([3, 5, 1], backend=backend).fit(
        X, Y, epochs=4, lr=0.1, lr_schedule="adaptive", tol=0.0, patience=50
    )
    assert steady.lr == [0.1] * 4


@pytest.mark.parametrize(
    "options,error,message",
    [
        (dict(lr_schedule="cosine"), ValueError, "lr_schedule"),
        (dict(lr_schedule="optimal"), ValueError, "weight_decay > 0"),
        (dict(lr_schedule="invscaling", power_t=-1.0), ValueError, "power_t"),
        (dict(lr_schedule=None), TypeError, "lr_schedule"),
    ],
)
def test_bad_schedules(backend, options, error, message):
    X, Y = data([3, 1], 5)
    with pytest.raises(error, match=message):
        fastbp.Network([3, 1], backend=backend).fit(X, Y, **options)


def oracle_average(net, X, Y, epochs, lr, start):
    """Plain SGD in order, and the mean of the weights after updates start, ..."""
    probe = twin(net, "reference")
    mean, count = np.zeros_like(probe.flat), 0
    for t in range(1, epochs * len(X) + 1):
        probe.sgd_step(X[(t - 1) % len(X)], Y[(t - 1) % len(X)], lr)
        if t >= start:
            count += 1
            mean += (probe.flat - mean) / count
    return probe.flat.copy(), mean


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("average,start", [(True, 1), (45, 45)], ids=["from-1", "from-45"])
def test_averaged_sgd_matches_the_numpy_oracle(backend, dtype, average, start):
    layers = [3, 6, 2]
    begin = fastbp.Network(layers, seed=11, backend="reference")
    X, Y = data(layers, 30, seed=12)
    last, mean = oracle_average(begin, X, Y, 2, 0.1, start)
    net = twin(begin, backend, dtype)
    net.fit(X, Y, epochs=2, lr=0.1, shuffle=False, average=average)
    assert relative_error(net.flat, mean) < TOLERANCE[dtype]  # what predict uses
    assert relative_error(net.training_state.iterate, last) < TOLERANCE[dtype]  # kept
    np.testing.assert_allclose(
        net.predict(X), twin(net, "reference", "float64").predict(X), rtol=1e-4
    )


def test_averaged_sgd_resumes_across_partial_fit_save_and_pickle(backend, tmp_path):
    X, Y = data([3, 5, 1], 30)
    a = fastbp.Network([3, 5, 1], backend=backend)
    b = fastbp.Network([3, 5, 1], backend=backend)
    a.fit(X, Y, epochs=3, lr=0.05, seed=2, average=40)
    b.partial_fit(X, Y, lr=0.05, seed=2, average=40)
    b.save(tmp_path / "b.npz")
    b = fastbp.load(tmp_path / "b.npz")
    b.partial_fit(X, Y, lr=0.05, seed=2, average=40)
    b = pickle.loads(pickle.dumps(b))
    b.partial_fit(X, Y, lr=0.05, seed=2, average=40)
    assert a.flat.tobytes() == b.flat.tobytes()
    assert a.training_state.iterate.tobytes() == b.training_state.iterate.tobytes()


@pytest.mark.parametrize(
    "average,error", [(0, ValueError), (-3, ValueError), (1.5, TypeError), ("yes", TypeError)]
)
def test_bad_average(backend, average, error):
    X, Y = data([3, 1], 5)
    with pytest.raises(error, match="average"):
        fastbp.Network([3, 1], backend=backend).fit(X, Y, average=average)


def oracle_minibatch(net, X, Y, epochs, lr, batch, momentum=0.0, weight_decay=0.0):
    """Mini-batch SGD in order, on mean gradients from the reference backend."""
    probe = twin(net, "reference")
    V = [np.zeros_like(w) for w in probe.weights]
    for _ in range(epochs):
        for first in range(0, len(X), batch):
            gradients = probe.gradient(X[first : first + batch], Y[first : first + batch])
            for w, v, g in zip(probe.weights, V, gradients):
                g[1:] += weight_decay * w[1:]
                v[...] = momentum * v - lr * g
                w += v
    return probe.flat.copy()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    "options", [dict(), dict(momentum=0.7, weight_decay=0.01)], ids=["plain", "momentum-decay"]
)
def test_mini_batches_match_the_numpy_oracle(backend, dtype, options):
    layers = [4, 7, 3]
    start = fastbp.Network(layers, seed=13, backend="reference")
    X, Y = data(layers, 30, seed=14)  # 7 batches of 4, then one of 2
    expected = oracle_minibatch(start, X, Y, 2, 0.1, 4, **options)
    net = twin(start, backend, dtype)
    net.fit(X, Y, epochs=2, lr=0.1, shuffle=False, batch_size=4, **options)
    assert relative_error(net.flat, expected) < TOLERANCE[dtype]
    assert net.training_state.progress["updates"] == 16


def test_batch_of_one_is_per_example_sgd_and_a_full_batch_is_gradient_descent(backend):
    X, Y = data([3, 5, 2], 20)
    a, b, c = (fastbp.Network([3, 5, 2], backend=backend) for _ in range(3))
    a.fit(X, Y, epochs=2)
    b.fit(X, Y, epochs=2, batch_size=1)
    assert a.flat.tobytes() == b.flat.tobytes()
    expected = [w - 0.1 * g for w, g in zip(c.weights, c.gradient(X, Y))]
    c.fit(X, Y, epochs=1, lr=0.1, batch_size=50)
    for w, e in zip(c.weights, expected):
        np.testing.assert_allclose(w, e, rtol=1e-12, atol=1e-15)


def test_mini_batches_resume_across_partial_fit(backend):
    X, Y = data([3, 5, 1], 30)
    a = fastbp.Network([3, 5, 1], backend=backend)
    b = fastbp.Network([3, 5, 1], backend=backend)
    options = dict(lr=0.05, batch_size=8, momentum=0.5, lr_schedule="invscaling", seed=3)
    a.fit(X, Y, epochs=2, **options)
    b.partial_fit(X, Y, **options)
    b.partial_fit(X, Y, **options)
    assert a.flat.tobytes() == b.flat.tobytes()


@pytest.mark.parametrize("batch_size,error", [(0, ValueError), (2.0, TypeError)])
def test_bad_batch_size(backend, batch_size, error):
    X, Y = data([3, 1], 5)
    with pytest.raises(error, match="batch_size"):
        fastbp.Network([3, 1], backend=backend).fit(X, Y, batch_size=batch_size)


@pytest.mark.compiled
@pytest.mark.parametrize("dtype, tolerance", [("float64", 1e-10), ("float32", 2e-4)])
@pytest.mark.parametrize(
    "layers, hidden", [([3, 5, 4, 2], "tanh"), ([6, 140, 130, 3], "relu")]
)  # > 128 wide
@pytest.mark.parametrize("lr_schedule", ["constant", "optimal"])
def test_weight_decay_without_momentum_matches_the_reference(
    dtype, tolerance, layers, hidden, lr_schedule
):
    """The compiled core's decay-only update (no velocity, the next
    example's s^(1) fused in) against the reference's momentum-free
    g = x delta + wd w."""
    X, Y = data(layers, 60, seed=3)
    trained = []
    for backend in ("compiled", "reference"):
        net = fastbp.Network(layers, hidden=hidden, dtype=dtype, seed=2, backend=backend)
        net.fit(X, Y, epochs=3, lr=0.02, weight_decay=0.05, lr_schedule=lr_schedule)
        trained.append(net.flat)
    assert relative_error(*trained) < tolerance
