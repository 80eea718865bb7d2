"""An installed wheel's smoke test (.ci/wheels, and cibuildwheel's
test-command), run in a fresh venv with the wheel installed:

    python .ci/smoke.py [--no-compiler]

The install holds its licence, its three copies of the core without debug
information and no generated C; fastbp imports its compiled core (the
widest copy this CPU runs) and trains XOR on it to the reference backend's
weights.  With --no-compiler, also that no C compiler is on the PATH."""

import importlib.metadata
import re
import shutil
import subprocess
import sys

import numpy as np

import fastbp

files = importlib.metadata.files("fastbp")
names = [str(file) for file in files]
assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names), names
assert not [name for name in names if name.endswith((".c", ".pyx", ".pxi"))], names
cores = [file for file in files if re.fullmatch(r"fastbp/_core\w*\..*\.so", str(file))]
assert len(cores) == 3, cores
for core in cores:  # stripped: no .debug_info section in the file
    assert b".debug_info" not in core.locate().read_bytes(), core

if "--no-compiler" in sys.argv:
    assert not [cc for cc in ("cc", "gcc", "clang") if shutil.which(cc)], "a compiler is here"
assert fastbp.BACKEND == "compiled", fastbp.BACKEND
info = subprocess.run(["fastbp", "info"], capture_output=True, text=True, check=True).stdout
isa, runs = re.search(
    r"instruction set: (\w+) \(this CPU runs the copies built for "
    r"([\w, ]+);",
    info,
).groups()
assert isa == runs.split(", ")[0], info  # the widest copy this CPU runs

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
Y = np.array([[0], [1], [1], [0]], dtype=float)
compiled = fastbp.Network([2, 4, 1], seed=0)
reference = fastbp.Network([2, 4, 1], seed=0, backend="reference")
for net in (compiled, reference):
    net.fit(X, Y, epochs=200, lr=0.1, seed=0)
assert np.max(np.abs(compiled.flat - reference.flat)) < 1e-12
assert compiled.loss(X, Y) < 1e-6, compiled.loss(X, Y)
print(
    f"fastbp {fastbp.__version__}, Python {sys.version.split()[0]}: the compiled core's "
    f"{isa} copy trains XOR as the reference does"
)
