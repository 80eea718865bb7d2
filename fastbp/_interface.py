"""The backend interface: what the Python layer calls in a backend, the
reference (``fastbp.reference``) and each copy of the compiled core
(``fastbp._core``), both modules that satisfy ``Backend``.  mypy checks the
reference against it where ``fastbp._backend.get`` returns one, and
tests/test_backends.py checks every backend's names and parameters.

Every function takes the network as ``flat`` (all weights, one C-contiguous
buffer of the network's dtype), ``layers`` (d[0..L], intp), ``acts``
(acts[l] the activation code of layer l, an index into
``fastbp._names.ACTIVATIONS``; acts[0] unused, intc) and, where an error is
needed, ``loss`` (an index into ``LOSSES``).  Arrays are C-contiguous, of
the network's dtype, checked by the caller; absent buffers are None.  X is
a 2-D array or ``fastbp._sparse.Rows`` (CSR rows).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from ._options import Options, Plan

Array = np.ndarray
Buffer = np.ndarray | None


class Backend(Protocol):
    """A backend module (see the module's docstring for the conventions)."""

    PARALLEL: bool
    """Whether ``n_threads > 1`` runs threads in parallel here."""
    SERIAL_REASON: str
    """Why not, where not."""
    Predictor: Any
    """``Predictor(flat, layers, acts)``: ``.predict(x)`` is x^(L) of one
    example, a new array, (d[L],) for x of shape (d[0],) and (1, d[L]) for
    (1, d[0]); or None, computing nothing, where x is not a C-contiguous
    array of flat's dtype of those shapes, all finite (the caller converts
    and checks it, and asks again).  Safe to call from several threads."""
    Stepper: Any
    """``Stepper(flat, layers, acts, loss, options, plan, velocity, moments,
    progress)``: ``.step(x, y)`` is one update of ``train_pass`` by
    ``options`` and ``plan`` (batch_size 1, no averaging, one thread) on one
    example, continuing the training state (``progress`` is the
    TrainingState's: its "updates" is t_done, and counts the update).  It
    returns the error before the update; NaN where that error or the
    weights, velocity or moments after it are not finite (all are left as
    they were before); None, changing nothing, where x is not as
    ``Predictor`` takes it (1-D) or y is not a float (d[L] == 1) or such an
    array of d[L] values, in the loss's range.  One call at a time."""
    Dicts: Any
    """``Dicts(model, features, classes)``: examples as dicts of feature
    values (fastbp.river's), read into inputs by ``features`` (name ->
    input); ``classes`` (label -> output unit, one-hot targets) or None (one
    output, a float target).  ``.learn(x, y)`` is the network's current
    Stepper's step (``model``, fastbp._state.Model: its sgd_step's, under
    its training lock); ``.value(x)``,
    ``.label(x)`` (of the largest output) and ``.probabilities(x)``
    ({label: output}, float32's scaled to sum to 1) read its Predictor.
    Each returns None, doing nothing, where x is not a dict of float or int
    values (bools and numpy's float64 among them), finite, of known
    features (y: a known label, or a float or int), the network has no
    current Stepper, or is training elsewhere; the caller then takes its
    own path."""

    def forward(self, flat: Array, layers: Array, acts: Array, X: Any, out: Array) -> None:
        """out[n] = x^(L) of row n of X."""

    def activate_rows(self, act: int, S: Array) -> None:
        """S[r] = g(S[r]) for every row, in place."""

    def loss(self, flat: Array, layers: Array, acts: Array, loss: int, X: Any, Y: Array) -> float:
        """The sum of the rows' errors."""

    def gradient(
        self,
        flat: Array,
        layers: Array,
        acts: Array,
        loss: int,
        X: Any,
        Y: Array,
        weights: Buffer,
        grad: Array,
    ) -> float:
        """Adds the weighted sum of the rows' de/dw (row r's times
        weights[r]) to ``grad`` (laid out like flat); returns the weighted
        sum of the errors."""

    def backprop(
        self,
        flat: Array,
        layers: Array,
        acts: Array,
        loss: int,
        x: Array,
        y: Array,
        signals: Array,
        outputs: Array,
        deltas: Array,
        grad: Array,
    ) -> float:
        """One example: writes s^(1..L), x^(0..L), delta^(1..L), adds de/dw
        to ``grad``; returns e."""

    def train_pass(
        self,
        flat: Array,
        layers: Array,
        acts: Array,
        loss: int,
        X: Any,
        Y: Array,
        sample_weight: Buffer,
        order: Array,
        options: Options,
        plan: Plan,
        t_done: float,
        velocity: Buffer,
        average: Buffer,
        moments: Buffer,
        workspace: Buffer,
    ) -> tuple[float, int]:
        """Per-example SGD over the rows ``order`` of X, in place on
        ``flat``.  ``options`` says how each update is made; ``plan`` how
        the pass runs (threads, round, mode, moments_from, shards: where >
        0, both backends compute the copies' schedule, and the result does
        not depend on threads); ``t_done`` the updates before this call;
        ``velocity`` (needed where momentum > 0) and ``average`` (where
        options.average) laid out like flat; ``moments`` Adam's m and v
        (twice flat's length) or Adagrad's sums of squares (flat's);
        ``workspace`` what ``workspace`` gave for the pass.  Returns (the
        sum of the errors before each update, each times its sample weight;
        the examples done: fewer than ``len(order)`` when an error was not
        finite)."""

    def workspace(self, n_weights: int, dtype: Any, plan: Plan) -> Buffer:
        """The buffer a pass of ``plan`` hands each ``train_pass`` call, or
        None."""

    def copy_into(self, to: Array, source: Array, n_threads: int) -> None:
        """to[:] = source (1-D buffers), on n_threads threads."""

    def all_finite(self, values: Array, n_threads: int) -> bool:
        """Whether no value is a NaN or an infinity, on n_threads threads."""

    def max_threads(self) -> int:
        """The most threads a pass may run on."""
