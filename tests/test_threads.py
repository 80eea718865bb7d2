"""Training on several threads: the serial default, copies and Hogwild!,
round sizes, thread counts, and builds or processes that cannot thread."""

import contextlib
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from conftest import backend_spec, data, record_train_pass, relative_error, run_python
from numpy.testing import assert_allclose

import fastbp

compiled = pytest.mark.compiled
THREADED = [
    pytest.param("copies", marks=compiled, id="copies"),
    pytest.param("hogwild", marks=compiled, id="hogwild"),
]


def teacher_problem(n=20000, seed=0):
    """A classification with label noise: y = 1 where x . a + sin(2 x_0)
    plus N(0, 0.25) noise is > 0, for x ~ N(0, 1) in 10 dimensions."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 10))
    score = X @ rng.normal(size=10) + np.sin(2 * X[:, 0]) + 0.5 * rng.normal(size=n)
    return X, (score > 0).astype(float)[:, None]


def classifier():
    return fastbp.Network([10, 32, 1], output="sigmoid", loss="cross_entropy", seed=0)


@pytest.mark.compiled
def test_the_compiled_core_is_built_with_openmp():
    """CI builds with gcc, which has OpenMP: the parallel pass is there."""
    from fastbp import _core

    assert _core.PARALLEL


@compiled
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_the_default_is_the_serial_pass_bit_for_bit(momentum):
    X, Y = data([5, 7, 3], 300)
    net, one_by_one = fastbp.Network([5, 7, 3], seed=1), fastbp.Network([5, 7, 3], seed=1)
    net.fit(X, Y, epochs=1, lr=0.05, momentum=momentum, shuffle=False)
    for r in range(len(X)):
        one_by_one.partial_fit(X[r : r + 1], Y[r : r + 1], lr=0.05, momentum=momentum)
    assert np.array_equal(net.flat, one_by_one.flat)


@pytest.mark.parametrize("parallel", THREADED)
@pytest.mark.parametrize(
    "options, within",
    [
        ({}, 0.02),
        ({"momentum": 0.5}, 0.05),
        ({"batch_size": 4, "lr": 0.04}, 0.05),
        ({"lr_schedule": "invscaling"}, 0.02),
        ({"lr": 0.001}, 0.02),
    ],
)
def test_two_threads_learn_as_well_as_one(parallel, options, within):
    """Accuracy parity (as LightFM tests its Hogwild): after 3 epochs on two
    threads the training loss is at most 2% above one thread's (5% with
    momentum or mini-batches: a round then holds fewer, larger updates that
    reach the other thread late), and the accuracy within one point."""
    X, Y = teacher_problem()
    results = {}
    for threads in (1, 2):
        net = classifier()
        history = net.fit(
            X, Y, epochs=3, n_threads=threads, parallel=parallel, **{"lr": 0.01, **options}
        )
        results[threads] = history.loss[-1], ((net.predict(X) > 0.5) == Y).mean()
    (loss_1, accuracy_1), (loss_2, accuracy_2) = results[1], results[2]
    if parallel == "hogwild":
        # unlocked updates make the result depend on how the threads are
        # timed, which other work on the machine changes
        within = max(within, 0.10)
    assert accuracy_1 > 0.93  # the problem is learnt
    assert loss_2 <= (1 + within) * loss_1  # the stale updates cost at most this
    assert accuracy_2 == pytest.approx(accuracy_1, abs=0.01)


@pytest.mark.parametrize("parallel", THREADED)
def test_two_threads_train_every_example_and_differ_from_one(parallel):
    X, Y = teacher_problem(4000)
    serial, threaded = classifier(), classifier()
    one = serial.fit(X, Y, epochs=1, lr=0.01, shuffle=False)
    two = threaded.fit(X, Y, epochs=1, lr=0.01, shuffle=False, n_threads=2, parallel=parallel)
    assert not np.array_equal(serial.flat, threaded.flat)  # the threads did run
    assert np.isfinite(threaded.flat).all()
    assert two.loss[0] == pytest.approx(one.loss[0], rel=0.1)  # every example's error counted


@pytest.mark.parametrize("parallel", THREADED)
@pytest.mark.parametrize("batch_size", [1, 3])
def test_two_threads_add_up_every_examples_error(parallel, batch_size):
    """With an lr so small that no weight moves, the epoch's loss on two
    threads is the mean error of the untrained network over all examples:
    each thread's errors counted once, none lost."""
    X, Y = teacher_problem(5000)
    net = classifier()
    expected = net.loss(X, Y)
    history = net.fit(
        X, Y, epochs=2, lr=1e-200, n_threads=2, parallel=parallel, batch_size=batch_size
    )
    assert history.loss == pytest.approx([expected, expected], rel=1e-12)


