"""A Network to and from a PyTorch ``nn.Sequential`` (torch is optional).

Layer l of the network is ``nn.Linear(d[l-1], d[l])`` with ``weight`` =
W^(l)[1:].T and ``bias`` = W^(l)[0], followed by its activation's module
(none for "identity").
"""

import numpy as np

from ._names import LEAKY_SLOPE


def _torch():
    try:
        import torch
    except ImportError as error:
        raise ImportError(
            'to_torch and from_torch need PyTorch: pip install "fastbp[torch]"'
        ) from error
    return torch


def _modules(torch):
    """fastbp's activation names and the torch modules for them (None: torch.nn
    has none; identity: no module, the Linear layer alone)."""
    nn = torch.nn
    return {
        "identity": None,
        "tanh": nn.Tanh,
        "sigmoid": nn.Sigmoid,
        "relu": nn.ReLU,
        "leaky_relu": lambda: nn.LeakyReLU(LEAKY_SLOPE),
        "softmax": lambda: nn.Softmax(dim=-1),
        "exp": None,
    }


def to_sequential(network):
    """The network as an ``nn.Sequential`` of float32 or float64 parameters."""
    torch = _torch()
    modules = _modules(torch)
    names = list(network.hidden) + [network.output]
    for name in names:
        if name != "identity" and modules[name] is None:
            raise ValueError(
                f"to_torch has no module for the activation {name!r} (torch.nn has none)"
            )
    layers = []
    for W, activation in zip(network.weights, names):
        linear = torch.nn.Linear(W.shape[0] - 1, W.shape[1], dtype=getattr(torch, W.dtype.name))
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(W[1:].T)))
            linear.bias.copy_(torch.from_numpy(W[0].copy()))
        layers.append(linear)
        if activation != "identity":
            layers.append(modules[activation]())
    return torch.nn.Sequential(*layers)


def _activation_of(module, torch):
    """fastbp's name for an activation module, or ValueError."""
    nn = torch.nn
    if isinstance(module, nn.Identity):
        return "identity"
    if isinstance(module, nn.LeakyReLU):
        if module.negative_slope != LEAKY_SLOPE:
            raise ValueError(
                f"LeakyReLU needs negative_slope={LEAKY_SLOPE} (fastbp's), got "
                f"{module.negative_slope}"
            )
        return "leaky_relu"
    if isinstance(module, nn.Softmax):
        if module.dim not in (-1, 1):
            raise ValueError(f"Softmax needs dim=-1 (over the outputs), got dim={module.dim}")
        return "softmax"
    for name, kind in (("tanh", nn.Tanh), ("sigmoid", nn.Sigmoid), ("relu", nn.ReLU)):
        if type(module) is kind:
            return name
    raise ValueError(
        f"module must be Linear layers each followed by at most one of Tanh, "
        f"Sigmoid, ReLU, LeakyReLU(0.01), Softmax(dim=-1) or Identity; got "
        f"{type(module).__name__}"
    )


def from_sequential(cls, module, loss=None, dtype=None, **kwargs):
    """The layers, activations and weights of ``module`` as a ``cls`` (Network)."""
    torch = _torch()
    if not isinstance(module, torch.nn.Sequential):
        raise TypeError(f"module must be a torch.nn.Sequential, got {type(module).__name__}")
    weights, activations = [], []
    for child in module:
        if isinstance(child, torch.nn.Linear):
            W = np.empty((child.in_features + 1, child.out_features))
            W[1:] = child.weight.detach().cpu().double().numpy().T
            W[0] = 0.0 if child.bias is None else child.bias.detach().cpu().double().numpy()
            weights.append((W, child.weight.dtype))
            activations.append("identity")
        elif not weights or activations[-1] != "identity":
            raise ValueError(
                f"module must begin with a Linear layer and have at most one "
                f"activation after each; {type(child).__name__} is out of place"
            )
        else:
            activations[-1] = _activation_of(child, torch)
    if not weights:
        raise ValueError("module has no Linear layer")
    layers = [weights[0][0].shape[0] - 1] + [W.shape[1] for W, _ in weights]
    for (W, _), d_in in zip(weights, layers):
        if W.shape[0] - 1 != d_in:
            raise ValueError(
                f"a Linear layer takes {W.shape[0] - 1} inputs where the one before gives {d_in}"
            )
    if "softmax" in activations[:-1]:
        raise ValueError("Softmax can only follow the last Linear layer")
    if dtype is None:
        dtype = "float64" if weights[0][1] == torch.float64 else "float32"
    if loss is None:
        loss = "cross_entropy" if activations[-1] == "softmax" else "squared"
    return cls(
        layers,
        hidden=activations[:-1],
        output=activations[-1],
        loss=loss,
        dtype=dtype,
        weights=[W for W, _ in weights],
        **kwargs,
    )
