"""fastbp.check_gradient and fastbp.verify."""

import numpy as np
import pytest
from conftest import data, run_python

import fastbp


@pytest.mark.parametrize(
    "hidden, output, loss",
    [
        ("tanh", "identity", "squared"),
        ("relu", "softmax", "cross_entropy"),
        ("sigmoid", "sigmoid", "cross_entropy"),
        ("leaky_relu", "tanh", "squared"),
    ],
)
def test_check_gradient_passes_and_restores_the_weights(backend, hidden, output, loss):
    layers = [3, 5, 4, 2]
    net = fastbp.Network(layers, hidden=hidden, output=output, loss=loss, seed=1, backend=backend)
    X, Y = data(layers, 5, seed=2, loss=loss, output=output)
    before = net.flat.copy()
    result = fastbp.check_gradient(net, X, Y)
    assert result.passed and len(result.errors) == 3
    assert max(result.errors) < 1e-6 and result.tolerance == 1e-6
    np.testing.assert_array_equal(net.flat, before)
    assert str(result).splitlines()[-1].startswith("PASS")


def test_check_gradient_fails_a_wrong_gradient():
    layers = [2, 3, 1]
    net = fastbp.Network(layers, seed=0)
    X, Y = data(layers, 4)
    right = net.gradient
    net.gradient = lambda X, Y: [g * 1.001 for g in right(X, Y)]  # 0.1% off
    result = fastbp.check_gradient(net, X, Y)
    assert not result.passed
    assert all(1e-4 < error < 1e-2 for error in result.errors)
    assert "FAIL" in str(result) and "FAILED" in repr(result)


def test_check_gradient_in_float32():
    layers = [3, 4, 2]
    net = fastbp.Network(layers, dtype="float32", seed=3)
    X, Y = data(layers, 3)
    result = fastbp.check_gradient(net, X, Y)
    assert result.passed and result.tolerance == 2e-2
    assert result.eps == pytest.approx(np.finfo(np.float32).eps ** (1 / 3))


def test_check_gradient_arguments():
    net = fastbp.Network([2, 1])
    X, Y = data([2, 1], 2)
    with pytest.raises(TypeError, match="net must be"):
        fastbp.check_gradient("net", X, Y)
    with pytest.raises(ValueError, match="eps"):
        fastbp.check_gradient(net, X, Y, eps=0)
    with pytest.raises(ValueError, match="X"):
        fastbp.check_gradient(net, X[:, :1], Y)


@pytest.mark.compiled
def test_verify_compares_the_backends_epoch_by_epoch():
    layers = [4, 6, 3]
    net = fastbp.Network(layers, hidden="tanh", output="softmax", loss="cross_entropy", seed=5)
    X, Y = data(layers, 50, seed=1, loss="cross_entropy", output="softmax")
    before = net.flat.copy()
    result = fastbp.verify(net, X, Y, epochs=3, lr=0.1, momentum=0.5, batch_size=2)
    assert len(result.weight_differences) == len(result.loss_differences) == 3
    assert max(result.weight_differences) < 1e-12 and max(result.loss_differences) < 1e-12
    np.testing.assert_array_equal(net.flat, before)
    assert str(result).startswith("epoch 1: largest weight difference")
    with pytest.raises(ValueError, match="epochs"):
        fastbp.verify(net, X, Y, epochs=0)


@pytest.mark.compiled
def test_verify_command_passes_on_a_wider_network():
    result = run_python("-m", "fastbp", "verify", "--layers", "64,32,10")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verdict: PASS" in result.stdout


@pytest.mark.compiled
def test_verify_reports_divergence_as_divergence():
    X, Y = data([6, 2], 100)
    net = fastbp.Network([6, 8, 2])
    result = fastbp.verify(net, 10 * X, 10 * Y, epochs=3, lr=0.5, momentum=0.9)
    assert result.diverged and not result.passed
    assert "DIVERGED" in str(result)
    stable = fastbp.verify(net, X, Y, epochs=3, momentum=0.9)
    assert stable.passed and stable.diverged is None
    assert max(stable.weight_differences) < 1e-10


@pytest.mark.compiled
def test_verify_command_takes_lr_momentum_and_epochs():
    args = ("-m", "fastbp", "verify", "--layers", "6,5,2", "--epochs", "2")
    diverging = run_python(*args, "--lr", "5", "--momentum", "0.9")
    assert diverging.returncode == 1
    assert "training diverged" in diverging.stdout and "DIVERGED" in diverging.stdout
    calm = run_python(*args, "--lr", "0.001", "--momentum", "0")
    assert calm.returncode == 0, calm.stdout
    assert "lr 0.001, momentum 0, 2 epochs" in calm.stdout


def test_check_gradient_of_a_sample_checks_that_many_weights_of_each_layer(backend):
    net = fastbp.Network([30, 20, 3], seed=1, backend=backend)
    X, Y = data([30, 3], 6)
    counted = []
    result = fastbp.check_gradient(net, X, Y, sample=50, progress=counted.append)
    assert result.passed and len(result.errors) == 2
    assert len(counted) == 50 + 50  # W^(1): 620 weights, W^(2): 63
    counted.clear()
    fastbp.check_gradient(net, X, Y, sample=100, progress=counted.append)
    assert len(counted) == 100 + 63
    with pytest.raises(ValueError, match="sample"):
        fastbp.check_gradient(net, X, Y, sample=0)


@pytest.mark.compiled
def test_verify_compares_threaded_training_with_the_copies_schedule():
    """verify(n_threads=K) and ``fastbp verify --threads K``: the compiled
    core's threads against the reference's shards one after another."""
    X, Y = data([64, 4], 3000, seed=3)
    net = fastbp.Network([64, 128, 4], seed=0)
    result = fastbp.verify(net, X, Y, epochs=2, lr=0.001, momentum=0.5, n_threads=2)
    assert result.passed and max(result.weight_differences) < 1e-12
    command = run_python(
        "-m",
        "fastbp",
        "verify",
        "--layers",
        "64,128,4",
        "--lr",
        "0.001",
        "--momentum",
        "0",
        "--epochs",
        "1",
        "--threads",
        "3",
    )
    assert command.returncode == 0, command.stdout + command.stderr
    assert "on 3 threads: rounds of 500 examples in 6 shards (125, 125, 100, 75, 50, 25)" in (
        command.stdout
    )
    assert "verdict: PASS" in command.stdout
    serial = run_python("-m", "fastbp", "verify", "--epochs", "1", "--threads", "2")
    assert serial.returncode == 0 and "serial, the step is too large" in serial.stdout
