"""Kernel approximation baselines the Hebbian network is compared with.

- :class:`UncenteredKernelPCA`: the optimal rank-N approximation of the
  (uncentred) kernel matrix.
- :class:`KernelNystroem`: the Nystroem map on uniformly sampled, k-means,
  randomly pivoted Cholesky or given landmarks (e.g. a network's learned
  ``components_``), built on scikit-learn's
  :class:`~sklearn.kernel_approximation.Nystroem`.
- :func:`randomly_pivoted_cholesky`: the landmark sampler of Chen, Epperly,
  Tropp & Webber (accelerated, blocked), for any of the package's kernels.
- Random Fourier features are scikit-learn's
  :class:`~sklearn.kernel_approximation.RBFSampler` itself.
"""

import math
import warnings
from numbers import Integral, Real
from typing import NamedTuple

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.cluster import KMeans
from sklearn.kernel_approximation import Nystroem
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ._device import host_array, resolve_device, to_tensor
from ._doc_link import DocLinkMixin
from ._threads import n_rows, thread_policy
from .kernels import KERNEL_NAMES, estimator_kernel

__all__ = [
    "UncenteredKernelPCA",
    "KernelNystroem",
    "randomly_pivoted_cholesky",
    "sample_landmarks",
]

_KERNEL_CONSTRAINTS = {
    "kernel": [StrOptions(set(KERNEL_NAMES)), callable],
    "gamma": [Interval(Real, 0, None, closed="neither"), None],
    "degree": [Interval(Real, 1, None, closed="left")],
    "coef0": [Interval(Real, None, None, closed="neither")],
    "kernel_params": [dict, None],
}

# The dense eigensolver is used up to this many samples (an n x n float64
# matrix of 5000 rows is 200 MB, eigendecomposed in about 15 s on 2 cores),
# so the MNIST 5k sample gets the exact optimum; beyond, the randomized one.
DENSE_EIGEN_MAX_SAMPLES = 5000

#: Landmark samplers of :func:`sample_landmarks` and :class:`KernelNystroem`.
LANDMARK_METHODS = ("uniform", "kmeans", "kmeans_random", "rpcholesky")


def blocked_kernel_matmul(kernel, X, Z, V, block_size=2048):
    """``K(X, Z) @ V`` one block of rows of ``X`` at a time (memory O(block x n))."""
    return torch.cat([kernel(Xb, Z) @ V for Xb in torch.split(X, block_size)])


def randomized_eigh(matmul, n, n_components, *, n_oversamples, n_iter, generator, dtype):
    """Top eigenpairs of a PSD matrix known only through ``matmul(V) = K @ V``.

    Randomized range finder with power iterations (Halko, Martinsson & Tropp
    2011, Alg. 4.4), then the Rayleigh-Ritz step on the found subspace.
    """
    size = min(n, n_components + n_oversamples)
    Q = torch.randn(n, size, generator=generator, dtype=dtype)
    Q, _ = torch.linalg.qr(matmul(Q))
    for _ in range(n_iter):
        Q, _ = torch.linalg.qr(matmul(Q))
    eigenvalues, U = torch.linalg.eigh(Q.T @ matmul(Q))
    order = torch.argsort(eigenvalues, descending=True)[:n_components]
    return eigenvalues[order], Q @ U[:, order]


# A residual diagonal entry below this fraction of the kernel's own diagonal
# counts as zero: the residual is a difference of float64 sums of up to N
# products (rounding about N * 1e-16, 1e-13 at N = 1000), so 1e-10 keeps a
# thousandfold margin above rounding while dropping nothing a kernel
# approximation error could show.
RESIDUAL_RTOL = 1e-10


class PivotedCholesky(NamedTuple):
    """Result of :func:`randomly_pivoted_cholesky`.

    Attributes
    ----------
    pivots : ndarray of shape (n_pivots,)
        Indices of the chosen rows, in the order chosen.
    factor : ndarray of shape (n_samples, n_pivots)
        ``F`` with ``F F^T = K[:, S] K[S, S]^+ K[S, :]``, the Nystroem
        approximation of ``K`` on the pivots ``S`` (columns of pivots added
        after the residual vanished are zero).
    residual : ndarray of shape (n_samples,)
        Diagonal of the residual ``K - F F^T`` (entries below
        ``RESIDUAL_RTOL`` times the kernel's diagonal are set to zero).
    """

    pivots: np.ndarray
    factor: np.ndarray
    residual: np.ndarray