def epoch_steps(momentum):
    """How far one epoch at an lr so small that the gradients stay those of
    the starting weights moves them, on one thread and on two (copies)."""
    X, Y = teacher_problem(5000)
    steps = []
    for threads in (1, 2):
        net = classifier()
        start = net.flat.copy()
        net.fit(X, Y, epochs=1, lr=1e-9, momentum=momentum, n_threads=threads)
        steps.append(net.flat - start)
    return steps


@compiled
def test_copies_add_every_examples_update_to_the_shared_weights():
    """The step is the sum of every example's update, however the threads
    shared them, to rounding: thread 0 is the only one to write the shared
    weights, so no update is lost (were the other thread's changes lost,
    the step would be about half)."""
    serial, threaded = epoch_steps(0.0)
    assert np.abs(serial).max() > 0
    assert_allclose(threaded, serial, rtol=1e-4, atol=1e-6 * np.abs(serial).max())


@compiled
def test_copies_with_momentum_add_every_examples_update_nearly():
    """With momentum, the velocity a copy takes goes on moving the shared
    weights too: a few examples' worth more per round, under 1% of the
    epoch's step here."""
    serial, threaded = epoch_steps(0.5)
    assert np.linalg.norm(threaded - serial) <= 0.02 * np.linalg.norm(serial)


@compiled
def test_divergence_on_two_threads_restores_the_weights():
    X, Y = data([3, 8, 1], 2000)
    net = fastbp.Network([3, 8, 1], seed=0)
    before = net.flat.copy()
    with pytest.raises(fastbp.DivergenceError, match="epoch 1"):
        net.fit(X * 1e3, Y * 1e3, epochs=2, lr=10.0, n_threads=2)
    assert np.array_equal(net.flat, before)


def test_thread_options_are_checked(backend):
    X, Y = data([2, 3, 1], 10)
    net = fastbp.Network([2, 3, 1], backend=backend)
    with pytest.raises(ValueError, match="n_threads"):
        net.fit(X, Y, n_threads=0)
    with pytest.raises(TypeError, match="n_threads"):
        net.fit(X, Y, n_threads=2.0)
    with pytest.raises(ValueError, match="parallel"):
        net.partial_fit(X, Y, n_threads=2, parallel="locks")
    with pytest.raises(ValueError, match="average needs n_threads=1"):
        net.fit(X, Y, average=True, n_threads=2)


def test_the_reference_backend_warns_that_it_runs_hogwild_serially():
    X, Y = data([2, 3, 1], 10)
    net = fastbp.Network([2, 3, 1], backend="reference")
    for train in (
        lambda: net.fit(X, Y, epochs=1, n_threads=2, parallel="hogwild"),
        lambda: fastbp.fit_stream(net, [(X, Y)], n_threads=2, parallel="hogwild"),
    ):
        with pytest.warns(RuntimeWarning, match="reference backend runs serially") as caught:
            train()
        assert caught[0].filename == __file__  # it points at the caller
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net.fit(X, Y, epochs=1)  # the default: quietly one thread
        net.fit(X, Y, epochs=1, n_threads=2)  # the copies' schedule, computed


