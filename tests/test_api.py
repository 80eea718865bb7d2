"""The public API: names, input checks, divergence, persistence, backend choice."""

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
from conftest import data, record_train_pass, run_python

import fastbp


def test_public_names_of_the_design():
    for name in ("Network", "load", "History", "DivergenceError", "BACKEND"):
        assert hasattr(fastbp, name)
    assert issubclass(fastbp.DivergenceError, FloatingPointError)
    assert fastbp.BACKEND in ("compiled", "reference")
    net = fastbp.Network([2, 8, 1])
    for name in (
        "layers",
        "flat",
        "weights",
        "backend",
        "dtype",
        "predict",
        "loss",
        "backprop",
        "gradient",
        "sgd_step",
        "fit",
        "partial_fit",
        "save",
    ):
        assert hasattr(net, name), name


@pytest.mark.compiled
def test_compiled_core_names_its_codes_as_the_python_layer_does():
    from fastbp import _backend, _names

    for core in _backend.CORES.values():
        assert set(core.ENUMS) == {"ACTIVATIONS", "LOSSES", "SCHEDULES", "OPTIMIZERS"}
        for group, codes in core.ENUMS.items():
            names = getattr(_names, group)
            assert codes == {name: names.index(name) for name in names}, group
            assert getattr(core, group) is names  # the tuples themselves: one definition


@pytest.mark.compiled
def test_leaky_relu_slope_is_the_python_layers_in_every_copy_of_the_core():
    from fastbp import _backend, _names

    S = np.array([[-2.0, -0.5, 0.0, 3.0]])
    for core in _backend.CORES.values():
        X = S.copy()
        core.activate_rows(_names.ACTIVATIONS.index("leaky_relu"), X)
        assert np.array_equal(X, np.where(S > 0, S, _names.LEAKY_SLOPE * S))


def test_layout_of_the_weights(backend):
    net = fastbp.Network([3, 5, 2], backend=backend, dtype="float32")
    assert net.layers == (3, 5, 2)
    assert net.backend == backend
    assert net.dtype == np.float32
    assert net.flat.shape == (4 * 5 + 6 * 2,) and net.flat.flags.c_contiguous
    assert [W.shape for W in net.weights] == [(4, 5), (6, 2)]
    net.weights[1][0, 1] = 7.0  # the views write through to flat
    assert net.flat[4 * 5 + 1] == 7.0
    assert all(np.shares_memory(W, net.flat) for W in net.weights)


@pytest.mark.compiled
def test_the_core_s_buffers_start_on_a_cache_line(tmp_path, monkeypatch):
    """Off a cache line the core trains slower (benchmarks/bench_align.py)."""

    def on_line(array):
        return array.ctypes.data % 64 == 0

    X, Y = data([5, 7, 3], 200)
    workspaces = []
    for dtype in ("float32", "float64"):
        nets = [fastbp.Network([5, 7, 3], dtype=dtype, seed=k) for k in range(8)]
        assert all(on_line(net.flat) for net in nets)  # numpy's own: 16 bytes
        net = nets[0]
        with monkeypatch.context() as patch:
            calls = record_train_pass(net, patch)
            net.fit(np.tile(X, (5, 1)), np.tile(Y, (5, 1)), epochs=1, lr=0.001, n_threads=2)
        workspaces += [call["workspace"] for call in calls]  # the copies' shards
        net.fit(X, Y, epochs=1, lr=0.01, momentum=0.9, average=True)
        state = net.training_state
        assert on_line(state.velocity) and on_line(state.iterate)
        again = pickle.loads(pickle.dumps(net))
        net.save(tmp_path / "net.npz")
        for copy in (again, fastbp.load(tmp_path / "net.npz")):
            assert on_line(copy.flat) and on_line(copy.training_state.velocity)
            assert on_line(copy.training_state.average)
    assert workspaces and all(w is None or on_line(w) for w in workspaces)
    assert any(w is not None for w in workspaces)


def test_initialisation_is_seeded_and_scaled(backend):
    a = fastbp.Network([50, 40, 30], backend=backend, seed=3)
    b = fastbp.Network([50, 40, 30], backend=backend, seed=3)
    c = fastbp.Network([50, 40, 30], backend=backend, seed=4)
    assert np.array_equal(a.flat, b.flat) and not np.array_equal(a.flat, c.flat)
    assert np.all(a.weights[0][0] == 0)  # biases start at 0
    glorot = np.sqrt(6 / (50 + 40))  # uniform(-limit, limit) for tanh
    assert np.abs(a.weights[0][1:]).max() <= glorot
    assert np.std(a.weights[0][1:]) == pytest.approx(glorot / np.sqrt(3), rel=0.1)
    he = fastbp.Network([50, 40, 30], hidden="relu", output="relu", seed=3, backend=backend)
    assert np.std(he.weights[0][1:]) == pytest.approx(np.sqrt(2 / 50), rel=0.1)
    fresh = fastbp.Network([2, 2], seed=None, backend=backend)
    assert isinstance(fresh.seed, int)


