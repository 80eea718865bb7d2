"""fastbp.river: river's own estimator checks (every check of
river.checks.yield_checks, river 0.26.1, every parameter set of
_unit_test_params, none skipped), emerging features and new classes as
the docs say, bad input refused with the model unchanged, and the
progressive-validation accuracy that docs/online.md reports."""

import pickle

import numpy as np
import pytest

river = pytest.importorskip("river", reason="fastbp[river]'s tests need river")
from conftest import relative_error  # noqa: E402
from river import checks, datasets, evaluate, linear_model, metrics, multiclass  # noqa: E402

import fastbp  # noqa: E402
from fastbp.river import MLPClassifier, MLPRegressor  # noqa: E402


def _river_checks():
    for cls in (MLPClassifier, MLPRegressor):
        for k, params in enumerate(cls._unit_test_params()):
            model = cls(**params)
            for check in checks.yield_checks(model):
                dataset = getattr(check, "keywords", {}).get("dataset")
                name = check.__name__ + ("" if dataset is None else f"-{id(dataset) % 997}")
                yield pytest.param(model, check, id=f"{cls.__name__}-{k}-{name}")


@pytest.mark.parametrize("model, check", list(_river_checks()))
def test_rivers_own_checks(model, check):
    assert check.__name__ not in model._unit_test_skips()
    check(model.clone())


def test_no_check_is_skipped():
    for cls in (MLPClassifier, MLPRegressor):
        assert cls()._unit_test_skips() == set()


# ---------------------------------------------------------------- features

STREAM = [
    ({"a": 0.5, "b": -1.0}, True),
    ({"a": -0.3, "b": 0.2}, False),
    ({"a": 1.2, "b": 0.1}, True),
    ({"a": -0.7, "b": -0.4}, False),
] * 5


def test_the_order_of_a_dicts_keys_never_matters():
    ordered, reversed_keys = MLPClassifier(), MLPClassifier()
    for x, y in STREAM:
        ordered.learn_one(x, y)
        reversed_keys.learn_one(dict(reversed(list(x.items()))), y)
    assert np.array_equal(ordered.network.flat, reversed_keys.network.flat)
    assert ordered.features == reversed_keys.features == ["a", "b"]


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "adagrad"])
def test_an_emerging_feature_is_exact(optimizer):
    """A feature first seen (at 0) after training began: a new row of W^(1)
    at 0, and every other weight as though it had never come; learnt
    from then on."""
    options = {"optimizer": optimizer, "lr": 0.01, "momentum": 0.9 if optimizer == "sgd" else 0.0}
    with_c, without_c = MLPClassifier(**options), MLPClassifier(**options)
    for x, y in STREAM:
        with_c.learn_one({**x, "c": 0.0} if with_c.network is not None else x, y)
        without_c.learn_one(x, y)
    W1 = with_c.network.weights[0]
    assert with_c.features == ["a", "b", "c"]
    assert not W1[3].any()  # c's row: 0, nothing learnt at 0
    # the same network: to rounding (the kernels add a layer's terms in an
    # order that depends on its width)
    assert relative_error(W1[:3], without_c.network.weights[0]) < 1e-13
    assert all(
        relative_error(a, b) < 1e-13
        for a, b in zip(with_c.network.weights[1:], without_c.network.weights[1:])
    )
    with_c.learn_one({"a": 0.1, "b": 0.2, "c": 1.0}, True)
    assert with_c.network.weights[0][3].any()  # and learnt once it is not 0


def test_a_missing_feature_reads_as_0_and_an_unknown_one_is_ignored():
    model = MLPRegressor()
    for x, y in STREAM:
        model.learn_one(x, float(y))
    assert model.predict_one({"a": 0.5}) == model.predict_one({"a": 0.5, "b": 0.0})
    assert model.predict_one({"a": 0.5, "z": 9.0}) == model.predict_one({"a": 0.5})
    assert model.features == ["a", "b"]  # predicting added nothing


# ---------------------------------------------------------------- classes


def test_a_new_class_takes_its_share_and_keeps_the_others_odds():
    """With a rate too small to move any weight, what a new class's output
    unit does alone: one class has probability 1; a new one gets
    p = 1 / (1 + sum_k e^(s_k)), and the odds between the others stay."""
    model = MLPClassifier(optimizer="sgd", lr=1e-300)
    query = {"a": 0.3, "b": -0.2}
    labels = [("yes" if y else "no") for _, y in STREAM]
    model.learn_one(STREAM[0][0], labels[0])
    assert model.predict_proba_one(query) == {"yes": 1.0}
    for (x, _), label in zip(STREAM[1:], labels[1:]):
        model.learn_one(x, label)
    before = model.predict_proba_one(query)
    signals = model.network.backprop(np.array([0.3, -0.2]), [1.0, 0.0]).signals[-1]
    model.learn_one({"a": 1.0, "b": 1.0}, "maybe")
    after = model.predict_proba_one(query)
    assert list(after) == ["yes", "no", "maybe"] == model.classes
    assert after["maybe"] == pytest.approx(1 / (1 + np.exp(signals).sum()), rel=1e-12)
    assert after["yes"] / after["no"] == pytest.approx(before["yes"] / before["no"], rel=1e-12)
    assert sum(after.values()) == pytest.approx(1.0, rel=1e-12)


