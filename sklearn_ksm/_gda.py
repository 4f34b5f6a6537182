"""The math of kernel similarity matching (Luther & Seung), in pure torch.

Notation: a minibatch ``X`` (B, M); landmarks / feedforward weights ``W``
(N, M); gains ``q`` (N,); lateral weights ``L`` (N, N); stabiliser ``reg``
(the paper's lambda); responses ``Y`` (B, N); feedforward input
``K[b, i] = f(x_b, w_i)``. Batch averages are written ``<.>``.

The training problem is ``min_{W, q} max_L min_Y  <e(y, x)>`` (Eq. 9) with
the per-sample energy (Eq. 8)::

    e = sum_i [-q_i y_i f(w_i, x) + 1/2 q_i^2 f(w_i, w_i)]
        + 1/2 y^T L y - 1/4 |L|_F^2 + reg/2 |y|^2
"""

from typing import NamedTuple

import scipy.linalg
import torch

from ._mkl import potrf_in_place

# Defaults of the recurrent-dynamics inference path (Eq. 11): iterate until
# the residual |(L + reg I) y - q f(W, x)| falls below this fraction of the
# drive |q f(W, x)|, or this many iterations have run.
DYNAMICS_RTOL = 1e-6
DYNAMICS_MAX_ITER = 10_000


class NetworkState(NamedTuple):
    """The synapses of the network; replaced whole, never updated in place.

    Replacing the tuple in one assignment means an interrupted step never
    leaves a half-updated network behind.
    """

    W: torch.Tensor
    q: torch.Tensor
    L: torch.Tensor


class TrainingState(NamedTuple):
    """What training carries from step to step: the synapses and private statistics.

    ``stats`` holds the running statistics of the lateral rule by name (for
    example the drive moments of :class:`~sklearn_ksm._lateral.Equilibrium`);
    local rules keep none.
    """

    W: torch.Tensor
    q: torch.Tensor
    L: torch.Tensor
    stats: dict

    @property
    def network(self):
        return NetworkState(self.W, self.q, self.L)


class LearningRates(NamedTuple):
    """Step sizes of Eq. 10 for one step: feedforward ``W``, gains ``q``, lateral ``L``.

    ``average_output``: whether a rule that keeps a running average of its
    lateral weights for the output updates it (streams; ``fit`` settles its
    lateral weights at the end instead, so it skips that cost).
    """

    w: float
    q: float
    lateral: float
    average_output: bool = False

    def scaled(self, factor):
        return self._replace(w=self.w * factor, q=self.q * factor, lateral=self.lateral * factor)


def drive(q, K):
    """Feedforward input to each neuron, ``q_i f(w_i, x)`` (B, N)."""
    return K * q


def response_solve(drive, L, reg):
    """Steady-state response, Eq. 12: ``y = (L + reg I)^{-1} q f(W, x)``.

    Solved with a Cholesky factor (``L`` is symmetric positive semi-definite
    by construction, so ``L + reg I`` is positive definite for ``reg > 0``),
    never by forming the inverse. A failed factorisation (from non-finite or
    indefinite ``L``) gives NaN responses instead of raising, so the training
    loop can report divergence at its next check without a device sync here.

    The rows of ``drive`` are the columns of ``drive.mT`` in column-major
    order, so the two triangular solves run from the left
    (``C C^T Y^T = drive^T``) on that view, without transposed copies of
    the ``(B, N)`` blocks: at N = 800, B = 65, float32, one thread, they
    took 0.90 ms against 1.12 ms from the right (``Y C C^T = drive``),
    medians of 7 (2-core Intel Xeon). The shift goes onto a copy's
    diagonal rather than through an ``N x N`` identity.
    """
    chol, factored = shifted_cholesky(L, reg)
    Z = torch.linalg.solve_triangular(chol, drive.mT, upper=False, left=True)
    Y = torch.linalg.solve_triangular(chol.mT, Z, upper=True, left=True).mT
    if factored is True:  # known on the host: nothing to mask
        return Y
    return Y.masked_fill_(~torch.as_tensor(factored, device=Y.device), float("nan"))


