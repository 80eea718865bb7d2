"""Training a network: the update rule's options, the epoch loop,
validation and early stopping, and ``fit_stream`` (one pass in chunks is
fastbp._passes').

This module works on the network it is given and does not import
``fastbp.network``.  It uses of a network: ``flat``, ``dtype``, ``layers``,
``loss_name``, ``seed``, ``_backend`` (the backend module), ``_spec``
(d[0..L], the activation codes and the loss code, as the backends take them)
and ``_state`` (its TrainingState).
"""

import concurrent.futures
import functools
import os
import time

import numpy as np

from . import _buffers, _data, _parallel, _sparse
from . import _validation as check
from ._names import SCHEDULES, scheduled_lr
from ._passes import OPTIMIZERS, DivergenceError, run_pass

__all__ = ["DivergenceError", "History", "Rule", "TrainingState", "fit_stream"]

# verbose=True shows a bar within epochs of at least this many examples.
LONG_EPOCH = 100_000
# The counters of a fresh training state (see TrainingState).
FRESH_PROGRESS = {"passes": 0, "updates": 0, "adaptive_lr": None, "best_loss": None,
                  "waited": 0, "optimizer": None, "moments_from": 0}


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

    def __init__(self):
        self.loss, self.val_loss, self.lr = [], [], []
        self.seconds, self.examples_per_second = [], []
        self.stopped_early, self.best_epoch = False, None

    @property
    def epochs(self):
        """Number of epochs recorded."""
        return len(self.loss)

    def __repr__(self):
        last = f", last loss {self.loss[-1]:.6g}" if self.loss else ""
        return f"<History: {self.epochs} epochs{last}>"


class TrainingState:
    """What ``partial_fit`` continues and ``fit`` starts afresh.

    Attributes
    ----------
    velocity : ndarray or None
        Momentum's v, laid out like ``flat`` (from the first pass with momentum).
    average : ndarray or None
        Averaged SGD's running mean of the weights, laid out like ``flat``.
    iterate : ndarray or None
        The last iterate of averaged SGD, while ``flat`` holds the average.
    moments : ndarray or None
        Adam's m and v (each laid out like ``flat``, one after the other) or
        Adagrad's sums of squared gradients, of the optimizer progress names.
    progress : dict
        "passes" of this training run (they seed the shuffles), "updates"
        (the t of the schedules, of averaging and of Adam's bias correction),
        the "adaptive" schedule's current lr ("adaptive_lr"), "best_loss" and
        epochs without improvement ("waited"), the "optimizer" whose moments
        these are and the update count they started at ("moments_from":
        Adam's bias correction counts its own steps).
    """

    ARRAYS = ("velocity", "average", "iterate", "moments")

    def __init__(self, velocity=None, average=None, iterate=None, moments=None, progress=None):
        self.velocity, self.average, self.iterate = velocity, average, iterate
        self.moments = moments
        self.progress = dict(FRESH_PROGRESS if progress is None else progress)

    def copy(self):
        """A copy, its buffers on cache lines."""
        return TrainingState(*(_buffers.copy(getattr(self, name)) for name in self.ARRAYS),
                             self.progress)


