"""The math of linear similarity matching (Pehlevan, Sengupta & Chklovskii 2018), in pure torch.

Notation: a minibatch ``X`` (B, n); feedforward synapses ``W`` (k, n); lateral
synapses ``M`` (k, k), symmetric positive definite (the network's lateral
weights are ``-M_ij``, the diagonal ``M_ii`` is a leak); responses ``Y``
(B, k); input covariance ``C = <x x^T>`` (n, n); filters ``F = M^{-1} W``
(k, n). Batch averages are written ``<.>``. Equation labels (E5)... are those
of the user guide's "Linear similarity matching" section (doc/user_guide.rst),
which derives each of them from Pehlevan, Sengupta & Chklovskii (2018).

Principal subspace projection (PSP) and whitening (PSW) solve the synaptic
min-max problems, at the optimal response ``y = M^{-1} W x``::

    (E5)  PSP: min_W max_M  2 Tr(W^T W) - Tr(M^2)  - 2 Tr(M^{-1} W C W^T)
    (E11) PSW: min_W max_M  2 Tr(W^T W) - 2 Tr(M)  - 2 Tr(M^{-1} W C W^T)

by gradient descent in ``W`` and ascent in ``M``, which are local Hebbian and
anti-Hebbian rules (E12). Eliminating ``M`` in closed form gives the
fractional-matrix-exponent objectives (E7, E8) of ``W`` alone.

The heuristic baseline (Foldiak type) is at the end of the module.
"""

import torch

from . import _gda

MODES = ("psp", "psw")


# ----------------------------------------------------------- the network


def drive(X, W):
    """Feedforward input ``W x`` to each neuron (B, k)."""
    return X @ W.T


def response_solve(X, W, M, *, check_pd=False):
    """Steady state of the neural dynamics (E4): ``y = M^{-1} W x`` (B, k).

    A linear solve (LU), never an inverse. ``M`` is symmetric positive
    definite, so a Cholesky solve would do as well, but on the CPU MKL's
    Cholesky factorisation opens a parallel region even for a 3 x 3 matrix,
    which costs up to milliseconds per training step on a busy machine; the
    LU factorisation does not.

    With ``check_pd``, a matrix ``M`` that is not positive definite (the
    dynamics then have no stable fixed point) gives non-finite responses, so
    that training reports a divergence at its next check without a device
    sync here.
    """
    return _solve_rows(drive(X, W), M, check_pd=check_pd)


def _solve_rows(D, A, *, check_pd=False):
    """``D A^{-1}`` for a symmetric ``A`` (each row of ``D`` solved); non-finite if singular."""
    Y = torch.linalg.solve_ex(A, D.T)[0].T
    if check_pd:
        # Dividing by (lambda_min > 0) leaves Y unchanged, or makes it inf/NaN. A
        # non-finite A (a diverged run, reported at the next check) must not raise.
        Y = Y / (torch.linalg.eigvalsh(_finite(A))[0] > 0)
    return Y


def _finite(A):
    """``A`` with non-finite entries zeroed, for eigensolvers that raise on them."""
    return torch.nan_to_num(A, nan=0.0, posinf=0.0, neginf=0.0)


def response_dynamics(X, W, M, *, rtol, max_iter=_gda.DYNAMICS_MAX_ITER):
    """Response by Euler steps of the neural dynamics ``dy/dg = W x - M y`` (E4).

    From ``y = 0``, with the step ``1 / |M|_F < 2 / lambda_max(M)``, until the
    residual ``|W x - M y|`` is below ``rtol`` times the drive ``|W x|``.

    Returns
    -------
    Y : tensor (B, k)
    n_iter : int
    """
    return _gda.response_dynamics(drive(X, W), M, 0.0, rtol=rtol, max_iter=max_iter)


