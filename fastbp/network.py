"""The Network class: validation, weights, and dispatch to a backend."""

import collections
import functools
import threading
import time

import numpy as np

from . import _backend, _data, _persistence, _torch, reference
from . import _validation as check
from ._names import ACTIVATIONS, CROSS_ENTROPY_OUTPUTS, HIDDEN_ACTIVATIONS, LOSSES, SCHEDULES
from ._persistence import FRESH_PROGRESS, TRAINING_ARRAYS

__all__ = ["Network", "History", "Backprop", "DivergenceError", "load", "fit_stream"]

# The core trains in chunks of about this many seconds, giving Python the GIL
# (and Ctrl-C) back between them; the first chunk has FIRST_CHUNK examples.
CHUNK_SECONDS = 0.05
FIRST_CHUNK = 1024
# With threads training copies (parallel="copies"), a chunk holds whole
# rounds (see ROUND_DISTANCE) for every thread, at least this many each:
# a thread that finishes its last round early waits for the others at the
# chunk's end, so a chunk of a few rounds leaves a core idle much of the time.
PARALLEL_ROUNDS = 8
PARALLEL_MODES = ("copies", "hogwild")
# With parallel="copies", the first thread (which trains the shared weights)
# adds each other thread's copy's change to them after every round of
# examples that thread trains (in whole batches).  A round's updates reach
# the other threads about a round late, which takes the weights away from
# where serial training would take them by about as far as a round's
# updates move them, an example's share being step = lr / batch_size /
# (1 - momentum).  So a round holds ROUND_DISTANCE / step examples: 64 at
# lr 0.01, where the loss after 3 epochs stays within 1% of one thread's on
# tests/test_scale.py's problem (2.8% with rounds of 256); 640 at lr 0.001,
# within 0.1% there.  An exchange costs up to about a fifth of the time of
# a round of 64 (with rounds of 64, mnist float32 reached 79% of two
# independent trainings' speed in benchmarks/bench_threads.py), so rounds are as long as the step
# allows: from MIN_ROUND to MAX_ROUND, and at most 1 / PARALLEL_ROUNDS of a
# thread's share of the examples, so that a pass holds that many rounds per
# thread.
MIN_ROUND = 64
ROUND_DISTANCE = 0.64
MAX_ROUND = 1024
# The core's weight buffers start on a cache line of this many bytes.
CACHE_LINE = 64
# verbose=True shows a bar within epochs of at least this many examples.
LONG_EPOCH = 100_000


class DivergenceError(FloatingPointError):
    """Training produced a non-finite error or non-finite weights."""


Backprop = collections.namedtuple("Backprop", "signals outputs deltas gradients error")
Backprop.__doc__ = """Everything backpropagation computes for one example.

signals : list of L arrays, ``signals[l-1]`` is s^(l)
outputs : list of L+1 arrays, ``outputs[l]`` is x^(l) without the bias node
deltas : list of L arrays, ``deltas[l-1]`` is delta^(l) = de/ds^(l)
gradients : list of L arrays shaped like ``Network.weights``, de/dw_ij^(l)
error : float, e(h(x), y)
"""


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
    """

    def __init__(self):
        self.loss, self.val_loss, self.lr = [], [], []
        self.seconds, self.examples_per_second = [], []

    @property
    def epochs(self):
        """Number of epochs recorded."""
        return len(self.loss)

    def __repr__(self):
        last = f", last loss {self.loss[-1]:.6g}" if self.loss else ""
        return f"<History: {self.epochs} epochs{last}>"


class _Options:
    """The update rule of one training call, checked."""

    def __init__(self, lr, momentum=0.0, nesterov=False, weight_decay=0.0, clip=0.0,
                 lr_schedule="constant", power_t=0.25, patience=5, tol=1e-4, average=0,
                 batch_size=1, n_threads=1, parallel="copies"):
        self.lr, self.momentum = lr, momentum
        self.n_threads, self.parallel = n_threads, parallel   # -1: every core
        self.threads, self.sync_every = 1, 0                  # what the core runs: _parallel
        self.batch_size = batch_size
        self.average = average                # the update averaging starts at; 0: off
        self.patience, self.tol = patience, tol
        self.nesterov, self.weight_decay = nesterov, weight_decay
        self.clip = clip                      # 0: no clipping
        self.lr_schedule, self.power_t = lr_schedule, power_t
        # the core's per-update schedules; "adaptive" changes lr between epochs
        self.schedule_code = SCHEDULES.index(lr_schedule) if lr_schedule in SCHEDULES else 0
        # the velocity is momentum's state: without momentum it is left as it is
        self.needs_velocity = momentum > 0

    @classmethod
    def check(cls, lr, momentum, nesterov, weight_decay, clip, lr_schedule, power_t,
              patience, tol, average, batch_size, n_threads, parallel):
        lr = check.positive_real(lr, "lr")
        momentum = check.real_in(momentum, "momentum", 0.0, 1.0)
        nesterov = check.boolean(nesterov, "nesterov")
        if nesterov and momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0")
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
        if average and n_threads > 1:
            raise ValueError("average needs n_threads=1: the running mean of the weights "
                             "is kept per update, serially")
        parallel = check.choice(parallel, "parallel", PARALLEL_MODES)
        return cls(lr, momentum, nesterov, weight_decay, clip, lr_schedule, power_t,
                   patience, tol, average, batch_size, n_threads, parallel)

    def lr_of_update(self, t):
        """The learning rate of update number t (1, 2, ...) of the core's schedules."""
        return reference.scheduled_lr(self.schedule_code, self.lr, max(t, 1), self.power_t,
                                      self.weight_decay)


