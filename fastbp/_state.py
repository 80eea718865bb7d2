"""A network's training state: what ``partial_fit`` continues, what a
model file keeps besides the weights, and the counters it starts from.
Training (fastbp.training, fastbp._passes) and persistence
(fastbp._persistence) both import it from here."""

import dataclasses
import threading
import weakref
from typing import Any

import numpy as np

from . import _buffers

# The counters of a fresh training state (see TrainingState).
FRESH_PROGRESS = {
    "passes": 0,
    "updates": 0,
    "adaptive_lr": None,
    "best_loss": None,
    "waited": 0,
    "optimizer": None,
    "moments_from": 0,
}


def moments_size(optimizer, n_weights):
    """The length of the moments of ``optimizer``: "adam"'s m and v, or
    "adagrad"'s sums of squares ("sgd" keeps none, and never asks)."""
    return (2 if optimizer == "adam" else 1) * n_weights


class TrainingState:
    """What ``partial_fit`` continues and ``fit`` starts afresh.

    Attributes
    ----------
    velocity : ndarray or None
        Momentum's v, laid out like ``flat`` (from the first pass with momentum).
    average : ndarray or None
        Averaged SGD's running mean of the weights, laid out like ``flat``.
    iterate : ndarray or None
        The last iterate of averaged SGD, while ``flat`` holds the average.
    moments : ndarray or None
        Adam's m and v (each laid out like ``flat``, one after the other) or
        Adagrad's sums of squared gradients, of the optimizer progress names.
    progress : dict
        "passes" of this training run (they seed the shuffles), "updates"
        (the t of the schedules, of averaging and of Adam's bias correction),
        the "adaptive" schedule's current lr ("adaptive_lr"), "best_loss" and
        epochs without improvement ("waited"), the "optimizer" whose moments
        these are and the update count they started at ("moments_from":
        Adam's bias correction counts its own steps).
    """

    ARRAYS = ("velocity", "average", "iterate", "moments")

    def __init__(self, velocity=None, average=None, iterate=None, moments=None, progress=None):
        self.velocity, self.average, self.iterate = velocity, average, iterate
        self.moments = moments
        self.progress = dict(FRESH_PROGRESS if progress is None else progress)

    def take(self, other):
        """Take ``other``'s arrays and progress as this state's own (a
        loaded model's, into its new network)."""
        for name in self.ARRAYS:
            setattr(self, name, getattr(other, name))
        self.progress = other.progress

    def copy(self):
        """A copy, its buffers on cache lines."""
        return TrainingState(
            *(_buffers.copy(getattr(self, name)) for name in self.ARRAYS), self.progress
        )


@dataclasses.dataclass(slots=True, eq=False, repr=False)
class Model:
    """What training, persistence and the backends' one-example paths use of
    a Network, as one object that fastbp.network makes and hands them (no
    other module reads a Network's own attributes).

    Attributes
    ----------
    network : Network
        The network itself: what callbacks get, and its public API (a
        property of ``network_ref``, a weak reference: the Network holds
        its Model, and a strong reference back would keep both, and the
        weights, until the cyclic garbage collector ran).
    flat, layers, dtype, loss_name, seed
        As the Network's.
    backend : module
        The backend module (fastbp._interface.Backend).
    spec : tuple
        (d[0..L] as intp, the activation codes as intc, the loss code): the
        network as the backends take it.
    requested_backend : str or None
        The ``backend=`` the network was made with (None: the default).
    state : TrainingState
        Replaced by a fresh ``fit``, early stopping's restore and loading.
    lock : threading.Lock
        Held by the one training call.
    predictor, stepper
        The backend's Predictor of one example, and the Stepper of the last
        ``sgd_step``'s options (None until then, and after anything that
        may replace the state's buffers).
    """

    network_ref: weakref.ref
    flat: np.ndarray
    layers: tuple[int, ...]
    dtype: np.dtype
    loss_name: str
    seed: int
    backend: Any
    spec: tuple[np.ndarray, np.ndarray, int]
    requested_backend: str | None
    state: TrainingState
    lock: threading.Lock
    predictor: Any
    stepper: Any

    @property
    def network(self):
        """The Network this Model is of."""
        return self.network_ref()
