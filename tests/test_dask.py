"""Training and transforming through Dask on a real (local) cluster.

``dask_ml.wrappers.Incremental`` sends the estimator to the worker holding
each block, calls ``partial_fit(X=block, y=block_y)`` there by keyword and
brings the (pickled) estimator back, block after block. With blocks in order
the result must be the one of the same ``partial_fit`` calls made here.
Skipped when the ``[dask]`` extra is not installed.
"""

import numpy as np
import pytest
import torch

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
wrappers = pytest.importorskip("dask_ml.wrappers")

from sklearn_ksm import HebbianKernelSimilarityMatching  # noqa: E402

BLOCK = 100


@pytest.fixture(scope="module")
def client():
    """2 worker processes x 1 thread, a real scheduler, shut down at the end."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:  # fmt: skip
        yield client


@pytest.fixture
def one_thread():
    """Same thread count here as in the workers (reductions then match bitwise)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _estimator():
    # Rates 10x the defaults: two passes over the stream reach the plateau.
    rates = dict(learning_rate=0.03, learning_rate_gain=0.03, learning_rate_lateral=0.3)
    return HebbianKernelSimilarityMatching(
        8, kernel="rbf", gamma=5.0, batch_size=16, random_state=0, **rates
    )


def test_incremental_fit_and_transform_on_local_cluster(client, moons, one_thread):
    X = moons[0][:600]
    X_dask = da.from_array(X, chunks=(BLOCK, X.shape[1]))
    junk_y = da.from_array(np.arange(len(X)) % 3, chunks=BLOCK)  # Incremental passes it on

    inc = wrappers.Incremental(_estimator(), shuffle_blocks=False)
    inc.fit(X_dask, junk_y)
    fitted = inc.estimator_
    assert fitted.n_samples_seen_ == len(X)
    assert fitted.n_iter_ == len(X) // BLOCK  # one partial_fit per block

    local = _estimator()
    for start in range(0, len(X), BLOCK):
        local.partial_fit(X=X[start : start + BLOCK], y=np.zeros(BLOCK))
    for name in ("components_", "gains_", "lateral_weights_"):
        np.testing.assert_array_equal(getattr(fitted, name), getattr(local, name), err_msg=name)

    Y_dask = inc.transform(X_dask)
    assert isinstance(Y_dask, da.Array)
    Y = Y_dask.compute()
    np.testing.assert_array_equal(Y, local.transform(X))
    assert np.isfinite(Y).all()

    score = inc.score(X_dask, junk_y)  # minus the kernel error; y ignored
    assert np.isfinite(score) and score <= 0
    np.testing.assert_allclose(score, local.score(X), rtol=1e-12)


def test_incremental_with_shuffled_blocks_trains(client, moons, one_thread):
    X = moons[0]
    X_dask = da.from_array(X, chunks=(200, X.shape[1]))
    inc = wrappers.Incremental(_estimator(), shuffle_blocks=True, random_state=0)
    inc.fit(X_dask).partial_fit(X_dask)  # two passes, blocks in a seeded random order
    assert inc.estimator_.n_samples_seen_ == 2 * len(X)
    untrained = _estimator().partial_fit(X[:1])  # initialised, one step
    score = inc.score(X_dask, da.zeros(len(X), chunks=200))
    assert untrained.score(X) < -0.8
    assert score > -0.5  # relative kernel error < 0.5 (0.44 at the plateau, 10 passes)
