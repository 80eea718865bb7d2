"""Model files and pickled state: one schema, checked before it is trusted.

A model file is an .npz archive (a zip of .npy members), written uncompressed
and never pickled:

- "meta": JSON text, {"format": "fastbp.Network", "format_version": 1,
  "config": the Network's constructor arguments, "progress": the counters
  of the training state};
- "flat": the weights; "velocity", "average", "iterate", "moments": the
  arrays of the training state that exist, each laid out like "flat" (the
  moments of Adam twice);
- further members a caller adds (the command line's scaling and labels),
  read only when asked for by name.

Reading trusts nothing in the file.  The JSON and the arrays' headers are
read first; every field's type and range, and every array's dtype and
shape against the declared network, are checked before any array is read;
an array is read only as far as its header says, and a member may declare no
more bytes than the archive can hold (stored) or inflate to (deflated).
Non-finite values are refused.  Whatever is wrong, damaged or foreign, the
error is a ValueError that starts "not a valid fastbp model file".
"""

import binascii
import errno
import json
import math
import numbers
import os
import stat
import struct
import zipfile
import zlib

import numpy as np

from . import _buffers
from . import _validation as check
from ._names import OPTIMIZERS
from ._state import FRESH_PROGRESS, TrainingState, moments_size

FORMAT = "fastbp.Network"
FORMAT_VERSION = 1
CONFIG_FIELDS = ("layers", "hidden", "output", "loss", "dtype", "seed", "backend")
TRAINING_ARRAYS = TrainingState.ARRAYS
# Counters above this lose exactness as the core's float64 update count.
MAX_COUNT = 2**53
# The longest JSON member read, in characters.
MAX_JSON_CHARS = 1 << 20
# Deflate inflates at most about 1032 times; a member claiming more is damaged.
MAX_INFLATION = 1100
# What ``read`` inflates, in all, is at most this many times the file's size
# by default (a file fastbp wrote is stored: 1 time).
INFLATION_BOUND = 16
# What reading a damaged archive can raise, besides ValueError.
DAMAGED = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    binascii.Error,
    struct.error,
    EOFError,
    KeyError,
    IndexError,
    TypeError,
    OverflowError,
    RecursionError,
    NotImplementedError,
    RuntimeError,
    OSError,
)


# How every error about a model file or state that fails the schema starts
# (a plain ValueError, as load documents).
INVALID = "not a valid fastbp model file: "


def _refuse(reason):
    raise ValueError(INVALID + reason)


# ---------------------------------------------------------------- the state


def stored(model, copies=False):
    """The configuration, weights and training state of a network (its
    Model, fastbp._state), as this module stores them: the arrays
    themselves, or (``copies``) copies."""
    network = model.network
    config = {
        "layers": list(network.layers),
        "hidden": list(network.hidden),
        "output": network.output,
        "loss": network.loss_name,
        "dtype": network.dtype.name,
        "seed": network.seed,
        "backend": model.requested_backend,
    }
    state = {"config": config, "progress": dict(model.state.progress), "flat": network.flat}
    state.update((name, getattr(model.state, name)) for name in TRAINING_ARRAYS)
    if copies:
        state.update((name, _buffers.copy(state[name])) for name in ("flat",) + TRAINING_ARRAYS)
    return state


def restored(cls, state, backend=None):
    """A network of class ``cls`` from a state that ``check_state`` passed;
    ``backend`` (where not None) replaces the stored one."""
    config = dict(state["config"])
    if backend is not None:
        config["backend"] = backend
    try:
        network = cls(**config)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{INVALID}config: {error}") from None
    network.flat[...] = state["flat"]
    network.training_state.take(
        TrainingState(*(state[name] for name in TRAINING_ARRAYS), state["progress"]).copy()
    )
    return network


