"""Training from data larger than memory (np.memmap and array-likes read a
chunk of rows at a time) and from streams of chunks."""

import numpy as np
import pytest
from conftest import data

import fastbp
import fastbp._data


class Sliced:
    """An array-like that only slices, as h5py datasets and zarr arrays do;
    it records the rows each read asked for."""

    def __init__(self, array):
        self.array, self.reads = array, []
        self.shape, self.dtype = array.shape, array.dtype

    def __len__(self):
        return len(self.array)

    def __getitem__(self, key):
        self.reads.append(key)
        return self.array[key].copy()


@pytest.fixture
def small_chunks(monkeypatch):
    """Out-of-core reads of 10 rows of 7 features (as float64) at a time."""
    monkeypatch.setattr(fastbp._data, "CHUNK_BYTES", 7 * 8 * 10)


@pytest.fixture
def memmapped(tmp_path):
    """(X as a read-only np.memmap of float32, X in memory, Y)."""
    X, Y = data([7, 5, 2], 95)
    X = X.astype(np.float32)
    np.save(tmp_path / "X.npy", X)
    return np.load(tmp_path / "X.npy", mmap_mode="r"), X, Y


@pytest.mark.parametrize(
    "options", [{}, {"momentum": 0.9, "batch_size": 3}, {"lr_schedule": "invscaling"}]
)
def test_memmap_training_equals_in_memory_training_in_order(
    backend, small_chunks, memmapped, options
):
    X_file, X, Y = memmapped
    weights = np.linspace(0.5, 1.5, len(X))
    on_disk, in_memory = (fastbp.Network([7, 5, 2], backend=backend) for _ in range(2))
    history = on_disk.fit(
        X_file, Y, epochs=2, lr=0.05, shuffle=False, sample_weight=weights, **options
    )
    expected = in_memory.fit(
        X, Y, epochs=2, lr=0.05, shuffle=False, sample_weight=weights, **options
    )
    assert np.array_equal(on_disk.flat, in_memory.flat)
    assert history.loss == pytest.approx(expected.loss, rel=1e-14)  # summed chunk by chunk


def test_array_likes_are_read_a_chunk_at_a_time(backend, small_chunks):
    X, Y = data([7, 5, 2], 95)
    source = Sliced(X)
    net = fastbp.Network([7, 5, 2], backend=backend)
    net.partial_fit(source, Y, lr=0.05, shuffle=False)
    assert source.reads == [slice(start, min(start + 10, 95)) for start in range(0, 95, 10)]
    in_memory = fastbp.Network([7, 5, 2], backend=backend)
    in_memory.partial_fit(X, Y, lr=0.05, shuffle=False)
    assert np.array_equal(net.flat, in_memory.flat)


def test_the_two_level_shuffle_is_seeded_and_visits_every_chunk(backend, small_chunks):
    X, Y = data([7, 5, 2], 95)
    runs = []
    for seed in (1, 1, 2):
        source = Sliced(X)
        net = fastbp.Network([7, 5, 2], backend=backend)
        net.fit(source, Y, epochs=1, lr=0.05, seed=seed)
        runs.append((net.flat.copy(), [key.start for key in source.reads]))
    assert np.array_equal(runs[0][0], runs[1][0]) and runs[0][1] == runs[1][1]
    assert not np.array_equal(runs[0][0], runs[2][0])
    assert sorted(runs[0][1]) == list(range(0, 95, 10)) != runs[0][1]


def test_bad_rows_further_on_in_a_file_restore_the_weights(
    backend, small_chunks, memmapped, tmp_path
):
    _, X, Y = memmapped
    X = X.copy()
    X[57, 3] = np.nan
    np.save(tmp_path / "bad.npy", X)
    net = fastbp.Network([7, 5, 2], backend=backend)
    net.fit(X[:50], Y[:50], epochs=1, lr=0.05)
    before = net.flat.copy()
    with pytest.raises(ValueError, match=r"X\[50:60\] contains NaN"):
        net.partial_fit(np.load(tmp_path / "bad.npy", mmap_mode="r"), Y, lr=0.05, shuffle=False)
    assert np.array_equal(net.flat, before)


