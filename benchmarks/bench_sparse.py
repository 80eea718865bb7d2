"""Sparse inputs at text scale: fastbp against fastText, Vowpal Wabbit and
scikit-learn on a synthetic bag-of-words task.

    python benchmarks/bench_sparse.py [--epochs 5] [--train 100000] [--test 20000]
        [--peers fastbp,fasttext,vw,sklearn] [--threads 2] [--json FILE]

The corpus: a vocabulary of 2^18 words drawn by a Zipf law (exponent 1.1),
documents of about 60 tokens (Poisson), 10 classes; 12% of a document's
tokens are class words (100 per class), and 30% of those are another
class's, so that the task is not trivial. Every model gets the same
documents, one hidden layer of 64 units and the same number of epochs, on
one thread:

- fastbp ``[2^18, 64, 10]``, softmax output and cross-entropy, on the
  documents' word counts scaled to sum 1 (a CSR matrix): identity hidden
  units (fastText's model) and tanh ones; plain per-example SGD and Adagrad;
- fastText supervised (``fasttext`` / ``fasttext-community``): dim 64, its
  own linearly decaying rate from 0.1, on a text file (its time includes
  reading it and building its dictionary, as a user meets it);
- Vowpal Wabbit ``--oaa 10 --nn 64 -b 18`` (``vowpalwabbit``), on a text
  file with a cache, its time likewise;
- scikit-learn's MLPClassifier on the same CSR matrix: its default (Adam in
  batches of 200), and Adam per example on a sample of the documents.

Then fastbp on ``--threads`` threads: plain SGD and Adagrad in both modes,
each against its one-thread model, which runs again in turns with it (the
machine's speed drifts between rows). Each model
runs ``--repeats`` times (fewer where the runs took a minute) and the
fastest run's examples per second are reported, with the mean accuracy.
Times are of training
alone for fastbp and scikit-learn (the matrix is built before), of the whole
``train`` call for fastText and VW. The table gives examples per second
(examples x epochs / seconds) and test accuracy.

With ``--checks`` it instead times what fastbp does to a CSR X before it
trains on it (checking its arrays and copying its indices and indptr, so
that the core reads arrays the caller cannot change; and for an X whose
rows' indices are unsorted, sorting them in a copy) against one epoch of
training on it (identity hidden units, SGD, one thread), side by side.

With ``--svmlight-docs N`` it instead writes N documents to an svmlight
file (in blocks) and trains fastbp (identity hidden, SGD) one epoch over it
in a fresh process, reading it 16 MiB at a time (scikit-learn's
``load_svmlight_file`` by byte ranges) into ``fastbp.fit_stream``: examples
per second (reading included) and the process's peak RSS.
"""

import os

for _name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
from run import cpu_name  # noqa: E402
from scipy import sparse  # noqa: E402

import fastbp  # noqa: E402

VOCABULARY = 2**18
CLASSES = 10
HIDDEN = 64
REPEAT_SECONDS = 60
CLASS_WORDS = 100


def corpus(n, seed, length=60, p_class=0.12, confusion=0.3, zipf=1.1):
    """n documents as (tokens, lengths, labels): the tokens of all documents
    one after the other, each document's length, its class."""
    rng = np.random.default_rng(seed)
    planted = np.random.default_rng(12345).choice(  # the same in every split
        np.arange(1000, VOCABULARY), size=(CLASSES, CLASS_WORDS), replace=False
    )
    labels = rng.integers(CLASSES, size=n)
    lengths = np.maximum(5, rng.poisson(length, size=n))
    total = int(lengths.sum())
    background = np.empty(0, dtype=np.int64)
    while len(background) < total:  # Zipf ranks within the vocabulary
        ranks = rng.zipf(zipf, size=total)
        background = np.concatenate([background, ranks[ranks <= VOCABULARY] - 1])
    document = np.repeat(np.arange(n), lengths)
    word_class = labels[document]
    confused = rng.random(total) < confusion
    word_class[confused] = rng.integers(CLASSES, size=int(confused.sum()))
    planted_word = planted[word_class, rng.integers(CLASS_WORDS, size=total)]
    tokens = np.where(rng.random(total) < p_class, planted_word, background[:total])
    return tokens, lengths, labels


def counts(tokens, lengths):
    """The documents as a CSR matrix of word counts scaled to sum 1, float32."""
    n = len(lengths)
    X = sparse.csr_matrix(
        (np.ones(len(tokens), dtype=np.float32), (np.repeat(np.arange(n), lengths), tokens)),
        shape=(n, VOCABULARY),
    )
    X.sum_duplicates()
    X.data /= np.repeat(lengths, np.diff(X.indptr)).astype(np.float32)
    return X


