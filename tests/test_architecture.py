"""docs/architecture.md's lists of the places to touch to add an activation,
an optimizer or a loss: each place names every entry of its list, and each
entry runs on both backends alike.  A place left out of a new entry fails
here (in Python code a place names an entry as its string, "leaky_relu"; in
the core as its C enum, LEAKY_RELU)."""

import ast
import re
from pathlib import Path

import numpy as np
import pytest

import fastbp
from fastbp import _names

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
LISTS = {"activation": "ACTIVATIONS", "optimizer": "OPTIMIZERS", "loss": "LOSSES"}
PLACE = re.compile(r"^\d+\. `(?P<path>[^`]+)` `(?P<symbol>\w+)`", re.MULTILINE)


def places(kind):
    """The numbered (path, symbol) places of the list "To add a(n) <kind>"."""
    section = re.split(rf"^### To add an? {kind}\n", DOC.read_text(), flags=re.MULTILINE)[1]
    section = re.split(r"^##", section, flags=re.MULTILINE)[0]
    return PLACE.findall(section)


def definition(path, symbol):
    """The text of ``symbol``'s definition in ``path``: the line that
    defines it (def, cdef, class, an enum, an assignment) and the lines
    under it (indented further, or its closing brackets)."""
    lines = (ROOT / path).read_text().splitlines()
    head = re.compile(
        rf"^(\s*)(?:(?:c?p?def|cdef|class)\b[^=]*?\b{symbol}\s*[(:]"
        rf"|{symbol}\s*=)"
    )
    starts = [i for i, line in enumerate(lines) if head.match(line)]
    assert len(starts) == 1, f"{path}: {symbol} defined {len(starts)} times, not once"
    first = starts[0]
    indent = len(head.match(lines[first]).group(1))
    end = first + 1
    while end < len(lines):
        line = lines[end]
        depth = len(line) - len(line.lstrip())
        if line.strip() and depth <= indent and line.strip()[0] not in ")]}":
            break
        end += 1
    return "\n".join(lines[first:end])


def names_in(text, path, names):
    """The names of ``names`` that ``text`` (from ``path``) does not name."""
    if path.endswith(".py"):
        forms = {name: re.escape(f'"{name}"') for name in names}
    else:
        forms = {name: rf"\b{name.upper()}\b" for name in names}
    return [name for name, form in forms.items() if not re.search(form, text)]


@pytest.mark.parametrize("kind", sorted(LISTS))
def test_every_place_of_a_list_names_every_entry(kind):
    names = getattr(_names, LISTS[kind])
    found = places(kind)
    assert len(found) >= 5, found
    missing = {
        f"{path} {symbol}": left
        for path, symbol in found
        if (left := names_in(definition(path, symbol), path, names))
    }
    assert not missing, f"places that leave out entries of {LISTS[kind]}: {missing}"


def test_a_place_that_leaves_an_entry_out_fails(tmp_path):
    """The mutation: one place without "exp", and the check finds it."""
    text = definition("fastbp/reference.py", "_g")
    assert not names_in(text, "fastbp/reference.py", _names.ACTIVATIONS)
    mutated = text.replace('if name == "exp":', "if False:")
    assert names_in(mutated, "fastbp/reference.py", _names.ACTIVATIONS) == ["exp"]
    enum = definition("fastbp/_declarations.pxi", "Activation")
    assert names_in(enum.replace("    EXP = 6", ""), "x.pxi", _names.ACTIVATIONS) == ["exp"]


# ------------------------------------------------------ each entry, both backends

X = np.random.default_rng(0).uniform(-1, 1, size=(12, 3))


def _agree(make, fit=None):
    """The gradient (and, with ``fit``, the weights after it) of the network
    ``make(backend)`` on both backends, within 1e-12."""
    nets = {backend: make(backend) for backend in ("compiled", "reference")}
    outputs = {}
    for backend, (net, Y) in nets.items():
        if fit:
            fit(net, Y)
        outputs[backend] = np.concatenate([g.ravel() for g in net.gradient(X, Y)] + [net.flat])
    np.testing.assert_allclose(outputs["compiled"], outputs["reference"], rtol=1e-12, atol=1e-12)
    return outputs["compiled"]


