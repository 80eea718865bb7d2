"""fastbp.sklearn's estimators against scikit-learn's MLPClassifier: fit
time and test accuracy, at each one's default and solver by solver.

    python benchmarks/bench_sklearn.py [--epochs 10] [--repeats 3]
        [--data digits,blobs] [--json FILE]

Two data sets: the digits scikit-learn ships (1797 images of 64 pixels
scaled to [0, 1]) and "blobs", a harder synthetic one (30,000 examples of
100 features, 10 classes, make_classification with 40 informative
features), each split 75/25. Every model gets the same layers (64 relu
hidden units, softmax output), alpha 1e-4 and random_state. The rows:

- each library's default solver: fastbp's Adam per example
  (batch_size=1), scikit-learn's Adam in batches of 200;
- Adam per example (batch_size=1) and in batches of 200 in both;
- L-BFGS in both (scipy's, on the whole set; at most 200 iterations).

The stochastic solvers run exactly ``--epochs`` epochs (tol=0, no early
stop), shuffled. Each repeat fits every model one after the other, so that
the ratios of a repeat come from the same phase of this shared machine;
the table gives the median fit time and the median of the per-repeat time
ratios to the row it is compared with (fastbp's row of the same solver).
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
from run import cpu_name  # noqa: E402
from sklearn import neural_network  # noqa: E402
from sklearn.datasets import load_digits, make_classification  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import fastbp  # noqa: E402
from fastbp import sklearn as fastbp_sklearn  # noqa: E402

FASTBP, SKLEARN = fastbp_sklearn.MLPClassifier, neural_network.MLPClassifier
# name: (class, solver, batch_size or None for the class's default, the row it is timed against)
MODELS = {
    "fastbp default (adam, batch_size=1)": (FASTBP, "adam", None, None),
    "scikit-learn default (adam, batch_size=200)": (
        SKLEARN,
        "adam",
        None,
        "fastbp default (adam, batch_size=1)",
    ),
    "fastbp adam, batch_size=1": (FASTBP, "adam", 1, None),
    "scikit-learn adam, batch_size=1": (SKLEARN, "adam", 1, "fastbp adam, batch_size=1"),
    "fastbp adam, batch_size=200": (FASTBP, "adam", 200, None),
    "scikit-learn adam, batch_size=200": (SKLEARN, "adam", 200, "fastbp adam, batch_size=200"),
    "fastbp lbfgs": (FASTBP, "lbfgs", None, None),
    "scikit-learn lbfgs": (SKLEARN, "lbfgs", None, "fastbp lbfgs"),
}


def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.25, random_state=0)


def blobs():
    X, y = make_classification(
        n_samples=30_000,
        n_features=100,
        n_informative=40,
        n_classes=10,
        n_clusters_per_class=2,
        class_sep=1.0,
        random_state=0,
    )
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


DATA = {"digits": digits, "blobs": blobs}


def measure(data, epochs, repeats):
    X_train, X_test, y_train, y_test = DATA[data]()
    seconds = {name: [] for name in MODELS}
    accuracy = {name: [] for name in MODELS}
    for repeat in range(repeats):
        for name, (cls, solver, batch_size, _) in MODELS.items():
            params = dict(
                hidden_layer_sizes=(64,),
                activation="relu",
                solver=solver,
                alpha=1e-4,
                random_state=repeat,
            )
            if solver != "lbfgs":
                params.update(max_iter=epochs, tol=0.0, n_iter_no_change=epochs + 1)
            if batch_size is not None:
                params["batch_size"] = batch_size
            model = cls(**params)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                start = time.perf_counter()
                model.fit(X_train, y_train)
                seconds[name].append(time.perf_counter() - start)
            assert solver == "lbfgs" or model.n_iter_ == epochs, (name, model.n_iter_)
            accuracy[name].append(model.score(X_test, y_test))
    results = {}
    for name, (_, _, _, against) in MODELS.items():
        base = np.array(seconds[against or name])
        results[name] = {
            "median_fit_seconds": float(np.median(seconds[name])),
            "median_time_ratio": float(np.median(np.array(seconds[name]) / base)),
            "ratio_to": against or name,
            "median_test_accuracy": float(np.median(accuracy[name])),
            "test_accuracies": accuracy[name],
        }
    return {"n_train": len(X_train), "n_test": len(X_test), "results": results}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--data", default="digits,blobs", help=f"comma-separated, of {sorted(DATA)}"
    )
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    names = args.data.split(",")
    unknown = sorted(set(names) - set(DATA))
    if unknown:
        parser.error(f"unknown data {unknown}; choose from {sorted(DATA)}")
    report = {}
    print(f"{args.epochs} epochs for the stochastic solvers, {args.repeats} repeats, {cpu_name()}")
    for data in names:
        report[data] = measure(data, args.epochs, args.repeats)
        print(f"\n{data} ({report[data]['n_train']} training, {report[data]['n_test']} test)")
        print("| model | fit time (median) | time / fastbp's | test accuracy (median) |")
        print("|---|---|---|---|")
        for name, row in report[data]["results"].items():
            ratio = "" if row["ratio_to"] == name else f"{row['median_time_ratio']:.1f}x"
            print(
                f"| {name} | {row['median_fit_seconds']:.3f} s | {ratio} | "
                f"{row['median_test_accuracy']:.4f} |"
            )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(
                {
                    "benchmark": "bench_sklearn",
                    "epochs": args.epochs,
                    "repeats": args.repeats,
                    "cpu": cpu_name(),
                    "python": platform.python_version(),
                    "fastbp": fastbp.__version__,
                    "fastbp_backend": fastbp.BACKEND,
                    "scikit-learn": sklearn.__version__,
                    "data": report,
                },
                handle,
                indent=2,
            )


if __name__ == "__main__":
    main()