def filters(W, M):
    """The neural filters ``F = M^{-1} W`` (k, n), by an LU solve.

    At steady state ``y = F x``. An LU solve (not Cholesky) keeps ``F``
    defined for any invertible ``M``, e.g. a last finite state before a
    divergence.
    """
    return torch.linalg.solve(M, W)


def reciprocal_condition(A):
    """``sigma_min / sigma_max`` of a square matrix (a Python float, in float64).

    0 for a singular or zero matrix; NaN for a non-finite one (so that a test
    ``rcond > limit`` fails for both).
    """
    if not torch.isfinite(A).all():
        return float("nan")
    s = torch.linalg.svdvals(A.to(torch.float64))
    return float(s[-1] / s[0]) if s[0] > 0 else 0.0


# ------------------------------------------------ objectives and gradients


def minmax_objective(W, M, C, mode="psp"):
    """The synaptic min-max objective ``L(W, M)``, E5 (PSP) or E11 (PSW).

    ``2 Tr(W^T W) - 2 Tr(M^{-1} W C W^T) - Tr(M^2)`` for PSP, with
    ``- 2 Tr(M)`` in place of ``- Tr(M^2)`` for PSW.
    """
    value = 2 * (W * W).sum() - 2 * torch.trace(torch.linalg.solve(M, W @ C @ W.T))
    return value - ((M * M).sum() if mode == "psp" else 2 * torch.trace(M))


def minmax_gradients(W, M, C, mode="psp"):
    """Gradients of ``L(W, M)`` (E5/E11), by the envelope theorem.

    ``dL/dW = 4 (W - F C)``; ``dL/dM = 2 (F C F^T - M)`` for PSP and
    ``2 (F C F^T - I)`` for PSW, with ``F = M^{-1} W``.
    """
    F = filters(W, M)
    FC = F @ C
    decay = M if mode == "psp" else torch.eye(M.shape[0], dtype=M.dtype, device=M.device)
    return 4 * (W - FC), 2 * (FC @ F.T - decay)


def batch_objective(D, Y, W, M, mode="psp"):
    """E5 / E11 with ``C`` the batch covariance, at the solved ``Y`` (a 0-d tensor).

    At ``y = M^{-1} W x`` the per-sample terms ``-4 x^T W^T y + 2 y^T M y``
    reduce to ``-2 (W x) . y``, so the value costs three reductions. At the
    principal fixed point it equals ``-sum_i lambda_i^2`` (PSP) or
    ``-2 sum_i lambda_i`` (PSW).
    """
    # 2 (|W|^2 - <(W x) . y>) - |M|^2  (PSP)  or  - 2 Tr(M)  (PSW), in few tensor ops
    value = torch.sub(_squared_norm(W), (D * Y).sum(), alpha=1 / D.shape[0]).mul_(2)
    return value.sub_(_squared_norm(M) if mode == "psp" else 2 * torch.trace(M))


def _squared_norm(A):
    return torch.dot(A.reshape(-1), A.reshape(-1))


# ------------------------------------------------------- learning rules


def hebbian_update(W, X, Y, rate):
    """Feedforward rule (E12): ``W <- W + rate (<y x^T> - W)``.

    With ``rate = 2 eta`` this is a descent step of ``eta / 2`` on E5/E11.
    ``rate`` is a float or a 0-d tensor.
    """
    return torch.lerp(W, Y.T @ X * (1.0 / X.shape[0]), rate)


def anti_hebbian_update(M, Y, rate, mode="psp"):
    """Lateral rule (E12): ``M <- M + rate (<y y^T> - M)`` (PSP) or ``(<y y^T> - I)`` (PSW).

    With ``rate = eta / tau`` this is an ascent step of ``eta / (2 tau)``.
    For PSP and ``rate < 1``, ``M`` stays positive definite (a convex
    combination of a positive definite and a positive semi-definite matrix);
    for PSW it need not (see :func:`psw_rates` and :func:`project_pd`).
    ``rate`` is a float or a 0-d tensor.
    """
    YY = Y.T @ Y * (1.0 / Y.shape[0])
    if mode == "psp":
        return torch.lerp(M, YY, rate)
    return M + rate * (YY - torch.eye(M.shape[0], dtype=M.dtype, device=M.device))


