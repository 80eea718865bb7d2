"""Momentum, Nesterov and weight decay against torch.optim.SGD (where torch
is installed: `pip install torch==2.13.0`, exactly that pin)."""

import numpy as np
import pytest

import fastbp

from conftest import data, relative_error

torch = pytest.importorskip("torch")


def torch_epoch(net, X, Y, lr, momentum, nesterov, weight_decay):
    """One in-order epoch of per-example SGD on the same tanh network in torch."""
    layers = []
    for l, W in enumerate(net.weights):
        linear = torch.nn.Linear(W.shape[0] - 1, W.shape[1], dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(W[1:].T.copy()))
            linear.bias.copy_(torch.from_numpy(W[0].copy()))
        layers += [linear, torch.nn.Tanh()] if l < len(net.weights) - 1 else [linear]
    model = torch.nn.Sequential(*layers)
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    optimizer = torch.optim.SGD(      # fastbp decays weights, not biases
        [{"params": [m.weight for m in linears], "weight_decay": weight_decay},
         {"params": [m.bias for m in linears], "weight_decay": 0.0}],
        lr=lr, momentum=momentum, nesterov=nesterov)
    for x, y in zip(torch.from_numpy(X), torch.from_numpy(Y)):
        optimizer.zero_grad()
        loss = 0.5 * ((model(x) - y) ** 2).sum()            # the seed's squared error
        loss.backward()
        optimizer.step()
    return np.concatenate([np.vstack([m.bias.detach().numpy()[None],
                                      m.weight.detach().numpy().T]).ravel() for m in linears])


@pytest.mark.parametrize("momentum,nesterov,weight_decay",
                         [(0.9, False, 0.0), (0.8, True, 0.0), (0.0, False, 0.01),
                          (0.5, True, 0.003)])
def test_options_match_torch_optim_sgd(backend, momentum, nesterov, weight_decay):
    layers = [4, 6, 5, 2]
    net = fastbp.Network(layers, seed=21, backend=backend)
    X, Y = data(layers, 25, seed=22)
    expected = torch_epoch(net, X, Y, 0.05, momentum, nesterov, weight_decay)
    net.fit(X, Y, epochs=1, lr=0.05, shuffle=False, momentum=momentum, nesterov=nesterov,
            weight_decay=weight_decay)
    assert relative_error(net.flat, expected) < 1e-12
