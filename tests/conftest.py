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

BACKENDS = [pytest.param("compiled", marks=pytest.mark.compiled, id="compiled"),
            pytest.param("reference", id="reference")]


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
    else:
        Y = (rng.random(size=(n, layers[-1])) < 0.5).astype(float)
    return X, Y


def twin(net, backend=None, dtype=None):
    """A network with ``net``'s architecture and weights on another backend/dtype."""
    return fastbp.Network(net.layers, hidden=list(net.hidden), output=net.output,
                          loss=net.loss_name, dtype=dtype or net.dtype,
                          backend=backend or net.backend, weights=net.weights)


def record_train_epoch(network):
    """Give ``network`` a backend that runs each train_epoch call as its own
    did and records the call's arguments; returns (the list of recorded
    argument tuples, the network's own backend, to put back)."""
    calls, backend = [], network._backend

    class Recorder:
        def __getattr__(self, name):
            return getattr(backend, name)

        def train_epoch(self, *args):
            calls.append(args)
            return backend.train_epoch(*args)

    network._backend = Recorder()
    return calls, backend


def run_python(*args, **environment):
    """Run ``python *args`` with os.environ plus ``environment``.

    The child imports the same fastbp as this process (installed, or built
    in place): it runs in the directory that holds that package, since the
    directory a child starts in comes first on its sys.path.
    """
    home = os.path.dirname(os.path.dirname(os.path.abspath(fastbp.__file__)))
    return subprocess.run([sys.executable, *args], capture_output=True, text=True,
                          cwd=home, env=dict(os.environ, **environment), timeout=300)
