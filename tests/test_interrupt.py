"""Ctrl-C during fit: a quick stop, KeyboardInterrupt, consistent weights."""

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import data

import fastbp

TRAIN_UNTIL_INTERRUPTED = """
import signal
import sys
import numpy as np
import fastbp
# Python's own handler even where this child inherits SIGINT ignored (as a
# background job of a non-interactive shell, such as a CI script's, does)
signal.signal(signal.SIGINT, signal.default_int_handler)
net = fastbp.Network([784, 256, 256, 10], backend=sys.argv[1])
rng = np.random.default_rng(0)
X, Y = rng.normal(size=(20000, 784)), rng.normal(size=(20000, 10))
print("training", flush=True)
try:
    net.fit(X, Y, epochs=1000, lr=1e-4)
except KeyboardInterrupt:
    print("interrupted", bool(np.isfinite(net.flat).all()), flush=True)
"""


def _interrupted(script, backend, line, wait):
    """Seconds from Ctrl-C to the end of a child running ``script``, sent
    ``wait`` seconds after it printed ``line``; it must end well, printing
    that the interrupt left finite weights."""
    home = os.path.dirname(os.path.dirname(os.path.abspath(fastbp.__file__)))
    child = subprocess.Popen(
        [sys.executable, "-c", script, backend],
        cwd=home,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == line
        time.sleep(wait)
        sent = time.perf_counter()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=30)
        took = time.perf_counter() - sent
    finally:
        child.kill()
    assert child.returncode == 0, err
    assert out.strip() == "interrupted True"
    return took


def test_ctrl_c_stops_fit_quickly_with_consistent_weights(backend):
    took = _interrupted(TRAIN_UNTIL_INTERRUPTED, backend, "training", 1.0)  # into epoch 1
    assert took < 1.0, took


@pytest.mark.compiled
def test_chunk_sizes_follow_the_measured_rate(monkeypatch):
    """After the first chunk, each is sized from the rows the last one ran
    and how long they took: an epoch of 100,000 quick examples takes a few
    chunks, not one per example."""
    import fastbp._parallel

    asked = []
    real = fastbp._parallel.chunk_rows
    monkeypatch.setattr(
        fastbp._parallel, "chunk_rows", lambda *args: asked.append(real(*args)) or asked[-1]
    )
    X, Y = data([8, 4, 1], 100_000)
    fastbp.Network([8, 4, 1]).fit(X, Y, epochs=1, lr=0.01)
    assert asked[0] == fastbp._passes.FIRST_CHUNK
    assert len(asked) < 40 and min(asked[:-1]) >= fastbp._passes.FIRST_CHUNK


STREAM_UNTIL_INTERRUPTED = """
import signal
import sys
import threading
import numpy as np
import fastbp
signal.signal(signal.SIGINT, signal.default_int_handler)
rng = np.random.default_rng(0)

def chunks():
    yield rng.normal(size=(50, 4)), rng.normal(size=(50, 1))
    print("waiting", flush=True)
    threading.Event().wait()              # a queue.get() that never returns
    yield rng.normal(size=(50, 4)), rng.normal(size=(50, 1))

net = fastbp.Network([4, 3, 1], backend=sys.argv[1])
try:
    fastbp.fit_stream(net, chunks(), lr=0.01)
except KeyboardInterrupt:
    print("interrupted", bool(np.isfinite(net.flat).all()), flush=True)
"""


def test_ctrl_c_is_not_held_while_the_stream_makes_its_next_chunk(backend):
    # only the core's training of a chunk holds Ctrl-C back, not the
    # caller's generator: one that blocks for ever could not be interrupted
    took = _interrupted(STREAM_UNTIL_INTERRUPTED, backend, "waiting", 0.2)
    assert took < 2.0, took