def _rejection_cholesky(H, proposal, floor, max_accept, uniforms):
    """Accept block candidates as RPCholesky pivots by rejection sampling.

    Candidate ``j`` was drawn with probability proportional to ``proposal[j]``
    (the residual diagonal when the block was drawn); it is accepted with
    probability ``H[j, j] / proposal[j]``, where ``H`` is its residual after the
    candidates accepted before it, so each accepted pivot has the
    distribution of a sequential RPCholesky pivot. ``H`` is overwritten by its
    partial Cholesky factor; returns the accepted positions and ``chol(H[T, T])``.
    """
    accepted = []
    for j in range(H.shape[0]):
        pivot = H[j, j].item()
        if not (pivot > floor[j] and uniforms[j] * proposal[j] < pivot):
            continue  # a repeated candidate has residual ~0 and is always rejected
        accepted.append(j)
        H[j:, j] /= math.sqrt(pivot)
        H[j + 1 :, j + 1 :] -= torch.outer(H[j + 1 :, j], H[j + 1 :, j])
        if len(accepted) == max_accept:
            break
    return accepted, torch.tril(H[accepted][:, accepted])


def randomly_pivoted_cholesky(X, n_pivots, kernel, *, block_size=None, random_state=None):
    """Choose landmark rows of ``X`` by randomly pivoted Cholesky.

    Randomly pivoted Cholesky (RPCholesky) builds a partial Cholesky
    factorisation of the kernel matrix ``K`` of the rows of ``X``, choosing
    each pivot at random with probability proportional to the diagonal of
    the current residual ``K - F F^T``: rows that the chosen ones already
    explain are rarely picked again. Its Nystroem approximation has a
    near-optimal expected error, at the cost of about ``(N + 1) n`` kernel
    evaluations and ``O(n N)`` memory (Chen, Epperly, Tropp & Webber).

    This is the accelerated, blocked variant (Epperly, Tropp & Webber): a
    block of candidates is drawn at once from the residual diagonal, then
    accepted one by one by rejection sampling against their exact residual
    (a ``block_size x block_size`` submatrix of ``K``), so the pivots have
    the distribution of the sequential algorithm while the residual columns
    are computed a block at a time.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Rows to choose from.
    n_pivots : int
        Number of rows to choose, ``1 <= n_pivots <= n_samples``.
    kernel : Kernel
        A positive semi-definite kernel of :mod:`sklearn_ksm.kernels`, e.g.
        from :func:`~sklearn_ksm.kernels.make_kernel` (a callable kernel
        included).
    block_size : int, default=None
        Candidates drawn per block; ``None`` means ``ceil(n_pivots / 10)``
        (the authors' choice).
    random_state : int, RandomState instance or None, default=None
        Seeds the sampling.

    Returns
    -------
    result : PivotedCholesky
        A named tuple ``(pivots, factor, residual)``: the chosen row indices
        (n_pivots,) in the order chosen; ``F`` (n_samples, n_pivots) with
        ``F F^T = K[:, S] K[S, S]^+ K[S, :]``, the Nystroem approximation on
        the pivots ``S``; and the diagonal of ``K - F F^T`` (n_samples,).
        If the residual vanishes (``K`` is reproduced to rounding, e.g. when
        ``n_pivots`` exceeds the rank of ``K``), the remaining pivots are
        distinct rows drawn uniformly from those not yet chosen.

    See Also
    --------
    KernelNystroem : Nystroem map on these landmarks (``landmarks="rpcholesky"``).

    References
    ----------
    .. [1] Chen, Y., Epperly, E. N., Tropp, J. A. & Webber, R. J. "Randomly
       pivoted Cholesky: Practical approximation of a kernel matrix with few
       entry evaluations." Communications on Pure and Applied Mathematics
       (2025), doi:10.1002/cpa.22234.
    .. [2] Epperly, E. N., Tropp, J. A. & Webber, R. J. "Embrace rejection:
       Kernel matrix approximation by accelerated randomly pivoted
       Cholesky." arXiv:2410.03969 (2024).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ksm.baselines import randomly_pivoted_cholesky
    >>> from sklearn_ksm.kernels import RBFKernel
    >>> X = np.random.RandomState(0).normal(size=(200, 2))
    >>> result = randomly_pivoted_cholesky(X, 20, RBFKernel(gamma=0.5), random_state=0)
    >>> result.pivots.shape, result.factor.shape
    ((20,), (200, 20))
    >>> bool(result.residual.sum() < 0.05 * len(X))  # under 5% of the trace of K left
    True
    """
    Xt = to_tensor(check_array(X, dtype=np.float64, input_name="X"), "cpu")
    n = Xt.shape[0]
    if isinstance(n_pivots, bool) or not isinstance(n_pivots, Integral) or not 1 <= n_pivots <= n:
        raise ValueError(f"n_pivots must be an integer in [1, n_samples={n}], got {n_pivots!r}.")
    if block_size is None:
        block_size = math.ceil(n_pivots / 10)
    elif isinstance(block_size, bool) or not isinstance(block_size, Integral) or block_size < 1:
        raise ValueError(f"block_size must be a positive integer or None, got {block_size!r}.")
    rng = check_random_state(random_state)
    diagonal = kernel.diag(Xt)
    if not (torch.isfinite(diagonal).all() and (diagonal >= 0).all()):
        raise ValueError(
            "The kernel's diagonal f(x, x) must be finite and non-negative (a positive "
            "semi-definite kernel); got negative or non-finite values."
        )
    floor = RESIDUAL_RTOL * diagonal
    residual = torch.where(diagonal > floor, diagonal, 0.0)
    factor = Xt.new_zeros(n, n_pivots)
    pivots = np.empty(n_pivots, dtype=np.intp)
    count = 0
    while count < n_pivots:
        cumulative = np.cumsum(residual.numpy())
        if not cumulative[-1] > 0:
            break  # K is reproduced to rounding: further pivots add nothing
        draws = rng.random_sample(block_size) * cumulative[-1]
        candidates = torch.as_tensor(np.searchsorted(cumulative, draws, side="right"))
        past = factor[candidates, :count]
        H = kernel(Xt[candidates], Xt[candidates]) - past @ past.T
        fresh = H.diagonal().clone()
        accepted, chol = _rejection_cholesky(
            H, residual[candidates].tolist(), floor[candidates].tolist(), n_pivots - count,
            rng.random_sample(block_size).tolist(),
        )  # fmt: skip
        if not accepted:
            # Recomputed residuals replace drifted ones, so no block is drawn
            # forever from entries that are zero up to rounding.
            residual[candidates] = torch.where(fresh > floor[candidates], fresh, 0.0)
            continue
        rows = candidates[accepted]
        columns = kernel(Xt, Xt[rows]) - factor[:, :count] @ factor[rows, :count].T
        new = torch.linalg.solve_triangular(chol, columns.T, upper=False).T
        factor[:, count : count + len(rows)] = new
        residual = residual - (new * new).sum(1)
        residual[rows] = 0.0  # exactly explained; rounding must not re-draw them
        residual = torch.where(residual > floor, residual, 0.0)
        pivots[count : count + len(rows)] = rows.numpy()
        count += len(rows)
    if count < n_pivots:
        unused = np.setdiff1d(np.arange(n), pivots[:count])
        pivots[count:] = rng.choice(unused, n_pivots - count, replace=False)
    return PivotedCholesky(pivots, factor.numpy(), residual.numpy())