@compiled
def test_a_fork_after_parallel_training_does_not_hang():
    """GNU OpenMP hangs a child forked after a parallel region if the child
    starts one: fastbp trains serially in such a child, and warns where
    threads were asked for."""
    script = textwrap.dedent("""
        import multiprocessing, warnings
        import numpy as np
        import fastbp

        X = np.random.default_rng(0).normal(size=(4000, 20))
        Y = X[:, :1] * 0.5

        def train(n_threads, parallel="copies"):
            net = fastbp.Network([20, 512, 1], seed=0)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                net.fit(X, Y, epochs=2, lr=0.001, n_threads=n_threads, parallel=parallel)
            return net.flat.tobytes(), [str(w.message) for w in caught]

        if __name__ == "__main__":
            parent = train(2)[0]
            print("parent", np.isfinite(np.frombuffer(parent)).all())
            with multiprocessing.get_context("fork").Pool(2) as pool:
                for flat, caught in pool.starmap(train, [(-1,), (2,), (2, "hogwild")]):
                    print("child", flat == parent, caught)
    """)
    result = run_python("-c", script, OMP_NUM_THREADS="2")  # run_python times out at 300 s
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "parent True"
    # the copies' schedule on one thread: the same weights, quietly
    assert lines[1] == "child True []"
    assert lines[2] == "child True []"
    assert lines[3].startswith("child False") and "forked after a parallel pass" in lines[3]


@compiled
def test_a_build_without_openmp_warns_and_trains_serially(monkeypatch):
    """What a build without OpenMP (FASTBP_OPENMP=0, or a compiler without
    it) does: its PARALLEL is False."""
    from fastbp import _backend

    monkeypatch.setattr(_backend.compiled, "PARALLEL", False)  # the copy that runs
    X, Y = data([3, 4, 1], 50)
    net, serial = fastbp.Network([3, 4, 1]), fastbp.Network([3, 4, 1])
    with pytest.warns(RuntimeWarning, match="built without OpenMP"):
        net.fit(X, Y, epochs=1, n_threads=2, parallel="hogwild")
    serial.fit(X, Y, epochs=1)
    assert np.array_equal(net.flat, serial.flat)
    X, Y = data([16, 1], 2000)
    nets = [fastbp.Network([16, 1024, 1], seed=0) for _ in range(2)]  # shards for threads
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the copies: the same result, quietly
        nets[0].fit(X, Y, epochs=1, lr=0.001, n_threads=2)
    monkeypatch.setattr(_backend.compiled, "PARALLEL", True)
    nets[1].fit(X, Y, epochs=1, lr=0.001, n_threads=2)
    assert np.array_equal(nets[0].flat, nets[1].flat)


@compiled
def test_the_core_takes_its_own_workspace_for_the_copies_when_not_given_one():
    from fastbp import _core, _options

    X, Y = teacher_problem(3000)
    net = classifier()
    order = np.arange(len(X), dtype=np.intp)
    expected = net.loss(X, Y) * len(X)
    options = fastbp.training.Options(1e-200, n_threads=2)
    plan = _options.Plan(threads=2, round=64, bounds=(0, 16, 32, 48, 64))
    for workspace in (None, np.empty(3, dtype=np.float64)):  # none, or too small
        flat = net.flat.copy()
        total, done = _core.train_pass(
            flat,
            *backend_spec(net),
            X,
            Y,
            sample_weight=None,
            order=order,
            options=options,
            plan=plan,
            t_done=0,
            velocity=None,
            average=None,
            moments=None,
            workspace=workspace,
        )
        assert done == len(X) and total == pytest.approx(expected, rel=1e-12)


def test_chunks_hold_whole_rounds():
    """A chunk is whole rounds: of the copies, at least one; of Hogwild!, at
    least ROUNDS_PER_PASS for every thread (no core idles long at a chunk's
    end); serially, whole mini-batches."""
    from fastbp._options import Plan
    from fastbp._parallel import ROUNDS_PER_PASS, chunk_rows

    copies = Plan(threads=2, round=260, bounds=(0, 65, 130, 195, 260))
    assert chunk_rows(64, 5, copies) == 260  # one round of 4 shards of 13 batches of 5
    assert chunk_rows(5000, 5, copies) == 20 * 260  # 5000 / 260 rounded up
    hogwild = Plan(threads=2, round=65, mode="hogwild", sparse=True)
    assert chunk_rows(100, 5, hogwild) == ROUNDS_PER_PASS * 130
    assert chunk_rows(5000, 5, hogwild) == 39 * 130
    assert chunk_rows(101, 5, Plan()) == 105


