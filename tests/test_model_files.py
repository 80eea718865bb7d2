"""Model files are checked before they are trusted: every field, every
array's header against the declared network, every value; whatever is
wrong with a file is a ValueError."""

import io
import json
import os
import pickle
import re
import tracemalloc
import zipfile

import numpy as np
import pytest
from conftest import data, run_python
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastbp

INVALID = "not a valid fastbp model file"


def saved(tmp_path, **fit_options):
    """A small trained network's file (with velocity and average), and the network."""
    X, Y = data([3, 2], 40)
    net = fastbp.Network([3, 5, 2])
    net.fit(X, Y, epochs=2, momentum=0.5, average=True, **fit_options)
    path = tmp_path / "net.npz"
    net.save(path)
    return path, net


def members(path):
    with np.load(path, allow_pickle=False) as stored:
        return {name: stored[name] for name in stored.files}


def rewritten(path, change_meta=None, **arrays):
    """``path`` written again with its meta changed by ``change_meta`` and
    ``arrays`` replaced (None removes one)."""
    contents = members(path)
    meta = json.loads(str(contents["meta"]))
    if change_meta:
        change_meta(meta)
    contents["meta"] = np.array(json.dumps(meta))
    for name, array in arrays.items():
        if array is None:
            contents.pop(name)
        else:
            contents[name] = array
    target = path.with_name("changed.npz")
    with open(target, "wb") as file:
        np.savez(file, **contents)
    return target


def refused(path, match=""):
    with pytest.raises(ValueError, match=INVALID + ".*" + match):
        fastbp.load(path)


def refused_within_a_megabyte(path, match):
    """Refused, with less than 1 MiB allocated on the way (numpy's arrays
    included: numpy reports them to tracemalloc)."""
    tracemalloc.start()
    try:
        refused(path, match)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_a_round_trip_keeps_everything(tmp_path):
    path, net = saved(tmp_path)
    loaded = fastbp.load(path)
    assert np.array_equal(loaded.flat, net.flat)
    assert members(path).keys() == {"meta", "flat", "velocity", "average", "iterate"}
    again = tmp_path / "again.npz"
    loaded.save(again)
    for name, array in members(path).items():
        assert np.array_equal(members(again)[name], array), name


@pytest.mark.parametrize("name", ["flat", "velocity", "average", "iterate"])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_arrays_are_refused(tmp_path, name, value):
    path, net = saved(tmp_path)
    array = members(path)[name].copy()
    array[3] = value
    refused(rewritten(path, **{name: array}), f"its {name} holds NaN or infinity")


@pytest.mark.parametrize(
    "field, value",
    [
        ("adaptive_lr", -1),
        ("adaptive_lr", 0),
        ("adaptive_lr", "x"),
        ("updates", -5),
        ("passes", "x"),
        ("passes", 1.5),
        ("passes", True),
        ("waited", 2**60),
        ("best_loss", float("nan")),
        ("surprise", 1),
    ],
)
def test_bad_progress_is_refused(tmp_path, field, value):
    path, _ = saved(tmp_path)
    refused(rewritten(path, lambda meta: meta["progress"].__setitem__(field, value)), "progress")


@pytest.mark.parametrize(
    "change",
    [
        lambda meta: meta.pop("config"),
        lambda meta: meta["config"].pop("layers"),
        lambda meta: meta["config"].__setitem__("layers", [3, "5", 2]),
        lambda meta: meta["config"].__setitem__("layers", [3, 0, 2]),
        lambda meta: meta["config"].__setitem__("layers", {"a": 1}),
        lambda meta: meta["config"].__setitem__("layers", [3, 6, 2]),
        lambda meta: meta["config"].__setitem__("hidden", ["swish"]),
        lambda meta: meta["config"].__setitem__("output", 7),
        lambda meta: meta["config"].__setitem__("loss", "cross_entropy"),
        lambda meta: meta["config"].__setitem__("dtype", "float32"),
        lambda meta: meta["config"].__setitem__("dtype", "int8"),
        lambda meta: meta["config"].__setitem__("seed", -1),
        lambda meta: meta["config"].__setitem__("backend", "gpu"),
        lambda meta: meta["config"].__setitem__("extra", 1),
        lambda meta: meta.__setitem__("format", "other"),
        lambda meta: meta.__setitem__("format_version", 99),
        lambda meta: meta.__setitem__("progress", [1, 2]),
    ],
)
def test_bad_metadata_is_refused(tmp_path, change):
    path, _ = saved(tmp_path)
    refused(rewritten(path, change))


