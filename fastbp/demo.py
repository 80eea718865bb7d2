"""The demo: a network learns two interleaved spirals, which no linear model can separate."""


import numpy as np

from .network import Network


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
    t = np.sqrt(rng.random(n)) * turns * 2 * np.pi    # sqrt: points spread evenly along the arm
    label = rng.integers(2, size=n)
    angle = t + np.pi * label                          # the second arm is the first turned by pi
    radius = t / (turns * 2 * np.pi)
    X = np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])
    X += noise * rng.normal(size=X.shape)
    return (X - X.mean(axis=0)) / X.std(axis=0), label.astype(np.float64)


def run(points=2000, epochs=100, lr=0.01, seed=0, backend=None, report_every=10, out=print):
    """Train a [2, 64, 64, 1] relu network on ``spirals`` and report.

    Prints the training loss every ``report_every`` epochs, then the final
    accuracy, training time and examples per second, through ``out``.

    Returns
    -------
    dict with keys "accuracy", "loss", "seconds", "examples_per_second".
    """
    X, y = spirals(points, seed=seed)
    net = Network([2, 64, 64, 1], hidden="relu", output="sigmoid", loss="cross_entropy",
                  seed=seed, backend=backend)
    out(f"fastbp demo: two interleaved spirals, {points} points; {net!r}")
    out(f"per-example SGD, lr={lr}, {epochs} epochs")
    seconds, done = 0.0, 0
    while done < epochs:
        block = min(report_every, epochs - done)
        history = net.fit(X, y, epochs=block, lr=lr, seed=seed + done)
        seconds += sum(history.seconds)
        done += block
        accuracy = np.mean((net.predict(X)[:, 0] > 0.5) == y)
        out(f"  epoch {done:4d}/{epochs}  loss {history.loss[-1]:.4f}  accuracy {accuracy:.3f}")
    rate = points * epochs / seconds
    out(f"training accuracy {accuracy:.1%}; {seconds:.2f} s of training, "
        f"{rate:,.0f} examples/s on the {net.backend} backend")
    return {"accuracy": float(accuracy), "loss": history.loss[-1], "seconds": seconds,
            "examples_per_second": rate}