def shifted_cholesky(L, reg):
    """:func:`cholesky_lower` of ``L + reg I``, formed on a copy (``L`` is untouched)."""
    A = L.clone()
    A.diagonal().add_(reg)
    return cholesky_lower(A)


def cholesky_lower(A):
    """Lower Cholesky factor of a symmetric matrix, and whether it exists.

    Returns ``(C, factored)``: ``factored`` is a bool where the host knows
    it (LAPACK on the CPU) and a 0-d bool tensor otherwise (torch's factor,
    which on a GPU reports without a host synchronisation). Only the lower
    triangle of ``C`` is the factor: its strictly upper triangle is left
    unspecified, which triangular solves (BLAS ``trsm``) never read. ``A``
    may be overwritten.

    On the CPU this is LAPACK's ``potrf`` in place, without copies: torch's
    ``cholesky_ex`` copies ``A`` to column-major order and then zeroes the
    upper triangle in a separate pass. A symmetric ``A`` in row-major order
    is its own transpose in column-major order, so LAPACK factors its buffer
    as it is. The ``potrf`` of the MKL inside torch (x86-64 Linux builds)
    runs on torch's own threads; at N = 800, float32, it took 1.53 ms on one
    thread and 1.17 ms on two, against 3.57 and 2.42 ms for ``cholesky_ex``
    and 2.48 ms (one thread) for scipy's OpenBLAS ``spotrf`` (medians of 30,
    2-core Intel Xeon, idle). Without that MKL, scipy's ``potrf`` is used
    while torch runs one thread only: with two, scipy's BLAS threads and
    torch's OpenMP threads wait for each other (a step took 29 ms against
    10 ms with torch's factorisation, same machine, idle).
    """
    factored = potrf_in_place(A)
    if factored is not None:
        return A.mT, factored
    lapack = _CPU_POTRF.get(A.dtype)
    if (lapack is None or A.device.type != "cpu" or A.requires_grad
            or torch.get_num_threads() != 1):  # fmt: skip
        chol, info = torch.linalg.cholesky_ex(A)
        return chol, info == 0
    factor, info = lapack(A.numpy().T, lower=1, clean=0, overwrite_a=1)
    return torch.from_numpy(factor), bool(info == 0)


_CPU_POTRF = {
    torch.float32: scipy.linalg.lapack.spotrf,
    torch.float64: scipy.linalg.lapack.dpotrf,
}


def response_dynamics(drive, L, reg, rtol=DYNAMICS_RTOL, max_iter=DYNAMICS_MAX_ITER):
    """Response by the recurrent network dynamics, Eq. 11, run to a tolerance.

    Euler steps of ``dy/dt = q f(W, x) - L y - reg y`` from ``y = 0``. The
    step ``1 / |L + reg I|_F`` bounds the spectral radius of the iteration
    matrix below 1, so the dynamics converge to the fixed point of Eq. 12.

    Returns
    -------
    Y : tensor (B, N)
    n_iter : int
        Iterations run; equal to ``max_iter`` if the tolerance was not met.
    """
    A = L + reg * torch.eye(L.shape[0], dtype=L.dtype, device=L.device)
    eta = 1.0 / torch.linalg.matrix_norm(A).clamp(min=torch.finfo(A.dtype).tiny)
    Y = torch.zeros_like(drive)
    target = rtol * torch.linalg.vector_norm(drive)
    for n_iter in range(1, max_iter + 1):
        residual = drive - Y @ A
        Y = Y + eta * residual
        if n_iter % 50 == 0 and not torch.linalg.vector_norm(residual) > target:
            break
    return Y, n_iter


def energy(Y, K, kdiag, q, L, reg):
    """Minibatch mean of the per-sample energy, Eq. 8 (a 0-d tensor)."""
    per_sample = -(Y * K * q).sum(1) + 0.5 * ((Y @ L) * Y).sum(1) + 0.5 * reg * (Y * Y).sum(1)
    return per_sample.mean() + _energy_constant(kdiag, q, L)


def grad_q(Y, K, q, kdiag):
    """Eq. 14: ``de/dq_i = -<y_i f(w_i, x)> + q_i f(w_i, w_i)``."""
    return -(Y * K).mean(0) + q * kdiag