@pytest.mark.parametrize("bounds", [(32,), (0, 16), (0, 16, 16, 32), (4, 16, 32), (0, 20, 16, 32)])
def test_a_plan_of_copies_needs_rising_bounds(bounds):
    """The core reads a round's shards where the bounds say, unchecked: a
    Plan whose bounds do not rise from 0 to its round is refused."""
    from fastbp._options import Plan

    with pytest.raises(ValueError, match="must rise from 0 to its round"):
        Plan(threads=2, round=32, bounds=bounds)
    assert Plan(threads=2, round=32, bounds=(0, 20, 32)).shards == 2
    assert Plan(threads=2, round=32).shards == 0


LONG = (0, 10, 20, 28, 34, 38, 40)  # the ends of SHARD_SHARES, 10:10:8:6:4:2


@pytest.mark.parametrize(
    "options, rows, expected",
    [
        ({"lr": 0.01}, 20_000, (0, 16, 32, 48, 64)),  # 0.64 / 0.01 = 64: 4 of 16
        ({"lr": 0.02}, 20_000, (0, 16, 32)),  # 32: 2 shards of MIN_SHARD
        ({"lr": 0.05}, 20_000, ()),  # 12.8: too few for 2, serial
        ({"lr": 0.001}, 20_000, tuple(16 * end for end in LONG)),  # 640 in shares
        ({"lr": 0.001, "momentum": 0.9}, 20_000, (0, 16, 32, 48, 64)),  # 10 times as far
        ({"lr": 0.004, "batch_size": 4}, 20_000, tuple(16 * end for end in LONG)),
        ({"lr": 0.001, "batch_size": 3}, 20_000, tuple(48 * end for end in LONG)),
        ({"lr": 0.0001}, 20_000, (0, 625, 1250, 1750, 2125, 2375, 2500)),  # 1/8 of the pass
        ({"lr": 0.0001}, 4_000, (0, 125, 250, 350, 425, 475, 500)),
        ({"lr": 0.0001, "batch_size": 7}, 4_000, (0, 119, 245, 343, 420, 469, 497)),
        ({"lr": 0.001, "lr_schedule": "invscaling"}, 20_000, tuple(16 * end for end in LONG)),
    ],
)
def test_rounds_are_as_long_as_the_step_allows(options, rows, expected, monkeypatch, backend):
    """parallel="copies": a round holds ROUND_DISTANCE / (lr / batch_size /
    (1 - momentum)) examples, at most 1 / ROUNDS_PER_PASS of the pass, in
    shards of whole mini-batches: SHARD_SHARES of it where the smallest
    holds MIN_SHARD, else SHARDS equal ones of at least MIN_SHARD (fewer
    where they do not fit, none where 2 do not); the same on either
    backend, one plan a pass."""
    X, Y = data([4, 3, 2], rows)
    net = fastbp.Network([4, 3, 2], seed=0, backend=backend)
    calls = record_train_pass(net, monkeypatch)
    net.partial_fit(X, Y, n_threads=2, **options)
    assert {call["bounds"] for call in calls} == {expected}
    assert {call["round"] for call in calls} == {expected[-1] if expected else 0}


@compiled
def test_shards_too_small_to_pay_for_a_thread_run_on_one(monkeypatch):
    """A pass of copies whose shards are too little work for a thread
    (16 examples of a [4, 3, 2] network) keeps its schedule and runs it on
    one thread; a network large enough runs it on two (the test below)."""
    X, Y = data([4, 3, 2], 20_000)
    net = fastbp.Network([4, 3, 2], seed=0)
    calls = record_train_pass(net, monkeypatch)
    net.partial_fit(X, Y, n_threads=2, lr=0.01)
    assert {(call["shards"], call["threads"]) for call in calls} == {(4, 1)}


def test_the_default_reproduces_bit_for_bit(backend):
    """fit's defaults train serially: two runs with one seed are equal bit
    for bit, whatever OMP_NUM_THREADS says."""
    X, Y = data([8, 3], 300)
    runs = []
    for _ in range(2):
        net = fastbp.Network([8, 16, 12, 3], backend=backend, seed=0)
        net.fit(X, Y, epochs=1, shuffle=False)
        runs.append(net.flat.copy())
    assert np.array_equal(runs[0], runs[1])


@pytest.mark.compiled
def test_the_default_equals_the_reference():
    X, Y = data([8, 3], 300)
    trained = []
    for backend in ("compiled", "reference"):
        net = fastbp.Network([8, 16, 12, 3], backend=backend, seed=0)
        net.fit(X, Y, epochs=1, shuffle=False)
        trained.append(net.flat)
    assert relative_error(*trained) < 1e-12