def grown(model, more_inputs, more_outputs):
    """A copy of a network (given as its Model) with ``more_inputs`` inputs
    and ``more_outputs`` outputs added after its own, all their weights 0
    (new rows of W^(1), new columns of W^(L)), and the training state's
    arrays grown alike, with 0s: exactly the network it was, as long as the
    new inputs are 0, and besides the new outputs.  The progress counters carry over."""
    old = list(model.layers)
    new = [old[0] + more_inputs] + old[1:-1] + [old[-1] + more_outputs]

    def padded(buffer):
        """``buffer`` (laid out like flat, or k such one after the other) for ``new``."""
        if buffer is None:
            return None
        parts = buffer.reshape(-1, _buffers.n_weights(old))
        result = np.zeros((len(parts), _buffers.n_weights(new)), dtype=buffer.dtype)
        for part, grown_part in zip(parts, result):
            for W, grown_W in zip(_buffers.blocks(part, old), _buffers.blocks(grown_part, new)):
                grown_W[: W.shape[0], : W.shape[1]] = W
        return result.reshape(-1)

    state = stored(model)
    state["config"]["layers"] = new
    state.update((name, padded(state[name])) for name in ("flat",) + TRAINING_ARRAYS)
    return restored(type(model.network), state)


# ---------------------------------------------------------------- writing


def write(file, state, extras=None):
    """Write ``state`` (as ``stored`` gives it) to ``file``, a path
    or a writable binary file, as an uncompressed .npz; ``extras`` maps
    further member names to arrays, or to strings (stored as text)."""
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": state["config"],
        "progress": state["progress"],
    }
    members = {"meta": np.array(json.dumps(meta)), "flat": state["flat"]}
    members.update((name, state[name]) for name in TRAINING_ARRAYS if state[name] is not None)
    for name, value in (extras or {}).items():
        members[name] = np.array(value)
    if isinstance(file, (str, os.PathLike)):
        with open(file, "wb") as opened:  # np.savez would append ".npz"
            np.savez(opened, **members)
    else:
        np.savez(file, **members)


# ---------------------------------------------------------------- reading


def read(file, extras=(), max_inflation=INFLATION_BOUND):
    """The checked state in ``file`` (a path or a readable binary file), and
    the members named in ``extras``.  The members read may inflate to at
    most ``max_inflation`` times the file's size in all (None: no bound).

    Returns
    -------
    state : dict
        "config", "progress" and the arrays "flat", "velocity", "average",
        "iterate", "moments" (None where absent), checked as ``check_state``
        does.
    extra : dict
        Each name of ``extras`` the file holds: a JSON member parsed, or a 1-D array of
        finite float64 values no longer than the widest layer.

    Raises
    ------
    ValueError
        Whatever is wrong with the file ("not a valid fastbp model file: ...").
    OSError
        Where the file cannot be opened (a missing file is not a damaged one),
        or is not a regular file (a device, a FIFO, a folder).
    TypeError
        Where ``file`` is neither a path nor a readable binary file.
    """
    if isinstance(file, (str, bytes, os.PathLike)):
        with _open_regular(file) as opened:
            return read(opened, extras, max_inflation)
    if not (callable(getattr(file, "read", None)) and callable(getattr(file, "seek", None))):
        raise TypeError(f"file must be a path or a readable binary file, got {type(file).__name__}")
    if not isinstance(file.read(0), bytes):
        raise TypeError("file must be opened in binary mode ('rb'), not text mode")
    try:
        size = file.seek(0, os.SEEK_END)
        file.seek(0)
        with zipfile.ZipFile(file) as archive:
            return _read_archive(archive, size, extras, max_inflation)
    except (ValueError,) + DAMAGED as error:
        if isinstance(error, ValueError) and str(error).startswith(INVALID):
            raise  # the schema's own
        raise ValueError(f"{INVALID}{type(error).__name__}: {error}") from None


