"""Training a network: the epoch loop, validation and early stopping, and
the stream of ``fit_stream`` (the checked options are fastbp._options', one
pass in chunks is fastbp._passes').

This module works on the ``Model`` (fastbp._state) that a Network hands it
and does not import ``fastbp.network``.
"""

import concurrent.futures
import time

import numpy as np

from . import _buffers, _data, _parallel
from . import _validation as check
from ._options import Options
from ._passes import DivergenceError, run_pass
from ._state import TrainingState

__all__ = ["DivergenceError", "History", "Options", "TrainingState"]

# verbose=True shows a bar within epochs of at least this many examples.
LONG_EPOCH = 100_000


class History:
    """What ``fit`` measured, one entry per epoch in each list.

    Attributes
    ----------
    loss : list of float
        Mean training error over the epoch, each example's error taken just
        before its update (as scikit-learn's ``loss_curve_``).
    val_loss : list of float
        Mean validation error after each epoch (empty without validation data).
    lr : list of float
        Learning rate of each epoch's last update (with a per-update
        schedule it falls within the epoch).
    seconds : list of float
        Wall-clock time of each epoch's training pass.
    examples_per_second : list of float
        Training examples per second of each epoch.
    stopped_early : bool
        Whether early stopping ended training before its last epoch.
    best_epoch : int or None
        With early stopping: the epoch (1, 2, ...) whose weights were kept
        (restore_best) or the best epoch seen; else None.
    """

    loss: list[float]
    val_loss: list[float]
    lr: list[float]
    seconds: list[float]
    examples_per_second: list[float]
    stopped_early: bool
    best_epoch: int | None

    def __init__(self) -> None:
        self.loss, self.val_loss, self.lr = [], [], []
        self.seconds, self.examples_per_second = [], []
        self.stopped_early, self.best_epoch = False, None

    @property
    def epochs(self) -> int:
        """Number of epochs recorded."""
        return len(self.loss)

    def __repr__(self):
        last = f", last loss {self.loss[-1]:.6g}" if self.loss else ""
        return f"<History: {self.epochs} epochs{last}>"


# ---------------------------------------------------------------- fit


def fit(
    model,
    X,
    Y,
    epochs,
    options,
    shuffle,
    seed,
    verbose=False,
    sample_weight=None,
    validation_data=None,
    validation_fraction=None,
    early_stopping=False,
    restore_best=True,
    callbacks=(),
    fresh=True,
):
    """What ``Network.fit`` (``fresh``: a fresh training state) and
    ``partial_fit`` do with their checked ``options`` (an Options)."""
    epochs = check.integer(epochs, "epochs", 1)
    source = _source(model, X, Y, sample_weight, options.batch_size)
    shuffle = check.boolean(shuffle, "shuffle")
    seed = model.seed if check.seed(seed) is None else seed
    verbose = check.boolean(verbose, "verbose")
    stopping = None
    restore_best = check.boolean(restore_best, "restore_best")  # checked even when unused
    if check.boolean(early_stopping, "early_stopping"):
        stopping = EarlyStopping(options.patience, options.tol, restore_best)
        if validation_data is None and validation_fraction is None:
            validation_fraction = 0.1
    source, validation = _validation(model, source, validation_data, validation_fraction, seed)
    callbacks = _callables(callbacks)
    if fresh:
        model.state = TrainingState()
    return _epochs(
        model, source, epochs, options, shuffle, seed, verbose, validation, stopping, callbacks
    )


def stream(model, chunks):
    """The blocks of ``fit_stream``'s ``chunks``, checked for ``model`` as
    they come."""
    return _data.Stream(
        chunks,
        lambda X, Y, where: checked_block(model, X, Y, where),
        lambda weights, n: sample_weights(model, weights, n),
    )


def mean_loss(model, flat, X, Y):
    """Mean error of the weights ``flat`` on checked (X, Y)."""
    return float(model.backend.loss(flat, *model.spec, X, Y) / len(X))


def loss_and_gradient(model, flat, X, Y, weights, n_threads=1):
    """The weighted sums over the rows of checked (X, Y) of the errors and of
    their gradients de/dw (laid out like ``flat``): sum_r weights[r] e_r and
    sum_r weights[r] de_r/dw, the rows shared among ``n_threads`` threads
    (-1: fastbp._parallel.every_cpu), each adding into a gradient of its own."""
    if n_threads == -1:
        n_threads = _parallel.every_cpu(model.backend)
    n = X.shape[0]
    n_threads = max(1, min(n_threads, n))
    bounds = np.linspace(0, n, n_threads + 1).astype(np.intp)

    def rows(start, stop):
        grad = np.zeros_like(flat)
        error = model.backend.gradient(
            flat, *model.spec, X[start:stop], Y[start:stop], weights[start:stop], grad
        )
        return error, grad

    if n_threads == 1:
        parts = [rows(0, n)]
    else:  # the compiled core releases the GIL for the rows
        with concurrent.futures.ThreadPoolExecutor(n_threads) as pool:
            parts = list(pool.map(rows, bounds[:-1], bounds[1:]))
    grad = parts[0][1]
    for _, more in parts[1:]:
        grad += more
    return float(sum(error for error, _ in parts)), grad


