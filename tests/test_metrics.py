import numpy as np
import pytest
from sklearn.metrics.pairwise import pairwise_kernels

from sklearn_ksm.metrics import (
    gram_spectrum,
    kernel_approximation_error,
    kernel_spectrum,
    similarity_samples,
)


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


def test_similarity_samples_are_kernel_and_gram_entries():
    rng = np.random.RandomState(2)
    X, Y = rng.normal(size=(25, 3)), rng.normal(size=(25, 4))
    k, y = similarity_samples(X, Y, kernel="rbf", gamma=0.3, n_pairs=600, random_state=0)
    K = pairwise_kernels(X, metric="rbf", gamma=0.3)
    G = Y @ Y.T
    # Every sample is one (s, t) entry of K together with the same entry of Y Y^T.
    matches = [np.flatnonzero(np.isclose(K, a, rtol=1e-12) & np.isclose(G, b, rtol=1e-12))
               for a, b in zip(k, y, strict=True)]  # fmt: skip
    assert all(m.size > 0 for m in matches)
    assert len({int(m[0]) for m in matches}) > 200  # many distinct pairs


def test_spectra_match_dense_eigendecomposition():
    X = np.random.RandomState(3).normal(size=(120, 4))
    K = pairwise_kernels(X, metric="rbf", gamma=0.5)
    dense = np.linalg.eigvalsh(K)[::-1]
    np.testing.assert_allclose(kernel_spectrum(X, kernel="rbf", gamma=0.5), dense, atol=1e-10)
    top = kernel_spectrum(X, kernel="rbf", gamma=0.5, n_eigenvalues=10, random_state=0)
    np.testing.assert_allclose(top, dense[:10], rtol=1e-6)
    Y = np.random.RandomState(4).normal(size=(30, 5))
    np.testing.assert_allclose(gram_spectrum(Y), np.linalg.eigvalsh(Y @ Y.T)[::-1][:5], rtol=1e-10)
