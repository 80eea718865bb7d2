"""The demo: a network learns two interleaved spirals, which no linear model can separate."""

import numpy as np

from .network import History, Network


def spirals(n=2000, turns=1.75, noise=0.02, seed=0):
    """Two interleaved spirals in the plane.

    Parameters
    ----------
    n : int
        Number of points, split at random between the two classes.
    turns : float
        How many times each spiral winds around the origin.
    noise : float
        Standard deviation of the Gaussian noise added to each coordinate.
    seed : int

    Returns
    -------
    X : ndarray, shape (n, 2)
        The points, standardised to mean 0 and standard deviation 1.
    y : ndarray, shape (n,)
        The class of each point, 0.0 or 1.0.
    """
    rng = np.random.default_rng(seed)
    t = np.sqrt(rng.random(n)) * turns * 2 * np.pi  # sqrt: points spread evenly along the arm
    label = rng.integers(2, size=n)
    angle = t + np.pi * label  # the second arm is the first turned by pi
    radius = t / (turns * 2 * np.pi)
    X = np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])
    X += noise * rng.normal(size=X.shape)
    return (X - X.mean(axis=0)) / X.std(axis=0), label.astype(np.float64)


def xor(n=400, noise=0.15, seed=0):
    """The XOR problem: points near the corners (+-1, +-1), class 1 where
    the two signs differ. Returns X of shape (n, 2) and y (0.0 or 1.0)."""
    rng = np.random.default_rng(seed)
    corners = rng.choice([-1.0, 1.0], size=(n, 2))
    X = corners + noise * rng.normal(size=(n, 2))
    return X, (corners[:, 0] != corners[:, 1]).astype(np.float64)


def sine(n=400, noise=0.05, seed=0):
    """One period of a sine with noise: X of shape (n, 1) in [-pi, pi], y (n,)."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-np.pi, np.pi, size=(n, 1))
    return X, np.sin(X[:, 0]) + noise * rng.normal(size=n)


def digits(n=None, seed=0):
    """scikit-learn's 8x8 digits (1797 images, inputs scaled to [0, 1])."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError(
            'the digits demo needs scikit-learn: pip install "fastbp[sklearn]"'
        ) from None
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y.astype(np.float64)


# For each data set: its function, the network's hidden layers, activations
# and loss, and the demo's learning rate and epochs.
DATASETS = {
    "spirals": (spirals, [64, 64], "relu", "sigmoid", "cross_entropy", 0.01, 100),
    "xor": (xor, [8], "tanh", "sigmoid", "cross_entropy", 0.1, 30),
    "sine": (sine, [32], "tanh", "identity", "squared", 0.01, 100),
    "digits": (digits, [64], "relu", "softmax", "cross_entropy", 0.01, 20),
}


