"""Every test that takes ``backend`` runs once per backend.

The compiled case carries the ``compiled`` marker: on a build without the
extension, deselect it with ``-m "not compiled"``; it is never skipped
silently.

Tests run with fastbp's defaults (one thread unless a test asks for more by
name), whatever OMP_NUM_THREADS says.

SCIPY_ARRAY_API=1 (before scipy loads) lets scikit-learn's estimator checks
run check_array_api_input on fastbp.sklearn instead of skipping it.
"""

import os
import subprocess
import sys

os.environ["SCIPY_ARRAY_API"] = "1"

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import fastbp  # noqa: E402
from fastbp._names import ACTIVATIONS, LOSSES  # noqa: E402
from fastbp.network import model_of  # noqa: E402

BACKENDS = [
    pytest.param("compiled", marks=pytest.mark.compiled, id="compiled"),
    pytest.param("reference", id="reference"),
]


def _accepted(output, loss):
    try:
        fastbp.Network([1, 1], output=output, loss=loss)
    except ValueError:
        return False
    return True


# Every output activation with every loss a Network takes it with.
OUTPUT_AND_LOSS = [
    (output, loss) for output in ACTIVATIONS for loss in LOSSES if _accepted(output, loss)
]


@pytest.fixture(params=BACKENDS, scope="session")
def backend(request):
    """Name of the backend under test."""
    return request.param


def relative_error(actual, expected):
    """Largest difference, relative to the largest magnitude of ``expected``."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    return float(np.max(np.abs(actual - expected)) / max(np.max(np.abs(expected)), 1e-300))


def data(layers, n, seed=0, loss="squared", output="identity"):
    """Inputs X ~ N(0, 1) and targets fitting the loss: (n, d[0]), (n, d[L])."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, layers[0]))
    if loss == "squared":
        Y = 0.5 * rng.normal(size=(n, layers[-1]))
    elif output == "softmax":
        Y = np.eye(layers[-1])[rng.integers(layers[-1], size=n)]
    elif loss == "poisson":  # counts, zeros among them
        Y = rng.poisson(1.0, size=(n, layers[-1])).astype(float)
    else:
        Y = (rng.random(size=(n, layers[-1])) < 0.5).astype(float)
    return X, Y


def twin(net, backend=None, dtype=None):
    """A network with ``net``'s architecture and weights on another backend/dtype."""
    return fastbp.Network(
        net.layers,
        hidden=list(net.hidden),
        output=net.output,
        loss=net.loss_name,
        dtype=dtype or net.dtype,
        backend=backend or net.backend,
        weights=net.weights,
    )


@pytest.fixture
def cpus_free():
    """Threads that gave way to a busy machine (fastbp._parallel.ChunkThreads:
    CI runs other steps beside the suite) take all their CPUs again at the
    test's first chunk, and after the test; the fixture's value does it
    again when called, before another fit."""
    from fastbp import _parallel

    _parallel.forget_busy_cpus()
    yield _parallel.forget_busy_cpus
    _parallel.forget_busy_cpus()


def record_train_pass(network, monkeypatch):
    """Record what ``network``'s backend is handed by each ``train_pass``
    call, by the names of the backend interface (fastbp._interface): a
    list of dicts with the plan's "threads", "round", "shards" and
    "bounds", and the buffers "flat", "velocity", "average" and
    "workspace"."""
    model = model_of(network)
    calls, backend = [], model.backend

    def train_pass(
        flat,
        layers,
        acts,
        loss,
        X,
        Y,
        sample_weight,
        order,
        options,
        plan,
        t_done,
        velocity,
        average,
        moments,
        workspace,
    ):
        calls.append(
            {
                "threads": plan.threads,
                "round": plan.round,
                "shards": plan.shards,
                "bounds": plan.bounds,
                "flat": flat,
                "velocity": velocity,
                "average": average,
                "workspace": workspace,
            }
        )
        return backend.train_pass(
            flat,
            layers,
            acts,
            loss,
            X,
            Y,
            sample_weight,
            order,
            options,
            plan,
            t_done,
            velocity,
            average,
            moments,
            workspace,
        )

    class Recorder:
        def __getattr__(self, name):
            return getattr(backend, name)

    recorder = Recorder()
    recorder.train_pass = train_pass
    monkeypatch.setattr(model, "backend", recorder)
    return calls


def backend_spec(network):
    """(d[0..L], activation codes, loss code) of ``network``, as the backend
    interface takes them."""
    names = ("identity",) + network.hidden + (network.output,)
    return (
        np.array(network.layers, dtype=np.intp),
        np.array([ACTIVATIONS.index(name) for name in names], dtype=np.intc),
        LOSSES.index(network.loss_name),
    )


# The warning of an install without the extension, which tests of other
# things run in a child leave out of its output.
MISSING_EXTENSION = "ignore:fastbp's compiled core:RuntimeWarning"


def run_python(*args, timeout=300, **environment):
    """Run ``python *args`` with os.environ plus ``environment``, for at
    most ``timeout`` seconds.

    The child imports the same fastbp as this process (installed, or built
    in place): it runs in the directory that holds that package, since the
    directory a child starts in comes first on its sys.path.
    """
    home = os.path.dirname(os.path.dirname(os.path.abspath(fastbp.__file__)))
    # the warning filters in PYTHONWARNINGS, which the child's own children
    # (Dask's workers) inherit, the caller's (-W options) first: of two, the
    # later takes precedence, and Python keeps only the first copy of a
    # filter given twice
    filters = []
    while len(args) >= 2 and args[0] == "-W":
        filters, args = filters + [args[1]], args[2:]
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        cwd=home,
        env=dict(os.environ, **environment, PYTHONWARNINGS=",".join(filters + [MISSING_EXTENSION])),
        timeout=timeout,
    )
