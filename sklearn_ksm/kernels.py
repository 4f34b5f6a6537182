"""Positive semi-definite kernels as small validated objects (torch).

Each kernel provides what the Hebbian network needs from it:

- the Gram matrix ``K[b, i] = f(x_b, w_i)`` (``kernel(X, W)``),
- the diagonal ``f(x, x)`` (``kernel.diag(X)``),
- the vector-Jacobian product with respect to the second argument,
  ``sum_b G[b, i] * df(x_b, w_i)/dw_i`` (``kernel.grad_second``), which is the
  data-dependent part of the feedforward update (Eq. 13 of Luther & Seung),
- the total derivative of the diagonal ``d f(w, w)/dw`` (``kernel.diag_grad``).

Built-in kernels implement these in closed form, with both derivatives in the
factored form ``A^T X + s * W`` (rows scaled by ``s``) that lets the training
step move the landmarks with one product and one pass (``gradient_factors``,
``diag_grad_factor``); :class:`CallableKernel` wraps a user function and
differentiates it with autograd.
"""

import math
import warnings
from abc import ABC, abstractmethod
from numbers import Real

import torch

__all__ = [
    "Kernel",
    "RBFKernel",
    "LinearKernel",
    "PolynomialKernel",
    "PowerCosineKernel",
    "CallableKernel",
    "make_kernel",
    "estimator_kernel",
    "KERNEL_NAMES",
]

#: Names of the built-in kernels, as accepted by the estimators' ``kernel``
#: parameter and by :func:`make_kernel`.
KERNEL_NAMES = ("rbf", "power_cosine", "linear", "poly")

# Norms below this are treated as zero, so that zero vectors give zero
# similarity instead of 0/0 in the power-cosine kernel.
_TINY_NORM = 1e-30


def _check_positive(name, value):
    if isinstance(value, bool) or not isinstance(value, Real) or not value > 0:
        raise ValueError(f"{name} must be a positive real number, got {value!r}.")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}.")
    return float(value)


def _check_integer_degree(name, value):
    """Integer exponents keep these kernels real and positive semi-definite."""
    if (
        isinstance(value, bool)
        or not isinstance(value, Real)
        or not math.isfinite(value)
        or value < 1
        or int(value) != value
    ):
        raise ValueError(
            f"{name} must be an integer >= 1 (non-integer powers of negative "
            f"numbers are not real and break positive semi-definiteness), "
            f"got {value!r}."
        )
    return int(value)


def _squared_norms(X):
    """``|x|^2`` for each row: a norm, one pass without an ``X``-sized temporary."""
    return torch.linalg.vector_norm(X, dim=1).square()


def squared_distances(X, W):
    """Squared Euclidean distances ``|x_b - w_i|^2``, clamped at zero."""
    sq = torch.addmm(_squared_norms(W)[None, :], X, W.T, alpha=-2.0)
    return sq.add_(_squared_norms(X)[:, None]).clamp_(min=0.0)


def _safe_norms(X):
    return torch.linalg.vector_norm(X, dim=1).clamp(min=_TINY_NORM)


def _from_factors(X, W, factors):
    """``A^T X + s[:, None] * W`` for ``factors = (A, s)`` (see ``Kernel.gradient_factors``)."""
    A, s = factors
    return (A.T @ X).addcmul_(s[:, None], W)  # in place: no (N, M) temporary


