"""Choose between the compiled core and the reference backend.

The environment variable FASTBP_BACKEND ("compiled" or "reference") sets the
default backend of this process; an explicit ``backend=`` argument to
``fastbp.Network`` still wins.  Where the extension cannot be imported and
nothing was forced, fastbp warns once, at import, and uses the reference.
"""

import importlib
import os
import warnings

from . import reference
from ._validation import THREADS_PER_CORE

try:
    compiled = importlib.import_module(__package__ + "._core")
    EXTENSION_ERROR = None
except ImportError as exc:  # not built, or built for another Python
    compiled = None
    EXTENSION_ERROR = exc

BACKENDS = ("compiled", "reference")

_forced = os.environ.get("FASTBP_BACKEND", "").strip().lower()
if _forced not in ("",) + BACKENDS:
    raise ImportError(
        f"FASTBP_BACKEND must be 'compiled' or 'reference', got {_forced!r}"
    )
if _forced == "compiled" and compiled is None:
    raise ImportError(
        "FASTBP_BACKEND=compiled, but the compiled core fastbp._core cannot be "
        f"imported: {EXTENSION_ERROR}"
    ) from EXTENSION_ERROR

BACKEND = _forced or ("compiled" if compiled is not None else "reference")

if compiled is None and not _forced:
    _in_source_tree = os.path.exists(os.path.join(os.path.dirname(__file__), "_core.pyx"))
    warnings.warn(
        "fastbp's compiled core fastbp._core is not available "
        f"({EXTENSION_ERROR}); using the pure-Python reference backend, which is "
        "much slower. "
        + ("This fastbp is a source tree without the built extension: build it in "
           "place with `pip install -e .`, or import the installed fastbp from "
           "another directory." if _in_source_tree else
           "Reinstall with a working C compiler to get the fast one."),
        RuntimeWarning,
        stacklevel=3,
    )


def get(name):
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


# OpenMP (GNU libgomp) cannot be used in a child forked after a parallel
# region ran in its parent: the child's next parallel region waits forever
# for threads that were not forked.  So a process remembers whether it ran
# one, and its forked children train on one thread.
_ran_parallel = False
_forked_after_parallel = False


def _after_fork_in_child():
    global _forked_after_parallel
    _forked_after_parallel = _forked_after_parallel or _ran_parallel


os.register_at_fork(after_in_child=_after_fork_in_child)


def threads(backend, requested):
    """The threads a training pass on ``backend`` runs on, for the
    ``n_threads`` asked for (-1: OpenMP's limit, which OMP_NUM_THREADS and
    threadpoolctl set, up to ``_validation.THREADS_PER_CORE`` per core).
    One where the backend cannot run in parallel (the reference, a build
    without OpenMP, a child forked after a parallel pass); then asking for
    more than one warns."""
    global _ran_parallel
    if backend is reference or not backend.PARALLEL or _forked_after_parallel:
        if requested > 1:
            why = ("the reference backend runs serially" if backend is reference else
                   "fastbp's compiled core was built without OpenMP" if not backend.PARALLEL
                   else "this process was forked after a parallel pass, and OpenMP "
                   "cannot start threads in it (use the 'spawn' or 'forkserver' start "
                   "method of multiprocessing)")
            warnings.warn(f"n_threads={requested} trains on one thread: {why}.",
                          RuntimeWarning, stacklevel=4)
        return 1
    if requested == -1:
        requested = min(backend.max_threads(), THREADS_PER_CORE * (os.cpu_count() or 1))
    _ran_parallel = _ran_parallel or requested > 1
    return requested
