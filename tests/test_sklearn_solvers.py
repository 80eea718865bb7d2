"""fastbp.sklearn's solvers against scikit-learn's own MLPs, from the same
random_state (the initial weights are scikit-learn's): Adam per example and
in batches, L-BFGS, the Poisson loss; and the weights a user assigns."""

import pickle
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import neural_network
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from fastbp.sklearn import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data(target, n=80, seed=0):
    X, labels = make_classification(
        n_samples=n,
        n_features=6,
        n_informative=4,
        n_classes=3,
        n_clusters_per_class=1,
        random_state=seed,
    )
    X = StandardScaler().fit_transform(X)
    y = {
        "multiclass": labels,
        "binary": labels % 2,
        "regression": np.column_stack([X[:, 0] - X[:, 1], np.sin(X[:, 2])]),
        "counts": np.random.default_rng(seed).poisson(np.exp(0.5 * X[:, 0])),
    }[target]
    return X, y


def _pair(target, **params):
    """fastbp's estimator and scikit-learn's, with the same parameters."""
    if target == "multiclass" or target == "binary":
        return MLPClassifier(**params), neural_network.MLPClassifier(**params)
    if target == "counts":
        params["loss"] = "poisson"
    return MLPRegressor(**params), neural_network.MLPRegressor(**params)


def _assert_same_weights(ours, theirs, rtol, atol):
    assert len(ours.coefs_) == len(theirs.coefs_)
    for mine, sklearns in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        assert_allclose(mine, sklearns, rtol=rtol, atol=atol)


@pytest.mark.parametrize("target", ["multiclass", "binary", "regression", "counts"])
@pytest.mark.parametrize("batch_size", [1, "auto", 8])  # 8 divides the 80 examples
@pytest.mark.parametrize("alpha", [0.0, 1e-3])
def test_adam_makes_sklearns_updates(target, batch_size, alpha):
    """Three epochs of Adam, in order: scikit-learn's steps to 1e-10, from
    the same initial weights (drawn from random_state as scikit-learn's).
    The losses are the same without the L2 term, which fastbp takes at the
    epoch's last weights (scikit-learn at each update's)."""
    X, y = _data(target)
    ours, theirs = _pair(
        target,
        solver="adam",
        batch_size=batch_size,
        shuffle=False,
        max_iter=3,
        hidden_layer_sizes=(6, 4),
        activation="tanh",
        learning_rate_init=0.01,
        alpha=alpha,
        random_state=0,
        tol=0.0,
    )
    ours.fit(X, y)
    theirs.fit(X, y)
    _assert_same_weights(ours, theirs, rtol=1e-10, atol=1e-10)
    if alpha == 0:
        assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-10)
    assert ours.n_iter_ == theirs.n_iter_ == 3 and ours.t_ == theirs.t_


@pytest.mark.parametrize("target", ["multiclass", "binary", "regression", "counts"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "sample_weight"])
def test_lbfgs_finds_sklearns_weights(target, weighted):
    """scipy's L-BFGS-B on fastbp's loss and gradient takes scikit-learn's
    path: 20 iterations end at its weights and loss."""
    X, y = _data(target)
    weights = np.random.default_rng(1).uniform(0.5, 2, len(X)) if weighted else None
    ours, theirs = _pair(
        target, solver="lbfgs", max_iter=20, hidden_layer_sizes=(5,), random_state=0, alpha=1e-2
    )
    ours.fit(X, y, sample_weight=weights)
    theirs.fit(X, y, sample_weight=weights)
    _assert_same_weights(ours, theirs, rtol=1e-7, atol=1e-9)
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-9)
    assert ours.n_iter_ == theirs.n_iter_


def test_lbfgs_on_threads_equals_one_thread():
    X, y = _data("multiclass", n=400)
    one = MLPClassifier(solver="lbfgs", max_iter=10, random_state=0).fit(X, y)
    two = MLPClassifier(solver="lbfgs", max_iter=10, random_state=0, n_threads=2).fit(X, y)
    _assert_same_weights(one, two, rtol=1e-7, atol=1e-10)


def test_lbfgs_stops_at_max_fun_with_a_warning():
    X, y = _data("multiclass")
    model = MLPClassifier(solver="lbfgs", max_fun=5, max_iter=100, random_state=0)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        model.fit(X, y)
    assert model.n_iter_ <= 5
    assert not hasattr(model, "partial_fit") and not hasattr(model, "loss_curve_")


def test_lbfgs_keeps_float32():
    X, y = _data("binary")
    model = MLPClassifier(solver="lbfgs", max_iter=20, random_state=0).fit(X.astype(np.float32), y)
    assert model.coefs_[0].dtype == np.float32
    assert model.predict_proba(X.astype(np.float32)).dtype == np.float32
    assert model.score(X.astype(np.float32), y) > 0.9


def test_default_solver_is_adam_per_example():
    model = MLPRegressor()
    assert (model.solver, model.batch_size, model.loss) == ("adam", 1, "squared_error")


