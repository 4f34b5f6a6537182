import os

# Lets scikit-learn's array-API check (array_api_dispatch with NumPy inputs)
# run instead of skipping; scipy reads this once, at import.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np
import pytest
import torch
from hypothesis import settings
from sklearn.datasets import make_moons

# Property tests draw the same examples on every run, so CI is reproducible.
settings.register_profile("sklearn-ksm", derandomize=True)
settings.load_profile("sklearn-ksm")

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

DEVICES = ["cpu", pytest.param("cuda", marks=[CUDA, pytest.mark.cuda])]


@pytest.fixture(autouse=True)
def global_torch_rng_untouched():
    """The package draws randomness from local generators only."""
    before = torch.random.get_rng_state()
    yield
    assert torch.equal(torch.random.get_rng_state(), before), (
        "the global torch RNG state was changed"
    )


@pytest.fixture(params=DEVICES)
def device(request):
    return request.param


@pytest.fixture(scope="session")
def moons():
    """The paper's half moons: 1600 points, noise 0.1, centred."""
    X, y = make_moons(n_samples=1600, noise=0.1, random_state=0)
    return X - X.mean(0), y


@pytest.fixture(scope="session")
def small_data():
    rng = np.random.RandomState(0)
    return rng.normal(size=(120, 4))


def single_row_streams(Estimator, params, X, start):
    """A stream of ``X`` one row per call, and one that starts with a call on ``X[:start]``."""
    rows = Estimator(**params)
    for i in range(len(X)):
        rows.partial_fit(X[i : i + 1])
    started = Estimator(**params).partial_fit(X[:start])
    for i in range(start, len(X)):
        started.partial_fit(X[i : i + 1])
    return rows, started


def snapshot(est):
    """Copies of an estimator's attributes, to compare with after a call."""
    return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in vars(est).items()}


def assert_same_state(est, before):
    """The estimator's attributes equal the ``snapshot`` ``before``, bit for bit."""
    assert set(vars(est)) == set(before)
    for key, value in before.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(getattr(est, key), value, err_msg=key)
        else:
            assert getattr(est, key) == value, key