def test_arrays_that_do_not_match_the_network_are_refused(tmp_path):
    path, net = saved(tmp_path)
    flat = members(path)["flat"]
    refused(rewritten(path, flat=flat[:-1]), "shape")
    refused(rewritten(path, flat=flat.astype(np.float32)), "dtype")
    refused(rewritten(path, velocity=flat[:, None]), "shape")
    refused(rewritten(path, flat=None), "no 'flat'")
    refused(rewritten(path, meta=np.arange(3.0)), "JSON")
    refused(rewritten(path, meta=np.array("[1, 2")), "JSONDecodeError")


def test_a_large_declared_network_is_refused_before_any_allocation(tmp_path):
    """A 2.5 KB file that declares a network of 3.2 GB: refused from the
    headers, without building the network."""
    path, _ = saved(tmp_path)
    big = rewritten(path, lambda meta: meta["config"].__setitem__("layers", [20000, 20000, 2]))
    assert big.stat().st_size < 4000
    refused_within_a_megabyte(big, "shape")


def _zip_with_member(path, name, header_shape, data_bytes, compression):
    """A model file whose member ``name`` is replaced by a .npy of float64
    with ``header_shape``, holding ``data_bytes`` zero bytes (written in
    pieces), stored with ``compression``."""
    contents = members(path)
    target = path.with_name("crafted.npz")
    with zipfile.ZipFile(target, "w", compression=compression) as archive:
        for other, array in contents.items():
            if other != name:
                with archive.open(other + ".npy", "w") as member:
                    np.lib.format.write_array(member, array)
        with archive.open(name + ".npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(
                member, {"descr": "<f8", "fortran_order": False, "shape": header_shape}
            )
            piece = bytes(1 << 20)
            for start in range(0, data_bytes, len(piece)):
                member.write(piece[: data_bytes - start])
    return target


def test_a_deflate_bomb_is_refused_from_its_header(tmp_path):
    """80 MB of deflated zeros in 'flat': refused from its header's shape,
    nothing inflated beyond it."""
    path, net = saved(tmp_path)
    n = 10**7
    bomb = _zip_with_member(path, "flat", (n,), 8 * n, zipfile.ZIP_DEFLATED)
    assert bomb.stat().st_size < 200_000
    refused_within_a_megabyte(bomb, "inflate to")


def test_a_member_that_declares_more_than_it_holds_is_refused(tmp_path):
    path, net = saved(tmp_path)
    short = _zip_with_member(path, "flat", net.flat.shape, 8, zipfile.ZIP_STORED)
    refused(short, "more data than the file holds")


def test_damaged_files_raise_value_error(tmp_path):
    path, _ = saved(tmp_path)
    whole = path.read_bytes()
    for length in (0, 10, 100, len(whole) // 2, len(whole) - 30, len(whole) - 1):
        truncated = tmp_path / f"truncated{length}.npz"
        truncated.write_bytes(whole[:length])
        refused(truncated)
    text = tmp_path / "text.npz"
    text.write_text("layers: 3, 5, 2\n")
    refused(text)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, X=np.zeros(3))
    refused(foreign, "no 'meta'")
    pickled = tmp_path / "pickled.npz"
    with zipfile.ZipFile(pickled, "w") as archive:
        for name, array in members(path).items():
            with archive.open(name + ".npy", "w") as member:
                np.lib.format.write_array(
                    member,
                    np.array([1, "x"], dtype=object) if name == "velocity" else array,
                    allow_pickle=True,
                )
    refused(pickled, "velocity")
    with pytest.raises(FileNotFoundError):
        fastbp.load(tmp_path / "missing.npz")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    flips=st.lists(
        st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), min_size=1, max_size=3
    )
)
def test_a_file_with_changed_bytes_loads_a_valid_network_or_raises_value_error(flips):
    """Byte changes anywhere: the file is refused with ValueError, or it loads
    (a change the zip format does not notice, in a name or padding) into a
    valid network."""
    buffer = io.BytesIO()
    net = fastbp.Network([3, 4, 2])
    X, Y = data([3, 2], 20)
    net.fit(X, Y, epochs=1, momentum=0.5)
    net.save(buffer)
    damaged = bytearray(buffer.getvalue())
    for where, change in flips:
        damaged[int(where * len(damaged))] ^= change
    try:
        loaded = fastbp.load(io.BytesIO(bytes(damaged)))
    except ValueError as error:
        assert str(error).startswith(INVALID)
    else:
        assert np.isfinite(loaded.flat).all() and loaded.flat.shape == net.flat.shape


