"""One example at a time: what a call costs, and what online learners reach.

    python benchmarks/bench_online.py [--calls 20000] [--repeats 5]
        [--peers all] [--json FILE] [--skip-accuracy]

Part 1, microseconds per call, on a [9, 16, 1] float64 network (tanh
hidden, identity output, squared error; Phishing's 9 features), all timed
in this one run, each call repeated ``--calls`` times, the fastest of
``--repeats`` rounds (the rounds interleave the calls, so that a busy
moment of the machine is shared):

- one numpy ``x @ W`` of the first layer's (9, 16) weights: the yardstick;
- ``Network.sgd_step(x, y, lr)``, plain, and with momentum and with Adam;
- ``Network.predict(x)`` of one 1-D example;
- ``Network.partial_fit`` on blocks of 1 and of 10 rows (per call);
- ``fastbp.river.MLPClassifier.learn_one`` and ``predict_proba_one`` on a
  dict of 9 features (binary);
- one optimizer step of the same network in torch (``torch==2.13.0``:
  forward, backward, ``optimizer.step()``, on tensors made beforehand);
- scikit-learn's ``MLPClassifier.partial_fit`` on one row (16 hidden units,
  SGD);
- river's ``LogisticRegression`` learn_one + predict_proba_one;
- deep-river's ``Classifier`` learn_one, where ``deep-river`` installs
  (deep-river 0.3.4 needs river < 0.26 and torch < 2.6: run this script
  again in a virtual environment of its own to time it).

The two ratios of the acceptance (sgd_step at most 5x the numpy product,
predict at most 3x) are printed under the table.

Part 2, progressive validation (``river.evaluate.progressive_val_score``,
accuracy) on river's bundled Phishing, Bananas, ImageSegments and Shuttle,
each stream standardised beforehand (a scaler fitted on the whole stream):
fastbp.river's MLPClassifier at its defaults and river's LogisticRegression
(one-vs-rest for the multiclass sets); and microseconds per example of the
models alone (a fresh copy's predict_one and learn_one over the stream).
"""

import argparse
import json
import platform
import time

import numpy as np

import fastbp

LAYERS = [9, 16, 1]


def _timed(function, calls):
    """Seconds per call of ``function()`` over ``calls`` calls."""
    start = time.perf_counter()
    for _ in range(calls):
        function()
    return (time.perf_counter() - start) / calls


def _fastbp_calls(rng):
    """The callables of fastbp's per-call costs, and the yardstick."""
    x = rng.standard_normal(LAYERS[0])
    y = float(rng.standard_normal())
    X10, Y10 = rng.standard_normal((10, LAYERS[0])), rng.standard_normal((10, 1))
    plain, momentum, adam = (fastbp.Network(LAYERS, seed=s) for s in range(3))
    predicting, blocks = fastbp.Network(LAYERS), fastbp.Network(LAYERS)
    W1 = plain.weights[0][1:]
    return {
        "numpy x @ W(1)": lambda: x @ W1,
        "sgd_step": lambda: plain.sgd_step(x, y, 1e-6),
        "sgd_step, momentum 0.9": lambda: momentum.sgd_step(x, y, 1e-6, momentum=0.9),
        "sgd_step, adam": lambda: adam.sgd_step(x, y, 1e-6, optimizer="adam"),
        "predict, one example": lambda: predicting.predict(x),
        "partial_fit, 1 row": lambda: blocks.partial_fit(X10[:1], Y10[:1], lr=1e-6),
        "partial_fit, 10 rows (per call)": lambda: blocks.partial_fit(X10, Y10, lr=1e-6),
    }


def _river_calls(rng):
    """fastbp.river's learn_one and predict_proba_one, river's LogisticRegression."""
    try:
        from river import linear_model

        import fastbp.river as fastbp_river
    except ImportError as error:
        return {}, f"river: {error}"
    names = [f"f{i}" for i in range(LAYERS[0])]
    x = dict(zip(names, rng.standard_normal(LAYERS[0]).tolist()))
    ours, theirs = fastbp_river.MLPClassifier(), linear_model.LogisticRegression()
    ours.learn_one(x, True)
    ours.learn_one(x, False)

    def river_lr():
        theirs.predict_proba_one(x)
        theirs.learn_one(x, True)

    return {
        "fastbp.river learn_one": lambda: ours.learn_one(x, True),
        "fastbp.river predict_proba_one": lambda: ours.predict_proba_one(x),
        "river LogisticRegression predict + learn": river_lr,
    }, None


def _torch_calls(rng):
    try:
        import torch
    except ImportError as error:
        return {}, f"torch: {error}"
    torch.set_num_threads(1)
    model = torch.nn.Sequential(
        torch.nn.Linear(LAYERS[0], LAYERS[1]),
        torch.nn.Tanh(),
        torch.nn.Linear(LAYERS[1], LAYERS[2]),
    ).double()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-6)
    x = torch.tensor(rng.standard_normal((1, LAYERS[0])))
    y = torch.tensor(rng.standard_normal((1, 1)))

    def step():
        optimizer.zero_grad()
        loss = 0.5 * ((model(x) - y) ** 2).sum()
        loss.backward()
        optimizer.step()

    return {"torch SGD step": step}, None


def _sklearn_calls(rng):
    try:
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier
    except ImportError as error:
        return {}, f"scikit-learn: {error}"
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    model = MLPClassifier((LAYERS[1],), solver="sgd", learning_rate_init=1e-3)
    x, y = rng.standard_normal((1, LAYERS[0])), np.array([1])
    model.partial_fit(x, y, classes=[0, 1])
    return {"scikit-learn MLPClassifier.partial_fit, 1 row": lambda: model.partial_fit(x, y)}, None


