"""The estimators' shared machinery (``fastbp.sklearn`` holds the public
classes): scikit-learn's parameters checked, the stochastic solvers' epoch
loop with scikit-learn's stopping rules, the L-BFGS solver, the fitted
attributes and the weights a user assigns to ``coefs_``/``intercepts_``.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import minimize
from scipy.sparse import issparse
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _validation as check
from . import training
from .network import DivergenceError, Network, model_of

# scikit-learn's activation names, and fastbp's for them.
ACTIVATIONS = {
    "identity": "identity",
    "logistic": "sigmoid",
    "tanh": "tanh",
    "relu": "relu",
    "leaky_relu": "leaky_relu",
}
LEARNING_RATES = ("constant", "invscaling", "adaptive", "optimal")
SOLVERS = ("lbfgs", "sgd", "adam")
STOCHASTIC_SOLVERS = ("sgd", "adam")
# The "adaptive" schedule stops training once it would go below this (as scikit-learn).
SMALLEST_ADAPTIVE_LR = 1e-6
# The attributes that are views of network_'s weights: rebuilt, not pickled.
WEIGHT_VIEWS = ("coefs_", "intercepts_", "_exposed")
# The scipy.sparse formats X may come in (converted to CSR).
SPARSE_FORMATS = ("csr", "csc", "coo")
# scikit-learn's message for weights that are not finite after training.
NON_FINITE = (
    "Solver produced non-finite parameter weights. The input data may contain large "
    "values and need to be preprocessed."
)


def _fastbp_name(activation, name):
    if activation not in ACTIVATIONS:
        raise ValueError(f"{name} must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    return ACTIVATIONS[activation]


def _stochastic(estimator):
    """True for the solvers that train in epochs (partial_fit needs one)."""
    if estimator.solver not in STOCHASTIC_SOLVERS:
        raise AttributeError(
            f"partial_fit is only available for stochastic optimizers. "
            f"{estimator.solver} is not stochastic."
        )
    return True


def _sklearn_name(fastbp_activation):
    return "logistic" if fastbp_activation == "sigmoid" else fastbp_activation


class _BaseMLP(BaseEstimator):
    """What the classifier and the regressor share: parameters, the epoch
    loop with scikit-learn's stopping rules, the fitted attributes."""

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
    ):
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
        self.n_iter_no_change, self.max_fun = n_iter_no_change, max_fun
        self.output_activation = output_activation
        self.average, self.n_threads, self.dtype = average, n_threads, dtype

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # scipy.sparse X: CSR, CSC or COO
        return tags

    # ------------------------------------------------------------ parameters

    def _check_params(self):
        """Check what fastbp's Network does not check itself (it names the rest)."""
        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {self.solver!r}")
        sizes = self.hidden_layer_sizes
        sizes = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
        if not all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0 for s in sizes
        ):
            raise ValueError(
                f"hidden_layer_sizes must be positive integers, got {self.hidden_layer_sizes!r}"
            )
        _fastbp_name(self.activation, "activation")
        if self.learning_rate not in LEARNING_RATES:
            raise ValueError(
                f"learning_rate must be one of {LEARNING_RATES}, got {self.learning_rate!r}"
            )
        for name in ("max_iter", "batch_size", "max_fun"):
            value = getattr(self, name)
            if name == "batch_size" and value == "auto":
                continue
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                also = ' or "auto"' if name == "batch_size" else ""
                raise ValueError(f"{name} must be an integer >= 1{also}, got {value!r}")
        patience = self.n_iter_no_change  # an integer, or np.inf: never stop
        if not (
            patience == np.inf
            or isinstance(patience, (int, np.integer))
            and not isinstance(patience, bool)
            and patience >= 1
        ):
            raise ValueError(
                f"n_iter_no_change must be an integer >= 1 or np.inf, got {patience!r}"
            )
        for name in ("alpha", "tol"):
            if not np.isfinite(getattr(self, name)) or getattr(self, name) < 0:
                raise ValueError(
                    f"{name} must be a finite number >= 0, got {getattr(self, name)!r}"
                )
        check.learning_rate(self.learning_rate_init, "learning_rate_init")  # lbfgs too
        if not 0 < self.validation_fraction < 1:
            raise ValueError(
                f"validation_fraction must be in (0, 1), got {self.validation_fraction!r}"
            )
        return sizes

    def _batch_size(self, n_samples):
        """The examples per update: "auto" is min(200, n_samples), and a
        batch_size above n_samples is clipped to it (as scikit-learn's)."""
        if self.batch_size == "auto":
            return min(200, n_samples)
        if self.batch_size > n_samples:
            warnings.warn(
                "Got `batch_size` less than 1 or larger than sample size. It is going to be clipped"
            )
            return n_samples
        return self.batch_size

    def _options(self, batch_size):
        """fastbp's training options for one epoch, but for lr and the seed."""
        sgd = self.solver == "sgd"  # scikit-learn's adam has no momentum and no schedules
        momentum = self.momentum if sgd else 0.0
        return dict(
            momentum=momentum,
            nesterov=bool(self.nesterovs_momentum and momentum > 0),
            # scikit-learn adds alpha * W to the sum of a batch's gradients before
            # dividing by its size; fastbp adds weight_decay * W to their mean
            weight_decay=self.alpha / batch_size,
            lr_schedule="optimal" if sgd and self.learning_rate == "optimal" else "constant",
            power_t=self.power_t,
            average=self.average,
            batch_size=batch_size,
            n_threads=self.n_threads,
            optimizer=self.solver,
            beta_1=self.beta_1,
            beta_2=self.beta_2,
            epsilon=self.epsilon,
        )

    # ------------------------------------------------------------ fitting

    def fit(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> _BaseMLP:
        """Train on (X, y); returns self."""
        return self._fit(X, y, sample_weight, incremental=False)

    def _fit(self, X, y, sample_weight, incremental, classes=None):
        sizes = self._check_params()
        first = not hasattr(self, "coefs_") or not (self.warm_start or incremental)
        X, y = validate_data(
            self,
            X,
            y,
            reset=first,
            dtype=(np.float64, np.float32),
            accept_sparse=SPARSE_FORMATS,
            multi_output=True,
            y_numeric=not self._is_classifier,
        )
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        Y, weights = self._targets(y, first, incremental, classes, sample_weight, X)
        rng = check_random_state(self.random_state)  # drawn from as scikit-learn's
        if first:
            self._start(X.shape[1], sizes, Y.shape[1], X.dtype, rng)
        else:
            self._take_assigned_weights(X.dtype)
            if Y.shape[1] != self.n_outputs_:
                raise ValueError(
                    f"y has {Y.shape[1]} outputs, but {type(self).__name__} was "
                    f"fitted with {self.n_outputs_}"
                )
        if not incremental or not hasattr(self, "_lr"):
            self._lr = float(self.learning_rate_init)  # a fresh optimizer, as scikit-learn's
            self._no_improvement_count = 0
            self._fresh = True
        dtype = self.network_.dtype
        # converted once, not every epoch
        X = X.tocsr().astype(dtype) if issparse(X) else np.ascontiguousarray(X, dtype=dtype)
        Y = np.ascontiguousarray(Y, dtype=dtype)
        if self.solver == "lbfgs":
            self._fit_lbfgs(X, Y, weights)
        else:
            self._epochs(X, Y, weights, incremental, rng)
        return self

    def _start(self, n_features, hidden_sizes, n_outputs, input_dtype, rng):
        """A fresh network with scikit-learn's initial weights drawn from
        ``rng`` (of dtype, or else float32 for float32 inputs and float64 for
        others, as scikit-learn's) and fresh fitted attributes."""
        layers = [n_features, *hidden_sizes, n_outputs]
        factor = 2.0 if self.activation == "logistic" else 6.0  # Glorot's uniform bounds
        initial = []
        for fan_in, fan_out in zip(layers[:-1], layers[1:]):
            bound = np.sqrt(factor / (fan_in + fan_out))
            coefs = rng.uniform(-bound, bound, (fan_in, fan_out))
            intercepts = rng.uniform(-bound, bound, fan_out)
            initial.append(np.vstack([intercepts, coefs]))
        self._build(layers, initial, self._dtype_for(input_dtype))
        self.n_iter_ = 0
        self.t_ = 0
        self._fresh_attributes()
        self.__dict__.pop("_lr", None)

    def _build(self, layers, weights, dtype):
        """network_ with these layers, weights and dtype, and the attributes
        it decides."""
        output, loss = self._output_and_loss()
        self.network_ = Network(
            layers,
            hidden=_fastbp_name(self.activation, "activation"),
            output=output,
            loss=loss,
            weights=weights,
            dtype=dtype,
        )
        self.n_outputs_ = layers[-1]
        self.n_layers_ = len(layers)
        self.out_activation_ = _sklearn_name(output)
        self._expose_weights()

    def _dtype_for(self, input_dtype):
        """The dtype parameter, or else float32 for float32 inputs and float64
        for others (as scikit-learn's)."""
        if self.dtype is not None:
            return self.dtype
        return "float32" if input_dtype == np.float32 else "float64"

    def _fresh_attributes(self):
        """The training record of a first fit, as scikit-learn's."""
        if self.solver in STOCHASTIC_SOLVERS:
            self.loss_curve_ = []
            self.best_loss_ = np.inf
        else:  # scikit-learn's L-BFGS keeps neither
            self.__dict__.pop("loss_curve_", None)
            self.__dict__.pop("best_loss_", None)
        self.validation_scores_ = self.best_validation_score_ = None

    def _expose_weights(self):
        """coefs_ and intercepts_ as views of the network's weights."""
        self.coefs_ = [W[1:] for W in self.network_.weights]
        self.intercepts_ = [W[0] for W in self.network_.weights]
        self._exposed = tuple(self.coefs_ + self.intercepts_)

    def _take_assigned_weights(self, input_dtype=None):
        """Honour arrays assigned to coefs_ and intercepts_ (or their items),
        as scikit-learn's estimators do: copy them into network_, or build
        network_ from them where it has other layers or none yet."""
        given = list(self.coefs_) + list(self.intercepts_)
        exposed = getattr(self, "_exposed", ())
        if len(given) == len(exposed) and all(a is b for a, b in zip(given, exposed)):
            return
        if len(self.coefs_) != len(self.intercepts_) or not self.coefs_:
            raise ValueError("coefs_ and intercepts_ must be lists of one array per layer")
        layers, weights = [np.shape(self.coefs_[0])[0]], []
        for l, (W, b) in enumerate(zip(self.coefs_, self.intercepts_)):
            W, b = np.asarray(W, dtype=float), np.asarray(b, dtype=float)
            if W.ndim != 2 or W.shape[0] != layers[-1] or b.shape != (W.shape[1],):
                raise ValueError(
                    f"coefs_[{l}] has shape {W.shape} and intercepts_[{l}] shape "
                    f"{b.shape}: they must be ({layers[-1]}, d) and (d,)"
                )
            if not (np.isfinite(W).all() and np.isfinite(b).all()):
                raise ValueError(f"coefs_[{l}] or intercepts_[{l}] is not finite")
            layers.append(W.shape[1])
            weights.append(np.vstack([b, W]))
        if layers[0] != getattr(self, "n_features_in_", layers[0]):
            raise ValueError(
                f"coefs_[0] has {layers[0]} rows, but X has {self.n_features_in_} features"
            )
        network = getattr(self, "network_", None)
        if network is not None and list(network.layers) == layers:
            for W, new in zip(network.weights, weights):
                W[...] = new
            self._expose_weights()
        else:
            self._build(
                layers,
                weights,
                network.dtype if network is not None else self._dtype_for(input_dtype),
            )
            if not hasattr(self, "n_iter_"):
                self.n_iter_ = self.t_ = 0
                self._fresh_attributes()

    def _fit_lbfgs(self, X, Y, sample_weight):
        """scikit-learn's "lbfgs": scipy's L-BFGS-B over all the weights, on
        the mean loss over the whole set (weighted by sample_weight) plus the
        L2 penalty alpha / 2 ||W||^2 over the sum of the weights, each value
        and gradient computed by the core on n_threads threads of rows."""
        network = self.network_
        n_threads = check.threads(self.n_threads)
        model = model_of(network)
        X, Y = training.checked_block(model, X, Y, "")  # CSR X as the core takes it
        n = X.shape[0]
        sample_weight = training.sample_weights(model, sample_weight, n)
        total = float(n if sample_weight is None else np.sum(sample_weight))
        weights = np.full(n, 1.0 / n) if sample_weight is None else sample_weight / total
        weights = np.ascontiguousarray(weights, dtype=network.dtype)
        penalised = np.concatenate(
            [
                np.r_[np.zeros(d_out), np.ones(d_in * d_out)]
                for d_in, d_out in zip(network.layers, network.layers[1:])
            ]
        )
        decay = self.alpha / total
        flat = network.flat

        def loss_and_gradient(w):
            flat[:] = w
            error, grad = training.loss_and_gradient(model, flat, X, Y, weights, n_threads)
            decayed = w * penalised
            return (
                error + 0.5 * decay * float(decayed @ decayed),
                grad.astype(np.float64) + decay * decayed,
            )

        with np.errstate(over="ignore", invalid="ignore"):
            result = minimize(
                loss_and_gradient,
                flat.astype(np.float64),
                method="L-BFGS-B",
                jac=True,
                options={"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol},
            )
            flat[:] = result.x
            penalty = 0.5 * decay * float((result.x * penalised) @ result.x)
        if not np.all(np.isfinite(flat)):
            raise DivergenceError(NON_FINITE)
        if result.status != 0:
            warnings.warn(
                f"lbfgs failed to converge after {result.nit} iteration(s) "
                f"(status={result.status}): {result.message}. Increase the number "
                f"of iterations (max_iter, max_fun) or scale the data.",
                ConvergenceWarning,
            )
        self.n_iter_ = min(result.nit, self.max_iter)
        # the loss as scikit-learn reports it (the regressor's per output)
        self.loss_ = (float(result.fun) - penalty) * self._loss_scale() + penalty
        if self.verbose:
            print(f"L-BFGS: {result.nit} iterations, loss = {self.loss_:.8f}")

    def _epochs(self, X, Y, sample_weight, incremental, rng):
        """scikit-learn's loop of ``_fit_stochastic``: epochs of fastbp's SGD,
        the adaptive and invscaling learning rates, and stopping when the
        training loss (or with early_stopping the validation score) has not
        improved by tol for n_iter_no_change epochs."""
        early_stopping = self.early_stopping and not incremental
        if early_stopping:
            X, Y, sample_weight, X_val, y_val, weight_val = self._held_out(X, Y, sample_weight, rng)
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
            best = self.network_.flat.copy()
        elif self.best_loss_ is None:  # warm start after a fit with early stopping
            self.best_loss_ = np.inf
        if self._fresh:
            self._shuffle_seed = int(rng.randint(np.iinfo(np.int32).max))
        if issparse(X):  # checked once for the core, not every epoch
            X = check.inputs(X, "X", self.network_.dtype, (2,), X.shape[1])
        batch_size = self._batch_size(X.shape[0])
        options = self._options(batch_size)
        scale = self._loss_scale()
        self.n_iter_ = 0
        try:
            for _ in range(1 if incremental else self.max_iter):
                train = self.network_.fit if self._fresh else self.network_.partial_fit
                kwargs = {"epochs": 1} if self._fresh else {}
                try:
                    history = train(
                        X,
                        Y,
                        lr=self._lr,
                        shuffle=self.shuffle,
                        seed=self._shuffle_seed,
                        sample_weight=sample_weight,
                        **options,
                        **kwargs,
                    )
                except DivergenceError as error:
                    if not early_stopping:
                        raise DivergenceError(
                            f"{NON_FINITE} ({type(self).__name__}: {error} "
                            f"Here lr is learning_rate_init or the "
                            f"schedule's.)"
                        ) from error
                    # as scikit-learn's: a nan score, and the best epoch's weights kept
                    self.validation_scores_.append(float("nan"))
                    warnings.warn(
                        f"{error} Keeping the weights of the best epoch.", ConvergenceWarning
                    )
                    break
                self._fresh = False
                with np.errstate(over="ignore"):  # inf where the weights grew huge
                    penalty = sum(float(np.vdot(W, W)) for W in self.coefs_)
                self.loss_ = history.loss[0] * scale + 0.5 * self.alpha * penalty / batch_size
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
                    warnings.warn(
                        f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                        "reached and the optimization hasn't converged yet.",
                        ConvergenceWarning,
                    )
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
        message = (
            f"{what} did not improve more than tol={self.tol:f} for "
            f"{self.n_iter_no_change} consecutive epochs."
        )
        if (
            self.learning_rate != "adaptive"
            or self.solver != "sgd"
            or self._lr <= SMALLEST_ADAPTIVE_LR
        ):
            if self.verbose:
                print(message + " Stopping.")
            return True
        self._lr /= 5.0
        if self.verbose:
            print(message + f" Setting learning rate to {self._lr:f}")
        return False

    def _held_out(self, X, Y, sample_weight, rng):
        """scikit-learn's split for early stopping (stratified for binary
        classification): training part, then validation X, y, weights."""
        binary = self._is_classifier and self._label_binarizer.y_type_ == "binary"
        stratify = Y[:, -1:].astype(bool) if binary else None
        arrays = [X, Y] + ([] if sample_weight is None else [sample_weight])
        parts = train_test_split(
            *arrays, random_state=rng, test_size=self.validation_fraction, stratify=stratify
        )
        if parts[1].shape[0] < 2:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' "
                "or the size of your dataset."
            )
        weight_train, weight_val = (None, None) if sample_weight is None else parts[4:]
        return (parts[0], parts[2], weight_train, parts[1], self._labels(parts[3]), weight_val)

    # ------------------------------------------------------------ fastbp.dask

    def _start_distributed(self, X, y, sample_weight, options):
        """For ``fastbp.dask.fit``: a fresh network for Dask arrays X, y; the
        network's targets and sample weights as Dask arrays; the options of
        the local epochs; the seed of the shuffling."""
        sizes = self._check_params()
        if self.learning_rate != "constant":
            raise ValueError(
                f"fastbp.dask.fit needs learning_rate='constant' (the local "
                f"training restarts every round), got {self.learning_rate!r}"
            )
        if self.early_stopping:
            raise ValueError("fastbp.dask.fit does not support early_stopping=True")
        Y, sample_weight = self._distributed_targets(y, sample_weight)
        for name in ("feature_names_in_", "validation_scores_", "best_validation_score_"):
            self.__dict__.pop(name, None)
        self.n_features_in_ = X.shape[1]
        rng = check_random_state(self.random_state)
        self._start(X.shape[1], sizes, Y.shape[1], X.dtype, rng)
        self._shuffle_seed = int(rng.randint(np.iinfo(np.int32).max))
        batch_size = 200 if self.batch_size == "auto" else self.batch_size
        options = {
            **self._options(batch_size),
            "lr": self.learning_rate_init,
            "shuffle": self.shuffle,
            **options,
        }
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
        X = validate_data(
            self, X, reset=False, dtype=(np.float64, np.float32), accept_sparse=SPARSE_FORMATS
        )
        self._take_assigned_weights(X.dtype)
        return self.network_.predict(X)

    def to_sklearn(self) -> Any:
        """The same model, weights copied, as a fitted scikit-learn
        ``MLPClassifier`` or ``MLPRegressor`` (predictions equal up to the
        last bits). A "leaky_relu" activation, or a classifier output other
        than scikit-learn's default, raises ValueError; learning_rate
        "optimal" becomes "constant", which only matters for training on."""
        check_is_fitted(self)
        self._take_assigned_weights()
        if self.activation == "leaky_relu" or self.out_activation_ == "leaky_relu":
            raise ValueError("scikit-learn's MLPs have no leaky_relu activation")
        params = {
            name: value
            for name, value in self.get_params().items()
            if name not in ("output_activation", "average", "n_threads", "dtype", "class_weight")
        }
        if params["learning_rate"] == "optimal":
            params["learning_rate"] = "constant"
        model = self._sklearn_class()(**params)
        for name in (
            "n_features_in_",
            "feature_names_in_",
            "n_outputs_",
            "n_layers_",
            "out_activation_",
            "n_iter_",
            "t_",
            "loss_",
            "best_loss_",
            "validation_scores_",
            "best_validation_score_",
            "classes_",
            "_label_binarizer",
            "loss_curve_",
        ):
            if hasattr(self, name):
                setattr(model, name, copy.copy(getattr(self, name)))
        model.coefs_ = [W.copy() for W in self.coefs_]
        model.intercepts_ = [b.copy() for b in self.intercepts_]
        return model

    def __getstate__(self):
        if hasattr(self, "coefs_"):
            self._take_assigned_weights()
        state = dict(super().__getstate__())  # object's may be our __dict__ itself
        for name in WEIGHT_VIEWS:
            state.pop(name, None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "network_" in state:
            self._expose_weights()
