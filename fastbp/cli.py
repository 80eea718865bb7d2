"""The ``fastbp`` command (also ``python -m fastbp``).

Errors in the user's files or options are one line on stderr and exit code
2; ``--debug`` shows the traceback instead.
"""

import csv
import os
import platform
import sys
import time

import numpy as np

from . import _backend, _parallel, demo
from ._backend import BACKENDS
from ._cli_parser import VERIFY_SAMPLE, build_parser
from ._files import SVMLIGHT, UsageError, load_model, read_table, save_model
from ._options import Options
from ._sparse import issparse
from .network import DivergenceError, Network
from .tools import check_gradient, stable_lr, verify


def main(argv=None):
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # bare fastbp: what it does, and exit 2
        parser.print_help(sys.stderr)
        return 2
    try:
        return COMMANDS[args.command](args)
    except BrokenPipeError:  # the reader went away (| head): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (
        UsageError,
        ValueError,
        TypeError,
        OSError,
        ImportError,
        MemoryError,
        DivergenceError,
    ) as error:
        if args.debug:
            raise
        message = str(error) or (
            type(error).__name__ if not isinstance(error, MemoryError) else "out of memory"
        )
        print(f"fastbp {args.command}: error: {message}", file=sys.stderr)
        return 2


def _demo(args):
    demo.run(
        args.dataset,
        points=args.points,
        epochs=args.epochs,
        lr=args.lr,
        seed=args.seed,
        backend=args.backend,
        plot=args.plot,
    )
    return 0


def _train(args):
    folder = os.path.dirname(os.path.abspath(args.save))
    if not os.path.isdir(folder):  # before training, not after
        raise UsageError(f"--save {args.save}: no such directory {folder}")
    started = time.perf_counter()
    net, info, scaling, X, raw, history = train_model(args)
    seconds = time.perf_counter() - started
    save_model(args.save, net, info, dict(zip(SCALING, scaling)))
    training = sum(history.seconds)
    rate = history.epochs * X.shape[0] / max(training, 1e-12)
    if history.stopped_early:
        print(
            f"stopped early after epoch {history.epochs} of {args.epochs}: the validation "
            f"loss stopped improving; kept the weights of epoch {history.best_epoch}"
        )
    print(
        f"{history.epochs} epochs: training {training:.2f} s ({rate:,.0f} examples/s), "
        f"{seconds:.2f} s in all with reading the data; "
        f"{_quality(net, info, scaling, X, raw)} on the training data; saved {args.save}"
    )
    return 0


# The arrays of a model file that scale its inputs and targets.
SCALING = ("x_mean", "x_scale", "y_mean", "y_scale")


def train_model(args):
    """What ``fastbp train`` does but save: (network, info, scaling, X,
    targets as read, History)."""
    if args.n_features is not None and not args.data.endswith(SVMLIGHT):
        raise UsageError("--n-features is for svmlight files; a table's columns are its own")
    if (args.columns or args.drop or args.fill_missing) and args.data.endswith(
        SVMLIGHT + (".npy", ".npz")
    ):
        raise UsageError("--columns, --drop and --fill-missing are for CSV files")
    if args.columns and args.drop:
        raise UsageError("give --columns or --drop, not both")
    X, columns, raw = read_table(
        args.data,
        args.target,
        args.columns,
        args.n_features,
        args.drop,
        missing=args.fill_missing is not None,
    )
    fill = _fill_missing(X, columns, args.data) if args.fill_missing else None
    numeric = _numeric(raw)
    classes = None
    if args.classify or numeric is None:
        classes = np.unique(raw if numeric is None else numeric)
        if numeric is not None and np.all(classes == np.round(classes)):
            classes = classes.astype(np.int64)  # labels 0, 1, ..., not 0.0, 1.0
        if len(classes) < 2:
            raise UsageError(f"{args.data}: the target {args.target!r} has one class only")
        Y = _one_hot(_labels(raw, classes), classes)
        output = args.output or ("sigmoid" if len(classes) == 2 else "softmax")
        loss = args.loss or "cross_entropy"
    else:
        Y = numeric.reshape(len(numeric), -1)
        output, loss = args.output or "identity", args.loss or "squared"
    x_mean, x_scale = _scaling(X, args.no_standardize or issparse(X))
    y_mean, y_scale = _scaling(Y, args.no_standardize or classes is not None)
    net = Network(
        [X.shape[1], *args.layers, Y.shape[1]],
        hidden=args.hidden,
        output=output,
        loss=loss,
        dtype=args.dtype,
        seed=args.seed,
    )
    print(f"fastbp train: {X.shape[0]} examples of {X.shape[1]} inputs from {args.data}; {net!r}")
    terminal = _bar_fits()
    history = net.fit(
        _scaled(X, x_mean, x_scale),
        (Y - y_mean) / y_scale,
        epochs=args.epochs,
        lr=args.lr,
        momentum=args.momentum,
        batch_size=args.batch_size,
        validation_fraction=args.validation_fraction,
        early_stopping=args.early_stopping,
        n_threads=args.threads,
        seed=args.seed,
        verbose=terminal,
        callbacks=() if terminal else [_epoch_line(args.epochs)],
    )
    _warn_if_not_learned(history, _constant_loss((Y - y_mean) / y_scale, loss, output))
    info = {
        "columns": columns,
        "target": args.target,
        "classes": None if classes is None else classes.tolist(),
    }
    if fill is not None:
        info["fill"] = fill.tolist()
    return net, info, (x_mean, x_scale, y_mean, y_scale), X, raw, history


