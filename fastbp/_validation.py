"""Argument checks of the Python layer.

The compiled core runs without bounds checks, so everything it will read is
checked here first: types, shapes, dtypes, contiguity and finiteness.  Every
error names the argument and says what was expected.
"""

import numbers
import os

import numpy as np

from . import _buffers, _sparse
from ._names import ACTIVATIONS, HIDDEN_ACTIVATIONS, LOSS_OUTPUTS, LOSSES

DTYPES = (np.dtype(np.float64), np.dtype(np.float32))
# n_threads may ask for up to this many threads per core: beyond that,
# threads only wait for each other, and each costs a copy of the weights.
THREADS_PER_CORE = 4
# A network's weights must fit in this many bytes (numpy's largest array).
MAX_BYTES = np.iinfo(np.intp).max
# batch_size above this is refused (a batch is at most all the examples).
MAX_BATCH = 2**31 - 1


def choice(value, name, options):
    """``value`` if it is one of the strings ``options``."""
    if not isinstance(value, str):
        raise TypeError(
            f"{name} must be a string, one of {list(options)}; got {type(value).__name__}"
        )
    if value not in options:
        raise ValueError(f"{name} must be one of {list(options)}, got {value!r}")
    return value


def integer(value, name, minimum, maximum=None):
    """``value`` as an int if it is an integer >= ``minimum`` (and <=
    ``maximum`` where given)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return int(value)


def threads(value, name="n_threads"):
    """``value`` as an int if it is -1 (one per CPU) or from 1 to
    THREADS_PER_CORE times the cores of this machine."""
    cores = os.cpu_count() or 1
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{name} must be an integer: 1 (one thread) or -1 (one per CPU), "
            f"got {type(value).__name__}"
        )
    if value != -1 and not 1 <= value <= THREADS_PER_CORE * cores:
        raise ValueError(
            f"{name} must be -1 (one per CPU) or from 1 to "
            f"{THREADS_PER_CORE * cores} ({THREADS_PER_CORE} per core of this "
            f"machine's {cores}), got {value}"
        )
    return int(value)


# The largest learning rate taken: larger ones overflow the weights at once.
MAX_LR = 1e6


def learning_rate(value, name="lr"):
    """``value`` as a float if it is a real number in (0, MAX_LR]."""
    value = positive_real(value, name)
    if value > MAX_LR:
        raise ValueError(f"{name} must be at most {MAX_LR:g}, got {value}")
    return value


def positive_real(value, name):
    """``value`` as a float if it is a finite real number > 0."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return value