class Kernel(ABC):
    """A positive semi-definite kernel ``f(u, v)`` on rows of 2-D tensors.

    The base class of the built-in kernels and of :class:`CallableKernel`.
    A subclass implements the Gram matrix (``__call__``), the diagonal
    (:meth:`diag`), and the two derivatives the learning rules need
    (:meth:`grad_second`, :meth:`diag_grad`), all on torch tensors.

    Attributes
    ----------
    homogeneous : bool
        Whether ``f(a u, b v) = (a b)^alpha f(u, v)`` for ``a, b > 0``. The
        network's gains ``q`` are then redundant and kept at 1 (appendix A.4
        of Luther & Seung).
    linear : bool
        Whether ``f(u, v) = c u^T v`` (a rescaled inner product). The
        energy is then invariant under rotations of the landmarks
        (``W -> O W``, ``L -> O L O^T``), along which minibatch noise moves
        them without restoring force.
    name : str or None
        The kernel's name in :data:`KERNEL_NAMES` (``"callable"`` for
        :class:`CallableKernel`).

    See Also
    --------
    make_kernel : Build a kernel from an estimator's parameters.

    Examples
    --------
    >>> from sklearn_ksm.kernels import Kernel, make_kernel
    >>> kernel = make_kernel("linear", n_features=3)
    >>> isinstance(kernel, Kernel), kernel.name, kernel.homogeneous
    (True, 'linear', True)
    """

    homogeneous = False
    linear = False
    name = None

    @abstractmethod
    def __call__(self, X, W):
        """Gram matrix ``K[b, i] = f(X[b], W[i])``, shape ``(len(X), len(W))``."""

    @abstractmethod
    def diag(self, X):
        """``f(x, x)`` for each row, shape ``(len(X),)``."""

    def gram_and_slope(self, X, W):
        """The Gram matrix and the intermediate its derivative reuses, in one pass.

        Returns ``(K, slope)``: ``K`` is ``self(X, W)``; ``slope`` is whatever
        :meth:`grad_second` would otherwise recompute from ``X @ W.T`` (the
        cosine power and the landmarks' norms of the power-cosine kernel, the
        base power of the polynomial one), or ``None``. The training step calls this once, so
        the kernel and its derivative share one matrix product.
        """
        return self(X, W), None

    @abstractmethod
    def grad_second(self, X, W, K, G, slope=None):
        """``sum_b G[b, i] df(X[b], W[i])/dW[i]``, shape ``W.shape``.

        ``K`` is ``self(X, W)`` and ``slope`` the second value of
        :meth:`gram_and_slope`, passed in so they are not recomputed.
        """

    @abstractmethod
    def diag_grad(self, W):
        """Total derivative ``d f(w, w)/dw`` for each row, shape ``W.shape``."""

    def gradient_factors(self, X, W, K, G, slope=None):
        """:meth:`grad_second` as ``(A, s)`` with ``grad_second = A^T X + s[:, None] * W``, or None.

        ``A`` has the shape of ``G`` and ``s`` one value per landmark. The
        built-in kernels' derivatives all have this form; the training step
        then takes the landmarks' step ``W - rate * gradient`` as one product
        ``(-rate A)^T X`` and one pass that adds the rescaled ``W``, instead of
        forming the ``(N, M)`` gradient and stepping along it (one pass over
        an ``(N, M)`` array and one temporary fewer; with the left-side
        solves of the response, a default step on MNIST at N = 800, one
        thread, ran 1.09 (rbf) and 1.10 (power-cosine) times as fast). None
        (the default, e.g. :class:`CallableKernel`) makes the step use
        :meth:`grad_second` and :meth:`diag_grad`.
        """
        return None

    def diag_grad_factor(self, W):
        """``d`` with ``diag_grad(W) = d[:, None] * W`` (a tensor or a number), or None."""
        return None

    def get_params(self):
        """Hyper-parameters as a dict (for reprs and scikit-learn baselines)."""
        return {}

    def sklearn_metric(self):
        """The same kernel in scikit-learn's ``pairwise_kernels`` vocabulary.

        Returns
        -------
        metric : str
            A built-in metric name of :func:`sklearn.metrics.pairwise.pairwise_kernels`.
        params : dict
            Its keyword arguments.
        normalized : bool
            If True, the metric applies to row-normalised inputs and the kernel
            is ``|u| |v| metric(u / |u|, v / |v|)`` (power-cosine).

        Raises
        ------
        NotImplementedError
            For kernels that scikit-learn has no vectorised equivalent of.
        """
        raise NotImplementedError(f"{type(self).__name__} has no scikit-learn built-in equivalent.")

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and self.get_params() == other.get_params()

    def __hash__(self):
        return hash((type(self), tuple(sorted(self.get_params().items()))))