def test_predict_shapes(backend):
    net = fastbp.Network([3, 4, 2], backend=backend)
    X = np.arange(12.0).reshape(4, 3) / 10
    assert net.predict(X).shape == (4, 2)
    assert net.predict(X[0]).shape == (2,)
    np.testing.assert_allclose(net.predict(X[2]), net.predict(X)[2], rtol=1e-14)
    # lists, integers, Fortran order and strided views are converted once
    np.testing.assert_array_equal(net.predict(np.asfortranarray(X)), net.predict(X))
    np.testing.assert_array_equal(net.predict(X.tolist()), net.predict(X))
    wide = np.zeros((4, 6))
    wide[:, ::2] = X
    np.testing.assert_array_equal(net.predict(wide[:, ::2]), net.predict(X))


def test_one_dimensional_targets_where_the_output_has_one_node(backend):
    net = fastbp.Network([2, 3, 1], backend=backend)
    X, Y = data([2, 3, 1], 10)
    assert net.loss(X, Y[:, 0]) == net.loss(X, Y)
    assert net.backprop(X[0], Y[0, 0]).error == net.backprop(X[0], Y[0]).error


def bad_constructor_arguments():
    return [
        (dict(layers=[2]), ValueError, "layers"),
        (dict(layers=[]), ValueError, "layers"),
        (dict(layers=[2, 0, 1]), ValueError, r"layers\[1\]"),
        (dict(layers=[2, 2.5, 1]), TypeError, r"layers\[1\]"),
        (dict(layers="21"), TypeError, "layers"),
        (dict(layers=5), TypeError, "layers"),
        (dict(layers=[2, 3, 1], hidden="softmax"), ValueError, "hidden"),
        (dict(layers=[2, 3, 1], hidden="swish"), ValueError, "hidden"),
        (dict(layers=[2, 3, 3, 1], hidden=["tanh"]), ValueError, "hidden"),
        (dict(layers=[2, 3, 1], hidden=3), TypeError, "hidden"),
        (dict(layers={2, 3, 1}), TypeError, "layers"),
        (dict(layers=[2, 3, 3, 1], hidden={"tanh", "relu"}), TypeError, "hidden"),
        (dict(layers=[2, 1], output="linear"), ValueError, "output"),
        (dict(layers=[2, 1], output=None), TypeError, "output"),
        (dict(layers=[2, 1], loss="hinge"), ValueError, "loss"),
        (dict(layers=[2, 1], loss="cross_entropy"), ValueError, "cross_entropy"),
        (dict(layers=[2, 3], output="softmax"), ValueError, "softmax"),
        (dict(layers=[2, 1], loss="poisson"), ValueError, "poisson.*exp"),
        (dict(layers=[2, 3, 1], hidden="exp", output="exp", loss="poisson"), ValueError, "hidden"),
        (dict(layers=[2, 1], dtype="int32"), ValueError, "dtype"),
        (dict(layers=[2, 1], dtype="float16"), ValueError, "dtype"),
        (dict(layers=[2, 1], dtype="double precision"), TypeError, "dtype"),
        (dict(layers=[2, 1], seed=-1), ValueError, "seed"),
        (dict(layers=[2, 1], seed=1.5), TypeError, "seed"),
        (dict(layers=[2, 1], backend="gpu"), ValueError, "backend"),
        (dict(layers=[2, 1], weights=[np.zeros((3, 2))]), ValueError, r"weights\[0\]"),
        (dict(layers=[2, 1], weights=[np.zeros((2, 1))]), ValueError, r"weights\[0\]"),
        (dict(layers=[2, 1], weights=[np.full((3, 1), np.nan)]), ValueError, r"weights\[0\]"),
        (dict(layers=[2, 3, 1], weights=[np.zeros((3, 3))]), ValueError, "weights"),
    ]


@pytest.mark.parametrize("kwargs,error,name", bad_constructor_arguments())
def test_bad_constructor_arguments_name_the_argument(backend, kwargs, error, name):
    with pytest.raises(error, match=name):
        fastbp.Network(**{"backend": backend, **kwargs})


