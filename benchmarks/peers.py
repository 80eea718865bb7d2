"""The implementations the benchmark suite times: fastbp and what a Python
user would pick instead, all on the same computation.

The computation: tanh hidden layers, identity output, the squared error
e = 1/2 sum_k (x_k - y_k)^2, plain SGD with a constant lr, one example at a
time, one epoch in the order of the rows.  Weights come and go in fastbp's
layout: one block of shape (d[l-1] + 1, d[l]) per layer, row 0 the biases.

Each implementation is a function ``train(blocks, X, Y, lr)`` returning
``(seconds, blocks)``: the seconds of the training loop alone (no imports,
no conversions, no compilation) and the final weights as float64 blocks.
``AVAILABLE`` says which ones can run here (a peer not installed is left
out, with the reason).
"""

import importlib
import time

import numpy as np

import fastbp


def _installed(module):
    try:
        importlib.import_module(module)
        return True
    except ImportError:
        return False


def _layers(blocks):
    return [blocks[0].shape[0] - 1] + [W.shape[1] for W in blocks]


# ------------------------------------------------------------------ fastbp


def _fastbp(backend):
    def train(blocks, X, Y, lr):
        net = fastbp.Network(
            _layers(blocks),
            dtype=X.dtype,
            backend=backend,
            weights=[W.astype(X.dtype) for W in blocks],
        )
        history = net.fit(X, Y, epochs=1, lr=lr, shuffle=False)
        return history.seconds[0], [W.astype(np.float64) for W in net.weights]

    return train


# ------------------------------------------------------------------- numpy


def numpy_loop(blocks, X, Y, lr):
    """Per-example SGD in numpy, written the obvious way."""
    Ws = [W[1:].copy() for W in blocks]
    bs = [W[0].copy() for W in blocks]
    start = time.perf_counter()
    for x, y in zip(X, Y):
        xs = [x]
        for l, (W, b) in enumerate(zip(Ws, bs)):
            s = xs[-1] @ W + b
            xs.append(s if l == len(Ws) - 1 else np.tanh(s))
        delta = xs[-1] - y
        for l in range(len(Ws) - 1, -1, -1):
            delta_prev = (Ws[l] @ delta) * (1 - xs[l] ** 2) if l > 0 else None
            Ws[l] -= lr * np.outer(xs[l], delta)
            bs[l] -= lr * delta
            delta = delta_prev
    seconds = time.perf_counter() - start
    return seconds, [np.vstack([b, W]).astype(np.float64) for W, b in zip(Ws, bs)]


# ----------------------------------------------------------------- PyTorch


def _torch_setup(dtype):
    import torch

    torch.set_num_threads(1)
    kind = torch.float64 if dtype == np.float64 else torch.float32
    return torch, kind


def torch_eager(blocks, X, Y, lr):
    """nn.Sequential, loss.backward() and torch.optim.SGD, one example a step."""
    torch, kind = _torch_setup(X.dtype)
    modules = []
    for l, W in enumerate(blocks):
        linear = torch.nn.Linear(W.shape[0] - 1, W.shape[1], dtype=kind)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(W[1:].T.copy()))
            linear.bias.copy_(torch.from_numpy(W[0].copy()))
        modules.append(linear)
        if l < len(blocks) - 1:
            modules.append(torch.nn.Tanh())
    model = torch.nn.Sequential(*modules)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    start = time.perf_counter()
    for i in range(len(Xt)):
        optimizer.zero_grad()
        loss = 0.5 * ((model(Xt[i]) - Yt[i]) ** 2).sum()
        loss.backward()
        optimizer.step()
    seconds = time.perf_counter() - start
    linears = [m for m in modules if isinstance(m, torch.nn.Linear)]
    return seconds, [
        np.vstack([m.bias.detach().numpy(), m.weight.detach().numpy().T]).astype(np.float64)
        for m in linears
    ]


