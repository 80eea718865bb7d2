"""Momentum, Nesterov and weight decay against torch.optim.SGD, and
Network.to_torch / from_torch (where torch is installed: `pip install
torch==2.13.0`, exactly that pin)."""

import numpy as np
import pytest
from conftest import data, relative_error

import fastbp

torch = pytest.importorskip("torch")


def torch_epoch(net, X, Y, lr, momentum, nesterov, weight_decay):
    """One in-order epoch of per-example SGD on the same tanh network in torch."""
    model = net.to_torch()
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    optimizer = torch.optim.SGD(  # fastbp decays weights, not biases
        [
            {"params": [m.weight for m in linears], "weight_decay": weight_decay},
            {"params": [m.bias for m in linears], "weight_decay": 0.0},
        ],
        lr=lr,
        momentum=momentum,
        nesterov=nesterov,
    )
    for x, y in zip(torch.from_numpy(X), torch.from_numpy(Y)):
        optimizer.zero_grad()
        loss = 0.5 * ((model(x) - y) ** 2).sum()  # the seed's squared error
        loss.backward()
        optimizer.step()
    return np.concatenate(
        [
            np.vstack([m.bias.detach().numpy()[None], m.weight.detach().numpy().T]).ravel()
            for m in linears
        ]
    )


@pytest.mark.parametrize(
    "momentum,nesterov,weight_decay",
    [(0.9, False, 0.0), (0.8, True, 0.0), (0.0, False, 0.01), (0.5, True, 0.003)],
)
def test_options_match_torch_optim_sgd(backend, momentum, nesterov, weight_decay):
    layers = [4, 6, 5, 2]
    net = fastbp.Network(layers, seed=21, backend=backend)
    X, Y = data(layers, 25, seed=22)
    expected = torch_epoch(net, X, Y, 0.05, momentum, nesterov, weight_decay)
    net.fit(
        X,
        Y,
        epochs=1,
        lr=0.05,
        shuffle=False,
        momentum=momentum,
        nesterov=nesterov,
        weight_decay=weight_decay,
    )
    assert relative_error(net.flat, expected) < 1e-12


# ---------------------------------------------------------------- to_torch, from_torch


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_to_torch_computes_the_same(dtype):
    net = fastbp.Network(
        [4, 6, 5, 3],
        hidden=["relu", "leaky_relu"],
        output="softmax",
        loss="cross_entropy",
        dtype=dtype,
        seed=2,
    )
    X = np.random.default_rng(0).normal(size=(10, 4)).astype(dtype)
    model = net.to_torch()
    assert [type(m).__name__ for m in model] == [
        "Linear",
        "ReLU",
        "Linear",
        "LeakyReLU",
        "Linear",
        "Softmax",
    ]
    with torch.no_grad():
        out = model(torch.from_numpy(X)).numpy()
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_allclose(out, net.predict(X), rtol=1e-12 if dtype == "float64" else 1e-5)


def test_from_torch_round_trip_and_training_matches():
    net = fastbp.Network([3, 5, 2], hidden="tanh", output="sigmoid", loss="cross_entropy", seed=1)
    again = fastbp.Network.from_torch(net.to_torch(), loss="cross_entropy", seed=1)
    assert again.layers == net.layers and again.hidden == net.hidden
    assert again.output == "sigmoid" and again.dtype == np.float64
    np.testing.assert_array_equal(again.flat, net.flat)
    X, Y = data([3, 5, 2], 20, seed=3, loss="cross_entropy", output="sigmoid")
    net.fit(X, Y, epochs=2, lr=0.1, seed=0)
    again.fit(X, Y, epochs=2, lr=0.1, seed=0)
    np.testing.assert_array_equal(again.flat, net.flat)


def test_from_torch_defaults_and_bias_free_layers():
    nn = torch.nn
    module = nn.Sequential(
        nn.Linear(2, 4, bias=False), nn.Identity(), nn.Linear(4, 3), nn.Softmax(dim=1)
    )
    net = fastbp.Network.from_torch(module)
    assert net.hidden == ("identity",) and net.loss_name == "cross_entropy"
    assert net.dtype == np.float32
    np.testing.assert_array_equal(net.weights[0][0], 0.0)
    squared = fastbp.Network.from_torch(nn.Sequential(nn.Linear(2, 1)))
    assert squared.layers == (2, 1) and squared.loss_name == "squared"


@pytest.mark.parametrize(
    "module, message",
    [
        (lambda nn: nn.Sequential(nn.Linear(2, 3), nn.Dropout(), nn.Linear(3, 1)), "Dropout"),
        (lambda nn: nn.Sequential(nn.Tanh(), nn.Linear(2, 1)), "begin with a Linear"),
        (lambda nn: nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.ReLU()), "out of place"),
        (lambda nn: nn.Sequential(nn.Linear(2, 3), nn.Linear(4, 1)), "takes 4 inputs"),
        (
            lambda nn: nn.Sequential(nn.Linear(2, 3), nn.LeakyReLU(0.2), nn.Linear(3, 1)),
            "negative_slope",
        ),
        (lambda nn: nn.Sequential(nn.Linear(2, 3), nn.Softmax(dim=0)), "dim=-1"),
        (
            lambda nn: nn.Sequential(nn.Linear(2, 3), nn.Softmax(dim=-1), nn.Linear(3, 1)),
            "last Linear",
        ),
        (lambda nn: nn.Sequential(), "no Linear"),
    ],
)
def test_from_torch_refuses_what_fastbp_cannot_hold(module, message):
    with pytest.raises(ValueError, match=message):
        fastbp.Network.from_torch(module(torch.nn))
    with pytest.raises(TypeError, match="Sequential"):
        fastbp.Network.from_torch(torch.nn.Linear(2, 1))
