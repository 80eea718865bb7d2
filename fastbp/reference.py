"""Reference backend: backpropagation in plain Python and numpy.

This module is the oracle the compiled core (``fastbp/_core.pyx``) is tested
against and the fallback where the core is not built.  It favours clarity
over speed: one statement per equation of the seed (Abu-Mostafa, "Learning
From Data", lecture 10), written to be read beside it.

Notation: layers l = 0..L with d[l] nodes; x_0^(l) = 1 is the bias node of
every layer but the last; w_ij^(l) is the weight from node i of layer l-1 to
node j of layer l, and layer l's weights are the block W^(l) of shape
(d[l-1]+1, d[l]) of the one flat buffer, row 0 holding the bias weights.

The backend interface
---------------------
This module and the compiled core export the same names: the Protocol
``fastbp._interface.Backend`` says what each takes and does.
"""

import bisect

import numpy as np

from . import _sparse
from ._buffers import blocks as _blocks
from ._names import ACTIVATIONS, LEAKY_SLOPE, LOSSES, scheduled_lr

__all__ = [
    "PARALLEL",
    "SERIAL_REASON",
    "Dicts",
    "Predictor",
    "Stepper",
    "activate_rows",
    "all_finite",
    "backprop",
    "copy_into",
    "forward",
    "gradient",
    "loss",
    "max_threads",
    "train_pass",
    "workspace",
]

PARALLEL = False
SERIAL_REASON = "the reference backend runs serially"


# ---------------------------------------------------------------- pieces


def _with_bias(x):
    """(x_0, x_1, ..., x_d) with the bias node x_0 = 1 (last axis)."""
    ones = np.ones(x.shape[:-1] + (1,), dtype=x.dtype)
    return np.concatenate([ones, x], axis=-1)


