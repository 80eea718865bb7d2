"""fastbp: fully connected networks trained by backpropagation and per-example SGD.

A Cython core runs the forward pass and the in-place delta backward loop on
one contiguous weight buffer with the GIL released; ``fastbp.reference`` is
the same computation in plain numpy, the fallback and the test oracle.
"""

from ._backend import BACKEND
from .network import Backprop, DivergenceError, History, Network, fit_stream, load
from .tools import check_gradient, verify

__version__ = "0.1.0"

__all__ = [
    "BACKEND",
    "Backprop",
    "DivergenceError",
    "History",
    "Network",
    "check_gradient",
    "fit_stream",
    "load",
    "verify",
    "__version__",
]
