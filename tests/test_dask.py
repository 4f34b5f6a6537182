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


def test_transform_of_a_dask_array_reports_the_output_metadata(client, moons, one_thread):
    """The lazy output declares its true shape, chunks and dtype, before any compute.

    ``Incremental.transform``/``ParallelPostFit.transform`` cannot (dask-ml
    declares the input's chunks for the output, and has no hook for them):
    the fitted estimator's own ``transform`` takes the Dask array instead.
    """
    inc = wrappers.Incremental(_estimator().set_params(n_components=16), shuffle_blocks=False)
    inc.fit(da.from_array(moons[0], chunks=(400, 2)))
    ksm = inc.estimator_
    X = np.resize(moons[0], (20000, 2))  # the rows repeated
    X_dask = da.from_array(X, chunks=(5000, 1))  # blocks split across the columns too
    Y = ksm.transform(X_dask)
    assert isinstance(Y, da.Array)
    assert Y.shape == (20000, 16) and Y.dtype == np.float64
    assert Y.chunks == ((5000,) * 4, (16,))
    assert isinstance(Y._meta, np.ndarray)  # blocks are NumPy arrays
    column = Y[:, 10]  # indexing past the input's width works on the metadata
    assert column.shape == (20000,)
    expected = ksm.transform(X)
    np.testing.assert_array_equal(column.compute(), expected[:, 10])
    np.testing.assert_array_equal(Y.compute(), expected)

    Y32 = ksm.transform(X_dask.astype(np.float32))
    assert Y32.dtype == np.float32 and Y32[:100].compute().dtype == np.float32
    assert ksm.transform(X_dask.astype(np.int64)).dtype == np.float64  # as for NumPy input

    with pytest.raises(ValueError, match="expecting 2 features"):
        ksm.transform(da.zeros((10, 3), chunks=5))