def _deep_river_calls(rng):
    try:
        import torch
        from deep_river.classification import Classifier
    except ImportError as error:
        return {}, f"deep-river: {error}"

    class Module(torch.nn.Module):
        def __init__(self, n_features=LAYERS[0]):
            super().__init__()
            self.hidden = torch.nn.Linear(n_features, LAYERS[1])
            self.out = torch.nn.Linear(LAYERS[1], 2)

        def forward(self, x):
            return self.out(torch.tanh(self.hidden(x)))  # logits

    names = [f"f{i}" for i in range(LAYERS[0])]
    x = dict(zip(names, rng.standard_normal(LAYERS[0]).tolist()))
    try:
        model = Classifier(module=Module(), loss_fn="cross_entropy", optimizer_fn="sgd", lr=1e-3)
    except TypeError as error:
        return {}, f"deep-river: {error}"
    model.learn_one(x, True)
    model.learn_one(x, False)
    return {"deep-river Classifier learn_one": lambda: model.learn_one(x, True)}, None


def per_call(calls, repeats, peers):
    """{name: microseconds per call}, notes on peers left out."""
    rng = np.random.default_rng(0)
    timed = _fastbp_calls(rng)
    notes = []
    makers = [_river_calls, _torch_calls, _sklearn_calls, _deep_river_calls]
    for maker in makers if peers else []:
        more, note = maker(rng)
        timed.update(more)
        if note:
            notes.append(note)
    best = {name: float("inf") for name in timed}
    for _ in range(repeats):
        for name, function in timed.items():
            n = calls if "partial_fit" not in name and "deep-river" not in name else calls // 10
            function()  # warm
            best[name] = min(best[name], _timed(function, max(n, 100)))
    return {name: 1e6 * seconds for name, seconds in best.items()}, notes


# ------------------------------------------------------------ progressive validation

DATASETS = ("Phishing", "Bananas", "ImageSegments", "Shuttle")


def _standardised(dataset):
    """The stream as a list, each feature scaled to mean 0 and variance 1 over it."""
    rows = list(dataset)
    names = sorted({name for x, _ in rows for name in x})
    values = np.array([[float(x.get(name, 0.0)) for name in names] for x, _ in rows])
    mean, scale = values.mean(axis=0), values.std(axis=0)
    scale[scale == 0] = 1.0
    values = (values - mean) / scale
    return [(dict(zip(names, row.tolist())), y) for row, (_, y) in zip(values, rows)]


def _models(binary):
    """fastbp.river's MLPClassifier at its defaults and river's LogisticRegression."""
    from river import linear_model, multiclass

    import fastbp.river as fastbp_river

    linear = linear_model.LogisticRegression()
    return {
        "fastbp.river MLPClassifier": fastbp_river.MLPClassifier(),
        "river LogisticRegression" + ("" if binary else " (one-vs-rest)"): linear
        if binary
        else multiclass.OneVsRestClassifier(linear),
    }


def _seconds_per_example(model, stream):
    """The model alone on the stream: predict_one then learn_one of each example."""
    start = time.perf_counter()
    for x, y in stream:
        model.predict_one(x)
        model.learn_one(x, y)
    return (time.perf_counter() - start) / len(stream)


def progressive(datasets):
    """{dataset: {model: (accuracy, microseconds per example)}}: the
    accuracy of progressive_val_score, the time of the models alone (a
    fresh clone, predict_one and learn_one of each example)."""
    from river import datasets as river_datasets
    from river import evaluate, metrics

    results = {}
    for name in datasets:
        stream = _standardised(getattr(river_datasets, name)())
        models = _models(len({y for _, y in stream}) == 2)
        results[name] = {}
        for label, model in models.items():
            fresh = model.clone()
            metric = evaluate.progressive_val_score(stream, model, metrics.Accuracy())
            results[name][label] = (metric.get(), 1e6 * _seconds_per_example(fresh, stream))
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-peers", action="store_true", help="fastbp's own calls only")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args(argv)

    print(
        f"# {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
        f"fastbp {fastbp.__version__} ({fastbp.BACKEND})"
    )
    costs, notes = per_call(args.calls, args.repeats, not args.no_peers)
    yardstick = costs["numpy x @ W(1)"]
    print(f"\n## Microseconds per call, [9, 16, 1] float64 (fastest of {args.repeats})\n")
    print("| call | us per call | x numpy's x @ W(1) |")
    print("|---|---:|---:|")
    for name, us in costs.items():
        print(f"| {name} | {us:.2f} | {us / yardstick:.1f} |")
    for note in notes:
        print(f"\n(left out: {note})")
    print(f"\nsgd_step / numpy x @ W(1): {costs['sgd_step'] / yardstick:.2f} (at most 5)")
    print(f"predict / numpy x @ W(1): {costs['predict, one example'] / yardstick:.2f} (at most 3)")
    results = {"per_call_us": costs, "notes": notes}
    if not args.skip_accuracy:
        accuracy = progressive(DATASETS)
        results["progressive"] = accuracy
        print("\n## Progressive validation (streams standardised beforehand)\n")
        print("| dataset | model | accuracy | us per example (predict + learn) |")
        print("|---|---|---:|---:|")
        for name, models in accuracy.items():
            for label, (value, us) in models.items():
                print(f"| {name} | {label} | {value:.2%} | {us:.1f} |")
            ours, theirs = models.values()
            print(
                f"| {name} | LogisticRegression / MLPClassifier time | | "
                f"{theirs[1] / ours[1]:.1f}x |"
            )
    if args.json:
        with open(args.json, "w") as file:
            json.dump(results, file, indent=2)


if __name__ == "__main__":
    main()
