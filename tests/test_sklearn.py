"""fastbp.sklearn: scikit-learn's own estimator checks, the same steps as
scikit-learn's MLPs, to_sklearn, and the estimators in scikit-learn's tools."""

import io
import pickle
import warnings

import joblib
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import neural_network
from sklearn.base import clone
from sklearn.datasets import load_iris, make_classification, make_multilabel_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import compute_sample_weight
from sklearn.utils.estimator_checks import estimator_checks_generator

import fastbp
from fastbp.sklearn import MLPClassifier, MLPRegressor

# Short fits stop at max_iter on purpose; scikit-learn warns of that.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# Checks that fail by the nature of per-example SGD, each with the reason.
SAMPLE_WEIGHT_REASON = (
    "per-example SGD: an example of weight 2 makes one update of twice the size, "
    "two copies of it make two updates, and an example of weight 0 still takes a "
    "place in the shuffled order (and a momentum step), so the fits differ"
)
EXPECTED_FAILURES = {
    "check_sample_weight_equivalence_on_dense_data": SAMPLE_WEIGHT_REASON,
    "check_sample_weight_equivalence_on_sparse_data": SAMPLE_WEIGHT_REASON,
}
# Checks that do not apply, left out of the parametrisation (not skipped).
NOT_APPLICABLE = {
    # like scikit-learn's MLPClassifier, ours has no decision_function
    "check_classifiers_multilabel_output_format_decision_function",
}
# The estimators as checked, with their default parameters (Adam, per example).
CHECKED = [MLPClassifier(random_state=0), MLPRegressor(random_state=0)]


def _estimator_checks():
    for estimator in CHECKED:
        for item in estimator_checks_generator(
            estimator, expected_failed_checks=EXPECTED_FAILURES, mark="xfail"
        ):
            # an expected failure comes as a pytest.param with its xfail mark
            (est, check), marks = getattr(item, "values", item), getattr(item, "marks", ())
            name = getattr(check, "func", check).__name__
            if name not in NOT_APPLICABLE:
                yield pytest.param(est, check, marks=marks, id=f"{type(est).__name__}-{name}")


@pytest.mark.parametrize("estimator, check", list(_estimator_checks()))
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_sgd_diverges_on_unscaled_targets_as_sklearns_where_adam_trains():
    """Per example, SGD diverges on check_regressor_multioutput's unscaled
    targets (|y| up to 510), in scikit-learn's MLP too, with the same message;
    the default Adam's bounded steps train on them."""
    from sklearn.datasets import make_regression

    X, y = make_regression(random_state=42, n_targets=5, n_samples=11, n_features=10)
    with pytest.raises(ValueError, match="non-finite"):
        neural_network.MLPRegressor(solver="sgd", batch_size=1, random_state=0).fit(X, y)
    with pytest.raises(fastbp.DivergenceError, match="non-finite.*learning_rate_init"):
        MLPRegressor(solver="sgd", random_state=0).fit(X, y)
    fitted = MLPRegressor(random_state=0).fit(X, y)
    assert np.isfinite(fitted.loss_curve_).all()
    assert fitted.loss_curve_[-1] < fitted.loss_curve_[0] / 2


# ---------------------------------------------------------------- the same steps


def _blobs(n_classes=3, n=60, seed=0):
    X, y = make_classification(
        n_samples=n,
        n_features=5,
        n_informative=3,
        n_classes=n_classes,
        n_clusters_per_class=1,
        random_state=seed,
    )
    return StandardScaler().fit_transform(X), y


def _same_start(ours, theirs, X, y):
    """Fit both once, then give scikit-learn's our weights, both warm-started."""
    ours.fit(X, y)
    theirs.fit(X, y)
    theirs.coefs_ = [W.copy() for W in ours.coefs_]
    theirs.intercepts_ = [b.copy() for b in ours.intercepts_]
    ours.set_params(warm_start=True)
    theirs.set_params(warm_start=True)