def solved_energy(Y, D, kdiag, q, L):
    """Eq. 8 at the solved response, batch mean (a 0-d tensor).

    At ``(L + reg I) y = q f(W, x)`` the quadratic terms of Eq. 8 equal
    ``1/2 y . q f(W, x)``, so the energy needs no ``(B, N) x (N, N)``
    product: ``-1/2 <y . u> + 1/2 sum_i q_i^2 f(w_i, w_i) - 1/4 |L|_F^2``.
    """
    return -0.5 * (Y * D).sum() / Y.shape[0] + _energy_constant(kdiag, q, L)


def _energy_constant(kdiag, q, L):
    """``1/2 sum_i q_i^2 f(w_i, w_i) - 1/4 |L|_F^2``, the part of Eq. 8 free of ``y``.

    ``|L|_F`` as a norm, one pass over ``L`` without an ``N x N`` temporary
    (``(L * L).sum()`` took a quarter of a millisecond of an 11 ms step at
    N = 800, float32, one thread).
    """
    return 0.5 * (q * q * kdiag).sum() - 0.25 * torch.linalg.vector_norm(L).square()


# The smallest factor by which one step may multiply a gain.
GAIN_SHRINK = 0.5
# Gains below this fraction of the mean gain are treated as at it in the
# 1 / q^2 rescaling of the landmarks' step.
PRECONDITION_FLOOR = 0.01


def feedforward_update(X, W, q, K, slope, Y, kdiag, *, kernel, rates, learn_gains):
    """The Hebbian descent step of the feedforward synapses and gains (Eqs. 13-14).

    ``w_i -= eta_w / q_i^2 de/dw_i`` with Eq. 13,
    ``de/dw_i = -q_i <y_i df(w_i, x)/dw_i> + 1/2 q_i^2 df(w_i, w_i)/dw_i``;
    ``q_i -= eta_q de/dq_i`` with Eq. 14, ``de/dq_i = -<y_i f(w_i, x)> + q_i f(w_i, w_i)``
    (gains stay fixed when ``learn_gains`` is False: homogeneous kernels,
    appendix A.4), a gain shrinking at most by ``GAIN_SHRINK`` per step.
    Each synapse changes by its input, its neuron's response and its own
    value. ``slope`` is the kernel's shared derivative factor
    from :meth:`~sklearn_ksm.kernels.Kernel.gram_and_slope`.
    """
    # the 1 / q_i^2 rescaling (Eq. 10) is capped for gains far below the
    # others': a fading neuron's landmark (q_i -> 0, see GAIN_SHRINK) would
    # otherwise take steps of order 1 / q_i and blow up (digits, rbf, N = 64)
    scale = torch.maximum(q, PRECONDITION_FLOOR * q.mean())
    # row i of the Hebbian term is linear in column i of its (B, N) weights,
    # so the rescaling goes there rather than onto an (N, M) array
    G = Y * (-q / (X.shape[0] * scale * scale))
    W_new = _landmark_step(X, W, K, G, slope, kernel, rates.w)
    if not learn_gains:
        return W_new, q
    # A gain shrinks at most by GAIN_SHRINK per step, so it stays positive: a
    # neuron that the others make redundant fades out (its gain decays
    # geometrically towards 0) instead of flipping sign, which Eq. 14's plain
    # step did on the digits (rbf, N = 64) once a gain was near 0.
    q_new = torch.maximum(q - rates.q * grad_q(Y, K, q, kdiag), q * GAIN_SHRINK)
    return W_new, q_new


