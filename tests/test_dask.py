"""fastbp.dask on a real local cluster (two worker processes, one thread
each), and the scikit-learn estimators in Dask's hyperparameter tools."""

import dask
import dask.array as da
import joblib
import numpy as np
import psutil
import pytest
from dask_ml.wrappers import Incremental
from distributed import Client, LocalCluster
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
from sklearn.utils import compute_sample_weight

import fastbp
import fastbp.dask
from fastbp.sklearn import MLPClassifier, MLPRegressor

# Short fits stop at max_iter on purpose; scikit-learn warns of that.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def client():
    """A two-worker cluster for the module; afterwards no process of it is left."""
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, dashboard_address=":0", processes=True
        ) as cluster,
        Client(cluster) as client,
    ):
        assert len(client.scheduler_info()["workers"]) == 2
        yield client
    # (multiprocessing's resource tracker is Python's, not the cluster's: it
    # lives as long as this process)
    left = [
        p
        for p in psutil.Process().children(recursive=True)
        if p.pid not in before and "multiprocessing.resource_tracker" not in " ".join(p.cmdline())
    ]
    _, alive = psutil.wait_procs(left, timeout=10)
    assert not alive, f"processes left behind: {alive}"


def _problem(n=4000, seed=0):
    X, y = make_classification(
        n_samples=n, n_features=20, n_informative=10, n_classes=3, random_state=seed
    )
    return X[: n * 3 // 4], y[: n * 3 // 4], X[n * 3 // 4 :], y[n * 3 // 4 :]


def _on_cluster(client, *arrays, rows=500):
    return client.persist([da.from_array(a, chunks=(rows,) + a.shape[1:]) for a in arrays])


def test_model_averaging_is_as_accurate_as_one_process(client):
    """2 workers, 10 rounds of 2 local epochs against 20 epochs in one process."""
    X, y, X_test, y_test = _problem()
    dX, dy = _on_cluster(client, X, y)
    options = dict(hidden_layer_sizes=(16,), random_state=0, learning_rate_init=0.01)
    averaged = fastbp.dask.fit(MLPClassifier(**options), dX, dy, rounds=10, local_epochs=2)
    single = MLPClassifier(max_iter=20, tol=0.0, **options).fit(X, y)
    assert single.score(X_test, y_test) > 0.85
    assert averaged.score(X_test, y_test) >= single.score(X_test, y_test) - 0.02
    assert averaged.n_iter_ == 20 and averaged.t_ == 20 * len(y)
    assert len(averaged.loss_curve_) == 10 and averaged.loss_curve_[-1] < averaged.loss_curve_[0]
    assert_array_equal(averaged.classes_, [0, 1, 2])


def test_a_round_is_the_weighted_mean_of_the_workers_copies(client):
    """Each worker's copy is trained as Network.fit would train it on that
    worker's examples; the round's weights are their mean weighted by examples."""
    X, y, _, _ = _problem(n=1600)
    Y = np.eye(3)[y]
    dX, dY = _on_cluster(client, X, Y, rows=300)  # 4 blocks over 2 workers
    net = fastbp.Network([20, 8, 3], output="softmax", loss="cross_entropy", seed=4)
    shares = fastbp.dask._gather_on_workers(client, dX, dY, None)
    assert sum(size for _, _, size in shares) == len(y)
    options = dict(lr=0.02, momentum=0.5)
    flat, loss = fastbp.dask._round(client, net, shares, 2, 7, 3, options)
    copies, sizes, losses = [], [], []
    for k, (_, share, size) in enumerate(shares):
        Xk, Yk, _ = share.result()  # (in this test only) to the client
        copy = fastbp.Network([20, 8, 3], output="softmax", loss="cross_entropy", seed=4)
        history = copy.fit(Xk, Yk, epochs=2, seed=fastbp.dask._seed_of(7, 3, k), **options)
        copies.append(copy.flat)
        sizes.append(size)
        losses.append(history.loss[-1])
    assert_allclose(flat, np.average(copies, axis=0, weights=sizes), rtol=1e-12)
    assert_allclose(loss, np.average(losses, weights=sizes), rtol=1e-12)


def test_one_block_is_one_worker_training_locally(client):
    X, y, _, _ = _problem(n=800)
    Y = np.eye(3)[y]
    dX, dY = _on_cluster(client, X, Y, rows=len(X))
    net = fastbp.Network([20, 6, 3], output="softmax", loss="cross_entropy", seed=1)
    local = fastbp.Network([20, 6, 3], output="softmax", loss="cross_entropy", seed=1)
    fastbp.dask.fit(net, dX, dY, rounds=1, local_epochs=3, seed=5, lr=0.05, batch_size=4)
    local.fit(X, Y, epochs=3, seed=fastbp.dask._seed_of(5, 0, 0), lr=0.05, batch_size=4)
    assert_array_equal(net.flat, local.flat)


def test_sparse_blocks_train_as_in_one_process(client):
    """Blocks of scipy.sparse CSR rows (a worker's blocks stacked into one
    CSR matrix there) train as the same rows dense."""
    from scipy import sparse

    X, y, _, _ = _problem(n=800)
    X[np.abs(X) < 1.0] = 0.0  # mostly zeros
    Y = np.eye(3)[y]
    dX = client.persist(da.from_array(X, chunks=(400, 20)).map_blocks(sparse.csr_matrix))
    dY = client.persist(da.from_array(Y, chunks=(400, 3)))
    net = fastbp.Network([20, 6, 3], output="softmax", loss="cross_entropy", seed=1)
    fastbp.dask.fit(net, dX, dY, rounds=1, local_epochs=2, seed=5, lr=0.05)
    dense = fastbp.Network([20, 6, 3], output="softmax", loss="cross_entropy", seed=1)
    fastbp.dask.fit(
        dense,
        client.persist(da.from_array(X, chunks=(400, 20))),
        dY,
        rounds=1,
        local_epochs=2,
        seed=5,
        lr=0.05,
    )
    assert_allclose(net.flat, dense.flat, rtol=1e-12, atol=1e-14)


def test_sample_and_class_weights(client):
    """Each worker trains on the row blocks it holds, so two fits give the
    same weights only where the blocks lie alike: here every block (two of
    each array) and every task of the fits stays on one worker, else the
    scheduler may put a block's targets or weights on either worker,
    differently in each fit."""
    X, y, _, _ = _problem(n=800)
    worker = sorted(client.scheduler_info()["workers"])[0]

    def on_worker(*arrays):
        return client.persist(
            [da.from_array(a, chunks=(500,) + a.shape[1:]) for a in arrays], workers=[worker]
        )

    def fit(model, **weights):
        with dask.annotate(workers=[worker], allow_other_workers=False):
            return fastbp.dask.fit(model, dX, dy, rounds=2, **weights)

    dX, dy, ones = on_worker(X, y, np.ones(len(y)))
    options = dict(hidden_layer_sizes=(6,), random_state=0, learning_rate_init=0.02)
    plain = fit(MLPClassifier(**options))
    weighted = fit(MLPClassifier(**options), sample_weight=ones)
    assert_array_equal(plain.network_.flat, weighted.network_.flat)
    # "balanced" weighs the classes by their counts in all the blocks
    balanced = fit(MLPClassifier(class_weight="balanced", **options))
    (by_hand,) = on_worker(compute_sample_weight("balanced", y))
    weighted = fit(MLPClassifier(**options), sample_weight=by_hand)
    assert_array_equal(balanced.network_.flat, weighted.network_.flat)
    assert not np.array_equal(balanced.network_.flat, plain.network_.flat)


def test_regressor_and_multilabel(client):
    X, y, X_test, _ = _problem(n=1200)
    target = X[:, 0] - 0.5 * X[:, 1]
    dX, dt = _on_cluster(client, X, target)
    regressor = fastbp.dask.fit(
        MLPRegressor(hidden_layer_sizes=(8,), random_state=0, learning_rate_init=0.005),
        dX,
        dt,
        rounds=5,
    )
    assert regressor.score(X_test, X_test[:, 0] - 0.5 * X_test[:, 1]) > 0.9
    labels = np.column_stack([X[:, 0] > 0, X[:, 1] > 0]).astype(int)
    (dL,) = _on_cluster(client, labels)
    multilabel = fastbp.dask.fit(
        MLPClassifier(hidden_layer_sizes=(8,), random_state=0, learning_rate_init=0.02),
        dX,
        dL,
        rounds=5,
    )
    assert multilabel.predict(X).shape == labels.shape
    assert multilabel.score(X, labels) > 0.8


def test_bad_arguments_are_named(client):
    X, y, _, _ = _problem(n=400)
    dX, dy = _on_cluster(client, X, y)
    net = fastbp.Network([20, 3, 1])
    with pytest.raises(TypeError, match="X must be a dask.array"):
        fastbp.dask.fit(net, X, dy)
    with pytest.raises(ValueError, match="rounds"):
        fastbp.dask.fit(net, dX, dy, rounds=0)
    with pytest.raises(ValueError, match="Y has 100 rows"):
        fastbp.dask.fit(net, dX, dy[:100])
    with pytest.raises(ValueError, match="compute_chunk_sizes"):
        fastbp.dask.fit(net, dX[dX[:, 0] > 0], dy)
    with pytest.raises(ValueError, match="learning_rate='constant'"):
        fastbp.dask.fit(MLPClassifier(learning_rate="adaptive"), dX, dy)
    with pytest.raises(TypeError, match="model must be"):
        fastbp.dask.fit(object(), dX, dy)


def test_grid_search_on_the_cluster(client):
    X, y, X_test, y_test = _problem(n=800)
    grid = {"learning_rate_init": [0.003, 0.03], "hidden_layer_sizes": [(4,), (16,)]}
    model = MLPClassifier(random_state=0, max_iter=20)
    searches = [
        GridSearchCV(model, grid, cv=2),
        RandomizedSearchCV(model, grid, n_iter=3, cv=2, random_state=0),
    ]
    with joblib.parallel_backend("dask"):
        for search in searches:
            search.fit(X, y)
    # the same scores as searching in this process: each fit is deterministic
    local = GridSearchCV(model, grid, cv=2, n_jobs=1)
    local.fit(X, y)
    assert_allclose(
        searches[0].cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )
    for search in searches:
        assert search.best_score_ > 0.7
        assert search.score(X_test, y_test) > 0.7


def test_incremental_wrapper(client):
    """dask_ml's Incremental calls partial_fit block after block: the same
    as doing so in this process."""
    X, y, X_test, y_test = _problem(n=2000)
    dX, dy = _on_cluster(client, X, y)
    options = dict(hidden_layer_sizes=(16,), random_state=0, learning_rate_init=0.01)
    incremental = Incremental(MLPClassifier(**options), scoring="accuracy", shuffle_blocks=False)
    incremental.fit(dX, dy, classes=[0, 1, 2])
    fitted = incremental.estimator_
    assert fitted.t_ == len(y)  # one pass over every block
    by_hand = MLPClassifier(**options)
    for start in range(0, len(y), 500):
        by_hand.partial_fit(X[start : start + 500], y[start : start + 500], classes=[0, 1, 2])
    assert_array_equal(fitted.network_.flat, by_hand.network_.flat)
    assert incremental.score(*_on_cluster(client, X_test, y_test)) > 0.7
