"""scikit-learn estimators trained by fastbp: ``MLPClassifier`` and ``MLPRegressor``.

Drop-in for scikit-learn's classes of the same names (``solver`` "adam" or
"sgd"), every epoch in fastbp's compiled core. The defaults are
scikit-learn's but for ``solver="sgd"``, ``batch_size=1`` and
``momentum=0``. The trained
``fastbp.Network`` is ``network_``; ``coefs_`` and ``intercepts_`` are
writable views of its weights (row 0 of ``network_.weights[l-1]`` is
``intercepts_[l-1]``, the rest ``coefs_[l-1]``).

Needs scikit-learn >= 1.6 (``pip install "fastbp[sklearn]"``).
"""

import copy
import warnings

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
except ImportError as error:                       # pragma: no cover - the extra is missing
    raise ImportError('fastbp.sklearn needs scikit-learn >= 1.6: pip install '
                      '"fastbp[sklearn]"') from error
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import (_check_sample_weight, check_is_fitted, column_or_1d,
                                      validate_data)

from .network import DivergenceError, Network

# scikit-learn's activation names, and fastbp's for them.
ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu",
               "leaky_relu": "leaky_relu"}
LEARNING_RATES = ("constant", "invscaling", "adaptive", "optimal")
SOLVERS = ("adam", "sgd")
# The "adaptive" schedule stops training once it would go below this (as scikit-learn).
SMALLEST_ADAPTIVE_LR = 1e-6
# The attributes that are views of network_'s weights: rebuilt, not pickled.
WEIGHT_VIEWS = ("coefs_", "intercepts_")


