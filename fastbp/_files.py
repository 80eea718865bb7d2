"""The command line's files: tables of examples (CSV, .npy, .npz,
svmlight) and model files (a Network's .npz plus how to scale and label its
data)."""

import array
import csv
import json
import math
import os
import zipfile
import zlib

import numpy as np

from . import _persistence
from .network import Network, model_of


class UsageError(Exception):
    """A problem with the user's files or options: reported as one line,
    exit code 2."""


def read_table(path, target=None, columns=None, n_features=None, drop=(), missing=False):
    """Examples from a file.

    Parameters
    ----------
    path : str
        CSV with a header row; .npy (a 2-D array); .npz (arrays "X" and
        the target's); or svmlight / libsvm (.svm, .svmlight, .libsvm).
    target : str, optional
        The target: a CSV column's name, a .npy column's index, a .npz
        array's name; for svmlight, the name its labels get. Its values
        come back as read (strings for CSV and svmlight).
    columns : list of str or dict, optional
        The input columns a model takes (by name for CSV, index for .npy;
        for svmlight a dict, ``{"first_index": 0 or 1, "count": n}``);
        default all but the target.
    n_features : int, optional
        svmlight without ``columns``: the number of inputs (default: from
        the file, at most MAX_FEATURES).
    drop : sequence of str, optional
        CSV without ``columns``: columns that are not inputs either.
    missing : bool, default False
        CSV: an empty input field is NaN in X (else a UsageError).

    Returns
    -------
    X : ndarray of float64, shape (n, d), or for svmlight a scipy.sparse
        CSR matrix of float64; every value finite
    columns : list of str, or for svmlight a dict (as ``columns`` above)
    targets : ndarray or None
    """
    if not os.path.isfile(path):
        raise UsageError(f"{path}: no such file")
    svmlight = path.endswith(SVMLIGHT)
    if isinstance(columns, dict) and not svmlight:
        raise UsageError(
            f"{path}: the model was trained on an svmlight file "
            f"({', '.join(SVMLIGHT)}): give it one"
        )
    if svmlight:
        return _read_svmlight(path, target, columns, n_features)
    if path.endswith(".npz"):
        X, columns, targets = _read_npz(path, target, columns)
    elif path.endswith(".npy"):
        X, columns, targets = _read_npy(path, target, columns)
    else:
        return _read_csv(path, target, columns, drop, missing)
    if not np.isfinite(X).all():
        raise UsageError(f"{path}: the inputs hold NaN or infinity")
    return X, columns, targets


# File name endings of svmlight / libsvm files.
SVMLIGHT = (".svm", ".svmlight", ".libsvm")
# The most inputs an svmlight file has without --n-features: its largest
# index decides the width of the network's first layer.
MAX_FEATURES = 1 << 20


def _read_svmlight(path, target, columns, n_features):
    """``label index:value ...`` lines (# starts a comment, qid: is
    skipped). Indices count from 1, or from 0 where one is 0; a model's
    columns (from the file it was trained on) fix the count and the base.
    An index beyond the count (``n_features``, or MAX_FEATURES) stops the
    reading at its line."""
    try:
        from scipy import sparse
    except ImportError:
        raise UsageError(
            f"{path}: reading svmlight files needs scipy (pip install scipy)"
        ) from None
    base, width = _svmlight_columns(path, columns, n_features)
    largest = (1 if base is None else base) + width - 1  # counted from 1 until known
    labels, indptr = [], [0]
    indices, values = array.array("q"), array.array("d")
    with open(path) as file:
        for number, line in enumerate(file, 1):
            fields = line.split("#", 1)[0].split()
            if not fields:
                continue
            labels.append(fields[0])
            for field in fields[1:]:
                index, colon, value = field.partition(":")
                if index == "qid":
                    continue
                try:
                    if not colon or int(index) < 0 or not math.isfinite(float(value)):
                        raise ValueError
                except ValueError:
                    raise UsageError(
                        f"{path}: line {number}: {field!r} is not index:value "
                        "(an index >= 0, a finite value)"
                    ) from None
                if int(index) > largest:
                    _beyond(path, number, index, width, columns, n_features)
                indices.append(int(index))
                values.append(float(value))
            indptr.append(len(indices))
    if not labels:
        raise UsageError(f"{path}: no examples")
    indices = np.frombuffer(indices, dtype=np.int64) if indices else np.zeros(0, np.int64)
    if base is None:
        base = 0 if (indices == 0).any() else 1
        if base == 0 and len(indices) and indices.max() == width:
            _beyond(path, "", width, width, columns, n_features)
        width = n_features or max(int(indices.max(initial=0)) + 1 - base, 1)
    if (indices < base).any() or (indices >= base + width).any():
        raise UsageError(
            f"{path}: input indices run from {indices.min()} to {indices.max()}; "
            f"the model takes {base} to {base + width - 1}"
        )
    X = sparse.csr_matrix(
        (
            np.frombuffer(values, dtype=np.float64) if values else np.zeros(0),
            indices - base,
            np.array(indptr),
        ),
        shape=(len(labels), width),
    )
    X.sum_duplicates()  # sorted, unique indices in each row
    return X, {"first_index": base, "count": width}, (None if target is None else np.array(labels))


