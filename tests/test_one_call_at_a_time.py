"""A network trains in one call at a time: a second training call on it,
from a callback, a stream's chunks or another thread, raises RuntimeError."""

import threading

import numpy as np
import pytest
from conftest import data

import fastbp


def test_a_stream_that_trains_its_network_meanwhile_is_refused(backend):
    """A fit_stream whose chunks call partial_fit on the same network, with
    average=True (the pass's average must not change under the core): a
    RuntimeError, the pass rolled back, and the network trains again."""
    X, Y = data([4, 2], 200)
    net = fastbp.Network([4, 6, 2], backend=backend)
    before = net.flat.copy()

    def chunks():
        yield X[:100], Y[:100]
        net.partial_fit(X, Y)
        yield X[100:], Y[100:]

    with pytest.raises(RuntimeError, match="already training"):
        fastbp.fit_stream(net, chunks(), average=True)
    assert np.array_equal(net.flat, before)  # the pass was rolled back
    net.partial_fit(X, Y, average=True)  # and the network trains again
    assert not np.array_equal(net.flat, before)


def test_a_callback_that_trains_its_network_is_refused(backend):
    X, Y = data([4, 2], 50)
    net = fastbp.Network([4, 6, 2], backend=backend)

    def retrain(network, epoch, logs):
        network.sgd_step(X[0], Y[0], 0.1)

    with pytest.raises(RuntimeError, match="sgd_step: this network is already training"):
        net.fit(X, Y, epochs=2, callbacks=[retrain])


def test_a_second_thread_cannot_train_the_network_meanwhile(backend):
    X, Y = data([4, 2], 200)
    net = fastbp.Network([4, 6, 2], backend=backend)
    inside, release, errors = threading.Event(), threading.Event(), []

    def slow_chunks():
        yield X[:100], Y[:100]
        inside.set()
        release.wait(30)
        yield X[100:], Y[100:]

    def train():
        try:
            fastbp.fit_stream(net, slow_chunks(), average=True)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    worker = threading.Thread(target=train)
    worker.start()
    try:
        assert inside.wait(30)
        with pytest.raises(RuntimeError, match="fit: this network is already training"):
            net.fit(X, Y, epochs=1)
    finally:
        release.set()
        worker.join(30)
    assert not errors and np.isfinite(net.flat).all()