def bad_data():
    X, Y = data([3, 2], 5)
    nan_X = X.copy()
    nan_X[2, 1] = np.nan
    inf_Y = Y.copy()
    inf_Y[0, 0] = np.inf
    return [
        (dict(X=X[:, :2]), ValueError, "X must have 3 columns"),
        (dict(X=X[None]), ValueError, "X must have 2 dimensions"),
        (dict(X=X[:0]), ValueError, "X has no rows"),
        (dict(X=nan_X), ValueError, "X contains NaN"),
        (dict(X=np.full((5, 3), 1e300)), ValueError, "X contains NaN or infinity after"),
        (dict(X=X.astype(str)), TypeError, "X must hold real numbers"),
        (dict(X=X.astype(complex)), TypeError, "X must hold real numbers"),
        (dict(X=[[1, 2, 3], [4, 5]]), ValueError, "X must be an array"),
        (dict(Y=Y[:4]), ValueError, "Y has 4 rows but X has 5"),
        (dict(Y=Y[:, :1]), ValueError, "Y must have 2 columns"),
        (dict(Y=inf_Y), ValueError, "Y contains NaN"),
        (dict(Y=Y[:, 0]), ValueError, "Y must have 2 dimensions"),
        (dict(epochs=0), ValueError, "epochs"),
        (dict(epochs=2.0), TypeError, "epochs"),
        (dict(lr=0), ValueError, "lr"),
        (dict(lr=-0.1), ValueError, "lr"),
        (dict(lr=np.nan), ValueError, "lr"),
        (dict(lr="fast"), TypeError, "lr"),
        (dict(shuffle="yes"), TypeError, "shuffle"),
        (dict(seed="x"), TypeError, "seed"),
        (dict(verbose=1), TypeError, "verbose"),
    ]


@pytest.mark.parametrize("change,error,message", bad_data())
def test_bad_fit_arguments_name_the_argument(backend, change, error, message):
    net = fastbp.Network([3, 2], dtype="float32", backend=backend)
    X, Y = data([3, 2], 5)
    arguments = dict(X=X, Y=Y, epochs=1, lr=0.1, shuffle=True, seed=0, verbose=False)
    arguments.update(change)
    before = net.flat.copy()
    with pytest.raises(error, match=message):
        net.fit(**arguments)
    np.testing.assert_array_equal(net.flat, before)


def test_bad_single_examples_and_cross_entropy_targets(backend):
    net = fastbp.Network([3, 2], output="sigmoid", loss="cross_entropy", backend=backend)
    with pytest.raises(ValueError, match="x must have 3 columns"):
        net.backprop([1.0, 2.0], [0, 1])
    with pytest.raises(ValueError, match="x must have 1 dimensions"):
        net.sgd_step(np.zeros((1, 3)), [0, 1], 0.1)
    with pytest.raises(ValueError, match="y must have 2 columns"):
        net.sgd_step(np.zeros(3), [0, 1, 1], 0.1)
    with pytest.raises(ValueError, match=r"Y must lie in \[0, 1\]"):
        net.loss(np.zeros((2, 3)), [[0, 1], [2, 0]])
    counts = fastbp.Network([3, 2], output="exp", loss="poisson", backend=backend)
    with pytest.raises(ValueError, match="Y must be >= 0 for the poisson loss"):
        counts.fit(np.zeros((2, 3)), [[0, 1], [-1, 0]])
    with pytest.raises(ValueError, match="lr"):
        net.sgd_step(np.zeros(3), [0, 1], 0)


def exploding_network(backend):
    """[1, 1] identity: with lr = 1.5 and x = 1, y = 0 every step doubles |s|.

    The error overflows after about 510 examples: in the second epoch of 300.
    """
    net = fastbp.Network([1, 1], hidden=[], backend=backend, weights=[[[0.5], [0.5]]])
    return net, np.ones((300, 1)), np.zeros(300)


def test_divergence_raises_and_keeps_the_last_finished_epoch(backend):
    net, X, Y = exploding_network(backend)
    after_one, _, _ = exploding_network(backend)
    after_one.fit(X, Y, epochs=1, lr=1.5, shuffle=False)
    with pytest.raises(fastbp.DivergenceError, match="epoch 2"):
        net.fit(X, Y, epochs=5, lr=1.5, shuffle=False)
    np.testing.assert_array_equal(net.flat, after_one.flat)
    assert np.isfinite(net.flat).all()


def test_divergence_in_the_first_epoch_keeps_the_weights_from_before_fit(backend):
    net, X, Y = exploding_network(backend)
    before = net.flat.copy()
    with pytest.raises(fastbp.DivergenceError):
        net.fit(np.ones((1000, 1)), np.zeros(1000), epochs=1, lr=1.5, shuffle=False)
    np.testing.assert_array_equal(net.flat, before)