def test_pickle_goes_through_the_same_checks():
    net = fastbp.Network([3, 4, 2])
    state = net.__getstate__()
    state["flat"] = state["flat"].copy()
    state["flat"][0] = np.nan
    blob = pickle.dumps(net)
    assert np.array_equal(pickle.loads(blob).flat, net.flat)
    with pytest.raises(ValueError, match="its flat holds NaN"):
        fastbp.Network.__new__(fastbp.Network).__setstate__(state)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_save_and_load_are_exact(backend, dtype, tmp_path):
    net = fastbp.Network(
        [3, 4, 5, 2],
        hidden=["relu", "sigmoid"],
        output="softmax",
        loss="cross_entropy",
        dtype=dtype,
        seed=9,
        backend=backend,
    )
    X, Y = data([3, 4, 5, 2], 20, loss="cross_entropy", output="softmax")
    net.fit(X, Y, epochs=2, lr=0.1)
    path = tmp_path / "model.npz"
    net.save(path)
    loaded = fastbp.load(path)
    assert repr(loaded) == repr(net)
    assert loaded.flat.dtype == net.flat.dtype
    assert loaded.flat.tobytes() == net.flat.tobytes()
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    # the training state travels too: the next pass is the same on both
    net.partial_fit(X, Y, lr=0.1)
    loaded.partial_fit(X, Y, lr=0.1)
    assert loaded.flat.tobytes() == net.flat.tobytes()
    with np.load(path, allow_pickle=False) as stored:  # nothing pickled inside
        assert set(stored.files) == {"flat", "meta"}


def test_save_writes_exactly_the_path_given_and_to_files(backend, tmp_path):
    net = fastbp.Network([2, 1], backend=backend)
    net.save(tmp_path / "model.bin")
    assert os.listdir(tmp_path) == ["model.bin"]
    buffer = io.BytesIO()
    net.save(buffer)
    buffer.seek(0)
    assert fastbp.load(buffer).flat.tobytes() == net.flat.tobytes()


def test_load_refuses_other_files(tmp_path):
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not a valid fastbp model file: no .meta."):
        fastbp.load(tmp_path / "other.npz")
    net = fastbp.Network([2, 1])
    net.save(tmp_path / "model.npz")
    with np.load(tmp_path / "model.npz") as stored:
        meta = str(stored["meta"]).replace('"format_version": 1', '"format_version": 99')
        np.savez(tmp_path / "future.npz", flat=stored["flat"], meta=np.array(meta))
    with pytest.raises(ValueError, match="format version 99"):
        fastbp.load(tmp_path / "future.npz")


def test_pickle_is_exact_and_keeps_training_state(backend):
    net = fastbp.Network([3, 6, 2], dtype="float32", seed=2, backend=backend)
    X, Y = data([3, 6, 2], 30)
    net.fit(X, Y, epochs=1)
    copy = pickle.loads(pickle.dumps(net))
    assert copy.flat.tobytes() == net.flat.tobytes() and copy.backend == net.backend
    net.partial_fit(X, Y)
    copy.partial_fit(X, Y)
    assert copy.flat.tobytes() == net.flat.tobytes()


def _rezipped(path, target):
    """``path``'s members deflated into ``target``, as a user's zip tool might."""
    with (
        zipfile.ZipFile(path) as source,
        zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive,
    ):
        for name in source.namelist():
            archive.writestr(name, source.read(name))
    return target