@pytest.mark.compiled
def test_n_threads_minus_one_has_one_meaning():
    """n_threads=-1 is one thread per usable CPU, at most OpenMP's limit
    (OMP_NUM_THREADS): for a training pass and for L-BFGS's gradient
    threads alike (every_cpu)."""
    code = (
        "from fastbp import _core, _parallel; "
        "print(_parallel.threads(_core, -1), _parallel.every_cpu(_core))"
    )
    for count in ("1", "2"):
        result = run_python("-c", code, OMP_NUM_THREADS=count)
        assert result.stdout.split() == [count, count], result.stderr


@pytest.mark.parametrize(
    "n_threads, error",
    [
        (2**31, ValueError),
        (2000, ValueError),
        (0, ValueError),
        (-2, ValueError),
        (None, TypeError),
        (2.0, TypeError),
        (True, TypeError),
    ],
)
def test_absurd_thread_counts_are_refused(n_threads, error):
    X, Y = data([3, 1], 20)
    net = fastbp.Network([3, 4, 1])
    with pytest.raises(error, match="n_threads"):
        net.fit(X, Y, epochs=1, n_threads=n_threads)
    with pytest.raises(error, match="n_threads"):
        net.partial_fit(X, Y, n_threads=n_threads)


@pytest.mark.compiled
def test_more_threads_than_usable_cpus_train_on_as_many_threads_as_cpus():
    # two threads on one CPU waited for each other's turns at every exchange
    # (benchmarks/bench_threads.py --busy measures it); hogwild warns, and
    # the copies' result does not depend on the threads (see below)
    code = """
import os, warnings
import numpy as np, fastbp
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
rng = np.random.default_rng(0)
X, Y = rng.normal(size=(500, 4)), rng.normal(size=(500, 1))
nets = [fastbp.Network([4, 8, 1], seed=0) for _ in range(2)]
nets[0].fit(X, Y, epochs=2, lr=0.01, seed=1)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    nets[1].fit(X, Y, epochs=2, lr=0.01, seed=1, n_threads=2, parallel="hogwild")
print(np.array_equal(nets[0].flat, nets[1].flat))
print([str(w.message) for w in caught])
"""
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr
    same, caught = result.stdout.splitlines()
    assert same == "True"
    assert "n_threads=2 trains on 1 thread(s): this process may run on 1 CPU(s) only" in caught


THREADED_RULES = [
    {"lr": 0.001},
    {"lr": 0.0001, "momentum": 0.9},
    {"lr": 0.0001, "momentum": 0.9, "nesterov": True},
    {"lr": 0.001, "weight_decay": 1e-3},
    {"lr": 0.0005, "momentum": 0.5, "weight_decay": 1e-3},
    {"lr": 0.001, "clip": 0.2},
    {"lr": 0.001, "lr_schedule": "invscaling"},
    {"lr": 0.001, "lr_schedule": "optimal", "weight_decay": 1e-3},
    {"lr": 0.004, "batch_size": 4},
]


@compiled
@pytest.mark.parametrize("dtype, tolerance", [("float64", 1e-12), ("float32", 1e-5)])
@pytest.mark.parametrize("options", THREADED_RULES, ids=lambda o: "-".join(map(str, o.values())))
@pytest.mark.usefixtures("cpus_free")
def test_copies_give_the_same_weights_on_any_threads_and_equal_the_reference(
    options, dtype, tolerance
):
    """The copies' schedule depends on positions in the data alone: 2, 3 and
    4 threads give the same weights bit for bit, and the reference backend,
    which trains the shards one after another, gives them too (on a network
    large enough that the compiled core runs the shards on threads)."""
    X, Y = data([64, 4], 4000, seed=2)
    X, Y = X.astype(dtype), Y.astype(dtype)
    trained = {}
    for backend, threads in (("compiled", 2), ("compiled", 3), ("compiled", 4), ("reference", 2)):
        net = fastbp.Network([64, 128, 4], dtype=dtype, seed=0, backend=backend)
        with pytest.MonkeyPatch.context() as patch:
            calls = record_train_pass(net, patch)
            net.fit(X, Y, epochs=1, seed=1, n_threads=threads, **options)
        trained[backend, threads] = net.flat
        if backend == "compiled" and threads == 2:  # the first chunk ran on threads
            assert calls[0]["threads"] == 2
    serial = {}
    for backend in ("compiled", "reference"):
        net = fastbp.Network([64, 128, 4], dtype=dtype, seed=0, backend=backend)
        net.fit(X, Y, epochs=1, seed=1, **options)
        serial[backend] = net.flat
    two = trained["compiled", 2]
    assert not np.array_equal(two, serial["compiled"])  # the copies did train
    assert np.array_equal(trained["compiled", 3], two)
    assert np.array_equal(trained["compiled", 4], two)
    # where the serial passes already differ more (float32, weight decay)
    tolerance = max(tolerance, 2 * relative_error(serial["reference"], serial["compiled"]))
    assert relative_error(trained["reference", 2], two) < tolerance


