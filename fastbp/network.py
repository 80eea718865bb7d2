"""The Network model: construction, weights and their views, and the
computations of one network (predict, loss, backprop, gradient, an SGD
step); training hands over to ``fastbp.training``, files to
``fastbp._persistence``."""

from __future__ import annotations

import collections
import os
import threading
import weakref
from collections.abc import Iterable, Sequence
from typing import Any, BinaryIO, ParamSpec, TypeVar, cast

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from . import _backend, _buffers, _persistence, _torch, training
from . import _validation as check
from ._names import ACTIVATIONS, LOSSES
from ._state import Model, TrainingState
from ._training_methods import TrainingMethods
from .training import DivergenceError, History

__all__ = ["Network", "History", "Backprop", "DivergenceError", "load", "fit_stream"]

P = ParamSpec("P")
R = TypeVar("R")

Backprop = collections.namedtuple("Backprop", "signals outputs deltas gradients error")
Backprop.__doc__ = """Everything backpropagation computes for one example.

signals : list of L arrays, ``signals[l-1]`` is s^(l)
outputs : list of L+1 arrays, ``outputs[l]`` is x^(l) without the bias node
deltas : list of L arrays, ``deltas[l-1]`` is delta^(l) = de/ds^(l)
gradients : list of L arrays shaped like ``Network.weights``, de/dw_ij^(l)
error : float, e(h(x), y)
"""