def _g(name, s):
    """x = g(s)."""
    if name == "identity":
        return s.copy()
    if name == "tanh":
        return np.tanh(s)
    if name == "sigmoid":
        with np.errstate(over="ignore"):  # exp(-s) = inf gives x = 0, as it should
            return 1 / (1 + np.exp(-s))
    if name == "relu":
        return np.where(s > 0, s, 0).astype(s.dtype)
    if name == "leaky_relu":
        return np.where(s > 0, s, LEAKY_SLOPE * s).astype(s.dtype)
    if name == "exp":
        with np.errstate(over="ignore"):
            return np.exp(s)
    # "softmax" over the last axis, shifted so that exp cannot overflow
    z = np.exp(s - s.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def _g_prime(name, x):
    """g'(s), written with x = g(s): tanh' = 1 - x^2, sigmoid' = x (1 - x)."""
    if name == "tanh":
        return 1 - x * x
    if name == "sigmoid":
        return x * (1 - x)
    if name == "relu":
        return (x > 0).astype(x.dtype)
    if name == "leaky_relu":
        return np.where(x > 0, 1, LEAKY_SLOPE).astype(x.dtype)
    if name == "exp":
        return x.copy()
    # softmax: an output of cross-entropy alone, whose delta^(L) = x - y takes no g'
    if name in ("identity", "softmax"):
        return np.ones_like(x)
    raise ValueError(f"no activation {name!r}")


def _forward(W, names, x0):
    """Signals s^(1..L) and outputs x^(0..L) (bias nodes left out).

    x_j^(l) = g(s_j^(l)),  s_j^(l) = sum_{i=0..d[l-1]} w_ij^(l) x_i^(l-1).
    ``x0`` is one example (1-D) or a batch (2-D, one example per row).
    """
    s, x = [], [x0]
    for l in range(1, len(W) + 1):
        s.append(_with_bias(x[l - 1]) @ W[l - 1])  # s^(l) = W^(l)T x^(l-1)
        x.append(_g(names[l], s[l - 1]))  # x^(l) = g(s^(l))
    return s, x


def _error_and_delta(output, loss_name, s_L, x_L, y):
    """Base step: the error e and delta^(L) = de/ds^(L) of one example."""
    if loss_name == "squared":
        e = 0.5 * np.sum((x_L - y) ** 2)  # e = 1/2 sum_k (x_k - y_k)^2
        delta = (x_L - y) * _g_prime(output, x_L)  # (1): (x - y) g'(s^(L))
        return float(e), delta
    delta = x_L - y  # cross-entropy and Poisson: x^(L) - y
    if loss_name == "poisson":
        # e = sum_k y_k log(y_k / x_k) - y_k + x_k, with log x_k = s_k
        e = np.sum(np.where(y > 0, y * np.log(np.where(y > 0, y, 1)), 0) - y * s_L - y + x_L)
        return float(e), delta
    if output == "sigmoid":  # "cross_entropy" with a sigmoid output:
        # e = -sum_k [y_k log x_k + (1-y_k) log(1-x_k)] = sum_k softplus(s_k) - y_k s_k
        e = np.sum(np.logaddexp(0, s_L) - y * s_L)
    else:
        # softmax: e = -sum_k y_k log x_k = sum_k y_k (logsumexp(s) - s_k)
        top = np.max(s_L)
        e = np.sum(y * (top + np.log(np.sum(np.exp(s_L - top))) - s_L))
    return float(e), delta


def _backprop(W, names, loss_name, x0, y, clip=0.0, weight=1.0):
    """Signals, outputs, deltas and the error of one example, weights unchanged.

    Training may clip each component of delta^(L) to [-clip, clip] (clip > 0)
    and then scale it by the example's weight, before the induction step."""
    s, x = _forward(W, names, x0)
    L = len(W)
    e, delta_L = _error_and_delta(names[L], loss_name, s[L - 1], x[L], y)
    if clip > 0:
        delta_L = np.clip(delta_L, -clip, clip)
    delta_L = delta_L * weight
    delta = [None] * L
    delta[L - 1] = delta_L
    for l in range(L, 1, -1):
        # (2): delta_i^(l-1) = g'(s_i^(l-1)) sum_j w_ij^(l) delta_j^(l), i >= 1
        delta[l - 2] = _g_prime(names[l - 1], x[l - 1]) * (W[l - 1][1:] @ delta[l - 1])
    return s, x, delta, e


def _gradients(x, delta):
    """de/dw_ij^(l) = x_i^(l-1) delta_j^(l), for l = 1..L."""
    return [np.outer(_with_bias(x[l]), delta[l]) for l in range(len(delta))]


def _names(acts):
    return [ACTIVATIONS[code] for code in acts]


# ---------------------------------------------------------------- backend API


def forward(flat, layers, acts, X, out):
    """out[n] = x^(L) for every row n of X (CSR rows: one at a time, densified)."""
    W, names = _blocks(flat, layers), _names(acts)
    if isinstance(X, _sparse.Rows):
        for r, x0 in enumerate(X):
            out[r] = _forward(W, names, x0)[1][-1]
        return
    out[...] = _forward(W, names, X)[1][-1]


def activate_rows(act, S):
    """S[r] = g(S[r]) for every row r, in place."""
    S[...] = _g(ACTIVATIONS[act], S)


def loss(flat, layers, acts, loss, X, Y):
    """Sum over the rows of X of the error e(h(x_n), y_n)."""
    W, names = _blocks(flat, layers), _names(acts)
    total = 0.0
    for x0, y in zip(X, Y):
        s, x = _forward(W, names, x0)
        total += _error_and_delta(names[-1], LOSSES[loss], s[-1], x[-1], y)[0]
    return total


def gradient(flat, layers, acts, loss, X, Y, weights, grad):
    """Add sum_r weights[r] de_r/dw to ``grad``; return sum_r weights[r] e_r."""
    W, names = _blocks(flat, layers), _names(acts)
    G = _blocks(grad, layers)
    total = 0.0
    for x0, y, weight in zip(X, Y, weights):
        _, x, delta, e = _backprop(W, names, LOSSES[loss], x0, y)
        for G_l, dW_l in zip(G, _gradients(x, delta)):
            G_l += weight * dW_l
        total += weight * e
    return total


def backprop(flat, layers, acts, loss, x, y, signals, outputs, deltas, grad):
    """Backpropagation of one example; returns e.

    Writes s^(1..L) to ``signals`` and delta^(1..L) to ``deltas`` (layer after
    layer), x^(0..L) to ``outputs``, and adds de/dw^(1..L) to ``grad``.
    """
    W = _blocks(flat, layers)
    s, x, delta, e = _backprop(W, _names(acts), LOSSES[loss], x, y)
    signals[...] = np.concatenate(s)
    outputs[...] = np.concatenate(x)
    deltas[...] = np.concatenate(delta)
    for G_l, dW_l in zip(_blocks(grad, layers), _gradients(x, delta)):
        G_l += dW_l
    return e


def max_threads():
    """Threads a pass may use: one."""
    return 1


def workspace(n_weights, dtype, plan):
    """No buffer: the reference needs none."""
    return None


def copy_into(to, source, n_threads):
    """to[:] = source."""
    np.copyto(to, source)


def all_finite(values, n_threads):
    """Whether every value is finite (a NaN or an infinity is the minimum
    or the maximum), without a temporary as large as ``values``."""
    return bool(np.isfinite(values.min()) and np.isfinite(values.max()))


def train_pass(
    flat,
    layers,
    acts,
    loss,
    X,
    Y,
    sample_weight,
    order,
    options,
    plan,
    t_done,
    velocity,
    average,
    moments,
    workspace,
):
    """Per-example SGD over the rows ``order`` of X, in place on ``flat``,
    by ``options``, one example after another: with plan.shards > 0 the
    copies' schedule (``_train_shards``), shard after shard; plan.threads
    and the Hogwild! rounds are for the compiled core.

    For each example: backpropagation with the current weights, delta^(L)
    clipped to [-clip, clip] where clip > 0 and scaled by the example's
    weight where ``sample_weight`` is not None, then
    w_ij^(l) <- w_ij^(l) - lr x_i^(l-1) delta_j^(l); or, where momentum or
    weight_decay is not 0, with g = de/dw + weight_decay w (not on the bias
    rows): w <- w - lr g without momentum; with momentum, through the
    velocity v (laid out like ``flat``, neither read nor written without
    momentum): v <- momentum v - lr g, then w <- w + v (Nesterov:
    w <- w + momentum v - lr g).
    A non-finite error stops the pass before that example changes any weight.

    Update number t = t_done + 1, t_done + 2, ... uses the learning rate
    ``scheduled_lr`` gives it.  Where options.average >= 1, ``average`` keeps
    the running mean of the weights after updates average, average + 1,
    ... (averaged SGD).  With batch_size b > 1, one update follows every b
    consecutive examples of ``order`` (and the last, maybe fewer), from the
    mean g of their gradients (plus the weight decay), as one example's.

    Returns (sum of the errors before each update, each times its example's
    weight; number of examples done).
    """
    if plan.shards:
        return _train_shards(
            flat,
            layers,
            acts,
            loss,
            X,
            Y,
            sample_weight,
            order,
            options,
            plan,
            t_done,
            velocity,
            moments,
        )
    weight_decay, batch = options.weight_decay, options.batch_size
    average_from = options.average
    W, names = _blocks(flat, layers), _names(acts)
    update = _update_rule(W, layers, options, plan, velocity, moments)
    G = [np.zeros_like(w) for w in W]  # a mini-batch's summed gradient
    sparse = isinstance(X, _sparse.Rows)  # CSR rows, densified one at a time
    total, done, updates, in_batch = 0.0, 0, 0, 0
    with np.errstate(over="ignore", invalid="ignore"):  # the caller reports divergence
        for k, r in enumerate(order):
            weight = 1.0 if sample_weight is None else sample_weight[r]
            _, x, delta, e = _backprop(W, names, LOSSES[loss], X[r], Y[r], options.clip, weight)
            if not np.isfinite(e):
                break
            total += weight * e
            done += 1
            gradients = _gradients(x, delta)
            if batch > 1:
                for G_l, dW_l in zip(G, gradients):
                    G_l += dW_l
                in_batch += 1
                if in_batch < batch and k < len(order) - 1:
                    continue
                gradients = [G_l / in_batch for G_l in G]
                for G_l in G:
                    G_l[...] = 0
                in_batch = 0
            updates += 1
            t = t_done + updates  # the number of this update
            lr = scheduled_lr(options.schedule, options.lr, t, options.power_t, weight_decay)
            for l, g in enumerate(gradients):
                g[1:] += weight_decay * W[l][1:]  # L2 penalty, bias row excluded
                # Adam and Adagrad on a CSR example: W^(1)'s bias row and its
                # entries' rows only (lazily, as torch's SparseAdam)
                rows = (
                    np.r_[0, X.entries(r) + 1] if l == 0 and sparse and batch == 1 else slice(None)
                )
                update(l, g, rows, lr, t)
            if average_from >= 1 and t >= average_from:
                average += (flat - average) / (t - average_from + 1)  # running mean
    return total, done


def _update_rule(W, layers, options, plan, velocity, moments):
    """The update of layer l's weights W[l] from its gradient g (weight decay
    included) at rate lr, for update number t, by ``options``' rule: a
    function of (l, g, rows, lr, t), chosen once per pass.  Adam and Adagrad
    update the weight rows ``rows`` only (a CSR example's: lazily, as
    torch's SparseAdam); SGD and momentum every row."""
    b1, b2, eps, mu = options.beta_1, options.beta_2, options.epsilon, options.momentum
    n = sum(w.size for w in W)  # len(flat)

    def adam(l, g, rows, lr, t):
        M[l][rows] = b1 * M[l][rows] + (1 - b1) * g[rows]  # m <- b1 m + (1 - b1) g
        S[l][rows] = b2 * S[l][rows] + (1 - b2) * g[rows] ** 2  # v <- b2 v + (1 - b2) g^2
        k = t - plan.moments_from  # Adam's own step count
        step = lr * np.sqrt(1 - b2**k) / (1 - b1**k)
        W[l][rows] -= step * M[l][rows] / (np.sqrt(S[l][rows]) + eps)

    def adagrad(l, g, rows, lr, t):
        S[l][rows] += g[rows] ** 2  # the sum of squared gradients
        W[l][rows] -= lr * g[rows] / (np.sqrt(S[l][rows]) + eps)

    def sgd(l, g, rows, lr, t):
        W[l] -= lr * g  # w <- w - lr g

    def momentum(l, g, rows, lr, t):
        V[l] *= mu
        V[l] -= lr * g  # v <- momentum v - lr g
        W[l] += mu * V[l] - lr * g if options.nesterov else V[l]  # w <- w + v

    if options.optimizer == "adam":  # Adam's m, then its v
        M, S = _blocks(moments[:n], layers), _blocks(moments[n:], layers)
        return adam
    if options.optimizer == "adagrad":  # Adagrad's sums of squares
        S = _blocks(moments, layers)
        return adagrad
    if mu:
        V = _blocks(velocity, layers)
        return momentum
    return sgd  # "sgd"


def _momentum_drift(options, size, bounds, used):
    """(drift_w, drift_v): what a round's merge adds to w and v, times the
    round's starting velocity v0, so that v0 counts once, not once for each
    copy that started with it: with R_s the updates of copy s, T their sum
    and c(R) = sum_{k=1..R} mu^k (mu c(R) for Nesterov) what v0 adds to w
    over R updates, c(T) - sum_s c(R_s) and (copies - 1) - sum_s mu^R_s +
    mu^T."""
    mu = options.momentum
    scale = mu if options.nesterov else 1.0
    updates = [
        -(-(min(bounds[s + 1], size) - bounds[s]) // options.batch_size) for s in range(used)
    ]
    w_sum = v_sum = 0.0
    for count in updates:
        w_sum += scale * mu * (1 - mu**count) / (1 - mu)
        v_sum += mu**count
    total = sum(updates)
    return (scale * mu * (1 - mu**total) / (1 - mu) - w_sum, (used - 1) - v_sum + mu**total)


def _train_shards(
    flat, layers, acts, loss, X, Y, sample_weight, order, options, plan, t_done, velocity, moments
):
    """parallel="copies"'s schedule, one shard after another: each round's
    plan.round examples, in shards from plan.bounds, trained on copies of
    the weights (velocity, Adagrad's sums of squares) as they were at the
    round's start, then merged (``_merge``).  Update numbers as in the
    serial pass.  Returns (sum of the errors, examples done: up to the
    round of a non-finite error, whose changes are not added)."""
    serial = type(plan)(moments_from=plan.moments_from)
    total, start, n, bounds = 0.0, 0, len(order), plan.bounds
    while start < n:
        size = min(plan.round, n - start)
        copies = []
        for s in range(plan.shards):
            if bounds[s] >= size:  # a pass's last round may have fewer shards
                break
            first = start + bounds[s]
            w, v, m = (None if a is None else a.copy() for a in (flat, velocity, moments))
            rows = order[first : start + min(bounds[s + 1], size)]
            part, done = train_pass(
                w,
                layers,
                acts,
                loss,
                X,
                Y,
                sample_weight,
                rows,
                options,
                serial,
                t_done + first // options.batch_size,
                v,
                None,
                m,
                None,
            )
            if done < len(rows):
                return total, start
            copies.append((w, v, m))
            total += part
        if isinstance(X, _sparse.Rows):
            owners = _owners(X, order[start : start + size], bounds)
            _merge_sparse(flat, [c[0] for c in copies], layers, owners, 1 / len(copies))
            if moments is not None:
                _merge_sparse(moments, [c[2] for c in copies], layers, owners, 1)
        else:
            _merge(flat, velocity, copies, options, size, bounds)
        start += size
    return total, start


def _changes(buffer, copies):
    """The sum over the copies, in order, of (copy - buffer)."""
    change = np.zeros_like(buffer)
    for copy in copies:
        change += copy - buffer
    return change


def _merge(flat, velocity, copies, options, size, bounds):
    """Dense X: w <- w + the copies' changes; with momentum, v <- v + the
    velocities' changes, the round's starting velocity v0 counting once (as
    over the round's updates in a row: ``_momentum_drift``)."""
    change = _changes(flat, [c[0] for c in copies])
    if velocity is None:
        flat[...] = flat + change
        return
    drift_w, drift_v = _momentum_drift(options, size, bounds, len(copies))
    flat[...] = flat + change + velocity * drift_w
    velocity[...] = velocity + _changes(velocity, [c[1] for c in copies]) + velocity * drift_v


def _owners(X, rows, bounds):
    """Which shard of ``rows`` (CSR rows, shards from ``bounds``) touches
    each input: {input: shard}, or -1 for inputs several shards touch."""
    owners = {}
    for k, r in enumerate(rows):
        shard = bisect.bisect_right(bounds, k) - 1
        for i in X.entries(r).tolist():
            if owners.setdefault(i, shard) not in (shard, -1):
                owners[i] = -1
    return owners


def _merge_sparse(buffer, copies, layers, owners, share):
    """Sparse X: the rows of W^(1) one shard touched are that shard's; those
    several touched take the sum of the copies' changes; W^(1)'s bias row
    and layers 2..L take ``share`` of it (weights: the mean change; sums of
    squares: all of it)."""
    change = _changes(buffer, copies)
    merged = buffer + buffer.dtype.type(share) * change
    rows = buffer + change
    new_W1, summed = _blocks(merged, layers)[0], _blocks(rows, layers)[0]
    for i, owner in owners.items():
        new_W1[1 + i] = summed[1 + i] if owner == -1 else _blocks(copies[owner], layers)[0][1 + i]
    buffer[...] = merged


# ---------------------------------------------------------------- one example


def _one_example(value, dtype, width, ndims=(1,)):
    """``value`` where it is a C-contiguous finite array of ``dtype`` and
    shape (width,) (or (1, width) where 2 in ndims), else None."""
    if (
        isinstance(value, np.ndarray)
        and value.dtype == dtype
        and value.ndim in ndims
        and value.shape[-1] == width
        and value.size == width
        and value.flags.c_contiguous
        and np.isfinite(value).all()
    ):
        return value
    return None


class Predictor:
    """One example's x^(L) (see the backend interface)."""

    def __init__(self, flat, layers, acts):
        self.flat, self.layers, self.acts = flat, layers, acts

    def predict(self, x):
        x = _one_example(x, self.flat.dtype, self.layers[0], (1, 2))
        if x is None:
            return None
        out = np.empty((1, self.layers[-1]), dtype=self.flat.dtype)
        forward(self.flat, self.layers, self.acts, x.reshape(1, -1), out)
        return out.reshape(x.shape[:-1] + (self.layers[-1],))


class Stepper:
    """One example's update by fixed options (see the backend interface)."""

    def __init__(self, flat, layers, acts, loss, options, plan, velocity, moments, progress):
        self.spec, self.flat, self.options = (layers, acts, loss), flat, options
        self.progress, self.plan = progress, plan
        self.arrays = [a for a in (flat, velocity, moments) if a is not None]
        self.velocity, self.moments = velocity, moments

    def _target(self, y):
        d_out = self.spec[0][-1]
        if isinstance(y, float) and d_out == 1:
            y = np.array([y], dtype=self.flat.dtype)
        y = _one_example(y, self.flat.dtype, d_out)
        loss = LOSSES[self.spec[2]]
        if (
            y is None
            or (loss != "squared" and (y < 0).any())
            or (loss == "cross_entropy" and (y > 1).any())
        ):
            return None
        return y

    def step(self, x, y):
        x, y = _one_example(x, self.flat.dtype, self.spec[0][0]), self._target(y)
        if x is None or y is None:
            return None
        before = [a.copy() for a in self.arrays]
        error, done = train_pass(
            self.flat,
            *self.spec,
            x.reshape(1, -1),
            y.reshape(1, -1),
            None,
            np.zeros(1, dtype=np.intp),
            self.options,
            self.plan,
            self.progress["updates"],
            self.velocity,
            None,
            self.moments,
            None,
        )
        if done == 0 or not all(all_finite(a, 1) for a in self.arrays):
            for array, kept in zip(self.arrays, before):
                array[...] = kept
            return float("nan")
        self.progress["updates"] += 1
        return float(error)


class Dicts:
    """Examples as dicts of feature values (see the backend interface)."""

    def __init__(self, model, features, classes):
        self.model, self.features, self.classes = model, features, classes
        self.stepper, self.predictor = model.stepper, model.predictor
        self.labels = None if classes is None else list(classes)
        self.dtype = model.dtype

    def _row(self, x):
        if type(x) is not dict:
            return None
        row = np.zeros(self.model.layers[0], dtype=self.dtype)
        for name, value in x.items():
            if (
                name not in self.features
                or not isinstance(value, (float, int))
                or not np.isfinite(value)
            ):
                return None
            row[self.features[name]] = value
        return row

    def learn(self, x, y):
        if self.stepper is None or self.model.stepper is not self.stepper:
            return None
        if self.classes is not None:
            if y not in self.classes:
                return None
            target = np.zeros(len(self.classes), dtype=self.dtype)
            target[self.classes[y]] = 1
        elif isinstance(y, (float, int)) and np.isfinite(y):
            target = np.array([y], dtype=self.dtype)
        else:
            return None
        if not self.model.lock.acquire(False):
            return None
        try:
            row = self._row(x)
            return None if row is None else self.stepper.step(row, target)
        finally:
            self.model.lock.release()

    def _outputs(self, x):
        row = self._row(x)
        return None if row is None else self.predictor.predict(row).tolist()

    def value(self, x):
        out = self._outputs(x)
        return None if out is None else out[0]

    def label(self, x):
        out = self._outputs(x)
        return None if out is None else self.labels[int(np.argmax(out))]

    def probabilities(self, x):
        out = self._outputs(x)
        if out is None:
            return None
        if self.dtype == np.float32:
            out = [value / sum(out) for value in out]
        return dict(zip(self.labels, out))