def text_file(path, tokens, lengths, labels, line):
    """One document a line, as ``line(label, words)`` writes it."""
    ends = np.cumsum(lengths)
    with open(path, "w") as file:
        for start, end, label in zip(ends - lengths, ends, labels):
            file.write(line(label, " ".join(map(str, tokens[start:end]))) + "\n")


def fastbp_model(hidden, optimizer, lr, threads=1, parallel="copies"):
    def run(data, epochs):
        X, y, X_test, y_test = data["X"], data["y"], data["X_test"], data["y_test"]
        net = fastbp.Network(
            [VOCABULARY, HIDDEN, CLASSES],
            hidden=hidden,
            output="softmax",
            loss="cross_entropy",
            dtype="float32",
            seed=0,
        )
        Y = np.eye(CLASSES, dtype=np.float32)[y]
        start = time.perf_counter()
        net.fit(
            X,
            Y,
            epochs=epochs,
            lr=lr,
            optimizer=optimizer,
            seed=0,
            n_threads=threads,
            parallel=parallel,
        )
        seconds = time.perf_counter() - start
        return seconds, len(y) * epochs, float((net.predict(X_test).argmax(1) == y_test).mean())

    return run


def fasttext_model(data, epochs):
    import fasttext

    start = time.perf_counter()
    model = fasttext.train_supervised(
        data["fasttext_train"],
        dim=HIDDEN,
        epoch=epochs,
        lr=0.1,
        thread=1,
        minCount=1,
        bucket=0,
        wordNgrams=1,
        verbose=0,
    )
    seconds = time.perf_counter() - start
    predicted = model.predict(data["test_lines"])[0]
    accuracy = np.mean(
        [int(p[0][len("__label__") :]) == c for p, c in zip(predicted, data["y_test"])]
    )
    return seconds, len(data["y"]) * epochs, float(accuracy)


def vw_model(data, epochs):
    from vowpalwabbit import Workspace

    folder = data["folder"]
    cache, model, predictions = (
        os.path.join(folder, name) for name in ("vw.cache", "vw.model", "vw.predictions")
    )
    for path in (cache, model):
        if os.path.exists(path):
            os.remove(path)
    start = time.perf_counter()
    vw = Workspace(
        f"--oaa {CLASSES} --nn {HIDDEN} -b 18 --passes {epochs} -k --holdout_off "
        f"--cache_file {cache} -d {data['vw_train']} -f {model} --quiet"
    )
    vw.run_parser()
    vw.finish()
    seconds = time.perf_counter() - start
    vw = Workspace(f"-t -i {model} -d {data['vw_test']} -p {predictions} --quiet")
    vw.run_parser()
    vw.finish()
    predicted = np.loadtxt(predictions).astype(int) - 1
    return seconds, len(data["y"]) * epochs, float((predicted == data["y_test"]).mean())


def sklearn_model(batch_size, sample):
    def run(data, epochs):
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier

        X, y = data["X"][:sample], data["y"][:sample]
        model = MLPClassifier(
            (HIDDEN,),
            batch_size=batch_size,
            max_iter=epochs,
            tol=0.0,
            n_iter_no_change=epochs + 1,
            random_state=0,
        )
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y)
        seconds = time.perf_counter() - start
        return seconds, len(y) * epochs, float(model.score(data["X_test"], data["y_test"]))

    return run


def models(peers, threads, sample):
    rows = {}
    if "fastbp" in peers:
        for hidden in ("identity", "tanh"):
            rows[f"fastbp {hidden}, SGD lr 0.05"] = fastbp_model(hidden, "sgd", 0.05)
            rows[f"fastbp {hidden}, Adagrad lr 0.02"] = fastbp_model(hidden, "adagrad", 0.02)
    if "fasttext" in peers:
        rows["fastText supervised, dim 64"] = fasttext_model
    if "vw" in peers:
        rows["Vowpal Wabbit --oaa 10 --nn 64"] = vw_model
    if "sklearn" in peers:
        rows["scikit-learn MLPClassifier, Adam, batches of 200"] = sklearn_model(200, None)
        rows[f"scikit-learn MLPClassifier, Adam per example ({sample} docs)"] = sklearn_model(
            1, sample
        )
    if "fastbp" in peers and threads > 1:
        for parallel in ("copies", "hogwild"):
            rows[f"fastbp identity, SGD lr 0.05, {threads} threads {parallel}"] = fastbp_model(
                "identity", "sgd", 0.05, threads, parallel
            )
        for parallel in ("copies", "hogwild"):
            rows[f"fastbp identity, Adagrad lr 0.02, {threads} threads {parallel}"] = fastbp_model(
                "identity", "adagrad", 0.02, threads, parallel
            )
    return rows