def _beyond(path, line, index, width, columns, n_features):
    """Raise the UsageError of an svmlight index beyond the inputs."""
    where = f"line {line}: " if line else ""
    limit = (
        f"the {width} inputs of --n-features"
        if n_features
        else f"the model's {width} inputs"
        if columns is not None
        else f"the {width} inputs read without --n-features: give --n-features N for more"
    )
    raise UsageError(f"{path}: {where}index {index} is beyond {limit}")


def _svmlight_columns(path, columns, n_features):
    """(first index or None where the file decides, number of inputs) of an
    svmlight file read for a model's ``columns``, or with ``n_features``."""
    if columns is None:
        return None, n_features or MAX_FEATURES
    if isinstance(columns, dict):
        return columns["first_index"], columns["count"]
    # a model of an older fastbp, or of a table: its columns are indices
    if all(name.isdigit() for name in columns) and [int(name) for name in columns] == list(
        range(int(columns[0]), int(columns[0]) + len(columns))
    ):
        return int(columns[0]), len(columns)
    raise UsageError(
        f"{path}: an svmlight file, but the model was trained on a table with "
        f"named columns ({', '.join(columns[:3])}, ...): give it such a table"
    )


def _read_csv(path, target, columns, drop=(), missing=False):
    with open(path, newline="") as file:
        reader = csv.reader(file)
        try:
            rows = list(reader)
        except csv.Error as error:
            raise UsageError(f"{path}: line {reader.line_num}: {error}") from None
    rows = [row for row in rows if row]
    if not rows:
        raise UsageError(f"{path}: empty file (a CSV needs a header row)")
    header, body = [name.strip() for name in rows[0]], rows[1:]
    if not body:
        raise UsageError(f"{path}: no rows of data below the header")
    if target is not None and target not in header:
        raise UsageError(f"{path}: no column {target!r}; the columns are {', '.join(header)}")
    unknown = [name for name in drop if name not in header]
    if unknown:
        raise UsageError(
            f"{path}: no column {unknown[0]!r} to drop; the columns are {', '.join(header)}"
        )
    if columns is None:
        columns = [name for name in header if name != target and name not in drop]
    absent = [name for name in columns if name not in header]
    if absent:
        raise UsageError(f"{path}: no column {absent[0]!r}, which the model takes as input")
    if not columns:
        raise UsageError(f"{path}: no input columns besides the target {target!r}")
    at = [header.index(name) for name in columns]
    X = np.empty((len(body), len(columns)))
    for r, row in enumerate(body):
        if len(row) != len(header):
            raise UsageError(
                f"{path}: line {r + 2} has {len(row)} values, the header {len(header)}"
            )
        for c, k in enumerate(at):
            if not row[k].strip():
                if not missing:
                    raise UsageError(
                        f"{path}: line {r + 2}, column {columns[c]!r}: no value "
                        "(train's --fill-missing mean fills missing inputs)"
                    )
                X[r, c] = np.nan
                continue
            try:
                X[r, c] = float(row[k])
                if not math.isfinite(X[r, c]):
                    raise ValueError
            except ValueError:
                raise UsageError(
                    f"{path}: line {r + 2}, column {columns[c]!r}: {row[k]!r} is "
                    "not a finite number"
                ) from None
    targets = None
    if target is not None:
        targets = np.array([row[header.index(target)].strip() for row in body])
        empty = np.flatnonzero(targets == "")
        if len(empty):
            raise UsageError(f"{path}: line {empty[0] + 2}, column {target!r}: no value")
    return X, columns, targets


