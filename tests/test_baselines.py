"""Baselines against exact linear algebra and scikit-learn's own estimators."""

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.kernel_approximation import Nystroem
from sklearn.metrics.pairwise import rbf_kernel

from sklearn_ksm import HebbianKernelSimilarityMatching
from sklearn_ksm.baselines import KernelNystroem, UncenteredKernelPCA
from sklearn_ksm.datasets import make_half_moons
from sklearn_ksm.kernels import PowerCosineKernel
from sklearn_ksm.metrics import kernel_approximation_error

GAMMA = 1 / (2 * 0.3**2)


def power_cosine_matrix(X, Z, alpha):
    return PowerCosineKernel(alpha)(torch.from_numpy(X), torch.from_numpy(Z)).numpy()


def rbf_callable(X, W, gamma):
    return torch.exp(-gamma * torch.cdist(X, W) ** 2)


@pytest.fixture(scope="module")
def data():
    return np.random.RandomState(0).normal(size=(80, 3))


# ------------------------------------------------------------ kernel PCA


def test_uncentered_kpca_is_best_rank_n_and_error_is_eigenvalue_tail(data):
    K = rbf_kernel(data, gamma=0.5)
    eigenvalues, eigenvectors = np.linalg.eigh(K)
    eigenvalues, eigenvectors = eigenvalues[::-1], eigenvectors[:, ::-1]
    Y = UncenteredKernelPCA(7, gamma=0.5).fit_transform(data)
    best = (eigenvectors[:, :7] * eigenvalues[:7]) @ eigenvectors[:, :7].T
    np.testing.assert_allclose(Y @ Y.T, best, atol=1e-10)
    tail = np.sqrt((eigenvalues[7:] ** 2).sum() / (eigenvalues**2).sum())
    assert kernel_approximation_error(data, Y, gamma=0.5) == pytest.approx(tail, rel=1e-8)


def test_uncentered_kpca_transform_extends_the_training_map(data):
    model = UncenteredKernelPCA(5, gamma=0.5).fit(data)
    np.testing.assert_allclose(model.transform(data), model.fit_transform(data), atol=1e-10)


def test_uncentered_kpca_randomized_matches_dense(data):
    dense = UncenteredKernelPCA(6, gamma=0.5, eigen_solver="dense").fit(data)
    randomized = UncenteredKernelPCA(
        6, gamma=0.5, eigen_solver="randomized", block_size=16, random_state=0
    ).fit(data)
    np.testing.assert_allclose(randomized.eigenvalues_, dense.eigenvalues_, rtol=1e-8)
    # Eigenvectors converge more slowly than eigenvalues in the range finder
    # (error ~ (lambda_{k+p} / lambda_k)^(2 n_iter + 1)); 1e-5 is ample here.
    Yd, Yr = dense.transform(data), randomized.transform(data)
    np.testing.assert_allclose(Yr @ Yr.T, Yd @ Yd.T, atol=1e-5)


def test_uncentered_kpca_does_not_centre(data):
    """Linear kernel: the top eigenvalues are those of the raw Gram X X^T."""
    X = data + 5.0  # far from the origin: centring would change everything
    model = UncenteredKernelPCA(3, kernel="linear").fit(X)
    np.testing.assert_allclose(model.eigenvalues_, np.linalg.svd(X, compute_uv=False) ** 2)


def test_moons_optimal_errors_match_the_reference_figures():
    """The note's exact kernel-PCA errors (make_moons random_state 0)."""
    X, _ = make_half_moons()
    Y = UncenteredKernelPCA(64, gamma=GAMMA).fit_transform(X)
    reference = {2: 0.801, 4: 0.620, 8: 0.321, 16: 0.096, 32: 0.0174, 64: 0.0008}
    for n, expected in reference.items():
        error = kernel_approximation_error(X, Y[:, :n], gamma=GAMMA)
        assert error == pytest.approx(expected, abs=0.5 * 10 ** -len(str(expected).split(".")[1]))


# -------------------------------------------------------------- Nystroem


@pytest.mark.parametrize(
    "kernel, params",
    [
        ("rbf", {"gamma": 0.5}),
        ("power_cosine", {"degree": 3}),
        ("poly", {"degree": 2}),
        (rbf_callable, {"kernel_params": {"gamma": 0.5}}),
    ],
    ids=["rbf", "power_cosine", "poly", "callable"],
)
def test_nystroem_with_all_points_is_exact(data, kernel, params):
    model = KernelNystroem(len(data), kernel=kernel, random_state=0, **params)
    Y = model.fit_transform(data)
    assert kernel_approximation_error(data, Y, kernel=model.kernel_) < 1e-6


def test_uniform_landmarks_equal_scikit_learn_nystroem(data):
    ours = KernelNystroem(10, gamma=0.5, random_state=3).fit(data)
    theirs = Nystroem(gamma=0.5, n_components=10, random_state=3).fit(data)
    np.testing.assert_array_equal(ours.landmarks_, theirs.components_)
    # Same landmarks, same map up to the order of the output columns.
    Y_ours, Y_theirs = ours.transform(data), theirs.transform(data)
    np.testing.assert_allclose(Y_ours @ Y_ours.T, Y_theirs @ Y_theirs.T, atol=1e-12)


def test_power_cosine_route_equals_the_nystroem_formula(data):
    landmarks = data[:6] * np.arange(1, 7)[:, None]  # landmarks of various norms
    Y = KernelNystroem(kernel="power_cosine", degree=3, landmarks=landmarks).fit_transform(data)
    A = power_cosine_matrix(data, landmarks, 3)
    expected = A @ np.linalg.pinv(power_cosine_matrix(landmarks, landmarks, 3)) @ A.T
    np.testing.assert_allclose(Y @ Y.T, expected, rtol=1e-6, atol=1e-8)


def test_kmeans_landmarks_are_the_paper_kmeans_centres(data):
    model = KernelNystroem(5, gamma=0.5, landmarks="kmeans", random_state=0).fit(data)
    kmeans = KMeans(
        5,
        init="random",
        n_init=1,
        max_iter=100,
        algorithm="lloyd",
        random_state=np.random.RandomState(0),
    ).fit(data)
    np.testing.assert_allclose(model.landmarks_, kmeans.cluster_centers_)


def test_nystroem_landmark_validation(data):
    with pytest.raises(ValueError, match="features"):
        KernelNystroem(landmarks=np.ones((3, 2))).fit(data)
    with pytest.warns(UserWarning, match="n_samples"):
        model = KernelNystroem(200, gamma=0.5).fit(data)
    assert model.landmarks_.shape == (80, 3)


@pytest.mark.parametrize("kernel", ["rbf", "power_cosine"])
def test_network_nystroem_readout_uses_the_learned_landmarks(data, kernel):
    network = HebbianKernelSimilarityMatching(5, kernel=kernel, max_iter=3, random_state=0)
    readout = network.fit(data).nystroem_readout()
    np.testing.assert_array_equal(readout.landmarks_, network.components_)
    W = network.components_.astype(np.float64)
    if kernel == "rbf":
        A, B = rbf_kernel(data, W, gamma=1 / 3), rbf_kernel(W, gamma=1 / 3)
    else:
        A, B = power_cosine_matrix(data, W, 3), power_cosine_matrix(W, W, 3)
    Y = readout.transform(data)
    np.testing.assert_allclose(Y @ Y.T, A @ np.linalg.pinv(B) @ A.T, rtol=1e-6, atol=1e-8)