def sample_landmarks(X, n_landmarks, method, *, kernel=None, random_state=None):
    """Landmarks for a Nystroem map or a network's initial ``W``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Training rows.
    n_landmarks : int
        Number of landmarks. Beyond ``n_samples``, the landmarks of
        ``n_samples`` are followed by training rows drawn uniformly with
        replacement.
    method : {"uniform", "kmeans", "kmeans_random", "rpcholesky"}
        ``"uniform"``: distinct training rows drawn uniformly (Williams &
        Seeger); ``"kmeans"``: the centres of scikit-learn's default
        :class:`~sklearn.cluster.KMeans` (k-means++ seeding, then Lloyd's
        iterations; Zhang, Tsang & Kwok); ``"kmeans_random"``: a weaker
        KMeans, one run of at most 100 Lloyd iterations from random rows;
        ``"rpcholesky"``: rows chosen by :func:`randomly_pivoted_cholesky`
        on ``kernel``.
    kernel : Kernel, default=None
        The kernel (needed by ``"rpcholesky"`` only).
    random_state : int, RandomState instance or None, default=None
        Seeds the sampling.

    Returns
    -------
    landmarks : ndarray of shape (n_landmarks, n_features)
        The landmarks, float64.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ksm.baselines import sample_landmarks
    >>> X = np.random.RandomState(0).normal(size=(100, 3))
    >>> sample_landmarks(X, 5, "kmeans", random_state=0).shape
    (5, 3)
    """
    X = check_array(X, dtype=np.float64, input_name="X")
    rng = check_random_state(random_state)
    n = min(n_landmarks, X.shape[0])
    if method == "uniform":
        landmarks = X[rng.permutation(X.shape[0])[:n]]
    elif method == "kmeans":
        landmarks = KMeans(n_clusters=n, random_state=rng).fit(X).cluster_centers_
    elif method == "kmeans_random":
        kmeans = KMeans(
            n_clusters=n, init="random", n_init=1, max_iter=100, algorithm="lloyd",
            random_state=rng,
        )  # fmt: skip
        landmarks = kmeans.fit(X).cluster_centers_
    elif method == "rpcholesky":
        if kernel is None:
            raise ValueError('method="rpcholesky" needs the kernel.')
        landmarks = X[randomly_pivoted_cholesky(X, n, kernel, random_state=rng).pivots]
    else:
        raise ValueError(f"Unknown landmark method {method!r}; expected one of {LANDMARK_METHODS}.")
    if n < n_landmarks:
        landmarks = np.vstack([landmarks, X[rng.randint(X.shape[0], size=n_landmarks - n)]])
    return landmarks


