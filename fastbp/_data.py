"""Where a training pass reads its examples from: an array in memory, an
array-like read a chunk of rows at a time (np.memmap, h5py, zarr), or an
iterable of (X, Y) chunks.

Each source yields blocks (X, Y, sample weights or None, order, first) already
checked by the network (converted to its dtype, C-contiguous, finite), with
``order`` the rows of the block in the order to train on them and ``first``
the number of the block's first row in the whole data (for messages).  Only one block of an
out-of-core source is in memory at a time.
"""

import concurrent.futures
import mmap

import numpy as np

from . import _sparse

# Rows of an out-of-core array read, converted and trained on at a time:
# about this many bytes of inputs after conversion.
CHUNK_BYTES = 16 << 20


def out_of_core(X):
    """Whether ``X`` is read chunk by chunk: an np.memmap, or an array-like
    (not an ndarray, list or tuple) with a shape, a dtype and slicing."""
    if isinstance(X, np.memmap):
        return True
    if isinstance(X, (np.ndarray, list, tuple)) or _sparse.issparse(X):
        return False
    return all(hasattr(X, name) for name in ("shape", "dtype", "__getitem__"))


class InMemory:
    """Checked arrays in memory: one block, all rows."""

    def __init__(self, X, Y, weights):
        self.X, self.Y, self.weights = X, Y, weights
        self.n = X.shape[0]

    def blocks(self, rng):
        """The block, its rows permuted by ``rng`` (None: in order)."""
        order = np.arange(self.n) if rng is None else rng.permutation(self.n)
        yield self.X, self.Y, self.weights, order.astype(np.intp, copy=False), 0


class Chunked:
    """An array-like of rows read ``rows`` at a time; Y and the sample
    weights (an array, or None) are sliced alike."""

    def __init__(self, X, Y, weights, rows, check):
        self.X, self.Y, self.weights, self.rows, self.check = X, Y, weights, rows, check
        self.n = X.shape[0]

    def blocks(self, rng):
        """Two-level shuffle: the chunks in an order drawn from ``rng``, then
        the rows of each chunk (None: all in order).  A reader thread reads
        and checks the next chunk while the core trains on this one."""
        starts = np.arange(0, self.n, self.rows)
        if rng is not None:
            starts = rng.permutation(starts)
        with concurrent.futures.ThreadPoolExecutor(1, "fastbp-reader") as reader:
            coming = [reader.submit(self._read, start) for start in starts[:1].tolist()]
            for following in starts[1:].tolist() + [None]:
                start, X, Y, weights = coming.pop().result()
                if following is not None:
                    coming.append(reader.submit(self._read, following))
                order = np.arange(len(X)) if rng is None else rng.permutation(len(X))
                yield X, Y, weights, order.astype(np.intp, copy=False), start

    def _read(self, start):
        """Rows start:start + rows, checked, as (start, X, Y, weights)."""
        stop = min(start + self.rows, self.n)
        X, Y = self.check(self.X[start:stop], self.Y[start:stop], f"[{start}:{stop}]", stop - start)
        # a chunk already of the right dtype is a view of a memmap: copy it
        # out, so that its pages can be unmapped now
        X, Y = (
            np.array(a) if isinstance(source, np.ndarray) and np.may_share_memory(a, source) else a
            for a, source in ((X, self.X), (Y, self.Y))
        )
        _release(self.X, start, stop)
        _release(self.Y, start, stop)
        weights = None if self.weights is None else self.weights[start:stop]
        return start, X, Y, weights


class Stream:
    """An iterable of (X, Y) or (X, Y, sample_weight) chunks, read once."""

    def __init__(self, chunks, check, check_weights):
        try:
            self.chunks = iter(chunks)
        except TypeError:
            raise TypeError(
                f"chunks must be an iterable of (X, Y) pairs, got {type(chunks).__name__}"
            ) from None
        self.check, self.check_weights = check, check_weights

    def blocks(self, rng):
        """The chunks in their order, the rows of each permuted by ``rng``
        (None: in order)."""
        first = 0
        for number, chunk in enumerate(self.chunks):
            if not isinstance(chunk, (tuple, list)) or len(chunk) not in (2, 3):
                raise TypeError(
                    f"chunk {number} of chunks must be a pair (X, Y) or a triple "
                    f"(X, Y, sample_weight), got {type(chunk).__name__}"
                )
            X, Y = self.check(chunk[0], chunk[1], f" of chunk {number}")
            weights = self.check_weights(chunk[2] if len(chunk) == 3 else None, X.shape[0])
            n = X.shape[0]
            order = np.arange(n) if rng is None else rng.permutation(n)
            yield X, Y, weights, order.astype(np.intp, copy=False), first
            first += n


def _release(array, start, stop):
    """Unmap rows start:stop of a read-only or shared np.memmap from this
    process (they stay in the page cache), so that a pass over a file larger
    than memory keeps a small resident set."""
    buffer = getattr(array, "_mmap", None)
    if (
        not isinstance(array, np.memmap)
        or buffer is None
        or array.mode == "c"
        or not array.flags.c_contiguous
        or not hasattr(buffer, "madvise")
    ):
        return
    row = array.strides[0] if array.ndim else array.itemsize
    first = array.ctypes.data - np.frombuffer(buffer, np.uint8).ctypes.data + start * row
    low = first // mmap.PAGESIZE * mmap.PAGESIZE
    high = min(first + (stop - start) * row, len(buffer))
    if high > low:
        buffer.madvise(mmap.MADV_DONTNEED, low, high - low)
