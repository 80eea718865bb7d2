"""The demo and the command line."""

import numpy as np
import pytest
from conftest import run_python

from fastbp import demo


def test_spirals_are_two_balanced_standardised_classes():
    X, y = demo.spirals(1000, seed=1)
    assert X.shape == (1000, 2) and set(np.unique(y)) == {0.0, 1.0}
    np.testing.assert_allclose(X.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(X.std(axis=0), 1, rtol=1e-12)
    assert 400 < y.sum() < 600


def test_a_linear_model_cannot_fit_the_spirals():
    X, y = demo.spirals(2000)
    A = np.column_stack([np.ones(len(X)), X])
    w = np.linalg.lstsq(A, 2 * y - 1, rcond=None)[0]
    assert np.mean((A @ w > 0) == (y > 0.5)) < 0.7


def test_demo_learns_the_spirals(backend):
    lines = []
    if backend == "compiled":  # the demo as shipped
        result = demo.run(backend=backend, out=lines.append)
    else:  # the reference is ~100x slower: a smaller run
        result = demo.run(points=300, epochs=60, backend=backend, out=lines.append)
    assert result["accuracy"] >= 0.95
    assert result["examples_per_second"] > 0
    assert "training accuracy" in lines[-1] and backend in lines[-1]


def run_command(*args):
    return run_python("-m", "fastbp", *args)


def test_command_line_demo(backend):
    result = run_command("demo", "--points", "300", "--epochs", "20", "--backend", backend)
    assert result.returncode == 0, result.stderr
    assert "epoch   20/20" in result.stdout
    assert f"on the {backend} backend" in result.stdout


@pytest.mark.parametrize(
    "args",
    [["demo", "--points", "1"], ["demo", "--lr", "-1"], ["demo", "--backend", "gpu"], ["train"]],
)
def test_command_line_errors_exit_with_2(args):
    result = run_command(*args)
    assert result.returncode == 2
    assert result.stderr.startswith("fastbp") and ": error: " in result.stderr