SPARSE_RULES = [
    {"lr": 0.05},
    {"lr": 0.05, "clip": 0.3},
    {"lr": 0.1, "lr_schedule": "invscaling"},
    {"lr": 0.02, "optimizer": "adagrad"},
]


def sparse_data(n=3000, inputs=2000, seed=0):
    """CSR rows with entries in about 1% of the inputs, Zipf-like: a few
    inputs in many rows (several shards share their rows), most in few."""
    from scipy import sparse

    rng = np.random.default_rng(seed)
    per_row = 20
    columns = np.minimum(rng.zipf(1.3, size=(n, per_row)) - 1, inputs - 1)
    X = sparse.csr_matrix(
        (rng.random(n * per_row), columns.ravel(), np.arange(0, n * per_row + 1, per_row)),
        shape=(n, inputs),
    )
    X.sum_duplicates()
    return X, (rng.random((n, 1)) > 0.5).astype(float)


@compiled
@pytest.mark.parametrize("dtype, tolerance", [("float64", 1e-12), ("float32", 1e-5)])
@pytest.mark.parametrize("options", SPARSE_RULES, ids=lambda o: "-".join(map(str, o.values())))
@pytest.mark.usefixtures("cpus_free")
def test_sparse_copies_give_the_same_weights_on_any_threads_and_equal_the_reference(
    options, dtype, tolerance
):
    """The same on CSR rows: a row of W^(1) that one shard of a round
    touches trained in place, the others on the shards' copies."""
    pytest.importorskip("scipy")
    X, Y = sparse_data()
    X, Y = X.astype(dtype), Y.astype(dtype)
    trained = {}
    for backend, threads in (
        ("compiled", 2),
        ("compiled", 3),
        ("compiled", 4),
        ("reference", 2),
        ("compiled", 1),
    ):
        net = fastbp.Network(
            [2000, 32, 1],
            output="sigmoid",
            loss="cross_entropy",
            dtype=dtype,
            seed=0,
            backend=backend,
        )
        with pytest.MonkeyPatch.context() as patch:
            calls = record_train_pass(net, patch)
            net.fit(X, Y, epochs=2, seed=1, n_threads=threads, **options)
        trained[backend, threads] = net.flat
        if backend == "compiled" and threads == 2:  # the first chunk ran on threads
            assert calls[0]["threads"] == 2
    two = trained["compiled", 2]
    assert not np.array_equal(two, trained["compiled", 1])  # the copies did train
    assert np.array_equal(trained["compiled", 3], two)
    assert np.array_equal(trained["compiled", 4], two)
    assert relative_error(trained["reference", 2], two) < tolerance