class UncenteredKernelPCA(
    DocLinkMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    """Optimal rank-N kernel approximation: top eigenpairs of the uncentred K.

    On the training set the output ``Y = V_N Lambda_N^{1/2}`` satisfies
    ``Y Y^T = V_N Lambda_N V_N^T``, the best rank-N approximation of the
    kernel matrix ``K`` in Frobenius norm (the "kernel PCA" of Luther &
    Seung). New rows are mapped by the Nystroem extension
    ``y(x) = Lambda_N^{-1/2} V_N^T k(X_train, x)``.

    This is not :class:`sklearn.decomposition.KernelPCA`, which centres the
    kernel matrix (it approximates the centred ``K``, not ``K``).

    Parameters
    ----------
    n_components : int, default=100
        Rank ``N`` of the approximation.
    kernel : {"rbf", "power_cosine", "linear", "poly"} or callable, default="rbf"
        The kernel, as in :class:`~sklearn_ksm.HebbianKernelSimilarityMatching`.
    gamma : float, default=None
        rbf / poly scale; ``None`` means ``1 / n_features``.
    degree : int, default=3
        poly degree; power_cosine exponent.
    coef0 : float, default=1
        poly constant term.
    kernel_params : dict, default=None
        Keyword arguments of a callable kernel.
    eigen_solver : {"auto", "dense", "randomized"}, default="auto"
        ``"dense"`` forms ``K`` and calls a symmetric eigensolver (exact);
        ``"randomized"`` never forms ``K``: it multiplies by it in blocks of
        rows inside a randomized range finder (for large data). ``"auto"``
        is dense up to 5000 samples.
    n_oversamples : int, default=20
        Extra random directions of the randomized solver.
    n_iter : int, default=4
        Power iterations of the randomized solver.
    block_size : int, default=2048
        Rows of ``K`` computed at once.
    device : str, default="cpu"
        Torch device of the computation (``"auto"``, ``"cpu"``, ``"cuda"``).
    random_state : int, RandomState instance or None, default=None
        Seeds the randomized solver.

    Attributes
    ----------
    eigenvalues_ : ndarray of shape (n_components,)
        Largest eigenvalues of ``K``, in decreasing order (clipped at 0).
    eigenvectors_ : ndarray of shape (n_samples, n_components)
        The corresponding unit eigenvectors.
    X_fit_ : ndarray of shape (n_samples, n_features)
        Training inputs (needed to map new rows).
    kernel_ : Kernel
        The kernel with its resolved parameters.
    n_features_in_ : int
        Number of features seen during ``fit``.

    See Also
    --------
    sklearn.decomposition.KernelPCA : Kernel PCA on the centred kernel matrix.
    KernelNystroem : Nystroem approximation from landmarks.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ksm.baselines import UncenteredKernelPCA
    >>> X = np.random.RandomState(0).normal(size=(50, 3))
    >>> Y = UncenteredKernelPCA(n_components=3, kernel="linear").fit_transform(X)
    >>> bool(np.allclose(Y @ Y.T, X @ X.T))
    True
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        **_KERNEL_CONSTRAINTS,
        "eigen_solver": [StrOptions({"auto", "dense", "randomized"})],
        "n_oversamples": [Interval(Integral, 0, None, closed="left")],
        "n_iter": [Interval(Integral, 0, None, closed="left")],
        "block_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_components=100,
        *,
        kernel="rbf",
        gamma=None,
        degree=3,
        coef0=1,
        kernel_params=None,
        eigen_solver="auto",
        n_oversamples=20,
        n_iter=4,
        block_size=2048,
        device="cpu",
        random_state=None,
    ):
        self.n_components = n_components
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.kernel_params = kernel_params
        self.eigen_solver = eigen_solver
        self.n_oversamples = n_oversamples
        self.n_iter = n_iter
        self.block_size = block_size
        self.device = device
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    @thread_policy(lambda estimator, X: n_rows(X))  # the n x n kernel matrix
    def fit(self, X, y=None):
        """Eigendecompose the kernel matrix of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        X = validate_data(self, host_array(X), dtype=np.float64)
        kernel = estimator_kernel(self, X.shape[1])
        device = resolve_device(self.device)
        Xt = to_tensor(X, device)
        n, rank = X.shape[0], min(self.n_components, X.shape[0])
        dense = self.eigen_solver == "dense" or (
            self.eigen_solver == "auto" and n <= DENSE_EIGEN_MAX_SAMPLES
        )
        if dense:
            K = torch.cat([kernel(Xb, Xt) for Xb in torch.split(Xt, self.block_size)])
            eigenvalues, eigenvectors = torch.linalg.eigh(K)
            eigenvalues, eigenvectors = eigenvalues.flip(0)[:rank], eigenvectors.flip(1)[:, :rank]
        else:
            seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
            eigenvalues, eigenvectors = randomized_eigh(
                lambda V: blocked_kernel_matmul(kernel, Xt, Xt, V.to(device), self.block_size),
                n, rank, n_oversamples=self.n_oversamples, n_iter=self.n_iter,
                generator=torch.Generator().manual_seed(int(seed)), dtype=torch.float64,
            )  # fmt: skip
        self.eigenvalues_ = eigenvalues.clamp(min=0).cpu().numpy()
        self.eigenvectors_ = eigenvectors.cpu().numpy()
        self.X_fit_ = X
        self.kernel_ = kernel
        return self

    @property
    def _n_features_out(self):
        return self.eigenvalues_.shape[0]

    def _inverse_sqrt_eigenvalues(self):
        # Directions with (numerically) zero eigenvalue carry no signal.
        cutoff = 1e-10 * max(self.eigenvalues_.max(initial=0.0), np.finfo(float).tiny)
        safe = np.where(self.eigenvalues_ > cutoff, self.eigenvalues_, np.inf)
        return 1.0 / np.sqrt(safe)

    def fit_transform(self, X, y=None):
        """Fit, and return ``V_N Lambda_N^{1/2}`` for the training rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored.

        Returns
        -------
        Y : ndarray of shape (n_samples, n_components)
        """
        self.fit(X)
        return self.eigenvectors_ * np.sqrt(self.eigenvalues_)

    @thread_policy(lambda estimator, X: n_rows(getattr(estimator, "X_fit_", ())))
    def transform(self, X):
        """Nystroem extension ``K(X, X_train) V_N Lambda_N^{-1/2}``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        Y : ndarray of shape (n_samples, n_components)
        """
        check_is_fitted(self)
        X = validate_data(self, host_array(X), dtype=np.float64, reset=False)
        device = resolve_device(self.device)
        projection = self.eigenvectors_ * self._inverse_sqrt_eigenvalues()
        Y = blocked_kernel_matmul(
            self.kernel_, to_tensor(X, device), to_tensor(self.X_fit_, device),
            to_tensor(projection, device), self.block_size,
        )  # fmt: skip
        return Y.cpu().numpy()


class KernelNystroem(
    DocLinkMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    """Nystroem kernel map on sampled, k-means, RPCholesky or given landmarks.

    The map ``y(x) = K_LL^{-1/2} k(L, x)`` gives ``Y Y^T = K_XL K_LL^+ K_LX``.
    For the rbf, linear and poly kernels it is scikit-learn's
    :class:`~sklearn.kernel_approximation.Nystroem` fitted on exactly the
    landmark matrix; the power-cosine kernel takes the same route through
    a homogeneous polynomial kernel on unit vectors, rescaled by the norms
    (``|u| |v| cos(u, v)^alpha``), so no kernel is evaluated per pair of rows
    in Python. Callable kernels are evaluated with torch.

    Parameters
    ----------
    n_components : int, default=100
        Number of landmarks (ignored when ``landmarks`` is an array).
    kernel : {"rbf", "power_cosine", "linear", "poly"} or callable, default="rbf"
        The kernel, as in :class:`~sklearn_ksm.HebbianKernelSimilarityMatching`.
    gamma : float, default=None
        rbf / poly scale; ``None`` means ``1 / n_features``.
    degree : int, default=3
        poly degree; power_cosine exponent.
    coef0 : float, default=1
        poly constant term.
    kernel_params : dict, default=None
        Keyword arguments of a callable kernel.
    landmarks : {"uniform", "kmeans", "kmeans_random", "rpcholesky"} or \
array-like of shape (n_landmarks, n_features), default="uniform"
        ``"uniform"``: training rows sampled without replacement (Williams &
        Seeger); ``"kmeans"``: the centres of scikit-learn's default
        :class:`~sklearn.cluster.KMeans` (k-means++ seeding, then Lloyd's
        iterations; Zhang, Tsang & Kwok); ``"kmeans_random"``: a weaker
        KMeans, one run of at most 100 Lloyd iterations from random training
        rows (the baseline of the package's earlier figures);
        ``"rpcholesky"``: training rows chosen by randomly pivoted Cholesky
        on the kernel (:func:`randomly_pivoted_cholesky`; Chen, Epperly,
        Tropp & Webber), about ``(n_components + 1) n_samples`` kernel
        evaluations; an array: these landmarks (e.g. a network's
        ``components_``).
    random_state : int, RandomState instance or None, default=None
        Seeds the landmark sampler.

    Attributes
    ----------
    landmarks_ : ndarray of shape (n_landmarks, n_features)
        The landmarks used.
    kernel_ : Kernel
        The kernel with its resolved parameters.
    nystroem_ : sklearn.kernel_approximation.Nystroem or None
        The fitted scikit-learn map (None for callable kernels).
    normalization_ : ndarray of shape (n_landmarks, n_landmarks) or None
        ``K_LL^{-1/2}`` for callable kernels (None otherwise).
    n_features_in_ : int
        Number of features seen during ``fit``.

    See Also
    --------
    sklearn.kernel_approximation.Nystroem : Nystroem map with sampled landmarks.
    UncenteredKernelPCA : The optimal rank-N approximation.
    randomly_pivoted_cholesky : The RPCholesky landmark sampler.

    References
    ----------
    .. [1] Williams, C. K. I. & Seeger, M. "Using the Nystroem method to speed
       up kernel machines." NIPS 13 (2001).
    .. [2] Zhang, K., Tsang, I. W. & Kwok, J. T. "Improved Nystroem low-rank
       approximation and error analysis." ICML (2008).
    .. [3] Chen, Y., Epperly, E. N., Tropp, J. A. & Webber, R. J. "Randomly
       pivoted Cholesky: Practical approximation of a kernel matrix with few
       entry evaluations." Communications on Pure and Applied Mathematics
       (2025), doi:10.1002/cpa.22234.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ksm.baselines import KernelNystroem
    >>> X = np.random.RandomState(0).normal(size=(40, 2))
    >>> Y = KernelNystroem(n_components=40, gamma=0.5, random_state=0).fit_transform(X)
    >>> K = np.exp(-0.5 * ((X[:, None] - X[None]) ** 2).sum(-1))
    >>> bool(np.allclose(Y @ Y.T, K, atol=1e-6))
    True
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        **_KERNEL_CONSTRAINTS,
        "landmarks": [StrOptions(set(LANDMARK_METHODS)), "array-like"],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_components=100,
        *,
        kernel="rbf",
        gamma=None,
        degree=3,
        coef0=1,
        kernel_params=None,
        landmarks="uniform",
        random_state=None,
    ):
        self.n_components = n_components
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.kernel_params = kernel_params
        self.landmarks = landmarks
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    @thread_policy(lambda estimator, X: estimator.n_components)  # the landmarks' kernel
    def fit(self, X, y=None):
        """Choose the landmarks and fit the Nystroem map on them.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        X = validate_data(self, host_array(X), dtype=np.float64)
        self.kernel_ = estimator_kernel(self, X.shape[1])
        self.landmarks_ = self._choose_landmarks(X)
        try:
            metric, params, self._normalized = self.kernel_.sklearn_metric()
        except NotImplementedError:
            self.nystroem_ = None
            self.normalization_ = self._torch_normalization(self.landmarks_)
        else:
            self.nystroem_ = Nystroem(
                kernel=metric, n_components=len(self.landmarks_), random_state=0, **params
            ).fit(self._prepare(self.landmarks_)[0])
            self.normalization_ = None
        return self

    def _choose_landmarks(self, X):
        if not isinstance(self.landmarks, str):
            landmarks = check_array(self.landmarks, dtype=np.float64, input_name="landmarks")
            if landmarks.shape[1] != X.shape[1]:
                raise ValueError(
                    f"landmarks have {landmarks.shape[1]} features but X has {X.shape[1]}."
                )
            return landmarks
        n_landmarks = self.n_components
        if n_landmarks > X.shape[0]:
            warnings.warn(
                f"n_components={n_landmarks} > n_samples={X.shape[0]}: using "
                f"{X.shape[0]} landmarks.",
                stacklevel=3,
            )
            n_landmarks = X.shape[0]
        return sample_landmarks(
            X, n_landmarks, self.landmarks, kernel=self.kernel_, random_state=self.random_state
        )

    def _prepare(self, X):
        """Inputs of the scikit-learn metric, and the output scale per row."""
        if not self._normalized:
            return X, None
        norms = np.linalg.norm(X, axis=1)
        return X / np.where(norms > 0, norms, 1.0)[:, None], norms

    def _torch_normalization(self, landmarks):
        L = torch.from_numpy(landmarks)
        U, S, Vh = torch.linalg.svd(self.kernel_(L, L))
        # As scikit-learn's Nystroem: tiny singular values are clipped.
        return (U / torch.sqrt(S.clamp(min=1e-12)) @ Vh).numpy()

    @property
    def _n_features_out(self):
        return self.landmarks_.shape[0]

    @thread_policy(lambda estimator, X: n_rows(getattr(estimator, "landmarks_", ())))
    def transform(self, X):
        """Nystroem features of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        Y : ndarray of shape (n_samples, n_landmarks)
        """
        check_is_fitted(self)
        X = validate_data(self, host_array(X), dtype=np.float64, reset=False)
        if self.nystroem_ is None:
            K = self.kernel_(torch.from_numpy(X), torch.from_numpy(self.landmarks_))
            return K.numpy() @ self.normalization_.T
        inputs, scale = self._prepare(X)
        Y = self.nystroem_.transform(inputs)
        return Y if scale is None else Y * scale[:, None]