def _fastbp_name(activation, name):
    if activation not in ACTIVATIONS:
        raise ValueError(f"{name} must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    return ACTIVATIONS[activation]


def _sklearn_name(fastbp_activation):
    return "logistic" if fastbp_activation == "sigmoid" else fastbp_activation


class _BaseMLP(BaseEstimator):
    """What the classifier and the regressor share: parameters, the epoch
    loop with scikit-learn's stopping rules, the fitted attributes."""

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="sgd",
                 alpha=0.0001, batch_size=1, learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.0,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10,
                 output_activation=None, average=False, n_threads=1, dtype=None):
        self.hidden_layer_sizes, self.activation = hidden_layer_sizes, activation
        self.solver, self.alpha, self.batch_size = solver, alpha, batch_size
        self.learning_rate, self.learning_rate_init = learning_rate, learning_rate_init
        self.power_t, self.max_iter, self.shuffle = power_t, max_iter, shuffle
        self.random_state, self.tol = random_state, tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum, self.nesterovs_momentum = momentum, nesterovs_momentum
        self.early_stopping, self.validation_fraction = early_stopping, validation_fraction
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.n_iter_no_change = n_iter_no_change
        self.output_activation = output_activation
        self.average, self.n_threads, self.dtype = average, n_threads, dtype

    # ------------------------------------------------------------ parameters

    def _check_params(self):
        """Check what fastbp's Network does not check itself (it names the rest)."""
        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS} (fastbp trains per example "
                             f"or per mini-batch), got {self.solver!r}")
        sizes = self.hidden_layer_sizes
        sizes = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
        if not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0
                   for s in sizes):
            raise ValueError(f"hidden_layer_sizes must be positive integers, got "
                             f"{self.hidden_layer_sizes!r}")
        _fastbp_name(self.activation, "activation")
        if self.learning_rate not in LEARNING_RATES:
            raise ValueError(f"learning_rate must be one of {LEARNING_RATES}, got "
                             f"{self.learning_rate!r}")
        for name in ("max_iter", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        patience = self.n_iter_no_change                 # an integer, or np.inf: never stop
        if not (patience == np.inf or isinstance(patience, (int, np.integer))
                and not isinstance(patience, bool) and patience >= 1):
            raise ValueError(f"n_iter_no_change must be an integer >= 1 or np.inf, got "
                             f"{patience!r}")
        for name in ("alpha", "tol"):
            if not np.isfinite(getattr(self, name)) or getattr(self, name) < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got "
                                 f"{getattr(self, name)!r}")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in (0, 1), got "
                             f"{self.validation_fraction!r}")
        return sizes

    def _options(self):
        """fastbp's training options for one epoch, but for lr and the seed."""
        sgd = self.solver == "sgd"     # scikit-learn's adam has no momentum and no schedules
        momentum = self.momentum if sgd else 0.0
        return dict(
            momentum=momentum, nesterov=bool(self.nesterovs_momentum and momentum > 0),
            # scikit-learn adds alpha * W to the sum of a batch's gradients before
            # dividing by its size; fastbp adds weight_decay * W to their mean
            weight_decay=self.alpha / self.batch_size,
            lr_schedule="optimal" if sgd and self.learning_rate == "optimal" else "constant",
            power_t=self.power_t, average=self.average, batch_size=self.batch_size,
            n_threads=self.n_threads, optimizer=self.solver, beta_1=self.beta_1,
            beta_2=self.beta_2, epsilon=self.epsilon)

    # ------------------------------------------------------------ fitting

    def fit(self, X, y, sample_weight=None):
        """Train on (X, y); returns self."""
        return self._fit(X, y, sample_weight, incremental=False)

    def _fit(self, X, y, sample_weight, incremental, classes=None):
        sizes = self._check_params()
        first = not hasattr(self, "network_") or not (self.warm_start or incremental)
        X, y = validate_data(self, X, y, reset=first, dtype=(np.float64, np.float32),
                             multi_output=True, y_numeric=not self._is_classifier)
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        Y, weights = self._targets(y, first, incremental, classes, sample_weight, X)
        if first:
            self._start(X.shape[1], sizes, Y.shape[1], X.dtype)
        elif Y.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {Y.shape[1]} outputs, but {type(self).__name__} was "
                             f"fitted with {self.n_outputs_}")
        if not incremental or not hasattr(self, "_lr"):
            self._lr = float(self.learning_rate_init)   # a fresh optimizer, as scikit-learn's
            self._no_improvement_count = 0
            self._fresh = True
        dtype = self.network_.dtype
        X = np.ascontiguousarray(X, dtype=dtype)     # converted once, not every epoch
        Y = np.ascontiguousarray(Y, dtype=dtype)
        self._epochs(X, Y, weights, incremental)
        return self

    def _start(self, n_features, hidden_sizes, n_outputs, input_dtype):
        """A fresh network (of dtype, or else float32 for float32 inputs and
        float64 for others, as scikit-learn's) and fresh fitted attributes."""
        dtype = self.dtype or ("float32" if input_dtype == np.float32 else "float64")
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        output, loss = self._output_and_loss()
        self.network_ = Network([n_features, *hidden_sizes, n_outputs],
                                hidden=_fastbp_name(self.activation, "activation"),
                                output=output, loss=loss, dtype=dtype, seed=seed)
        self._shuffle_seed = int(rng.randint(np.iinfo(np.int32).max))
        self.n_outputs_ = n_outputs
        self.n_layers_ = len(hidden_sizes) + 2
        self.out_activation_ = _sklearn_name(output)
        self.n_iter_ = 0
        self.t_ = 0
        self.loss_curve_ = []
        self.best_loss_ = np.inf
        self._expose_weights()
        self.validation_scores_ = self.best_validation_score_ = None   # as scikit-learn's
        self.__dict__.pop("_lr", None)

    def _expose_weights(self):
        """coefs_ and intercepts_ as views of the network's weights."""
        self.coefs_ = [W[1:] for W in self.network_.weights]
        self.intercepts_ = [W[0] for W in self.network_.weights]

    def _epochs(self, X, Y, sample_weight, incremental):
        """scikit-learn's loop of ``_fit_stochastic``: epochs of fastbp's SGD,
        the adaptive and invscaling learning rates, and stopping when the
        training loss (or with early_stopping the validation score) has not
        improved by tol for n_iter_no_change epochs."""
        early_stopping = self.early_stopping and not incremental
        if early_stopping:
            X, Y, sample_weight, X_val, y_val, weight_val = self._held_out(X, Y, sample_weight)
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
            best = self.network_.flat.copy()
        elif self.best_loss_ is None:      # warm start after a fit with early stopping
            self.best_loss_ = np.inf
        options = self._options()
        scale = self._loss_scale()
        self.n_iter_ = 0
        try:
            for _ in range(1 if incremental else self.max_iter):
                train = self.network_.fit if self._fresh else self.network_.partial_fit
                kwargs = {"epochs": 1} if self._fresh else {}
                try:
                    history = train(X, Y, lr=self._lr, shuffle=self.shuffle,
                                    seed=self._shuffle_seed, sample_weight=sample_weight,
                                    **options, **kwargs)
                except DivergenceError as error:
                    hint = ("" if self._is_classifier else " Scaling y helps too, e.g. with "
                            "sklearn.compose.TransformedTargetRegressor.")
                    raise DivergenceError(
                        f"{type(self).__name__}: {error} Here lr is learning_rate_init (or the "
                        f"schedule's).{hint}") from error
                self._fresh = False
                with np.errstate(over="ignore"):      # inf where the weights grew huge
                    penalty = sum(float(np.vdot(W, W)) for W in self.coefs_)
                self.loss_ = (history.loss[0] * scale
                              + 0.5 * self.alpha * penalty / self.batch_size)
                self.loss_curve_.append(self.loss_)
                self.n_iter_ += 1
                self.t_ += X.shape[0]
                if self.verbose:
                    print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
                if early_stopping:
                    score = self._score_on(X_val, y_val, weight_val)
                    self.validation_scores_.append(score)
                    if self.verbose:
                        print(f"Validation score: {score:f}")
                    self._count(score < self.best_validation_score_ + self.tol)
                    if score > self.best_validation_score_:
                        self.best_validation_score_ = score
                        best = self.network_.flat.copy()
                else:
                    self._count(self.loss_ > self.best_loss_ - self.tol)
                    self.best_loss_ = min(self.best_loss_, self.loss_)
                if self.learning_rate == "invscaling" and self.solver == "sgd":
                    self._lr = self.learning_rate_init / (self.t_ + 1) ** self.power_t
                if self._no_improvement_count > self.n_iter_no_change:
                    if self._stops(early_stopping):
                        break
                    self._no_improvement_count = 0
                if not incremental and self.n_iter_ == self.max_iter:
                    warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                                  "reached and the optimization hasn't converged yet.",
                                  ConvergenceWarning)
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")
        if early_stopping:
            self.network_.flat[:] = best

    def _count(self, not_improved):
        self._no_improvement_count = self._no_improvement_count + 1 if not_improved else 0

    def _stops(self, early_stopping):
        """After n_iter_no_change epochs without improvement: stop, or with
        the adaptive schedule divide the learning rate by 5 and go on."""
        what = "Validation score" if early_stopping else "Training loss"
        message = (f"{what} did not improve more than tol={self.tol:f} for "
                   f"{self.n_iter_no_change} consecutive epochs.")
        if (self.learning_rate != "adaptive" or self.solver != "sgd"
                or self._lr <= SMALLEST_ADAPTIVE_LR):
            if self.verbose:
                print(message + " Stopping.")
            return True
        self._lr /= 5.0
        if self.verbose:
            print(message + f" Setting learning rate to {self._lr:f}")
        return False

    def _held_out(self, X, Y, sample_weight):
        """scikit-learn's split for early stopping (stratified for one-label
        classification): training part, then validation X, y, weights."""
        single_label = (self._is_classifier
                        and self._label_binarizer.y_type_ != "multilabel-indicator")
        stratify = Y if single_label else None
        arrays = [X, Y] + ([] if sample_weight is None else [sample_weight])
        parts = train_test_split(*arrays, random_state=check_random_state(self.random_state),
                                 test_size=self.validation_fraction, stratify=stratify)
        if parts[1].shape[0] < 2:
            raise ValueError("The validation set is too small. Increase 'validation_fraction' "
                             "or the size of your dataset.")
        weight_train, weight_val = (None, None) if sample_weight is None else parts[4:]
        return (parts[0], parts[2], weight_train, parts[1], self._labels(parts[3]), weight_val)

    # ------------------------------------------------------------ fastbp.dask

    def _start_distributed(self, X, y, sample_weight, options):
        """For ``fastbp.dask.fit``: a fresh network for Dask arrays X, y; the
        network's targets and sample weights as Dask arrays; the options of
        the local epochs; the seed of the shuffling."""
        sizes = self._check_params()
        if self.learning_rate != "constant":
            raise ValueError(f"fastbp.dask.fit needs learning_rate='constant' (the local "
                             f"training restarts every round), got {self.learning_rate!r}")
        if self.early_stopping:
            raise ValueError("fastbp.dask.fit does not support early_stopping=True")
        Y, sample_weight = self._distributed_targets(y, sample_weight)
        for name in ("feature_names_in_", "validation_scores_", "best_validation_score_"):
            self.__dict__.pop(name, None)
        self.n_features_in_ = X.shape[1]
        self._start(X.shape[1], sizes, Y.shape[1], X.dtype)
        options = {**self._options(), "lr": self.learning_rate_init, "shuffle": self.shuffle,
                   **options}
        return self.network_, Y, sample_weight, options, self._shuffle_seed

    def _finish_distributed(self, losses, epochs, n_examples):
        self.loss_curve_ = [loss * self._loss_scale() for loss in losses]
        self.loss_ = self.loss_curve_[-1]
        self.best_loss_ = min(self.loss_curve_)
        self.n_iter_ = epochs
        self.t_ = epochs * n_examples

    # ------------------------------------------------------------ predicting

    def _outputs(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        return self.network_.predict(X)

    def to_sklearn(self):
        """The same model, weights copied, as a fitted scikit-learn
        ``MLPClassifier`` or ``MLPRegressor`` (predictions equal up to the
        last bits). A "leaky_relu" activation, or a classifier output other
        than scikit-learn's default, raises ValueError; learning_rate
        "optimal" becomes "constant", which only matters for training on."""
        check_is_fitted(self)
        if self.activation == "leaky_relu" or self.out_activation_ == "leaky_relu":
            raise ValueError("scikit-learn's MLPs have no leaky_relu activation")
        params = {name: value for name, value in self.get_params().items()
                  if name not in ("output_activation", "average", "n_threads", "dtype",
                                  "class_weight")}
        if params["learning_rate"] == "optimal":
            params["learning_rate"] = "constant"
        model = self._sklearn_class()(**params)
        for name in ("n_features_in_", "feature_names_in_", "n_outputs_", "n_layers_",
                     "out_activation_", "n_iter_", "t_", "loss_", "best_loss_",
                     "validation_scores_", "best_validation_score_", "classes_",
                     "_label_binarizer", "loss_curve_"):
            if hasattr(self, name):
                setattr(model, name, copy.copy(getattr(self, name)))
        model.coefs_ = [W.copy() for W in self.coefs_]
        model.intercepts_ = [b.copy() for b in self.intercepts_]
        return model

    def __getstate__(self):
        state = dict(super().__getstate__())     # object's may be our __dict__ itself
        for name in WEIGHT_VIEWS:
            state.pop(name, None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "network_" in state:
            self._expose_weights()


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor trained by fastbp, per example.

    Drop-in for ``sklearn.neural_network.MLPRegressor``: the same parameters
    and fitted attributes where the meaning is the same. It minimises the
    squared error with an L2 penalty ``alpha`` on the non-bias weights.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default (100,)
        d[1..L-1], the sizes of the hidden layers.
    activation : {"identity", "logistic", "tanh", "relu", "leaky_relu"}, default "relu"
        Activation of the hidden layers.
    solver : {"sgd", "adam"}, default "sgd"
        Adam (scikit-learn's, with ``beta_1``, ``beta_2``, ``epsilon``; no
        momentum and no learning-rate schedule) or SGD, both per example
        (``batch_size=1``) or per mini-batch. "lbfgs" raises ValueError.
    alpha : float >= 0, default 0.0001
        L2 penalty as scikit-learn scales it: each update adds ``alpha /
        batch_size * W`` to its batch's mean gradient (not on the biases;
        scikit-learn divides by the size of an epoch's shorter last batch).
    batch_size : int >= 1, default 1
        Examples per update; 1 is per-example SGD (scikit-learn's default is
        min(200, n)).
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
    n_iter_no_change : int >= 1, default 10
    output_activation : str or None, default None
        fastbp's: the output activation; None is "identity" (as
        scikit-learn), or one of the hidden activations.
    average : bool or int, default False
        fastbp's averaged SGD (see ``fastbp.Network.fit``).
    n_threads : int, default 1
        fastbp's threads per fit (see ``fastbp.Network.fit``); 1 keeps
        results reproducible bit for bit, -1 uses every core.
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
        output, measured during each epoch, plus the L2 penalty.
    n_iter_, t_, n_layers_, n_outputs_, out_activation_, n_features_in_,
    feature_names_in_
    """

    _is_classifier = False

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), continuing the training state; returns self."""
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X):
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
        output = "identity" if self.output_activation is None else self.output_activation
        return _fastbp_name(output, "output_activation"), "squared"

    def _loss_scale(self):
        # fastbp's error sums 1/2 (x_k - y_k)^2 over the outputs; scikit-learn averages
        return 1.0 / self.n_outputs_

    def _labels(self, Y):
        return Y

    def _score_on(self, X, y, sample_weight):
        return r2_score(y, self.network_.predict(X), sample_weight=sample_weight)

    def _sklearn_class(self):
        if self.out_activation_ != "identity":
            raise ValueError(f"scikit-learn's MLPRegressor has only an identity output, not "
                             f"{self.out_activation_!r}")
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
    validation_fraction, beta_1, beta_2, epsilon, n_iter_no_change, average,
    n_threads, dtype
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

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="sgd",
                 alpha=0.0001, batch_size=1, learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.0,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10,
                 output_activation=None, average=False, n_threads=1, dtype=None,
                 class_weight=None):
        super().__init__(
            hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init,
            power_t=power_t, max_iter=max_iter, shuffle=shuffle, random_state=random_state,
            tol=tol, verbose=verbose, warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change,
            output_activation=output_activation, average=average, n_threads=n_threads,
            dtype=dtype)
        self.class_weight = class_weight

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over (X, y), continuing the training state; returns self.

        ``classes`` (all the labels there will be) is needed on the first
        call, as for scikit-learn's, unless y is a multilabel indicator matrix.
        """
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def predict_proba(self, X):
        """Probability of each class, shape (n, len(classes_))."""
        return self._proba(self._outputs(X))

    def predict_log_proba(self, X):
        """Logarithm of ``predict_proba``."""
        return np.log(self.predict_proba(X))

    def predict(self, X):
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
        if len(self.classes_) == 1:          # one class is every answer, as scikit-learn's
            return np.repeat(self.classes_, len(proba))
        return self.classes_[np.argmax(proba, axis=1)]

    def _targets(self, y, first, incremental, classes, sample_weight, X):
        """Targets in {0, 1} for the network, and the sample weights with
        the class weights multiplied in."""
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        multilabel = type_of_target(y).startswith("multilabel")
        if first:
            binarizer = LabelBinarizer()
            if incremental and not multilabel:
                if classes is None:
                    raise ValueError("classes must be passed on the first call to "
                                     "partial_fit.")
                binarizer.fit(classes)
            else:
                binarizer.fit(y)
            self._label_binarizer = binarizer
            self.classes_ = binarizer.classes_
        elif incremental and classes is not None and not np.array_equal(
                np.unique(classes), self.classes_):
            raise ValueError(f"classes={classes!r} is not the same as on the first call to "
                             f"partial_fit: {self.classes_!r}")
        labels = self.classes_ if multilabel else np.unique(y)
        if not (first or incremental) and not np.array_equal(labels, self.classes_):
            raise ValueError(f"warm_start needs y to have the classes of the first fit, "
                             f"{self.classes_!r}; y has {labels!r}")
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
        if y.ndim == 2:                                  # a multilabel indicator matrix
            self._label_binarizer.fit(np.eye(max(y.shape[1], 2), dtype=int)[:, :y.shape[1]])
            self.classes_ = self._label_binarizer.classes_
            if self.class_weight is not None:
                raise ValueError("fastbp.dask.fit takes class_weight for one-label "
                                 "targets only")
            return y.astype(np.float64), sample_weight
        labels, counts = dask.compute(*da.unique(y, return_counts=True))
        check_classification_targets(labels)
        self._label_binarizer.fit(labels)
        self.classes_ = self._label_binarizer.classes_
        n_outputs = _binarized(labels[:1], self._label_binarizer,
                               self._two_softmax_outputs()).shape[1]
        Y = y.map_blocks(_binarized, self._label_binarizer, self._two_softmax_outputs(),
                         dtype=np.float64, new_axis=1, chunks=(y.chunks[0], (n_outputs,)))
        if self.class_weight is not None:
            by_class = self.class_weight
            if isinstance(by_class, str) and by_class == "balanced":   # from all of y
                by_class = dict(zip(labels, counts.sum() / (len(labels) * counts)))
            weights = y.map_blocks(_class_weighted, by_class, dtype=np.float64)
            sample_weight = weights if sample_weight is None else weights * sample_weight
        return Y, sample_weight

    def _two_softmax_outputs(self):
        return (self.output_activation == "softmax"
                and self._label_binarizer.y_type_ == "binary")

    def _output_and_loss(self):
        kind = self._label_binarizer.y_type_
        default = "softmax" if kind == "multiclass" else "logistic"
        output = default if self.output_activation is None else self.output_activation
        if output not in ("logistic", "softmax"):
            raise ValueError(f"output_activation of a classifier must be None, 'logistic' or "
                             f"'softmax', got {output!r}")
        if output == "softmax" and kind == "multilabel-indicator":
            raise ValueError("output_activation='softmax' cannot give multilabel targets "
                             "(each label needs its own logistic output)")
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
            raise ValueError(f"scikit-learn's MLPClassifier has no output_activation="
                             f"{self.output_activation!r} for {kind} targets")
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