def psw_rates(M, w_rate, m_rate, *, scaled=True, pd_safe=True):
    """The PSW step sizes made independent of the scale of the data.

    The PSW fixed point has ``M = O D_k O^T`` (the top eigenvalues of ``C``)
    while the lateral step ``<y y^T> - I`` is of order one, so a fixed
    ``eta / tau`` is too fast for data of small variance and too slow for
    data of large variance: the stability bound on ``tau`` (E14) has units
    of ``1 / lambda``. With ``scaled``, the lateral rate is multiplied by
    ``lambda_max(M)``, which tends to ``lambda_1``: then ``tau`` is
    dimensionless, and ``tau <= 1/2`` satisfies E14 for every spectrum,
    because ``lambda_1 (lambda_i + lambda_j) > (lambda_i - lambda_j)^2 ``.

    With ``pd_safe``, both rates are scaled down together (keeping their
    ratio) so that the lateral step is at most ``lambda_min(M) / 2``. As
    ``<y y^T>`` is positive semi-definite, ``M`` then stays positive
    definite, and the discrete dynamics of ``M`` along its smallest
    eigenvalue stay stable (they need a step below ``lambda_k``).

    Returns
    -------
    w_rate, m_rate : 0-d tensors
    """
    eigenvalues = torch.linalg.eigvalsh(_finite(M))
    m_rate = m_rate * eigenvalues[-1] if scaled else torch.as_tensor(m_rate, dtype=M.dtype)
    if pd_safe:
        factor = (0.5 * eigenvalues[0] / m_rate).clamp(max=1.0)
        return w_rate * factor, m_rate * factor
    return torch.as_tensor(w_rate, dtype=M.dtype), m_rate


def project_pd(M, floor):
    """The PSW guard: floor the eigenvalues of the symmetric ``M`` at ``floor``.

    A non-finite ``M`` can only come with non-finite ``W`` and responses, which
    training reports; its entries are zeroed here so that the eigensolver does
    not raise first.
    """
    eigenvalues, eigenvectors = torch.linalg.eigh(_finite(M))
    return (eigenvectors * eigenvalues.clamp(min=floor)) @ eigenvectors.T


def network_step(
    state, X, *, w_rate, m_rate, mode="psp", pd_floor=None, respond=None, scaled=False,
    pd_safe=False,
):  # fmt: skip
    """One descent-ascent step on a minibatch (E12).

    With one row per step this is the online network; with all the rows of
    the data in every step, the offline (full-batch) algorithm.

    Parameters
    ----------
    state : tuple (W, M)
    X : tensor (B, n)
    w_rate, m_rate : float
        ``2 eta`` and ``eta / tau``.
    mode : {"psp", "psw"}
    pd_floor : float or None
        Eigenvalue floor of ``M`` after the update (PSW guard).
    respond : callable or None
        ``respond(X, W, M) -> Y``; default :func:`response_solve`.
    scaled, pd_safe : bool
        PSW only: the rates of :func:`psw_rates`.

    Returns
    -------
    new_state : tuple (W, M)
    objective : 0-d tensor
        :func:`batch_objective` at the pre-update synapses.
    """
    W, M = state
    if mode == "psw" and (scaled or pd_safe):
        w_rate, m_rate = psw_rates(M, w_rate, m_rate, scaled=scaled, pd_safe=pd_safe)
    D = drive(X, W)
    if respond is None:
        # PSP keeps M positive definite by itself (rate < 1), PSW only with a guard.
        unguarded = mode == "psw" and pd_floor is None and not pd_safe
        Y = _solve_rows(D, M, check_pd=unguarded)
    else:
        Y = respond(X, W, M)
    objective = batch_objective(D, Y, W, M, mode)
    # Hebbian feedforward, with decay:  W += 2 eta (y x^T - W)
    W_new = hebbian_update(W, X, Y, w_rate)
    # anti-Hebbian lateral:  M += eta/tau (y y^T - M)  [PSP]  or  (y y^T - I)  [PSW]
    M_new = anti_hebbian_update(M, Y, m_rate, mode)
    if pd_floor is not None:
        M_new = project_pd(M_new, pd_floor)
    return (W_new, M_new), objective