def _fill_missing(X, columns, path):
    """Each column's mean over its values, filled in X where it has none (in
    place); returns the means."""
    missing = np.isnan(X)
    if missing.all(axis=0).any():
        raise UsageError(
            f"{path}: column {columns[int(np.argmax(missing.all(axis=0)))]!r} "
            "has no values to take a mean of"
        )
    means = np.nanmean(X, axis=0)
    X[missing] = means[np.nonzero(missing)[1]]
    return means


def _constant_loss(Y, loss, output):
    """The mean error of predicting the targets' mean for every example (a
    model that learned nothing), or None for a loss not computed here."""
    p = Y.mean(axis=0)
    if loss == "squared":
        return 0.5 * float(np.sum(Y.var(axis=0)))
    if loss != "cross_entropy":
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = -p * np.log(p)
        if output == "sigmoid":
            terms = terms - (1 - p) * np.log(1 - p)
    return float(np.nansum(terms))  # 0 log 0 = 0


def _warn_if_not_learned(history, constant):
    """A warning on stderr where the last epoch's training loss is not below
    the first's, or above what predicting the mean would give."""
    last, first = history.loss[-1], history.loss[0]
    if history.epochs > 1 and not last < first:
        why = f"not below the first epoch's ({first:.4g})"
    elif constant is not None and not last <= constant:
        why = f"above what predicting the targets' mean gives ({constant:.4g})"
    else:
        return
    print(
        f"fastbp train: warning: the last epoch's training loss ({last:.4g}) is {why}: the "
        "network did not learn; try a smaller --lr",
        file=sys.stderr,
    )


# The narrowest terminal a progress bar is drawn in (else: a line an epoch).
BAR_COLUMNS = 40


def _bar_fits():
    """Whether stderr is a terminal wide enough for a progress bar."""
    try:
        return (
            sys.stderr.isatty() and os.get_terminal_size(sys.stderr.fileno()).columns >= BAR_COLUMNS
        )
    except (OSError, ValueError):
        return False


def _epoch_line(epochs):
    def report(network, epoch, logs):
        val = f"  val_loss {logs['val_loss']:.6g}" if "val_loss" in logs else ""
        print(f"epoch {epoch}/{epochs}  loss {logs['loss']:.6g}{val}", flush=True)

    return report


def _numeric(values):
    """The target's values as floats, or None if any is not a number;
    NaN or infinity is a UsageError."""
    try:
        numbers = np.asarray(values, dtype=np.float64)
    except (ValueError, OverflowError):
        return None
    if not np.isfinite(numbers).all():
        bad = np.asarray(values)[~np.isfinite(numbers)][0]
        raise UsageError(f"the target holds a value that is NaN or infinite: {str(bad)!r}")
    return numbers


def _labels(raw, classes):
    """The target values as read, comparable with the model's classes:
    numbers where the classes are numbers."""
    if np.asarray(classes).dtype.kind in "fiu":
        values = _numeric(raw)
        if values is None:
            raise UsageError("the target is not numeric, but the model's classes are numbers")
        return values
    return raw


def _one_hot(labels, classes):
    """The network's targets: a column per class, or for two classes one
    column (is it the second class)."""
    Y = (labels[:, None] == np.asarray(classes)[None, :]).astype(np.float64)
    return Y[:, 1:] if len(classes) == 2 else Y