@pytest.mark.parametrize("kind", ["regressor", "classifier"])
@pytest.mark.parametrize(
    "options",
    [
        dict(),
        dict(momentum=0.9, nesterovs_momentum=True, alpha=1e-2),
        dict(momentum=0.5, nesterovs_momentum=False, batch_size=5, alpha=1e-2),
        dict(learning_rate="invscaling", power_t=0.5, learning_rate_init=0.1, batch_size=3),
        dict(solver="adam", learning_rate_init=0.01),
        dict(
            solver="adam",
            batch_size=4,
            alpha=1e-2,
            beta_1=0.8,
            beta_2=0.99,
            epsilon=1e-6,
            learning_rate="invscaling",
            momentum=0.9,
        ),
    ],
)
def test_same_updates_as_sklearns_mlp(kind, options):
    """Without shuffling, fastbp's estimator makes scikit-learn's updates:
    momentum, Nesterov, the L2 penalty's scaling by the batch size,
    mini-batch means, the per-epoch invscaling rate, and Adam's
    bias-corrected steps (which ignore momentum and the schedules)."""
    X, y = _blobs()
    common = dict(
        hidden_layer_sizes=(6, 4),
        activation="tanh",
        solver="sgd",
        shuffle=False,
        max_iter=4,
        tol=0.0,
        n_iter_no_change=100,
        random_state=0,
        learning_rate_init=0.05,
        batch_size=1,
        momentum=0.0,
    )
    common.update(options)
    if kind == "regressor":
        y = np.column_stack([X[:, 0] - X[:, 1], np.sin(X[:, 2])])
        ours, theirs = MLPRegressor(**common), neural_network.MLPRegressor(**common)
    else:
        ours, theirs = MLPClassifier(**common), neural_network.MLPClassifier(**common)
    _same_start(ours, theirs, X, y)
    ours.fit(X, y)
    theirs.fit(X, y)
    for mine, sklearns in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        assert_allclose(mine, sklearns, rtol=1e-10, atol=1e-10)
    assert ours.t_ == 8 * X.shape[0]
    assert ours.n_iter_ == theirs.n_iter_ == 4


def test_loss_curve_is_sklearns_loss():
    """One epoch at a tiny learning rate: the loss measured during the epoch is
    the loss of the starting weights, which scikit-learn's loss_curve_ reports
    too (half the mean squared error per output, plus the L2 penalty)."""
    X, _ = _blobs()
    y = np.column_stack([X[:, 0], X[:, 1] * 2])
    common = dict(
        hidden_layer_sizes=(5,),
        activation="tanh",
        max_iter=1,
        alpha=0.3,
        learning_rate_init=1e-12,
        shuffle=False,
        random_state=1,
        solver="sgd",
        batch_size=1,
        momentum=0.0,
    )
    ours, theirs = MLPRegressor(**common), neural_network.MLPRegressor(**common)
    _same_start(ours, theirs, X, y)
    ours.fit(X, y)
    theirs.fit(X, y)
    assert_allclose(ours.loss_curve_[-1], theirs.loss_curve_[-1], rtol=1e-9)


# ---------------------------------------------------------------- to_sklearn


@pytest.mark.parametrize("target", ["binary", "multiclass", "multilabel", "regression"])
def test_to_sklearn_predicts_the_same(target):
    X, y = _blobs(n_classes=2 if target == "binary" else 3)
    if target == "multilabel":
        X, y = make_multilabel_classification(n_samples=60, n_features=5, random_state=0)
    model = (MLPRegressor if target == "regression" else MLPClassifier)(
        hidden_layer_sizes=(7,),
        activation="logistic",
        max_iter=30,
        random_state=0,
        learning_rate_init=0.05,
    )
    if target == "regression":
        y = X[:, 0] * 2 - X[:, 1]
    model.fit(X, y)
    exported = model.to_sklearn()
    assert type(exported).__module__.startswith("sklearn.")
    assert_allclose(exported.predict(X), model.predict(X), rtol=1e-12, atol=1e-12)
    if target != "regression":
        assert_array_equal(exported.predict(X), model.predict(X))
        assert_allclose(exported.predict_proba(X), model.predict_proba(X), rtol=1e-12, atol=1e-14)
        assert_array_equal(exported.classes_, model.classes_)
    assert exported.get_params()["hidden_layer_sizes"] == (7,)
    assert exported.n_iter_ == model.n_iter_


