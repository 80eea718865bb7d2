"""Trust by default: seeded defaults reproduce, one training call at a time,
out-of-core blocks checked, absurd options refused, verify passes."""

import threading

import numpy as np
import pytest

import fastbp
from conftest import data, relative_error, run_python, twin


def test_default_fit_reproduces_bit_for_bit_and_equals_the_reference(backend):
    """fit's defaults train serially: two runs with one seed are equal bit for
    bit, and equal the reference to rounding."""
    X, Y = data([8, 3], 300)
    runs = []
    for _ in range(2):
        net = fastbp.Network([8, 16, 12, 3], backend=backend, seed=0)
        net.fit(X, Y, epochs=1, shuffle=False)
        runs.append(net.flat.copy())
    assert np.array_equal(runs[0], runs[1])
    reference = fastbp.Network([8, 16, 12, 3], backend="reference", seed=0)
    reference.fit(X, Y, epochs=1, shuffle=False)
    assert relative_error(runs[0], reference.flat) < 1e-12


@pytest.mark.compiled
def test_n_threads_minus_one_follows_omp_num_threads():
    """n_threads=-1 is OpenMP's limit, which OMP_NUM_THREADS sets."""
    code = "from fastbp import _core, _parallel; print(_parallel.threads(_core, -1))"
    for count in ("1", "2"):
        result = run_python("-c", code, OMP_NUM_THREADS=count)
        assert result.stdout.strip() == count, result.stderr


@pytest.mark.parametrize("n_threads, error", [
    (2**31, ValueError), (2000, ValueError), (0, ValueError), (-2, ValueError),
    (None, TypeError), (2.0, TypeError), (True, TypeError)])
def test_absurd_thread_counts_are_refused(n_threads, error):
    X, Y = data([3, 1], 20)
    net = fastbp.Network([3, 4, 1])
    with pytest.raises(error, match="n_threads"):
        net.fit(X, Y, epochs=1, n_threads=n_threads)
    with pytest.raises(error, match="n_threads"):
        net.partial_fit(X, Y, n_threads=n_threads)


def test_absurd_sizes_are_refused():
    X, Y = data([3, 1], 20)
    net = fastbp.Network([3, 4, 1])
    with pytest.raises(ValueError, match="batch_size"):
        net.fit(X, Y, epochs=1, batch_size=2**63)
    with pytest.raises(ValueError, match="weights"):
        fastbp.Network([10**10, 10**10, 1])
    with pytest.raises(TypeError, match="layers must be a list or tuple"):
        fastbp.Network({2, 8, 1})
    with pytest.raises(TypeError, match="hidden must be a list or tuple"):
        fastbp.Network([2, 3, 3, 1], hidden={"tanh", "relu"})
    assert fastbp.Network(np.array([2, 3, 1])).layers == (2, 3, 1)


# ---------------------------------------------------------------- one call at a time

def test_a_stream_that_trains_its_network_meanwhile_is_refused(backend):
    """A fit_stream whose chunks call partial_fit on the same network (which
    with average=True used to free the average under the core)."""
    X, Y = data([4, 2], 200)
    net = fastbp.Network([4, 6, 2], backend=backend)
    before = net.flat.copy()

    def chunks():
        yield X[:100], Y[:100]
        net.partial_fit(X, Y)
        yield X[100:], Y[100:]

    with pytest.raises(RuntimeError, match="already training"):
        fastbp.fit_stream(net, chunks(), average=True)
    assert np.array_equal(net.flat, before)          # the pass was rolled back
    net.partial_fit(X, Y, average=True)               # and the network trains again
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
        except BaseException as error:          # pragma: no cover - reported below
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


# ---------------------------------------------------------------- out-of-core blocks

class Overreaching:
    """An array-like whose row slices give more rows than asked for."""

    def __init__(self, array, extra):
        self.array, self.extra = array, extra
        self.shape, self.dtype = array.shape, array.dtype

    def __len__(self):
        return len(self.array)

    def __getitem__(self, rows):
        return self.array[rows.start:rows.stop + self.extra]


def test_an_array_like_whose_slices_overreach_is_refused(backend):
    X, Y = data([4, 1], 300)
    net = fastbp.Network([4, 3, 1], backend=backend)
    before = net.flat.copy()
    with pytest.raises(ValueError, match=r"X\[0:300\] gave 350 rows, not 300"):
        net.fit(_overreaching(X, 50), Y, epochs=1, sample_weight=np.ones(300))
    assert np.array_equal(net.flat, before)


def _overreaching(X, extra):
    padded = Overreaching(np.vstack([X, X[:extra]]), extra)
    padded.shape = X.shape
    return padded


# ---------------------------------------------------------------- verify

def test_verify_command_passes_on_a_wider_network():
    result = run_python("-m", "fastbp", "verify", "--layers", "64,32,10")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verdict: PASS" in result.stdout


def test_verify_reports_divergence_as_divergence():
    X, Y = data([6, 2], 100)
    net = fastbp.Network([6, 8, 2])
    result = fastbp.verify(net, 10 * X, 10 * Y, epochs=3, lr=0.5, momentum=0.9)
    assert result.diverged and not result.passed
    assert "DIVERGED" in str(result)
    stable = fastbp.verify(net, X, Y, epochs=3, momentum=0.9)
    assert stable.passed and stable.diverged is None
    assert max(stable.weight_differences) < 1e-10


def test_verify_command_takes_lr_momentum_and_epochs():
    args = ("-m", "fastbp", "verify", "--layers", "6,5,2", "--epochs", "2")
    diverging = run_python(*args, "--lr", "5", "--momentum", "0.9")
    assert diverging.returncode == 1
    assert "training diverged" in diverging.stdout and "DIVERGED" in diverging.stdout
    calm = run_python(*args, "--lr", "0.001", "--momentum", "0")
    assert calm.returncode == 0, calm.stdout
    assert "lr 0.001, momentum 0, 2 epochs" in calm.stdout