class Rule:
    """The update rule of one training call, checked (see ``Network.fit``).

    The backends' ``train_pass`` reads its attributes: lr, momentum,
    nesterov, weight_decay, clip (0: off), schedule (a code of SCHEDULES),
    power_t, average (the update averaging starts at; 0: off), batch_size,
    optimizer ("sgd", "adam", "adagrad"), beta_1, beta_2, epsilon, and what
    a pass sets: moments_from (the update the moments started at), threads
    and round (examples a thread trains between exchanges with
    parallel="copies", or "hogwild" on sparse X; 0: no exchanges), whether
    X is sparse, and the mode a pass runs in
    (``parallel``, or for parallel=None "hogwild" on sparse X, else "copies").
    """

    def __init__(self, lr, momentum=0.0, nesterov=False, weight_decay=0.0, clip=0.0,
                 lr_schedule="constant", power_t=0.25, patience=5, tol=1e-4, average=0,
                 batch_size=1, n_threads=1, parallel=None, optimizer="sgd", beta_1=0.9,
                 beta_2=0.999, epsilon=1e-8):
        self.optimizer, self.beta_1, self.beta_2 = optimizer, beta_1, beta_2
        self.epsilon = epsilon
        self.lr, self.momentum, self.nesterov = lr, momentum, nesterov
        self.weight_decay, self.clip, self.power_t = weight_decay, clip, power_t
        self.lr_schedule, self.patience, self.tol = lr_schedule, patience, tol
        self.average, self.batch_size = average, batch_size
        self.n_threads, self.parallel = n_threads, parallel     # as asked for
        self.threads, self.round, self.moments_from = 1, 0, 0   # what a pass runs
        self.sparse = False                                     # on CSR rows (see prepare)
        self.mode = parallel or "copies"
        # the cores' per-update schedules; "adaptive" changes lr between epochs
        self.schedule = SCHEDULES.index(lr_schedule) if lr_schedule in SCHEDULES else 0

    @classmethod
    def check(cls, lr, momentum, nesterov, weight_decay, clip, lr_schedule, power_t,
              patience, tol, average, batch_size, n_threads, parallel, optimizer="sgd",
              beta_1=0.9, beta_2=0.999, epsilon=1e-8):
        lr = check.learning_rate(lr)
        momentum = check.real_in(momentum, "momentum", 0.0, 1.0)
        nesterov = check.boolean(nesterov, "nesterov")
        if nesterov and momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0")
        optimizer = check.choice(optimizer, "optimizer", OPTIMIZERS)
        if optimizer != "sgd" and momentum:
            raise ValueError(f"momentum and nesterov are optimizer='sgd''s; got optimizer="
                             f"{optimizer!r} with momentum={momentum}")
        beta_1 = check.real_in(beta_1, "beta_1", 0.0, 1.0)
        beta_2 = check.real_in(beta_2, "beta_2", 0.0, 1.0)
        epsilon = check.positive_real(epsilon, "epsilon")
        weight_decay = check.real_in(weight_decay, "weight_decay", 0.0, None)
        clip = 0.0 if clip is None else check.positive_real(clip, "clip")
        lr_schedule = check.choice(lr_schedule, "lr_schedule", SCHEDULES + ("adaptive",))
        if lr_schedule == "optimal" and weight_decay == 0:
            raise ValueError("lr_schedule='optimal' needs weight_decay > 0 (its alpha)")
        power_t = check.real_in(power_t, "power_t", 0.0, None)
        patience = check.integer(patience, "patience", 1)
        tol = check.real_in(tol, "tol", 0.0, None)
        if isinstance(average, (bool, np.bool_)):
            average = int(average)            # True: from the first update
        else:
            average = check.integer(average, "average", 1)
        batch_size = check.integer(batch_size, "batch_size", 1, check.MAX_BATCH)
        n_threads = check.threads(n_threads)
        if parallel is not None:
            parallel = check.choice(parallel, "parallel", _parallel.MODES)
        rule = cls(lr, momentum, nesterov, weight_decay, clip, lr_schedule, power_t,
                   patience, tol, average, batch_size, n_threads, parallel, optimizer, beta_1,
                   beta_2, epsilon)
        if rule.serial and n_threads > 1:
            what = "average" if average else f"optimizer={optimizer!r}"
            raise ValueError(f"{what} needs n_threads=1: its state (the running mean of the "
                             "weights, or the moments) is kept per update, serially")
        return rule

    @property
    def serial(self):
        """Averaged SGD, Adam and Adagrad keep a state per update: one thread
        (but Adagrad's sums of squares add up over threads: see prepare)."""
        return bool(self.average) or self.optimizer == "adam"

    @property
    def dense_only(self):
        """The option set here that sparse inputs do not take yet, or None."""
        for name, used in (("average", bool(self.average)),
                           ("batch_size > 1", self.batch_size > 1),
                           ("momentum with weight_decay",
                            self.momentum > 0 and self.weight_decay > 0)):
            if used:
                return name
        return None

    def _serial_reason(self, sparse):
        """Why a pass of this rule on ``sparse`` X or not runs on one thread
        where the core keeps a state per update (None: it need not)."""
        if self.optimizer == "adagrad" and not (sparse and self.mode == "hogwild"):
            return ("optimizer='adagrad' trains on several threads only on sparse X with "
                    "parallel='hogwild' (each thread's sums of squares are added to the "
                    "shared ones)")
        if sparse and self.optimizer == "sgd" and (self.momentum or self.weight_decay):
            return ("momentum and weight_decay train on sparse X on one thread (the rows "
                    "of W^(1) catch up on the updates they missed when an example reads "
                    "them)")
        return None

    @property
    def lazy_rows(self):
        """Whether a pass of this rule brings W^(1)'s rows up to date lazily
        (the compiled core, on sparse X: _lazy.pxi)."""
        return (bool(self.sparse) and self.optimizer == "sgd" and self.batch_size == 1
                and (self.momentum > 0 or self.weight_decay > 0))

    @property
    def needs_velocity(self):
        """The velocity is momentum's state: without momentum it is left alone."""
        return self.momentum > 0

    def lr_of_update(self, t):
        """The learning rate of update number t (1, 2, ...) of the core's schedules."""
        return scheduled_lr(self.schedule, self.lr, max(t, 1), self.power_t, self.weight_decay)

    def prepare(self, backend, updates_done, examples, sparse=False):
        """Set the threads, the mode and the round of a pass over ``examples``
        (0: unknown) after ``updates_done`` updates; ``sparse``: whether X is
        CSR rows (None: not known until the first block, which prepares
        again: ``run_pass``)."""
        # sparse examples rarely touch the same rows: Hogwild!'s case, and the
        # copies' exchanges would be of every weight
        self.sparse = sparse
        self.mode = self.parallel or ("hogwild" if sparse else "copies")
        reason = self._serial_reason(bool(sparse))
        if reason and self.n_threads > 1 and sparse is not None:
            raise ValueError(f"{reason}: give n_threads=1")
        self.threads = _parallel.threads(backend, 1 if self.serial or reason else self.n_threads)
        self.round = _parallel.round_size(self, self.threads, updates_done, examples,
                                           sparse)