def test_new_classes_in_a_batch_learn_as_one_at_a_time():
    """learn_many gives a class its unit where it first comes, as
    learn_one does: the same network, bit for bit."""
    import pandas as pd

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(60, 3)), columns=["u", "v", "w"])
    y = pd.Series(
        ["a"] * 10 + list(rng.choice(["a", "b"], 20)) + list(rng.choice(["a", "b", "c"], 30))
    )
    one, many = MLPClassifier(), MLPClassifier()
    for (_, row), label in zip(X.iterrows(), y):
        one.learn_one(row.to_dict(), label)
    many.learn_many(X[:25], y[:25])
    many.learn_many(X[25:], y[25:])
    assert one.classes == many.classes == ["a", "b", "c"]
    assert np.array_equal(one.network.flat, many.network.flat)


# ---------------------------------------------------------------- bad input

BAD = [
    ({"a": "high", "b": 1.0}, True, TypeError, r"x\['a'\]"),
    ({"a": None, "b": 1.0}, True, TypeError, r"x\['a'\]"),
    ({"a": float("nan"), "b": 1.0}, True, ValueError, r"x\['a'\]"),
    ({"a": float("inf"), "c": 1.0}, True, ValueError, r"x\['a'\]"),
    ({"a": 1.0, "b": 1j}, True, TypeError, r"x\['b'\]"),
    ([1.0, 2.0], True, TypeError, "x must be a dict"),
    ({"a": 1.0, "b": 1.0}, ["a", "list"], TypeError, "y"),
    ({"a": 1.0, "b": 1.0}, None, ValueError, "y"),
    ({"a": 1.0, "b": 1.0}, "spam", TypeError, "y"),  # labels so far are bools
    ({"a": 1.0, "c": 1.0}, float("nan"), ValueError, "y"),
]


@pytest.mark.parametrize("x, y, error, match", BAD)
def test_bad_input_to_learn_one_is_named_and_changes_nothing(x, y, error, match):
    model = MLPClassifier()
    for good, label in STREAM[:4]:
        model.learn_one(good, label)
    kept = pickle.dumps(model)
    with pytest.raises(error, match=match):
        model.learn_one(x, y)
    assert pickle.dumps(model) == kept


@pytest.mark.parametrize("y", ["1.5", None, float("nan"), [1.0]])
def test_bad_targets_of_the_regressor_are_named_and_change_nothing(y):
    model = MLPRegressor()
    model.learn_one({"a": 1.0}, 0.5)
    kept = pickle.dumps(model)
    with pytest.raises((TypeError, ValueError), match="y"):
        model.learn_one({"a": 1.0, "new": 2.0}, y)
    assert pickle.dumps(model) == kept


def test_bad_input_to_learn_many_is_named_and_changes_nothing():
    import pandas as pd

    model = MLPClassifier()
    model.learn_many(pd.DataFrame({"a": [0.1, 0.2], "b": [1.0, 0.0]}), pd.Series([True, False]))
    kept = pickle.dumps(model)
    for X, y, match in (
        (pd.DataFrame({"a": [np.nan], "z": [1.0]}), pd.Series([True]), "'a'"),
        (pd.DataFrame({"a": ["x"], "z": [1.0]}), pd.Series([True]), "'a'"),
        (pd.DataFrame({"a": [1.0], "z": [1.0]}), pd.Series(["s"]), "y"),
        ({"a": [1.0]}, pd.Series([True]), "DataFrame"),
    ):
        with pytest.raises((TypeError, ValueError), match=match):
            model.learn_many(X, y)
        assert pickle.dumps(model) == kept


@pytest.mark.parametrize(
    "params, name",
    [
        ({"lr": -1.0}, "lr"),
        ({"momentum": 2.0}, "momentum"),
        ({"optimizer": "rms"}, "optimizer"),
        ({"hidden_layer_sizes": 16}, "hidden_layer_sizes"),
        ({"hidden_layer_sizes": ()}, "hidden_layer_sizes"),
        ({"activation": "softmax"}, "hidden"),
        ({"lr_schedule": "adaptive"}, "lr_schedule"),
    ],
)
def test_bad_parameters_are_refused_when_made(params, name):
    with pytest.raises((TypeError, ValueError), match=name):
        MLPClassifier(**params)


# ---------------------------------------------------------------- state


def test_a_pickled_learner_learns_on_as_the_original():
    model = MLPClassifier(optimizer="sgd", momentum=0.9, lr=0.01)
    for x, y in STREAM[:10]:
        model.learn_one(x, y)
    copy_of = pickle.loads(pickle.dumps(model))
    for learner in (model, copy_of):
        for x, y in STREAM[10:]:
            learner.learn_one(x, y)
    assert np.array_equal(model.network.flat, copy_of.network.flat)