def _scaling(A, off):
    """Mean and standard deviation of the columns (1 where constant)."""
    if off:
        return np.zeros(A.shape[1]), np.ones(A.shape[1])
    scale = A.std(axis=0)
    return A.mean(axis=0), np.where(scale > 0, scale, 1.0)


def _scaled(X, mean, scale):
    """The network's inputs: X standardised, or sparse X as it is (its
    scaling is 0 and 1: centring would fill in its zeros)."""
    return X if issparse(X) else (X - mean) / scale


def _predict(net, info, scaling, X):
    """Predictions in the original units: labels and class probabilities,
    or target values."""
    x_mean, x_scale, y_mean, y_scale = scaling
    out = net.predict(_scaled(X, x_mean, x_scale))
    if info["classes"] is None:
        return out * y_scale + y_mean, None
    proba = np.hstack([1 - out, out]) if out.shape[1] == 1 else out
    return np.asarray(info["classes"])[np.argmax(proba, axis=1)], proba


def _quality(net, info, scaling, X, raw):
    """ "accuracy ..." or "R^2 ..." of the predictions against the targets."""
    predicted, _ = _predict(net, info, scaling, X)
    if info["classes"] is not None:
        return f"accuracy {np.mean(predicted == _labels(raw, info['classes'])):.4f}"
    return f"R^2 {demo.r_squared(_targets(raw, info), predicted):.4f}"


def _targets(raw, info):
    """Numeric target values as read, one column per output."""
    truth = _numeric(raw)
    if truth is None:
        raise UsageError(
            f"the target {info['target']!r} is not numeric, but the model predicts numbers"
        )
    return truth.reshape(len(truth), -1)


def _model_and_data(args, target=None, needs_target=False):
    """The model, its info and scaling, and the data it reads: X and, with
    ``needs_target``, the target (by default the model's own)."""
    net, info, arrays = load_model(args.model)
    if info["target"] is None:  # Network.save's model: no names
        if needs_target and target is None:
            raise UsageError(
                f"{args.model} names no target column (Network.save wrote it): give --target"
            )
        info = dict(info, target=target)
    elif target is not None and target != info["target"]:
        raise UsageError(f"the model predicts {info['target']!r}, not {target!r}")
    if needs_target:
        target = info["target"]
    fill = info.get("fill")
    X, _, raw = read_table(args.data, target, info["columns"], missing=fill is not None)
    if fill is not None:  # as the model was trained: the training means
        X = np.where(np.isnan(X), np.asarray(fill), X)
    if X.shape[1] != net.layers[0]:
        raise UsageError(
            f"{args.data}: {X.shape[1]} input columns, the model takes {net.layers[0]}"
        )
    return net, info, tuple(arrays[name] for name in SCALING), X, raw


def _predict_command(args):
    net, info, scaling, X, _ = _model_and_data(args)
    predicted, proba = _predict(net, info, scaling, X)
    target = info["target"] or "output"
    if proba is None:
        header = (
            [target]
            if predicted.shape[1] == 1
            else [f"{target}_{k}" for k in range(predicted.shape[1])]
        )
        rows = predicted.tolist()
    else:
        header = [target] + [f"p({label})" for label in info["classes"]]
        rows = [[label] + list(p) for label, p in zip(predicted.tolist(), proba.tolist())]
    out = open(args.out, "w", newline="") if args.out else sys.stdout
    try:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
    finally:
        if args.out:
            out.close()
    return 0


def _eval(args):
    net, info, scaling, X, raw = _model_and_data(args, args.target, needs_target=True)
    x_mean, x_scale, y_mean, y_scale = scaling
    if info["classes"] is None:
        Y = (_targets(raw, info) - y_mean) / y_scale
    else:
        labels = _labels(raw, info["classes"])
        unknown = set(np.unique(labels).tolist()) - set(info["classes"])
        if unknown:
            raise UsageError(
                f"{args.data}: labels the model does not know: {sorted(map(str, unknown))[:5]}"
            )
        Y = _one_hot(labels, info["classes"])
    loss = net.loss(_scaled(X, x_mean, x_scale), Y)
    print(
        f"{X.shape[0]} examples: loss {loss:.6g} ({net.loss_name}, on the model's scale), "
        f"{_quality(net, info, scaling, X, raw)}"
    )
    return 0


