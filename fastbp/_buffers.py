"""The buffers a network's numbers live in, and their per-layer views.

Every buffer the compiled core trains on (weights, velocity, average, the
threads' copies) starts on a cache line: a weight row that starts off a line
splits every other vector load across two lines.  Both backends see a
network's weights as one flat buffer of blocks W^(1..L), block l of shape
(d[l-1] + 1, d[l]), row 0 the bias weights.
"""

import numpy as np

# Bytes of a cache line: where the buffers start.
CACHE_LINE = 64


def zeros(size, dtype):
    """``size`` zeros of ``dtype`` that start on a cache line."""
    dtype = np.dtype(dtype)
    raw = np.zeros(size * dtype.itemsize + CACHE_LINE, dtype=np.uint8)
    start = -raw.ctypes.data % CACHE_LINE
    return raw[start : start + size * dtype.itemsize].view(dtype)


def copy(array):
    """A copy of a 1-D array that starts on a cache line (None stays None)."""
    if array is None:
        return None
    result = zeros(array.size, array.dtype)
    result[...] = array
    return result


def shapes(layers):
    """The shapes (d[l-1] + 1, d[l]) of the blocks W^(1..L)."""
    return [(d_in + 1, d_out) for d_in, d_out in zip(layers, layers[1:])]


def n_weights(layers):
    """The length of a flat buffer of ``layers``' weights."""
    return sum(rows * columns for rows, columns in shapes(layers))


def split(buffer, sizes):
    """Consecutive pieces of ``buffer`` of the given sizes (views)."""
    return np.split(buffer, np.cumsum(sizes)[:-1])


def blocks(buffer, layers):
    """The views W^(1..L) of a buffer laid out like a network's flat weights."""
    return [
        piece.reshape(shape)
        for piece, shape in zip(split(buffer, [a * b for a, b in shapes(layers)]), shapes(layers))
    ]


# initialise draws this many rows of a block at a time.
INIT_ROWS = 4096


def initialise(blocks, layers, activations, seed):
    """Seeded initial weights in the views ``blocks``: Xavier/Glorot uniform,
    He normal before "relu" and "leaky_relu" (``activations[l-1]`` is layer
    l's); zero biases.  Drawn in float64 and rounded, so float32 and float64
    networks of one seed start from the same weights up to rounding; drawn
    INIT_ROWS rows at a time (the same numbers as all at once), so that a
    large first layer needs no float64 copy of itself."""
    rng = np.random.default_rng(seed)
    for W, fan_in, fan_out, name in zip(blocks, layers, layers[1:], activations):
        W[0] = 0
        for start in range(1, fan_in + 1, INIT_ROWS):
            rows = W[start : start + INIT_ROWS]
            if name in ("relu", "leaky_relu"):
                rows[...] = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=rows.shape)
            else:
                limit = np.sqrt(6.0 / (fan_in + fan_out))
                rows[...] = rng.uniform(-limit, limit, size=rows.shape)
