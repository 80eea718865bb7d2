"""Online learners with river's API, trained one example at a time by
fastbp's core: ``MLPClassifier`` and ``MLPRegressor``.

They take river's dicts of features, ``learn_one(x, y)`` at a time (or
``learn_many`` of a DataFrame), and each update is one ``Network.sgd_step``:
per-example SGD (with momentum, Nesterov, weight decay, clipping,
schedules) or Adam or Adagrad, carrying the optimizer's state from example
to example.

**Emerging features.**  The network's inputs are the features seen while
learning; the first example's, in sorted order (so that the order of a
dict's keys never matters), get seeded weights.  A feature first seen
later gets a new input row of W^(1) whose weights are 0: exactly the same
network, since until then the feature contributed 0.  A feature missing
from an example reads as 0; one that ``predict_*`` meets before
``learn_*`` has is ignored (its weights would be 0).

**New classes.**  The classifier's output is a softmax over the classes
seen, in the order they were first seen, with the cross-entropy loss.  A
label first seen later gets a new output unit whose weights are 0: its
signal s = 0, so it takes probability 1 / (1 + sum_k e^(s_k)) at once and
the classes seen before keep their odds against each other, each scaled
by the same factor.  Before a second class is seen, the one class has
probability 1.

Needs river (``pip install "fastbp[river]"``).  Inputs are best scaled,
as for any network: put a ``river.preprocessing.StandardScaler`` first in
a pipeline.  See docs/online.md.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

try:
    from river import base
except ImportError as error:  # pragma: no cover - the extra is missing
    raise ImportError('fastbp.river needs river: pip install "fastbp[river]"') from error

from . import _backend, _persistence
from . import _validation as check
from ._options import Options
from .network import Network, model_of

__all__ = ["MLPClassifier", "MLPRegressor"]

# Feature values taken as they are (other types are checked to be real numbers).
_PLAIN_NUMBERS = (float, int, bool)


def _check_number(value, name):
    """Refuse a value that is not a real number (a text, None, a complex...)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")


def _sorted(names):
    """Feature names in a fixed order whatever a dict's order (names of
    different types are ordered by type name, then by text)."""
    return sorted(names, key=lambda name: (type(name).__name__, str(name)))


