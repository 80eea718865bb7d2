"""Pictures of a network and its training (extra ``plot``: matplotlib).

Every function draws on the axes or figure it is given, or on a new
``matplotlib.figure.Figure`` that is not attached to pyplot, so it works
without a display (the Agg canvas) and leaves pyplot's state alone; save a
figure with ``figure.savefig(path)``.
"""

import numpy as np

try:
    from matplotlib.figure import Figure
except ImportError as error:  # pragma: no cover - the extra is missing
    raise ImportError('fastbp.plot needs matplotlib: pip install "fastbp[plot]"') from error


def _axes(ax, size=(5, 4)):
    return Figure(figsize=size, layout="constrained").add_subplot() if ax is None else ax


def learning_curve(history, ax=None):
    """The training loss (and validation loss) of every epoch.

    Parameters
    ----------
    history : History, a fitted fastbp.sklearn estimator, or a sequence of losses
        ``fit``'s History (with its validation losses), an estimator (its
        ``loss_curve_``), or the losses themselves (a ``loss_curve_``).

    Returns the axes.
    """
    if hasattr(history, "loss_curve_"):
        history = history.loss_curve_
    loss = list(history.loss) if hasattr(history, "loss") else [float(v) for v in history]
    val_loss = list(getattr(history, "val_loss", []))
    ax = _axes(ax)
    epochs = np.arange(1, len(loss) + 1)
    ax.plot(epochs, loss, label="training loss")
    if val_loss:
        ax.plot(epochs, val_loss, label="validation loss")
    if min(loss + val_loss, default=0) > 0:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean error e")
    ax.set_title("learning curve")
    ax.legend()
    return ax


def decision_boundary(net, X, y, ax=None, resolution=200):
    """Where a classifier of two inputs puts each class, with the examples.

    The background is the predicted class over a grid covering X (for one
    sigmoid output, the probability of class 1, with the 0.5 contour);
    the points are X coloured by their class y.

    Parameters
    ----------
    net : Network with d[0] == 2
    X : array_like, shape (n, 2)
    y : array_like, shape (n,)
        Class labels (numbers).
    """
    if net.layers[0] != 2:
        raise ValueError(
            f"decision_boundary needs a network of 2 inputs, got d[0] = {net.layers[0]}"
        )
    ax = _axes(ax)
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y)
    low, high = X.min(axis=0), X.max(axis=0)
    margin = 0.05 * (high - low) + 1e-9
    g0, g1 = np.meshgrid(
        np.linspace(low[0] - margin[0], high[0] + margin[0], resolution),
        np.linspace(low[1] - margin[1], high[1] + margin[1], resolution),
    )
    out = net.predict(np.column_stack([g0.ravel(), g1.ravel()]))
    if out.shape[1] == 1:
        surface = out[:, 0].reshape(g0.shape)
        ax.contourf(g0, g1, surface, levels=20, cmap="RdBu_r", alpha=0.6)
        ax.contour(g0, g1, surface, levels=[0.5], colors="k", linewidths=1)
    else:
        ax.contourf(
            g0,
            g1,
            out.argmax(axis=1).reshape(g0.shape),
            cmap="tab10",
            alpha=0.4,
            levels=np.arange(out.shape[1] + 1) - 0.5,
        )
    ax.scatter(
        X[:, 0],
        X[:, 1],
        c=y,
        cmap="RdBu_r" if out.shape[1] == 1 else "tab10",
        s=8,
        edgecolors="k",
        linewidths=0.2,
    )
    ax.set_xlabel("x_1")
    ax.set_ylabel("x_2")
    ax.set_title("decision boundary")
    return ax


def network_picture(net, x, y, figure=None):
    """The seed's quantities for one example, layer by layer, as heat maps:
    the weights w_ij^(l) (rows i = 0..d[l-1], row 0 the bias weights;
    columns j = 1..d[l]) above, and the sensitivities delta_j^(l) = de/ds_j^(l)
    that backpropagation computes below.

    Returns the figure.
    """
    result = net.backprop(x, y)
    L = len(net.weights)
    figure = Figure(figsize=(3 * L + 1, 5), layout="constrained") if figure is None else figure
    axes = figure.subplots(2, L, squeeze=False, height_ratios=[4, 1])
    for l in range(1, L + 1):
        W, delta = net.weights[l - 1], result.deltas[l - 1]
        limit = float(np.max(np.abs(W))) or 1.0
        n_in, n_out = W.shape[0] - 1, W.shape[1]
        image = axes[0, l - 1].imshow(
            W,
            cmap="RdBu_r",
            vmin=-limit,
            vmax=limit,
            aspect="auto",
            interpolation="nearest",
            extent=(0.5, n_out + 0.5, n_in + 0.5, -0.5),
        )
        axes[0, l - 1].set_title(f"w_ij^({l})")
        axes[0, l - 1].set_ylabel("i (0: bias)")
        figure.colorbar(image, ax=axes[0, l - 1])
        limit = float(np.max(np.abs(delta))) or 1.0
        image = axes[1, l - 1].imshow(
            delta[None, :],
            cmap="PuOr_r",
            vmin=-limit,
            vmax=limit,
            aspect="auto",
            interpolation="nearest",
            extent=(0.5, n_out + 0.5, 0.5, -0.5),
        )
        axes[1, l - 1].set_title(f"delta_j^({l})")
        axes[1, l - 1].set_yticks([])
        axes[1, l - 1].set_xlabel("j")
        figure.colorbar(image, ax=axes[1, l - 1])
    figure.suptitle(f"one example: e = {result.error:.4g}")
    return figure