def test_memory_stays_bounded_over_a_long_stream():
    rng = np.random.default_rng(1)
    model = MLPClassifier()
    sizes = []
    for k in range(6000):
        x = dict(zip("abcd", rng.normal(size=4).tolist()))
        model.learn_one(x, bool(x["a"] > 0))
        if k in (1000, 5999):
            sizes.append(model._raw_memory_usage)
    assert sizes[1] <= sizes[0] + 1024


def test_the_network_is_a_fastbp_network_on_the_default_backend():
    model = MLPClassifier()
    model.learn_one({"a": 1.0}, True)
    assert isinstance(model.network, fastbp.Network)
    assert model.network.backend == fastbp.BACKEND


# ---------------------------------------------------------------- accuracy


def _standardised(dataset):
    rows = list(dataset)
    names = sorted({name for x, _ in rows for name in x})
    values = np.array([[float(x.get(name, 0.0)) for name in names] for x, _ in rows])
    scale = values.std(axis=0)
    values = (values - values.mean(axis=0)) / np.where(scale == 0, 1.0, scale)
    return [(dict(zip(names, row.tolist())), y) for row, (_, y) in zip(values, rows)]


@pytest.mark.parametrize(
    "name, margin", [("Phishing", 0.0), ("Bananas", 0.1), ("ImageSegments", 0.0), ("Shuttle", 0.0)]
)
def test_defaults_are_as_accurate_as_logistic_regression(name, margin):
    """Progressive validation on river's datasets, standardised beforehand:
    at its defaults the MLP is at least as accurate as river's
    LogisticRegression (one-vs-rest for many classes), and clearly more
    where the classes are not linearly separable (Bananas)."""
    stream = _standardised(getattr(datasets, name)())
    linear = linear_model.LogisticRegression()
    if len({y for _, y in stream}) > 2:
        linear = multiclass.OneVsRestClassifier(linear)
    ours = evaluate.progressive_val_score(stream, MLPClassifier(), metrics.Accuracy()).get()
    theirs = evaluate.progressive_val_score(stream, linear, metrics.Accuracy()).get()
    assert ours >= theirs + margin


# ---------------------------------------------------------------- the fast path


def test_examples_the_fast_path_takes_learn_as_those_it_leaves():
    """Floats and ints (bools, numpy's float64) of known features go through
    the backend's Dicts; other numbers (numpy's float32 and int64) through
    the checked path: the same updates and predictions, bit for bit."""
    fast, checked = MLPClassifier(), MLPClassifier()
    for x, y in STREAM * 3:
        other = {"a": np.float32(x["a"]), "b": x["b"], "flag": np.int64(1)}
        fast.learn_one({"a": float(np.float32(x["a"])), "b": np.float64(x["b"]), "flag": True}, y)
        checked.learn_one(other, y)
        query = {"a": float(np.float32(x["a"])), "b": x["b"]}
        slow_query = {"a": np.float32(x["a"]), "b": x["b"]}
        assert fast.predict_proba_one(query) == checked.predict_proba_one(slow_query)
        assert fast.predict_one(query) == checked.predict_one(slow_query)
    assert np.array_equal(fast.network.flat, checked.network.flat)


def test_a_batch_of_labels_of_two_kinds_is_refused_and_changes_nothing():
    import pandas as pd

    model = MLPClassifier()
    kept = pickle.dumps(model)
    with pytest.raises(TypeError, match="y: the labels must be of one kind"):
        model.learn_many(pd.DataFrame({"a": [0.1, 0.2]}), pd.Series([True, "spam"], dtype=object))
    assert pickle.dumps(model) == kept


def test_a_learner_whose_network_trains_elsewhere_is_refused():
    """The fast path takes the network's training lock as sgd_step does:
    learn_one from a callback of the network's own fit is a RuntimeError."""
    model = MLPRegressor()
    for x, y in STREAM:
        model.learn_one(x, float(y))

    def learn_meanwhile(network, epoch, logs):
        model.learn_one(STREAM[0][0], 1.0)

    X, Y = np.array([[0.1, 0.2]]), np.array([0.5])
    with pytest.raises(RuntimeError, match="already training"):
        model.network.fit(X, Y, epochs=1, callbacks=[learn_meanwhile])
    model.learn_one(STREAM[0][0], 1.0)  # and it learns again after


@pytest.mark.compiled
def test_learners_equal_on_both_backends():
    """The same stream on the compiled core and on the reference backend
    (each a fresh process): the same weights to 1e-12."""
    from conftest import run_python

    script = (
        "import json; from fastbp.river import MLPClassifier;"
        "m = MLPClassifier(optimizer='sgd', lr=0.05, momentum=0.5);"
        "[m.learn_one({'a': (k % 7) / 7 - 0.4, 'b': (k % 5) / 5, **({'c': 0.3} if k > 40"
        " else {})}, ['p', 'q', 'r'][k % 3 if k > 20 else k % 2]) for k in range(300)];"
        "print(json.dumps(m.network.flat.tolist()))"
    )
    import json

    flats = []
    for backend in ("compiled", "reference"):
        done = run_python("-c", script, FASTBP_BACKEND=backend)
        assert done.returncode == 0, done.stderr
        flats.append(np.array(json.loads(done.stdout)))
    assert relative_error(flats[0], flats[1]) < 1e-12