def _landmark_step(X, W, K, G, slope, kernel, rate):
    """``W - rate (grad_second(G) + 1/2 diag_grad(W))``, the landmarks' half of Eq. 10.

    ``rate`` is a number or a 0-d tensor (set by the rule, without host
    synchronisation). With the kernel's :meth:`~sklearn_ksm.kernels.Kernel.gradient_factors`
    ``(A, s)`` and ``diag_grad = d W`` it is ``(-rate A)^T X + (1 - rate (s +
    d / 2)) W``: one product and one pass over the ``(N, M)`` result.
    """
    factors = kernel.gradient_factors(X, W, K, G, slope)
    diag = kernel.diag_grad_factor(W)
    if factors is None or diag is None:
        # out of place: a user kernel may return arrays it holds elsewhere
        return W - rate * (kernel.grad_second(X, W, K, G, slope) + 0.5 * kernel.diag_grad(W))
    A, s = factors
    return ((A * -rate).T @ X).addcmul_((1.0 - rate * (s + 0.5 * diag))[:, None], W)


def anti_hebbian_update(L, Y, rate):
    """Eq. 15 ascent: ``L += eta_l / 2 (<y y^T> - L)``, as one fused ``addmm``.

    ``(1 - eta_l/2) L + eta_l / (2B) Y^T Y``: each synapse ``L_ij`` moves
    towards the product of the responses ``y_i y_j`` of the neurons it
    connects. For ``eta_l <= 2`` it is a convex combination of positive
    semi-definite matrices, so ``L`` stays positive semi-definite.
    """
    half = 0.5 * rate
    return torch.addmm(L, Y.mT, Y, beta=1.0 - half, alpha=half / Y.shape[0])


def minibatch_step(state, X, *, kernel, rule, rates, reg, learn_gains, step, inference="solve"):
    """One stochastic gradient descent-ascent step on a minibatch (Eq. 10).

    The feedforward half (Eqs. 13-14, :func:`feedforward_update`) is written
    once; the lateral half is the ``rule`` (see :mod:`sklearn_ksm._lateral`):
    ``rule.lateral`` gives the lateral weights the network responds with
    (the current ones, or for the equilibrium reference a maximiser for
    updated moments), the network responds (Eq. 12) together with the
    rule's probe vectors (``rule.probes``, solved with the same factor),
    and ``rule.update`` moves the lateral weights after the response. All updates use the
    pre-step synapses (the simultaneous step of Eq. 10).

    Parameters
    ----------
    state : TrainingState
    X : tensor (B, M)
    kernel : Kernel
    rule : LateralRule
    rates : LearningRates
    reg : float
    learn_gains : bool
        False for homogeneous kernels, whose gains stay at 1 (appendix A.4).
    step : int
        Steps the estimator has run before this one (0-based), from the
        training loop: rules with a warm-up or a running mean read it.
    inference : {"solve", "dynamics"}

    Returns
    -------
    new_state : TrainingState
    batch_energy : 0-d tensor
        Eq. 8 averaged over the batch, at the pre-update synapses.
    """
    W, q, L, stats = state
    K, slope = kernel.gram_and_slope(X, W)
    D = drive(q, K)
    L, stats = rule.lateral(L, stats, X=X, D=D, W=W, q=q, step=step)
    probes = rule.probes(stats)
    if probes is None:
        Y, P = respond(D, L, reg, inference), None
    else:  # the rule's probe vectors share the response's solve: one factorisation
        Y, P = respond(torch.cat([D, probes]), L, reg, inference).split(
            [D.shape[0], probes.shape[0]]
        )
    kdiag = kernel.diag(W)
    if inference == "solve":
        batch_energy = solved_energy(Y, D, kdiag, q, L)
    else:  # the identity of solved_energy needs the exact response
        batch_energy = energy(Y, K, kdiag, q, L, reg)
    if rule.learns(step):
        W, q = feedforward_update(
            X, W, q, K, slope, Y, kdiag, kernel=kernel, learn_gains=learn_gains,
            rates=rule.feedforward_rates(stats, rates),
        )  # fmt: skip
    L, stats = rule.update(L, stats, Y=Y, D=D, P=P, rates=rates, step=step)
    return TrainingState(W, q, L, stats), batch_energy


# Smallest eigenvalue of the equilibrium lateral weights, relative to the
# largest: directions the drive does not excite get this instead of 0, so
# L + reg I stays factorable in float32 even with reg = 0.
LATERAL_FLOOR = 1e-6