def _open_regular(path):
    """``path`` opened for reading, if it is a regular file: without
    blocking on a FIFO, and before anything is read from a device."""
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", os.fsdecode(path))
        if hasattr(os, "set_blocking"):
            os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def _read_archive(archive, size, extras, max_inflation):
    names = set(archive.namelist())
    inflated = sum(
        archive.getinfo(f"{name}.npy").file_size
        for name in ("meta", "flat") + TRAINING_ARRAYS + tuple(extras)
        if f"{name}.npy" in names
    )
    if max_inflation is not None and inflated > max_inflation * size:
        _refuse(
            f"its members inflate to {inflated} bytes, more than {max_inflation:g} times "
            f"the file's {size} (a larger max_inflation reads it)"
        )
    for needed in ("meta", "flat"):
        if needed + ".npy" not in names:
            _refuse(f"no {needed!r} member (it has {sorted(names)[:8]})")
    meta = _read_json(archive, size, "meta")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        _refuse("its 'meta' does not say format 'fastbp.Network'")
    if meta.get("format_version") != FORMAT_VERSION:
        _refuse(
            f"format version {meta.get('format_version')!r}; this fastbp reads "
            f"version {FORMAT_VERSION}"
        )
    _fields(meta, ("format", "format_version", "config", "progress"), "meta")
    config = _config(meta["config"])
    shapes = _shapes(config, _progress(meta["progress"]))
    dtype = np.dtype(config["dtype"])
    present = [name for name in ("flat",) + TRAINING_ARRAYS if name + ".npy" in names]
    for name in present:  # every header before any array is read
        _header(archive, size, name, dtype, shapes[name])
    arrays = {
        name: _read_array(archive, name) if name in present else None
        for name in ("flat",) + TRAINING_ARRAYS
    }
    state = check_state(dict(arrays, config=config, progress=meta["progress"]))
    extra, widest = {}, max(config["layers"])
    for name in extras:
        if name + ".npy" not in names:
            continue  # the caller decides what it needs
        shape, dtype = _header(archive, size, name, None, None)
        if dtype.kind == "U":
            extra[name] = _read_json(archive, size, name)
        elif dtype == np.float64 and len(shape) == 1 and shape[0] <= widest:
            extra[name] = _finite(_read_array(archive, name), name)
        else:
            _refuse(
                f"its {name} is neither JSON text nor a float64 vector of at most {widest} values"
            )
    return state, extra


def _member(archive, size, name):
    """The zip entry of member ``name``, its sizes checked against the
    archive's: a stored member lies within it, a deflated one inflates at
    most MAX_INFLATION times."""
    info = archive.getinfo(name + ".npy")
    if info.compress_size > size:
        _refuse(f"member {name!r} claims {info.compress_size} bytes in an archive of {size}")
    if info.compress_type == zipfile.ZIP_STORED:
        if info.file_size != info.compress_size:
            _refuse(f"member {name!r} is damaged (its sizes disagree)")
    elif info.file_size > MAX_INFLATION * info.compress_size + 1024:
        _refuse(
            f"member {name!r} claims to inflate from {info.compress_size} to {info.file_size} bytes"
        )
    return info


def _header(archive, size, name, dtype, shape):
    """(shape, dtype) of member ``name`` from its .npy header alone, checked
    against ``dtype`` and ``shape`` where given, and against the bytes the
    zip entry holds."""
    info = _member(archive, size, name)
    with archive.open(info) as member:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            found_shape, fortran, found_dtype = np.lib.format.read_array_header_1_0(member)
        elif version == (2, 0):
            found_shape, fortran, found_dtype = np.lib.format.read_array_header_2_0(member)
        else:
            _refuse(f"member {name!r} has .npy version {version}")
    if found_dtype.hasobject or found_dtype.fields is not None or found_dtype.subdtype:
        _refuse(f"member {name!r} holds {found_dtype}, not plain numbers or text")
    if dtype is not None and found_dtype != dtype:
        _refuse(f"its {name} has dtype {found_dtype}, the network's dtype is {dtype}")
    if shape is not None and tuple(found_shape) != shape:
        _refuse(f"its {name} has shape {tuple(found_shape)}; the declared network's is {shape}")
    count = 1
    for length in found_shape:
        count *= length
    if count * found_dtype.itemsize > info.file_size:
        _refuse(f"its {name} declares more data than the file holds")
    return tuple(found_shape), found_dtype


def _read_array(archive, name):
    """Member ``name``, whose header was checked: reads only what it declares."""
    with archive.open(name + ".npy") as member:
        return np.lib.format.read_array(member, allow_pickle=False)


def _read_json(archive, size, name):
    """Member ``name`` as JSON: a 0-d text array of at most MAX_JSON_CHARS."""
    shape, dtype = _header(archive, size, name, None, None)
    if dtype.kind != "U" or shape != () or dtype.itemsize > 4 * MAX_JSON_CHARS:
        _refuse(f"its {name} is not JSON text of at most {MAX_JSON_CHARS} characters")
    return json.loads(str(_read_array(archive, name)))


# ---------------------------------------------------------------- the schema