def test_what_load_allocates_is_bounded_by_the_files_size(tmp_path):
    # A network whose velocity and moments are zeros deflates about 1000x:
    # within the format's per-member bound, but past load's default bound on
    # the whole, which a caller raises explicitly.
    net = fastbp.Network([300, 300, 2], seed=0)
    X, Y = data([300, 2], 4)
    net.fit(X, Y, epochs=1, momentum=0.5)
    net.flat[...] = 0
    net.save(tmp_path / "net.npz")
    path = rewritten(tmp_path / "net.npz", velocity=np.zeros_like(net.flat))
    small = _rezipped(path, tmp_path / "small.npz")
    assert small.stat().st_size * 200 < path.stat().st_size
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=INVALID + ".*inflate to .* max_inflation"):
            fastbp.load(small)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * small.stat().st_size + (1 << 20)
    assert np.array_equal(fastbp.load(small, max_inflation=None).flat, net.flat)
    assert np.array_equal(fastbp.load(small, max_inflation=1000).flat, net.flat)
    # a trained network's file, re-zipped, loads at the default bound, and
    # what loading allocates is at most about twice what its members hold
    net = fastbp.Network([300, 300, 2], seed=1)
    net.fit(X, Y, epochs=1, momentum=0.5)
    net.save(path)
    zipped = _rezipped(path, tmp_path / "trained-z.npz")
    with zipfile.ZipFile(zipped) as archive:
        held = sum(info.file_size for info in archive.infolist())
    assert held < 16 * zipped.stat().st_size
    tracemalloc.start()
    try:
        loaded = fastbp.load(zipped)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert np.array_equal(loaded.flat, net.flat)
    assert peak < 2 * held + (1 << 16), (peak, held)
    with pytest.raises(ValueError, match="max_inflation"):
        fastbp.load(zipped, max_inflation=0)


def test_load_refuses_what_is_not_a_regular_file_at_once(tmp_path):
    # /dev/zero was read until memory ran out; a FIFO blocked for ever (in
    # a child, so that a hang fails this test only)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path in ("/dev/zero", fifo, tmp_path):
        result = run_python(
            "-c",
            f"""
import fastbp
try:
    fastbp.load({str(path)!r})
except OSError as error:
    print("OSError", error)
""",
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert re.match("OSError .*(not a regular file|Is a directory)", result.stdout), (
            result.stdout
        )
    for wrong in (0, 1.5, None, io.StringIO("text")):
        with pytest.raises(TypeError, match="file"):
            fastbp.load(wrong)
    path, net = saved(tmp_path)
    assert np.array_equal(fastbp.load(os.fsencode(path)).flat, net.flat)  # a bytes path


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda meta: meta["progress"].update(moments_from=10**6), "moments_from"),
        (lambda meta: meta["progress"].update(adaptive_lr=1e300), "adaptive_lr"),
    ],
)
def test_progress_training_could_not_produce_is_refused(tmp_path, change, match):
    path, _ = saved(tmp_path)
    refused(rewritten(path, change), match)


@pytest.mark.parametrize("optimizer", ["adam", "adagrad"])
def test_negative_sums_of_squares_are_refused(tmp_path, optimizer):
    X, Y = data([3, 2], 40)
    net = fastbp.Network([3, 5, 2])
    net.fit(X, Y, epochs=1, optimizer=optimizer)
    path = tmp_path / "net.npz"
    net.save(path)
    moments = members(path)["moments"].copy()
    moments[-1] = -1.0
    refused(rewritten(path, moments=moments), "negative sums of squares")
    with pytest.raises(ValueError, match="lr must be at most"):
        net.partial_fit(X, Y, lr=1e300)


def test_an_invalid_file_raises_a_plain_value_error(tmp_path):
    # a traceback names the documented exception, not a private class
    (tmp_path / "garbage.npz").write_bytes(b"not a zip file at all")
    path, _ = saved(tmp_path)
    for bad in (
        tmp_path / "garbage.npz",
        rewritten(path, lambda meta: meta["progress"].update(passes=-1)),
    ):
        with pytest.raises(ValueError, match=INVALID) as caught:
            fastbp.load(bad)
        assert type(caught.value) is ValueError