def lateral_equilibrium(S, reg, newton_steps=8):
    """The lateral weights that maximise Eq. 9 for fixed drive moments.

    For landmarks and gains held fixed, the objective of Eq. 9 as a function
    of ``L`` is ``-1/2 tr((L + reg I)^{-1} S) - 1/4 |L|_F^2`` with
    ``S = <u u^T>``, ``u = q f(W, x)``; it is concave, and its maximiser is
    the fixed point of the anti-Hebbian rule (Eq. 15), ``L = <y y^T>``. It
    shares the eigenvectors of ``S``, with eigenvalues ``l`` solving
    ``l (l + reg)^2 = s``, found here by Newton's method from the smaller
    of the upper bounds ``s^(1/3)`` and ``s / reg^2`` (from above, where
    the cubic is convex, Newton converges monotonically; from the closer
    bound, in a few steps). This is the lateral learning run to
    convergence, the limit of infinitely separated time scales.

    Parameters
    ----------
    S : tensor (N, N)
        Symmetric positive semi-definite drive moments (float64 advised: the
        small eigenvalues decide the response in weakly driven directions).
    reg : float

    Returns
    -------
    L : tensor (N, N), dtype of ``S``
        NaN where ``S`` is not finite or cannot be decomposed.
    """
    decomposed = _moment_spectrum(S, vectors=True)
    if decomposed is None:
        return torch.full_like(S, float("nan"))
    s, V = decomposed
    return (V * equilibrium_eigenvalues(s, reg, newton_steps)) @ V.mT


def _moment_spectrum(S, vectors):
    """Eigenvalues of ``S`` (clamped at 0; NaN if ``S`` is not finite), and its eigenvectors.

    Non-finite moments (a diverged drive) give NaN, which the training loop
    reports as a divergence, instead of an eigh error; None when finite
    moments are too extreme to decompose.
    """
    finite = torch.isfinite(S).all()
    S = torch.where(finite, S, torch.zeros_like(S))
    try:
        s, V = torch.linalg.eigh(S) if vectors else (torch.linalg.eigvalsh(S), None)
    except torch.linalg.LinAlgError:
        return None
    s = torch.where(finite, s.clamp(min=0), torch.full_like(s, float("nan")))
    return s, V


def equilibrium_eigenvalues(s, reg, newton_steps=8):
    """Eigenvalues of the maximiser of Eq. 9 from those of the drive moments.

    The root ``l >= 0`` of ``l (l + reg)^2 = s`` for each ``s``, by Newton's
    method (see :func:`lateral_equilibrium`), floored at ``LATERAL_FLOOR``
    times the largest.
    """
    lat = s ** (1 / 3)
    if reg > 0:
        lat = torch.minimum(lat, s / reg**2)
    for _ in range(newton_steps):
        slope = (lat + reg) * (3 * lat + reg)
        lat = torch.where(slope > 0, lat - (lat * (lat + reg) ** 2 - s) / slope, lat)
    return lat.clamp(min=LATERAL_FLOOR * lat.max().clamp(min=torch.finfo(lat.dtype).tiny))


def lateral_objective(S, L, reg):
    """The part of Eq. 9 that depends on ``L`` at the optimal response.

    ``-1/2 tr((L + reg I)^{-1} S) - 1/4 |L|_F^2`` for drive moments ``S``,
    computed in the dtype of ``S`` (a 0-d tensor).
    """
    L = L.to(S.dtype)
    A = L.clone()
    A.diagonal().add_(reg)
    chol, info = torch.linalg.cholesky_ex(A)
    # the trace as a sum over the inverse times S (both symmetric): about N^3
    # flops against 2 N^3 to solve for all of S (N = 800, float64, one
    # thread: 13.7 ms against 27.7 ms, equal to 1e-15)
    trace = (torch.cholesky_inverse(chol) * S).sum()
    value = -0.5 * trace - 0.25 * torch.linalg.vector_norm(L).square()
    return torch.where(info == 0, value, torch.full_like(value, float("nan")))


