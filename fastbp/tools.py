"""Tools for trusting the numbers: backpropagation against finite
differences, and the compiled backend against the reference."""

import numpy as np

from .network import Network

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
        lines = [f"layer {l}: relative error {error:.2e}"
                 for l, error in enumerate(self.errors, start=1)]
        verdict = "PASS" if self.passed else "FAIL"
        lines.append(f"{verdict}: every layer within {self.tolerance:g} "
                     f"(central differences, eps {self.eps:.2g})" if self.passed else
                     f"{verdict}: a layer above {self.tolerance:g} "
                     f"(central differences, eps {self.eps:.2g})")
        return "\n".join(lines)

    def __repr__(self):
        return (f"<GradientCheck {'passed' if self.passed else 'FAILED'}: largest relative "
                f"error {max(self.errors):.2e}, tolerance {self.tolerance:g}>")


def check_gradient(net, X, Y, eps=None, tolerance=None):
    """Backpropagation's gradient against central finite differences.

    For every weight w_ij^(l), (E(w + eps) - E(w - eps)) / (2 eps), with E
    the mean error ``net.loss(X, Y)``, is compared with ``net.gradient(X,
    Y)``, which backpropagation computes on the network's backend. The
    weights are restored exactly afterwards. Costs 2 loss evaluations per
    weight: meant for small networks and a few examples.

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
    errors = []
    for gradient, numeric in zip(net.gradient(X, Y), finite_differences(net, X, Y, eps)):
        scale = max(float(np.max(np.abs(numeric))), np.finfo(np.float64).tiny)
        errors.append(float(np.max(np.abs(gradient - numeric))) / scale)
    return GradientCheck(errors, tolerance, eps)


def finite_differences(net, X, Y, eps):
    """dE/dw for every weight by central differences of E = ``net.loss(X, Y)``,
    one float64 array per layer shaped like ``net.weights``; the weights are
    restored exactly."""
    result = []
    for W in net.weights:
        numeric = np.empty(W.shape)
        for index in np.ndindex(W.shape):
            kept = W[index]
            try:
                W[index] = kept + eps
                up = net.loss(X, Y)
                W[index] = kept - eps
                down = net.loss(X, Y)
            finally:
                W[index] = kept
            numeric[index] = (up - down) / (2 * eps)
        result.append(numeric)
    return result


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
    """

    def __init__(self, weight_differences, loss_differences):
        self.weight_differences = weight_differences
        self.loss_differences = loss_differences

    def __str__(self):
        return "\n".join(f"epoch {k}: largest weight difference {w:.2e}, "
                         f"loss difference {e:.2e} (relative)"
                         for k, (w, e) in enumerate(zip(self.weight_differences,
                                                        self.loss_differences), start=1))

    def __repr__(self):
        return (f"<Verification: {len(self.weight_differences)} epochs, largest weight "
                f"difference {max(self.weight_differences):.2e}>")


def verify(net, X, Y, epochs=1, lr=0.01, seed=0, **fit_options):
    """Train copies of ``net`` on both backends, the same way, and compare.

    Both copies start from ``net``'s weights and train one epoch at a time
    with the same options and orders, serially (``n_threads=1``); ``net``
    itself is not changed.

    Parameters
    ----------
    net : Network
    X, Y : array_like
        As for ``Network.fit``.
    epochs : int, default 1
    lr : float, default 0.01
    seed : int, default 0
        Seed of the shuffling.
    **fit_options
        Further options of ``Network.fit`` (momentum, batch_size, ...).

    Returns
    -------
    Verification
        The largest relative weight and loss differences after each epoch.

    Raises
    ------
    ImportError
        Where the compiled extension is missing.
    """
    if not isinstance(net, Network):
        raise TypeError(f"net must be a fastbp.Network, got {type(net).__name__}")
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"epochs must be an integer >= 1, got {epochs!r}")
    copies = [Network(**dict(net._config(), backend=backend), weights=net.weights)
              for backend in ("compiled", "reference")]
    fit_options["n_threads"] = 1
    weight_differences, loss_differences = [], []
    for epoch in range(epochs):
        compiled, reference = (copy.partial_fit(X, Y, lr=lr, seed=seed, **fit_options)
                               for copy in copies)
        scale = max(float(np.max(np.abs(copies[1].flat))), np.finfo(np.float64).tiny)
        weight_differences.append(float(np.max(np.abs(copies[0].flat - copies[1].flat)))
                                  / scale)
        loss_differences.append(abs(compiled.loss[0] - reference.loss[0])
                                / max(abs(reference.loss[0]), np.finfo(np.float64).tiny))
    return Verification(weight_differences, loss_differences)