EPOCH_OVER_FILE = r"""
import sys, time
import numpy as np
from sklearn.datasets import load_svmlight_file
import fastbp
path, size, chunk = sys.argv[1], int(sys.argv[2]), 16 << 20
net = fastbp.Network([2 ** 18, 64, 10], hidden="identity", output="softmax",
                     loss="cross_entropy", dtype="float32", seed=0)
eye = np.eye(10, dtype=np.float32)

def chunks():
    for offset in range(0, size, chunk):
        X, y = load_svmlight_file(path, n_features=2 ** 18, dtype=np.float32,
                                  zero_based=False, offset=offset, length=chunk)
        if X.shape[0]:
            yield X, eye[y.astype(int)]

start = time.perf_counter()
history = fastbp.fit_stream(net, chunks(), lr=0.05)
seconds = time.perf_counter() - start
# this process's peak RSS (ru_maxrss would count the parent's, forked before exec)
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
print(seconds, peak * 1024)
"""


def epoch_over_file(documents, folder):
    """Write ``documents`` to an svmlight file, then one epoch over it in a
    fresh process: (examples per second, peak RSS in bytes, file bytes)."""
    import subprocess
    import sys

    from sklearn.datasets import dump_svmlight_file

    path = os.path.join(folder, "documents.svm")
    block = 500_000
    with open(path, "wb") as file:
        for first in range(0, documents, block):
            n = min(block, documents - first)
            tokens, lengths, labels = corpus(n, 100 + first // block)
            dump_svmlight_file(counts(tokens, lengths), labels, file, zero_based=False)
    size = os.path.getsize(path)
    child = subprocess.run(
        [sys.executable, "-c", EPOCH_OVER_FILE, path, str(size)],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds, peak = child.stdout.split()
    return documents / float(seconds), int(peak), size


def checks(documents, repeats):
    """Seconds to check a CSR X of ``documents`` documents as fit does, and
    seconds of one epoch of training on the checked X (fastest of
    ``repeats``, alternating), and the bytes of the copied index arrays."""
    from fastbp import _validation

    tokens, lengths, labels = corpus(documents, 1)
    X, Y = counts(tokens, lengths), np.eye(CLASSES, dtype=np.float32)[labels]
    net = fastbp.Network(
        [VOCABULARY, HIDDEN, CLASSES],
        hidden="identity",
        output="softmax",
        loss="cross_entropy",
        dtype="float32",
        seed=0,
    )
    # the same rows with their entries in reverse (TfidfVectorizer's are unsorted)
    flipped = sparse.csr_matrix((X.data.copy(), X.indices.copy(), X.indptr), shape=X.shape)
    for a, b in zip(X.indptr[:-1], X.indptr[1:]):
        flipped.indices[a:b], flipped.data[a:b] = X.indices[a:b][::-1], X.data[a:b][::-1]
    check, unsorted, epoch = [], [], []
    for _ in range(repeats):
        for matrix, seconds in ((X, check), (flipped, unsorted)):
            start = time.perf_counter()
            rows = _validation.inputs(matrix, "X", np.float32, (2,), VOCABULARY)
            seconds.append(time.perf_counter() - start)
        start = time.perf_counter()
        net.fit(rows, Y, epochs=1, lr=0.5, seed=0)
        epoch.append(time.perf_counter() - start)
    return (min(check), min(unsorted), min(epoch), rows.indices.nbytes + rows.indptr.nbytes, X.nnz)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--train", type=int, default=100_000)
    parser.add_argument("--test", type=int, default=20_000)
    parser.add_argument("--peers", default="fastbp,fasttext,vw,sklearn")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs of each model (the fastest is reported)"
    )
    parser.add_argument(
        "--sklearn-sample",
        type=int,
        default=2000,
        help="documents for scikit-learn's per-example Adam",
    )
    parser.add_argument(
        "--svmlight-docs",
        type=int,
        default=0,
        help="instead: one epoch over an svmlight file of this many documents",
    )
    parser.add_argument(
        "--checks", action="store_true", help="instead: the cost of checking X against an epoch"
    )
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    if args.checks:
        check, unsorted, epoch, copied, nnz = checks(args.train, args.repeats)
        print(
            f"{args.train} documents, {nnz} entries: checking X {check * 1e3:.1f} ms "
            f"(copies of its index arrays: {copied / 2**20:.1f} MiB), one epoch "
            f"{epoch * 1e3:.0f} ms: checking is {check / epoch:.2%} of an epoch; with "
            f"every row's indices unsorted, checking and sorting {unsorted * 1e3:.1f} ms "
            f"({unsorted / epoch:.2%})"
        )
        return
    if args.svmlight_docs:
        with tempfile.TemporaryDirectory() as folder:
            rate, peak, size = epoch_over_file(args.svmlight_docs, folder)
        print(
            f"one epoch over {args.svmlight_docs} documents ({size / 2**30:.1f} GiB of "
            f"svmlight): {rate:.3g} examples/s, peak RSS {peak / 2**20:.0f} MiB"
        )
        return
    peers = set(args.peers.split(","))
    train, test = corpus(args.train, 1), corpus(args.test, 2)
    with tempfile.TemporaryDirectory() as folder:
        data = {
            "X": counts(*train[:2]),
            "y": train[2],
            "X_test": counts(*test[:2]),
            "y_test": test[2],
            "folder": folder,
        }
        data["fasttext_train"] = os.path.join(folder, "train.txt")
        text_file(data["fasttext_train"], *train, lambda c, words: f"__label__{c} {words}")
        ends = np.cumsum(test[1])
        data["test_lines"] = [
            " ".join(map(str, test[0][s:e])) for s, e in zip(ends - test[1], ends)
        ]
        data["vw_train"], data["vw_test"] = (
            os.path.join(folder, f"{name}.vw") for name in ("train", "test")
        )
        text_file(data["vw_train"], *train, lambda c, words: f"{c + 1} | {words}")
        text_file(data["vw_test"], *test, lambda c, words: f"{c + 1} | {words}")
        results = {}
        rows = models(peers, args.threads, args.sklearn_sample)
        for name, run in rows.items():
            # a threaded row's one-thread model runs again, in turns with it
            one_thread = rows.get(name.split(f", {args.threads} threads")[0])
            one_thread = one_thread if one_thread is not run else None
            runs, beside = [], []
            try:
                # the fastest of --repeats runs (this machine is shared), but
                # no more runs once they took REPEAT_SECONDS (the slow peers)
                while len(runs) < args.repeats and sum(r[0] for r in runs) < REPEAT_SECONDS:
                    if one_thread is not None:
                        beside.append(one_thread(data, args.epochs))
                    runs.append(run(data, args.epochs))
            except ImportError as error:
                print(f"skipped {name}: {error}")
                continue
            seconds, examples, _ = min(runs)
            accuracy = float(np.mean([r[2] for r in runs]))
            results[name] = {
                "seconds": seconds,
                "examples_per_second": examples / seconds,
                "test_accuracy": accuracy,
                "runs": len(runs),
            }
            if beside:
                results[name]["one_thread_in_turns"] = {
                    "seconds": min(r[0] for r in beside),
                    "test_accuracy": float(np.mean([r[2] for r in beside])),
                }
            print(
                f"{name}: {examples / seconds:.3g} examples/s, accuracy {accuracy:.4f}", flush=True
            )
    print(
        f"\n{args.train} training, {args.test} test documents, {args.epochs} epochs, {cpu_name()}"
    )
    print("| model | examples/s | test accuracy |")
    print("|---|---:|---:|")
    for name, row in results.items():
        print(f"| {name} | {row['examples_per_second']:.3g} | {row['test_accuracy']:.4f} |")
    print(
        f"\n{args.threads} threads against one, run in turns with it (the fastest runs' "
        "examples/s):"
    )
    for name, row in results.items():
        one = row.get("one_thread_in_turns")
        if one is not None:
            print(
                f"- {name}: {one['seconds'] / row['seconds']:.2f}x, "
                f"accuracy {row['test_accuracy'] - one['test_accuracy']:+.4f}"
            )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(
                {
                    "benchmark": "bench_sparse",
                    "epochs": args.epochs,
                    "train": args.train,
                    "test": args.test,
                    "cpu": cpu_name(),
                    "python": platform.python_version(),
                    "fastbp": fastbp.__version__,
                    "results": results,
                },
                handle,
                indent=2,
            )


if __name__ == "__main__":
    main()
