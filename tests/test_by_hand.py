"""A network of layers [2, 2, 1] worked through by hand with the seed's sums.

Each quantity is computed with explicit loops over i and j exactly as the
seed writes it, and compared with fastbp to the last digit or two.
"""

import math

import numpy as np
import pytest

import fastbp

# w[l][i][j]: from node i of layer l-1 (i = 0 is the bias node) to node j + 1 of layer l
W1 = [[0.1, -0.2], [0.3, 0.4], [-0.5, 0.6]]
W2 = [[0.2], [0.7], [-0.3]]
X0 = [1.0, 0.5, -1.5]  # x^(0) with x_0 = 1
Y = 0.25
LR = 0.1


def by_hand():
    # forward: s_j^(l) = sum_{i=0..d[l-1]} w_ij^(l) x_i^(l-1), x_j^(l) = g(s_j^(l))
    s1 = [sum(W1[i][j] * X0[i] for i in range(3)) for j in range(2)]
    x1 = [1.0] + [math.tanh(s) for s in s1]
    s2 = [sum(W2[i][0] * x1[i] for i in range(3))]
    x2 = [s2[0]]  # identity output
    # base step (1): delta^(L) = (x - y) g'(s), g' = 1 for the identity
    e = 0.5 * (x2[0] - Y) ** 2
    delta2 = [(x2[0] - Y) * 1.0]
    # induction step (2): delta_i^(l-1) = g'(s_i^(l-1)) sum_j w_ij^(l) delta_j^(l)
    delta1 = [(1 - x1[i] ** 2) * sum(W2[i][j] * delta2[j] for j in range(1)) for i in (1, 2)]
    # de/dw_ij^(l) = x_i^(l-1) delta_j^(l)
    g1 = [[X0[i] * delta1[j] for j in range(2)] for i in range(3)]
    g2 = [[x1[i] * delta2[j] for j in range(1)] for i in range(3)]
    return s1, x1[1:], s2, x2, delta1, delta2, g1, g2, e


def network(backend):
    return fastbp.Network(
        [2, 2, 1],
        hidden="tanh",
        output="identity",
        loss="squared",
        backend=backend,
        weights=[W1, W2],
    )


def test_the_sums_come_out_as_on_paper():
    s1, x1, s2, *_ = by_hand()
    # 0.1 + 0.3 * 0.5 - 0.5 * -1.5 = 1.0 and -0.2 + 0.4 * 0.5 + 0.6 * -1.5 = -0.9
    assert s1 == pytest.approx([1.0, -0.9], abs=1e-15)
    assert x1 == pytest.approx([0.7615941559557649, -0.7162978701990245], abs=1e-15)
    assert s2[0] == pytest.approx(0.2 + 0.7 * x1[0] - 0.3 * x1[1], abs=1e-15)


def test_backprop_matches_the_hand_computation(backend):
    s1, x1, s2, x2, delta1, delta2, g1, g2, e = by_hand()
    result = network(backend).backprop([0.5, -1.5], Y)
    tight = dict(rel=1e-15, abs=1e-16)
    assert result.signals[0] == pytest.approx(s1, **tight)
    assert result.signals[1] == pytest.approx(s2, **tight)
    assert result.outputs[0] == pytest.approx([0.5, -1.5], **tight)
    assert result.outputs[1] == pytest.approx(x1, **tight)
    assert result.outputs[2] == pytest.approx(x2, **tight)
    assert result.deltas[0] == pytest.approx(delta1, **tight)
    assert result.deltas[1] == pytest.approx(delta2, **tight)
    assert result.gradients[0] == pytest.approx(np.array(g1), **tight)
    assert result.gradients[1] == pytest.approx(np.array(g2), **tight)
    assert result.error == pytest.approx(e, **tight)


def test_sgd_step_matches_the_hand_update(backend):
    *_, g1, g2, e = by_hand()
    net = network(backend)
    assert net.sgd_step([0.5, -1.5], Y, LR) == pytest.approx(e, rel=1e-15)
    # w_ij^(l) <- w_ij^(l) - lr x_i^(l-1) delta_j^(l)
    new1 = [[W1[i][j] - LR * g1[i][j] for j in range(2)] for i in range(3)]
    new2 = [[W2[i][j] - LR * g2[i][j] for j in range(1)] for i in range(3)]
    assert net.weights[0] == pytest.approx(np.array(new1), rel=1e-15, abs=1e-16)
    assert net.weights[1] == pytest.approx(np.array(new2), rel=1e-15, abs=1e-16)