def lateral_gap(S, L, reg):
    """Duality gap of the ascent in ``L``: how far ``L`` is from its optimum.

    ``max_L' F(L') - F(L) >= 0`` with ``F`` the :func:`lateral_objective`
    for drive moments ``S``; zero exactly when ``L`` is the maximiser for
    these landmarks and gains. The maximiser shares the eigenvectors of
    ``S``, so its value needs only the eigenvalues: ``max F = sum_i (-1/2
    s_i / (l_i + reg) - 1/4 l_i^2)`` with ``l_i`` from
    :func:`equilibrium_eigenvalues`: no eigenvectors and no second
    factorisation (N = 800, float64, one thread: 116 ms against 243 ms when
    the maximiser was rebuilt and evaluated).
    """
    spectrum = _moment_spectrum(S, vectors=False)
    if spectrum is None:
        return torch.full((), float("nan"), dtype=S.dtype, device=S.device)
    s = spectrum[0]
    lat = equilibrium_eigenvalues(s, reg)
    best = (-0.5 * s / (lat + reg) - 0.25 * lat * lat).sum()
    return best - lateral_objective(S, L, reg)


def kernel_errors(K, D, laterals, reg):
    """``||K - Y Y^T||_F`` of the responses ``Y = D (L + reg I)^{-1}`` for each ``L``.

    The error of the network's output (Eq. 12) on rows with kernel matrix
    ``K`` (n, n) and drives ``D`` (n, N), for several lateral weights at
    once, in the dtype of ``K`` (a 1-d tensor, NaN where ``L + reg I`` has
    no Cholesky factor). With ``3 N^2 < n (n + N)`` it works on N x N
    moments formed once, ``G = D^T D`` and ``H = D^T K D``:
    ``||K - Y Y^T||^2 = ||K||^2 - 2 <H, R^2> + <G R^2, (G R^2)^T>`` with
    ``R = (L + reg I)^{-1}``, about ``3 N^3`` flops per ``L`` against
    ``n^2 N`` for ``Y Y^T``. In float64 the cancellation costs about
    ``log10(||K||^2 / error^2)`` of its 16 digits.
    """
    n, N = D.shape
    D = D.to(K.dtype)
    laterals = [L.to(K.dtype) for L in laterals]
    if 3 * N * N >= n * (n + N):
        errors = [torch.linalg.matrix_norm(K - Y @ Y.mT) for Y in
                  (response_solve(D, L, reg) for L in laterals)]  # fmt: skip
        return torch.stack(errors)
    G, H, K2 = D.mT @ D, D.mT @ (K @ D), K.square().sum()
    squares = []
    for L in laterals:
        chol, factored = shifted_cholesky(L, reg)
        R2 = torch.cholesky_inverse(chol.tril()).matrix_power(2)
        GR2 = G @ R2
        square = K2 - 2 * (H * R2).sum() + (GR2 * GR2.mT).sum()
        if factored is not True:  # a 0-d tensor on the device, or False
            square = torch.where(torch.as_tensor(factored, device=K.device), square, torch.nan)
        squares.append(square)
    return torch.stack(squares).clamp(min=0).sqrt()


def second_moments(D):
    """``<d d^T>`` over the rows of ``D`` (R, N): ``D^T D / R``, in float64.

    On the CPU through the BLAS ``dsyrk`` of scipy, which computes one
    triangle: half the flops of a product, and at N = 800 over 3,200 rows
    (the duality gap's sample, one thread, AMD EPYC, medians of 5) 19 ms
    against 64 ms for torch's float64 ``D.mT @ D``. Elsewhere that product.
    """
    D = D.to(torch.float64)
    if D.device.type != "cpu" or D.requires_grad or D.shape[0] == 0:
        return D.mT @ D / max(D.shape[0], 1)
    # D.numpy().T is D^T in column-major order, as BLAS reads it: no copy
    lower = torch.from_numpy(
        scipy.linalg.blas.dsyrk(1.0 / D.shape[0], D.numpy().T, trans=0, lower=1)
    )
    return lower.tril() + lower.tril(-1).mT


def accumulate_moments(S, drive, rate):
    """Running average of the drive moments: ``(1 - rate) S + rate <u u^T>``.

    Also that of the input moments ``<x x^T>``, with the inputs as ``drive``.

    In the dtype of ``S`` (float64): a float32 product loses the small
    eigenvalues that set the response in weakly driven directions.
    """
    D = drive.to(S.dtype)
    return torch.addmm(S, D.mT, D, beta=1.0 - rate, alpha=rate / D.shape[0])