def test_divergence_of_one_step_leaves_the_weights(backend):
    net = fastbp.Network([1, 1], hidden=[], backend=backend, weights=[[[1e200], [1e200]]])
    before = net.flat.copy()
    with pytest.raises(FloatingPointError, match="sgd_step"):
        net.sgd_step([1.0], 0.0, 0.1)
    np.testing.assert_array_equal(net.flat, before)


def test_history_and_partial_fit(backend):
    net = fastbp.Network([2, 8, 1], backend=backend)
    X, _ = data([2, 8, 1], 50)
    Y = np.tanh(X[:, 0] - 2 * X[:, 1])
    history = net.fit(X, Y, epochs=3, lr=0.05)
    assert history.epochs == 3
    for values in (history.loss, history.lr, history.seconds, history.examples_per_second):
        assert len(values) == 3
    assert history.val_loss == []
    assert history.loss[-1] < history.loss[0]
    one = net.partial_fit(X, Y, lr=0.05)
    assert one.epochs == 1 and one.loss[0] < history.loss[0]


def test_a_network_is_freed_when_its_last_reference_goes(backend):
    """No reference cycle keeps a network's weights (and its training
    state's buffers) alive until the cyclic garbage collector runs: a
    program that makes network after network holds one at a time.  So for
    a fresh, a trained, an unpickled and a deep-copied one."""
    import copy
    import gc
    import weakref

    X, Y = data([4, 8, 2], 60)

    def made(how):
        net = fastbp.Network([4, 8, 2], backend=backend)
        if how == "pickled":
            return pickle.loads(pickle.dumps(net))
        return copy.deepcopy(net) if how == "copied" else net

    gc.disable()
    try:
        for how in ("fresh", "trained", "pickled", "copied"):
            net = made(how)
            if how != "fresh":
                net.fit(X, Y, epochs=2, momentum=0.9, callbacks=[lambda *args: None])
                net.sgd_step(X[0], Y[0], lr=0.01)
            gone = weakref.ref(net), weakref.ref(net.flat)
            del net
            assert gone[0]() is None and gone[1]() is None, how
    finally:
        gc.enable()


def test_shuffles_follow_the_seed_and_the_pass(backend):
    X, Y = data([2, 3, 1], 40)
    a, b = fastbp.Network([2, 3, 1], backend=backend), fastbp.Network([2, 3, 1], backend=backend)
    a.fit(X, Y, epochs=2)
    b.partial_fit(X, Y)
    b.partial_fit(X, Y)
    assert a.flat.tobytes() == b.flat.tobytes()
    c = fastbp.Network([2, 3, 1], backend=backend)
    c.partial_fit(X, Y)
    c.partial_fit(X, Y, seed=1)  # the network's seed is 0
    assert c.flat.tobytes() != a.flat.tobytes()
    d = fastbp.Network([2, 3, 1], backend=backend)
    d.partial_fit(X, Y)
    d.partial_fit(X, Y)  # a second pass: another order
    d.fit(X, Y, epochs=2, seed=0)  # fit starts a new run: passes 0 and 1
    e = fastbp.Network([2, 3, 1], backend=backend)
    e.partial_fit(X, Y)
    e.partial_fit(X, Y)
    e.partial_fit(X, Y)
    e.partial_fit(X, Y)
    assert d.flat.tobytes() != e.flat.tobytes()


def test_verbose_shows_progress_bars(backend, capsys, monkeypatch):
    monkeypatch.setattr(fastbp.training, "LONG_EPOCH", 10)  # a bar within epochs too
    X, Y = data([2, 3, 1], 20)
    fastbp.Network([2, 3, 1], backend=backend).fit(
        X, Y, epochs=3, verbose=True, validation_data=(X, Y)
    )
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "3/3" in captured.err and "val_loss=" in captured.err and "lr=" in captured.err
    assert "epoch 3" in captured.err  # the bar within the third epoch
    fastbp.Network([2, 3, 1], backend=backend).fit(X, Y, epochs=2)
    assert capsys.readouterr().err == ""


def test_xor_is_learned(backend):
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    Y = np.array([0, 1, 1, 0], dtype=float)
    net = fastbp.Network(
        [2, 4, 1], hidden="tanh", output="sigmoid", loss="cross_entropy", seed=0, backend=backend
    )
    net.fit(X, Y, epochs=1000, lr=0.5)
    np.testing.assert_array_equal(net.predict(X)[:, 0] > 0.5, Y > 0.5)
    assert net.loss(X, Y) < 0.05


