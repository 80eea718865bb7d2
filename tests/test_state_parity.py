"""The two backends keep the same whole training state (weights, velocity,
average, last iterate and progress counters) for every option, as a saved
file shows it: not only the weights."""

import io
import json

import numpy as np
import pytest
from conftest import data, relative_error, twin
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastbp

pytestmark = pytest.mark.compiled


def whole_state(net):
    """Everything a saved file holds: its arrays and its progress counters."""
    buffer = io.BytesIO()
    net.save(buffer)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files if name != "meta"}
        progress = json.loads(str(stored["meta"]))["progress"]
    return arrays, progress


def assert_same_state(compiled, reference, tolerance=1e-10):
    (arrays, progress), (expected_arrays, expected_progress) = (
        whole_state(compiled),
        whole_state(reference),
    )
    assert arrays.keys() == expected_arrays.keys()
    for name, expected in expected_arrays.items():
        assert relative_error(arrays[name], expected) < tolerance, name
    assert progress.keys() == expected_progress.keys()
    for name, expected in expected_progress.items():
        if isinstance(expected, float):
            assert progress[name] == pytest.approx(expected, rel=max(tolerance, 1e-9)), name
        else:
            assert progress[name] == expected, name


def test_weight_decay_without_momentum_leaves_no_velocity():
    """Weight decay without momentum writes no velocity in either backend,
    so a following pass with momentum starts both from the same state."""
    X, Y = data([5, 2], 120)
    compiled = fastbp.Network([5, 9, 2], backend="compiled")
    reference = twin(compiled, backend="reference")
    for net in (compiled, reference):
        net.fit(X, Y, epochs=2, lr=0.05, weight_decay=0.01)
    assert_same_state(compiled, reference)
    assert "velocity" not in whole_state(compiled)[0]
    for net in (compiled, reference):
        net.partial_fit(X, Y, lr=0.05, momentum=0.9)
    assert_same_state(compiled, reference)


OPTIONS = st.fixed_dictionaries(
    {
        "lr": st.sampled_from([0.01, 0.05]),
        "momentum": st.sampled_from([0.0, 0.5, 0.9]),
        "nesterov": st.booleans(),
        "weight_decay": st.sampled_from([0.0, 1e-3, 0.05]),
        "batch_size": st.integers(1, 4),
        "average": st.sampled_from([False, True, 7]),
        "lr_schedule": st.sampled_from(["constant", "invscaling", "optimal", "adaptive"]),
        "clip": st.sampled_from([None, 0.3]),
        "weighted": st.booleans(),
        "shuffle": st.booleans(),
        "optimizer": st.sampled_from(["sgd", "sgd", "adam", "adagrad"]),
    }
)


def _call_options(options, n):
    options = dict(options)
    if options["optimizer"] != "sgd":
        options["momentum"] = 0.0
    if options["momentum"] == 0:
        options["nesterov"] = False
    if options["lr_schedule"] == "optimal" and options["weight_decay"] == 0:
        options["weight_decay"] = 1e-3
    weighted = options.pop("weighted")
    options["sample_weight"] = np.linspace(0.2, 1.5, n) if weighted else None
    return options


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    first=OPTIONS,
    second=OPTIONS,
    hidden=st.sampled_from(["tanh", "relu", "sigmoid"]),
    dtype=st.sampled_from(["float64", "float32"]),
    epochs=st.integers(1, 2),
)
def test_random_configurations_keep_the_same_whole_state(first, second, hidden, dtype, epochs):
    """fit with one random set of options, then partial_fit with another:
    the compiled and the reference backends hold the same whole state."""
    X, Y = data([4, 3], 30, seed=1)
    compiled = fastbp.Network([4, 6, 3], hidden=hidden, dtype=dtype, backend="compiled")
    reference = twin(compiled, backend="reference")
    tolerance = 1e-10 if dtype == "float64" else 1e-4
    for net in (compiled, reference):
        net.fit(X, Y, epochs=epochs, **_call_options(first, len(X)))
    assert_same_state(compiled, reference, tolerance)
    for net in (compiled, reference):
        net.partial_fit(X, Y, **_call_options(second, len(X)))
    assert_same_state(compiled, reference, tolerance)


THREADED_OPTIONS = st.fixed_dictionaries(
    {
        "lr": st.sampled_from([0.002, 0.01]),
        "momentum": st.sampled_from([0.0, 0.5, 0.9]),
        "nesterov": st.booleans(),
        "weight_decay": st.sampled_from([0.0, 1e-3]),
        "batch_size": st.integers(1, 3),
        "lr_schedule": st.sampled_from(["constant", "invscaling", "optimal", "adaptive"]),
        "clip": st.sampled_from([None, 0.3]),
        "weighted": st.booleans(),
        "shuffle": st.booleans(),
        "optimizer": st.just("sgd"),
        "n_threads": st.integers(2, 4),
    }
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    first=THREADED_OPTIONS,
    second=THREADED_OPTIONS,
    hidden=st.sampled_from(["tanh", "relu", "sigmoid"]),
    dtype=st.sampled_from(["float64", "float32"]),
)
def test_random_threaded_configurations_keep_the_same_whole_state(first, second, hidden, dtype):
    """The same on several threads: the reference computes the copies'
    schedule (rounds of shards) that the compiled core runs on threads."""
    X, Y = data([4, 3], 600, seed=1)
    compiled = fastbp.Network([4, 6, 3], hidden=hidden, dtype=dtype, backend="compiled")
    reference = twin(compiled, backend="reference")
    tolerance = 1e-10 if dtype == "float64" else 1e-4
    for net in (compiled, reference):
        net.fit(X, Y, epochs=1, **_call_options(first, len(X)))
    assert_same_state(compiled, reference, tolerance)
    for net in (compiled, reference):
        net.partial_fit(X, Y, **_call_options(second, len(X)))
    assert_same_state(compiled, reference, tolerance)