def _improved(record, loss, tol):
    """Record an epoch's loss in ``record`` (keys "best_loss", "waited"):
    True if it beats the best by more than ``tol``, else one more epoch
    without improvement is counted in "waited"."""
    if record["best_loss"] is None or loss < record["best_loss"] - tol:
        record["best_loss"], record["waited"] = loss, 0
        return True
    record["waited"] += 1
    return False


class _EarlyStopping:
    """Watches the validation loss; keeps the state of the best epoch."""

    def __init__(self, patience, tol, restore_best):
        self.patience, self.tol, self.restore_best = patience, tol, restore_best
        self.record = {"best_loss": None, "waited": 0}
        self.best_state = None

    def update(self, network, val_loss):
        """Record one epoch; True when training should stop."""
        if _improved(self.record, val_loss, self.tol):
            if self.restore_best:
                self.best_state = network._state()
            return False
        return self.record["waited"] >= self.patience

    def finish(self, network):
        if self.best_state is not None:
            network._set_state(self.best_state)


def _callables(callbacks):
    if callable(callbacks) or not hasattr(callbacks, "__iter__"):
        raise TypeError("callbacks must be a sequence of callables")
    callbacks = list(callbacks)
    for i, callback in enumerate(callbacks):
        if not callable(callback):
            raise TypeError(f"callbacks[{i}] must be callable, got {type(callback).__name__}")
    return callbacks