def run(
    dataset="spirals",
    points=2000,
    epochs=None,
    lr=None,
    seed=0,
    backend=None,
    report_every=10,
    out=print,
    plot=None,
):
    """Train a network on one of ``DATASETS`` and report.

    Prints the training loss every ``report_every`` epochs, then the
    accuracy (R^2 for "sine"; on a held-out quarter for "digits"), training
    time and examples per second, through ``out``.

    Parameters
    ----------
    dataset : {"spirals", "xor", "sine", "digits"}
    points : int
        Examples drawn (spirals, xor, sine).
    epochs, lr : optional
        Default: the data set's (``DATASETS``).
    plot : str, optional
        Write a PNG there: the learning curve, and the decision boundary
        (spirals, xor), the fitted curve (sine) or the weights and deltas of
        one example (digits). Needs matplotlib.

    Returns
    -------
    dict with keys "accuracy" (R^2 for sine), "loss", "seconds",
    "examples_per_second".
    """
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {', '.join(DATASETS)}, got {dataset!r}")
    if plot is not None:
        from . import plot as _  # noqa: F401  (without matplotlib: fail before training)
    make, hidden_sizes, hidden, output, loss, default_lr, default_epochs = DATASETS[dataset]
    lr = default_lr if lr is None else lr
    epochs = default_epochs if epochs is None else epochs
    X, y = make(points, seed=seed)
    X_test, y_test = X, y
    if dataset == "digits":
        held = np.random.default_rng(seed).permutation(len(X)) < len(X) // 4
        X, y, X_test, y_test = X[~held], y[~held], X[held], y[held]
        Y = np.eye(10)[y.astype(int)]
    else:
        Y = y
    net = Network(
        [X.shape[1], *hidden_sizes, Y.shape[1] if Y.ndim == 2 else 1],
        hidden=hidden,
        output=output,
        loss=loss,
        seed=seed,
        backend=backend,
    )
    out(f"fastbp demo: {_DESCRIPTIONS[dataset]}, {len(X)} training examples; {net!r}")
    out(f"per-example SGD, lr={lr}, {epochs} epochs")
    history = History()
    done = 0
    while done < epochs:
        block = min(report_every, epochs - done)
        part = net.fit(X, Y, epochs=block, lr=lr, seed=seed + done)
        for name in ("loss", "val_loss", "lr", "seconds", "examples_per_second"):
            getattr(history, name).extend(getattr(part, name))
        done += block
        score = _score(dataset, net, X_test, y_test)
        out(
            f"  epoch {done:4d}/{epochs}  loss {history.loss[-1]:.4f}  "
            f"{'R^2' if dataset == 'sine' else 'accuracy'} {score:.3f}"
        )
    seconds = sum(history.seconds)
    rate = len(X) * epochs / seconds
    what = {"sine": "R^2", "digits": "test accuracy"}.get(dataset, "training accuracy")
    out(
        f"{what} {score:.1%}; {seconds:.2f} s of training, "
        f"{rate:,.0f} examples/s on the {net.backend} backend"
    )
    if plot is not None:
        _picture(plot, dataset, history, net, X_test, y_test)
        out(f"wrote {plot}")
    return {
        "accuracy": float(score),
        "loss": history.loss[-1],
        "seconds": seconds,
        "examples_per_second": rate,
    }


_DESCRIPTIONS = {
    "spirals": "two interleaved spirals",
    "xor": "the XOR problem",
    "sine": "one period of a sine",
    "digits": "scikit-learn's 8x8 digits",
}


def _score(dataset, net, X, y):
    """Accuracy, or R^2 for the sine."""
    out = net.predict(X)
    if dataset == "sine":
        return r_squared(y, out[:, 0])
    predicted = out.argmax(axis=1) if out.shape[1] > 1 else out[:, 0] > 0.5
    return np.mean(predicted == y)


def r_squared(truth, predicted):
    """The coefficient of determination R^2 of predictions, over all outputs."""
    truth = np.asarray(truth, dtype=np.float64)
    spread = np.sum((truth - truth.mean(axis=0)) ** 2)
    return 1 - np.sum((truth - predicted) ** 2) / max(spread, np.finfo(np.float64).tiny)


def _picture(path, dataset, history, net, X, y):
    """The demo's PNG: the learning curve beside what the network learned."""
    from . import plot

    figure = plot.Figure(figsize=(11, 4.5), layout="constrained")
    left, right = figure.subfigures(1, 2, width_ratios=[1, 1.3 if dataset == "digits" else 1])
    plot.learning_curve(history, left.add_subplot())
    if dataset == "digits":
        plot.network_picture(net, X[0], np.eye(10)[int(y[0])], right)
    elif dataset == "sine":
        ax = right.add_subplot()
        grid = np.linspace(X.min(), X.max(), 300)[:, None]
        ax.scatter(X[:, 0], y, s=6, alpha=0.5, label="examples")
        ax.plot(grid[:, 0], net.predict(grid)[:, 0], "r", label="network")
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.set_title("the fitted curve")
        ax.legend()
    else:
        plot.decision_boundary(net, X, y, right.add_subplot())
    figure.savefig(path, dpi=100)