class RBFKernel(Kernel):
    """Gaussian kernel ``f(u, v) = exp(-gamma |u - v|^2)``.

    ``gamma = 1 / (2 sigma^2)`` in the paper's notation; ``f(w, w) = 1`` and
    ``df(x, w)/dw = 2 gamma f(x, w) (x - w)`` (Eq. 17).

    Parameters
    ----------
    gamma : float
        Inverse squared length scale (> 0).

    Examples
    --------
    >>> import torch
    >>> from sklearn_ksm.kernels import RBFKernel
    >>> kernel = RBFKernel(gamma=0.5)
    >>> X = torch.tensor([[0.0, 0.0], [1.0, 0.0]], dtype=torch.float64)
    >>> kernel(X, X)
    tensor([[1.0000, 0.6065],
            [0.6065, 1.0000]], dtype=torch.float64)
    >>> kernel.diag(X)
    tensor([1., 1.], dtype=torch.float64)
    """

    name = "rbf"

    def __init__(self, gamma):
        self.gamma = _check_positive("gamma", gamma)

    def get_params(self):
        return {"gamma": self.gamma}

    def __call__(self, X, W):
        return squared_distances(X, W).mul_(-self.gamma).exp_()  # in place: a fresh array

    def diag(self, X):
        return X.new_ones(X.shape[0])

    def grad_second(self, X, W, K, G, slope=None):
        return _from_factors(X, W, self.gradient_factors(X, W, K, G, slope))

    def gradient_factors(self, X, W, K, G, slope=None):
        # sum_b G K 2 gamma (x_b - w_i): attraction to the inputs, decay of w_i
        GK = (2.0 * self.gamma) * (G * K)
        return GK, -GK.sum(0)

    def diag_grad(self, W):
        return torch.zeros_like(W)

    def diag_grad_factor(self, W):
        return 0.0  # f(w, w) = 1

    def sklearn_metric(self):
        return "rbf", {"gamma": self.gamma}, False


class LinearKernel(Kernel):
    """Linear kernel, the inner product ``f(u, v) = u^T v``.

    With it, kernel similarity matching is linear similarity matching (the
    principal subspace network, see :class:`~sklearn_ksm.HebbianSimilarityMatching`).
    Homogeneous, so the network's gains stay 1.

    Examples
    --------
    >>> import torch
    >>> from sklearn_ksm.kernels import LinearKernel
    >>> X = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64)
    >>> LinearKernel()(X, X)
    tensor([[ 5., 11.],
            [11., 25.]], dtype=torch.float64)
    """

    name = "linear"
    homogeneous = True
    linear = True

    def __call__(self, X, W):
        return X @ W.T

    def diag(self, X):
        return _squared_norms(X)

    def grad_second(self, X, W, K, G, slope=None):
        return G.T @ X

    def gradient_factors(self, X, W, K, G, slope=None):
        return G, W.new_zeros(W.shape[0])

    def diag_grad(self, W):
        return 2.0 * W

    def diag_grad_factor(self, W):
        return 2.0

    def sklearn_metric(self):
        return "linear", {}, False


class PolynomialKernel(Kernel):
    """Polynomial kernel ``f(u, v) = (gamma u^T v + coef0)^degree``.

    Homogeneous when ``coef0 == 0``.

    Parameters
    ----------
    gamma : float
        Scale of the inner product (> 0).
    degree : int, default=3
        Integer exponent (>= 1), which keeps the kernel positive semi-definite.
    coef0 : float, default=1.0
        Constant term.

    Examples
    --------
    >>> import torch
    >>> from sklearn_ksm.kernels import PolynomialKernel
    >>> kernel = PolynomialKernel(gamma=1.0, degree=2, coef0=1.0)
    >>> X = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    >>> kernel(X, X)
    tensor([[4., 1.],
            [1., 4.]], dtype=torch.float64)
    >>> kernel.homogeneous, PolynomialKernel(gamma=1.0, degree=2, coef0=0.0).homogeneous
    (False, True)
    """

    name = "poly"

    def __init__(self, gamma, degree=3, coef0=1.0):
        self.gamma = _check_positive("gamma", gamma)
        self.degree = _check_integer_degree("degree", degree)
        if isinstance(coef0, bool) or not isinstance(coef0, Real):
            raise ValueError(f"coef0 must be a real number, got {coef0!r}.")
        if not math.isfinite(coef0):
            raise ValueError(f"coef0 must be finite, got {coef0!r}.")
        self.coef0 = float(coef0)
        self.homogeneous = self.coef0 == 0.0
        self.linear = self.homogeneous and self.degree == 1

    def get_params(self):
        return {"gamma": self.gamma, "degree": self.degree, "coef0": self.coef0}

    def _base(self, X, W):
        return self.gamma * (X @ W.T) + self.coef0

    def __call__(self, X, W):
        return self._base(X, W) ** self.degree

    def diag(self, X):
        return (self.gamma * (X * X).sum(1) + self.coef0) ** self.degree

    def gram_and_slope(self, X, W):
        base = self._base(X, W)
        power = base ** (self.degree - 1)
        return power * base, self.degree * self.gamma * power

    def grad_second(self, X, W, K, G, slope=None):
        return _from_factors(X, W, self.gradient_factors(X, W, K, G, slope))

    def gradient_factors(self, X, W, K, G, slope=None):
        if slope is None:
            slope = self.gram_and_slope(X, W)[1]
        return G * slope, W.new_zeros(W.shape[0])

    def diag_grad(self, W):
        return self.diag_grad_factor(W)[:, None] * W

    def diag_grad_factor(self, W):
        base = self.gamma * (W * W).sum(1) + self.coef0
        return 2.0 * self.gamma * self.degree * base ** (self.degree - 1)

    def sklearn_metric(self):
        return "poly", {"gamma": self.gamma, "degree": self.degree, "coef0": self.coef0}, False


