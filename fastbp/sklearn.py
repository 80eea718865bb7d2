"""scikit-learn estimators trained by fastbp: ``MLPClassifier`` and ``MLPRegressor``.

Drop-in for scikit-learn's classes of the same names: the same parameters,
solvers ("adam", "sgd", "lbfgs") and fitted attributes, every epoch (or
every L-BFGS evaluation of the loss and its gradient) in fastbp's compiled
core. The defaults are scikit-learn's but for ``batch_size=1`` (per example)
and ``momentum=0``; the initial weights are scikit-learn's for the same
``random_state``. The trained
``fastbp.Network`` is ``network_``; ``coefs_`` and ``intercepts_`` are
writable views of its weights (row 0 of ``network_.weights[l-1]`` is
``intercepts_[l-1]``, the rest ``coefs_[l-1]``).

Needs scikit-learn >= 1.6 (``pip install "fastbp[sklearn]"``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

try:
    from sklearn.base import ClassifierMixin, RegressorMixin
except ImportError as error:  # pragma: no cover - the extra is missing
    raise ImportError(
        'fastbp.sklearn needs scikit-learn >= 1.6: pip install "fastbp[sklearn]"'
    ) from error
from sklearn.metrics import accuracy_score, r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import _check_sample_weight, column_or_1d

from ._estimator import ACTIVATIONS, _BaseMLP, _fastbp_name, _stochastic

__all__ = ["MLPClassifier", "MLPRegressor"]


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor trained by fastbp, per example.

    Drop-in for ``sklearn.neural_network.MLPRegressor``: the same parameters
    and fitted attributes where the meaning is the same. It minimises the
    squared error (or half the Poisson deviance) with an L2 penalty
    ``alpha`` on the non-bias weights.

    Parameters
    ----------
    loss : {"squared_error", "poisson"}, default "squared_error"
        "poisson" gives the network an exponential output (targets >= 0).
    hidden_layer_sizes : tuple of int, default (100,)
        d[1..L-1], the sizes of the hidden layers.
    activation : {"identity", "logistic", "tanh", "relu", "leaky_relu"}, default "relu"
        Activation of the hidden layers.
    solver : {"adam", "sgd", "lbfgs"}, default "adam"
        Adam (scikit-learn's, with ``beta_1``, ``beta_2``, ``epsilon``; no
        momentum and no learning-rate schedule) or SGD, both per example
        (``batch_size=1``) or per mini-batch; or L-BFGS on the whole set
        (scipy's L-BFGS-B, at most ``max_iter`` iterations and ``max_fun``
        evaluations, to the gradient tolerance ``tol``; no ``partial_fit``).
    alpha : float >= 0, default 0.0001
        L2 penalty as scikit-learn scales it: each update adds ``alpha /
        batch_size * W`` to its batch's mean gradient (not on the biases;
        scikit-learn divides by the size of an epoch's shorter last batch).
    batch_size : int >= 1 or "auto", default 1
        Examples per update; 1 is per example, "auto" min(200, n)
        (scikit-learn's default). Ignored by "lbfgs".
    learning_rate : {"constant", "invscaling", "adaptive", "optimal"}, default "constant"
        For "sgd". "invscaling": after each epoch, ``learning_rate_init /
        (t_ + 1) ** power_t``. "adaptive": divided by 5 whenever
        n_iter_no_change epochs failed to improve by tol, stopping at 1e-6.
        "optimal" (fastbp's, per update): ``learning_rate_init / (1 + lr *
        alpha / batch_size * (t - 1))``, which needs alpha > 0.
    learning_rate_init : float > 0, default 0.001
    power_t : float >= 0, default 0.5
    max_iter : int >= 1, default 200
        Epochs at most.
    shuffle : bool, default True
        Visit the examples in a fresh random order every epoch.
    random_state : int, RandomState or None, default None
        Seeds the initial weights, the shuffling and the early-stopping split.
    tol : float >= 0, default 1e-4
    verbose : bool, default False
        Print the loss of every epoch.
    warm_start : bool, default False
        ``fit`` continues from the fitted weights (with a fresh optimizer).
    momentum : float in [0, 1), default 0
        For "sgd". Per example, scikit-learn's default 0.9 diverges on
        unscaled targets (so does scikit-learn's own MLP with batch_size=1).
    nesterovs_momentum : bool, default True
        Nesterov's momentum where momentum > 0.
    early_stopping : bool, default False
        Hold out ``validation_fraction`` of the data, stop when its score
        (R^2) has not improved by tol for n_iter_no_change epochs, and keep
        the weights of the best epoch.
    validation_fraction : float in (0, 1), default 0.1
    beta_1, beta_2 : float in [0, 1), default 0.9, 0.999
    epsilon : float > 0, default 1e-8
        Adam's decay rates of its moments, and its guard against division by 0.
    n_iter_no_change : int >= 1 or np.inf, default 10
    max_fun : int >= 1, default 15000
        For "lbfgs": evaluations of the loss at most.
    output_activation : str or None, default None
        fastbp's: the output activation; None is "identity" (as
        scikit-learn), or one of the hidden activations.
    average : bool or int, default False
        fastbp's averaged SGD (see ``fastbp.Network.fit``).
    n_threads : int, default 1
        fastbp's threads per fit (see ``fastbp.Network.fit``; "sgd" only), or
        for "lbfgs" per evaluation of the gradient; -1: one per CPU this
        process may run on (docs/scale.md).
    dtype : {None, "float64", "float32"}, default None
        Floating type of the weights and of all computation; None: float32
        for float32 X, else float64 (as scikit-learn).

    Attributes
    ----------
    network_ : fastbp.Network
    coefs_, intercepts_ : list of ndarray
        Views of ``network_.weights``: W^(l)[1:] and W^(l)[0].
    loss_, loss_curve_, best_loss_, validation_scores_, best_validation_score_
        As scikit-learn's: the loss is half the mean squared error per
        output (or half the Poisson deviance), measured during each epoch,
        plus the L2 penalty. "lbfgs" keeps no loss_curve_ nor best_loss_.
    n_iter_, t_, n_layers_, n_outputs_, out_activation_, n_features_in_,
    feature_names_in_
    """

    _is_classifier = False

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size=1,
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.0,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        output_activation=None,
        average=False,
        n_threads=1,
        dtype=None,
    ):
        super().__init__(
            hidden_layer_sizes,
            activation,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            max_iter=max_iter,
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            warm_start=warm_start,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            n_iter_no_change=n_iter_no_change,
            max_fun=max_fun,
            output_activation=output_activation,
            average=average,
            n_threads=n_threads,
            dtype=dtype,
        )
        self.loss = loss

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    @available_if(_stochastic)
    def partial_fit(
        self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> MLPRegressor:
        """One epoch over (X, y), continuing the training state; returns self."""
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predicted targets, shape (n,) for one output, else (n, n_outputs_)."""
        out = self._outputs(X)
        return out.ravel() if out.shape[1] == 1 else out

    def _targets(self, y, first, incremental, classes, sample_weight, X):
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        weights = None if sample_weight is None else _check_sample_weight(sample_weight, X)
        return Y, weights

    def _distributed_targets(self, y, sample_weight):
        return (y[:, None] if y.ndim == 1 else y).astype(np.float64), sample_weight

    def _output_and_loss(self):
        if self.loss not in ("squared_error", "poisson"):
            raise ValueError(f"loss must be 'squared_error' or 'poisson', got {self.loss!r}")
        if self.loss == "poisson":
            if self.output_activation not in (None, "exp"):
                raise ValueError(
                    f"loss='poisson' needs output_activation None or 'exp', got "
                    f"{self.output_activation!r}"
                )
            return "exp", "poisson"
        output = "identity" if self.output_activation is None else self.output_activation
        return _fastbp_name(output, "output_activation"), "squared"

    def _loss_scale(self):
        # fastbp's squared error sums 1/2 (x_k - y_k)^2 over the outputs; scikit-learn
        # averages (its Poisson loss sums)
        return 1.0 if self.loss == "poisson" else 1.0 / self.n_outputs_

    def _labels(self, Y):
        return Y

    def _score_on(self, X, y, sample_weight):
        return r2_score(y, self.network_.predict(X), sample_weight=sample_weight)

    def _sklearn_class(self):
        if self.out_activation_ != ("exp" if self.loss == "poisson" else "identity"):
            raise ValueError(
                f"scikit-learn's MLPRegressor has no output "
                f"{self.out_activation_!r} for loss={self.loss!r}"
            )
        from sklearn.neural_network import MLPRegressor as SklearnMLPRegressor

        return SklearnMLPRegressor


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier trained by fastbp, per example.

    Drop-in for ``sklearn.neural_network.MLPClassifier``. It minimises the
    cross-entropy: binary targets get one
    logistic output, multiclass ones a softmax over the classes, multilabel
    ones (an indicator matrix) one logistic output per label.

    Parameters
    ----------
    hidden_layer_sizes, activation, solver, alpha, batch_size, learning_rate,
    learning_rate_init, power_t, max_iter, shuffle, random_state, tol,
    verbose, warm_start, momentum, nesterovs_momentum, early_stopping,
    validation_fraction, beta_1, beta_2, epsilon, n_iter_no_change, max_fun,
    average, n_threads, dtype
        As ``MLPRegressor``'s; early stopping scores by accuracy.
    output_activation : {None, "logistic", "softmax"}, default None
        fastbp's: None as scikit-learn. "softmax" for binary targets gives
        two softmax outputs; "logistic" for multiclass targets one logistic
        output per class (one-vs-rest, probabilities normalised to sum 1).
    class_weight : dict, "balanced" or None, default None
        Weights of the classes, multiplying ``sample_weight`` (see
        ``sklearn.utils.compute_sample_weight``). "balanced" is computed
        from the y of each ``fit`` or ``partial_fit`` call.

    Attributes
    ----------
    classes_ : ndarray
        The class labels (for multilabel targets, 0..n_labels-1).
    network_, coefs_, intercepts_, loss_, loss_curve_, best_loss_,
    validation_scores_, best_validation_score_, n_iter_, t_, n_layers_,
    n_outputs_, out_activation_, n_features_in_, feature_names_in_
        As ``MLPRegressor``'s; the loss is the mean cross-entropy.
    """

    _is_classifier = True

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size=1,
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.0,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        output_activation=None,
        average=False,
        n_threads=1,
        dtype=None,
        class_weight=None,
    ):
        super().__init__(
            hidden_layer_sizes,
            activation,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            max_iter=max_iter,
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            warm_start=warm_start,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            n_iter_no_change=n_iter_no_change,
            max_fun=max_fun,
            output_activation=output_activation,
            average=average,
            n_threads=n_threads,
            dtype=dtype,
        )
        self.class_weight = class_weight

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    @available_if(_stochastic)
    def partial_fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        classes: ArrayLike | None = None,
        sample_weight: ArrayLike | None = None,
    ) -> MLPClassifier:
        """One epoch over (X, y), continuing the training state; returns self.

        ``classes`` (all the labels there will be) is needed on the first
        call, as for scikit-learn's, unless y is a multilabel indicator matrix.
        """
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Probability of each class, shape (n, len(classes_))."""
        return self._proba(self._outputs(X))

    def predict_log_proba(self, X: ArrayLike) -> np.ndarray:
        """Logarithm of ``predict_proba``."""
        return np.log(self.predict_proba(X))

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predicted labels (for multilabel targets, an indicator matrix)."""
        return self._decide(self.predict_proba(X))

    def _proba(self, out):
        """Class probabilities from the network's outputs."""
        if self._label_binarizer.y_type_ == "multilabel-indicator":
            return out
        if out.shape[1] == 1:
            return np.hstack([1 - out, out])
        if self.out_activation_ == "logistic":
            return out / out.sum(axis=1, keepdims=True)
        return out

    def _decide(self, proba):
        """Labels from class probabilities."""
        if self._label_binarizer.y_type_ == "multilabel-indicator":
            return self._label_binarizer.inverse_transform(proba)
        if len(self.classes_) == 1:  # one class is every answer, as scikit-learn's
            return np.repeat(self.classes_, len(proba))
        return self.classes_[np.argmax(proba, axis=1)]

    def _targets(self, y, first, incremental, classes, sample_weight, X):
        """Targets in {0, 1} for the network, and the sample weights with
        the class weights multiplied in."""
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        multilabel = type_of_target(y).startswith("multilabel")
        if first or not hasattr(self, "_label_binarizer"):  # or coefs_ came assigned
            binarizer = LabelBinarizer()
            if incremental and not multilabel:
                if classes is None:
                    raise ValueError("classes must be passed on the first call to partial_fit.")
                binarizer.fit(classes)
            else:
                binarizer.fit(y)
            self._label_binarizer = binarizer
            self.classes_ = binarizer.classes_
        elif (
            incremental
            and classes is not None
            and not np.array_equal(np.unique(classes), self.classes_)
        ):
            raise ValueError(
                f"classes={classes!r} is not the same as on the first call to "
                f"partial_fit: {self.classes_!r}"
            )
        labels = self.classes_ if multilabel else np.unique(y)
        if not (first or incremental) and not np.array_equal(labels, self.classes_):
            raise ValueError(
                f"warm_start can only be used where `y` has the same classes as "
                f"in the previous call to fit. Previously got {self.classes_}, "
                f"`y` has {labels}"
            )
        unseen = np.setdiff1d(labels, self.classes_)
        if len(unseen):
            raise ValueError(f"y has labels {unseen!r} not in classes_ {self.classes_!r}")
        Y = _binarized(y, self._label_binarizer, self._two_softmax_outputs())
        weights = None if sample_weight is None else _check_sample_weight(sample_weight, X)
        if self.class_weight is not None:
            by_class = compute_sample_weight(self.class_weight, y)
            weights = by_class if weights is None else weights * by_class
        return Y, weights

    def _distributed_targets(self, y, sample_weight):
        """Labels found on the cluster (only they travel), and the targets
        and class weights computed block by block there."""
        import dask
        import dask.array as da

        self._label_binarizer = LabelBinarizer()
        if y.ndim == 2:  # a multilabel indicator matrix
            self._label_binarizer.fit(np.eye(max(y.shape[1], 2), dtype=int)[:, : y.shape[1]])
            self.classes_ = self._label_binarizer.classes_
            if self.class_weight is not None:
                raise ValueError("fastbp.dask.fit takes class_weight for one-label targets only")
            return y.astype(np.float64), sample_weight
        labels, counts = dask.compute(*da.unique(y, return_counts=True))
        check_classification_targets(labels)
        self._label_binarizer.fit(labels)
        self.classes_ = self._label_binarizer.classes_
        n_outputs = _binarized(
            labels[:1], self._label_binarizer, self._two_softmax_outputs()
        ).shape[1]
        Y = y.map_blocks(
            _binarized,
            self._label_binarizer,
            self._two_softmax_outputs(),
            dtype=np.float64,
            new_axis=1,
            chunks=(y.chunks[0], (n_outputs,)),
        )
        if self.class_weight is not None:
            by_class = self.class_weight
            if isinstance(by_class, str) and by_class == "balanced":  # from all of y
                by_class = dict(zip(labels, counts.sum() / (len(labels) * counts)))
            weights = y.map_blocks(_class_weighted, by_class, dtype=np.float64)
            sample_weight = weights if sample_weight is None else weights * sample_weight
        return Y, sample_weight

    def _two_softmax_outputs(self):
        return self.output_activation == "softmax" and self._label_binarizer.y_type_ == "binary"

    def _output_and_loss(self):
        kind = self._label_binarizer.y_type_
        default = "softmax" if kind == "multiclass" else "logistic"
        output = default if self.output_activation is None else self.output_activation
        if output not in ("logistic", "softmax"):
            raise ValueError(
                f"output_activation of a classifier must be None, 'logistic' or "
                f"'softmax', got {output!r}"
            )
        if output == "softmax" and kind == "multilabel-indicator":
            raise ValueError(
                "output_activation='softmax' cannot give multilabel targets "
                "(each label needs its own logistic output)"
            )
        return ACTIVATIONS.get(output, output), "cross_entropy"

    def _loss_scale(self):
        return 1.0

    def _labels(self, Y):
        """The labels of targets as the network sees them."""
        if self._two_softmax_outputs():
            Y = Y[:, 1:]
        return self._label_binarizer.inverse_transform(Y)

    def _score_on(self, X, y, sample_weight):
        decided = self._decide(self._proba(self.network_.predict(X)))
        return accuracy_score(y, decided, sample_weight=sample_weight)

    def _sklearn_class(self):
        kind = self._label_binarizer.y_type_
        if self.out_activation_ != ("softmax" if kind == "multiclass" else "logistic"):
            raise ValueError(
                f"scikit-learn's MLPClassifier has no output_activation="
                f"{self.output_activation!r} for {kind} targets"
            )
        from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier

        return SklearnMLPClassifier


def _binarized(labels, binarizer, two_outputs):
    """The network's targets for labels: the binarizer's, or for a binary
    softmax two columns (1 - y, y)."""
    Y = binarizer.transform(labels).astype(np.float64)
    return np.hstack([1 - Y, Y]) if two_outputs else Y


def _class_weighted(labels, by_class):
    """compute_sample_weight for a block of labels (the block comes first)."""
    return compute_sample_weight(by_class, labels)