def _targets(loss, width):
    rng = np.random.default_rng(1)
    if loss == "cross_entropy":
        return (
            np.eye(width)[rng.integers(width, size=len(X))]
            if width > 1
            else rng.integers(2, size=(len(X), 1)).astype(float)
        )
    return rng.uniform(0, 2, size=(len(X), width))


@pytest.mark.compiled
@pytest.mark.parametrize("activation", _names.ACTIVATIONS)
def test_every_activation_trains_alike_on_both_backends(activation):
    if activation in _names.HIDDEN_ACTIVATIONS:
        spec = {"hidden": activation, "output": "identity", "loss": "squared"}
    else:
        loss = next(loss for loss, outputs in _names.LOSS_OUTPUTS.items() if activation in outputs)
        spec = {"hidden": "tanh", "output": activation, "loss": loss}
    Y = _targets(spec["loss"], 2)
    _agree(
        lambda backend: (fastbp.Network([3, 4, 2], seed=2, backend=backend, **spec), Y),
        lambda net, Y: net.fit(X, Y, epochs=2, lr=0.05, seed=0),
    )


@pytest.mark.compiled
@pytest.mark.parametrize("loss", _names.LOSSES)
def test_every_loss_trains_alike_on_both_backends(loss):
    output = _names.LOSS_OUTPUTS.get(loss, ("identity",))[0]
    Y = _targets(loss, 1)
    _agree(
        lambda backend: (
            fastbp.Network([3, 4, 1], output=output, loss=loss, seed=2, backend=backend),
            Y,
        ),
        lambda net, Y: net.fit(X, Y, epochs=2, lr=0.05, seed=0),
    )


@pytest.mark.compiled
@pytest.mark.parametrize("optimizer", _names.OPTIMIZERS)
def test_every_optimizer_trains_alike_on_both_backends(optimizer):
    Y = _targets("squared", 2)
    before = fastbp.Network([3, 4, 2], seed=2).flat.copy()
    after = _agree(
        lambda backend: (fastbp.Network([3, 4, 2], seed=2, backend=backend), Y),
        lambda net, Y: net.fit(X, Y, epochs=2, lr=0.01, seed=0, optimizer=optimizer),
    )
    assert not np.array_equal(after[-len(before) :], before)


def test_no_module_but_network_py_reads_a_networks_own_attributes():
    """Training, persistence, the backends and the integrations get what they
    need of a Network as its Model (fastbp.network.model_of), not by reading
    its private attributes: a name that holds a Network (network, net, a
    learner's _network, an estimator's network_, a Model's network) is
    followed by no ._name outside network.py."""
    receiver = r"\b(?:network|net|self\._network|self\.network_|model\.network)\._\w+"
    found = []
    for path in sorted((ROOT / "fastbp").glob("*.p*")):
        if path.name == "network.py" or path.suffix not in (".py", ".pyx", ".pxi"):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(receiver, line):
                found.append(f"{path.name}:{number}: {line.strip()}")
    assert not found, "\n".join(found)


MAX_MODULE_LINES = 700
MAX_NETWORK_LINES = 350


def test_modules_and_the_network_class_stay_small():
    """No module of fastbp/ over MAX_MODULE_LINES lines, and the Network
    class (network.py; its training methods are _training_methods.py's)
    at most MAX_NETWORK_LINES: past those, a module holds more than one idea."""
    long = {
        path.name: n
        for path in sorted((ROOT / "fastbp").glob("*.p*"))
        if path.suffix in (".py", ".pyx", ".pxi")
        and (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"
    tree = ast.parse((ROOT / "fastbp" / "network.py").read_text())
    (network,) = [node for node in tree.body if getattr(node, "name", None) == "Network"]
    length = network.end_lineno - network.lineno + 1
    assert length <= MAX_NETWORK_LINES, f"the Network class has {length} lines"
