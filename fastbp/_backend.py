"""Choose between the compiled core and the reference backend.

The environment variable FASTBP_BACKEND ("compiled" or "reference") sets the
default backend of this process; an explicit ``backend=`` argument to
``fastbp.Network`` still wins.  Where the extension cannot be imported and
nothing was forced, fastbp warns once, at import, and uses the reference.

The compiled core is the copy built for the widest instruction set the CPU
runs (setup.py builds ``_core`` for the baseline, ``_core_avx2`` and
``_core_avx512``); FASTBP_ISA ("baseline", "avx2" or "avx512") forces one.
A build made with FASTBP_NATIVE=1 has one copy, "native".
"""

import importlib
import os
import sys
import types
import warnings

import numpy as np

from . import _sparse, reference
from ._interface import Backend

# The copies of the core, widest first, and their modules.
ISA_MODULES = {"avx512": "._core_avx512", "avx2": "._core_avx2", "baseline": "._core"}


def _environment_error(message):
    """The ImportError of a mistake in fastbp's environment variables; where
    this process is the fastbp command, one line on stderr and exit code 2
    instead (the command's own error handling starts only after this
    import)."""
    if _is_the_command_line():
        sys.stderr.write(f"fastbp: error: {message}\n")
        raise SystemExit(2)
    return ImportError(message)


def _is_the_command_line():
    """Whether this process runs the fastbp command: its script, or
    ``python -m fastbp``."""
    argv = getattr(sys, "orig_argv", [])
    at = argv.index("-m") if "-m" in argv else -1
    return os.path.basename(sys.argv[0]) == "fastbp" or (
        at >= 0 and argv[at + 1 : at + 2] == ["fastbp"]
    )


def _choose(base):
    """(the copy of the compiled core this process runs, {instruction set:
    module} of the copies built that this CPU runs, widest first), given
    the baseline copy ``base``: the widest, or FASTBP_ISA's."""
    forced = os.environ.get("FASTBP_ISA", "").strip().lower()
    if base.ISA not in ISA_MODULES:  # FASTBP_NATIVE=1: one copy
        if forced:
            raise _environment_error(
                f"FASTBP_ISA={forced}, but this fastbp was built for "
                f"its machine alone (FASTBP_NATIVE=1): its one core is "
                f"{base.ISA!r}"
            )
        return base, {base.ISA: base}
    if forced and forced not in ISA_MODULES:
        raise _environment_error(
            f"FASTBP_ISA must be one of {', '.join(ISA_MODULES)}, got {forced!r}"
        )
    runnable = {}
    for isa in base.cpu_isas():
        try:
            runnable[isa] = importlib.import_module(__package__ + ISA_MODULES[isa])
        except ImportError:  # not built: the compiler had no -march for it
            pass
    if forced and forced not in runnable:
        why = (
            "this CPU does not run it"
            if forced not in base.cpu_isas()
            else f"fastbp{ISA_MODULES[forced]} was not built"
        )
        raise _environment_error(
            f"FASTBP_ISA={forced}, but {why}; the copies here: {', '.join(runnable)}"
        )
    return runnable[forced or next(iter(runnable))], runnable


_baseline: types.ModuleType | None
EXTENSION_ERROR: ImportError | None
try:
    _baseline = importlib.import_module(__package__ + "._core")
    EXTENSION_ERROR = None
except ImportError as exc:  # not built, or built for another Python
    _baseline, EXTENSION_ERROR = None, exc
compiled, CORES = _choose(_baseline) if _baseline is not None else (None, {})

BACKENDS = ("compiled", "reference")

_forced = os.environ.get("FASTBP_BACKEND", "").strip().lower()
if _forced not in ("",) + BACKENDS:
    raise _environment_error(f"FASTBP_BACKEND must be 'compiled' or 'reference', got {_forced!r}")
if _forced == "compiled" and compiled is None:
    raise _environment_error(
        "FASTBP_BACKEND=compiled, but the compiled core fastbp._core "
        f"cannot be imported: {EXTENSION_ERROR}"
    ) from EXTENSION_ERROR

BACKEND = _forced or ("compiled" if compiled is not None else "reference")

if compiled is None and not _forced:
    # a source tree has setup.py beside the package; an installed copy not
    _in_source_tree = os.path.exists(os.path.join(os.path.dirname(__file__), os.pardir, "setup.py"))
    warnings.warn(
        "fastbp's compiled core fastbp._core is not available "
        f"({EXTENSION_ERROR}); using the pure-Python reference backend, which is "
        "much slower. "
        + (
            "This fastbp is a source tree without the built extension: build it in "
            "place with `pip install -e .`, or import the installed fastbp from "
            "another directory."
            if _in_source_tree
            else "This fastbp was installed without its compiled core: reinstall it with a "
            "working C compiler, or install a wheel."
        ),
        RuntimeWarning,
        stacklevel=3,
    )


def get(name: str | None) -> Backend:
    """The backend module called ``name`` (None: this process's default)."""
    if name is None:
        name = BACKEND
    if name not in BACKENDS:
        raise ValueError(f"backend must be None, 'compiled' or 'reference', got {name!r}")
    if name == "reference":
        return reference
    if compiled is None:
        raise ImportError(
            f"backend='compiled' was asked for, but fastbp._core cannot be imported: "
            f"{EXTENSION_ERROR}"
        ) from EXTENSION_ERROR
    return compiled


# A batch goes through numpy's matrix product (BLAS) where rows x weights is
# at least BATCH_WORK and, in float64, the network has at least
# BATCH_WEIGHTS weights: there it beats the per-example forward pass.
BATCH_WORK = 1 << 20
BATCH_WEIGHTS = 8192


def forward(backend, flat, spec, blocks, X):
    """x^(L) for the rows of X on ``backend``: per example, or for a large
    batch a layer at a time, S^(l) = X^(l-1) W^(l)[1:] + W^(l)[0] by numpy's
    matrix product and X^(l) = g(S^(l)) by the backend's ``activate_rows``.
    ``spec`` is (d[0..L], activation codes, loss code), ``blocks`` the views
    W^(1..L) of ``flat``."""
    layers, acts, _ = spec
    sparse = isinstance(X, _sparse.Rows)  # CSR rows: per example, from their entries
    if (
        not sparse
        and X.shape[0] * len(flat) >= BATCH_WORK
        and (flat.dtype == np.float32 or len(flat) >= BATCH_WEIGHTS)
    ):
        for W, act in zip(blocks, acts[1:]):
            X = X @ W[1:]
            X += W[0]
            backend.activate_rows(act, X)
        return X
    out = np.empty((X.shape[0], layers[-1]), dtype=flat.dtype)
    backend.forward(flat, layers, acts, X, out)
    return out
