"""The Network model: construction, weights and their views, and the
computations of one network (predict, loss, backprop, gradient, an SGD
step); training hands over to ``fastbp.training``, files to
``fastbp._persistence``."""

from __future__ import annotations

import collections
import functools
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, BinaryIO, Concatenate, ParamSpec, TypeVar, cast

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from . import _backend, _buffers, _passes, _persistence, _sparse, _torch, training
from . import _validation as check
from ._names import ACTIVATIONS, LOSSES
from ._options import Options, Plan, unchanged
from ._state import Model, TrainingState
from .training import DivergenceError, History

__all__ = ["Network", "History", "Backprop", "DivergenceError", "load", "fit_stream"]

P = ParamSpec("P")
R = TypeVar("R")

Backprop = collections.namedtuple("Backprop", "signals outputs deltas gradients error")
Backprop.__doc__ = """Everything backpropagation computes for one example.

signals : list of L arrays, ``signals[l-1]`` is s^(l)
outputs : list of L+1 arrays, ``outputs[l]`` is x^(l) without the bias node
deltas : list of L arrays, ``deltas[l-1]`` is delta^(l) = de/ds^(l)
gradients : list of L arrays shaped like ``Network.weights``, de/dw_ij^(l)
error : float, e(h(x), y)
"""


def one_call_at_a_time(
    method: Callable[Concatenate[Network, P], R],
) -> Callable[Concatenate[Network, P], R]:
    """A training method of Network that raises RuntimeError while another
    training call on the same network runs: the training state belongs to
    one pass at a time."""

    @functools.wraps(method)
    def guarded(self: Network, *args: P.args, **kwargs: P.kwargs) -> R:
        if not self._model.lock.acquire(blocking=False):
            raise RuntimeError(
                f"{method.__name__}: this network is already training in another call (a "
                "callback, a stream's chunks or another thread); a network trains in one "
                "call at a time"
            )
        try:
            return method(self, *args, **kwargs)
        finally:
            self._model.lock.release()

    return guarded