def torch_manual(blocks, X, Y, lr):
    """The same loop by hand with torch tensors, no autograd."""
    torch, kind = _torch_setup(X.dtype)
    Ws = [torch.from_numpy(W[1:].copy()).to(kind) for W in blocks]
    bs = [torch.from_numpy(W[0].copy()).to(kind) for W in blocks]
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(len(Xt)):
            xs = [Xt[i]]
            for l in range(len(Ws)):
                s = torch.addmv(bs[l], Ws[l].T, xs[-1])
                xs.append(s if l == len(Ws) - 1 else torch.tanh(s))
            delta = xs[-1] - Yt[i]
            for l in range(len(Ws) - 1, -1, -1):
                delta_prev = torch.mv(Ws[l], delta).mul_(1 - xs[l] * xs[l]) if l > 0 else None
                Ws[l].addr_(xs[l], delta, alpha=-lr)
                bs[l].add_(delta, alpha=-lr)
                delta = delta_prev
    seconds = time.perf_counter() - start
    return seconds, [np.vstack([b.numpy(), W.numpy()]).astype(np.float64) for W, b in zip(Ws, bs)]


# --------------------------------------------------------------------- JAX

_JAX_EPOCHS = {}


def jax_scan(blocks, X, Y, lr):
    """jax.jit of a lax.scan of per-example SGD steps over the epoch (compiled
    ahead of the timed call, once per shape)."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    def error(params, x, y):
        for l, (W, b) in enumerate(params):
            s = x @ W + b
            x = s if l == len(params) - 1 else jnp.tanh(s)
        return 0.5 * jnp.sum((x - y) ** 2)

    def step(params, example):
        grads = jax.grad(error)(params, *example)
        return jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads), None

    params = [
        (jnp.asarray(W[1:].astype(X.dtype)), jnp.asarray(W[0].astype(X.dtype))) for W in blocks
    ]
    Xj, Yj = jnp.asarray(X), jnp.asarray(Y)
    key = (tuple(_layers(blocks)), lr, X.shape, X.dtype.name)
    if key not in _JAX_EPOCHS:  # compiled ahead, once
        epoch = jax.jit(lambda params, X, Y: jax.lax.scan(step, params, (X, Y))[0])
        _JAX_EPOCHS[key] = epoch.lower(params, Xj, Yj).compile()
    epoch = _JAX_EPOCHS[key]
    start = time.perf_counter()
    params = jax.block_until_ready(epoch(params, Xj, Yj))
    seconds = time.perf_counter() - start
    return seconds, [
        np.vstack([np.asarray(b), np.asarray(W)]).astype(np.float64) for W, b in params
    ]


# ------------------------------------------------------------ scikit-learn


def sklearn_mlp(blocks, X, Y, lr):
    """MLPRegressor(solver="sgd", batch_size=1, momentum=0, alpha=0), one
    partial_fit over the epoch."""
    import warnings

    from sklearn.neural_network import MLPRegressor

    layers = _layers(blocks)
    model = MLPRegressor(
        hidden_layer_sizes=layers[1:-1],
        activation="tanh",
        solver="sgd",
        batch_size=1,
        learning_rate="constant",
        learning_rate_init=lr,
        momentum=0.0,
        alpha=0.0,
        shuffle=False,
        random_state=0,
    )
    Y = Y.ravel() if Y.shape[1] == 1 else Y  # what sklearn expects
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no convergence warnings after one epoch
        model.partial_fit(X[:1], Y[:1])  # creates the weights
        for l, W in enumerate(blocks):
            model.coefs_[l][...] = W[1:]
            model.intercepts_[l][...] = W[0]
        start = time.perf_counter()
        model.partial_fit(X, Y)
        seconds = time.perf_counter() - start
    return seconds, [
        np.vstack([b, W]).astype(np.float64) for W, b in zip(model.coefs_, model.intercepts_)
    ]


# ------------------------------------------------------------------ table

# name -> (train, module it needs or None, is it slow: timed on fewer examples)
IMPLEMENTATIONS = {
    "fastbp": (_fastbp("compiled"), None, False),
    "fastbp reference": (_fastbp("reference"), None, True),
    "numpy loop": (numpy_loop, None, True),
    "torch eager": (torch_eager, "torch", True),
    "torch no-autograd": (torch_manual, "torch", True),
    "jax scan": (jax_scan, "jax", False),
    "sklearn MLPRegressor": (sklearn_mlp, "sklearn", True),
}

AVAILABLE = {
    name: module is None or _installed(module) for name, (_, module, _) in IMPLEMENTATIONS.items()
}
