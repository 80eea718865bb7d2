"""Smoke test of the benchmark suite: every implementation that is installed
runs on a few hundred examples and passes its check against fastbp's float64
result.  Nothing here looks at a time."""

import importlib.util
import json
import os

import numpy as np
import pytest
from conftest import run_python

HERE = os.path.dirname(os.path.abspath(__file__))
SUITE = os.path.join(HERE, os.pardir, "benchmarks", "run.py")

pytestmark = pytest.mark.compiled


def load_suite():
    spec = importlib.util.spec_from_file_location("benchmark_suite", SUITE)
    suite = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(suite)
    return suite


def test_quick_run_checks_every_installed_implementation(tmp_path):
    out = tmp_path / "results.json"
    result = run_python(
        os.path.abspath(SUITE),
        "--quick",
        "--architectures",
        "xor",
        "digits",
        "deep",
        "--json",
        str(out),
        "--markdown",
        str(tmp_path / "table.md"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(out.read_text())
    suite = load_suite()
    expected = [name for name, available in suite.AVAILABLE.items() if available]
    assert report["implementations"] == expected
    assert len(report["training"]) == 6  # 3 architectures x 2 dtypes
    for row in report["training"]:
        assert set(row["results"]) == set(expected)
        for name, outcome in row["results"].items():
            assert outcome["checked"], (row["architecture"], row["dtype"], name)
            assert outcome["examples_per_second"] > 0
    assert len(report["predict"]) == 6
    table = (tmp_path / "table.md").read_text()
    assert "| xor [2, 4, 1] | float64 |" in table


def test_a_wrong_implementation_fails_its_check():
    suite = load_suite()
    layers = suite.ARCHITECTURES["digits"]
    blocks = suite.initial_weights(layers)
    X, Y = suite.make_data(layers, 300)
    oracle = suite.Oracle(blocks, X, Y, 0.01)
    train = suite.IMPLEMENTATIONS["numpy loop"][0]

    def off_by_one_example(blocks, X, Y, lr):  # skips the last example
        return train(blocks, X[:-1], Y[:-1], lr)

    suite.IMPLEMENTATIONS["wrong"] = (off_by_one_example, None, True)
    try:
        right = suite.time_implementation(
            "numpy loop", blocks, X, Y, oracle, "float64", 0.1, 1, quick=True
        )
        wrong = suite.time_implementation(
            "wrong", blocks, X, Y, oracle, "float64", 0.1, 1, quick=True
        )
    finally:
        del suite.IMPLEMENTATIONS["wrong"]
    assert right["checked"] and right["difference"] < 1e-12
    assert not wrong["checked"] and wrong["difference"] > 1e-9


def test_relative_difference():
    suite = load_suite()
    a = [np.array([[1.0, -4.0]]), np.array([[2.0]])]
    b = [np.array([[1.0, -4.0]]), np.array([[2.5]])]
    assert suite.relative_difference(a, a) == 0
    assert suite.relative_difference(b, a) == pytest.approx(0.5 / 4)


def test_sklearn_comparison_runs(tmp_path):
    """benchmarks/bench_sklearn.py on digits for one epoch: every model fits,
    the stochastic ones exactly that epoch, and the report holds a time, a
    ratio and an accuracy for each."""
    out = tmp_path / "sklearn.json"
    script = os.path.join(HERE, os.pardir, "benchmarks", "bench_sklearn.py")
    result = run_python(
        os.path.abspath(script),
        "--epochs",
        "1",
        "--repeats",
        "1",
        "--data",
        "digits",
        "--json",
        str(out),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = json.loads(out.read_text())["data"]["digits"]["results"]
    assert len(rows) == 8
    for row in rows.values():
        assert row["median_fit_seconds"] > 0 and 0 <= row["median_test_accuracy"] <= 1
        assert row["median_time_ratio"] > 0 and row["ratio_to"].startswith("fastbp")
    # one per-example epoch of Adam on digits already classifies most test images
    assert rows["fastbp default (adam, batch_size=1)"]["median_test_accuracy"] > 0.8
    assert rows["fastbp lbfgs"]["median_test_accuracy"] > 0.9


def test_online_benchmark_runs(tmp_path):
    """benchmarks/bench_online.py, few calls, fastbp's own: every call timed,
    both ratios reported (no bound on them: a benchmark, not a timed test)."""
    out = tmp_path / "online.json"
    script = os.path.join(HERE, os.pardir, "benchmarks", "bench_online.py")
    result = run_python(
        os.path.abspath(script),
        "--calls",
        "200",
        "--repeats",
        "1",
        "--no-peers",
        "--skip-accuracy",
        "--json",
        str(out),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    costs = json.loads(out.read_text())["per_call_us"]
    assert {
        "numpy x @ W(1)",
        "sgd_step",
        "sgd_step, adam",
        "predict, one example",
        "partial_fit, 1 row",
    } <= set(costs)
    assert all(us > 0 for us in costs.values())
    assert "sgd_step / numpy x @ W(1)" in result.stdout