def linear_drive_moments(C, W, q, scale):
    """Drive moments of a linear kernel from the input moments.

    For ``f(x, w) = c x^T w`` the drive is ``u = c q W x``, so
    ``<u u^T> = c^2 (q W) <x x^T> (q W)^T`` exactly, at the current landmarks.
    A running average of ``u u^T`` instead mixes drives of past landmarks,
    which for a linear kernel drift along rotations of the energy without
    restoring force; this average has no such lag (the inputs do not move).

    Parameters
    ----------
    C : tensor (M, M)
        Input moments ``<x x^T>`` (float64).
    W : tensor (N, M)
    q : tensor (N,)
    scale : float
        The kernel's ``c = f(e, e)`` for a unit vector ``e``.

    Returns
    -------
    S : tensor (N, N), dtype of ``C``
    """
    P = (q[:, None] * W).to(C.dtype)
    return (scale * scale) * (P @ C @ P.mT)


def respond(drive, L, reg, inference="solve"):
    """Network output for a given feedforward drive, by either inference path."""
    if inference == "solve":
        return response_solve(drive, L, reg)
    return response_dynamics(drive, L, reg)[0]


def response_operator(L, reg):
    """``(L + reg I)^{-1}`` for the output's dtype, formed once for many inputs.

    Training solves with a fresh factor every step; at fixed synapses one
    operator serves every row, so a block costs one product, as
    scikit-learn's ``Nystroem.transform`` does. It is formed in float64 from
    the eigendecomposition of ``L``, without the directions whose drive lies
    below the rounding of the output's dtype.

    At the fixed point ``L = <y y^T>``, a direction in which ``L`` has
    eigenvalue ``l`` carries drive power ``l (l + reg)^2``. Where that is
    below ``eps^2`` times the largest, the drive computed in that dtype is
    rounding error (``eps |u|``), which the response would amplify by up to
    ``1 / reg``; such directions get no response. With more neurons than
    input dimensions and a linear kernel, half the directions are of that
    kind: in float32 their rounding doubled the kernel error of MNIST
    (10 x 10 pixels, alpha = 1, N = 200: 0.00104 against 0.00050).

    Whether ``L + reg I`` is singular or slightly indefinite is decided
    against the rounding of ``L`` in its dtype, never by the sign of a
    computed eigenvalue: storing ``L`` moves its eigenvalues by up to
    ``n eps max|l|`` (``n`` neurons), so only eigenvalues of ``L + reg I``
    below minus that mean that it is indefinite. Such an ``L``, or a
    non-finite one, gives NaN, which transform reports. Eigenvalues of
    ``L`` at or below zero carry no drive power, so their directions get
    no response.
    """
    L64 = L.to(torch.float64)
    finite = torch.isfinite(L64).all()
    lat, V = torch.linalg.eigh(torch.where(finite, L64, torch.zeros_like(L64)))
    shifted = lat + reg
    power = lat.clamp(min=0) * shifted**2
    eps = torch.finfo(L.dtype).eps
    rounding = L.shape[0] * eps * lat.abs().max()
    resolved = power > eps**2 * power.max()  # implies l > 0, so shifted > 0
    gain = torch.where(resolved, 1.0 / shifted, torch.zeros_like(shifted))
    operator = (V * gain) @ V.mT
    valid = finite & (shifted >= -rounding).all()
    return torch.where(valid, operator, torch.full_like(operator, float("nan"))).to(L.dtype)


def transform_batch(state, X, *, kernel, reg, inference="solve", operator=None):
    """Network output ``y`` for the rows of ``X`` at fixed synapses.

    ``operator`` is :func:`response_operator` of the state, when the caller
    transforms many blocks with the same synapses (``inference="solve"``).
    """
    W, q, L = state
    D = drive(q, kernel(X, W))
    if operator is not None:
        return D @ operator
    return respond(D, L, reg, inference)
