"""scikit-learn's own tests of its MLPs run against fastbp's estimators.

The test file is the installed scikit-learn's
``sklearn/neural_network/tests/test_mlp.py`` (not a copy kept here), its
import of ``MLPClassifier, MLPRegressor`` swapped for fastbp.sklearn's, run
by pytest in a child process with scikit-learn's conftest as a plugin (for
its ``global_random_seed``). The tests that cannot apply are in
``CANNOT_APPLY``, each with its reason; every other test must pass.
"""

import importlib.util
import xml.etree.ElementTree as ElementTree

import pytest
from conftest import run_python

SKLEARN_IMPORT = "from sklearn.neural_network import MLPClassifier, MLPRegressor"
FASTBP_IMPORT = "from fastbp.sklearn import MLPClassifier, MLPRegressor"

PRIVATE_OPTIMIZER = (
    "reads scikit-learn's private _optimizer.learning_rate; fastbp's schedule "
    "lives in its training state"
)
FLOAT32_PER_EXAMPLE = (
    "compares a float32 fit with a float64 one to rtol 5e-4 (regressor) or 1e-2 (classifier "
    "probabilities down to 1e-7): at fastbp's default batch_size=1, 150 epochs are 45,000 "
    "updates, not scikit-learn's 300 batches, and float32 rounding drifts further (a few "
    "predictions near 0 differ by 2e-6, probabilities near 1 are quantised at 2^-24)"
)
CANNOT_APPLY = {
    "test_gradient": "calls scikit-learn's private _loss_grad_lbfgs (fastbp's gradient is "
    "checked against finite differences in test_gradients.py)",
    "test_learning_rate_warmstart": PRIVATE_OPTIMIZER,
    "test_adaptive_learning_rate": PRIVATE_OPTIMIZER,
    "test_mlp_classifier_dtypes_casting": FLOAT32_PER_EXAMPLE,
    "test_mlp_regressor_dtypes_casting": FLOAT32_PER_EXAMPLE,
}
AT_LEAST_PASSING = 54


def _swapped_test_file(directory):
    """The installed scikit-learn's test_mlp.py with fastbp's estimators imported."""
    spec = importlib.util.find_spec("sklearn.neural_network.tests.test_mlp")
    with open(spec.origin, encoding="utf-8") as file:
        source = file.read()
    assert source.count(SKLEARN_IMPORT) == 1, "scikit-learn's test file imports differently"
    path = directory / "test_mlp_fastbp.py"
    path.write_text(source.replace(SKLEARN_IMPORT, FASTBP_IMPORT), encoding="utf-8")
    return path


def _pytest(path, *args):
    """pytest on ``path`` in a child, rooted in its directory (node ids are
    relative to it) with an empty configuration, not this repository's."""
    config = path.parent / "pytest.ini"
    config.write_text("[pytest]\n", encoding="utf-8")
    return run_python(
        "-m",
        "pytest",
        "-c",
        str(config),
        "--rootdir",
        str(path.parent),
        "-p",
        "sklearn.conftest",
        "-p",
        "no:cacheprovider",
        "-q",
        str(path),
        *args,
    )


@pytest.mark.compiled
def test_sklearns_own_mlp_tests_pass_but_those_that_cannot_apply(tmp_path):
    path = _swapped_test_file(tmp_path)
    collected = _pytest(path, "--collect-only")
    names = {line.split("::", 1)[1] for line in collected.stdout.splitlines() if "::" in line}
    assert set(CANNOT_APPLY) <= names, set(CANNOT_APPLY) - names

    report = tmp_path / "report.xml"
    deselected = [f"--deselect={path.name}::{name}" for name in CANNOT_APPLY]
    run = _pytest(path, f"--junitxml={report}", *deselected)
    cases = list(ElementTree.parse(report).getroot().iter("testcase"))
    failed = {
        case.get("name"): case[0].get("message", "")[:300]
        for case in cases
        if len(case) and case[0].tag in ("failure", "error", "skipped")
    }
    assert not failed, (failed, run.stdout[-3000:])
    assert run.returncode == 0, run.stdout[-3000:]
    assert len(cases) == len(names) - len(CANNOT_APPLY)
    assert len(cases) >= AT_LEAST_PASSING, f"{len(cases)} of {len(names)} pass"


def test_the_docs_give_the_count_of_tests_that_cannot_apply():
    import os

    docs = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "sklearn-and-dask.md")
    with open(docs, encoding="utf-8") as file:
        text = " ".join(file.read().split())
    assert f"which lists the {len(CANNOT_APPLY)} that cannot apply" in text