# ---------------------------------------------------------------- data


def _source(model, X, Y, sample_weight, batch_size):
    """Where training reads (X, Y) and the sample weights from: in memory,
    checked now; an out-of-core array-like, checked chunk by chunk (of
    whole mini-batches); or a fit_stream's chunks."""
    if isinstance(X, _data.Stream):
        if sample_weight is not None:
            raise TypeError(
                "fit_stream takes sample weights in the chunks, as (X, Y, sample_weight) triples"
            )
        return X
    if not _data.out_of_core(X):
        X, Y = checked_block(model, X, Y, "")
        return _data.InMemory(X, Y, sample_weights(model, sample_weight, X.shape[0]))
    shape = tuple(getattr(X, "shape", ()))
    d_in = model.layers[0]
    if len(shape) != 2 or shape[1] != d_in or shape[0] == 0:
        raise ValueError(f"X must have shape (n, {d_in}) with n >= 1, got shape {shape}")
    if not hasattr(Y, "__getitem__") or not hasattr(Y, "__len__") or len(Y) != shape[0]:
        raise ValueError(f"Y must have as many rows as X ({shape[0]}) and slice like it")
    rows = _parallel.whole_batches(
        max(1, _data.CHUNK_BYTES // (shape[1] * model.dtype.itemsize)), batch_size
    )
    return _data.Chunked(
        X,
        Y,
        sample_weights(model, sample_weight, shape[0]),
        rows,
        lambda X, Y, where, n: checked_block(model, X, Y, where, n),
    )


def checked_block(model, X, Y, where, n_rows=None, names=("X", "Y")):
    """Rows (X, Y) for ``network``, checked: ``n_rows`` rows where given
    (what a slice of an array-like must give).  Errors name them ``names``
    followed by ``where``."""
    X = check.inputs(X, names[0] + where, model.dtype, (2,), model.layers[0])
    if n_rows is not None and X.shape[0] != n_rows:
        raise ValueError(
            f"X{where} gave {X.shape[0]} rows, not {n_rows}: slicing X must give the rows asked for"
        )
    return X, check.targets(
        Y, names[1] + where, model.dtype, model.layers[-1], X.shape[0], model.loss_name
    )


def sample_weights(model, value, n_rows):
    """The weights as an (n_rows,) array of the network's dtype, or None
    (all examples weigh 1)."""
    if value is None:
        return None
    weights = check.array(value, "sample_weight", model.dtype, (1,), n_rows)
    if (weights < 0).any():
        raise ValueError("sample_weight must be >= 0")
    return weights


def _validation(model, source, data, fraction, seed):
    """(training source, (Xv, Yv) or None): the training and the
    validation examples."""
    if data is not None and fraction is not None:
        raise ValueError("give validation_data or validation_fraction, not both")
    if data is not None:
        if not isinstance(data, (tuple, list)) or len(data) != 2:
            raise TypeError("validation_data must be a pair (Xv, Yv)")
        return source, checked_block(
            model, data[0], data[1], "", names=("validation_data[0]", "validation_data[1]")
        )
    if fraction is None:
        return source, None
    if not isinstance(source, _data.InMemory):
        raise ValueError(
            "validation_fraction (and early_stopping without validation_data) "
            "needs X in memory; give validation_data instead"
        )
    X, Y, weights = source.X, source.Y, source.weights
    fraction = check.real_in(fraction, "validation_fraction", 0.0, 1.0)
    n_held = int(round(fraction * X.shape[0]))
    if not 0 < n_held < X.shape[0]:
        raise ValueError(
            f"validation_fraction={fraction} of {X.shape[0]} examples leaves "
            "no validation or no training example"
        )
    held = np.zeros(X.shape[0], dtype=bool)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
    held[rng.choice(X.shape[0], n_held, replace=False)] = True
    kept = None if weights is None else weights[~held]
    return _data.InMemory(X[~held], Y[~held], kept), (X[held], Y[held])


# ---------------------------------------------------------------- epochs


def _improved(record, loss, tol):
    """Record an epoch's loss in ``record`` (keys "best_loss", "waited"):
    True if it beats the best by more than ``tol``, else one more epoch
    without improvement is counted in "waited"."""
    if record["best_loss"] is None or loss < record["best_loss"] - tol:
        record["best_loss"], record["waited"] = loss, 0
        return True
    record["waited"] += 1
    return False


class EarlyStopping:
    """Watches the validation loss; keeps the weights and state of the best epoch."""

    def __init__(self, patience, tol, restore_best):
        self.patience, self.tol, self.restore_best = patience, tol, restore_best
        self.record = {"best_loss": None, "waited": 0}
        self.best, self.best_epoch = None, None

    def update(self, model, val_loss, epoch):
        """Record epoch number ``epoch``; True when training should stop."""
        if _improved(self.record, val_loss, self.tol):
            self.best_epoch = epoch
            if self.restore_best:
                self.best = (model.flat.copy(), model.state.copy())
            return False
        return self.record["waited"] >= self.patience

    def finish(self, model):
        if self.best is not None:
            model.flat[...] = self.best[0]
            model.state = self.best[1]


def _callables(callbacks):
    if callable(callbacks) or not hasattr(callbacks, "__iter__"):
        raise TypeError("callbacks must be a sequence of callables")
    callbacks = list(callbacks)
    for i, callback in enumerate(callbacks):
        if not callable(callback):
            raise TypeError(f"callbacks[{i}] must be callable, got {type(callback).__name__}")
    return callbacks


def _epochs(
    model, source, epochs, options, shuffle, seed, verbose, validation, stopping, callbacks
):
    """The epoch loop: passes, History, validation, the adaptive rate,
    early stopping and callbacks."""
    history = History()
    state = model.state
    progress = state.progress
    if state.iterate is not None:  # continue from the last iterate
        model.flat[...] = state.iterate
        state.iterate = None
    if not options.average:
        state.average = None
    elif state.average is None:
        state.average = _buffers.zeros(len(model.flat), model.dtype)
    bar = _bar(epochs, "epochs", leave=True) if verbose else None
    kept = []  # the state from before a pass
    for epoch in range(1, epochs + 1):
        # the order of the p-th pass of a training run is drawn from (seed, p)
        # (one example has one order: no generator to make)
        rng = (
            np.random.default_rng((seed, progress["passes"]))
            if shuffle and getattr(source, "n", 2) > 1
            else None
        )
        if options.lr_schedule == "adaptive":
            progress["adaptive_lr"] = progress["adaptive_lr"] or options.lr
            options = options.with_lr(progress["adaptive_lr"])
        start = time.perf_counter()
        n = getattr(source, "n", 0)
        inner = _bar(n, f"epoch {epoch}", leave=False) if bar and n >= LONG_EPOCH else None
        try:
            total, n = run_pass(
                model,
                source.blocks(rng),
                options,
                f"epoch {epoch}",
                inner.update if inner else None,
                kept,
                n if isinstance(source, _data.InMemory) else 0,
            )
        finally:
            if inner:
                inner.close()
        seconds = time.perf_counter() - start
        if n == 0:
            raise ValueError("chunks held no examples")
        progress["passes"] += 1
        logs = {"loss": total / n, "lr": options.lr_of_update(progress["updates"])}
        history.loss.append(total / n)
        history.lr.append(logs["lr"])
        history.seconds.append(seconds)
        history.examples_per_second.append(n / seconds if seconds > 0 else float("inf"))
        if validation is not None:
            logs["val_loss"] = mean_loss(model, _predicting(model, options), *validation)
            history.val_loss.append(logs["val_loss"])
        if bar:
            bar.set_postfix({key: f"{value:.4g}" for key, value in logs.items()}, refresh=False)
            bar.update(1)
        if options.lr_schedule == "adaptive":
            _adapt_lr(progress, logs.get("val_loss", logs["loss"]), options)
        stop = stopping is not None and stopping.update(model, logs["val_loss"], epoch)
        history.stopped_early = bool(stop) and epoch < epochs
        answers = [callback(model.network, epoch, logs) for callback in callbacks]  # all run
        if stop or any(answer is False for answer in answers):
            break
    if bar:
        bar.close()
    if stopping is not None:
        stopping.finish(model)
        history.best_epoch = stopping.best_epoch
    state = model.state
    if _predicting(model, options) is state.average:
        state.iterate = _buffers.copy(model.flat)  # predict uses the average from now on
        model.flat[...] = state.average
    return history


def _predicting(model, options):
    """The averaged weights once averaging has begun, else flat."""
    started = options.average and model.state.progress["updates"] >= options.average
    return model.state.average if started else model.flat


def _adapt_lr(progress, loss, options):
    """The "adaptive" schedule after an epoch: lr / 5 after ``patience``
    epochs without an improvement of the loss by ``tol``."""
    if not _improved(progress, loss, options.tol) and progress["waited"] >= options.patience:
        progress["adaptive_lr"] /= 5
        progress["waited"] = 0


def _bar(total, description, leave):
    """A tqdm progress bar on stderr (tqdm is imported only when wanted)."""
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        desc=description,
        leave=leave,
        unit="epoch" if leave else "ex",
        unit_scale=not leave,
        dynamic_ncols=True,
    )
