"""The MKL inside torch: the in-place Cholesky factorisation."""

import numpy as np
import pytest
import torch

from sklearn_ksm import _mkl

needs_mkl = pytest.mark.skipif(_mkl._potrf(torch.float64) is None, reason="torch build without MKL")


def wishart(n, dtype, seed=0):
    # 2n degrees of freedom: condition number 22 for n = 40, seed 0, so a
    # factor's error is at most about n * cond * eps: 1e-4 in float32 (7e-8
    # measured), 2e-13 in float64.
    Z = np.random.RandomState(seed).normal(size=(n, 2 * n))
    A = Z @ Z.T / (2 * n)
    return A, torch.tensor(A, dtype=dtype)


@needs_mkl
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 2e-4)])
def test_potrf_in_place_leaves_the_lower_factor_in_the_transposed_view(dtype, tol):
    A_np, A = wishart(40, dtype)
    assert _mkl.potrf_in_place(A) is True
    expected = np.linalg.cholesky(A_np)  # oracle: numpy's LAPACK, float64
    np.testing.assert_allclose(np.tril(A.mT.double().numpy()), expected, rtol=0, atol=tol)


@needs_mkl
def test_potrf_in_place_reports_an_indefinite_matrix():
    _, A = wishart(30, torch.float64)
    A[7, 7] = -1.0  # a negative diagonal entry: not positive definite
    assert _mkl.potrf_in_place(A) is False


@needs_mkl
def test_potrf_in_place_declines_what_it_cannot_factor_in_place():
    _, A = wishart(20, torch.float64)
    for declined in (A.clone().mT, A.to(torch.int64),
                     A.clone().requires_grad_(), A[:, :19].contiguous()):  # fmt: skip
        before = declined.detach().clone()
        assert _mkl.potrf_in_place(declined) is None
        assert torch.equal(declined.detach(), before)  # untouched