@pytest.mark.parametrize(
    "model, message",
    [
        (MLPRegressor(activation="leaky_relu"), "leaky_relu"),
        (MLPRegressor(output_activation="tanh"), "no output 'tanh' for loss='squared_error'"),
        (MLPClassifier(output_activation="softmax"), "no output_activation='softmax'"),
    ],
)
def test_to_sklearn_refuses_what_sklearn_lacks(model, message):
    X, y = _blobs(n_classes=2)
    model.set_params(max_iter=2, hidden_layer_sizes=(3,))
    model.fit(X, y)
    with pytest.raises(ValueError, match=message):
        model.to_sklearn()


# ---------------------------------------------------------------- the estimators' options


def test_an_unknown_solver_is_refused():
    with pytest.raises(ValueError, match="solver must be one of"):
        MLPClassifier(solver="newton").fit(*_blobs())


@pytest.mark.parametrize(
    "name, value",
    [
        ("hidden_layer_sizes", (3, 0)),
        ("activation", "softplus"),
        ("learning_rate", "cyclic"),
        ("max_iter", 0),
        ("batch_size", 0),
        ("alpha", -1.0),
        ("validation_fraction", 1.0),
        ("n_iter_no_change", 1.5),
    ],
)
def test_bad_parameters_are_named(name, value):
    with pytest.raises(ValueError, match=name):
        MLPClassifier(**{name: value}).fit(*_blobs())


