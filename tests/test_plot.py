"""fastbp.plot draws without a display and leaves pyplot alone."""

import io

import numpy as np
import pytest
from conftest import run_python

import fastbp
from fastbp import demo, plot


def test_learning_curve_with_validation():
    X, y = demo.xor(100)
    net = fastbp.Network([2, 4, 1], output="sigmoid", loss="cross_entropy")
    history = net.fit(X, y, epochs=5, lr=0.1, validation_data=(X, y))
    ax = plot.learning_curve(history)
    assert [line.get_label() for line in ax.get_lines()] == ["training loss", "validation loss"]
    np.testing.assert_array_equal(ax.get_lines()[1].get_ydata(), history.val_loss)
    assert ax.get_yscale() == "log"


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_learning_curve_of_an_estimator_and_of_a_loss_curve():
    pytest.importorskip("sklearn")
    from fastbp.sklearn import MLPClassifier

    X, y = demo.xor(100)
    model = MLPClassifier(hidden_layer_sizes=(4,), max_iter=4, random_state=0).fit(X, y)
    for given in (model, model.loss_curve_):
        ax = plot.learning_curve(given)
        assert [line.get_label() for line in ax.get_lines()] == ["training loss"]
        np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), model.loss_curve_)


def test_decision_boundary_of_one_and_of_several_outputs():
    X, y = demo.xor(100)
    binary = fastbp.Network([2, 4, 1], output="sigmoid", loss="cross_entropy")
    classes = fastbp.Network([2, 4, 3], output="softmax", loss="cross_entropy")
    for net in (binary, classes):
        ax = plot.decision_boundary(net, X, y, resolution=30)
        assert ax.get_title() == "decision boundary" and len(ax.collections) >= 2
    with pytest.raises(ValueError, match="2 inputs"):
        plot.decision_boundary(fastbp.Network([3, 2, 1]), np.zeros((4, 3)), np.zeros(4))


def test_network_picture_shows_the_weights_and_deltas_of_each_layer():
    net = fastbp.Network([4, 5, 3, 2], seed=1)
    x, y = np.ones(4), np.zeros(2)
    figure = plot.network_picture(net, x, y)
    titles = [ax.get_title() for ax in figure.axes if ax.get_title()]
    assert titles == [
        "w_ij^(1)",
        "w_ij^(2)",
        "w_ij^(3)",
        "delta_j^(1)",
        "delta_j^(2)",
        "delta_j^(3)",
    ]
    deltas = net.backprop(x, y).deltas
    image = [ax for ax in figure.axes if ax.get_title() == "delta_j^(3)"][0].get_images()[0]
    np.testing.assert_array_equal(image.get_array()[0], deltas[2])
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    assert buffer.getvalue()[:4] == b"\x89PNG"


def test_plot_leaves_pyplot_alone():
    """Drawing and saving never imports matplotlib.pyplot (a fresh process)."""
    result = run_python(
        "-c",
        "import sys, numpy as np, fastbp\n"
        "from fastbp import demo, plot\n"
        "X, y = demo.xor(50)\n"
        "net = fastbp.Network([2, 3, 1], output='sigmoid', loss='cross_entropy')\n"
        "h = net.fit(X, y, epochs=2, lr=0.1)\n"
        "plot.learning_curve(h).figure.savefig('/dev/null', format='png')\n"
        "plot.decision_boundary(net, X, y, resolution=10)\n"
        "plot.network_picture(net, X[0], y[:1])\n"
        "print('matplotlib.pyplot' in sys.modules)",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
