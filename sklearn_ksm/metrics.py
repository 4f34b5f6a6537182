"""Kernel approximation quality, computed in row blocks (memory O(block x n))."""

import math
from numbers import Real

import numpy as np
import torch
from sklearn.utils import _safe_indexing, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.validation import check_array

from ._device import host_array, resolve_device, to_tensor
from ._validation import IntegerInterval
from .kernels import KERNEL_NAMES, Kernel, make_kernel

__all__ = [
    "kernel_approximation_error",
    "make_kernel_scorer",
    "similarity_samples",
    "kernel_spectrum",
    "gram_spectrum",
    "subspace_error",
    "eigenvalue_error",
    "orthonormality_error",
    "whitening_error",
]


@validate_params(
    {
        "X": ["array-like"],
        "Y": ["array-like"],
        "kernel": [StrOptions(set(KERNEL_NAMES)), callable],
        "gamma": [Interval(Real, 0, None, closed="neither"), None],
        "degree": [Interval(Real, 1, None, closed="left")],
        "coef0": [Interval(Real, None, None, closed="neither")],
        "kernel_params": [dict, None],
        "block_size": [IntegerInterval(1, None, closed="left")],
        "device": [str],
    },
    prefer_skip_nested_validation=True,
)
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
    of rows at a time, so memory is ``O(block_size * n_samples)``. The norms
    are accumulated with power-of-two scalings (as LAPACK's ``dlassq``), so
    that kernel values or outputs up to the float64 range give a finite
    error without any square overflowing.

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

    Raises
    ------
    ValueError
        If the kernel values of ``X`` are not finite in float64 (the kernel
        overflows at the scale of ``X``), all zero, or if the error itself
        exceeds the float64 range.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ksm.metrics import kernel_approximation_error
    >>> X = np.random.RandomState(0).normal(size=(50, 3))
    >>> round(kernel_approximation_error(X, X, kernel="linear"), 12)
    0.0
    >>> kernel_approximation_error(X * 1e150, np.zeros((50, 2)), kernel="linear")
    1.0
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
    Xt = to_tensor(X, device)
    # Y = 2^y_exp Yu with |Yu| < 1, so that Yu Yu^T cannot overflow.
    y_exp = _binary_exponent(float(np.abs(Y).max(initial=0.0)))
    Yu = _times_power_of_two(to_tensor(Y, device), -y_exp)
    residual, total = _SquaredNorm(), _SquaredNorm()
    for start in range(0, len(Xt), block_size):
        K = kernel(Xt[start : start + block_size], Xt)
        k_peak = float(K.abs().max())
        if not np.isfinite(k_peak):
            raise ValueError(
                f"The kernel values of X are not finite in float64 (largest |x| = "
                f"{np.abs(X).max():.3g}): the kernel overflows at this scale. Rescale X."
            )
        # K - Y Y^T = 2^e (K 2^-e - Yu Yu^T 2^(2 y_exp - e)), both terms at most O(1)
        e = max(_binary_exponent(k_peak), 2 * y_exp)
        products = Yu[start : start + block_size] @ Yu.T
        scaled = _times_power_of_two(K, -e) - _times_power_of_two(products, 2 * y_exp - e)
        residual.add(scaled, e)
        total.add(K)
    if total.is_zero():
        raise ValueError("The kernel matrix of X is zero; the relative error is undefined.")
    try:
        return residual.ratio(total)
    except OverflowError:
        raise ValueError(
            "The kernel approximation error exceeds the float64 range: Y Y^T is about "
            f"4^{y_exp} (largest |y| = {np.abs(Y).max():.3g}) against kernel values of "
            "X far smaller. The representation Y has overflowed."
        ) from None


def _binary_exponent(value):
    """The ``e`` of ``value = m 2^e`` with ``0.5 <= |m| < 1`` (0 for 0)."""
    return math.frexp(value)[1]


def _times_power_of_two(A, exponent):
    """``A * 2**exponent`` (exact unless the result is subnormal), for any exponent.

    Applied in factors of at most ``2**1000``, so the factors never overflow.
    """
    while exponent:
        step = max(-1000, min(1000, exponent))
        A = A * math.ldexp(1.0, step)
        exponent -= step
    return A


class _SquaredNorm:
    """A sum of squares kept as ``ssq * 4**exponent``: nothing overflows.

    The scaling of LAPACK's ``dlassq``, with powers of two: each block is
    divided by the power of two above its largest entry before squaring,
    and blocks of different magnitudes combine in the larger one's scale.
    """

    def __init__(self):
        self.ssq = 0.0
        self.exponent = 0

    def add(self, A, exponent=0):
        """Add ``sum((A * 2**exponent) ** 2)`` for a tensor ``A``."""
        peak = float(A.abs().max()) if A.numel() else 0.0
        if peak == 0.0:
            return
        own = _binary_exponent(peak)
        ssq = float((_times_power_of_two(A, -own) ** 2).sum())  # entries below 1
        self._combine(ssq, own + exponent)

    def _combine(self, ssq, exponent):
        if self.ssq == 0.0 or exponent > self.exponent:
            # ldexp underflows to 0 (a negligible old sum), it cannot overflow here
            self.ssq = math.ldexp(self.ssq, 2 * (self.exponent - exponent)) + ssq
            self.exponent = exponent
        else:
            self.ssq += math.ldexp(ssq, 2 * (exponent - self.exponent))

    def is_zero(self):
        return self.ssq == 0.0

    def ratio(self, other):
        """``sqrt(self / other)``; OverflowError if it exceeds the float64 range."""
        return math.ldexp(math.sqrt(self.ssq / other.ssq), self.exponent - other.exponent)


# Rows of the seeded subsample on which scores compute the kernel error (the
# error needs an O(n^2) kernel matrix, computed in blocks).
SCORE_MAX_SAMPLES = 2000


def score_subsample(X, max_samples=SCORE_MAX_SAMPLES):
    """At most ``max_samples`` rows of ``X``, drawn with a fixed seed, in their order.

    Every model scored on the same ``X`` is scored on the same rows. ``X``
    keeps its type (a DataFrame keeps its column names).
    """
    n_samples = len(X)
    if max_samples is None or n_samples <= max_samples:
        return X
    rows = np.random.RandomState(0).choice(n_samples, max_samples, replace=False)
    return _safe_indexing(X, np.sort(rows))


class KernelScorer:
    """Minus the kernel error of ``estimator.transform(X)`` against a fixed kernel.

    Made by :func:`make_kernel_scorer`; see there.
    """

    def __init__(self, kernel, kernel_params, max_samples, device):
        self.kernel = kernel
        self.kernel_params = kernel_params
        self.max_samples = max_samples
        self.device = device

    def __call__(self, estimator, X, y=None):
        """``-||K - Y Y^T||_F / ||K||_F`` with ``Y = estimator.transform(X)``.

        Parameters
        ----------
        estimator : fitted transformer
            E.g. a fitted :class:`~sklearn_ksm.HebbianKernelSimilarityMatching`,
            or a :class:`~sklearn.pipeline.Pipeline` ending in one.
        X : array-like of shape (n_samples, n_features)
            Inputs; the reference kernel is evaluated on them as given (the
            input of a pipeline).
        y : None
            Ignored.

        Returns
        -------
        score : float
            Minus the relative error (higher is better, 0 is exact).
        """
        X = score_subsample(host_array(X), self.max_samples)
        Y = host_array(estimator.transform(X))
        return -kernel_approximation_error(
            X, Y, kernel=self.kernel, device=self.device, **self.kernel_params
        )

    def __repr__(self):
        params = {"kernel": self.kernel, **self.kernel_params}
        args = ", ".join(f"{k}={v!r}" for k, v in params.items() if v is not None)
        return f"make_kernel_scorer({args})"


def make_kernel_scorer(
    kernel="rbf", *, gamma=None, degree=3, coef0=1.0, kernel_params=None,
    max_samples=SCORE_MAX_SAMPLES, device="cpu",
):  # fmt: skip
    """A scorer that measures every model against the same, fixed kernel.

    ``score`` of :class:`~sklearn_ksm.HebbianKernelSimilarityMatching`
    measures a model against its own kernel, so in a search over kernel
    parameters each candidate answers a different question, and the
    smoothest kernel (easiest to approximate with few components) wins: on
    the digits, the smallest ``gamma`` of the grid. This scorer measures
    every candidate's output against one reference kernel, so the candidates
    compete on the same target. Pass it as ``scoring`` to
    :class:`~sklearn.model_selection.GridSearchCV` or
    :func:`~sklearn.model_selection.cross_val_score`.

    Parameters
    ----------
    kernel : {"rbf", "power_cosine", "linear", "poly"}, callable or Kernel, default="rbf"
        The reference kernel, as for :func:`kernel_approximation_error`.
    gamma : float, default=None
        Scale of rbf and poly; ``None`` means ``1 / n_features`` of the
        scored ``X``.
    degree : int, default=3
        Degree of poly, exponent of power_cosine.
    coef0 : float, default=1.0
        Constant term of poly.
    kernel_params : dict, default=None
        Keyword arguments for a callable kernel.
    max_samples : int or None, default=2000
        The error is computed on at most this many rows of ``X``, drawn with
        a fixed seed (the same rows for every candidate), as ``score`` does;
        ``None`` uses all rows (memory ``O(1024 n_samples)``, time
        ``O(n_samples^2)``).
    device : str, default="cpu"
        Where the reference kernel is computed.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y=None)``: minus the relative error
        ``||K - Y Y^T||_F / ||K||_F`` of ``Y = estimator.transform(X)``
        against the reference kernel ``K`` of ``X`` (higher is better).

    See Also
    --------
    kernel_approximation_error : The error itself.

    Examples
    --------
    >>> from sklearn.datasets import make_moons
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklearn_ksm import HebbianKernelSimilarityMatching
    >>> from sklearn_ksm.metrics import make_kernel_scorer
    >>> X, _ = make_moons(n_samples=200, noise=0.1, random_state=0)
    >>> search = GridSearchCV(
    ...     HebbianKernelSimilarityMatching(8, max_iter=5, random_state=0),
    ...     {"gamma": [1.0, 5.0]}, scoring=make_kernel_scorer("rbf", gamma=5.0), cv=2,
    ... ).fit(X)
    >>> sorted(search.best_params_)
    ['gamma']
    """
    params = {"gamma": gamma, "degree": degree, "coef0": coef0, "kernel_params": kernel_params}
    return KernelScorer(kernel, params, max_samples, device)


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
        raise ValueError(f"X and Y must have the same number of rows, got {len(X)} and {len(Y)}.")
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


# ------------------------------------------------ linear similarity matching


def _row_basis(A, name):
    """An orthonormal basis (n, k) of the row space of ``A`` (k, n), by QR."""
    A = check_array(A, dtype=np.float64, input_name=name)
    return np.linalg.qr(A.T)[0]


def subspace_error(components, reference, *, squared=True):
    """Distance between the row spaces of two matrices, e.g. learnt filters and PCA.

    The squared Frobenius distance between the orthogonal projectors onto
    the two row spaces, divided by the number ``k`` of rows of
    ``components``: ``||P_F - P_U||_F^2 / k``, in ``[0, 2]`` for equal
    dimensions (MATLAB ``compute_projection_error`` of online_psp). It is
    computed as ``(||(I - P_U) Q_F||_F^2 + ||(I - P_F) Q_U||_F^2) / k`` from
    orthonormal bases ``Q``, which is the same value without ``n x n``
    matrices or cancellation, so that errors down to ~1e-30 are resolved.

    Parameters
    ----------
    components : array-like of shape (k, n_features)
        Rows spanning the learnt subspace, e.g. ``components_`` (the filters
        ``F``); they need not be orthonormal.
    reference : array-like of shape (k_ref, n_features)
        Rows spanning the reference subspace, e.g. the top ``k``
        eigenvectors of the covariance as rows.
    squared : bool, default=True
        If False, return the square root (online_psp's Python
        ``util.subspace_error``).

    Returns
    -------
    error : float
        0 when the two subspaces are equal.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ksm.metrics import subspace_error
    >>> round(subspace_error([[1.0, 1.0, 0.0], [1.0, -1.0, 0.0]], np.eye(3)[:2]), 12)
    0.0
    >>> subspace_error([[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
    2.0
    """
    Q_F, Q_U = _row_basis(components, "components"), _row_basis(reference, "reference")
    if Q_F.shape[0] != Q_U.shape[0]:
        raise ValueError(
            f"components and reference must have the same number of columns, got "
            f"{Q_F.shape[0]} and {Q_U.shape[0]}."
        )
    outside_U = Q_F - Q_U @ (Q_U.T @ Q_F)
    outside_F = Q_U - Q_F @ (Q_F.T @ Q_U)
    error = (np.sum(outside_U**2) + np.sum(outside_F**2)) / Q_F.shape[1]
    return float(error if squared else np.sqrt(error))


def eigenvalue_error(lateral_weights, eigenvalues):
    """Relative error of the eigenvalues of a symmetric ``M`` against the top eigenvalues.

    ``||sort(eig(M)) - lambda_{1..k}|| / ||lambda_{1..k}||``, with ``k`` the
    size of ``M`` and ``lambda`` the ``k`` largest of ``eigenvalues``, both
    sorted in decreasing order. At convergence, the lateral synapses of
    :class:`HebbianSimilarityMatching` have the top eigenvalues of the input
    covariance, in both modes.

    Parameters
    ----------
    lateral_weights : array-like of shape (k, k)
        Symmetric matrix, e.g. ``lateral_weights_``.
    eigenvalues : array-like of shape (n_eigenvalues,)
        Reference eigenvalues (at least ``k``), in any order, e.g. all those
        of the input covariance.

    Returns
    -------
    error : float

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ksm.metrics import eigenvalue_error
    >>> eigenvalue_error(np.diag([2.0, 3.0]), [1.0, 3.0, 2.0])
    0.0
    """
    M = check_array(lateral_weights, dtype=np.float64, input_name="lateral_weights")
    if M.shape[0] != M.shape[1]:
        raise ValueError(f"lateral_weights must be square, got shape {M.shape}.")
    reference = np.sort(np.ravel(np.asarray(eigenvalues, dtype=np.float64)))[::-1]
    if len(reference) < len(M):
        raise ValueError(f"Need at least {len(M)} reference eigenvalues, got {len(reference)}.")
    reference = reference[: len(M)]
    values = np.linalg.eigvalsh((M + M.T) / 2)[::-1]
    return float(np.linalg.norm(values - reference) / np.linalg.norm(reference))


def orthonormality_error(components):
    """``||F F^T - I||_F / sqrt(k)``: how far the rows of ``F`` are from orthonormal.

    Parameters
    ----------
    components : array-like of shape (k, n_features)
        Filters ``F``, e.g. ``components_`` of a PSP network.

    Returns
    -------
    error : float

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ksm.metrics import orthonormality_error
    >>> orthonormality_error(np.eye(3)[:2])
    0.0
    """
    F = check_array(components, dtype=np.float64, input_name="components")
    return float(np.linalg.norm(F @ F.T - np.eye(len(F))) / np.sqrt(len(F)))


def whitening_error(components, covariance):
    """``||F C F^T - I||_F / sqrt(k)``: how far the outputs ``y = F x`` are from white.

    Parameters
    ----------
    components : array-like of shape (k, n_features)
        Filters ``F``, e.g. ``components_`` of a PSW network.
    covariance : array-like of shape (n_features, n_features)
        Input covariance ``C``.

    Returns
    -------
    error : float

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ksm.metrics import whitening_error
    >>> whitening_error([[0.5, 0.0], [0.0, 1.0]], np.diag([4.0, 1.0]))
    0.0
    """
    F = check_array(components, dtype=np.float64, input_name="components")
    C = check_array(covariance, dtype=np.float64, input_name="covariance")
    if C.shape != (F.shape[1], F.shape[1]):
        raise ValueError(f"covariance must have shape {(F.shape[1], F.shape[1])}, got {C.shape}.")
    return float(np.linalg.norm(F @ C @ F.T - np.eye(len(F))) / np.sqrt(len(F)))