def _read_npy(path, target, columns):
    try:
        with open(path, "rb") as file:  # np.load leaves a damaged file open
            data = np.load(file, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise UsageError(f"{path}: not a readable .npy file ({error})") from None
    if data.ndim != 2 or not np.issubdtype(data.dtype, np.number):
        raise UsageError(
            f"{path}: expected a 2-D numeric array, got {data.dtype} of shape {data.shape}"
        )
    names = [str(k) for k in range(data.shape[1])]
    if target is not None and target not in names:
        raise UsageError(
            f"{path}: --target must be a column index 0..{data.shape[1] - 1} for "
            f"a .npy file, got {target!r}"
        )
    if columns is None:
        columns = [name for name in names if name != target]
    elif target is None and data.shape[1] == len(columns):
        columns = names  # the inputs only, in the model's order
    elif any(name not in names for name in columns):
        raise UsageError(f"{path}: {data.shape[1]} columns, the model takes {len(columns)}")
    X = data[:, [int(name) for name in columns]].astype(np.float64)
    return X, columns, None if target is None else data[:, int(target)]


def _read_npz(path, target, columns):
    try:
        with open(path, "rb") as file, np.load(file, allow_pickle=False) as data:
            if "X" not in data:
                raise UsageError(f"{path}: no array 'X' (it has {', '.join(data.files)})")
            if target is not None and target not in data:
                raise UsageError(f"{path}: no array {target!r} (it has {', '.join(data.files)})")
            X, targets = data["X"], None if target is None else data[target]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise UsageError(f"{path}: not a readable .npz file ({error})") from None
    if X.ndim != 2 or not np.issubdtype(X.dtype, np.number):
        raise UsageError(f"{path}: X must be a 2-D numeric array, got {X.dtype} {X.shape}")
    if targets is not None and len(targets) != len(X):
        raise UsageError(f"{path}: {target} has {len(targets)} rows, X {len(X)}")
    names = [str(k) for k in range(X.shape[1])]
    if columns is not None and len(columns) != len(names):
        raise UsageError(f"{path}: X has {len(names)} columns, the model takes {len(columns)}")
    return X.astype(np.float64), names, targets


# The members a model file of the command line adds to the network's: how it
# scales its data, and its columns, target and classes ("cli", JSON).
CLI_MEMBERS = ("cli", "x_mean", "x_scale", "y_mean", "y_scale")


def save_model(path, network, info, arrays):
    """The network's file plus ``info`` (JSON) and ``arrays`` (the scaling)."""
    _persistence.write(
        path, _persistence.stored(model_of(network)), dict(arrays, cli=json.dumps(info))
    )


def load_model(path):
    """(network, info, arrays) from a file ``save_model`` wrote, checked:
    the network as ``fastbp.load`` checks it, the scaling's lengths and
    values, and the info's fields."""
    if not os.path.isfile(path):
        raise UsageError(f"{path}: no such file")
    try:
        state, extra = _persistence.read(path, CLI_MEMBERS)
        network = _persistence.restored(Network, state)
        if not extra:  # Network.save's file: raw inputs and outputs
            return network, RAW_INFO, _raw_scaling(network)
        if set(extra) != set(CLI_MEMBERS):
            raise ValueError(f"it lacks {sorted(set(CLI_MEMBERS) - set(extra))}")
        info = _cli_info(extra.pop("cli"), network)
        d = {"x": network.layers[0], "y": network.layers[-1]}
        for name, array in extra.items():
            if len(array) != d[name[0]] or (name.endswith("scale") and not (array > 0).all()):
                raise ValueError(
                    f"its {name} must hold {d[name[0]]} values"
                    + (", all > 0" if name.endswith("scale") else "")
                )
    except ValueError as error:
        raise UsageError(f"{path}: not a model file of 'fastbp train' ({error})") from None
    return network, info, extra


# The info of a model saved by Network.save: columns 0..d[0]-1 (read by
# position), no target name, no classes: outputs come back as computed.
RAW_INFO = {"columns": None, "target": None, "classes": None}


def _raw_scaling(network):
    """No scaling: the arrays of load_model for a model without any."""
    d0, dL = network.layers[0], network.layers[-1]
    return {
        "x_mean": np.zeros(d0),
        "x_scale": np.ones(d0),
        "y_mean": np.zeros(dL),
        "y_scale": np.ones(dL),
    }


def _cli_info(info, network):
    """The command line's "cli" member, checked against the network."""
    if not isinstance(info, dict) or not {"columns", "target", "classes"} <= set(info) <= {
        "columns",
        "target",
        "classes",
        "fill",
    }:
        raise ValueError("its 'cli' must hold columns, target and classes (and maybe fill)")
    fill = info.get("fill")
    if fill is not None and (
        not isinstance(fill, list)
        or len(fill) != network.layers[0]
        or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            for v in fill
        )
    ):
        raise ValueError(f"its 'cli' fill must be {network.layers[0]} finite numbers")
    columns, classes = info["columns"], info["classes"]
    if isinstance(columns, dict):  # an svmlight file's
        first = columns.get("first_index")
        if (
            columns != {"first_index": first, "count": network.layers[0]}
            or isinstance(first, bool)
            or first not in (0, 1)
        ):
            raise ValueError(
                f"its 'cli' columns must be {{'first_index': 0 or 1, 'count': {network.layers[0]}}}"
            )
    elif (
        not isinstance(columns, list)
        or len(columns) != network.layers[0]
        or not all(isinstance(name, str) for name in columns)
    ):
        raise ValueError(f"its 'cli' must name {network.layers[0]} input columns")
    if not isinstance(info["target"], (str, type(None))):
        raise ValueError("its 'cli' target must be a column name")
    if classes is not None and (
        not isinstance(classes, list)
        or len(classes) < 2
        or len(classes) != max(2, network.layers[-1])
        or not all(isinstance(label, (str, int, float)) for label in classes)
    ):
        raise ValueError(
            "its 'cli' classes must be a list of labels, one per output (or two for one output)"
        )
    return info
