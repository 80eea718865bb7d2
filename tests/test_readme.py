"""The code of README.md and docs/ runs as written."""

import os
import re
import shlex
import subprocess
import sys

import pytest
from conftest import run_python

import fastbp

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(TOP, "README.md")
DOCS = os.path.join(TOP, "docs")


def python_blocks(path):
    with open(path) as file:
        return "\n".join(re.findall(r"```python\n(.*?)```", file.read(), re.S))


compiled = pytest.mark.compiled


def test_api_tour_runs(backend, tmp_path):
    tour = python_blocks(README)
    code = f"import os; os.chdir({str(tmp_path)!r})\n" + tour + "\nprint(net.backend, same.backend)"
    result = run_python("-c", code, FASTBP_BACKEND=backend)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split() == [backend, backend]
    assert os.path.exists(tmp_path / "xor.npz")


# sklearn-and-dask.md and sparse.md train at text scale, too slow for the
# reference backend: the compiled core runs them
@pytest.mark.parametrize(
    "page",
    [
        "scale.md",
        pytest.param("sklearn-and-dask.md", marks=compiled),
        pytest.param("sparse.md", marks=compiled),
        "online.md",
    ],
)
def test_the_code_of_the_docs_runs(page, tmp_path):
    """As written and without a warning: a reader who copies it sees none."""
    code = (
        f"import os; os.chdir({str(tmp_path)!r})\n"
        + python_blocks(os.path.join(DOCS, page))
        # an example that trains on constant targets shows no learning
        + "\nimport numpy\nfor _name in ('y', 'Y'):\n    if _name in globals():\n"
        "        print(_name, 'varies', len(numpy.unique(numpy.asarray(globals()[_name])))"
        " > 1)\n"
    )
    # where fastbp runs without its core (an install with no compiler), a
    # request for threads warns that the reference backend runs serially
    serial = ["-W", "ignore:n_threads=:RuntimeWarning"] if fastbp.BACKEND == "reference" else []
    result = run_python("-W", "error::Warning", *serial, "-c", code)
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr, result.stderr
    assert "varies False" not in result.stdout


@pytest.mark.compiled
def test_command_line_example_runs(tmp_path):
    """The shell commands of docs/command-line.md, in order, in an empty
    folder, on the fastbp under test."""
    with open(os.path.join(DOCS, "command-line.md")) as file:
        section = file.read()
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    commands = [block.strip().splitlines() for block in blocks]
    assert [len(block) for block in commands] == [6, 3]
    assert all(block[0].startswith("python -c") for block in commands)
    commands = commands[0] + commands[1]
    home = os.path.dirname(os.path.dirname(os.path.abspath(fastbp.__file__)))
    environment = dict(
        os.environ, PYTHONPATH=os.pathsep.join(filter(None, [home, os.environ.get("PYTHONPATH")]))
    )
    outputs = []
    for command in commands:
        words = shlex.split(command)
        args = words[1:] if words[0] == "python" else ["-m", "fastbp", *words[1:]]
        result = subprocess.run(
            [sys.executable, *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=environment,
            timeout=300,
        )
        assert result.returncode == 0, (command, result.stderr)
        outputs.append(result.stdout)
    assert "accuracy" in outputs[1].splitlines()[-1] and "saved iris.npz" in outputs[1]
    assert float(outputs[2].split("accuracy")[1]) > 0.9
    header = (tmp_path / "predictions.csv").read_text().splitlines()[0]
    assert header == "species,p(setosa),p(versicolor),p(virginica)"
    assert outputs[5].splitlines()[-1].startswith("verdict: PASS")
    assert "1797 examples of 64 inputs" in outputs[7]  # digits.svm, sparse
    assert float(outputs[8].split("accuracy")[1]) > 0.9


def test_the_readme_says_what_the_install_costs_and_what_the_tests_need():
    # the tests that need torch name it in the README, and the build time of
    # the copies of the core that setup.py compiles is stated
    from fastbp._backend import ISA_MODULES

    with open(README) as file:
        readme = file.read()
    needs_torch = [
        name
        for name in os.listdir(os.path.dirname(__file__))
        if name.endswith(".py")
        and 'importorskip("torch")' in open(os.path.join(os.path.dirname(__file__), name)).read()
    ]
    assert needs_torch and "pip install torch==2.13.0" in readme
    assert "every test" not in readme
    assert len(ISA_MODULES) == 3 and "compiles the core three times" in readme
    assert re.search(r"expect\s+1 to 4\s+minutes", readme)
    # the tour's rate, on 4 examples an epoch, is said to be its fixed cost's
    tour_rate = next(line for line in readme.splitlines() if "examples_per_second[-1]" in line)
    assert "4 examples an epoch" in tour_rate