@pytest.mark.parametrize(
    "forced", ["reference", pytest.param("compiled", marks=pytest.mark.compiled)]
)
def test_environment_variable_sets_the_default_backend(backend, forced):
    # ``backend`` here is the backend the forced process is asked for explicitly
    result = run_python(
        "-c",
        "import fastbp; print(fastbp.BACKEND, fastbp.Network([2, 1]).backend, "
        f"fastbp.Network([2, 1], backend={backend!r}).backend)",
        FASTBP_BACKEND=forced,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [forced, forced, backend]


def test_environment_variable_with_a_bad_value_fails_clearly():
    result = run_python("-c", "import fastbp", FASTBP_BACKEND="gpu")
    assert result.returncode != 0
    assert "FASTBP_BACKEND must be 'compiled' or 'reference'" in result.stderr


MISSING_EXTENSION = """
import sys, warnings
sys.modules["fastbp._core"] = None          # makes `from . import _core` fail
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import fastbp
    import importlib; importlib.reload(fastbp)   # a second import does not warn again
print(len(caught), caught[0].category.__name__, fastbp.BACKEND, fastbp.Network([2, 1]).backend)
try:
    fastbp.Network([2, 1], backend="compiled")
except ImportError as exc:
    print("ImportError:", exc)
"""


def test_missing_extension_warns_once_and_falls_back():
    result = run_python("-c", MISSING_EXTENSION, FASTBP_BACKEND="")
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.strip().splitlines()
    assert first == "1 RuntimeWarning reference reference"
    assert second.startswith("ImportError: backend='compiled' was asked for")


def test_missing_extension_with_compiled_forced_fails_at_import():
    code = 'import sys; sys.modules["fastbp._core"] = None; import fastbp'
    result = run_python("-c", code, FASTBP_BACKEND="compiled")
    assert result.returncode != 0
    assert "FASTBP_BACKEND=compiled" in result.stderr


def test_absurd_sizes_are_refused():
    X, Y = data([3, 1], 20)
    net = fastbp.Network([3, 4, 1])
    with pytest.raises(ValueError, match="batch_size"):
        net.fit(X, Y, epochs=1, batch_size=2**63)
    with pytest.raises(ValueError, match="weights"):
        fastbp.Network([10**10, 10**10, 1])
    with pytest.raises(TypeError, match="layers must be a list or tuple"):
        fastbp.Network({2, 8, 1})
    with pytest.raises(TypeError, match="hidden must be a list or tuple"):
        fastbp.Network([2, 3, 3, 1], hidden={"tanh", "relu"})
    assert fastbp.Network(np.array([2, 3, 1])).layers == (2, 3, 1)


def test_restore_best_is_checked_whether_or_not_early_stopping_is_on(backend):
    X, Y = data([3, 1], 20)
    net = fastbp.Network([3, 2, 1], backend=backend)
    for early_stopping in (False, True):
        with pytest.raises(TypeError, match="restore_best must be True or False"):
            net.fit(X, Y, epochs=1, early_stopping=early_stopping, restore_best="no")


def test_without_its_core_fastbp_says_how_to_get_it_and_info_says_what_runs():
    # the core made unimportable in a child, as on an install without a compiler
    home = os.path.dirname(os.path.dirname(os.path.abspath(fastbp.__file__)))
    source_tree = os.path.exists(os.path.join(home, "setup.py"))
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.modules['fastbp._core'] = None\n"
            "from fastbp import cli; cli.main(['info'])",
        ],
        capture_output=True,
        text=True,
        cwd=home,
        timeout=300,
        env={name: value for name, value in os.environ.items() if name != "FASTBP_BACKEND"},
    )
    assert result.returncode == 0, result.stderr
    advice = (
        "a source tree without the built extension"
        if source_tree
        else "installed without its compiled core: reinstall it with a working C compiler, "
        "or install a wheel"
    )
    assert advice in result.stderr, result.stderr
    assert "compiled core: not available" in result.stdout
    assert "the reference backend runs" in result.stdout and "asked for" not in result.stdout


def test_history_says_whether_early_stopping_ended_training_and_which_epoch_it_kept(backend):
    X, Y = data([4, 1], 200)
    net = fastbp.Network([4, 8, 1], seed=0, backend=backend)
    history = net.fit(X, Y, epochs=300, lr=0.05, early_stopping=True, patience=3, seed=0)
    assert history.stopped_early and history.epochs < 300
    best = history.best_epoch
    assert history.val_loss[best - 1] == min(history.val_loss[:best])
    plain = fastbp.Network([4, 8, 1], seed=0, backend=backend).fit(X, Y, epochs=3)
    assert not plain.stopped_early and plain.best_epoch is None