class Network:
    """A fully connected network trained by backpropagation and per-example SGD.

    Notation follows Abu-Mostafa's "Learning From Data", lecture 10: layers
    l = 0..L with d[l] nodes, weights w_ij^(l) from node i of layer l-1 to
    node j of layer l, with a bias node x_0 = 1 in every layer but the last.

    Parameters
    ----------
    layers : sequence of int
        d[0..L]: input size, hidden layer sizes, output size.
    hidden : str or sequence of str, default "tanh"
        Activation of the hidden layers: one name for all, or one per hidden
        layer. One of "identity", "tanh", "sigmoid", "relu", "leaky_relu".
    output : str, default "identity"
        Activation of the output layer: a hidden activation, "softmax" or
        "exp" (x = e^s).
    loss : {"squared", "cross_entropy", "poisson"}, default "squared"
        Error of one example. Squared: e = 1/2 sum_k (x_k - y_k)^2.
        Cross-entropy needs a "sigmoid" or "softmax" output. Poisson (half
        the Poisson deviance, e = sum_k y_k log(y_k / x_k) - y_k + x_k, as
        scikit-learn's) needs an "exp" output and targets >= 0.
    dtype : {"float64", "float32"}, default "float64"
        Floating type of the weights and of all computation.
    seed : int or None, default 0
        Seed of the initial weights (Xavier/Glorot uniform, He normal before
        relu and leaky_relu; biases 0) and of the default shuffling in
        ``fit``. None draws a fresh seed, kept in ``Network.seed``.
    backend : {None, "compiled", "reference"}, default None
        None uses ``fastbp.BACKEND``; "compiled" raises ImportError where
        the extension is missing.
    weights : sequence of array_like, optional
        L arrays of shapes (d[l-1]+1, d[l]) instead of the seeded weights.

    Notes
    -----
    Sparse X (scipy.sparse CSR; CSC and COO converted once, never densified
    whole) is taken by ``fit``, ``partial_fit``, ``predict``, ``loss``,
    ``gradient`` and ``backprop``: an example costs its entries' rows of
    W^(1), whose signals are the bias row plus those rows times the entries,
    and whose update touches only them (Adam and Adagrad too, lazily, as
    torch's SparseAdam; momentum and SGD's weight decay exactly, catching
    up on one thread). Average, batch_size > 1 and momentum with
    weight_decay need dense X (docs/sparse.md).
    """

    def __init__(
        self,
        layers: Sequence[int],
        hidden: str | Sequence[str] = "tanh",
        output: str = "identity",
        loss: str = "squared",
        dtype: DTypeLike = "float64",
        seed: int | None = 0,
        backend: str | None = None,
        weights: Sequence[ArrayLike] | None = None,
    ) -> None:
        self._layers, self._hidden, self._output, self._loss = check.architecture(
            layers, hidden, output, loss
        )
        self._dtype = check.dtype(dtype)
        self._seed = check.seed(seed)
        if self._seed is None:
            self._seed = int(cast(int, np.random.SeedSequence().entropy) % 2**63)
        self._backend = _backend.get(backend)
        self._backend_name = backend or _backend.BACKEND

        # What the backends are handed: d[0..L], acts[l] for l = 1..L, the loss.
        names = ("identity",) + self._hidden + (self._output,)
        self._spec = (
            np.array(self._layers, dtype=np.intp),
            np.array([ACTIVATIONS.index(n) for n in names], dtype=np.intc),
            LOSSES.index(self._loss),
        )
        self._flat = _buffers.zeros(_buffers.n_weights(self._layers), self._dtype)
        self._weights = _buffers.blocks(self._flat, self._layers)
        if weights is None:
            _buffers.initialise(self._weights, self._layers, names[1:], self._seed)
        else:
            for W, given in zip(self._weights, check.weights(weights, self._weights)):
                W[...] = given
        # What training and persistence are handed; its predictor is x^(L)
        # of one example, its stepper sgd_step's update by the options of
        # the last call (made again when they or the state change).
        self._model = Model(
            network=self,
            flat=self._flat,
            layers=self._layers,
            dtype=self._dtype,
            loss_name=self._loss,
            seed=self._seed,
            backend=self._backend,
            spec=self._spec,
            requested_backend=backend,
            state=TrainingState(),
            lock=threading.Lock(),
            predictor=self._backend.Predictor(self._flat, *self._spec[:2]),
            stepper=None,
        )
        self._stepper_options = self._stepper_state = None
        self._options_given = self._options = None  # fit's and partial_fit's, checked

    # ------------------------------------------------------------ properties

    @property
    def layers(self) -> tuple[int, ...]:
        """d[0..L] as a tuple."""
        return self._layers

    @property
    def flat(self) -> np.ndarray:
        """All weights in one contiguous 1-D array (writable, never replaced)."""
        return self._flat

    @property
    def weights(self) -> list[np.ndarray]:
        """List of L writable views of ``flat``; ``weights[l-1]`` is W^(l),
        shape (d[l-1]+1, d[l]), row 0 the bias weights w_0j^(l)."""
        return list(self._weights)

    @property
    def backend(self) -> str:
        """ "compiled" or "reference"."""
        return self._backend_name

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def hidden(self) -> tuple[str, ...]:
        """Activation of each hidden layer, as a tuple."""
        return self._hidden

    @property
    def output(self) -> str:
        return self._output

    @property
    def loss_name(self) -> str:
        """ "squared", "cross_entropy" or "poisson" (``loss`` is the method)."""
        return self._loss

    @property
    def seed(self) -> int | None:
        return self._seed

    @property
    def training_state(self) -> TrainingState:
        """The ``fastbp.training.TrainingState`` that ``partial_fit``
        continues (velocity, average, last iterate, moments, progress): to read."""
        return self._model.state

    def __repr__(self):
        hidden = self._hidden[0] if len(set(self._hidden)) == 1 else list(self._hidden)
        return (
            f"Network({list(self._layers)}, hidden={hidden!r}, output={self._output!r}, "
            f"loss={self._loss!r}, dtype={self._dtype.name!r}, backend={self.backend!r})"
        )

    # ------------------------------------------------------------ input checks

    def _inputs(self, X, ndims=(1, 2)):
        return check.inputs(X, "X", self._dtype, ndims, self._layers[0])

    def _targets(self, Y, n_rows):
        return check.targets(
            Y, "Y" if n_rows else "y", self._dtype, self._layers[-1], n_rows, self._loss
        )

    def _example(self, x, y):
        if _sparse.issparse(x):  # one example: a row of d[0] values, densified
            if x.shape[0] != 1:
                raise ValueError(
                    f"x must be one example: a sparse x must have 1 row, got {x.shape[0]}"
                )
            x = check.inputs(x, "x", self._dtype, (2,), self._layers[0]).row(0)
        else:
            x = check.array(x, "x", self._dtype, (1,), self._layers[0])
        return x, self._targets(y, None)

    # ------------------------------------------------------------ computation

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Outputs x^(L) of the network.

        Parameters
        ----------
        X : array_like, shape (n, d[0]) or (d[0],), or a scipy.sparse matrix (n, d[0])

        Returns
        -------
        ndarray of shape (n, d[L]) for 2-D X, (d[L],) for one 1-D example.

        Notes
        -----
        One example that is already a C-contiguous array of the network's
        dtype costs little more than the call (no conversion, no copy).
        """
        out = self._model.predictor.predict(X)
        if out is not None:
            return out
        rows = self._inputs(X)
        one = getattr(rows, "ndim", 2) == 1
        out = _backend.forward(
            self._backend,
            self._flat,
            self._spec,
            self._weights,
            rows.reshape(1, -1) if one else rows,
        )
        return out[0] if one else out

    def loss(self, X: ArrayLike, Y: ArrayLike) -> float:
        """Mean error e(h(x_n), y_n) over the examples (rows of X).

        Y has shape (n, d[L]), or (n,) where d[L] == 1.
        """
        rows = self._inputs(X, (2,))
        return training.mean_loss(self._model, self._flat, rows, self._targets(Y, rows.shape[0]))

    def backprop(self, x: ArrayLike, y: ArrayLike) -> Backprop:
        """Backpropagation of one example x (d[0],), y (d[L],) or a number
        where d[L] == 1, leaving the weights unchanged: a ``Backprop`` of
        s^(1..L), x^(0..L) (no bias nodes), delta^(1..L), de/dW^(1..L) =
        x^(l-1) delta^(l)T and the error e."""
        inputs, targets = self._example(x, y)
        n_s = sum(self._layers[1:])
        signals = np.empty(n_s, dtype=self._dtype)
        deltas = np.empty(n_s, dtype=self._dtype)
        outputs = np.empty(sum(self._layers), dtype=self._dtype)
        grad = np.zeros_like(self._flat)
        error = self._backend.backprop(
            self._flat, *self._spec, inputs, targets, signals, outputs, deltas, grad
        )
        split = _buffers.split
        return Backprop(
            split(signals, self._layers[1:]),
            split(outputs, self._layers),
            split(deltas, self._layers[1:]),
            _buffers.blocks(grad, self._layers),
            float(error),
        )

    def gradient(self, X: ArrayLike, Y: ArrayLike) -> list[np.ndarray]:
        """de/dW^(l) for every layer, shaped like ``weights``: for 2-D X the
        mean over the examples."""
        rows = self._inputs(X)
        if getattr(rows, "ndim", 2) == 1:
            rows, targets = rows.reshape(1, -1), self._targets(Y, None).reshape(1, -1)
        else:
            targets = self._targets(Y, rows.shape[0])
        weights = np.full(rows.shape[0], 1.0 / rows.shape[0], dtype=self._dtype)
        _, grad = training.loss_and_gradient(self._model, self._flat, rows, targets, weights)
        return _buffers.blocks(grad, self._layers)

    # ------------------------------------------------------------ training

    @one_call_at_a_time
    def sgd_step(
        self,
        x: ArrayLike,
        y: ArrayLike,
        lr: float = 0.01,
        *,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        lr_schedule: str = "constant",
        power_t: float = 0.25,
        clip: float | None = None,
        optimizer: str = "sgd",
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
    ) -> float:
        """One in-place update on one example, continuing the training state.

        w_ij^(l) <- w_ij^(l) - lr * x_i^(l-1) * delta_j^(l) for plain SGD; the
        options are ``partial_fit``'s, whose training state (velocity,
        moments, the update count of the schedules) it carries on exactly:
        n calls on the rows of (X, Y) leave the network as
        ``partial_fit(X, Y, shuffle=False)`` with the same options does.

        Parameters
        ----------
        x : array_like, shape (d[0],), or a sparse matrix of one row
        y : array_like, shape (d[L],), or a number where d[L] == 1
        lr : float > 0, default 0.01
        momentum, nesterov, weight_decay, lr_schedule, power_t, clip,
        optimizer, beta_1, beta_2, epsilon
            As for ``fit``; lr_schedule "constant", "invscaling" or "optimal".

        Returns
        -------
        float
            The error e on the example before the update.

        Raises
        ------
        DivergenceError
            Where that error or the updated weights are not finite; the
            network is left as it was.

        Notes
        -----
        The options are checked on the first call and again only when
        they change; x and y on every call.  An x that is already a
        C-contiguous array of the network's dtype, and a y that is a float
        or such an array, are used as they are: the call costs little more
        than a Python call (``benchmarks/bench_online.py``).
        """
        given = (
            lr,
            momentum,
            nesterov,
            weight_decay,
            lr_schedule,
            power_t,
            clip,
            optimizer,
            beta_1,
            beta_2,
            epsilon,
        )
        stepper = self._model.stepper
        if (
            stepper is None
            or not unchanged(given, self._stepper_options)
            or self._stepper_state is not self._model.state
        ):
            stepper = self._make_stepper(given)
        error = stepper.step(x, y)
        if error is None:  # not in the form the step reads: convert, check
            error = stepper.step(*self._example(x, y))
        if error != error:
            raise DivergenceError(
                f"training diverged in sgd_step: the error or the weights became non-finite "
                f"(lr={lr}); the network is as it was before the step. Try a smaller lr, or "
                f"scale the inputs and targets."
            )
        return error

    def _make_stepper(self, given):
        """The backend's Stepper for sgd_step's options ``given`` (checked
        here), on the current training state."""
        names = (
            "lr",
            "momentum",
            "nesterov",
            "weight_decay",
            "lr_schedule",
            "power_t",
            "clip",
            "optimizer",
            "beta_1",
            "beta_2",
            "epsilon",
        )
        options = Options.check(**dict(zip(names, given)))
        if options.lr_schedule == "adaptive":
            raise ValueError(
                "lr_schedule='adaptive' changes lr between epochs; sgd_step takes "
                "'constant', 'invscaling' or 'optimal'"
            )
        state = self._model.state
        state.iterate = None  # the step starts from the weights predict uses
        velocity, moments = _passes.state_arrays(self._model, options)
        self._model.stepper = self._backend.Stepper(
            self._flat,
            *self._spec,
            options,
            Plan(moments_from=state.progress["moments_from"]),
            velocity,
            moments,
            state.progress,
        )
        self._stepper_options, self._stepper_state = given, state
        return self._model.stepper

    @one_call_at_a_time
    def fit(
        self,
        X: ArrayLike,
        Y: ArrayLike,
        epochs: int = 10,
        lr: float = 0.01,
        shuffle: bool = True,
        seed: int | None = None,
        verbose: bool = False,
        *,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        lr_schedule: str = "constant",
        power_t: float = 0.25,
        average: bool | int = False,
        batch_size: int = 1,
        sample_weight: ArrayLike | None = None,
        clip: float | None = None,
        validation_data: tuple[ArrayLike, ArrayLike] | None = None,
        validation_fraction: float | None = None,
        early_stopping: bool = False,
        patience: int = 5,
        tol: float = 1e-4,
        restore_best: bool = True,
        callbacks: Sequence[Callable[..., Any]] = (),
        n_threads: int = 1,
        parallel: str | None = None,
        optimizer: str = "sgd",
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
    ) -> History:
        """Train by per-example stochastic gradient descent, in place.

        Every epoch visits each example once and updates the weights after
        each one (each mini-batch where ``batch_size`` > 1): w_ij^(l) <-
        w_ij^(l) - lr * (x_i^(l-1) * delta_j^(l) + weight_decay * w_ij^(l)),
        no decay on the bias row.  ``fit`` starts a fresh training state
        (``training_state``); ``partial_fit`` continues it.

        Parameters
        ----------
        X : array_like or scipy.sparse matrix, shape (n, d[0])
            In memory, or out of core (an ``np.memmap``, or an array-like
            with ``shape``, ``dtype`` and row slicing: h5py, zarr), read 16
            MiB of rows at a time, shuffled by chunks and within each chunk;
            or sparse (see the class's notes).
        Y : array_like, shape (n, d[L]), or (n,) where d[L] == 1
        epochs, lr : int >= 1, float > 0, default 10, 0.01
        shuffle : bool, default True
            A fresh order every epoch, drawn from (seed, number of the pass).
        seed : int, optional
            Seed of the shuffling; None uses the network's seed.
        verbose : bool, default False
            Progress bars (tqdm, on stderr).
        momentum : float in [0, 1), default 0
            Classical momentum: v <- momentum * v - lr * g, w <- w + v.
        nesterov : bool, default False
            Nesterov's momentum (needs momentum > 0), as torch.optim.SGD.
        weight_decay : float >= 0, default 0
        optimizer : {"sgd", "adam", "adagrad"}, default "sgd"
            Adam as scikit-learn's (bias-corrected) or Adagrad as torch's,
            per example or mini-batch, one thread.
        beta_1, beta_2, epsilon : float, default 0.9, 0.999, 1e-8
            Adam's moment decays; the guard of both against division by 0.
        lr_schedule : {"constant", "invscaling", "optimal", "adaptive"}
            The rate of update t = 1, 2, ...: lr; lr / t**power_t; lr / (1 +
            lr * weight_decay * (t - 1)); or lr / 5 after ``patience``
            epochs without an improvement of the (validation) loss by ``tol``.
        power_t : float >= 0, default 0.25
        average : bool or int, default False
            Averaged SGD from the first (True) or the given update on.
        batch_size : int >= 1, default 1
            b > 1 updates once per b consecutive examples, with the mean gradient.
        sample_weight : array_like of shape (n,), optional
            Weights >= 0, each scaling its example's delta^(L) and error.
        clip : float > 0, optional
            Clip each component of delta^(L) to [-clip, clip] (before the weight).
        validation_data : (Xv, Yv), optional
            Examples of ``History.val_loss``, after every epoch.
        validation_fraction : float in (0, 1), optional
            Or hold out this fraction of (X, Y), drawn from the seed.
        early_stopping : bool, default False
            Stop after ``patience`` epochs without a validation loss better by
            ``tol`` (holding out 0.1 without validation data).
        patience, tol : int >= 1, float >= 0, default 5, 1e-4
        restore_best : bool, default True
            After early stopping, the weights of the best validation loss.
        callbacks : sequence of callables
            ``callback(network, epoch, logs)`` after every epoch (``logs``:
            "loss", "lr", "val_loss"); returning False stops training.
        n_threads : int, default 1
            1: the serial pass. n > 1 threads (at most 4 per core; -1: one
            per CPU this process may run on, at most OMP_NUM_THREADS) with
            "copies": reproducible bit for bit, the same for any n > 1 and
            on the reference backend (docs/scale.md); with "hogwild", not.
            One thread with average or Adam, Adagrad on dense X, and
            momentum or weight decay on sparse X.
        parallel : {"copies", "hogwild", None}, default None
            "copies": each round's shards of examples train copies of the
            weights, whose changes are added in the shards' order;
            "hogwild": the threads train the shared weights, unlocked.
            None: "copies".

        Returns
        -------
        History

        Raises
        ------
        RuntimeError
            If the network is training in another call already.
        DivergenceError
            If the error or the weights become non-finite; the network keeps
            the weights of the end of the last finished epoch.
        """
        options = self._checked_options(
            lr,
            momentum,
            nesterov,
            weight_decay,
            clip,
            lr_schedule,
            power_t,
            patience,
            tol,
            average,
            batch_size,
            n_threads,
            parallel,
            optimizer,
            beta_1,
            beta_2,
            epsilon,
        )
        self._model.stepper = None  # a pass may replace the state's buffers
        return training.fit(
            self._model,
            X,
            Y,
            epochs,
            options,
            shuffle,
            seed,
            verbose,
            sample_weight,
            validation_data,
            validation_fraction,
            early_stopping,
            restore_best,
            callbacks,
            fresh=True,
        )

    @one_call_at_a_time
    def partial_fit(
        self,
        X: ArrayLike,
        Y: ArrayLike,
        lr: float = 0.01,
        shuffle: bool = True,
        seed: int | None = None,
        *,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        lr_schedule: str = "constant",
        power_t: float = 0.25,
        average: bool | int = False,
        batch_size: int = 1,
        sample_weight: ArrayLike | None = None,
        clip: float | None = None,
        validation_data: tuple[ArrayLike, ArrayLike] | None = None,
        patience: int = 5,
        tol: float = 1e-4,
        callbacks: Sequence[Callable[..., Any]] = (),
        n_threads: int = 1,
        parallel: str | None = None,
        optimizer: str = "sgd",
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
    ) -> History:
        """One training pass over the examples, continuing the training state
        (``training_state``: velocity, moments, averages, counters) of
        earlier ``fit``/``partial_fit`` calls.

        Same arguments as ``fit`` without ``epochs``, ``verbose`` and the
        early-stopping ones; returns a one-epoch History.
        """
        options = self._checked_options(
            lr,
            momentum,
            nesterov,
            weight_decay,
            clip,
            lr_schedule,
            power_t,
            patience,
            tol,
            average,
            batch_size,
            n_threads,
            parallel,
            optimizer,
            beta_1,
            beta_2,
            epsilon,
        )
        self._model.stepper = None  # a pass may replace the state's buffers
        return training.fit(
            self._model,
            X,
            Y,
            1,
            options,
            shuffle,
            seed,
            False,
            sample_weight,
            validation_data,
            None,
            False,
            True,
            callbacks,
            fresh=False,
        )

    def _checked_options(self, *given):
        """The Options of fit's or partial_fit's arguments ``given``, checked
        once while they are unchanged."""
        if not unchanged(given, self._options_given):
            self._options, self._options_given = Options.check(*given), given
        return self._options

    # ------------------------------------------------------------ persistence

    def __getstate__(self):
        return _persistence.stored(self._model, copies=True)

    def __setstate__(self, state):
        checked = _persistence.check_state(state)
        self.__dict__.update(_persistence.restored(type(self), checked).__dict__)
        self._model.network = self

    def save(self, path: str | os.PathLike[str] | BinaryIO) -> None:
        """Save to ``path`` (a path, written as given, or a binary file), an
        .npz archive that ``fastbp.load`` reads: the weights bit for bit, the
        training state and JSON metadata with a format version; nothing pickled."""
        _persistence.write(path, _persistence.stored(self._model))

    def to_torch(self) -> Any:
        """The network as a PyTorch ``torch.nn.Sequential`` (needs torch): layer
        l is ``nn.Linear(d[l-1], d[l])`` (weight W^(l)[1:].T, bias W^(l)[0])
        and its activation's module; the loss is not part of it."""
        return _torch.to_sequential(self)

    @classmethod
    def from_torch(
        cls, module: Any, loss: str | None = None, dtype: DTypeLike | None = None, **kwargs: Any
    ) -> Network:
        """A Network with the layers and weights of a ``torch.nn.Sequential``
        of Linear layers and activations as ``to_torch`` writes them; ``loss``
        None is "cross_entropy" after a Softmax, else "squared"; ``dtype``
        None follows the parameters; ``kwargs`` go to ``Network``."""
        return _torch.from_sequential(cls, module, loss, dtype, **kwargs)


def load(
    path: str | os.PathLike[str] | BinaryIO,
    backend: str | None = None,
    *,
    max_inflation: float = _persistence.INFLATION_BOUND,
) -> Network:
    """Load a network saved by ``Network.save``.

    The file is checked before it is trusted: every field of its metadata,
    the arrays' dtypes and shapes against the declared network (before any
    array is read), their values (no NaN or infinity) and the training
    state's consistency.  Nothing is unpickled.

    Parameters
    ----------
    path : str, bytes, path-like or readable binary file
    backend : {None, "compiled", "reference"}
        Backend of the loaded network; None keeps the saved choice.
    max_inflation : float or None, default 16
        The members read may hold at most this many times the file's size
        in all: a compressed (re-zipped) file inflates, one that fastbp
        wrote does not.  So what loading allocates is bounded by about
        twice this multiple of the file's size.  None: no bound.

    Raises
    ------
    ValueError
        If the file is damaged, foreign or not valid ("not a valid fastbp
        model file: ..."), whatever is wrong with it.
    OSError
        If the file cannot be opened, or is not a regular file.
    TypeError
        If ``path`` is neither a path nor a readable binary file.
    """
    if backend is not None:
        _backend.get(backend)  # a bad name is the caller's error
    if max_inflation is not None:
        max_inflation = check.positive_real(max_inflation, "max_inflation")
    return _persistence.restored(Network, _persistence.read(path, (), max_inflation)[0], backend)


def fit_stream(
    network: Network,
    chunks: Iterable[Any],
    lr: float = 0.01,
    shuffle: bool = True,
    seed: int | None = None,
    **options: Any,
) -> History:
    """Train ``network`` on one pass over ``chunks``, in place.

    For data that comes in pieces: files read one by one, a database cursor,
    a generator. Only one chunk is in memory at a time (besides what the
    iterable itself keeps). Like ``Network.partial_fit``, it continues the
    training state, so calling it again on the same data is another epoch.

    Parameters
    ----------
    network : Network
    chunks : iterable
        Of (X, Y) pairs, or (X, Y, sample_weight) triples, each as
        ``partial_fit`` takes them. With ``batch_size`` > 1, a chunk's last
        mini-batch is cut short where the chunk's size is not a multiple.
    lr, shuffle, seed
        As for ``partial_fit``. ``shuffle`` permutes the rows within each
        chunk (the order of the chunks is the iterable's), with a
        permutation drawn from (seed, number of the pass, chunk).
    **options
        The keyword arguments of ``partial_fit`` (momentum, n_threads,
        validation_data, callbacks, ...), except sample_weight.

    Returns
    -------
    History
        One epoch; ``loss`` is the mean error over all the chunks' examples.
    """
    stream = training.stream(model_of(network, "network"), chunks)
    return network.partial_fit(stream, cast(Any, None), lr, shuffle, seed, **options)


def model_of(network: Network, name: str = "network") -> Model:
    """What ``network`` hands training and persistence (fastbp._state.Model),
    for the modules that get a Network (TypeError naming ``name`` for
    anything else)."""
    if not isinstance(network, Network):
        raise TypeError(f"{name} must be a fastbp.Network, got {type(network).__name__}")
    return network._model