def check_state(state):
    """``state`` (config, progress, flat and the training arrays, as
    ``stored`` gives them, from a file or from pickle) checked:
    the config's fields and types, the arrays' dtype, shape and finiteness,
    the progress counters' types and ranges.  Returns it with the progress
    completed from FRESH_PROGRESS.  The constructor checks the config's
    names (activations, loss) when the network is built."""
    if not isinstance(state, dict):
        _refuse(f"the state is a {type(state).__name__}, not a dict")
    _fields(state, ("config", "progress", "flat") + TRAINING_ARRAYS, "the state")
    config = _config(state["config"])
    checked = {"config": config, "progress": _progress(state["progress"])}
    dtype, shapes = np.dtype(config["dtype"]), _shapes(config, checked["progress"])
    for name in ("flat",) + TRAINING_ARRAYS:
        array = state[name]
        if array is None and name != "flat":
            checked[name] = None
            continue
        if not isinstance(array, np.ndarray) or array.dtype != dtype or array.shape != shapes[name]:
            _refuse(f"its {name} must be an array of {shapes[name][0]} {dtype} values")
        checked[name] = _finite(array, name)
    squares = _squares(checked["moments"], checked["progress"]["optimizer"])
    if squares is not None and (squares < 0).any():
        _refuse("its moments hold negative sums of squares")
    return checked


def _squares(moments, optimizer):
    """The part of the moments that sums squares (Adam's v, all of
    Adagrad's), or None."""
    if moments is None or optimizer is None:
        return None
    return moments[len(moments) // 2 :] if optimizer == "adam" else moments


def _shapes(config, progress):
    """The shape of each array of the state: flat's, but for the moments of
    Adam (twice flat's) or Adagrad (flat's)."""
    n_weights = _buffers.n_weights(config["layers"])
    shapes = {name: (n_weights,) for name in ("flat",) + TRAINING_ARRAYS}
    shapes["moments"] = (moments_size(progress["optimizer"], n_weights),)
    return shapes


def _fields(mapping, allowed, what):
    if not isinstance(mapping, dict):
        _refuse(f"{what} is a {type(mapping).__name__}, not a mapping")
    unknown = sorted(set(mapping) - set(allowed), key=str)
    if unknown:
        _refuse(f"{what} has unknown fields {unknown[:5]}")


def _config(config):
    _fields(config, CONFIG_FIELDS, "config")
    missing = [name for name in CONFIG_FIELDS if name not in config]
    if missing:
        _refuse(f"config lacks {missing}")
    try:
        layers = check.layers(config["layers"])
        check.seed(config["seed"])
    except (TypeError, ValueError) as error:
        _refuse(f"config: {error}")
    if config["dtype"] not in ("float64", "float32"):
        _refuse(f"config: dtype must be 'float64' or 'float32', got {config['dtype']!r}")
    if config["backend"] not in (None, "compiled", "reference"):
        _refuse("config: backend must be null, 'compiled' or 'reference'")
    return dict(config, layers=list(layers))


def _progress(progress):
    _fields(progress, tuple(FRESH_PROGRESS), "progress")
    result = dict(FRESH_PROGRESS, **progress)
    for name in ("passes", "updates", "waited", "moments_from"):
        value = result[name]
        if (
            isinstance(value, bool)
            or not isinstance(value, numbers.Integral)
            or not 0 <= value < MAX_COUNT
        ):
            _refuse(f"progress: {name} must be an integer in [0, 2**53), got {value!r}")
    for name, low in (("adaptive_lr", 0.0), ("best_loss", None)):
        value = result[name]
        if value is None:
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, numbers.Real)
            or not _finite_number(value)
            or (low is not None and not value > low)
        ):
            bound = "a finite number > 0" if low is not None else "a finite number"
            _refuse(f"progress: {name} must be null or {bound}, got {value!r}")
    if result["optimizer"] not in (None,) + OPTIMIZERS[1:]:
        _refuse(
            f"progress: optimizer must be null or one of {OPTIMIZERS[1:]}, "
            f"got {result['optimizer']!r}"
        )
    if result["moments_from"] > result["updates"]:
        _refuse(
            f"progress: moments_from ({result['moments_from']}) is after the last "
            f"update ({result['updates']})"
        )
    if result["adaptive_lr"] is not None and result["adaptive_lr"] > check.MAX_LR:
        _refuse(
            f"progress: adaptive_lr must be at most {check.MAX_LR:g} (the largest lr), "
            f"got {result['adaptive_lr']!r}"
        )
    return result


def _finite_number(value):
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond any float
        return False


def _finite(array, name):
    if not np.isfinite(array).all():
        _refuse(f"its {name} holds NaN or infinity")
    return array
