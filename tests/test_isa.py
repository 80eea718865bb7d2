"""The copies of the compiled core for each instruction set (setup.py builds
the baseline, AVX2 and AVX-512 ones on x86-64; fastbp runs the widest the
CPU takes, FASTBP_ISA forces one): each equals the reference backend."""

import platform
import re

import pytest
from conftest import run_python

pytestmark = pytest.mark.compiled

# Trains compiled and reference networks alike on float64 and prints the
# largest relative difference of their weights (and of a gradient), then the
# largest error of the float32 tanh in ulps.
SCRIPT = """
import numpy as np
from scipy import sparse
import fastbp

def error(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))

rng = np.random.default_rng(0)
X, Y = rng.normal(size=(120, 7)), 0.5 * rng.normal(size=(120, 3))
cases = [dict(), dict(momentum=0.9, nesterov=True), dict(weight_decay=1e-3, clip=0.5),
         dict(optimizer="adam"), dict(optimizer="adagrad"), dict(batch_size=8, momentum=0.5),
         dict(lr_schedule="invscaling", power_t=0.5, average=10)]
worst = 0.0
# the last: a tiny network, whose plain SGD runs in vector registers
for layers, hidden in (([7, 9, 3], ["tanh"]), ([7, 9, 9, 3], ["relu", "sigmoid"]),
                       ([3, 4, 3], ["tanh"])):
    for options in cases:
        for inputs in (X, sparse.csr_matrix(np.where(np.abs(X) > 1, X, 0))):
            if sparse.issparse(inputs) and ("average" in options or "batch_size" in options):
                continue
            inputs = inputs[:, :layers[0]]
            nets = [fastbp.Network(layers, hidden=hidden, seed=1, backend=backend)
                    for backend in ("compiled", "reference")]
            for net in nets:
                net.fit(inputs, Y, epochs=2, lr=0.01, seed=2, **options)
            worst = max(worst, error(nets[0].flat, nets[1].flat))
            worst = max(worst, max(error(a, b) for a, b in
                                   zip(nets[0].gradient(inputs, Y), nets[1].gradient(inputs, Y))))
# float32 tanh (its own code in each copy: with or without fused
# multiply-adds) against numpy's in float64, in units of float32's eps
s = np.concatenate([np.linspace(-12, 12, 200001), np.geomspace(1e-30, 12, 20001)])
s = s[s != 0].astype(np.float32).astype(np.float64)
net = fastbp.Network([1, 1], hidden=[], output="tanh", dtype="float32",
                     weights=[[[0.0], [1.0]]])
ulps = np.abs(net.predict(s[:, None])[:, 0] - np.tanh(s)) / np.abs(np.tanh(s))
print(worst, float(np.max(ulps)) / np.finfo(np.float32).eps)
"""


def _info(**environment):
    result = run_python("-m", "fastbp", "info", **environment)
    assert result.returncode == 0, result.stderr
    running, copies = re.search(
        r"instruction set: (\w+) \(this CPU runs the copies built "
        r"for ([\w, ]+);",
        result.stdout,
    ).groups()
    return running, copies.split(", ")


def test_the_widest_copy_runs_and_the_baseline_is_there():
    running, copies = _info(FASTBP_ISA="")
    assert running == copies[0]
    if running != "native":  # FASTBP_NATIVE=1 builds one copy
        assert copies[-1] == "baseline"
        if platform.machine().lower() in ("x86_64", "amd64"):
            assert set(copies) <= {"avx512", "avx2", "baseline"}


@pytest.mark.parametrize("isa", ["avx512", "avx2", "baseline"])
def test_every_copy_this_cpu_runs_equals_the_reference(isa):
    running, copies = _info(FASTBP_ISA="")
    if isa not in copies:
        # only a copy this CPU cannot run (or a native build's) is missing:
        # the default build carries every copy its compiler takes
        result = run_python("-c", "import fastbp", FASTBP_ISA=isa)
        assert result.returncode != 0
        assert (
            "this CPU does not run it" in result.stderr
            or "built for its machine alone" in result.stderr
        ), result.stderr
        return
    assert _info(FASTBP_ISA=isa)[0] == isa
    result = run_python("-c", SCRIPT, FASTBP_ISA=isa)
    assert result.returncode == 0, result.stderr
    training, tanh_ulps = map(float, result.stdout.split())
    assert training < 1e-12
    assert tanh_ulps <= 4


def test_an_unknown_instruction_set_is_refused_at_import():
    result = run_python("-c", "import fastbp", FASTBP_ISA="sse9")
    assert result.returncode != 0
    assert "FASTBP_ISA must be one of avx512, avx2, baseline, got 'sse9'" in result.stderr


def test_a_copy_the_cpu_cannot_run_refuses_to_import():
    # valgrind's CPU runs AVX2 but not AVX-512: importing the AVX-512 copy
    # there is an ImportError, where its first call died of SIGILL
    import importlib.util
    import shutil
    import subprocess
    import sys

    if importlib.util.find_spec("fastbp._core_avx512") is None:
        pytest.fail("fastbp._core_avx512 was not built here")
    valgrind = shutil.which("valgrind")
    assert valgrind, "valgrind runs the core on a CPU without AVX-512; install it"
    script = (
        "import numpy as np\n"
        "try:\n"
        "    import fastbp._core_avx512 as core\n"
        "except ImportError as error:\n"
        "    print('refused:', error)\n"
        "else:\n"
        "    core.all_finite(np.ones(1000), 1)\n"
        "    print('ran')\n"
    )
    emulated = [valgrind, "-q", "--tool=none", sys.executable]  # a CPU without AVX-512
    result = subprocess.run(emulated + ["-c", script], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith(
        "refused: fastbp._core_avx512 is the core built for avx512, which this CPU does not run"
    ), result.stdout
    # and FASTBP_ISA=avx512 there: from the command line, one line and exit 2
    import os

    command = subprocess.run(
        emulated + ["-m", "fastbp", "info"],
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, FASTBP_ISA="avx512"),
    )
    assert command.returncode == 2, command.stderr[-2000:]
    assert command.stderr.startswith(
        "fastbp: error: FASTBP_ISA=avx512, but this CPU does not run it"
    ), command.stderr[-2000:]
    assert len(command.stderr.strip().splitlines()) == 1