class PowerCosineKernel(Kernel):
    """Power-cosine kernel ``f(u, v) = |u| |v| cos(u, v)^alpha``.

    Used by the paper on MNIST; ``alpha = 1`` is the linear kernel. It is
    homogeneous of degree 1 in each argument, and positive semi-definite for
    integer ``alpha`` (a Schur power of the cosine matrix, rescaled by the
    norms). Zero vectors have zero similarity with everything.

    ``df(x, w)/dw = (1 - alpha) f(x, w) w / |w|^2 + alpha cos^(alpha-1) x``.

    Parameters
    ----------
    alpha : int, default=3
        Integer exponent of the cosine (>= 1); the estimators' ``degree``.

    Examples
    --------
    >>> import torch
    >>> from sklearn_ksm.kernels import PowerCosineKernel
    >>> kernel = PowerCosineKernel(alpha=3)
    >>> X = torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    >>> kernel(X, X)  # |u| |v| cos^3: sqrt(2) * (1 / sqrt(2))^3 = 0.5
    tensor([[1.0000, 0.5000],
            [0.5000, 2.0000]], dtype=torch.float64)
    """

    name = "power_cosine"
    homogeneous = True

    def __init__(self, alpha=3):
        self.alpha = _check_integer_degree("degree (the power-cosine exponent alpha)", alpha)
        self.linear = self.alpha == 1

    def get_params(self):
        return {"alpha": self.alpha}

    def _cosine(self, X, W, norms=None):
        norms = _safe_norms(X)[:, None] * _safe_norms(W)[None, :] if norms is None else norms
        return ((X @ W.T) / norms).clamp_(-1.0, 1.0)

    def __call__(self, X, W):
        norms = (
            torch.linalg.vector_norm(X, dim=1)[:, None]
            * torch.linalg.vector_norm(W, dim=1)[None, :]
        )
        return norms * self._cosine(X, W) ** self.alpha

    def diag(self, X):
        return _squared_norms(X)

    def gram_and_slope(self, X, W):
        # the slope carries the landmarks' norms too: one pass over W per step
        w_norms = _safe_norms(W)
        norms = _safe_norms(X)[:, None] * w_norms[None, :]
        cosine = self._cosine(X, W, norms)
        power = cosine ** (self.alpha - 1)
        return norms * power * cosine, (power, w_norms)

    def grad_second(self, X, W, K, G, slope=None):
        return _from_factors(X, W, self.gradient_factors(X, W, K, G, slope))

    def gradient_factors(self, X, W, K, G, slope=None):
        if self.alpha == 1:
            return G, W.new_zeros(W.shape[0])
        power, w_norms = (self._cosine(X, W) ** (self.alpha - 1), _safe_norms(W)) \
            if slope is None else slope  # fmt: skip
        # alpha cos^(alpha-1) x (angular) and (1 - alpha) f w / |w|^2 (radial)
        radial = (1 - self.alpha) * (G * K).sum(0) / w_norms**2
        return self.alpha * G * power, radial

    def diag_grad(self, W):
        return 2.0 * W

    def diag_grad_factor(self, W):
        return 2.0

    def sklearn_metric(self):
        # |u| |v| cos^alpha = |u| |v| (u/|u| . v/|v|)^alpha: a homogeneous
        # polynomial kernel on unit vectors, rescaled by the norms.
        return "poly", {"gamma": 1.0, "degree": self.alpha, "coef0": 0.0}, True


