"""Tools for trusting the numbers: backpropagation against finite
differences, and the compiled backend against the reference."""

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .network import DivergenceError, Network

__all__ = ["check_gradient", "stable_lr", "verify"]

# Relative error per layer that a gradient check passes with, by dtype.
GRADIENT_TOLERANCE = {np.dtype(np.float64): 1e-6, np.dtype(np.float32): 2e-2}


class GradientCheck:
    """What ``check_gradient`` found.

    Attributes
    ----------
    errors : list of float
        Per layer l = 1..L (``errors[l-1]``): the largest difference between
        backpropagation's de/dw_ij^(l) and the finite differences, relative
        to the largest magnitude of the finite differences.
    tolerance : float
        The relative error a layer passes with.
    eps : float
        The step of the central differences.
    passed : bool
        Every layer's error is at most ``tolerance``.
    """

    def __init__(self, errors, tolerance, eps):
        self.errors, self.tolerance, self.eps = errors, tolerance, eps
        self.passed = all(error <= tolerance for error in errors)

    def __str__(self):
        lines = [
            f"layer {l}: relative error {error:.2e}" for l, error in enumerate(self.errors, start=1)
        ]
        verdict = "PASS" if self.passed else "FAIL"
        lines.append(
            f"{verdict}: every layer within {self.tolerance:g} "
            f"(central differences, eps {self.eps:.2g})"
            if self.passed
            else f"{verdict}: a layer above {self.tolerance:g} "
            f"(central differences, eps {self.eps:.2g})"
        )
        return "\n".join(lines)

    def __repr__(self):
        return (
            f"<GradientCheck {'passed' if self.passed else 'FAILED'}: largest relative "
            f"error {max(self.errors):.2e}, tolerance {self.tolerance:g}>"
        )


def check_gradient(net, X, Y, eps=None, tolerance=None, *, sample=None, seed=0, progress=None):
    """Backpropagation's gradient against central finite differences.

    For every weight w_ij^(l) (or a sample of each layer's),
    (E(w + eps) - E(w - eps)) / (2 eps), with E the mean error
    ``net.loss(X, Y)``, is compared with ``net.gradient(X, Y)``, which
    backpropagation computes on the network's backend. The weights are
    restored exactly afterwards. Costs 2 loss evaluations per weight
    checked: for a large network, check a sample.

    Parameters
    ----------
    net : Network
    X : array_like, shape (n, d[0])
    Y : array_like, shape (n, d[L]) or (n,)
    eps : float, optional
        The step; default the cube root of the dtype's machine epsilon
        (6e-6 in float64, 5e-3 in float32), which balances truncation and
        rounding errors.
    tolerance : float, optional
        The largest relative error per layer that passes; default 1e-6 in
        float64, 2e-2 in float32.
    sample : int, optional
        Check at most this many weights of each layer, drawn at random
        (without replacement) with ``seed``; default every weight.
    seed : int, default 0
    progress : callable, optional
        Called with 1 after each weight checked (a progress bar's update).

    Returns
    -------
    GradientCheck
        Its ``passed``, ``errors`` per layer and ``tolerance``; ``print``
        shows them.
    """
    if not isinstance(net, Network):
        raise TypeError(f"net must be a fastbp.Network, got {type(net).__name__}")
    eps = float(np.finfo(net.dtype).eps ** (1 / 3)) if eps is None else float(eps)
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    tolerance = GRADIENT_TOLERANCE[net.dtype] if tolerance is None else float(tolerance)
    picked = None
    if sample is not None:
        if isinstance(sample, bool) or not isinstance(sample, (int, np.integer)) or sample < 1:
            raise ValueError(f"sample must be an integer >= 1, got {sample!r}")
        rng = np.random.default_rng(seed)
        picked = [
            np.sort(rng.choice(W.size, min(sample, W.size), replace=False)) for W in net.weights
        ]
    errors = []
    numerics = finite_differences(net, X, Y, eps, picked, progress)
    for l, (gradient, numeric) in enumerate(zip(net.gradient(X, Y), numerics)):
        at = slice(None) if picked is None else picked[l]
        gradient, numeric = gradient.ravel()[at], numeric.ravel()[at]
        scale = max(float(np.max(np.abs(numeric))), np.finfo(np.float64).tiny)
        errors.append(float(np.max(np.abs(gradient - numeric))) / scale)
    return GradientCheck(errors, tolerance, eps)


def finite_differences(net, X, Y, eps, picked=None, progress=None):
    """dE/dw by central differences of E = ``net.loss(X, Y)``, one float64
    array per layer shaped like ``net.weights``: for every weight, or where
    ``picked`` gives each layer's flat indices, for those (NaN elsewhere).
    ``progress(1)`` after each weight.  The weights are restored exactly."""
    result = []
    for l, W in enumerate(net.weights):
        numeric = np.full(W.shape, np.nan)
        indices = range(W.size) if picked is None else picked[l]
        for flat_index in indices:
            index = np.unravel_index(flat_index, W.shape)
            kept = W[index]
            try:
                W[index] = kept + eps
                up = net.loss(X, Y)
                W[index] = kept - eps
                down = net.loss(X, Y)
            finally:
                W[index] = kept
            numeric[index] = (up - down) / (2 * eps)
            if progress:
                progress(1)
        result.append(numeric)
    return result