class _Learner:
    """What both learners share: the parameters, the features, the network."""

    OUTPUT, LOSS = "identity", "squared"

    def __init__(
        self,
        hidden_layer_sizes=(16,),
        activation="tanh",
        optimizer="adam",
        lr=0.003,
        momentum=0.0,
        nesterov=False,
        weight_decay=0.0,
        lr_schedule="constant",
        power_t=0.25,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        clip=None,
        dtype="float64",
        seed=0,
    ):
        self.hidden_layer_sizes, self.activation = hidden_layer_sizes, activation
        self.optimizer, self.lr, self.momentum, self.nesterov = optimizer, lr, momentum, nesterov
        self.weight_decay, self.lr_schedule, self.power_t = weight_decay, lr_schedule, power_t
        self.beta_1, self.beta_2, self.epsilon, self.clip = beta_1, beta_2, epsilon, clip
        self.dtype, self.seed = dtype, seed
        # checked now, so that a bad parameter fails here, not at the first example
        self._step = {
            "lr": lr,
            "momentum": momentum,
            "nesterov": nesterov,
            "weight_decay": weight_decay,
            "lr_schedule": lr_schedule,
            "power_t": power_t,
            "clip": clip,
            "optimizer": optimizer,
            "beta_1": beta_1,
            "beta_2": beta_2,
            "epsilon": epsilon,
        }
        if Options.check(**self._step).lr_schedule == "adaptive":
            raise ValueError(
                "lr_schedule='adaptive' changes lr between epochs; an online "
                "learner takes 'constant', 'invscaling' or 'optimal'"
            )
        if not isinstance(hidden_layer_sizes, tuple) or not hidden_layer_sizes:
            # (river takes a tuple parameter for a class and its parameters)
            raise TypeError(
                f"hidden_layer_sizes must be a non-empty tuple of layer sizes, "
                f"such as (16,); got {hidden_layer_sizes!r}"
            )
        check.architecture([1, *hidden_layer_sizes, 1], activation, self.OUTPUT, self.LOSS)
        check.dtype(dtype)
        check.seed(seed)
        self._start()

    def _start(self):
        """What the learner has learnt: nothing yet."""
        self._features = {}  # feature name -> input (row of W^(1) - 1)
        self._network = None  # made at the first example learnt
        self._fast = None  # the backend's Dicts for the network, or None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_fast"] = None  # made again from the rest
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._refresh()

    def _classes_or_none(self):
        return None

    def _refresh(self):
        """The fast path of examples as dicts, for the network as it is now
        (after a change of the network, its stepper or the features)."""
        network = self._network
        self._fast = (
            None
            if network is None
            else _backend.get(network.backend).Dicts(
                model_of(network), self._features, self._classes_or_none()
            )
        )

    def _learn(self, x, y):
        """One example on the checked path (each learner has its own)."""
        raise NotImplementedError

    def learn_one(self, x: dict[Any, Any], y: Any) -> None:
        fast = self._fast
        if fast is not None:
            error = fast.learn(x, y)
            if error is not None and error == error:
                return
        self._learn(x, y)  # checks, emerging features and labels, errors
        self._refresh()

    # ------------------------------------------------------------ inputs

    def _row(self, x):
        """(inputs, unknown): the network's input for the dict x, its
        values checked (finite real numbers) and placed at their features'
        inputs, 0 elsewhere; ``unknown``: whether x has features not seen
        yet (left out)."""
        if not isinstance(x, dict):
            raise TypeError(f"x must be a dict of feature values, got {type(x).__name__}")
        values = [0.0] * len(self._features)
        features, known = self._features, 0
        for name, value in x.items():
            if type(value) not in _PLAIN_NUMBERS:
                _check_number(value, f"x[{name!r}]")
            if not -math.inf < value < math.inf:
                raise ValueError(f"x[{name!r}] is {value}: features must be finite")
            where = features.get(name)
            if where is not None:
                values[where] = value
                known += 1
        return np.array(values, dtype=self.dtype), known < len(x)

    def _with_new_features(self, x):
        """The input for the dict x (checked), its new features given inputs first."""
        self._new_features(x)
        return self._row(x)[0]

    def _new_features(self, names):
        """Give the features of ``names`` not seen yet their inputs; the
        network (if any) gets their rows of W^(1), with weights 0."""
        new = _sorted(name for name in names if name not in self._features)
        for name in new:
            self._features[name] = len(self._features)
        if new and self._network is not None:
            self._grow(len(new), 0)

    def _columns(self, X, known_only):
        """(names, values): the columns of the DataFrame X (of the features
        seen only, where ``known_only``) and their values, checked."""
        import pandas as pd

        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"X must be a pandas DataFrame, got {type(X).__name__}")
        names = [name for name in X.columns if not known_only or name in self._features]
        values = X[names].to_numpy()
        if values.dtype.kind not in "biuf":
            for name in names:
                for value in X[name].tolist():
                    _check_number(value, f"X[{name!r}]")
            values = values.astype(np.float64)
        finite = np.isfinite(values).all(axis=0)
        if not finite.all():
            raise ValueError(
                f"X[{names[int(np.argmin(finite))]!r}] holds NaN or infinity: "
                "features must be finite (fill missing values, with 0 say)"
            )
        return names, values

    def _inputs(self, names, values):
        """The network's inputs for checked columns of features all seen."""
        inputs = np.zeros((len(values), len(self._features)), dtype=self.dtype)
        inputs[:, [self._features[name] for name in names]] = values
        return inputs

    # ------------------------------------------------------------ the network

    def _ready(self, n_outputs):
        """Whether there is a network to train, made where there is none
        yet but features to make it of."""
        if self._network is None and self._features:
            self._network = Network(
                [len(self._features), *self.hidden_layer_sizes, n_outputs],
                hidden=self.activation,
                output=self.OUTPUT,
                loss=self.LOSS,
                dtype=self.dtype,
                seed=self.seed,
            )
        return self._network is not None

    def _grow(self, more_inputs, more_outputs):
        self._network = _persistence.grown(model_of(self._network), more_inputs, more_outputs)

    def _output(self, x):
        """x^(L) for the dict x (the network exists)."""
        return self._network.predict(self._row(x)[0])

    def _outputs(self, X):
        """x^(L) for each row of the DataFrame X, or None before the network."""
        names, values = self._columns(X, known_only=True)
        return None if self._network is None else self._network.predict(self._inputs(names, values))

    @property
    def network(self) -> Network | None:
        """The ``fastbp.Network`` learnt so far (None before the first
        example): its inputs are the features in ``features``' order."""
        return self._network

    @property
    def features(self) -> list[Any]:
        """The features the network takes, in the order of its inputs."""
        return list(self._features)