# A callable kernel is checked once, at the start of fit: its function and
# derivative on blocks of at most CHECK_ROWS training rows, and its positive
# semi-definiteness on the Gram matrix of at most PSD_CHECK_ROWS rows.
CHECK_ROWS = 16
PSD_CHECK_ROWS = 256
# An eigenvalue of that Gram matrix below -PSD_RTOL times the largest |eigenvalue|
# is "clearly" negative. Gram matrices computed through expanded squared
# distances carry rounding of about gamma |x|^2 eps, far above eps for inputs
# away from the origin: the tolerances leave 1e10 (float64) and 1e4 (float32)
# times eps for it, and still catch kernels such as tanh (sigmoid), whose
# negative eigenvalues are percents of the largest.
PSD_RTOL = {torch.float64: 1e-6, torch.float32: 1e-3}


class CallableKernel(Kernel):
    """A user kernel ``func(X, W, **params) -> (len(X), len(W))`` tensor.

    The function must be positive semi-definite and differentiable by torch
    autograd; derivatives are taken with autograd. Use a module-level
    function (not a lambda) so that fitted estimators can be pickled.
    :meth:`check` tries the function once on training rows (the estimators
    call it at the start of ``fit``), so that a function that cannot work
    fails there with an error that names it.

    Parameters
    ----------
    func : callable
        ``func(X, W, **params)`` returning the ``(len(X), len(W))`` Gram
        matrix of two 2-D tensors, as a floating-point tensor. It must not
        modify its arguments.
    params : dict, default=None
        Keyword arguments passed to ``func``.

    Examples
    --------
    A Laplacian kernel ``exp(-gamma |u - v|_1)``; its derivative for the
    learning rule comes from autograd:

    >>> import torch
    >>> from sklearn_ksm.kernels import CallableKernel
    >>> def laplacian(X, W, gamma=1.0):
    ...     return torch.exp(-gamma * torch.cdist(X, W, p=1))
    >>> kernel = CallableKernel(laplacian, {"gamma": 0.5})
    >>> X = torch.tensor([[0.0], [2.0]], dtype=torch.float64)
    >>> kernel(X, X)
    tensor([[1.0000, 0.3679],
            [0.3679, 1.0000]], dtype=torch.float64)
    >>> W = torch.tensor([[0.5]], dtype=torch.float64)
    >>> G = torch.ones(2, 1, dtype=torch.float64)
    >>> kernel.grad_second(X, W, kernel(X, W), G).round(decimals=4)
    tensor([[-0.1532]], dtype=torch.float64)
    """

    name = "callable"

    def __init__(self, func, params=None):
        if not callable(func):
            raise TypeError(f"kernel must be callable, got {type(func).__name__}.")
        self.func = func
        self.params = dict(params or {})

    def get_params(self):
        return {"func": self.func, **self.params}

    def __hash__(self):
        return hash((type(self), self.func))

    def _label(self):
        return f"The kernel callable {getattr(self.func, '__qualname__', repr(self.func))!r}"

    def __call__(self, X, W):
        K = self.func(X, W, **self.params)
        if not isinstance(K, torch.Tensor):
            raise TypeError(f"{self._label()} must return a torch.Tensor, got {type(K).__name__}.")
        if K.shape != (X.shape[0], W.shape[0]):
            raise ValueError(
                f"{self._label()} returned shape {tuple(K.shape)} for inputs of "
                f"{X.shape[0]} and {W.shape[0]} rows; expected "
                f"{(X.shape[0], W.shape[0])}."
            )
        if not K.is_floating_point():
            raise TypeError(
                f"{self._label()} returned {K.dtype} values; it must return a floating-point "
                "tensor (a similarity, differentiable by autograd), not integers or booleans."
            )
        return K.to(X.dtype)

    def diag(self, X, block=1024):
        # Blocks of rows keep memory at O(block^2) instead of O(n^2).
        blocks = [torch.diagonal(self(Xb, Xb)) for Xb in torch.split(X, block)]
        return torch.cat(blocks) if blocks else X.new_zeros(0)

    def grad_second(self, X, W, K, G, slope=None):
        with torch.enable_grad():
            W = W.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self(X, W), W, grad_outputs=G)
        return grad

    def diag_grad(self, W):
        with torch.enable_grad():
            W = W.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.diag(W).sum(), W)
        return grad

    def check(self, X):
        """Try the function once on rows ``X`` of the training data.

        Raises a ``TypeError`` or ``ValueError`` naming the function when it
        raises, returns something other than a floating-point tensor of the
        right shape, modifies its inputs in place, is not differentiable by
        autograd or has a non-finite value or derivative on these rows; warns
        (``UserWarning``) when its Gram matrix on them has a clearly negative
        eigenvalue (the kernel is not positive semi-definite).

        Parameters
        ----------
        X : tensor of shape (n_rows, n_features)
            Training rows (e.g. a sample spread over the data), in the dtype
            and on the device of training; at most ``PSD_CHECK_ROWS`` of
            them, evenly spaced, are used.

        Examples
        --------
        >>> import torch
        >>> from sklearn_ksm.kernels import CallableKernel
        >>> def rounded(X, W):
        ...     return (X @ W.T).round().to(torch.int64)
        >>> X = torch.tensor([[0.0, 1.0], [2.0, 3.0]], dtype=torch.float64)
        >>> CallableKernel(rounded).check(X)
        Traceback (most recent call last):
        ...
        TypeError: The kernel callable 'rounded' returned torch.int64 values; ...
        """
        A = X[:CHECK_ROWS]
        B = A[: max(1, len(A) // 2)]  # a different number of rows exposes swapped axes
        K = self._try(lambda: self._check_not_in_place(A, B), "on training rows")
        if not torch.isfinite(K).all():
            raise ValueError(f"{self._label()} returned non-finite values on training rows.")
        self._check_derivatives(A, B)
        rows = X[torch.linspace(0, len(X) - 1, min(len(X), PSD_CHECK_ROWS)).round().long()]
        self._check_positive_semidefinite(rows)

    def _try(self, compute, where):
        try:
            return compute()
        except (TypeError, ValueError):
            raise
        except Exception as exc:  # a torch error from inside the function
            message = f"{self._label()} failed {where}: {type(exc).__name__}: {exc}"
            raise ValueError(message) from exc

    def _check_not_in_place(self, A, B):
        A_in, B_in = A.clone(), B.clone()
        K = self(A_in, B_in)
        if not (torch.equal(A_in, A) and torch.equal(B_in, B)):
            raise ValueError(
                f"{self._label()} modifies its input tensors in place; it must leave X and W "
                "unchanged (use out-of-place operations, e.g. X * 2 instead of X.mul_(2))."
            )
        return K

    def _check_derivatives(self, A, B):
        with torch.enable_grad():
            W = B.clone().requires_grad_(True)
            K = self._try(lambda: self(A, W), "on training rows")
            if not K.requires_grad:
                raise TypeError(
                    f"{self._label()} is not differentiable by torch autograd: its output does "
                    "not depend on W through torch operations (e.g. it goes through numpy, "
                    "detaches, or returns a new tensor), but the learning rule needs its "
                    "derivative with respect to W."
                )
        grad = self._try(
            lambda: self.grad_second(A, B, K, torch.ones_like(K)), "when differentiated"
        )
        diag_grad = self._try(lambda: self.diag_grad(B), "when differentiated")
        if not (torch.isfinite(grad).all() and torch.isfinite(diag_grad).all()):
            raise ValueError(
                f"{self._label()} has a non-finite derivative on training rows (e.g. the "
                "square root of a squared distance at zero distance, where landmarks start "
                "on training rows); use a formulation differentiable everywhere (e.g. "
                "torch.cdist)."
            )

    def _check_positive_semidefinite(self, rows):
        with torch.no_grad():
            G = self(rows, rows).to(torch.float64)
        eigenvalues = torch.linalg.eigvalsh((G + G.mT) / 2)
        scale = float(eigenvalues.abs().max())
        lowest = float(eigenvalues[0])
        if lowest < -PSD_RTOL.get(rows.dtype, 1e-3) * scale:
            warnings.warn(
                f"{self._label()} is not positive semi-definite: its Gram matrix on "
                f"{len(rows)} training rows has the eigenvalue {lowest:.3g} against a largest "
                f"|eigenvalue| of {scale:.3g}. Kernel similarity matching needs a positive "
                "semi-definite kernel; training may diverge or learn a poor representation."
                + (
                    " (In float32, the rounding of a kernel computed from squared distances "
                    "of inputs far from the origin can cause this: centre the inputs or use "
                    "float64.)"
                    if rows.dtype != torch.float64
                    else ""
                ),
                UserWarning,
                stacklevel=2,
            )


def make_kernel(kernel, *, gamma=None, degree=3, coef0=1.0, kernel_params=None, n_features):
    """Build a validated :class:`Kernel` from an estimator's parameters.

    Parameters
    ----------
    kernel : {"rbf", "power_cosine", "linear", "poly"}, callable or Kernel
        Kernel name, a function of two 2-D torch tensors returning their
        Gram matrix (differentiable by autograd), or a Kernel (returned as is).
    gamma : float or None
        rbf and poly scale; ``None`` means ``1 / n_features`` (scikit-learn's
        convention).
    degree : int
        Degree of poly; exponent ``alpha`` of power_cosine.
    coef0 : float
        Constant term of poly.
    kernel_params : dict or None
        Keyword arguments passed to a callable kernel.
    n_features : int
        Number of input features, used to resolve ``gamma=None``.

    Returns
    -------
    kernel : Kernel
        The kernel object.

    Examples
    --------
    >>> from sklearn_ksm.kernels import make_kernel
    >>> make_kernel("rbf", n_features=4)  # gamma=None: 1 / n_features
    RBFKernel(gamma=0.25)
    >>> make_kernel("power_cosine", degree=3, n_features=400)
    PowerCosineKernel(alpha=3)
    """
    if isinstance(kernel, Kernel):
        return kernel
    if callable(kernel):
        return CallableKernel(kernel, kernel_params)
    if kernel_params:
        raise ValueError(
            f"kernel_params is only used with a callable kernel; got {kernel_params!r} "
            f"with kernel={kernel!r}. Use gamma, degree and coef0 for built-in kernels."
        )
    if gamma is None and kernel in ("rbf", "poly"):
        gamma = 1.0 / n_features
    if kernel == "rbf":
        return RBFKernel(gamma)
    if kernel == "linear":
        return LinearKernel()
    if kernel == "poly":
        return PolynomialKernel(gamma, degree, coef0)
    if kernel == "power_cosine":
        return PowerCosineKernel(degree)
    raise ValueError(f"Unknown kernel {kernel!r}; expected one of {KERNEL_NAMES} or a callable.")


def estimator_kernel(estimator, n_features):
    """The kernel described by an estimator's kernel parameters.

    Reads ``kernel``, ``gamma``, ``degree``, ``coef0`` and ``kernel_params``
    and calls :func:`make_kernel`.

    Parameters
    ----------
    estimator : estimator
        An estimator with those five parameters, e.g.
        :class:`~sklearn_ksm.HebbianKernelSimilarityMatching`.
    n_features : int
        Number of input features, used to resolve ``gamma=None``.

    Returns
    -------
    kernel : Kernel
        The kernel object.

    Examples
    --------
    >>> from sklearn_ksm import HebbianKernelSimilarityMatching
    >>> from sklearn_ksm.kernels import estimator_kernel
    >>> network = HebbianKernelSimilarityMatching(kernel="poly", degree=2, coef0=0)
    >>> estimator_kernel(network, n_features=10)
    PolynomialKernel(gamma=0.1, degree=2, coef0=0.0)
    """
    return make_kernel(
        estimator.kernel,
        gamma=estimator.gamma,
        degree=estimator.degree,
        coef0=estimator.coef0,
        kernel_params=estimator.kernel_params,
        n_features=n_features,
    )