def running_average(averages, state, weight):
    """Polyak-Ruppert averaging: ``A <- A + weight (S - A)`` for each synaptic matrix.

    With ``weight = r / (s + r)`` at the ``s``-th averaged step, the average
    weighs step ``s`` as ``Gamma(s + r) / Gamma(s + 1) ~ s^(r - 1)``: for
    ``r > 1`` early, far-from-converged synapses fade out while the noise of
    the later steps is averaged.
    """
    return tuple(torch.lerp(a, s, weight) for a, s in zip(averages, state, strict=True))


def stationarity(X, W, M, mode="psp"):
    """How far ``(W, M)`` is from a fixed point of E12 on the rows of ``X``.

    The relative gradients of E5 / E11 with ``C`` the covariance of ``X``:
    ``|<y x^T> - W|_F / |W|_F`` and, for the lateral synapses,
    ``|<y y^T> - M|_F / |M|_F`` (PSP) or the whitening error
    ``|<y y^T> - I|_F / sqrt(k)`` (PSW), at ``y = M^{-1} W x``. Both are
    zero exactly at a fixed point, and neither depends on the scale of ``X``.

    Returns
    -------
    feedforward, lateral : 0-d tensors
    """
    Y = response_solve(X, W, M)
    scale = 1.0 / X.shape[0]
    feedforward = torch.linalg.matrix_norm(Y.T @ X * scale - W) / torch.linalg.matrix_norm(W)
    YY = Y.T @ Y * scale
    if mode == "psp":
        lateral = torch.linalg.matrix_norm(YY - M) / torch.linalg.matrix_norm(M)
    else:
        eye = torch.eye(M.shape[0], dtype=M.dtype, device=M.device)
        lateral = torch.linalg.matrix_norm(YY - eye) / M.shape[0] ** 0.5
    return feedforward, lateral


# ------------------------------------------ fractional-exponent objectives

# Exponent p of Tr((W C W^T)^p) and its coefficient, per mode: E7 and E8.
_FRACTIONAL = {"psp": (2 / 3, 3.0), "psw": (1 / 2, 4.0)}


def psd_power(A, p, eps=None):
    """``A^p`` of a symmetric positive semi-definite ``A``, by eigendecomposition.

    Eigenvalues are floored at ``eps`` (default: machine epsilon times the
    largest) so that negative powers stay finite.
    """
    eigenvalues, eigenvectors = torch.linalg.eigh(A)
    if eps is None:
        eps = torch.finfo(A.dtype).eps * eigenvalues.abs().max().clamp(min=1)
    return (eigenvectors * eigenvalues.clamp(min=eps) ** p) @ eigenvectors.T


def fractional_objective(W, C, mode="psp"):
    """E7 (PSP) ``2 Tr(W^T W) - 3 Tr((W C W^T)^{2/3})``; E8 (PSW) ``... - 4 Tr((W C W^T)^{1/2})``.

    ``M`` eliminated at its optimum ``(W C W^T)^{1/3}`` (PSP) or
    ``(W C W^T)^{1/2}`` (PSW). The minimum is ``-sum_i lambda_i^2`` (PSP) or
    ``-2 sum_i lambda_i`` (PSW) over the top ``k`` eigenvalues of ``C``.
    """
    p, coefficient = _FRACTIONAL[mode]
    eigenvalues = torch.linalg.eigvalsh(W @ C @ W.T).clamp(min=0)
    return 2 * (W * W).sum() - coefficient * (eigenvalues**p).sum()


