"""Training on a Dask cluster by model averaging.

``fit(model, X, Y, rounds, local_epochs)``: X and Y are Dask arrays whose
row blocks live on the cluster's workers. Each worker gathers the blocks it
holds, once; then every round sends it the current weights, it trains a copy
of the network on its examples for ``local_epochs`` epochs of fastbp's
per-example SGD, and the client averages the copies' weights, weighted by
the workers' numbers of examples (parallelized SGD, Zinkevich et al. 2010;
federated averaging, McMahan et al. 2017). Only weights travel between the
client and the workers, never examples.

Needs dask[distributed] (``pip install "fastbp[dask]"``).
"""

import numbers
import sys

import numpy as np

try:
    import dask
    import dask.array as da
    from distributed import get_client, wait
except ImportError as error:  # pragma: no cover - the extra is missing
    raise ImportError(
        'fastbp.dask needs dask[array,distributed]: pip install "fastbp[dask]"'
    ) from error

from . import _sparse
from .network import Network

__all__ = ["fit"]


def fit(
    model, X, Y, rounds=10, local_epochs=1, *, client=None, seed=None, sample_weight=None, **options
):
    """Train ``model`` on Dask arrays by model averaging over the workers.

    Parameters
    ----------
    model : fastbp.Network, or fastbp.sklearn.MLPClassifier / MLPRegressor
        A Network is trained in place from its current weights. An
        estimator is fitted afresh (its ``network_`` built from its
        parameters and ``random_state``), with its ``learning_rate_init``,
        ``momentum``, ``alpha``, ``batch_size`` and the other options of one
        epoch; its ``learning_rate`` must be "constant", and early stopping
        is not supported.
    X : dask.array.Array, shape (n, d[0])
    Y : dask.array.Array, shape (n, d[L]) or (n,)
        Targets; for an estimator, its y (class labels for a classifier).
        Rechunked to X's row blocks.
    rounds : int >= 1, default 10
        Rounds of local training followed by averaging.
    local_epochs : int >= 1, default 1
        Epochs each worker trains its copy for in a round.
    client : distributed.Client, optional
        Default: the current client (``distributed.get_client()``).
    seed : int, optional
        Seed of the workers' shuffling (each round and worker draws its own
        from it); None uses the network's seed.
    sample_weight : dask.array.Array of shape (n,), optional
    **options
        Further options of ``Network.fit`` for the local training (lr,
        momentum, batch_size, lr_schedule, ...); ``n_threads`` defaults to 1
        (Dask's workers are the parallelism). Each round's local training
        starts a fresh training state: velocity and the schedules' update
        count restart every round.

    Returns
    -------
    model
        The trained Network, or the fitted estimator (``loss_curve_`` has
        one entry per round: the workers' last local epochs' loss, weighted
        by their examples).
    """
    client = get_client() if client is None else client
    rounds = _count(rounds, "rounds")
    local_epochs = _count(local_epochs, "local_epochs")
    X = _dask_array(X, "X", (2,))
    Y = _dask_array(Y, "Y", (1, 2))
    if sample_weight is not None:
        sample_weight = _dask_array(sample_weight, "sample_weight", (1,))
    for name, array in (("Y", Y), ("sample_weight", sample_weight)):
        if array is not None and array.shape[0] != X.shape[0]:
            raise ValueError(f"{name} has {array.shape[0]} rows where X has {X.shape[0]}")
    if isinstance(model, Network):
        network, finish, shuffle_seed = model, None, model.seed
    elif hasattr(model, "_start_distributed"):
        network, Y, sample_weight, options, shuffle_seed = model._start_distributed(
            X, Y, sample_weight, options
        )
        finish = model._finish_distributed
    else:
        raise TypeError(
            f"model must be a fastbp.Network or a fastbp.sklearn estimator, got "
            f"{type(model).__name__}"
        )
    options.setdefault("n_threads", 1)
    seed = shuffle_seed if seed is None else seed
    shares = _gather_on_workers(client, X, Y, sample_weight)
    losses = []
    for round_ in range(rounds):
        flat, loss = _round(client, network, shares, local_epochs, seed, round_, options)
        network.flat[:] = flat
        losses.append(loss)
    if finish is not None:
        finish(losses, rounds * local_epochs, X.shape[0])
    return model


