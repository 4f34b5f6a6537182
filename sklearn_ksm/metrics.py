"""Kernel approximation quality, computed in row blocks (memory O(block x n))."""

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array

from ._device import resolve_device, to_tensor
from .kernels import Kernel, make_kernel

__all__ = [
    "kernel_approximation_error",
    "similarity_samples",
    "kernel_spectrum",
    "gram_spectrum",
]


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


def _resolve_kernel(kernel, n_features, **params):
    if isinstance(kernel, Kernel):
        return kernel
    return make_kernel(kernel, n_features=n_features, **params)


def similarity_samples(
    X, Y, *, kernel="rbf", gamma=None, degree=3, coef0=1.0, kernel_params=None,
    n_pairs=2000, random_state=None,
):  # fmt: skip
    """Input and output similarities of random pairs of rows (Fig. 3b).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Inputs.
    Y : array-like of shape (n_samples, n_components)
        Representations of the same rows.
    kernel, gamma, degree, coef0, kernel_params
        The input kernel, as for :func:`kernel_approximation_error`.
    n_pairs : int, default=2000
        Number of pairs ``(s, t)`` drawn uniformly (with replacement).
    random_state : int, RandomState instance or None, default=None
        Seeds the pairs.

    Returns
    -------
    input_similarity : ndarray of shape (n_pairs,)
        ``f(x_s, x_t)``.
    output_similarity : ndarray of shape (n_pairs,)
        ``y_s . y_t``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ksm.metrics import similarity_samples
    >>> X = np.random.RandomState(0).normal(size=(30, 2))
    >>> k, y = similarity_samples(X, X, kernel="linear", n_pairs=5, random_state=0)
    >>> bool(np.allclose(k, y))
    True
    """
    X = check_array(X, dtype=np.float64)
    Y = check_array(Y, dtype=np.float64)
    if len(X) != len(Y):
        raise ValueError(
            f"X and Y must have the same number of rows, got {len(X)} and {len(Y)}."
        )
    rng = check_random_state(random_state)
    s, t = rng.randint(len(X), size=(2, n_pairs))
    kernel = _resolve_kernel(
        kernel, X.shape[1], gamma=gamma, degree=degree, coef0=coef0, kernel_params=kernel_params
    )
    Xs, Xt = torch.from_numpy(X[s]), torch.from_numpy(X[t])
    # f(x_s, x_t) for each pair, without the n_pairs x n_pairs matrix.
    inputs = torch.cat([torch.diagonal(kernel(a, b)) for a, b in
                        zip(Xs.split(512), Xt.split(512), strict=True)])  # fmt: skip
    return inputs.numpy(), np.einsum("ij,ij->i", Y[s], Y[t])


def kernel_spectrum(
    X, *, kernel="rbf", gamma=None, degree=3, coef0=1.0, kernel_params=None,
    n_eigenvalues=None, random_state=None,
):  # fmt: skip
    """Eigenvalues of the (uncentred) kernel matrix of ``X``, largest first.

    The full spectrum by a dense symmetric eigensolver, or the top
    ``n_eigenvalues`` by a randomized one (for large ``X``).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Inputs.
    kernel, gamma, degree, coef0, kernel_params
        The kernel, as for :func:`kernel_approximation_error`.
    n_eigenvalues : int or None, default=None
        How many of the largest eigenvalues to return (all if None).
    random_state : int, RandomState instance or None, default=None
        Seeds the randomized eigensolver.

    Returns
    -------
    eigenvalues : ndarray of shape (n_eigenvalues,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ksm.metrics import kernel_spectrum
    >>> X = np.diag([3.0, 2.0])
    >>> kernel_spectrum(X, kernel="linear")
    array([9., 4.])
    """
    X = check_array(X, dtype=np.float64)
    kernel = _resolve_kernel(
        kernel, X.shape[1], gamma=gamma, degree=degree, coef0=coef0, kernel_params=kernel_params
    )
    Xt = torch.from_numpy(X)
    K = kernel(Xt, Xt).numpy()
    if n_eigenvalues is None or n_eigenvalues >= len(X) // 2:
        eigenvalues = np.linalg.eigvalsh(K)[::-1]
        return eigenvalues[:n_eigenvalues].copy()
    from sklearn.utils.extmath import randomized_svd

    # K is PSD, so its singular values are its eigenvalues.
    _, eigenvalues, _ = randomized_svd(
        K, n_eigenvalues, n_oversamples=max(10, n_eigenvalues // 4), n_iter=6,
        random_state=random_state,
    )  # fmt: skip
    return eigenvalues


def gram_spectrum(Y):
    """Eigenvalues of ``Y Y^T``, largest first (the squared singular values of Y).

    Parameters
    ----------
    Y : array-like of shape (n_samples, n_components)
        Representations.

    Returns
    -------
    eigenvalues : ndarray of shape (min(n_samples, n_components),)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ksm.metrics import gram_spectrum
    >>> gram_spectrum(np.diag([3.0, 2.0]))
    array([9., 4.])
    """
    Y = check_array(Y, dtype=np.float64)
    return np.linalg.svd(Y, compute_uv=False) ** 2