class Network(TrainingMethods):
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
        Activation of the output layer: a hidden activation, "softmax" or
        "exp" (x = e^s).
    loss : {"squared", "cross_entropy", "poisson"}, default "squared"
        Error of one example. Squared: e = 1/2 sum_k (x_k - y_k)^2.
        Cross-entropy needs a "sigmoid" or "softmax" output. Poisson (half
        the Poisson deviance, e = sum_k y_k log(y_k / x_k) - y_k + x_k, as
        scikit-learn's) needs an "exp" output and targets >= 0.
    dtype : {"float64", "float32"}, default "float64"
        Floating type of the weights and of all computation.
    seed : int or None, default 0
        Seed of the initial weights (Xavier/Glorot uniform, He normal before
        relu and leaky_relu; biases 0) and of the default shuffling in
        ``fit``. None draws a fresh seed, kept in ``Network.seed``.
    backend : {None, "compiled", "reference"}, default None
        None uses ``fastbp.BACKEND``; "compiled" raises ImportError where
        the extension is missing.
    weights : sequence of array_like, optional
        L arrays of shapes (d[l-1]+1, d[l]) instead of the seeded weights.

    Notes
    -----
    Sparse X (scipy.sparse CSR; CSC and COO converted once, never densified
    whole) is taken by ``fit``, ``partial_fit``, ``predict``, ``loss``,
    ``gradient`` and ``backprop``: an example costs its entries' rows of
    W^(1), whose signals are the bias row plus those rows times the entries,
    and whose update touches only them (Adam and Adagrad too, lazily, as
    torch's SparseAdam; momentum and SGD's weight decay exactly, catching
    up on one thread). Average, batch_size > 1 and momentum with
    weight_decay need dense X (docs/sparse.md).
    """

    def __init__(
        self,
        layers: Sequence[int],
        hidden: str | Sequence[str] = "tanh",
        output: str = "identity",
        loss: str = "squared",
        dtype: DTypeLike = "float64",
        seed: int | None = 0,
        backend: str | None = None,
        weights: Sequence[ArrayLike] | None = None,
    ) -> None:
        sizes, self._hidden, self._output, loss_name = check.architecture(
            layers, hidden, output, loss
        )
        float_type = check.dtype(dtype)
        seed = check.seed(seed)
        if seed is None:
            seed = int(cast(int, np.random.SeedSequence().entropy) % 2**63)
        backend_module = _backend.get(backend)
        self._backend_name = backend or _backend.BACKEND

        # What the backends are handed: d[0..L], acts[l] for l = 1..L, the loss.
        names = ("identity",) + self._hidden + (self._output,)
        spec = (
            np.array(sizes, dtype=np.intp),
            np.array([ACTIVATIONS.index(n) for n in names], dtype=np.intc),
            LOSSES.index(loss_name),
        )
        flat = _buffers.zeros(_buffers.n_weights(sizes), float_type)
        self._weights = _buffers.blocks(flat, sizes)
        if weights is None:
            _buffers.initialise(self._weights, sizes, names[1:], seed)
        else:
            for W, given in zip(self._weights, check.weights(weights, self._weights)):
                W[...] = given
        # What training and persistence are handed, and all the Network
        # holds besides its activations and views; its predictor is x^(L)
        # of one example, its stepper sgd_step's update by the options of
        # the last call (made again when they or the state change).
        self._model = Model(
            network_ref=weakref.ref(self),
            flat=flat,
            layers=sizes,
            dtype=float_type,
            loss_name=loss_name,
            seed=seed,
            backend=backend_module,
            spec=spec,
            requested_backend=backend,
            state=TrainingState(),
            lock=threading.Lock(),
            predictor=backend_module.Predictor(flat, *spec[:2]),
            stepper=None,
        )

    # ------------------------------------------------------------ properties

    @property
    def layers(self) -> tuple[int, ...]:
        """d[0..L] as a tuple."""
        return self._model.layers

    @property
    def flat(self) -> np.ndarray:
        """All weights in one contiguous 1-D array (writable, never replaced)."""
        return self._model.flat

    @property
    def weights(self) -> list[np.ndarray]:
        """List of L writable views of ``flat``; ``weights[l-1]`` is W^(l),
        shape (d[l-1]+1, d[l]), row 0 the bias weights w_0j^(l)."""
        return list(self._weights)

    @property
    def backend(self) -> str:
        """ "compiled" or "reference"."""
        return self._backend_name

    @property
    def dtype(self) -> np.dtype:
        return self._model.dtype

    @property
    def hidden(self) -> tuple[str, ...]:
        """Activation of each hidden layer, as a tuple."""
        return self._hidden

    @property
    def output(self) -> str:
        return self._output

    @property
    def loss_name(self) -> str:
        """ "squared", "cross_entropy" or "poisson" (``loss`` is the method)."""
        return self._model.loss_name

    @property
    def seed(self) -> int | None:
        return self._model.seed

    @property
    def training_state(self) -> TrainingState:
        """The ``fastbp.training.TrainingState`` that ``partial_fit``
        continues (velocity, average, last iterate, moments, progress): to read."""
        return self._model.state

    def __repr__(self):
        hidden = self._hidden[0] if len(set(self._hidden)) == 1 else list(self._hidden)
        model = self._model
        return (
            f"Network({list(model.layers)}, hidden={hidden!r}, output={self._output!r}, "
            f"loss={model.loss_name!r}, dtype={model.dtype.name!r}, backend={self.backend!r})"
        )

    # ------------------------------------------------------------ input checks

    def _inputs(self, X, ndims=(1, 2)):
        return check.inputs(X, "X", self._model.dtype, ndims, self._model.layers[0])

    def _targets(self, Y, n_rows):
        return check.targets(
            Y,
            "Y" if n_rows else "y",
            self._model.dtype,
            self._model.layers[-1],
            n_rows,
            self._model.loss_name,
        )

    # ------------------------------------------------------------ computation

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Outputs x^(L) of the network.

        Parameters
        ----------
        X : array_like, shape (n, d[0]) or (d[0],), or a scipy.sparse matrix (n, d[0])

        Returns
        -------
        ndarray of shape (n, d[L]) for 2-D X, (d[L],) for one 1-D example.

        Notes
        -----
        One example that is already a C-contiguous array of the network's
        dtype costs little more than the call (no conversion, no copy).
        """
        out = self._model.predictor.predict(X)
        if out is not None:
            return out
        rows = self._inputs(X)
        one = getattr(rows, "ndim", 2) == 1
        out = _backend.forward(
            self._model.backend,
            self._model.flat,
            self._model.spec,
            self._weights,
            rows.reshape(1, -1) if one else rows,
        )
        return out[0] if one else out

    def loss(self, X: ArrayLike, Y: ArrayLike) -> float:
        """Mean error e(h(x_n), y_n) over the examples (rows of X).

        Y has shape (n, d[L]), or (n,) where d[L] == 1.
        """
        rows = self._inputs(X, (2,))
        return training.mean_loss(
            self._model, self._model.flat, rows, self._targets(Y, rows.shape[0])
        )

    def backprop(self, x: ArrayLike, y: ArrayLike) -> Backprop:
        """Backpropagation of one example x (d[0],), y (d[L],) or a number
        where d[L] == 1, leaving the weights unchanged: a ``Backprop`` of
        s^(1..L), x^(0..L) (no bias nodes), delta^(1..L), de/dW^(1..L) =
        x^(l-1) delta^(l)T and the error e."""
        model = self._model
        inputs, targets = check.example(x, y, model.dtype, model.layers, model.loss_name)
        n_s = sum(self._model.layers[1:])
        signals = np.empty(n_s, dtype=self._model.dtype)
        deltas = np.empty(n_s, dtype=self._model.dtype)
        outputs = np.empty(sum(self._model.layers), dtype=self._model.dtype)
        grad = np.zeros_like(self._model.flat)
        error = self._model.backend.backprop(
            self._model.flat, *self._model.spec, inputs, targets, signals, outputs, deltas, grad
        )
        split = _buffers.split
        return Backprop(
            split(signals, self._model.layers[1:]),
            split(outputs, self._model.layers),
            split(deltas, self._model.layers[1:]),
            _buffers.blocks(grad, self._model.layers),
            float(error),
        )

    def gradient(self, X: ArrayLike, Y: ArrayLike) -> list[np.ndarray]:
        """de/dW^(l) for every layer, shaped like ``weights``: for 2-D X the
        mean over the examples."""
        rows = self._inputs(X)
        if getattr(rows, "ndim", 2) == 1:
            rows, targets = rows.reshape(1, -1), self._targets(Y, None).reshape(1, -1)
        else:
            targets = self._targets(Y, rows.shape[0])
        weights = np.full(rows.shape[0], 1.0 / rows.shape[0], dtype=self._model.dtype)
        _, grad = training.loss_and_gradient(self._model, self._model.flat, rows, targets, weights)
        return _buffers.blocks(grad, self._model.layers)

    # ------------------------------------------------------------ persistence

    def __getstate__(self):
        return _persistence.stored(self._model, copies=True)

    def __setstate__(self, state):
        checked = _persistence.check_state(state)
        self.__dict__.update(_persistence.restored(type(self), checked).__dict__)
        self._model.network_ref = weakref.ref(self)

    def save(self, path: str | os.PathLike[str] | BinaryIO) -> None:
        """Save to ``path`` (a path, written as given, or a binary file), an
        .npz archive that ``fastbp.load`` reads: the weights bit for bit, the
        training state and JSON metadata with a format version; nothing pickled."""
        _persistence.write(path, _persistence.stored(self._model))

    def to_torch(self) -> Any:
        """The network as a PyTorch ``torch.nn.Sequential`` (needs torch): layer
        l is ``nn.Linear(d[l-1], d[l])`` (weight W^(l)[1:].T, bias W^(l)[0])
        and its activation's module; the loss is not part of it."""
        return _torch.to_sequential(self)

    @classmethod
    def from_torch(
        cls, module: Any, loss: str | None = None, dtype: DTypeLike | None = None, **kwargs: Any
    ) -> Network:
        """A Network with the layers and weights of a ``torch.nn.Sequential``
        of Linear layers and activations as ``to_torch`` writes them; ``loss``
        None is "cross_entropy" after a Softmax, else "squared"; ``dtype``
        None follows the parameters; ``kwargs`` go to ``Network``."""
        return _torch.from_sequential(cls, module, loss, dtype, **kwargs)


def load(
    path: str | os.PathLike[str] | BinaryIO,
    backend: str | None = None,
    *,
    max_inflation: float = _persistence.INFLATION_BOUND,
) -> Network:
    """Load a network saved by ``Network.save``.

    The file is checked before it is trusted: every field of its metadata,
    the arrays' dtypes and shapes against the declared network (before any
    array is read), their values (no NaN or infinity) and the training
    state's consistency.  Nothing is unpickled.

    Parameters
    ----------
    path : str, bytes, path-like or readable binary file
    backend : {None, "compiled", "reference"}
        Backend of the loaded network; None keeps the saved choice.
    max_inflation : float or None, default 16
        The members read may hold at most this many times the file's size
        in all: a compressed (re-zipped) file inflates, one that fastbp
        wrote does not.  So what loading allocates is bounded by about
        twice this multiple of the file's size.  None: no bound.

    Raises
    ------
    ValueError
        If the file is damaged, foreign or not valid ("not a valid fastbp
        model file: ..."), whatever is wrong with it.
    OSError
        If the file cannot be opened, or is not a regular file.
    TypeError
        If ``path`` is neither a path nor a readable binary file.
    """
    if backend is not None:
        _backend.get(backend)  # a bad name is the caller's error
    if max_inflation is not None:
        max_inflation = check.positive_real(max_inflation, "max_inflation")
    return _persistence.restored(Network, _persistence.read(path, (), max_inflation)[0], backend)


def fit_stream(
    network: Network,
    chunks: Iterable[Any],
    lr: float = 0.01,
    shuffle: bool = True,
    seed: int | None = None,
    **options: Any,
) -> History:
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
    stream = training.stream(model_of(network, "network"), chunks)
    return network.partial_fit(stream, cast(Any, None), lr, shuffle, seed, **options)


def model_of(network: Network, name: str = "network") -> Model:
    """What ``network`` hands training and persistence (fastbp._state.Model),
    for the modules that get a Network (TypeError naming ``name`` for
    anything else)."""
    if not isinstance(network, Network):
        raise TypeError(f"{name} must be a fastbp.Network, got {type(network).__name__}")
    return network._model