def test_class_weight_multiplies_the_sample_weights():
    X, y = _blobs(n_classes=2)
    options = dict(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
    by_class = MLPClassifier(class_weight={0: 3.0, 1: 0.5}, **options)
    by_sample = MLPClassifier(**options)
    balanced = MLPClassifier(class_weight="balanced", **options)
    by_hand = MLPClassifier(**options)
    by_class.fit(X, y, sample_weight=np.full(len(y), 2.0))
    by_sample.fit(X, y, sample_weight=np.where(y == 0, 6.0, 1.0))
    balanced.fit(X, y)
    by_hand.fit(X, y, sample_weight=compute_sample_weight("balanced", y))
    assert_array_equal(by_class.network_.flat, by_sample.network_.flat)
    assert_array_equal(balanced.network_.flat, by_hand.network_.flat)


def test_output_activations():
    X, y = _blobs(n_classes=3)
    options = dict(hidden_layer_sizes=(5,), max_iter=20, random_state=0, learning_rate_init=0.05)
    one_vs_rest = MLPClassifier(output_activation="logistic", **options).fit(X, y)
    two_softmax = MLPClassifier(output_activation="softmax", **options).fit(X, y == 1)
    bounded = MLPRegressor(output_activation="tanh", **options).fit(X, np.tanh(X[:, 0]))
    assert one_vs_rest.out_activation_ == "logistic" and one_vs_rest.n_outputs_ == 3
    assert_allclose(one_vs_rest.predict_proba(X).sum(axis=1), 1.0)
    assert two_softmax.n_outputs_ == 2 and two_softmax.out_activation_ == "softmax"
    assert two_softmax.score(X, y == 1) > 0.8 and one_vs_rest.score(X, y) > 0.8
    assert np.abs(bounded.predict(X)).max() < 1
    with pytest.raises(ValueError, match="softmax"):
        MLPClassifier(output_activation="softmax").fit(
            *make_multilabel_classification(n_samples=20, random_state=0)
        )
    with pytest.raises(ValueError, match="output_activation"):
        MLPClassifier(output_activation="tanh").fit(X, y)


def test_partial_fit_needs_classes_first():
    X, y = _blobs()
    model = MLPClassifier(hidden_layer_sizes=(4,), random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        model.partial_fit(X, y)
    model.partial_fit(X[:30], y[:30], classes=[0, 1, 2])
    model.partial_fit(X[30:], y[30:])
    assert model.n_iter_ == 1 and model.t_ == len(y)
    with pytest.raises(ValueError, match="not in classes_"):
        model.partial_fit(X, y + 5)
    with pytest.raises(ValueError, match="not the same"):
        model.partial_fit(X, y, classes=[0, 1])
    multilabel = MLPClassifier(hidden_layer_sizes=(4,), random_state=0)
    Xm, Ym = make_multilabel_classification(n_samples=20, random_state=0)
    assert multilabel.partial_fit(Xm, Ym).predict(Xm).shape == Ym.shape


def test_partial_fit_continues_as_fit():
    """max_iter epochs of fit and as many partial_fit calls make the same
    updates (without early stopping or tol stopping)."""
    X, y = _blobs()
    options = dict(
        hidden_layer_sizes=(5,),
        random_state=0,
        momentum=0.9,
        max_iter=3,
        tol=0.0,
        n_iter_no_change=50,
    )
    fitted = MLPClassifier(**options).fit(X, y)
    stepped = MLPClassifier(**options)
    for _ in range(3):
        stepped.partial_fit(X, y, classes=np.unique(y))
    assert_array_equal(fitted.network_.flat, stepped.network_.flat)
    assert_allclose(fitted.loss_curve_, stepped.loss_curve_)


def test_early_stopping_keeps_the_best_epoch():
    X, y = _blobs(n=200)
    model = MLPClassifier(
        hidden_layer_sizes=(8,),
        early_stopping=True,
        random_state=0,
        n_iter_no_change=3,
        learning_rate_init=0.05,
        max_iter=100,
    )
    model.fit(X, y)
    assert model.best_loss_ is None
    assert model.best_validation_score_ == max(model.validation_scores_)
    assert len(model.validation_scores_) == model.n_iter_ < 100
    with pytest.raises(ValueError, match="early_stopping"):
        model.partial_fit(X, y)
    # a warm start without early stopping goes on from these weights
    model.set_params(early_stopping=False, warm_start=True, max_iter=2)
    model.fit(X, y)
    assert model.best_loss_ == min(model.loss_curve_[-2:])


def test_training_loss_stopping_and_adaptive_rate(capsys):
    X, y = _blobs()
    # tol so large that no epoch counts as an improvement
    stopped = MLPClassifier(
        hidden_layer_sizes=(4,),
        tol=10.0,
        n_iter_no_change=2,
        random_state=0,
        verbose=True,
        solver="sgd",
    ).fit(X, y)
    assert stopped.n_iter_ == 4  # epoch 1 improves on inf; 2, 3, 4 do not
    assert "Training loss did not improve" in capsys.readouterr().out
    adaptive = MLPClassifier(
        hidden_layer_sizes=(4,),
        tol=10.0,
        n_iter_no_change=2,
        random_state=0,
        learning_rate="adaptive",
        verbose=True,
        solver="sgd",
    ).fit(X, y)
    out = capsys.readouterr().out
    assert "Iteration 1, loss = " in out and "Setting learning rate to 0.000200" in out
    # lr / 5 after epochs 4, 7, 10, 13, 16; 1e-3 / 5**5 <= 1e-6 stops after 19
    assert adaptive.n_iter_ == 19
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X, y)


def test_dtype_threads_and_average():
    X, y = _blobs(n=200)
    options = dict(
        hidden_layer_sizes=(8,), random_state=0, max_iter=30, learning_rate_init=0.02, solver="sgd"
    )
    single = MLPClassifier(dtype="float32", **options).fit(X, y)
    threads = MLPClassifier(n_threads=2, **options).fit(X, y)
    averaged = MLPClassifier(average=True, **options).fit(X, y)
    assert single.network_.dtype == np.float32 and single.coefs_[0].dtype == np.float32
    for model in (single, threads, averaged):
        assert model.score(X, y) > 0.85


def test_coefs_are_views_of_the_network_also_after_pickling():
    X, y = _blobs()
    model = MLPRegressor(hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    model.fit(X, X[:, 0])
    before = model.predict(X)
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    for copy in (model, pickle.loads(pickle.dumps(model))):
        assert_array_equal(copy.predict(X), before)
        copy.intercepts_[-1] += 1.0  # the output bias: every prediction + 1
        assert_allclose(copy.predict(X), before + 1.0)
        assert np.shares_memory(copy.coefs_[0], copy.network_.flat)
    joblib.dump(model, buffer)
    buffer.seek(0)
    assert_array_equal(joblib.load(buffer).predict(X), before)


def test_feature_names_from_a_dataframe():
    pandas = pytest.importorskip("pandas")
    X, y = _blobs()
    frame = pandas.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    model = MLPClassifier(hidden_layer_sizes=(3,), max_iter=2, random_state=0)
    model.fit(frame, y)
    assert list(model.feature_names_in_) == list(frame.columns)
    assert list(model.to_sklearn().feature_names_in_) == list(frame.columns)


# ---------------------------------------------------------------- in scikit-learn's tools


def test_pipeline_grid_search_and_cross_validation():
    X, y = load_iris(return_X_y=True)
    pipeline = make_pipeline(
        StandardScaler(), MLPClassifier(hidden_layer_sizes=(8,), random_state=0, max_iter=50)
    )
    search = GridSearchCV(
        pipeline, {"mlpclassifier__learning_rate_init": [0.003, 0.03]}, cv=3, n_jobs=2
    )
    search.fit(X, y)
    scores = cross_val_score(clone(pipeline), X, y, cv=3)
    assert search.best_score_ > 0.85
    assert search.best_estimator_[-1].network_.layers == (4, 8, 3)
    assert scores.mean() > 0.85


def test_one_class_with_early_stopping_predicts_that_class():
    """A single class in y, held out for early stopping or not: every seed
    fits, and predicts the one class (as scikit-learn's MLP does)."""
    X = np.random.default_rng(0).normal(size=(40, 3))
    y = np.full(40, "only")
    for seed in range(20):
        model = MLPClassifier(
            hidden_layer_sizes=(4,), max_iter=3, early_stopping=True, random_state=seed
        ).fit(X, y)
        assert (model.predict(X) == "only").all()


def test_validation_scores_are_none_without_early_stopping_and_patience_may_be_inf():
    X, y = _blobs()
    model = MLPClassifier(
        hidden_layer_sizes=(4,), max_iter=3, n_iter_no_change=np.inf, random_state=0
    )
    with pytest.warns(ConvergenceWarning):
        model.fit(X, y)
    assert model.validation_scores_ is None and model.best_validation_score_ is None
    assert model.n_iter_ == 3
    with pytest.raises(ValueError, match="n_iter_no_change"):
        MLPClassifier(n_iter_no_change=2.5).fit(X, y)


def test_a_divergence_is_a_value_error_too():
    assert issubclass(fastbp.DivergenceError, ValueError)
    assert issubclass(fastbp.DivergenceError, FloatingPointError)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_warm_start_with_other_classes_is_refused():
    X, y = _blobs()
    model = MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, warm_start=True, random_state=0).fit(
        X, y
    )
    fewer = y != y[0]
    with pytest.raises(ValueError, match="warm_start can only be used where `y` has the same"):
        model.fit(X[fewer], y[fewer])
    model.fit(X, y)  # the same classes still train on


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("Model", [MLPClassifier, MLPRegressor])
def test_float32_inputs_keep_float32(Model):
    """As scikit-learn's: float32 X trains float32 weights and predicts float32;
    other inputs float64."""
    X, y = _blobs()
    for dtype in (np.float32, np.float64, np.int64):
        model = Model(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X.astype(dtype), y)
        expected = np.float32 if dtype == np.float32 else np.float64
        assert model.coefs_[0].dtype == expected and model.network_.dtype == expected
        out = model.predict_proba(X) if Model is MLPClassifier else model.predict(X)
        assert out.dtype == expected


@pytest.mark.parametrize("vectorizer", ["tfidf", "count", "hashing"])
def test_text_pipelines_train(vectorizer):
    # TfidfVectorizer's rows have unsorted column indices; fastbp sorts them
    # in a copy, as scikit-learn's MLP does
    from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer, TfidfVectorizer

    rng = np.random.default_rng(0)
    words = [["goal", "match", "team", "score", "league"], ["vote", "law", "party", "senate"]]
    y = rng.integers(2, size=120)
    docs = [" ".join(rng.choice(words[label], size=6)) + " the a of" for label in y]
    first = {
        "tfidf": TfidfVectorizer(),
        "count": CountVectorizer(),
        "hashing": HashingVectorizer(n_features=2**12),
    }[vectorizer]
    if vectorizer == "tfidf":
        X = first.fit_transform(docs)
        assert not X.has_sorted_indices or not all(
            (np.diff(X.indices[a:b]) > 0).all() for a, b in zip(X.indptr[:-1], X.indptr[1:])
        )
    model = make_pipeline(
        first, MLPClassifier(hidden_layer_sizes=(8,), max_iter=30, random_state=0)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(docs, y)
    assert model.score(docs, y) > 0.95
