"""Saving and loading fitted networks: joblib round trips and version checks.

(Pickle round trips and CUDA-to-CPU loading are in test_hebbian.py.)
"""

import pickle
import warnings

import joblib
import numpy as np
import pytest

import sklearn_ksm
from sklearn_ksm import (
    FoldiakNetwork,
    HebbianKernelSimilarityMatching,
    HebbianSimilarityMatching,
)

ESTIMATORS = [
    HebbianKernelSimilarityMatching(6, max_iter=2, random_state=0),
    HebbianSimilarityMatching(2, max_iter=2, random_state=0),
    FoldiakNetwork(2, max_iter=2, random_state=0),
]


@pytest.fixture(params=ESTIMATORS, ids=lambda est: type(est).__name__)
def fitted(request, small_data):
    return pickle.loads(pickle.dumps(request.param)).fit(small_data)


@pytest.mark.parametrize("compress", [0, 3])
def test_joblib_round_trip_is_bitwise(fitted, small_data, tmp_path, compress):
    path = tmp_path / "model.joblib"
    joblib.dump(fitted, path, compress=compress)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no version warning from the same versions
        loaded = joblib.load(path)
    assert type(loaded) is type(fitted)
    np.testing.assert_array_equal(loaded.transform(small_data), fitted.transform(small_data))
    loaded.partial_fit(small_data)  # and it keeps training


def test_pickle_records_the_package_version(fitted):
    state = fitted.__getstate__()
    assert state["_sklearn_ksm_version"] == sklearn_ksm.__version__
    loaded = pickle.loads(pickle.dumps(fitted))
    assert "_sklearn_ksm_version" not in loaded.__dict__


def _with_saved_version(fitted, version):
    """A pickle of ``fitted`` as if written by sklearn-ksm ``version``."""
    state = fitted.__getstate__()
    state["_sklearn_ksm_version"] = version
    return pickle.dumps(_Reduced(type(fitted), state))


class _Reduced:
    """Pickles as ``cls.__new__(cls)`` followed by ``__setstate__(state)``."""

    def __init__(self, cls, state):
        self.cls, self.state = cls, state

    def __reduce__(self):
        return (self.cls.__new__, (self.cls,), self.state)


def test_compatible_version_loads(fitted, small_data):
    major = sklearn_ksm.__version__.split(".")[0]
    blob = _with_saved_version(fitted, f"{major}.999.0")
    loaded = pickle.loads(blob)
    np.testing.assert_array_equal(loaded.transform(small_data), fitted.transform(small_data))


def test_pickle_without_version_loads(fitted, small_data):
    """Pickles written before versions were recorded still load."""
    state = fitted.__getstate__()
    del state["_sklearn_ksm_version"]
    loaded = pickle.loads(pickle.dumps(_Reduced(type(fitted), state)))
    np.testing.assert_array_equal(loaded.transform(small_data), fitted.transform(small_data))


def test_incompatible_major_version_is_refused_clearly(fitted):
    major = int(sklearn_ksm.__version__.split(".")[0])
    blob = _with_saved_version(fitted, f"{major + 1}.0.0")
    with pytest.raises(ValueError, match=rf"pickled by sklearn-ksm {major + 1}\.0\.0.*refit"):
        pickle.loads(blob)