# ---------------------------------------------------------------- fit

def one_call_at_a_time(method):
    """A training method of Network that raises RuntimeError while another
    training call on the same network runs: the training state belongs to
    one pass at a time."""
    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        if not self._training.acquire(blocking=False):
            raise RuntimeError(
                f"{method.__name__}: this network is already training in another call (a "
                "callback, a stream's chunks or another thread); a network trains in one "
                "call at a time")
        try:
            return method(self, *args, **kwargs)
        finally:
            self._training.release()
    return guarded


def fit(network, X, Y, epochs, rule, shuffle, seed, verbose=False, sample_weight=None,
        validation_data=None, validation_fraction=None, early_stopping=False,
        restore_best=True, callbacks=(), fresh=True):
    """What ``Network.fit`` (``fresh``: a fresh training state) and
    ``partial_fit`` do once their options are checked."""
    epochs = check.integer(epochs, "epochs", 1)
    source = _source(network, X, Y, sample_weight, rule.batch_size)
    shuffle = check.boolean(shuffle, "shuffle")
    seed = network.seed if check.seed(seed) is None else seed
    verbose = check.boolean(verbose, "verbose")
    stopping = None
    restore_best = check.boolean(restore_best, "restore_best")     # checked even when unused
    if check.boolean(early_stopping, "early_stopping"):
        stopping = EarlyStopping(rule.patience, rule.tol, restore_best)
        if validation_data is None and validation_fraction is None:
            validation_fraction = 0.1
    source, validation = _validation(network, source, validation_data, validation_fraction,
                                     seed)
    callbacks = _callables(callbacks)
    if fresh:
        network._state = TrainingState()
    X = getattr(source, "X", None)           # None for chunks: known at the first
    rule.prepare(network._backend, network._state.progress["updates"],
                 getattr(source, "n", 0), None if X is None else isinstance(X, _sparse.Rows))
    return _epochs(network, source, epochs, rule, shuffle, seed, verbose, validation,
                   stopping, callbacks)


def fit_stream(network, chunks, lr=0.01, shuffle=True, seed=None, **options):
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
    if not isinstance(getattr(network, "_state", None), TrainingState):
        raise TypeError(f"network must be a fastbp.Network, got {type(network).__name__}")
    stream = _data.Stream(chunks, lambda X, Y, where: checked_block(network, X, Y, where),
                          lambda weights, n: sample_weights(network, weights, n))
    return network.partial_fit(stream, None, lr, shuffle, seed, **options)


def mean_loss(network, flat, X, Y):
    """Mean error of the weights ``flat`` on checked (X, Y)."""
    return float(network._backend.loss(flat, *network._spec, X, Y) / len(X))