# verify's default learning rate: this over (1 - momentum) times the widest
# fan-in d[l-1] + 1 (an example's step grows with both), which trains
# stably on inputs and targets of unit scale.
STABLE_STEP = 0.5
# A loss that grows more than this many times during verify is divergence.
DIVERGENCE_FACTOR = 10.0
# The largest relative weight difference between the backends that passes.
VERIFY_TOLERANCE = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-4}


def stable_lr(layers, momentum=0.0):
    """A learning rate at which per-example SGD on ``layers`` trains stably
    on inputs and targets of unit scale: STABLE_STEP (1 - momentum) over the
    widest fan-in d[l-1] + 1."""
    return STABLE_STEP * (1 - momentum) / (max(layers[:-1]) + 1)


class Verification:
    """What ``verify`` found: the compiled backend against the reference.

    Attributes
    ----------
    weight_differences : list of float
        After each epoch, the largest |w_compiled - w_reference| over all
        weights, relative to the largest |w_reference|.
    loss_differences : list of float
        After each epoch, |loss_compiled - loss_reference| relative to the
        reference's training loss of that epoch.
    losses : list of float
        The reference's loss on (X, Y) before training and after each epoch.
    diverged : str or None
        Why training was stopped as diverging (a non-finite error, or a loss
        grown DIVERGENCE_FACTOR times), or None.
    tolerance : float
        The largest relative weight difference that passes.
    passed : bool
        Training did not diverge and the backends agree within ``tolerance``.
    """

    def __init__(self, weight_differences, loss_differences, losses, diverged, tolerance):
        self.weight_differences = weight_differences
        self.loss_differences = loss_differences
        self.losses, self.diverged, self.tolerance = losses, diverged, tolerance
        self.passed = diverged is None and all(d <= tolerance for d in weight_differences)

    def __str__(self):
        lines = [
            f"epoch {k}: largest weight difference {w:.2e}, loss difference {e:.2e} (relative)"
            for k, (w, e) in enumerate(zip(self.weight_differences, self.loss_differences), start=1)
        ]
        if self.diverged:
            lines.append(
                f"DIVERGED: {self.diverged}; the backends cannot be compared. "
                "Try a smaller lr or momentum."
            )
        return "\n".join(lines)

    def __repr__(self):
        if self.diverged:
            return f"<Verification: diverged ({self.diverged})>"
        return (
            f"<Verification {'passed' if self.passed else 'FAILED'}: "
            f"{len(self.weight_differences)} epochs, largest weight difference "
            f"{max(self.weight_differences):.2e}>"
        )


def verify(
    net: Any,
    X: ArrayLike,
    Y: ArrayLike,
    epochs: int = 1,
    lr: float | None = None,
    seed: int = 0,
    **fit_options: Any,
) -> Verification:
    """Train copies of ``net`` on both backends, the same way, and compare.

    Both copies start from ``net``'s weights and train one epoch at a time
    with the same options and orders; ``net`` itself is not changed.  With
    ``n_threads`` > 1 (parallel="copies", the default) the compiled core
    trains the copies' shards on threads and the reference one after
    another: the same schedule, so the same weights.  Training that
    diverges (a non-finite error, or a loss grown DIVERGENCE_FACTOR times)
    is reported as such, not as a difference.

    Parameters
    ----------
    net : Network
    X, Y : array_like
        As for ``Network.fit``.
    epochs : int, default 1
    lr : float, optional
        Default: ``stable_lr(net.layers, momentum)``, a rate that trains
        stably on data of unit scale.
    seed : int, default 0
        Seed of the shuffling.
    **fit_options
        Further options of ``Network.fit`` (momentum, batch_size,
        n_threads, ...).

    Returns
    -------
    Verification
        The largest relative weight and loss differences after each epoch,
        the losses, and whether it diverged or passed.

    Raises
    ------
    ImportError
        Where the compiled extension is missing.
    """
    if not isinstance(net, Network):
        raise TypeError(f"net must be a fastbp.Network, got {type(net).__name__}")
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"epochs must be an integer >= 1, got {epochs!r}")
    if lr is None:
        lr = stable_lr(net.layers, fit_options.get("momentum", 0.0))
    copies = [
        Network(
            net.layers,
            list(net.hidden),
            net.output,
            net.loss_name,
            net.dtype,
            net.seed,
            backend,
            net.weights,
        )
        for backend in ("compiled", "reference")
    ]
    weight_differences, loss_differences = [], []
    losses, diverged = [copies[1].loss(X, Y)], None
    for epoch in range(1, epochs + 1):
        try:
            compiled, reference = [
                copy.partial_fit(X, Y, lr=lr, seed=seed, **fit_options) for copy in copies
            ]
        except DivergenceError as error:
            diverged = f"epoch {epoch}: {error}"
            break
        scale = max(float(np.max(np.abs(copies[1].flat))), np.finfo(np.float64).tiny)
        weight_differences.append(float(np.max(np.abs(copies[0].flat - copies[1].flat))) / scale)
        loss_differences.append(
            abs(compiled.loss[0] - reference.loss[0])
            / max(abs(reference.loss[0]), np.finfo(np.float64).tiny)
        )
        losses.append(copies[1].loss(X, Y))
        if not losses[-1] <= DIVERGENCE_FACTOR * losses[0]:
            diverged = (
                f"the loss grew from {losses[0]:.3g} to {losses[-1]:.3g} by epoch "
                f"{epoch} (lr {lr:g})"
            )
            break
    return Verification(
        weight_differences, loss_differences, losses, diverged, VERIFY_TOLERANCE[net.dtype]
    )