# ---------------------------------------------------------------- assigned weights


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_assigned_weights_are_where_predict_and_training_start(solver):
    X, y = _data("multiclass")
    ours, theirs = _pair(
        "multiclass",
        solver=solver,
        max_iter=5,
        hidden_layer_sizes=(4,),
        random_state=0,
        shuffle=False,
        warm_start=True,
        batch_size=1,
    )
    ours.fit(X, y)
    theirs.fit(X, y)
    start = np.random.default_rng(2)
    coefs = [start.normal(size=W.shape) for W in theirs.coefs_]
    intercepts = [start.normal(size=b.shape) for b in theirs.intercepts_]
    for model in (ours, theirs):
        model.coefs_ = [W.copy() for W in coefs]
        model.intercepts_ = [b.copy() for b in intercepts]
        model.intercepts_[1] = intercepts[1] + 1.0  # an item assigned, too
    assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-12)
    restored = pickle.loads(pickle.dumps(ours))
    assert_array_equal(restored.predict_proba(X), ours.predict_proba(X))
    ours.fit(X, y)
    theirs.fit(X, y)
    _assert_same_weights(ours, theirs, rtol=1e-9, atol=1e-10)


def test_weights_assigned_to_an_unfitted_estimator_start_partial_fit():
    """scikit-learn's way to give starting weights (its test_fit does it)."""
    X, y = _data("binary")
    ours, theirs = _pair(
        "binary",
        solver="sgd",
        hidden_layer_sizes=(3,),
        random_state=0,
        learning_rate_init=0.1,
        shuffle=False,
        batch_size=1,
        momentum=0.0,
    )
    theirs.partial_fit(X, y, classes=[0, 1])
    ours.coefs_ = [W.copy() for W in theirs.coefs_]
    ours.intercepts_ = [b.copy() for b in theirs.intercepts_]
    theirs.partial_fit(X, y)
    ours.partial_fit(X, y, classes=[0, 1])
    _assert_same_weights(ours, theirs, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda m: m.coefs_.__setitem__(0, np.zeros((6, 5))),
            r"coefs_\[0\] has shape \(6, 5\) and intercepts_\[0\] shape \(4,\)",
        ),
        (lambda m: m.coefs_.__setitem__(0, np.zeros((3, 4))), "coefs_.0. has 3 rows, but X has 6"),
        (lambda m: m.intercepts_.__setitem__(1, np.zeros(5)), r"intercepts_\[1\] shape \(5,\)"),
        (lambda m: m.coefs_[0].__setitem__((0, 0), np.nan), "not finite"),
        (lambda m: setattr(m, "coefs_", m.coefs_[:1]), "one array per layer"),
    ],
)
def test_bad_assigned_weights_are_refused(change, message):
    X, y = _data("multiclass")
    model = MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X, y)
    if "finite" in message:
        model.coefs_ = [W.copy() for W in model.coefs_]  # not the network's own
    change(model)
    with pytest.raises(ValueError, match=message):
        model.predict(X)


# ---------------------------------------------------------------- divergence


def test_a_divergence_with_early_stopping_keeps_the_best_weights():
    """As scikit-learn's (its issue 29504): no error, a nan validation score
    last, and the weights of the best epoch."""
    X, y = _data("regression", n=150)
    model = MLPRegressor(
        hidden_layer_sizes=(50,),
        activation="identity",
        solver="sgd",
        learning_rate_init=1.0,
        early_stopping=True,
        max_iter=20,
        random_state=0,
    )
    with pytest.warns(ConvergenceWarning, match="diverged"):
        model.fit(X * 100, y[:, 0] * 100)
    assert np.isnan(model.validation_scores_[-1])
    assert isinstance(model.validation_scores_[-1], float)
    assert all(np.isfinite(W).all() for W in model.coefs_)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isfinite(model.predict(X)).all()


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_sparse_X_gives_what_dense_X_gives(solver):
    """CSR, CSC and COO X train and predict as the same X dense: L-BFGS to
    rounding; Adam updates W^(1)'s rows lazily for sparse X, so here every
    input is an entry (no zeros) and the results agree to rounding too."""
    from scipy import sparse

    X, y = _data("multiclass")
    dense = MLPClassifier(solver=solver, max_iter=5, random_state=0).fit(X, y)
    for fmt in ("csr", "csc", "coo"):
        model = MLPClassifier(solver=solver, max_iter=5, random_state=0)
        model.fit(sparse.csr_matrix(X).asformat(fmt), y)
        _assert_same_weights(model, dense, rtol=1e-9, atol=1e-12)
        assert_allclose(
            model.predict_proba(sparse.csr_matrix(X)), dense.predict_proba(X), rtol=1e-9
        )


@pytest.mark.parametrize("solver", ["lbfgs", "sgd", "adam"])
def test_every_solver_refuses_bad_sample_weights_and_rates_alike(solver):
    X, y = make_regression(n_samples=30, n_features=4, random_state=0)
    for weights, message in (
        (np.r_[-1.0, np.ones(29)], "sample_weight must be >= 0"),
        (np.r_[1.0, -1.0, np.zeros(28)], "sample_weight must be >= 0"),
        (np.zeros(30), "non-zero"),
    ):
        with pytest.raises(ValueError, match=message):
            MLPRegressor(solver=solver, max_iter=3).fit(X, y, sample_weight=weights)
    for rate in (-1.0, 0.0, np.inf):
        with pytest.raises(ValueError, match="learning_rate_init"):
            MLPRegressor(solver=solver, max_iter=3, learning_rate_init=rate).fit(X, y)