def _one_call_at_a_time(method):
    """A training method of Network that raises RuntimeError while another
    training call on the same network runs: the training state (velocity,
    average, counters) belongs to one pass at a time."""
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
        Activation of the output layer: a hidden activation or "softmax".
    loss : {"squared", "cross_entropy"}, default "squared"
        Error of one example. Squared: e = 1/2 sum_k (x_k - y_k)^2.
        Cross-entropy needs a "sigmoid" or "softmax" output.
    dtype : {"float64", "float32"}, default "float64"
        Floating type of the weights and of all computation.
    seed : int or None, default 0
        Seed of the initial weights (Xavier/Glorot uniform, He normal before
        relu and leaky_relu; biases 0) and of the default shuffling in
        ``fit``. None draws a fresh seed, kept in ``Network.seed``.
    backend : {None, "compiled", "reference"}, default None
        None uses ``fastbp.BACKEND``. "compiled" raises ImportError where
        the extension is missing.
    weights : sequence of array_like, optional
        Initial weights instead of the seeded ones: L arrays of shapes
        (d[l-1]+1, d[l]), row 0 the bias weights.

    Attributes
    ----------
    flat : ndarray
        All weights in one contiguous 1-D buffer.
    weights : list of ndarray
        Writable views of ``flat``; ``weights[l-1]`` is W^(l).
    """

    def __init__(self, layers, hidden="tanh", output="identity", loss="squared",
                 dtype="float64", seed=0, backend=None, weights=None):
        self._layers = check.layers(layers)
        n_hidden = len(self._layers) - 2
        if isinstance(hidden, str):
            hidden = [hidden] * n_hidden
        elif len(check.sequence(hidden, "hidden", "activation names")) != n_hidden:
            raise ValueError(f"hidden must be one activation name or a list of "
                             f"{n_hidden} (one per hidden layer), got {hidden!r}")
        self._hidden = tuple(check.choice(name, "hidden", HIDDEN_ACTIVATIONS)
                             for name in hidden)
        self._output = check.choice(output, "output", ACTIVATIONS)
        self._loss = check.choice(loss, "loss", LOSSES)
        if loss == "cross_entropy" and output not in CROSS_ENTROPY_OUTPUTS:
            raise ValueError(f"loss='cross_entropy' needs output='sigmoid' or "
                             f"'softmax', got output={output!r}")
        if loss == "squared" and output == "softmax":
            raise ValueError("output='softmax' needs loss='cross_entropy' "
                             "(softmax with the squared loss is not supported)")
        self._dtype = check.dtype(dtype)
        self._seed = check.seed(seed)
        if self._seed is None:
            self._seed = int(np.random.SeedSequence().entropy % 2**63)
        self._requested_backend = backend
        self._backend = _backend.get(backend)
        self._training = threading.Lock()       # held by the one training call
        self._backend_name = backend or _backend.BACKEND

        # What the backends are handed: d[0..L], and acts[l] for l = 1..L.
        self._d = np.array(self._layers, dtype=np.intp)
        names = ("identity",) + self._hidden + (self._output,)
        self._acts = np.array([ACTIVATIONS.index(n) for n in names], dtype=np.intc)
        self._loss_code = LOSSES.index(self._loss)

        self._shapes = [(d_in + 1, d_out) for d_in, d_out in zip(self._layers, self._layers[1:])]
        self._flat = _aligned_zeros(sum(a * b for a, b in self._shapes), self._dtype)
        self._weights = _blocks(self._flat, self._shapes)
        if weights is None:
            self._initialise()
        else:
            self._set_weights(weights)
        self._fresh_training_state()

    # ------------------------------------------------------------ properties

    @property
    def layers(self):
        """d[0..L] as a tuple."""
        return self._layers

    @property
    def flat(self):
        """All weights in one contiguous 1-D array (writable, never replaced)."""
        return self._flat

    @property
    def weights(self):
        """List of L writable views of ``flat``; ``weights[l-1]`` is W^(l),
        shape (d[l-1]+1, d[l]), row 0 the bias weights w_0j^(l)."""
        return list(self._weights)

    @property
    def backend(self):
        """"compiled" or "reference"."""
        return self._backend_name

    @property
    def dtype(self):
        return self._dtype

    @property
    def hidden(self):
        """Activation of each hidden layer, as a tuple."""
        return self._hidden

    @property
    def output(self):
        return self._output

    @property
    def loss_name(self):
        """"squared" or "cross_entropy" (``loss`` is the method)."""
        return self._loss

    @property
    def seed(self):
        return self._seed

    def __repr__(self):
        hidden = self._hidden[0] if len(set(self._hidden)) == 1 else list(self._hidden)
        return (f"Network({list(self._layers)}, hidden={hidden!r}, output={self._output!r}, "
                f"loss={self._loss!r}, dtype={self._dtype.name!r}, backend={self.backend!r})")

    # ------------------------------------------------------------ weights

    def _initialise(self):
        """Xavier/Glorot uniform weights, He normal before relu; zero biases.

        Drawn in float64 and rounded, so float32 and float64 networks of one
        seed start from the same weights up to rounding."""
        rng = np.random.default_rng(self._seed)
        for l, W in enumerate(self._weights, start=1):
            fan_in, fan_out = self._layers[l - 1], self._layers[l]
            if ACTIVATIONS[self._acts[l]] in ("relu", "leaky_relu"):
                values = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out))
            else:
                limit = np.sqrt(6.0 / (fan_in + fan_out))
                values = rng.uniform(-limit, limit, size=(fan_in, fan_out))
            W[0] = 0
            W[1:] = values

    def _set_weights(self, weights):
        if isinstance(weights, (str, bytes)) or not hasattr(weights, "__len__") \
                or len(weights) != len(self._weights):
            raise ValueError(f"weights must be a list of {len(self._weights)} arrays "
                             f"(one per layer l = 1..L)")
        for l, (W, given) in enumerate(zip(self._weights, weights), start=1):
            name = f"weights[{l - 1}]"
            given = check.array(given, name, self._dtype, (2,), W.shape[1])
            if given.shape != W.shape:
                raise ValueError(f"{name} must have shape {W.shape}, got {given.shape}")
            W[...] = given

    # ------------------------------------------------------------ input checks

    def _inputs(self, X, ndims=(1, 2)):
        return check.array(X, "X", self._dtype, ndims, self._layers[0])

    def _targets(self, Y, n_rows):
        return check.targets(Y, "Y" if n_rows else "y", self._dtype, self._layers[-1],
                             n_rows, self._loss == "cross_entropy")

    def _example(self, x, y):
        x = check.array(x, "x", self._dtype, (1,), self._layers[0])
        return x, self._targets(y, None)

    def _dataset(self, X, Y):
        X = self._inputs(X, (2,))
        return X, self._targets(Y, X.shape[0])

    # ------------------------------------------------------------ computation

    def predict(self, X):
        """Outputs x^(L) of the network.

        Parameters
        ----------
        X : array_like, shape (n, d[0]) or (d[0],)

        Returns
        -------
        ndarray of shape (n, d[L]) for 2-D X, (d[L],) for one 1-D example.
        """
        X = self._inputs(X)
        X2 = X.reshape(-1, self._layers[0])
        out = np.empty((X2.shape[0], self._layers[-1]), dtype=self._dtype)
        self._backend.forward(self._flat, self._d, self._acts, X2, out)
        return out if X.ndim == 2 else out[0]

    def loss(self, X, Y):
        """Mean error e(h(x_n), y_n) over the examples (rows of X).

        Y has shape (n, d[L]), or (n,) where d[L] == 1.
        """
        return self._loss_of(self._flat, *self._dataset(X, Y))

    def backprop(self, x, y):
        """Backpropagation of one example, leaving the weights unchanged.

        Parameters
        ----------
        x : array_like, shape (d[0],)
        y : array_like, shape (d[L],), or a number where d[L] == 1

        Returns
        -------
        Backprop
            Named tuple (signals, outputs, deltas, gradients, error):
            ``signals[l-1]`` is s^(l), ``outputs[l]`` is x^(l) (no bias
            node), ``deltas[l-1]`` is delta^(l), ``gradients[l-1]`` is
            de/dW^(l) = x^(l-1) delta^(l)T, ``error`` is e.
        """
        x, y = self._example(x, y)
        n_s = sum(self._layers[1:])
        signals = np.empty(n_s, dtype=self._dtype)
        deltas = np.empty(n_s, dtype=self._dtype)
        outputs = np.empty(sum(self._layers), dtype=self._dtype)
        grad = np.zeros_like(self._flat)
        error = self._backend.backprop(self._flat, self._d, self._acts, self._loss_code,
                                       x, y, signals, outputs, deltas, grad)
        return Backprop(_split(signals, self._layers[1:]), _split(outputs, self._layers),
                        _split(deltas, self._layers[1:]), self._like_weights(grad),
                        float(error))

    def gradient(self, X, Y):
        """de/dW^(l) for every layer: for 2-D X the mean over the examples.

        Returns
        -------
        list of L arrays shaped like ``weights``.
        """
        X = self._inputs(X)
        if X.ndim == 1:
            X, Y = X.reshape(1, -1), self._targets(Y, None).reshape(1, -1)
        else:
            Y = self._targets(Y, X.shape[0])
        grad = np.zeros_like(self._flat)
        self._backend.gradient(self._flat, self._d, self._acts, self._loss_code, X, Y, grad)
        return self._like_weights(grad)

    def _like_weights(self, buffer):
        """Views of a buffer laid out like ``flat``, one per layer."""
        return _blocks(buffer, self._shapes)

    # ------------------------------------------------------------ training

    @_one_call_at_a_time
    def sgd_step(self, x, y, lr):
        """One in-place SGD update on one example (plain: no momentum, no decay).

        w_ij^(l) <- w_ij^(l) - lr * x_i^(l-1) * delta_j^(l)

        Returns
        -------
        float
            The error e on the example before the update.

        Raises
        ------
        DivergenceError
            If the error or the updated weights are not finite; the weights
            are then left as they were.
        """
        x, y = self._example(x, y)
        options = _Options(lr=check.positive_real(lr, "lr"))
        self._iterate = None            # the step starts from the weights predict uses
        block = (x.reshape(1, -1), y.reshape(1, -1), self._flat[:0], np.zeros(1, dtype=np.intp),
                 0)
        return self._pass([block], options, "sgd_step")[0]

    @_one_call_at_a_time
    def fit(self, X, Y, epochs=10, lr=0.01, shuffle=True, seed=None, verbose=False, *,
            momentum=0.0, nesterov=False, weight_decay=0.0, lr_schedule="constant",
            power_t=0.25, average=False, batch_size=1, sample_weight=None, clip=None,
            validation_data=None, validation_fraction=None, early_stopping=False,
            patience=5, tol=1e-4, restore_best=True, callbacks=(), n_threads=1,
            parallel="copies"):
        """Train by per-example stochastic gradient descent, in place.

        Every epoch visits each example once and updates the weights after
        each one (after each mini-batch where ``batch_size`` > 1):
        w_ij^(l) <- w_ij^(l) - lr * g_ij^(l), with the gradient
        g_ij^(l) = x_i^(l-1) * delta_j^(l), plus ``weight_decay`` * w_ij^(l)
        on the non-bias rows (i >= 1).

        ``fit`` starts a fresh training state (velocity, counts of passes
        and updates, averages, the adaptive lr); ``partial_fit`` continues
        it, and ``save``, ``load`` and pickle keep it.

        Parameters
        ----------
        X : array_like, shape (n, d[0])
            In memory (converted to the network's dtype once), or out of
            core: an ``np.memmap`` or an array-like with ``shape``, ``dtype``
            and row slicing (h5py, zarr), read, converted and trained on
            ``fastbp._data.CHUNK_BYTES`` (16 MiB) of rows at a time, and
            then shuffled in two levels: a seeded permutation of the chunks,
            then of the rows within each chunk.
        Y : array_like, shape (n, d[L]), or (n,) where d[L] == 1
            Sliced alike where X is out of core.
        epochs : int, default 10
        lr : float, default 0.01
            Learning rate, > 0.
        shuffle : bool, default True
            Visit the examples in a fresh random order every epoch; False
            visits them in order.
        seed : int or None
            Seed of the shuffling; None uses the network's seed. The order of
            the p-th pass of a training run is drawn from (seed, p), so
            ``fit(epochs=2)`` and two ``partial_fit`` calls see the same orders.
        verbose : bool, default False
            Show a progress bar (tqdm, on stderr) over the epochs with the
            latest losses and lr, and one within each epoch of at least
            ``LONG_EPOCH`` examples.
        momentum : float in [0, 1), default 0
            Classical momentum, per example: v <- momentum * v - lr * g,
            then w <- w + v.
        nesterov : bool, default False
            Nesterov's momentum (needs momentum > 0): w <- w + momentum * v
            - lr * g with the new v, as scikit-learn and torch.optim.SGD do.
        weight_decay : float >= 0, default 0
            L2 penalty: g += weight_decay * w on the non-bias rows (biases
            are not decayed, as in scikit-learn).
        lr_schedule : str, default "constant"
            The learning rate of update number t = 1, 2, ... (t counts the
            updates of a training run, across ``partial_fit`` calls):
            "constant": lr; "invscaling": lr / t**power_t; "optimal":
            lr / (1 + lr * weight_decay * (t - 1)), Bottou's 1 / (alpha
            (t0 + t)) schedule with alpha = weight_decay (> 0) and t0 chosen
            so that the first update uses lr; "adaptive": lr, divided by 5
            whenever the validation loss (without validation data, the
            training loss) has not improved by ``tol`` for ``patience`` epochs.
        power_t : float >= 0, default 0.25
            The exponent of "invscaling".
        average : bool or int, default False
            Averaged SGD (Polyak-Ruppert): keep the mean of the weights after
            every update, from the first (True) or from update number
            ``average`` of the training run on. After training the network
            holds the averaged weights, which ``predict`` uses and
            ``val_loss`` reports; the last iterate is kept in the training
            state, and ``partial_fit`` continues from it.
        batch_size : int >= 1, default 1
            1 is per-example SGD. b > 1 updates once per b consecutive
            examples of the (shuffled) order, with the mean of their
            gradients; t of the schedules and averaging counts updates.
        sample_weight : array_like of shape (n,), optional
            Weights >= 0 of the examples: each scales its example's update
            (delta^(L)) and its error in ``History.loss`` (a weighted sum
            over n).
        clip : float > 0, optional
            Clip each component of delta^(L) to [-clip, clip] before the
            induction step (a guard against exploding updates; off by
            default). Clipping comes before the sample weight.
        validation_data : (Xv, Yv), optional
            Examples to compute ``History.val_loss`` on after every epoch.
        validation_fraction : float in (0, 1), optional
            Instead of ``validation_data``: hold out this fraction of (X, Y),
            drawn at random from the seed, and train on the rest (in its
            original order). ``early_stopping`` without either holds out 0.1.
        early_stopping : bool, default False
            Stop when the validation loss has not improved by at least
            ``tol`` for ``patience`` epochs in a row.
        patience : int >= 1, default 5
            Epochs without improvement before early stopping, or before the
            "adaptive" schedule divides lr by 5.
        tol : float >= 0, default 1e-4
            The least decrease of the loss that counts as an improvement.
        restore_best : bool, default True
            With ``early_stopping``: end with the weights (and training
            state) of the epoch of the best validation loss.
        callbacks : sequence of callables
            Each is called after every epoch as ``callback(network, epoch,
            logs)``, ``logs`` a dict with "loss", "lr" and, with validation
            data, "val_loss"; a callback returning False stops training
            after that epoch.
        n_threads : int, default 1
            Threads of the compiled core that train at once, each on its
            share of every chunk of the (shuffled) order, all on the same
            weights. 1 is serial: reproducible bit for bit, and equal to
            the reference backend to rounding. -1: OpenMP's limit
            (``OMP_NUM_THREADS``, or what threadpoolctl sets; all cores by
            default). At most 4 per core of the machine. With several
            threads the result is not reproducible bit for bit: when each
            thread's updates reach the others depends on timing. Serial
            where the backend is the reference, the core was built without
            OpenMP (both warn if more than 1 was asked for), ``average`` is
            on (which then needs 1 or -1), or the process was forked after
            a parallel pass (OpenMP cannot start threads there; use
            multiprocessing's "spawn" or "forkserver").
        parallel : {"copies", "hogwild"}, default "copies"
            How several threads share the weights. "copies": the threads
            claim a round of examples at a time in turn from the order, in
            whole mini-batches: 0.64 / (lr / batch_size / (1 - momentum))
            examples, at least 64 (as at lr 0.01), at most 1024 and an
            eighth of a thread's share of the examples (ROUND_DISTANCE).
            The first thread trains the shared weights; each other one
            trains its own copy, whose change the first adds to the shared
            weights between two of its examples, and then takes them again.
            So each example's update counts once, as serially, and reaches
            the other threads a round or two late.
            "hogwild": all update the shared weights at once without locks
            (Hogwild!, Niu et al. 2011), which on dense layers is slower than
            one thread, the cores fighting over every cache line (see
            benchmarks/bench_threads.py).

        Returns
        -------
        History

        Raises
        ------
        RuntimeError
            If the network is training in another call already (from a
            callback, a stream, or another Python thread).
        DivergenceError
            If the error becomes non-finite; the network then holds the
            weights (and velocity) from the end of the last finished epoch,
            or from before ``fit`` if none finished.
        KeyboardInterrupt
            On Ctrl-C, within about 0.05 s (with threads, a chunk holds at
            least PARALLEL_ROUNDS rounds per thread: up to about 2 s on wide
            layers at small rates, whose rounds are long); the network holds
            the weights of the last finished chunk of examples.
        """
        epochs = check.integer(epochs, "epochs", 1)
        options = _Options.check(lr, momentum, nesterov, weight_decay, clip, lr_schedule,
                                 power_t, patience, tol, average, batch_size, n_threads,
                                 parallel)
        source = self._source(X, Y, sample_weight, options.batch_size)
        shuffle = check.boolean(shuffle, "shuffle")
        seed = self._seed if check.seed(seed) is None else seed
        verbose = check.boolean(verbose, "verbose")
        if check.boolean(early_stopping, "early_stopping"):
            stopping = _EarlyStopping(options.patience, options.tol,
                                      check.boolean(restore_best, "restore_best"))
            if validation_data is None and validation_fraction is None:
                validation_fraction = 0.1
        else:
            stopping = None
        source, validation = self._validation(source, validation_data, validation_fraction,
                                              seed)
        callbacks = _callables(callbacks)
        self._fresh_training_state()
        self._parallel(options, source)
        return self._train(source, epochs, options, shuffle, seed, verbose, validation,
                           stopping, callbacks)

    @_one_call_at_a_time
    def partial_fit(self, X, Y, lr=0.01, shuffle=True, seed=None, *,
                    momentum=0.0, nesterov=False, weight_decay=0.0, lr_schedule="constant",
                    power_t=0.25, average=False, batch_size=1, sample_weight=None, clip=None,
                    validation_data=None, patience=5, tol=1e-4, callbacks=(), n_threads=1,
                    parallel="copies"):
        """One training pass over the examples, continuing the training state
        (velocity, count of passes and updates, the adaptive schedule's lr,
        the last iterate and the average of averaged SGD) of earlier
        ``fit``/``partial_fit`` calls.

        Same arguments as ``fit`` without ``epochs``, ``verbose`` and the
        early-stopping ones; returns a one-epoch History.
        """
        options = _Options.check(lr, momentum, nesterov, weight_decay, clip, lr_schedule,
                                 power_t, patience, tol, average, batch_size, n_threads,
                                 parallel)
        source = self._source(X, Y, sample_weight, options.batch_size)
        shuffle = check.boolean(shuffle, "shuffle")
        seed = self._seed if check.seed(seed) is None else seed
        source, validation = self._validation(source, validation_data, None, seed)
        self._parallel(options, source)
        return self._train(source, 1, options, shuffle, seed, False, validation, None,
                           _callables(callbacks))

    def _source(self, X, Y, sample_weight, batch_size):
        """Where training reads (X, Y) and the sample weights from: in memory,
        checked now; an out-of-core array-like, checked chunk by chunk (of
        whole mini-batches); or a fit_stream's chunks."""
        if isinstance(X, _data.Stream):
            if sample_weight is not None:
                raise TypeError("fit_stream takes sample weights in the chunks, as "
                                "(X, Y, sample_weight) triples")
            return X
        if not _data.out_of_core(X):
            X, Y = self._dataset(X, Y)
            return _data.InMemory(X, Y, self._sample_weight(sample_weight, X.shape[0]))
        shape = tuple(getattr(X, "shape", ()))
        if len(shape) != 2 or shape[1] != self._layers[0] or shape[0] == 0:
            raise ValueError(f"X must have shape (n, {self._layers[0]}) with n >= 1, "
                             f"got shape {shape}")
        if not hasattr(Y, "__getitem__") or not hasattr(Y, "__len__") or len(Y) != shape[0]:
            raise ValueError(f"Y must have as many rows as X ({shape[0]}) and slice like it")
        rows = _whole_batches(max(1, _data.CHUNK_BYTES // (shape[1] * self._dtype.itemsize)),
                              batch_size)
        return _data.Chunked(X, Y, self._sample_weight(sample_weight, shape[0]), rows,
                             self._checked_block)

    def _checked_block(self, X, Y, where, n_rows=None):
        """A block of rows of an out-of-core source or a stream, checked:
        ``n_rows`` rows where given (what a slice of an array-like must give)."""
        X = check.array(X, "X" + where, self._dtype, (2,), self._layers[0])
        if n_rows is not None and X.shape[0] != n_rows:
            raise ValueError(f"X{where} gave {X.shape[0]} rows, not {n_rows}: slicing X must "
                             "give the rows asked for")
        return X, check.targets(Y, "Y" + where, self._dtype, self._layers[-1], X.shape[0],
                                self._loss == "cross_entropy")

    def _parallel(self, options, source):
        """Set the threads a pass over ``source`` runs on and, for
        parallel="copies", the examples of a round: what a thread trains
        its copy on between additions (see ROUND_DISTANCE)."""
        options.threads = _backend.threads(self._backend,
                                           1 if options.average else options.n_threads)
        if options.threads == 1 or options.parallel == "hogwild":
            options.sync_every = 0
            return
        # the largest rate of the pass: the schedules only decrease
        rate = options.lr_of_update(self._progress["updates"] + 1)
        step = rate / options.batch_size / (1 - options.momentum)
        examples = min(ROUND_DISTANCE / step, MAX_ROUND)
        share = getattr(source, "n", 0) / (options.threads * PARALLEL_ROUNDS)
        if share:
            examples = min(examples, share)
        options.sync_every = _whole_batches(max(MIN_ROUND, int(examples)),
                                            options.batch_size)

    def _sample_weight(self, value, n_rows):
        """The weights as an (n_rows,) array of the network's dtype, or an
        empty one for None (all examples weigh 1)."""
        if value is None:
            return np.empty(0, dtype=self._dtype)
        weights = check.array(value, "sample_weight", self._dtype, (1,), n_rows)
        if (weights < 0).any():
            raise ValueError("sample_weight must be >= 0")
        return weights

    def _validation(self, source, data, fraction, seed):
        """(training source, (Xv, Yv) or None): the training and the
        validation examples."""
        if data is not None and fraction is not None:
            raise ValueError("give validation_data or validation_fraction, not both")
        if data is not None:
            if not isinstance(data, (tuple, list)) or len(data) != 2:
                raise TypeError("validation_data must be a pair (Xv, Yv)")
            Xv = check.array(data[0], "validation_data[0]", self._dtype, (2,), self._layers[0])
            Yv = check.targets(data[1], "validation_data[1]", self._dtype, self._layers[-1],
                               Xv.shape[0], self._loss == "cross_entropy")
            return source, (Xv, Yv)
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
        kept = weights[~held] if len(weights) else weights
        return _data.InMemory(X[~held], Y[~held], kept), (X[held], Y[held])

    def _train(self, source, epochs, options, shuffle, seed, verbose, validation, stopping,
               callbacks):
        history = History()
        progress = self._progress
        if self._iterate is not None:            # continue from the last iterate
            self._flat[...] = self._iterate
            self._iterate = None
        if not options.average:
            self._average = None
        elif self._average is None:
            self._average = _aligned_zeros(len(self._flat), self._dtype)
        bar = _bar(epochs, "epochs", leave=True) if verbose else None
        for epoch in range(1, epochs + 1):
            # the order of the p-th pass of a training run is drawn from (seed, p)
            rng = np.random.default_rng((seed, self._progress["passes"])) if shuffle else None
            if options.lr_schedule == "adaptive":
                progress["adaptive_lr"] = progress["adaptive_lr"] or options.lr
                options.lr = progress["adaptive_lr"]
            start = time.perf_counter()
            n = getattr(source, "n", 0)
            inner = _bar(n, f"epoch {epoch}", leave=False) if bar and n >= LONG_EPOCH else None
            try:
                total, n = self._pass(source.blocks(rng), options, f"epoch {epoch}",
                                      inner.update if inner else None)
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
                logs["val_loss"] = self._loss_of(self._predicting_weights(options), *validation)
                history.val_loss.append(logs["val_loss"])
            if bar:
                bar.set_postfix({key: f"{value:.4g}" for key, value in logs.items()},
                                refresh=False)
                bar.update(1)
            if options.lr_schedule == "adaptive":
                self._adapt_lr(logs.get("val_loss", logs["loss"]), options)
            stop = stopping is not None and stopping.update(self, logs["val_loss"])
            answers = [callback(self, epoch, logs) for callback in callbacks]   # all of them run
            if stop or any(answer is False for answer in answers):
                break
        if bar:
            bar.close()
        if stopping is not None:
            stopping.finish(self)
        if self._predicting_weights(options) is self._average:
            self._iterate = self._flat.copy()       # predict uses the average from now on
            self._flat[...] = self._average
        return history

    def _predicting_weights(self, options):
        """The averaged weights once averaging has begun, else flat."""
        started = options.average and self._progress["updates"] >= options.average
        return self._average if started else self._flat

    def _loss_of(self, flat, X, Y):
        """Mean error of the weights ``flat`` on checked (X, Y)."""
        return float(self._backend.loss(flat, self._d, self._acts, self._loss_code, X, Y)
                     / len(X))

    def _fresh_training_state(self):
        """The training state, which partial_fit continues and fit starts
        afresh: momentum's v and averaged SGD's mean of the weights (laid
        out like flat, once needed), the last iterate while flat holds that
        mean, and the counters of FRESH_PROGRESS."""
        self._velocity = self._average = self._iterate = None
        self._progress = dict(FRESH_PROGRESS)

    def _adapt_lr(self, loss, options):
        """The "adaptive" schedule after an epoch: lr / 5 after ``patience``
        epochs without an improvement of the loss by ``tol``."""
        progress = self._progress
        if not _improved(progress, loss, options.tol) and progress["waited"] >= options.patience:
            progress["adaptive_lr"] /= 5
            progress["waited"] = 0

    def _state(self):
        """Copies of the weights and the training state."""
        copy = _copy_or_none
        return (self._flat.copy(), copy(self._velocity), copy(self._average),
                copy(self._iterate), dict(self._progress))

    def _set_state(self, state):
        flat, velocity, average, iterate, progress = state
        self._flat[...] = flat
        self._velocity, self._average = _copy_or_none(velocity), _copy_or_none(average)
        self._iterate, self._progress = _copy_or_none(iterate), dict(progress)

    def _pass(self, blocks, options, where, on_chunk=None):
        """Run the backend's training pass over ``blocks`` ((X, Y, sample
        weights, order, number of the block's first row) each), each in
        chunks of about CHUNK_SECONDS, so that Python gets the GIL back
        between them (Ctrl-C, and ``on_chunk(examples done)`` for progress).
        Returns (sum of the errors, examples).

        Ctrl-C leaves the state of the last finished chunk; divergence, or an
        error in a block (bad data further on in a file), restores the state
        from before the pass and raises."""
        if options.needs_velocity and self._velocity is None:
            self._velocity = _aligned_zeros(len(self._flat), self._dtype)
        # the buffers the core is handed, held here for the whole pass
        flat, average = self._flat, self._average
        velocity = self._velocity if options.needs_velocity else flat[:0]
        state = [a for a in (flat, self._velocity, average) if a is not None]
        before = [a.copy() for a in state]
        chunk_start = [a.copy() for a in state]
        updates_before = updates_at_chunk = self._progress["updates"]
        total, examples, size = 0.0, 0, FIRST_CHUNK
        # the threads' copies, for all the chunks of the pass
        room = (_aligned_zeros(4 * (options.threads - 1) * len(self._flat), self._dtype)
                if options.sync_every else None)
        try:
            for X, Y, weights, order, first in blocks:
                start = 0
                while start < len(order):
                    for kept, now in zip(chunk_start, state):
                        np.copyto(kept, now)
                    updates_at_chunk = self._progress["updates"]
                    stop = min(start + _chunk_rows(size, options), len(order))
                    began = time.perf_counter()
                    part, done = self._backend.train_epoch(
                        flat, self._d, self._acts, self._loss_code, X, Y,
                        order[start:stop], options.lr, velocity, options.momentum,
                        options.nesterov, options.weight_decay, weights, options.clip,
                        options.schedule_code, options.power_t, updates_at_chunk,
                        average, options.average, options.batch_size, options.threads,
                        options.sync_every, room)
                    self._progress["updates"] = updates_at_chunk - (-done // options.batch_size)
                    if done < stop - start or not all(np.isfinite(a).all() for a in state):
                        at = (f" at example {first + order[start + done]}"
                              if done < stop - start and options.threads == 1 else "")
                        raise DivergenceError(
                            f"training diverged in {where}{at}: the error or the weights "
                            f"became non-finite (lr={options.lr}). The weights are those from "
                            f"before {where}. Try a smaller lr, or scale the inputs and targets.")
                    total += float(part)
                    size = _next_chunk(size, stop - start, time.perf_counter() - began)
                    start = stop
                    if on_chunk:
                        on_chunk(done)
                examples += len(order)
        except KeyboardInterrupt:
            for kept, now in zip(chunk_start, state):   # an unfinished chunk may be half applied
                np.copyto(now, kept)
            self._progress["updates"] = updates_at_chunk
            raise
        except BaseException:
            for kept, now in zip(before, state):
                np.copyto(now, kept)
            self._progress["updates"] = updates_before
            raise
        return total, examples

    # ------------------------------------------------------------ persistence

    def _config(self):
        return {"layers": list(self._layers), "hidden": list(self._hidden),
                "output": self._output, "loss": self._loss, "dtype": self._dtype.name,
                "seed": self._seed, "backend": self._requested_backend}

    def _stored(self):
        """The configuration, the weights and the training state, as
        ``fastbp._persistence`` stores them (the arrays themselves, not
        copies)."""
        state = {"config": self._config(), "progress": dict(self._progress),
                 "flat": self._flat}
        state.update((name, getattr(self, "_" + name)) for name in TRAINING_ARRAYS)
        return state

    @classmethod
    def _restored(cls, state, backend=None):
        """A network from a state that ``_persistence.check_state`` passed;
        ``backend`` (where not None) replaces the stored one."""
        config = dict(state["config"])
        if backend is not None:
            config["backend"] = backend
        try:
            net = cls(**config)
        except (TypeError, ValueError) as error:
            raise ValueError(f"not a valid fastbp model file: config: {error}") from None
        net._set_state((state["flat"],) + tuple(state[name] for name in TRAINING_ARRAYS)
                       + (state["progress"],))
        return net

    def __getstate__(self):
        return {name: value.copy() if isinstance(value, np.ndarray) else value
                for name, value in self._stored().items()}

    def __setstate__(self, state):
        restored = self._restored(_persistence.check_state(state))
        self.__dict__.update(restored.__dict__)

    def to_torch(self):
        """The network as a PyTorch ``torch.nn.Sequential`` (needs torch).

        Layer l becomes ``nn.Linear(d[l-1], d[l])`` with ``weight`` =
        W^(l)[1:].T and ``bias`` = W^(l)[0] (copies, in the network's
        dtype), then its activation: ``nn.Tanh``, ``nn.Sigmoid``,
        ``nn.ReLU``, ``nn.LeakyReLU(0.01)``, ``nn.Softmax(dim=-1)``, or
        nothing for "identity". The loss is not part of it.
        """
        return _torch.to_sequential(self)

    @classmethod
    def from_torch(cls, module, loss=None, dtype=None, **kwargs):
        """A Network with the layers and weights of a ``torch.nn.Sequential``.

        Parameters
        ----------
        module : torch.nn.Sequential
            ``nn.Linear`` layers, each followed by at most one activation
            module of those ``to_torch`` writes (or ``nn.Identity``); a
            Linear without bias gets biases 0.
        loss : {None, "squared", "cross_entropy"}
            None: "cross_entropy" after a Softmax, else "squared".
        dtype : {None, "float64", "float32"}
            None: float64 for float64 parameters, else float32.
        **kwargs
            Further arguments of ``Network`` (seed, backend).
        """
        return _torch.from_sequential(cls, module, loss, dtype, **kwargs)

    def save(self, path):
        """Save to ``path``, an .npz archive: the weights bit for bit, the
        training state (momentum's velocity, count of passes) that
        ``partial_fit`` continues, and JSON metadata with a format version.
        Nothing is pickled.

        Parameters
        ----------
        path : str, path-like or writable binary file
            Written as given (no ".npz" is appended).  Load with ``fastbp.load``.
        """
        _persistence.write(path, self._stored())


def load(path, backend=None):
    """Load a network saved by ``Network.save``.

    The file is checked before it is trusted: every field of its metadata,
    the arrays' dtypes and shapes against the declared network (before any
    array is read), and their values (no NaN or infinity).  Nothing is
    unpickled.

    Parameters
    ----------
    path : str, path-like or readable binary file
    backend : {None, "compiled", "reference"}
        Backend of the loaded network; None keeps the saved choice.

    Raises
    ------
    ValueError
        If the file is damaged, foreign or not valid ("not a valid fastbp
        model file: ..."), whatever is wrong with it.
    OSError
        If the file cannot be opened.
    """
    if backend is not None:
        _backend.get(backend)                   # a bad name is the caller's error
    state, _ = _persistence.read(path)
    return Network._restored(state, backend)


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
    if not isinstance(network, Network):
        raise TypeError(f"network must be a fastbp.Network, got {type(network).__name__}")
    stream = _data.Stream(chunks, network._checked_block, network._sample_weight)
    return network.partial_fit(stream, None, lr, shuffle, seed, **options)


def _copy_or_none(array):
    return None if array is None else _aligned_copy(array)


def _aligned_copy(array):
    """A copy of a 1-d array on a cache line, as the core wants its buffers."""
    copy = _aligned_zeros(array.size, array.dtype)
    copy[...] = array
    return copy


def _aligned_zeros(size, dtype):
    """Zeros that start on a cache line (CACHE_LINE bytes): numpy's 16 bytes
    leave every other 32-byte load of a weight row split across two
    lines, and mnist then trains at 0.61-0.80x the speed
    (benchmarks/bench_align.py)."""
    dtype = np.dtype(dtype)
    raw = np.zeros(size * dtype.itemsize + CACHE_LINE, dtype=np.uint8)
    start = -raw.ctypes.data % CACHE_LINE
    return raw[start:start + size * dtype.itemsize].view(dtype)


def _bar(total, description, leave):
    """A tqdm progress bar on stderr (tqdm is imported only when wanted)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, leave=leave, unit="epoch" if leave else "ex",
                unit_scale=not leave, dynamic_ncols=True)


def _whole_batches(size, batch_size):
    """``size`` rounded up to whole mini-batches: a chunk never splits one."""
    return -(-size // batch_size) * batch_size


def _chunk_rows(size, options):
    """Examples in a chunk of about ``size``: whole mini-batches, and with
    copies in threads, whole rounds for every thread (PARALLEL_ROUNDS or more)."""
    if not options.sync_every:
        return _whole_batches(size, options.batch_size)
    rounds = options.threads * options.sync_every
    return max(PARALLEL_ROUNDS, -(-size // rounds)) * rounds


def _next_chunk(size, rows, seconds):
    """Examples in the next chunk, after one of ``size`` asked for and
    ``rows`` run in ``seconds``: aimed at CHUNK_SECONDS, at most 4x size."""
    aimed = rows * CHUNK_SECONDS / seconds if seconds > 0 else 4 * size
    return int(max(1, min(4 * size, aimed)))


def _split(buffer, sizes):
    """Consecutive pieces of ``buffer`` of the given sizes (views)."""
    return np.split(buffer, np.cumsum(sizes)[:-1])


def _blocks(buffer, shapes):
    """Consecutive views of ``buffer`` with the given 2-D shapes."""
    return [piece.reshape(shape) for piece, shape
            in zip(_split(buffer, [a * b for a, b in shapes]), shapes)]