def test_out_of_core_inputs_are_checked(backend, memmapped):
    X_file, _, Y = memmapped
    net = fastbp.Network([7, 5, 2], backend=backend)
    with pytest.raises(ValueError, match=r"X must have shape \(n, 7\)"):
        net.fit(Sliced(np.zeros((5, 6))), Y[:5])
    with pytest.raises(ValueError, match="Y must have as many rows as X"):
        net.fit(X_file, Y[:10])
    with pytest.raises(ValueError, match="validation_fraction.*needs X in memory"):
        net.fit(X_file, Y, early_stopping=True)


# ---------------------------------------------------------------- streams


def test_a_stream_of_chunks_equals_in_memory_training_in_order(backend):
    X, Y = data([7, 5, 2], 95)
    chunks = ((X[start : start + 20], Y[start : start + 20]) for start in range(0, 95, 20))
    streamed, in_memory = (fastbp.Network([7, 5, 2], backend=backend) for _ in range(2))
    history = fastbp.fit_stream(streamed, chunks, lr=0.05, shuffle=False, momentum=0.5)
    expected = in_memory.partial_fit(X, Y, lr=0.05, shuffle=False, momentum=0.5)
    assert np.array_equal(streamed.flat, in_memory.flat)
    assert history.loss == pytest.approx(expected.loss, rel=1e-14) and history.epochs == 1


def test_fit_stream_continues_the_training_state(backend):
    X, Y = data([7, 5, 2], 60)
    streamed, in_memory = (fastbp.Network([7, 5, 2], backend=backend) for _ in range(2))
    for _ in range(2):
        fastbp.fit_stream(
            streamed, [(X[:30], Y[:30], np.ones(30)), (X[30:], Y[30:])], lr=0.05, seed=3
        )
    in_memory.fit(X, Y, epochs=2, lr=0.05, seed=3, shuffle=False)
    assert not np.array_equal(streamed.flat, in_memory.flat)  # rows shuffled in the chunks
    progress = streamed.training_state.progress
    assert progress["passes"] == 2 and progress["updates"] == 120


def test_bad_streams_are_errors_that_say_which_chunk(backend):
    X, Y = data([7, 5, 2], 10)
    net = fastbp.Network([7, 5, 2], backend=backend)
    before = net.flat.copy()
    with pytest.raises(TypeError, match="iterable"):
        fastbp.fit_stream(net, 3)
    with pytest.raises(TypeError, match="chunk 1 of chunks must be a pair"):
        fastbp.fit_stream(net, [(X, Y), X])
    with pytest.raises(ValueError, match="Y of chunk 1 has 9 rows but X has 10"):
        fastbp.fit_stream(net, [(X, Y), (X, Y[:9])])
    with pytest.raises(ValueError, match="no examples"):
        fastbp.fit_stream(net, [])
    with pytest.raises(TypeError, match="network must be a fastbp.Network"):
        fastbp.fit_stream("net", [(X, Y)])
    assert np.array_equal(net.flat, before)


class Overreaching:
    """An array-like whose row slices give more rows than asked for."""

    def __init__(self, array, extra):
        self.array, self.extra = array, extra
        self.shape, self.dtype = array.shape, array.dtype

    def __len__(self):
        return len(self.array)

    def __getitem__(self, rows):
        return self.array[rows.start : rows.stop + self.extra]


def test_an_array_like_whose_slices_overreach_is_refused(backend):
    X, Y = data([4, 1], 300)
    net = fastbp.Network([4, 3, 1], backend=backend)
    before = net.flat.copy()
    with pytest.raises(ValueError, match=r"X\[0:300\] gave 350 rows, not 300"):
        net.fit(_overreaching(X, 50), Y, epochs=1, sample_weight=np.ones(300))
    assert np.array_equal(net.flat, before)


def _overreaching(X, extra):
    padded = Overreaching(np.vstack([X, X[:extra]]), extra)
    padded.shape = X.shape
    return padded