def real_in(value, name, low, high):
    """``value`` as a float if it is a finite real number with
    low <= value < high (high None: no upper bound)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not (np.isfinite(value) and value >= low and (high is None or value < high)):
        bound = f"in [{low}, {high})" if high is not None else f"finite and >= {low}"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return value


def boolean(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__}")
    return bool(value)


def seed(value, name="seed"):
    """None, or a non-negative integer."""
    return None if value is None else integer(value, name, 0)


def dtype(value):
    """The numpy dtype float64 or float32."""
    try:
        result = np.dtype(value)
    except TypeError:
        raise TypeError(f"dtype must be 'float64' or 'float32', got {value!r}") from None
    if result not in DTYPES:
        raise ValueError(f"dtype must be 'float64' or 'float32', got {value!r}")
    return result


def sequence(value, name, what):
    """``value`` if it is a list, tuple or 1-D array (an ordered sequence,
    not a set, a mapping or a string)."""
    if not (
        isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.ndim == 1)
    ):
        raise TypeError(f"{name} must be a list or tuple of {what}, got {type(value).__name__}")
    return value


def layers(value):
    """d[0..L] as a tuple of positive ints, L >= 1, whose weights fit in
    memory that numpy can address."""
    sequence(value, "layers", "layer sizes such as [2, 8, 1]")
    sizes = tuple(integer(size, f"layers[{l}]", 1) for l, size in enumerate(value))
    if len(sizes) < 2:
        raise ValueError(f"layers needs at least an input and an output size, got {list(sizes)}")
    n_weights = _buffers.n_weights(sizes)
    if 8 * n_weights > MAX_BYTES:
        raise ValueError(
            f"layers {list(sizes)} need {n_weights:.3g} weights, more than any array can hold"
        )
    return sizes


def _asarray(value, name):
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} must be an array of numbers: {exc}") from None


def array(value, name, dtype, ndims, width):
    """``value`` as a C-contiguous finite array of ``dtype``.

    ``ndims`` are the allowed numbers of dimensions; the last axis must have
    length ``width`` (for ndim >= 1) and the first at least one row (ndim 2).
    Converted once, here: the core never converts.
    """
    result = _asarray(value, name)
    if result.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {result.dtype}")
    if result.ndim not in ndims:
        raise ValueError(
            f"{name} must have {' or '.join(map(str, ndims))} dimensions, got shape {result.shape}"
        )
    if result.ndim >= 1 and result.shape[-1] != width:
        raise ValueError(
            f"{name} must have {width} columns (the layer size), got shape {result.shape}"
        )
    if result.ndim == 2 and result.shape[0] == 0:
        raise ValueError(f"{name} has no rows")
    if result.dtype == dtype:
        result = np.ascontiguousarray(result)
    else:
        with np.errstate(over="ignore"):  # overflow to inf is reported just below
            result = np.ascontiguousarray(result, dtype=dtype)
    if not np.isfinite(result).all():
        raise ValueError(
            f"{name} contains NaN or infinity"
            + (f" after conversion to {dtype}" if dtype == np.float32 else "")
        )
    return result


def inputs(value, name, dtype, ndims, width):
    """Examples as the backends take them: a checked array (see ``array``),
    or for a scipy.sparse matrix checked CSR rows (``fastbp._sparse.Rows``,
    always 2-D)."""
    if isinstance(value, _sparse.Rows) and value.data.dtype == dtype and value.shape[1] == width:
        return value  # checked already (the estimators' epochs)
    if _sparse.issparse(value):
        if 2 not in ndims:
            raise ValueError(f"{name} must be one example, not a sparse matrix of rows")
        return _sparse.rows(value, name, dtype, width)
    return array(value, name, dtype, ndims, width)


def targets(value, name, dtype, width, n_rows, loss):
    """Targets as a C-contiguous array of ``width`` columns.

    ``n_rows`` None means one example: shape (width,), or a scalar where
    width == 1.  Otherwise shape (n_rows, width), or (n_rows,) where
    width == 1; the result is then 2-D.  Targets of the "squared" loss may
    be any value, of "cross_entropy" must lie in [0, 1], of "poisson" in
    [0, inf).
    """
    Y = _asarray(value, name)
    if n_rows is None:
        Y = array(Y.reshape(1) if width == 1 and Y.ndim == 0 else Y, name, dtype, (1,), width)
    else:
        Y = array(Y.reshape(-1, 1) if width == 1 and Y.ndim == 1 else Y, name, dtype, (2,), width)
        if Y.shape[0] != n_rows:
            raise ValueError(f"{name} has {Y.shape[0]} rows but X has {n_rows}")
    if loss == "cross_entropy" and ((Y < 0).any() or (Y > 1).any()):
        raise ValueError(f"{name} must lie in [0, 1] for the cross_entropy loss")
    if loss == "poisson" and (Y < 0).any():
        raise ValueError(f"{name} must be >= 0 for the poisson loss")
    return Y


def example(x, y, dtype, layers, loss):
    """One example (x, y) of a network of ``layers``: x of d[0] values (a
    sparse x of one row, densified), y as ``targets`` takes one."""
    if _sparse.issparse(x):
        if x.shape[0] != 1:
            raise ValueError(f"x must be one example: a sparse x must have 1 row, got {x.shape[0]}")
        x = inputs(x, "x", dtype, (2,), layers[0]).row(0)
    else:
        x = array(x, "x", dtype, (1,), layers[0])
    return x, targets(y, "y", dtype, layers[-1], None, loss)


def architecture(layer_sizes, hidden, output, loss):
    """(layers, hidden, output, loss) of a Network, checked: hidden one
    activation name per hidden layer (one name: the same for all)."""
    sizes = layers(layer_sizes)
    n_hidden = len(sizes) - 2
    if isinstance(hidden, str):
        hidden = [hidden] * n_hidden
    elif len(sequence(hidden, "hidden", "activation names")) != n_hidden:
        raise ValueError(
            f"hidden must be one activation name or a list of "
            f"{n_hidden} (one per hidden layer), got {hidden!r}"
        )
    hidden = tuple(choice(name, "hidden", HIDDEN_ACTIVATIONS) for name in hidden)
    output = choice(output, "output", ACTIVATIONS)
    loss = choice(loss, "loss", LOSSES)
    if loss in LOSS_OUTPUTS and output not in LOSS_OUTPUTS[loss]:
        needs = " or ".join(repr(name) for name in LOSS_OUTPUTS[loss])
        raise ValueError(f"loss={loss!r} needs output={needs}, got output={output!r}")
    if loss == "squared" and output == "softmax":
        raise ValueError(
            "output='softmax' needs loss='cross_entropy' "
            "(softmax with the squared loss is not supported)"
        )
    return sizes, hidden, output, loss


def weights(given, blocks):
    """The arrays ``given`` as the network's weights: one per block of
    ``blocks`` (W^(1..L)), each of its shape, converted to its dtype."""
    if (
        isinstance(given, (str, bytes))
        or not hasattr(given, "__len__")
        or len(given) != len(blocks)
    ):
        raise ValueError(f"weights must be a list of {len(blocks)} arrays (one per layer l = 1..L)")
    result = []
    for l, (W, value) in enumerate(zip(blocks, given)):
        checked = array(value, f"weights[{l}]", W.dtype, (2,), W.shape[1])
        if checked.shape != W.shape:
            raise ValueError(f"weights[{l}] must have shape {W.shape}, got {checked.shape}")
        result.append(checked)
    return result
