"""Network's training methods: ``sgd_step`` (one example) and ``fit``,
``partial_fit`` (passes), their options checked here and handed to the
backend's Stepper or to ``fastbp.training``.  ``fastbp.Network`` inherits
them; they read its Model (``fastbp._state.Model``) and nothing else of
it."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar

from numpy.typing import ArrayLike

from . import _passes, training
from . import _validation as check
from ._options import Options, Plan, unchanged
from ._state import Model
from .training import DivergenceError, History

P = ParamSpec("P")
R = TypeVar("R")


def one_call_at_a_time(
    method: Callable[Concatenate[TrainingMethods, P], R],
) -> Callable[Concatenate[TrainingMethods, P], R]:
    """A training method of Network that raises RuntimeError while another
    training call on the same network runs: the training state belongs to
    one pass at a time."""

    @functools.wraps(method)
    def guarded(self: TrainingMethods, *args: P.args, **kwargs: P.kwargs) -> R:
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


class TrainingMethods:
    """The training methods of ``fastbp.Network`` (which see)."""

    _model: Model
    # sgd_step's options and training state when its Stepper was made;
    # fit's and partial_fit's arguments and their checked Options
    _stepper_options: tuple | None = None
    _stepper_state: Any = None
    _options_given: tuple | None = None
    _options: Options | None = None

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
            model = self._model
            error = stepper.step(*check.example(x, y, model.dtype, model.layers, model.loss_name))
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
        model = self._model
        state = model.state
        state.iterate = None  # the step starts from the weights predict uses
        velocity, moments = _passes.state_arrays(model, options)
        model.stepper = model.backend.Stepper(
            model.flat,
            *model.spec,
            options,
            Plan(moments_from=state.progress["moments_from"]),
            velocity,
            moments,
            state.progress,
        )
        self._stepper_options, self._stepper_state = given, state
        return model.stepper

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