def _count(value, name):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _dask_array(array, name, ndims):
    if not isinstance(array, da.Array):
        raise TypeError(
            f"{name} must be a dask.array.Array (dask.array.from_array wraps an "
            f"array in memory), got {type(array).__name__}"
        )
    if array.ndim not in ndims:
        raise ValueError(
            f"{name} must have {' or '.join(map(str, ndims))} dimensions, got shape {array.shape}"
        )
    if np.isnan(array.shape[0]):
        raise ValueError(f"{name} has unknown block sizes; call {name}.compute_chunk_sizes()")
    return array


def _gather_on_workers(client, X, Y, sample_weight):
    """Futures, one per worker, of (X, Y, weights) of all the row blocks it
    holds, concatenated there; and each one's number of examples."""
    X = X.rechunk({1: -1})
    Y = Y.rechunk({0: X.chunks[0], 1: -1} if Y.ndim == 2 else {0: X.chunks[0]})
    blocks = [X.to_delayed().ravel(), Y.to_delayed().ravel()]
    if sample_weight is not None:
        blocks.append(sample_weight.rechunk({0: X.chunks[0]}).to_delayed().ravel())
    parts = client.compute([dask.delayed(tuple)(list(row)) for row in zip(*blocks)])
    wait(parts)
    for part in parts:
        if part.status == "error":
            part.result()  # raises the error here (only it travels)
    holders = client.who_has(parts)
    by_worker = {}
    for part, size in zip(parts, X.chunks[0]):
        worker = holders[part.key][0]
        by_worker.setdefault(worker, ([], []))
        by_worker[worker][0].append(part)
        by_worker[worker][1].append(size)
    shares = []
    for worker, (worker_parts, sizes) in by_worker.items():
        share = client.submit(_concatenate, worker_parts, workers=[worker], pure=False)
        shares.append((worker, share, sum(sizes)))
    wait([share for _, share, _ in shares])
    return shares


def _concatenate(parts):
    """One worker's blocks as one (X, Y, weights or None); scipy.sparse blocks
    of X as one CSR matrix."""
    blocks = [part[0] for part in parts]
    if _sparse.issparse(blocks[0]):
        X = sys.modules["scipy.sparse"].vstack(blocks, format="csr")
    else:
        X = np.concatenate(blocks)
    Y = np.concatenate([part[1] for part in parts])
    weights = np.concatenate([part[2] for part in parts]) if len(parts[0]) == 3 else None
    return X, Y, weights


def _round(client, network, shares, epochs, seed, round_, options):
    """One round: every worker trains a copy; the example-weighted mean of
    the copies' weights and of their last epochs' losses."""
    shares_of_all = np.array([size for _, _, size in shares], dtype=float)
    shares_of_all /= shares_of_all.sum()  # (one worker: exactly 1)
    trained = [
        client.submit(
            _train_copy,
            network,
            share,
            epochs,
            _seed_of(seed, round_, k),
            options,
            workers=[worker],
            allow_other_workers=True,
            pure=False,
        )
        for k, (worker, share, _) in enumerate(shares)
    ]
    results = client.gather(trained)
    flat = sum(part * result[0] for part, result in zip(shares_of_all, results))
    loss = float(sum(part * result[1] for part, result in zip(shares_of_all, results)))
    return flat, loss


def _seed_of(seed, round_, worker):
    return int(np.random.SeedSequence([seed, round_, worker]).generate_state(1)[0])


def _train_copy(network, share, epochs, seed, options):
    """On a worker: train the copy of the network it was sent on its examples."""
    X, Y, weights = share
    history = network.fit(X, Y, epochs=epochs, seed=seed, sample_weight=weights, **options)
    return network.flat, history.loss[-1]