class MLPClassifier(_Learner, base.MiniBatchClassifier):
    """A fully connected network classifying one example at a time,
    binary or multiclass: a softmax over the classes seen so far, trained
    by fastbp's per-example SGD, Adam or Adagrad.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default (16,)
        Units of each hidden layer (one at least).
    activation : str, default "tanh"
        Of the hidden layers: "tanh", "relu", "sigmoid", "leaky_relu" or
        "identity".
    optimizer : {"adam", "sgd", "adagrad"}, default "adam"
    lr : float, default 0.003
        The learning rate (of update t = 1 where lr_schedule schedules it).
    momentum, nesterov, weight_decay, lr_schedule, power_t, beta_1, beta_2, epsilon, clip
        As for ``fastbp.Network.sgd_step`` (momentum and nesterov with
        optimizer="sgd"; lr_schedule "constant", "invscaling" or "optimal").
    dtype : {"float64", "float32"}, default "float64"
    seed : int or None, default 0
        Seed of the initial weights (None: a fresh one).

    Attributes
    ----------
    network : fastbp.Network or None
        The network learnt so far.
    features : list
        The features it takes, in the order of its inputs.
    classes : list
        The labels seen, in the order of the network's outputs.

    Notes
    -----
    See the module's notes (``fastbp.river``) for emerging features and
    new classes.  ``learn_many`` learns the rows in order, one update each:
    the same as ``learn_one`` on each row.

    Examples
    --------
    docs/online.md (its code runs in the test suite)::

        from river import datasets, evaluate, metrics, preprocessing
        model = preprocessing.StandardScaler() | MLPClassifier()
        evaluate.progressive_val_score(datasets.Phishing(), model, metrics.Accuracy())
    """

    OUTPUT, LOSS = "softmax", "cross_entropy"

    def _start(self):
        self._classes = {}  # label -> output unit
        super()._start()

    def _classes_or_none(self):
        return self._classes

    @classmethod
    def _unit_test_params(cls):
        yield {}
        yield {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True}
        yield {
            "optimizer": "adagrad",
            "lr": 0.05,
            "hidden_layer_sizes": (8, 8),
            "activation": "relu",
            "weight_decay": 1e-4,
        }
        yield {
            "optimizer": "sgd",
            "lr": 0.1,
            "hidden_layer_sizes": (4,),
            "clip": 1.0,
            "lr_schedule": "invscaling",
            "dtype": "float32",
        }

    @property
    def _multiclass(self):
        return True

    @property
    def classes(self) -> list[Any]:
        return list(self._classes)

    def _label(self, y):
        """The output unit of label y (None: a new label), y checked."""
        try:
            unit = self._classes.get(y)
        except TypeError:
            raise TypeError(f"y must be a hashable label, got {type(y).__name__}") from None
        if unit is not None:
            return unit
        if y is None or (isinstance(y, float) and math.isnan(y)):
            raise ValueError(f"y must be a label, got {y!r}")
        if self._classes:  # those seen are of one kind: like any of them
            _one_kind([next(iter(self._classes)), y])
        return None

    def _add_class(self, y):
        self._classes[y] = len(self._classes)
        if self._network is not None:
            self._grow(0, 1)

    def _targets(self, labels):
        """The one-hot targets of known labels, a row each."""
        return np.eye(len(self._classes), dtype=self.dtype)[[self._classes[y] for y in labels]]

    def _learn(self, x, y):
        inputs, unknown = self._row(x)  # x and y checked before anything changes
        if self._label(y) is None:
            self._add_class(y)
        if unknown:
            inputs = self._with_new_features(x)
        if self._ready(len(self._classes)):
            self._network.sgd_step(inputs, self._targets([y])[0], **self._step)

    # river's take **kwargs too, which these have no use for
    def predict_one(self, x: dict[Any, Any]) -> Any:  # type: ignore[override]
        label = None if self._fast is None else self._fast.label(x)
        return super().predict_one(x) if label is None else label

    def predict_proba_one(self, x: dict[Any, Any]) -> dict[Any, float]:  # type: ignore[override]
        probabilities = None if self._fast is None else self._fast.probabilities(x)
        if probabilities is not None:
            return probabilities
        if self._network is None:
            self._row(x)  # checked all the same
            return {label: 1 / len(self._classes) for label in self._classes}
        return dict(zip(self._classes, _probabilities(self._output(x)).tolist()))

    def learn_many(self, X: Any, y: Any) -> None:
        names, values = self._columns(X, known_only=False)
        labels = list(y)
        if len(labels) != len(values):
            raise ValueError(f"y has {len(labels)} labels but X has {len(values)} rows")
        for label in labels:  # all checked before anything changes
            self._label(label)
        _one_kind(labels + list(self._classes))
        self._new_features(names)
        start = 0
        for row, label in enumerate(labels + [None]):
            # a new class gets its unit where it first comes: learn the rows before it
            new = row < len(labels) and label not in self._classes
            if (new or row == len(labels)) and row > start and self._ready(len(self._classes)):
                self._network.partial_fit(
                    self._inputs(names, values[start:row]),
                    self._targets(labels[start:row]),
                    shuffle=False,
                    **self._step,
                )
            if new:
                self._add_class(label)
                start = row
        self._refresh()

    def predict_proba_many(self, X: Any) -> Any:
        import pandas as pd

        outputs = self._outputs(X)
        if outputs is None:
            return pd.DataFrame(
                {label: [1 / len(self._classes)] * len(X) for label in self._classes}, index=X.index
            )
        return pd.DataFrame(_probabilities(outputs), columns=list(self._classes), index=X.index)

    def predict_many(self, X: Any) -> Any:
        import pandas as pd

        probabilities = self.predict_proba_many(X)
        if probabilities.shape[1] == 0:
            return pd.Series([None] * len(X), index=X.index, dtype=object)
        labels = list(self._classes)
        return pd.Series(
            [labels[k] for k in np.argmax(probabilities.to_numpy(), axis=1)], index=X.index
        )