def _info(args):
    lines = [
        f"fastbp {__import__('fastbp').__version__}",
        f"python {platform.python_version()}, numpy {np.__version__}",
        f"default backend: {_backend.BACKEND}",
    ]
    core = _backend.compiled
    if core is None:
        lines.append(
            f"compiled core: not available ({_backend.EXTENSION_ERROR}); the reference backend runs"
        )
    else:
        lines.append(
            f"compiled core: OpenMP {'yes' if core.PARALLEL else 'no'} "
            f"(up to {core.max_threads()} threads), SIMD {core.SIMD}"
        )
        lines.append(
            f"instruction set: {core.ISA} (this CPU runs the copies built for "
            f"{', '.join(_backend.CORES)}; FASTBP_ISA picks one)"
        )
    lines.append(f"CPU: {cpu_name()}, {os.cpu_count()} logical cores")
    print("\n".join(lines))
    return 0


def cpu_name():
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# verify --threads: enough examples for rounds of several shards
VERIFY_THREADED_ROWS = 4000
# verify shows a progress bar where it checks more weights than this in all
LONG_CHECK = 2000


def _bar(total, description):
    """A progress bar on stderr (tqdm, imported only when wanted)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, unit="weight", leave=False, dynamic_ncols=True)


def _schedule_of(net, threads, lr, momentum, rows):
    """How ``fastbp verify --threads`` trains ``net``: the copies' shards a round."""
    if threads == 1:
        return ""
    options = Options.check(lr, momentum=momentum, n_threads=threads)
    bounds = _parallel.copies_schedule(options, 0, rows, len(net.flat), net.dtype.itemsize)
    if not bounds:
        return (
            f", {threads} threads asked: serial, the step is too large for copies "
            "(a smaller --lr or --momentum)"
        )
    sizes = ", ".join(map(str, _parallel.shard_sizes(bounds)))
    return (
        f", on {threads} threads: rounds of {bounds[-1]} examples "
        f"in {len(bounds) - 1} shards ({sizes})"
    )


def _verify(args):
    layers = args.layers
    if len(layers) < 2:
        raise UsageError("--layers needs at least d[0] and d[L], like 8,6,3")
    rows = 200 if args.threads == 1 else VERIFY_THREADED_ROWS
    rng = np.random.default_rng(args.seed)
    X = rng.normal(size=(rows, layers[0]))
    Y = 0.5 * rng.normal(size=(rows, layers[-1]))
    net = Network(layers, hidden="tanh", seed=args.seed)
    lr = stable_lr(layers, args.momentum) if args.lr is None else args.lr
    print(f"fastbp verify: {net!r}, {rows} examples X ~ N(0, 1), Y ~ 0.5 N(0, 1)")
    print(
        "1. the compiled core against the reference backend, the same training "
        f"(lr {lr:.3g}, momentum {args.momentum:g}, {args.epochs} epochs"
        + _schedule_of(net, args.threads, lr, args.momentum, rows)
        + "):"
    )
    compared = verify(
        net,
        X,
        Y,
        epochs=args.epochs,
        lr=lr,
        momentum=args.momentum,
        seed=args.seed,
        n_threads=args.threads,
    )
    print("\n".join("   " + line for line in str(compared).splitlines()))
    agree = compared.passed
    sample = None if args.all else VERIFY_SAMPLE
    print(
        "2. backpropagation against central finite differences (8 examples), per layer"
        + ("" if args.all else f", {VERIFY_SAMPLE} weights of each at most (--all: every weight)")
        + ":"
    )
    for backend in BACKENDS:
        net = Network(layers, seed=args.seed, backend=backend)
        count = sum(w.size if args.all else min(w.size, VERIFY_SAMPLE) for w in net.weights)
        bar = _bar(count, f"   {backend}") if count > LONG_CHECK else None
        try:
            checked = check_gradient(
                net,
                X[:8],
                Y[:8],
                sample=sample,
                seed=args.seed,
                progress=bar.update if bar else None,
            )
        finally:
            if bar:
                bar.close()
        print(
            f"   {backend}: "
            + "; ".join(f"layer {l} {e:.1e}" for l, e in enumerate(checked.errors, start=1))
            + (" PASS" if checked.passed else " FAIL")
        )
        agree = agree and checked.passed
    verdict = (
        "PASS: the compiled core computes what the equations say"
        if agree
        else "FAIL: training diverged at these settings (a smaller --lr or --momentum "
        "trains stably); nothing was compared"
        if compared.diverged
        else "FAIL"
    )
    print("verdict: " + verdict)
    return 0 if agree else 1


COMMANDS = {
    "demo": _demo,
    "train": _train,
    "predict": _predict_command,
    "eval": _eval,
    "info": _info,
    "verify": _verify,
}
