"""Kernels against naive references and autograd."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics.pairwise import linear_kernel, polynomial_kernel, rbf_kernel

from sklearn_ksm.kernels import (
    CallableKernel,
    LinearKernel,
    PolynomialKernel,
    PowerCosineKernel,
    RBFKernel,
    make_kernel,
)


def rbf_torch(X, W, gamma=0.7):
    return torch.exp(-gamma * torch.cdist(X, W) ** 2)


KERNELS = [
    RBFKernel(0.7),
    LinearKernel(),
    PolynomialKernel(0.3, degree=3, coef0=0.5),
    PolynomialKernel(0.3, degree=2, coef0=0.0),
    PowerCosineKernel(1),
    PowerCosineKernel(2),
    PowerCosineKernel(3),
    CallableKernel(rbf_torch, {"gamma": 0.7}),
]


def naive_power_cosine(X, W, alpha):
    out = np.empty((len(X), len(W)))
    for b, x in enumerate(X):
        for i, w in enumerate(W):
            nx, nw = np.linalg.norm(x), np.linalg.norm(w)
            out[b, i] = 0.0 if nx * nw == 0 else nx * nw * (x @ w / (nx * nw)) ** alpha
    return out


@pytest.fixture
def points():
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(9, 4, generator=gen, dtype=torch.float64)
    W = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    return X, W


def test_gram_matrices_match_references(points):
    X, W = points
    Xn, Wn = X.numpy(), W.numpy()
    np.testing.assert_allclose(RBFKernel(0.7)(X, W), rbf_kernel(Xn, Wn, gamma=0.7), rtol=1e-12)
    np.testing.assert_allclose(LinearKernel()(X, W), linear_kernel(Xn, Wn), rtol=1e-12)
    np.testing.assert_allclose(
        PolynomialKernel(0.3, 3, 0.5)(X, W),
        polynomial_kernel(Xn, Wn, degree=3, gamma=0.3, coef0=0.5),
        rtol=1e-12,
    )
    for alpha in (1, 2, 3, 4):
        np.testing.assert_allclose(
            PowerCosineKernel(alpha)(X, W), naive_power_cosine(Xn, Wn, alpha), rtol=1e-10
        )
    np.testing.assert_allclose(PowerCosineKernel(1)(X, W), linear_kernel(Xn, Wn), rtol=1e-10)


@pytest.mark.parametrize("kernel", KERNELS, ids=repr)
def test_diag_is_gram_diagonal(kernel, points):
    X, _ = points
    torch.testing.assert_close(kernel.diag(X), torch.diagonal(kernel(X, X)), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kernel", KERNELS, ids=repr)
def test_gram_is_positive_semidefinite(kernel, points):
    X, W = points
    Z = torch.cat([X, W])
    eigenvalues = torch.linalg.eigvalsh(kernel(Z, Z))
    assert eigenvalues.min() > -1e-10 * eigenvalues.max()


@pytest.mark.parametrize("kernel", KERNELS, ids=repr)
def test_closed_form_derivatives_equal_autograd(kernel, points):
    X, W = points
    G = torch.randn(len(X), len(W), generator=torch.Generator().manual_seed(1), dtype=X.dtype)
    Wg = W.clone().requires_grad_(True)
    (expected,) = torch.autograd.grad(kernel(X, Wg), Wg, grad_outputs=G)
    torch.testing.assert_close(kernel.grad_second(X, W, kernel(X, W), G), expected,
                               rtol=1e-10, atol=1e-12)  # fmt: skip
    Wg = W.clone().requires_grad_(True)
    (expected_diag,) = torch.autograd.grad(torch.diagonal(kernel(Wg, Wg)).sum(), Wg)
    torch.testing.assert_close(kernel.diag_grad(W), expected_diag, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kernel", KERNELS, ids=repr)
def test_derivative_factors_equal_autograd(kernel, points):
    # The training step moves the landmarks with (A, s) and d instead of
    # grad_second and diag_grad: A^T X + s W and d W against autograd.
    X, W = points
    G = torch.randn(len(X), len(W), generator=torch.Generator().manual_seed(2), dtype=X.dtype)
    factors, d = kernel.gradient_factors(X, W, kernel(X, W), G), kernel.diag_grad_factor(W)
    if isinstance(kernel, CallableKernel):
        assert factors is None and d is None  # the step falls back to autograd
        return
    Wg = W.clone().requires_grad_(True)
    (expected,) = torch.autograd.grad(kernel(X, Wg), Wg, grad_outputs=G)
    Wg = W.clone().requires_grad_(True)
    (expected_diag,) = torch.autograd.grad(torch.diagonal(kernel(Wg, Wg)).sum(), Wg)
    A, s = factors
    d = d[:, None] if torch.is_tensor(d) else d
    tol = dict(rtol=1e-10, atol=1e-12)  # as for the derivatives above
    torch.testing.assert_close(A.T @ X + s[:, None] * W, expected, **tol)
    torch.testing.assert_close(d * W, expected_diag, **tol)


def test_power_cosine_zero_vectors_are_finite():
    kernel = PowerCosineKernel(3)
    X = torch.tensor([[0.0, 0.0], [1.0, 2.0]], dtype=torch.float64)
    W = torch.tensor([[0.0, 0.0], [2.0, -1.0]], dtype=torch.float64)
    K = kernel(X, W)
    assert torch.equal(K[0], torch.zeros(2, dtype=torch.float64))
    assert torch.isfinite(kernel.grad_second(X, W, K, torch.ones_like(K))).all()


def test_homogeneity_flags():
    assert LinearKernel().homogeneous and PowerCosineKernel(3).homogeneous
    assert PolynomialKernel(1.0, 2, 0.0).homogeneous
    assert not PolynomialKernel(1.0, 2, 1.0).homogeneous and not RBFKernel(1.0).homogeneous
    # The flag is a real property of the function: f(a u, b v) = (a b)^d f(u, v).
    X = torch.randn(3, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    homogeneous = [(LinearKernel(), 1), (PowerCosineKernel(3), 1), (PolynomialKernel(1, 2, 0), 2)]
    for kernel, d in homogeneous:
        torch.testing.assert_close(kernel(2 * X, 3 * X), 6**d * kernel(X, X))


@pytest.mark.parametrize("kernel", KERNELS + [PolynomialKernel(0.3, degree=1, coef0=0.0)], ids=repr)
def test_linear_flag_means_rotations_of_the_landmarks_commute(kernel, points):
    # linear is True exactly when f(x, R W) = R f(x, W) for rotations R of
    # the landmarks (rows of W), the symmetry that sets the moment window.
    X, W = points
    R = torch.linalg.qr(
        torch.randn(6, 6, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    )[0]
    commutes = torch.allclose(kernel(X, R @ W), kernel(X, W) @ R.T)
    assert commutes == kernel.linear


def test_make_kernel_resolves_gamma_like_scikit_learn():
    assert make_kernel("rbf", n_features=4).gamma == 0.25
    assert make_kernel("poly", gamma=2.0, n_features=4).gamma == 2.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"kernel": "power_cosine", "degree": 2.5}, "integer"),
        ({"kernel": "poly", "degree": 1.5}, "integer"),
        ({"kernel": "rbf", "kernel_params": {"a": 1}}, "only used with a callable"),
        ({"kernel": "rbf", "gamma": float("inf")}, "finite"),
        ({"kernel": "sigmoid"}, "Unknown kernel"),
    ],
)
def test_make_kernel_rejects_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_kernel(n_features=3, **kwargs)


def test_callable_kernel_output_is_validated(points):
    X, W = points
    with pytest.raises(ValueError, match="returned shape"):
        CallableKernel(lambda A, B: A @ A.T)(X, W)
    with pytest.raises(TypeError, match="torch.Tensor"):
        CallableKernel(lambda A, B: (A @ B.T).numpy())(X, W)
    with pytest.raises(TypeError, match="callable"):
        CallableKernel("rbf")


# Broken kernels for CallableKernel.check (issue 21, item 6): module-level, so
# the error messages carry their names.


def through_numpy(X, W):
    return torch.from_numpy(X.detach().numpy() @ W.detach().numpy().T)


def boolean_similarity(X, W):
    return X @ W.T > 0


def integer_similarity(X, W):
    return (X @ W.T).round().to(torch.int64)


def doubles_its_input(X, W):
    X.mul_(2.0)
    return X @ W.T


def gram_of_first_argument(X, W):
    return X @ X.T


def euclidean_laplacian(X, W):
    # sqrt of a squared distance: infinite slope at zero distance
    return torch.exp(-(((X[:, None] - W[None]) ** 2).sum(-1)).sqrt())


def sigmoid_kernel(X, W):
    return torch.tanh(X @ W.T + 0.5)


def negative_linear(X, W):
    return -(X @ W.T)


def rbf_expanded(X, W, gamma=0.5):
    """PSD, computed through |x|^2 + |w|^2 - 2 x.w (rounding of gamma |x|^2 eps)."""
    squares = (X * X).sum(1)[:, None] + (W * W).sum(1)[None] - 2 * X @ W.T
    return torch.exp(-gamma * squares)


def laplacian_l1(X, W):
    return torch.exp(-torch.cdist(X, W, p=1))


BROKEN_KERNELS = [
    (through_numpy, TypeError, "not differentiable by torch autograd"),
    (boolean_similarity, TypeError, "torch.bool values.*floating-point"),
    (integer_similarity, TypeError, "torch.int64 values.*floating-point"),
    (doubles_its_input, ValueError, "modifies its input tensors in place"),
    (gram_of_first_argument, ValueError, r"returned shape \(16, 16\).*expected \(16, 8\)"),
    (euclidean_laplacian, ValueError, "non-finite derivative"),
]


@pytest.mark.parametrize(
    "func, error, match", BROKEN_KERNELS, ids=[case[0].__name__ for case in BROKEN_KERNELS]
)
def test_callable_kernel_check_names_the_function_and_the_problem(func, error, match):
    X = torch.randn(40, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with pytest.raises(error, match=f"kernel callable '{func.__name__}'.*{match}"):
        CallableKernel(func).check(X)


@pytest.mark.parametrize("func", [sigmoid_kernel, negative_linear])
def test_callable_kernel_check_warns_when_not_positive_semidefinite(func):
    """tanh(x.w + 0.5) on standard normal rows has negative eigenvalues of
    percents of the largest; -x.w has only negative ones."""
    X = torch.randn(300, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with pytest.warns(UserWarning, match=f"'{func.__name__}' is not positive semi-definite"):
        CallableKernel(func).check(X)


@pytest.mark.parametrize(
    "func, dtype, offset",
    [
        (rbf_torch, torch.float64, 0.0),
        (rbf_expanded, torch.float64, 1000.0),
        (rbf_expanded, torch.float32, 10.0),
        (laplacian_l1, torch.float32, 10.0),
    ],
)
def test_callable_kernel_check_passes_good_kernels_silently(func, dtype, offset):
    """No warning from rounding: an rbf computed through expanded distances
    at |x| ~ 10 in float32 has a lowest eigenvalue of -5e-6 times the
    largest (the tolerance is 1e-3, 200 times that), at |x| ~ 1000 in
    float64 a positive one."""
    X = torch.randn(300, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    X = (0.3 * X + offset).to(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        CallableKernel(func).check(X)
