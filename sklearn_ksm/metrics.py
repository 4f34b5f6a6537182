"""Kernel approximation quality, computed in row blocks (memory O(block x n))."""

import numpy as np
import torch
from sklearn.utils.validation import check_array

from ._device import resolve_device, to_tensor
from .kernels import Kernel, make_kernel

__all__ = ["kernel_approximation_error"]


def kernel_approximation_error(
    X,
    Y,
    *,
    kernel="rbf",
    gamma=None,
    degree=3,
    coef0=1.0,
    kernel_params=None,
    block_size=1024,
    device="cpu",
):
    """Relative error ``||K - Y Y^T||_F / ||K||_F`` of a kernel approximation.

    ``K[s, t] = f(x_s, x_t)`` is never materialised: it is computed one block
    of rows at a time, so memory is ``O(block_size * n_samples)``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Inputs.
    Y : array-like of shape (n_samples, n_components)
        Representations whose inner products approximate the kernel.
    kernel : {"rbf", "power_cosine", "linear", "poly"}, callable or Kernel, default="rbf"
        The kernel, as for :class:`HebbianKernelSimilarityMatching`, or a
        fitted estimator's ``kernel_``.
    gamma, degree, coef0, kernel_params
        Kernel parameters, as for :class:`HebbianKernelSimilarityMatching`.
    block_size : int, default=1024
        Rows of ``K`` computed at once.
    device : str, default="cpu"
        Where to compute (``"auto"``, ``"cpu"``, ``"cuda"``...).

    Returns
    -------
    error : float
        The relative Frobenius error (0 is exact).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ksm.metrics import kernel_approximation_error
    >>> X = np.random.RandomState(0).normal(size=(50, 3))
    >>> round(kernel_approximation_error(X, X, kernel="linear"), 12)
    0.0
    """
    X = check_array(X, dtype=np.float64)
    Y = check_array(Y, dtype=np.float64)
    if len(X) != len(Y):
        raise ValueError(f"X and Y must have the same number of rows, got {len(X)} and {len(Y)}.")
    if not isinstance(kernel, Kernel):
        kernel = make_kernel(
            kernel,
            gamma=gamma,
            degree=degree,
            coef0=coef0,
            kernel_params=kernel_params,
            n_features=X.shape[1],
        )
    device = resolve_device(device)
    Xt, Yt = to_tensor(X, device), to_tensor(Y, device)
    residual = total = 0.0
    for start in range(0, len(Xt), block_size):
        K = kernel(Xt[start : start + block_size], Xt)
        residual += float(torch.sum((K - Yt[start : start + block_size] @ Yt.T) ** 2))
        total += float(torch.sum(K**2))
    if total == 0.0:
        raise ValueError("The kernel matrix of X is zero; the relative error is undefined.")
    return float(np.sqrt(residual / total))