def fractional_lateral(W, C, mode="psp"):
    """The optimal lateral synapses ``M*``: ``(W C W^T)^{1/3}`` (PSP), ``^{1/2}`` (PSW)."""
    return psd_power(W @ C @ W.T, 1 / 3 if mode == "psp" else 1 / 2)


def fractional_gradient(W, C, mode="psp"):
    """Gradient of E7 / E8: ``4 W - 4 M*^{-1} W C``.

    The exponent of ``W C W^T`` is ``-1/3`` (PSP) or ``-1/2`` (PSW). This is
    the network's ``W`` rule with ``M`` held at its optimum (``tau -> 0``).
    """
    WC = W @ C
    exponent = -1 / 3 if mode == "psp" else -1 / 2
    return 4 * W - 4 * psd_power(WC @ W.T, exponent) @ WC


def minimize_fractional(C, W0, mode="psp", *, step=0.1, tol=1e-12, max_iter=10_000):
    """Gradient descent on E7 / E8 with a fixed step.

    At the minimum the Hessian's eigenvalues lie in ``(0, 4)``
    (``4 (1 - lambda_j / lambda_i)`` across the subspace boundary, ``8/3``
    (E7) or ``4`` (E8) along the singular values), so steps below 0.5
    converge there; a fixed step also avoids line searches, which stall
    where objective differences fall below rounding.

    Parameters
    ----------
    C : tensor (n, n)
        Input covariance.
    W0 : tensor (k, n)
        Starting point (full row rank).
    mode : {"psp", "psw"}
    step : float
        Gradient step.
    tol : float
        Stop when ``|grad|_F <= tol * max(1, |W|_F)``.
    max_iter : int

    Returns
    -------
    W : tensor (k, n)
        The minimiser: ``O D_k V_k^T`` (PSP) or ``O D_k^{1/2} V_k^T`` (PSW).
    n_iter : int
        Gradient steps taken.
    """
    W = W0.clone()
    for n_iter in range(max_iter):
        grad = fractional_gradient(W, C, mode)
        if torch.linalg.matrix_norm(grad) <= tol * max(1.0, float(torch.linalg.matrix_norm(W))):
            return W, n_iter
        W = W - step * grad
    return W, max_iter


# ------------------------------------------------ heuristic (Foldiak type)


def foldiak_response(X, W, L):
    """``y = (I + L)^{-1} W x``: the fixed point of ``dy/dg = W x - L y - y``."""
    L = L + torch.eye(L.shape[0], dtype=L.dtype, device=L.device)
    return _solve_rows(drive(X, W), L)


def foldiak_step(state, X, *, rate):
    """One step of the Foldiak-type heuristic network (Foldiak 1989, as in the user guide).

    Oja feedforward ``dW = eta (y x^T - diag(y^2) W)`` and purely
    anti-Hebbian lateral ``dL = eta y y^T`` with ``diag(L) = 0``; these rules
    are postulated, not derived from an objective.

    Returns
    -------
    new_state : tuple (W, L)
    reconstruction_error : 0-d tensor
        ``<|x - W^T y|^2>`` at the pre-update synapses, a progress monitor.
    """
    W, L = state
    Y = foldiak_response(X, W, L)
    scale = rate / X.shape[0]
    error = ((X - Y @ W) ** 2).sum() * (1.0 / X.shape[0])
    # Oja:  W += eta (y x^T - diag(y^2) W)
    W_new = torch.addmm(W - scale * (Y * Y).sum(0)[:, None] * W, Y.T, X, alpha=scale)
    # anti-Hebbian lateral, zero diagonal:  L += eta y y^T
    L_new = torch.addmm(L, Y.T, Y, alpha=scale)
    L_new.diagonal().zero_()
    return (W_new, L_new), error
