"""fastbp.sklearn.MLPClassifier against scikit-learn's MLPClassifier on the
digits data set that scikit-learn ships: fit time and test accuracy.

    python benchmarks/bench_sklearn.py [--epochs 30] [--repeats 3] [--json FILE]

Both get the same layers (64-64-10, relu hidden, softmax output), the same
update rule (per-example SGD: batch_size=1, learning_rate_init 0.01, no
momentum, alpha 1e-4) and exactly ``--epochs`` epochs (tol=0 and
n_iter_no_change above the epochs, so neither stops early), shuffled, on
the same 75/25 split of the 1797 images scaled to [0, 1]. scikit-learn's
default mini-batches (batch_size="auto", 200) with the same epochs are a
third row, for what a scikit-learn user gets by default. Each repeat fits
the three one after the other, so that the ratios of a repeat come from the
same phase of this shared machine; the table gives the median fit time and
the median of the per-repeat ratios.
"""

import os

for _name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import sklearn  # noqa: E402
from sklearn import neural_network  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

import fastbp  # noqa: E402
from fastbp import sklearn as fastbp_sklearn  # noqa: E402
from run import cpu_name  # noqa: E402

MODELS = {
    "fastbp MLPClassifier, batch_size=1": (fastbp_sklearn.MLPClassifier, 1),
    "scikit-learn MLPClassifier, batch_size=1": (neural_network.MLPClassifier, 1),
    "scikit-learn MLPClassifier, batch_size=200": (neural_network.MLPClassifier, "auto"),
}
BASELINE = "fastbp MLPClassifier, batch_size=1"


def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.25, random_state=0)


def measure(epochs, repeats):
    X_train, X_test, y_train, y_test = digits()
    common = dict(hidden_layer_sizes=(64,), activation="relu", solver="sgd",
                  learning_rate_init=0.01, momentum=0.0, alpha=1e-4, max_iter=epochs, tol=0.0,
                  n_iter_no_change=epochs + 1, shuffle=True)
    seconds = {name: [] for name in MODELS}
    accuracy = {name: [] for name in MODELS}
    for repeat in range(repeats):
        for name, (cls, batch_size) in MODELS.items():
            model = cls(batch_size=batch_size, random_state=repeat, **common)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                start = time.perf_counter()
                model.fit(X_train, y_train)
                seconds[name].append(time.perf_counter() - start)
            assert model.n_iter_ == epochs, (name, model.n_iter_)
            accuracy[name].append(model.score(X_test, y_test))
    base = np.array(seconds[BASELINE])
    return {name: {"median_fit_seconds": float(np.median(seconds[name])),
                   "median_time_ratio_to_fastbp": float(np.median(np.array(seconds[name])
                                                                  / base)),
                   "median_test_accuracy": float(np.median(accuracy[name])),
                   "test_accuracies": accuracy[name]}
            for name in MODELS}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    results = measure(args.epochs, args.repeats)
    print(f"digits (1347 training, 450 test images), {args.epochs} epochs, "
          f"{args.repeats} repeats, {cpu_name()}")
    print("| model | fit time (median) | time / fastbp's | test accuracy (median) |")
    print("|---|---|---|---|")
    for name, row in results.items():
        print(f"| {name} | {row['median_fit_seconds']:.3f} s | "
              f"{row['median_time_ratio_to_fastbp']:.1f}x | "
              f"{row['median_test_accuracy']:.4f} |")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"benchmark": "bench_sklearn", "epochs": args.epochs,
                       "repeats": args.repeats, "cpu": cpu_name(),
                       "python": platform.python_version(), "fastbp": fastbp.__version__,
                       "fastbp_backend": fastbp.BACKEND, "scikit-learn": sklearn.__version__,
                       "results": results}, handle, indent=2)


if __name__ == "__main__":
    main()