DETERMINISM = """
import hashlib, sys
import numpy as np, fastbp
rng = np.random.default_rng(0)
X, Y = rng.normal(size=(4000, 64)), rng.normal(size=(4000, 4))
flats = []
for dtype in ("float64", "float32"):
    net = fastbp.Network([64, 128, 4], dtype=dtype, seed=0)
    net.fit(X.astype(dtype), Y.astype(dtype), epochs=2, lr=0.0001, momentum=0.9, seed=1,
            n_threads=2)
    flats.append(net.flat.tobytes())
from scipy import sparse
columns = np.minimum(rng.zipf(1.3, size=(6000, 20)) - 1, 4095)
A = sparse.csr_matrix((rng.random(120000), columns.ravel(), np.arange(0, 120001, 20)),
                      shape=(6000, 4096))
A.sum_duplicates()
labels = (rng.random((6000, 1)) > 0.5).astype(float)
for optimizer, lr in (("sgd", 0.05), ("adagrad", 0.02)):
    net = fastbp.Network([4096, 32, 1], output="sigmoid", loss="cross_entropy", seed=0)
    net.fit(A, labels, epochs=2, lr=lr, optimizer=optimizer, seed=1, n_threads=2)
    flats.append(net.flat.tobytes())
print(hashlib.sha256(b"".join(flats)).hexdigest())
"""


@contextlib.contextmanager
def busy_processes(count):
    """``count`` processes that keep a CPU busy (a Python loop), each
    spinning before the block runs, killed after it."""
    spin = "print('spinning', flush=True)\nwhile True: pass"
    spinners = [
        subprocess.Popen([sys.executable, "-c", spin], stdout=subprocess.PIPE, text=True)
        for _ in range(count)
    ]
    try:
        for spinner in spinners:
            assert spinner.stdout.readline() == "spinning\n"
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
            spinner.stdout.close()


def fit_on_two_threads(X, Y):
    """A [64, 128, 4] network fitted on two threads (2 epochs, lr 0.001):
    its weights, and the threads of each chunk."""
    net = fastbp.Network([64, 128, 4], seed=0)
    with pytest.MonkeyPatch.context() as patch:
        calls = record_train_pass(net, patch)
        net.fit(X, Y, epochs=2, seed=1, n_threads=2, lr=0.001)
    return net.flat, [call["threads"] for call in calls]


@compiled
def test_two_threads_give_the_same_weights_in_every_fresh_process():
    """Four fresh processes on two threads: alone, again, both threads on
    one CPU, and beside a busy process: the same weights bit for bit, for
    dense X and for CSR rows (SGD and Adagrad)."""
    pytest.importorskip("scipy")
    run = [sys.executable, "-c", DETERMINISM]
    one_cpu = min(os.sched_getaffinity(0))
    digests = [
        subprocess.run(run, capture_output=True, text=True, check=True).stdout for _ in range(2)
    ]
    digests.append(
        subprocess.run(
            run,
            capture_output=True,
            text=True,
            check=True,
            preexec_fn=lambda: os.sched_setaffinity(0, {one_cpu}),
        ).stdout
    )
    with busy_processes(1):
        digests.append(subprocess.run(run, capture_output=True, text=True, check=True).stdout)
    assert len(digests[0]) == 65 and digests == [digests[0]] * 4


@compiled
def test_copies_give_way_to_busy_processes_with_the_same_weights(cpus_free):
    """Beside a busy process for each CPU that started after the CPUs were
    found free, the copies' threads are kept from their CPUs and every
    round would wait for one that is not running: a pass runs its first
    chunk on two threads, finds them short of CPU time, and trains on one
    thread for a while; the weights are those of the same fit before the
    busy processes started, bit for bit."""
    X, Y = data([64, 4], 20_000, seed=2)
    cpus_free()  # each fit starts on both threads, however busy CI was before it
    alone, _ = fit_on_two_threads(X, Y)
    with busy_processes(os.cpu_count() or 1):
        cpus_free()
        beside, threads = fit_on_two_threads(X, Y)
    assert threads[0] == 2 and 1 in threads, threads
    assert np.array_equal(beside, alone)


@compiled
def test_copies_look_at_the_machine_before_they_take_its_cpus(cpus_free):
    """Where no chunk found the CPUs free lately (a new process, say) and
    the machine runs a busy process for each CPU, a pass trains on one
    thread from its first chunk, so that no round waits for a thread that
    is not running; the weights are those of the same fit on two threads
    alone, bit for bit."""
    X, Y = data([64, 4], 20_000, seed=2)
    cpus_free()
    alone, threads_alone = fit_on_two_threads(X, Y)
    assert threads_alone[0] == 2, threads_alone
    with busy_processes(os.cpu_count() or 1):
        cpus_free(look=True)
        beside, threads = fit_on_two_threads(X, Y)
    assert set(threads) == {1}, threads
    assert np.array_equal(beside, alone)
