"""Torch tensors in, and scikit-learn's array API dispatch.

Without dispatch (scikit-learn's default) every input is read as NumPy and
the outputs are NumPy arrays in the input's float dtype; a torch tensor is
read without a copy (detached, so ``requires_grad`` is fine). With
``array_api_dispatch=True`` a torch tensor comes back as a torch tensor of
the same dtype on the same device, with the values of the NumPy path.
Fitted attributes are NumPy arrays in every case.
"""

import numpy as np
import pytest
import sklearn
import torch

from sklearn_ksm import (
    FoldiakNetwork,
    HebbianKernelSimilarityMatching,
    HebbianSimilarityMatching,
)
from sklearn_ksm.baselines import KernelNystroem

from .conftest import CUDA, DEVICES

NETWORKS = [
    HebbianKernelSimilarityMatching(6, gamma=2.0, max_iter=3, random_state=0),
    HebbianSimilarityMatching(2, max_iter=2, random_state=0),
    FoldiakNetwork(2, max_iter=2, random_state=0),
]
IDS = [type(est).__name__ for est in NETWORKS]


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    return rng.normal(size=(300, 4))


@pytest.fixture
def dispatch():
    with sklearn.config_context(array_api_dispatch=True):
        yield


@pytest.mark.parametrize("estimator", NETWORKS, ids=IDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_tensor_without_dispatch_is_read_as_numpy_keeping_dtype(estimator, dtype, data):
    X = torch.tensor(data, dtype=dtype, requires_grad=True)
    fitted = sklearn.clone(estimator).fit(X)
    reference = sklearn.clone(estimator).fit(X.detach().numpy())
    assert fitted.components_.dtype == np.dtype(str(dtype).removeprefix("torch."))
    np.testing.assert_array_equal(fitted.components_, reference.components_)
    Y = fitted.transform(X)
    assert isinstance(Y, np.ndarray) and Y.dtype == fitted.components_.dtype
    np.testing.assert_array_equal(Y, reference.transform(X.detach().numpy()))
    fitted.partial_fit(X[:50])  # continues, in the fitted dtype
    assert fitted.components_.dtype == reference.components_.dtype


def test_tensor_score_and_baseline_without_dispatch(data):
    X = torch.tensor(data, requires_grad=True)
    ksm = sklearn.clone(NETWORKS[0]).fit(data)
    assert ksm.score(X) == ksm.score(data)
    baseline = KernelNystroem(n_components=5, gamma=2.0, random_state=0)
    expected = sklearn.clone(baseline).fit(data).transform(data)
    np.testing.assert_array_equal(baseline.fit(X).transform(X), expected)


def test_bfloat16_tensor_is_read_as_float64(data):
    X = torch.tensor(data, dtype=torch.bfloat16)
    ksm = sklearn.clone(NETWORKS[0]).fit(X)
    assert ksm.components_.dtype == np.float64  # scikit-learn's rule for float16 too


def _check_dispatched_transform(estimator, X_numpy, device):
    fitted = sklearn.clone(estimator).fit(X_numpy)
    X = torch.tensor(X_numpy, device=device, requires_grad=True)
    with sklearn.config_context(array_api_dispatch=True):
        fitted_on_tensor = sklearn.clone(estimator).set_params(device=device).fit(X)
        Y = fitted.transform(X)
        score = fitted.score(X) if hasattr(fitted, "score") else None
    assert isinstance(Y, torch.Tensor)
    assert Y.dtype == X.dtype and Y.device == X.device and not Y.requires_grad
    assert Y.shape == (len(X_numpy), estimator.n_components)
    # Same computation in the same dtype; on the CPU the same operations, so
    # equal up to the blocking of reductions (none here): 1e-12 relative on
    # float64, 1e-5 on float32 (a different BLAS path for a GPU).
    rtol = 1e-5 if X.dtype == torch.float32 else 1e-12
    np.testing.assert_allclose(Y.cpu().numpy(), fitted.transform(X_numpy), rtol=rtol, atol=rtol)
    if score is not None:
        assert isinstance(score, float)
        assert score == pytest.approx(fitted.score(X_numpy), rel=rtol)
    for name in fitted._state_attributes:  # NumPy, and on the CPU the same values
        attribute = getattr(fitted_on_tensor, name)
        assert isinstance(attribute, np.ndarray) and attribute.dtype == getattr(fitted, name).dtype
        if device == "cpu":
            np.testing.assert_array_equal(attribute, getattr(fitted, name))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("estimator", NETWORKS, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dispatch_returns_tensor_of_input_dtype_on_its_device(estimator, dtype, device, data,
                                                              dispatch):  # fmt: skip
    _check_dispatched_transform(estimator, data.astype(dtype), device)


@CUDA
@pytest.mark.cuda
def test_dispatch_fit_transform_on_cuda_keeps_numpy_attributes(data, dispatch):
    X = torch.tensor(data, dtype=torch.float32, device="cuda")
    ksm = sklearn.clone(NETWORKS[0]).set_params(device="cuda")
    Y = ksm.fit_transform(X)
    assert Y.device == X.device and Y.dtype == torch.float32
    assert isinstance(ksm.components_, np.ndarray) and ksm.components_.dtype == np.float32


def test_dispatch_with_numpy_input_returns_numpy(data, dispatch):
    ksm = sklearn.clone(NETWORKS[0]).fit(data)
    Y = ksm.transform(data.astype(np.float32))
    assert isinstance(Y, np.ndarray) and Y.dtype == np.float32


def test_dispatch_validates_tensor_input(data, dispatch):
    ksm = sklearn.clone(NETWORKS[0]).fit(data)
    X = torch.tensor(data)
    X[3, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        ksm.transform(X)
    with pytest.raises(ValueError, match="features"):
        ksm.transform(torch.tensor(data[:, :3]))


def test_estimators_declare_array_api_support():
    for estimator in NETWORKS:
        assert estimator.__sklearn_tags__().array_api_support