def loss_and_gradient(network, flat, X, Y, weights, n_threads=1):
    """The weighted sums over the rows of checked (X, Y) of the errors and of
    their gradients de/dw (laid out like ``flat``): sum_r weights[r] e_r and
    sum_r weights[r] de_r/dw, the rows shared among ``n_threads`` threads
    (-1: one per core), each adding into a gradient of its own."""
    if n_threads == -1:
        n_threads = os.cpu_count() or 1
    n = X.shape[0]
    n_threads = max(1, min(n_threads, n))
    bounds = np.linspace(0, n, n_threads + 1).astype(np.intp)

    def rows(start, stop):
        grad = np.zeros_like(flat)
        error = network._backend.gradient(flat, *network._spec, X[start:stop], Y[start:stop],
                                          weights[start:stop], grad)
        return error, grad

    if n_threads == 1:
        parts = [rows(0, n)]
    else:                  # the compiled core releases the GIL for the rows
        with concurrent.futures.ThreadPoolExecutor(n_threads) as pool:
            parts = list(pool.map(rows, bounds[:-1], bounds[1:]))
    grad = parts[0][1]
    for _, more in parts[1:]:
        grad += more
    return float(sum(error for error, _ in parts)), grad


# ---------------------------------------------------------------- data

def _source(network, X, Y, sample_weight, batch_size):
    """Where training reads (X, Y) and the sample weights from: in memory,
    checked now; an out-of-core array-like, checked chunk by chunk (of
    whole mini-batches); or a fit_stream's chunks."""
    if isinstance(X, _data.Stream):
        if sample_weight is not None:
            raise TypeError("fit_stream takes sample weights in the chunks, as "
                            "(X, Y, sample_weight) triples")
        return X
    if not _data.out_of_core(X):
        X, Y = checked_block(network, X, Y, "")
        return _data.InMemory(X, Y, sample_weights(network, sample_weight, X.shape[0]))
    shape = tuple(getattr(X, "shape", ()))
    d_in = network.layers[0]
    if len(shape) != 2 or shape[1] != d_in or shape[0] == 0:
        raise ValueError(f"X must have shape (n, {d_in}) with n >= 1, got shape {shape}")
    if not hasattr(Y, "__getitem__") or not hasattr(Y, "__len__") or len(Y) != shape[0]:
        raise ValueError(f"Y must have as many rows as X ({shape[0]}) and slice like it")
    rows = _parallel.whole_batches(
        max(1, _data.CHUNK_BYTES // (shape[1] * network.dtype.itemsize)), batch_size)
    return _data.Chunked(X, Y, sample_weights(network, sample_weight, shape[0]), rows,
                         lambda X, Y, where, n: checked_block(network, X, Y, where, n))


def checked_block(network, X, Y, where, n_rows=None, names=("X", "Y")):
    """Rows (X, Y) for ``network``, checked: ``n_rows`` rows where given
    (what a slice of an array-like must give).  Errors name them ``names``
    followed by ``where``."""
    X = check.inputs(X, names[0] + where, network.dtype, (2,), network.layers[0])
    if n_rows is not None and X.shape[0] != n_rows:
        raise ValueError(f"X{where} gave {X.shape[0]} rows, not {n_rows}: slicing X must "
                         "give the rows asked for")
    return X, check.targets(Y, names[1] + where, network.dtype, network.layers[-1],
                            X.shape[0], network.loss_name)


def sample_weights(network, value, n_rows):
    """The weights as an (n_rows,) array of the network's dtype, or None
    (all examples weigh 1)."""
    if value is None:
        return None
    weights = check.array(value, "sample_weight", network.dtype, (1,), n_rows)
    if (weights < 0).any():
        raise ValueError("sample_weight must be >= 0")
    return weights


def _validation(network, source, data, fraction, seed):
    """(training source, (Xv, Yv) or None): the training and the
    validation examples."""
    if data is not None and fraction is not None:
        raise ValueError("give validation_data or validation_fraction, not both")
    if data is not None:
        if not isinstance(data, (tuple, list)) or len(data) != 2:
            raise TypeError("validation_data must be a pair (Xv, Yv)")
        return source, checked_block(network, data[0], data[1], "",
                                     names=("validation_data[0]", "validation_data[1]"))
    if fraction is None:
        return source, None
    if not isinstance(source, _data.InMemory):
        raise ValueError("validation_fraction (and early_stopping without validation_data) "
                         "needs X in memory; give validation_data instead")
    X, Y, weights = source.X, source.Y, source.weights
    fraction = check.real_in(fraction, "validation_fraction", 0.0, 1.0)
    n_held = int(round(fraction * X.shape[0]))
    if not 0 < n_held < X.shape[0]:
        raise ValueError(f"validation_fraction={fraction} of {X.shape[0]} examples leaves "
                         "no validation or no training example")
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

    def update(self, network, val_loss, epoch):
        """Record epoch number ``epoch``; True when training should stop."""
        if _improved(self.record, val_loss, self.tol):
            self.best_epoch = epoch
            if self.restore_best:
                self.best = (network.flat.copy(), network._state.copy())
            return False
        return self.record["waited"] >= self.patience

    def finish(self, network):
        if self.best is not None:
            network.flat[...] = self.best[0]
            network._state = self.best[1]


def _callables(callbacks):
    if callable(callbacks) or not hasattr(callbacks, "__iter__"):
        raise TypeError("callbacks must be a sequence of callables")
    callbacks = list(callbacks)
    for i, callback in enumerate(callbacks):
        if not callable(callback):
            raise TypeError(f"callbacks[{i}] must be callable, got {type(callback).__name__}")
    return callbacks


def _epochs(network, source, epochs, rule, shuffle, seed, verbose, validation, stopping,
            callbacks):
    """The epoch loop: passes, History, validation, the adaptive rate,
    early stopping and callbacks."""
    history = History()
    state = network._state
    progress = state.progress
    if state.iterate is not None:            # continue from the last iterate
        network.flat[...] = state.iterate
        state.iterate = None
    if not rule.average:
        state.average = None
    elif state.average is None:
        state.average = _buffers.zeros(len(network.flat), network.dtype)
    bar = _bar(epochs, "epochs", leave=True) if verbose else None
    kept = []                                # the state from before a pass
    for epoch in range(1, epochs + 1):
        # the order of the p-th pass of a training run is drawn from (seed, p)
        rng = np.random.default_rng((seed, progress["passes"])) if shuffle else None
        if rule.lr_schedule == "adaptive":
            progress["adaptive_lr"] = progress["adaptive_lr"] or rule.lr
            rule.lr = progress["adaptive_lr"]
        start = time.perf_counter()
        n = getattr(source, "n", 0)
        inner = _bar(n, f"epoch {epoch}", leave=False) if bar and n >= LONG_EPOCH else None
        try:
            total, n = run_pass(network, source.blocks(rng), rule, f"epoch {epoch}",
                                inner.update if inner else None, kept)
        finally:
            if inner:
                inner.close()
        seconds = time.perf_counter() - start
        if n == 0:
            raise ValueError("chunks held no examples")
        progress["passes"] += 1
        logs = {"loss": total / n, "lr": rule.lr_of_update(progress["updates"])}
        history.loss.append(total / n)
        history.lr.append(logs["lr"])
        history.seconds.append(seconds)
        history.examples_per_second.append(n / seconds if seconds > 0 else float("inf"))
        if validation is not None:
            logs["val_loss"] = mean_loss(network, _predicting(network, rule), *validation)
            history.val_loss.append(logs["val_loss"])
        if bar:
            bar.set_postfix({key: f"{value:.4g}" for key, value in logs.items()},
                            refresh=False)
            bar.update(1)
        if rule.lr_schedule == "adaptive":
            _adapt_lr(progress, logs.get("val_loss", logs["loss"]), rule)
        stop = stopping is not None and stopping.update(network, logs["val_loss"], epoch)
        history.stopped_early = bool(stop) and epoch < epochs
        answers = [callback(network, epoch, logs) for callback in callbacks]   # all run
        if stop or any(answer is False for answer in answers):
            break
    if bar:
        bar.close()
    if stopping is not None:
        stopping.finish(network)
        history.best_epoch = stopping.best_epoch
    state = network._state
    if _predicting(network, rule) is state.average:
        state.iterate = _buffers.copy(network.flat)   # predict uses the average from now on
        network.flat[...] = state.average
    return history


def _predicting(network, rule):
    """The averaged weights once averaging has begun, else flat."""
    started = rule.average and network._state.progress["updates"] >= rule.average
    return network._state.average if started else network.flat


def _adapt_lr(progress, loss, rule):
    """The "adaptive" schedule after an epoch: lr / 5 after ``patience``
    epochs without an improvement of the loss by ``tol``."""
    if not _improved(progress, loss, rule.tol) and progress["waited"] >= rule.patience:
        progress["adaptive_lr"] /= 5
        progress["waited"] = 0


def _bar(total, description, leave):
    """A tqdm progress bar on stderr (tqdm is imported only when wanted)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, leave=leave, unit="epoch" if leave else "ex",
                unit_scale=not leave, dynamic_ncols=True)