def _probabilities(outputs):
    """Softmax outputs as float64 probabilities that sum to 1 as closely as
    float64 does (float32's sum to 1 within float32's precision only)."""
    if outputs.dtype == np.float64:
        return outputs
    outputs = outputs.astype(np.float64)
    return outputs / outputs.sum(axis=-1, keepdims=True)


def _kind(label):
    """Labels of one kind compare and order alike: bools, numbers, texts, or a type."""
    if isinstance(label, (bool, np.bool_)):
        return "bool"
    if isinstance(label, numbers.Number):
        return "number"
    if isinstance(label, (str, bytes)):
        return "text"
    return type(label)


def _one_kind(labels):
    """Refuse labels of more than one kind (see _kind), naming one of each."""
    first = {}
    for label in labels:
        first.setdefault(_kind(label), label)
    if len(first) > 1:
        a, b = list(first.values())[:2]
        raise TypeError(
            f"y: the labels must be of one kind; got {a!r} "
            f"({type(a).__name__}) and {b!r} ({type(b).__name__})"
        )


class MLPRegressor(_Learner, base.MiniBatchRegressor):
    """A fully connected network regressing one example at a time: an
    identity output and the squared error, trained by fastbp's
    per-example SGD, Adam or Adagrad.

    Parameters
    ----------
    hidden_layer_sizes, activation, optimizer, lr, momentum, nesterov, weight_decay,
    lr_schedule, power_t, beta_1, beta_2, epsilon, clip, dtype, seed
        As for ``MLPClassifier``.

    Attributes
    ----------
    network : fastbp.Network or None
    features : list

    Notes
    -----
    Targets are learnt as given: scale them (and the inputs) where they
    are far from 1, with ``river.preprocessing.TargetStandardScaler`` say.
    Before the first example ``predict_one`` is 0.
    """

    @classmethod
    def _unit_test_params(cls):
        yield {}
        yield {"optimizer": "sgd", "lr": 0.001, "momentum": 0.5, "clip": 10.0}
        yield {
            "optimizer": "adagrad",
            "lr": 0.05,
            "hidden_layer_sizes": (8, 4),
            "activation": "relu",
            "weight_decay": 1e-4,
        }

    @staticmethod
    def _target(y):
        if isinstance(y, (str, bytes)) or not isinstance(y, numbers.Real):
            raise TypeError(f"y must be a real number, got {type(y).__name__} {y!r}")
        if not math.isfinite(y):
            raise ValueError(f"y is {y}: targets must be finite")
        return float(y)

    def _learn(self, x, y):
        inputs, unknown = self._row(x)  # x and y checked before anything changes
        y = self._target(y)
        if unknown:
            inputs = self._with_new_features(x)
        if self._ready(1):
            self._network.sgd_step(inputs, y, **self._step)

    def predict_one(self, x: dict[Any, Any]) -> Any:
        value = None if self._fast is None else self._fast.value(x)
        if value is not None:
            return value
        if self._network is None:
            self._row(x)  # checked all the same
            return 0.0
        return float(self._output(x)[0])

    def learn_many(self, X: Any, y: Any) -> None:
        names, values = self._columns(X, known_only=False)
        targets = [self._target(value) for value in y]
        if len(targets) != len(values):
            raise ValueError(f"y has {len(targets)} targets but X has {len(values)} rows")
        self._new_features(names)
        if len(values) and self._ready(1):
            self._network.partial_fit(
                self._inputs(names, values), np.array(targets), shuffle=False, **self._step
            )
        self._refresh()

    def predict_many(self, X: Any) -> Any:
        import pandas as pd

        outputs = self._outputs(X)
        return pd.Series(np.zeros(len(X)) if outputs is None else outputs[:, 0], index=X.index)
