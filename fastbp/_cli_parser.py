"""The ``fastbp`` command's arguments: its parser, every option checked
as it is read (a bad one is one line on stderr and exit code 2)."""

import argparse

from . import demo
from ._backend import BACKENDS
from ._files import MAX_FEATURES
from ._names import ACTIVATIONS, HIDDEN_ACTIVATIONS, LOSSES
from ._validation import MAX_LR

# verify checks at most this many weights of each layer without --all
VERIFY_SAMPLE = 200


class _Parser(argparse.ArgumentParser):
    """argparse, with a bad option reported as one line, exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _layers(text):
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 64,32, got {text!r}") from None
    if any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be >= 1, got {text!r}")
    return sizes


def _in(low, high, low_closed=False, high_closed=False):
    """An argparse type: a real number between low and high (each end
    excluded unless closed)."""

    def real(text):
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        above = value >= low if low_closed else value > low
        below = value <= high if high_closed else value < high
        if not (above and below):
            bounds = f"{'[' if low_closed else '('}{low:g}, {high:g}{']' if high_closed else ')'}"
            raise argparse.ArgumentTypeError(f"expected a number in {bounds}, got {text!r}")
        return value

    return real


def _names(text):
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected column names like a,b, got {text!r}")
    return names


def _at_least(low):
    """An argparse type: an integer >= low."""

    def integer(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}")
        return value

    return integer


def build_parser():
    parser = _Parser(
        prog="fastbp",
        description=("Fully connected networks trained by backpropagation and per-example SGD."),
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    parser.add_argument(
        "--version", action="version", version=f"fastbp {__import__('fastbp').__version__}"
    )
    # --debug after the command too (where it is not given, the one before stands)
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks of errors"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = commands.add_parser(
        "demo",
        parents=[debug],
        help="train on built-in data and report",
        description="Train a network on built-in data (spirals, xor, sine or digits) and report.",
    )
    run.add_argument(
        "--dataset",
        choices=list(demo.DATASETS),
        default="spirals",
        help="spirals (default), xor, sine, or digits (needs scikit-learn)",
    )
    run.add_argument(
        "--plot",
        metavar="FILE.png",
        help="write the learning curve and what was learned (needs matplotlib)",
    )
    run.add_argument("--points", type=_at_least(2), default=2000, help="number of points (2000)")
    run.add_argument(
        "--epochs",
        type=_at_least(1),
        default=None,
        help="training epochs (the data set's: 100 spirals and sine, 30 xor, 20 digits)",
    )
    run.add_argument(
        "--lr",
        type=_in(0, MAX_LR, high_closed=True),
        default=None,
        help="learning rate (the data set's: 0.01, 0.1 for xor)",
    )
    run.add_argument(
        "--seed", type=_at_least(0), default=0, help="seed of data, weights and order (0)"
    )
    run.add_argument(
        "--backend", choices=BACKENDS, default=None, help="backend (default: fastbp.BACKEND)"
    )

    train = commands.add_parser(
        "train",
        parents=[debug],
        help="train a network on a CSV, .npy, .npz or svmlight file",
        description="Train a network on DATA and save it. Inputs "
        "(and numeric targets) are standardised, but for svmlight "
        "files' inputs, which stay sparse; the scaling is saved with "
        "the model.",
    )
    train.add_argument(
        "data",
        metavar="DATA",
        help="CSV with a header row, .npy, .npz, or svmlight (.svm, .svmlight, .libsvm)",
    )
    train.add_argument(
        "--target",
        required=True,
        metavar="COL",
        help="the target: CSV column name, .npy column index, .npz array; "
        "for svmlight, the name its labels get",
    )
    train.add_argument("--save", required=True, metavar="MODEL.npz", help="where to save")
    train.add_argument(
        "--layers", type=_layers, default=[32], metavar="64,32", help="hidden layer sizes (32)"
    )
    train.add_argument("--hidden", choices=HIDDEN_ACTIVATIONS, default="tanh")
    train.add_argument(
        "--output",
        choices=ACTIVATIONS,
        default=None,
        help="default: softmax for 3+ classes, sigmoid for 2, else identity",
    )
    train.add_argument(
        "--loss",
        choices=LOSSES,
        default=None,
        help="default: cross_entropy for classes, else squared",
    )
    train.add_argument(
        "--classify",
        action="store_true",
        help="treat a numeric target as class labels (a target with any "
        "non-numeric value is always classified)",
    )
    train.add_argument("--epochs", type=_at_least(1), default=20, help="(20)")
    train.add_argument(
        "--lr", type=_in(0, MAX_LR, high_closed=True), default=0.01, help="learning rate (0.01)"
    )
    train.add_argument("--momentum", type=_in(0, 1, low_closed=True), default=0.0, help="(0)")
    train.add_argument("--batch-size", type=_at_least(1), default=1, help="1: per-example SGD (1)")
    train.add_argument(
        "--validation-fraction",
        type=_in(0, 1),
        default=None,
        help="hold out this fraction for a validation loss",
    )
    train.add_argument(
        "--early-stopping",
        action="store_true",
        help="stop when the validation loss stops improving",
    )
    train.add_argument("--threads", type=_at_least(1), default=1, help="threads (1)")
    train.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    train.add_argument("--seed", type=_at_least(0), default=0, help="of the weights and order (0)")
    train.add_argument(
        "--n-features",
        type=_at_least(1),
        default=None,
        metavar="N",
        help="svmlight: the number of inputs (default: the file's largest "
        f"index, at most {MAX_FEATURES:,} = 2^20)",
    )
    train.add_argument(
        "--no-standardize", action="store_true", help="train on the values as they are"
    )
    train.add_argument(
        "--columns",
        type=_names,
        default=None,
        metavar="A,B",
        help="CSV: the input columns (default: all but the target)",
    )
    train.add_argument(
        "--drop",
        type=_names,
        default=(),
        metavar="ID,NOTE",
        help="CSV: columns that are not inputs (an id, a second target, text)",
    )
    train.add_argument(
        "--fill-missing",
        choices=("mean",),
        default=None,
        help="CSV: fill empty input fields with the column's mean (saved with "
        "the model, which fills them so when it predicts); default: an empty "
        "field is an error",
    )

    predict = commands.add_parser("predict", parents=[debug], help="predictions of a saved model")
    predict.add_argument("model", metavar="MODEL.npz")
    predict.add_argument("data", metavar="DATA")
    predict.add_argument("-o", "--out", metavar="OUT.csv", help="default: standard output")

    evaluate = commands.add_parser(
        "eval", parents=[debug], help="loss and accuracy (or R^2) of a saved model"
    )
    evaluate.add_argument("model", metavar="MODEL.npz")
    evaluate.add_argument("data", metavar="DATA")
    evaluate.add_argument(
        "--target", metavar="COL", help="the target column (default: the model's)"
    )

    commands.add_parser("info", parents=[debug], help="version, backend, OpenMP, SIMD and CPU")

    check = commands.add_parser(
        "verify",
        parents=[debug],
        help="compiled core against the reference, and backprop against finite differences",
    )
    check.add_argument(
        "--layers",
        type=_layers,
        default=[8, 6, 3],
        metavar="8,6,3",
        help="d[0..L] of the network checked (8,6,3)",
    )
    check.add_argument("--epochs", type=_at_least(1), default=3, help="(3)")
    check.add_argument(
        "--lr",
        type=_in(0, MAX_LR, high_closed=True),
        default=None,
        help="learning rate (default: 0.5 (1 - momentum) / the widest fan-in)",
    )
    check.add_argument("--momentum", type=_in(0, 1, low_closed=True), default=0.9, help="(0.9)")
    check.add_argument("--seed", type=_at_least(0), default=0)
    check.add_argument(
        "--threads",
        type=_at_least(1),
        default=1,
        metavar="K",
        help="train on K threads: the compiled core runs the copies' shards "
        "on threads, the reference one after another (1)",
    )
    check.add_argument(
        "--all",
        action="store_true",
        help=f"check every weight against finite differences, not "
        f"{VERIFY_SAMPLE} of each layer (slow on large layers)",
    )
    return parser
