import numpy as np
import pytest
from sklearn.metrics.pairwise import pairwise_kernels

from sklearn_ksm.metrics import kernel_approximation_error


@pytest.mark.parametrize(
    "kernel, params", [("rbf", {"gamma": 0.4}), ("linear", {}), ("poly", {"gamma": 0.2})]
)
def test_blocked_error_equals_dense_formula(kernel, params):
    rng = np.random.RandomState(0)
    X, Y = rng.normal(size=(53, 3)), rng.normal(size=(53, 5))
    K = pairwise_kernels(X, metric=kernel, **params)
    expected = np.linalg.norm(K - Y @ Y.T) / np.linalg.norm(K)
    error = kernel_approximation_error(X, Y, kernel=kernel, block_size=7, **params)
    assert error == pytest.approx(expected, rel=1e-12)


def test_exact_factorisation_has_zero_error():
    X = np.random.RandomState(1).normal(size=(40, 3))
    K = pairwise_kernels(X, metric="rbf", gamma=0.5)
    eigenvalues, eigenvectors = np.linalg.eigh(K)
    Y = eigenvectors * np.sqrt(eigenvalues.clip(0))
    assert kernel_approximation_error(X, Y, kernel="rbf", gamma=0.5) < 1e-7


def test_error_input_validation():
    X = np.ones((4, 2))
    with pytest.raises(ValueError, match="same number of rows"):
        kernel_approximation_error(X, np.ones((3, 2)))
    with pytest.raises(ValueError, match="zero"):
        kernel_approximation_error(np.zeros((4, 2)), np.zeros((4, 2)), kernel="linear")
