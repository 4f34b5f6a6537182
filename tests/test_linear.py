"""Linear similarity matching (PSP, PSW, fractional objectives, Foldiak baseline) against oracles.

The oracles are numpy's eigendecomposition of the data covariance (or the
population one, for synthetic data), autograd, and the closed-form stability
thresholds (E13, E14 of the user guide's "Linear similarity matching"
section). Thresholds carry about a 10x margin over measured re-runs, which
each test prints. Synthetic data are ``x = U diag(sqrt(lambda)) z``
with a random orthogonal ``U`` and ``z ~ N(0, I)``. The subspace error is the
squared projector distance ``||P_F - P_U||_F^2 / k`` (:func:`subspace_error`).
"""

import pickle
import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy.special import gammaln
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import (
    check_param_validation,
    check_set_output_transform_pandas,
)

from sklearn_ksm import (
    FoldiakNetwork,
    HebbianKernelSimilarityMatching,
    HebbianSimilarityMatching,
    TrainingDivergedError,
    _gda,
    _psp,
)
from sklearn_ksm.kernels import LinearKernel
from sklearn_ksm.metrics import (
    eigenvalue_error,
    orthonormality_error,
    subspace_error,
    whitening_error,
)

from .conftest import assert_same_state, single_row_streams, snapshot

SPECTRUM_A = [5, 4, 3, 1, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
CHECKPOINTS = [1_000] + [10_000 * i for i in range(1, 11)]


def gaussian_data(spectrum, n_samples, seed):
    """Rows ``x = U diag(sqrt(lambda)) z``; returns X and the population ``U``."""
    rng = np.random.RandomState(seed)
    n = len(spectrum)
    U, _ = np.linalg.qr(rng.normal(size=(n, n)))
    return (rng.normal(size=(n_samples, n)) * np.sqrt(spectrum)) @ U.T, U


def top_subspace(X, k):
    """Top-k eigenvectors (as rows) and all eigenvalues of the covariance of X, by eigh."""
    eigenvalues, eigenvectors = np.linalg.eigh(X.T @ X / len(X))
    return eigenvectors[:, ::-1][:, :k].T, eigenvalues[::-1]


def stream(est, X, checkpoints, reference):
    """partial_fit the rows of X in order; the subspace error at each checkpoint."""
    errors, start = [], 0
    for stop in checkpoints:
        est.partial_fit(X[start:stop])
        errors.append(subspace_error(est.components_, reference))
        start = stop
    return np.array(errors)


def eta_psp(t):
    return 1.0 / (2 * t + 5)


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    """One torch thread for this module's long runs of tiny steps.

    MKL opens parallel regions for small products and factorisations (e.g. a
    2000 x 10 by 10 x 3 product, or the kernel estimator's 3 x 3 Cholesky);
    on a busy 2-core machine each then waits for a time slice, and a step
    costs milliseconds instead of tens of microseconds.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def spectrum_a():
    X, U = gaussian_data(SPECTRUM_A, 100_000, seed=0)
    return X, U[:, :3].T


@pytest.fixture(scope="module")
def spectrum_a_runs(spectrum_a):
    """The derived PSP network and the Foldiak baseline on the same 1e5-sample stream."""
    X, top = spectrum_a
    psp = HebbianSimilarityMatching(3, random_state=0, device="cpu")
    foldiak = FoldiakNetwork(3, random_state=0, device="cpu")
    floor = np.array([subspace_error(top_subspace(X[:t], 3)[0], top) for t in CHECKPOINTS])
    return {
        "psp": (psp, stream(psp, X, CHECKPOINTS, top)),
        "foldiak": (foldiak, stream(foldiak, X, CHECKPOINTS, top)),
        "floor": floor,
    }


@pytest.fixture(scope="module")
def fixed_data():
    """A fixed data matrix: spectrum A, 2000 samples."""
    return gaussian_data(SPECTRUM_A, 2000, seed=3)[0]


@pytest.fixture(scope="module")
def fitted(fixed_data):
    return HebbianSimilarityMatching(3, max_iter=1, random_state=0, device="cpu").fit(
        fixed_data[:500]
    )


def random_synapses(k=3, n=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    W = torch.randn(k, n, generator=gen, dtype=torch.float64)
    A = torch.randn(k, k, generator=gen, dtype=torch.float64)
    M = A @ A.T + k * torch.eye(k, dtype=torch.float64)
    B = torch.randn(n, n, generator=gen, dtype=torch.float64)
    return W, M, B @ B.T / n, torch.randn(7, n, generator=gen, dtype=torch.float64)


# ------------------------------------------------------------ the math


@pytest.mark.parametrize("mode", ["psp", "psw"])
def test_minmax_gradients_equal_autograd(mode):
    """E5/E11 gradients by the envelope theorem equal autograd's."""
    W, M, C, _ = random_synapses()
    params = [t.clone().requires_grad_(True) for t in (W, M)]
    gW, gM = torch.autograd.grad(_psp.minmax_objective(*params, C, mode), params)
    dW, dM = _psp.minmax_gradients(W, M, C, mode)
    torch.testing.assert_close(dW, gW, rtol=1e-10, atol=1e-10)
    # Autograd treats M as unconstrained; its gradient on symmetric matrices is the symmetric part.
    torch.testing.assert_close(dM, (gM + gM.T) / 2, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("mode", ["psp", "psw"])
def test_network_step_is_a_gradient_step_on_the_batch_objective(mode):
    """W moves by -(eta/2) dL/dW and M by +(eta/(2 tau)) dL/dM, with C the batch covariance."""
    W, M, _, X = random_synapses()
    eta, tau = 0.05, 0.3
    (W1, M1), objective = _psp.network_step((W, M), X, w_rate=2 * eta, m_rate=eta / tau, mode=mode)
    C = X.T @ X / len(X)
    dW, dM = _psp.minmax_gradients(W, M, C, mode)
    torch.testing.assert_close(W1 - W, -eta / 2 * dW, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(M1 - M, eta / (2 * tau) * dM, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(objective, _psp.minmax_objective(W, M, C, mode), rtol=1e-12, atol=0)


def test_closed_form_response_equals_converged_euler_dynamics():
    """The Euler dynamics (E4) converge to the closed form, to 1e-8."""
    W, M, _, X = random_synapses()
    Y_solve = _psp.response_solve(X, W, M)
    Y_dynamics, n_iter = _psp.response_dynamics(X, W, M, rtol=1e-13)
    assert n_iter < _gda.DYNAMICS_MAX_ITER
    assert float((Y_dynamics - Y_solve).abs().max()) < 1e-8
    torch.testing.assert_close(Y_solve @ M, X @ W.T, rtol=1e-12, atol=1e-12)  # M y = W x


def test_response_is_non_finite_when_psw_lateral_weights_are_not_pd():
    W, M, _, X = random_synapses()
    indefinite = M - 2 * float(torch.linalg.eigvalsh(M)[0]) * torch.eye(3, dtype=M.dtype)
    assert not torch.isfinite(_psp.response_solve(X, W, indefinite, check_pd=True)).all()
    assert torch.isfinite(_psp.response_solve(X, W, M, check_pd=True)).all()


def test_pd_guard_floors_eigenvalues_only():
    _, M, _, _ = random_synapses()
    eigenvalues = torch.linalg.eigvalsh(M)
    floor = float(eigenvalues[1])
    projected = _psp.project_pd(M, floor)
    torch.testing.assert_close(
        torch.linalg.eigvalsh(projected), eigenvalues.clamp(min=floor), rtol=1e-12, atol=1e-12
    )
    torch.testing.assert_close(_psp.project_pd(M, 1e-3), M, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ["psp", "psw"])
def test_fractional_gradients_equal_autograd(mode):
    W, _, C, _ = random_synapses()
    Wg = W.clone().requires_grad_(True)
    (expected,) = torch.autograd.grad(_psp.fractional_objective(Wg, C, mode), [Wg])
    torch.testing.assert_close(_psp.fractional_gradient(W, C, mode), expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("mode", ["psp", "psw"])
def test_fractional_objective_minimisers_span_top_subspace(mode, fixed_data):
    """E7/E8 by gradient descent, against eigh of the sample covariance."""
    C = fixed_data.T @ fixed_data / len(fixed_data)
    top, eigenvalues = top_subspace(fixed_data, 3)
    W0 = torch.randn(3, 10, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    W, n_iter = _psp.minimize_fractional(torch.from_numpy(C), W0, mode)
    W = W.numpy()
    lam = eigenvalues[:3]
    expected_singular = lam if mode == "psp" else np.sqrt(lam)
    expected_min = -np.sum(lam**2) if mode == "psp" else -2 * np.sum(lam)
    value = float(_psp.fractional_objective(torch.from_numpy(W), torch.from_numpy(C), mode))
    M = _psp.fractional_lateral(torch.from_numpy(W), torch.from_numpy(C), mode).numpy()
    singular = np.linalg.svd(W, compute_uv=False)
    print(
        f"{mode}: {n_iter} iterations, subspace error {subspace_error(W, top):.1e}, singular "
        f"values {np.abs(singular / expected_singular - 1).max():.1e} and minimum "
        f"{abs(value / expected_min - 1):.1e} relative"
    )
    assert n_iter < 10_000  # converged: |grad| <= 1e-12 |W|
    assert subspace_error(W, top) < 1e-10
    np.testing.assert_allclose(singular, expected_singular, rtol=1e-6)
    assert value == pytest.approx(expected_min, rel=1e-8)
    assert eigenvalue_error(M, eigenvalues) < 1e-8  # M* = O D_k O^T in both modes


def _averaged_flow(mode, tau, C, k):
    """Averaged GDA flow of E12 on (W, upper triangle of the symmetric M)."""
    rows, cols = torch.triu_indices(k, k)

    def flow(params):
        W = params[: k * C.shape[0]].reshape(k, -1)
        upper = torch.zeros(k, k, dtype=params.dtype).index_put((rows, cols), params[W.numel() :])
        M = upper + upper.T - torch.diag(torch.diagonal(upper))
        F = torch.linalg.solve(M, W)
        dW = 2 * (F @ C - W)
        dM = (F @ C @ F.T - (M if mode == "psp" else torch.eye(k, dtype=M.dtype))) / tau
        return torch.cat([dW.reshape(-1), dM[rows, cols]])

    return flow, rows, cols


def _max_growth_rate(mode, tau, spectrum, k):
    """Largest real part of the Jacobian's eigenvalues at the principal fixed point.

    The zero modes of the rotations ``O`` are removed first.
    """
    lam = torch.tensor(spectrum, dtype=torch.float64)
    C = torch.diag(lam)
    flow, rows, cols = _averaged_flow(mode, tau, C, k)
    W = torch.zeros(k, len(spectrum), dtype=torch.float64)
    W[:, :k] = torch.diag(lam[:k] if mode == "psp" else lam[:k].sqrt())
    M = torch.diag(lam[:k])
    fixed_point = torch.cat([W.reshape(-1), M[rows, cols]])
    assert float(flow(fixed_point).abs().max()) < 1e-12
    jacobian = torch.autograd.functional.jacobian(flow, fixed_point)
    eigenvalues = np.linalg.eigvals(jacobian.numpy())
    order = np.argsort(np.abs(eigenvalues))
    n_rotations = k * (k - 1) // 2  # W, M -> O W, O M O^T leaves the flow invariant
    assert np.abs(eigenvalues[order[:n_rotations]]).max() < 1e-9
    return eigenvalues[order[n_rotations:]].real.max()


def _tau_threshold(mode, spectrum, k):
    """The closed-form bounds E13 (PSP) and E14 (PSW) of the user guide."""
    lam = spectrum[:k]
    pairs = [(a, b) for i, a in enumerate(lam) for b in lam[i + 1 :]]
    if mode == "psp":
        return min((a * a + b * b) / (2 * (a - b) ** 2) for a, b in pairs)
    return min((a + b) / (2 * (a - b) ** 2) for a, b in pairs)


@pytest.mark.parametrize("mode", ["psp", "psw"])
@pytest.mark.parametrize(
    "spectrum, k",
    [([10, 1, 0.5, 0.2], 2), ([100, 1, 0.5, 0.2], 2), ([5, 4, 3, 1, 0.9, 0.8], 3),
     ([2.0, 1.2, 0.7, 0.6, 0.1], 3)],
)  # fmt: skip
def test_linear_stability_changes_at_the_closed_form_tau(mode, spectrum, k):
    """The Jacobian's eigenvalues cross zero at the closed-form thresholds E13 / E14."""
    threshold = _tau_threshold(mode, spectrum, k)
    if mode == "psp":
        assert threshold > 0.5  # tau <= 1/2 is sufficient for every spectrum
    assert _max_growth_rate(mode, 0.97 * threshold, spectrum, k) < 0
    assert _max_growth_rate(mode, 1.03 * threshold, spectrum, k) > 0


# ----------------------------------------------- the kernel network, A.3


def test_kernel_energy_with_linear_kernel_is_a_quarter_of_the_psp_objective():
    """Linear kernel, q = 1, reg = 0, L = M: Eq. 8 of the kernel paper = E3 / 4, for any Y."""
    W, M, _, X = random_synapses()
    Y = torch.randn(len(X), 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    kernel = LinearKernel()
    energy = _gda.energy(Y, kernel(X, W), kernel.diag(W), torch.ones(3, dtype=W.dtype), M, 0.0)
    psp = (
        -4 * ((X @ W.T) * Y).sum(1).mean()
        + 2 * ((Y @ M) * Y).sum(1).mean()
        + 2 * (W * W).sum()
        - (M * M).sum()
    )  # E3, per sample
    torch.testing.assert_close(4 * energy, psp, rtol=1e-12, atol=1e-12)


def test_kernel_estimator_with_linear_kernel_learns_the_psp_subspace():
    """Same data, both networks: the same top-3 subspace of the sample covariance."""
    rng = np.random.RandomState(0)
    basis, _ = np.linalg.qr(rng.normal(size=(10, 10)))
    X = (rng.normal(size=(2000, 10)) * np.sqrt([9, 7, 5] + [0.1] * 7)) @ basis.T
    top, _ = top_subspace(X, 3)
    kernel = HebbianKernelSimilarityMatching(
        3, kernel="linear", max_iter=100, random_state=0, device="cpu"
    ).fit(X)
    psp = HebbianSimilarityMatching(3, max_iter=5, random_state=0, device="cpu").fit(X)
    errors = [
        subspace_error(kernel.components_, psp.components_),
        subspace_error(kernel.components_, top),
        subspace_error(psp.components_, top),
    ]
    print("kernel vs PSP, kernel vs PCA, PSP vs PCA:", ", ".join(f"{e:.1e}" for e in errors))
    assert max(errors) < 1e-3


# -------------------------------------------------- offline algorithm


@pytest.mark.parametrize("mode", ["psp", "psw"])
def test_offline_gda_matches_eigendecomposition(mode, fixed_data):
    """Full-batch GDA on a fixed data matrix (n=10, k=3, spectrum A); errors measured ~1e-14."""
    est = HebbianSimilarityMatching(
        3, mode=mode, batch_size=None, max_iter=2000, tol=1e-13, random_state=0, device="cpu"
    ).fit(fixed_data)
    top, eigenvalues = top_subspace(fixed_data, 3)
    C = fixed_data.T @ fixed_data / len(fixed_data)
    F, W, M = est.components_, est.feedforward_weights_, est.lateral_weights_
    errors = {
        "subspace": subspace_error(F, top),
        "eigenvalue": eigenvalue_error(M, eigenvalues),
        "orthonormality" if mode == "psp" else "whitening": (
            orthonormality_error(F) if mode == "psp" else whitening_error(F, C)
        ),
    }
    print(mode, {k: f"{v:.1e}" for k, v in errors.items()})
    assert errors["subspace"] < 1e-10
    assert max(errors.values()) < 1e-8
    lam = eigenvalues[:3]
    np.testing.assert_allclose(
        np.linalg.svd(W, compute_uv=False), lam if mode == "psp" else np.sqrt(lam), rtol=1e-8
    )
    # The objective history tends to the minimum of E7 / E8.
    expected = -np.sum(lam**2) if mode == "psp" else -2 * np.sum(lam)
    assert est.objective_history_[-1] == pytest.approx(expected, rel=1e-10)
    # Outputs are not decorrelated by PSP (<y y^T> = M) but whitened by PSW.
    Y = est.transform(fixed_data)
    np.testing.assert_allclose(Y.T @ Y / len(Y), M if mode == "psp" else np.eye(3), atol=1e-8)


# ---------------------------------------------------- online algorithm


def test_online_psp_reaches_the_batch_pca_floor(spectrum_a_runs, spectrum_a):
    """Spectrum A with the defaults, one sample per step: within 3x of batch PCA."""
    X, _ = spectrum_a
    psp, errors = spectrum_a_runs["psp"]
    floor = spectrum_a_runs["floor"]
    at = {t: i for i, t in enumerate(CHECKPOINTS)}
    _, eigenvalues = top_subspace(X, 3)
    eig_error = eigenvalue_error(psp.lateral_weights_, eigenvalues)
    orth_error = orthonormality_error(psp.components_)
    for t in (10_000, 100_000):
        print(f"PSP at t={t}: {errors[at[t]]:.2e} (batch-PCA floor {floor[at[t]]:.2e})")
    print(f"eigenvalue error {eig_error:.1e}, orthonormality error {orth_error:.1e}")
    assert psp.n_steps_ == 100_000
    assert errors[at[100_000]] < 1e-3
    assert errors[at[10_000]] <= 3 * floor[at[10_000]]
    assert errors[at[100_000]] <= 3 * floor[at[100_000]]
    assert eig_error < 1e-2
    assert orth_error < 1e-2


def test_derived_network_is_no_worse_than_the_heuristic(spectrum_a_runs):
    """The paper's claim (soft): same stream, both networks with their default rates.

    Near the floor single errors are noisy, so the geometric mean over the
    checkpoints t = 1e4 .. 1e5 is compared as well.
    """
    psp_errors, foldiak_errors = spectrum_a_runs["psp"][1], spectrum_a_runs["foldiak"][1]
    print("t     ", " ".join(f"{t:8d}" for t in CHECKPOINTS))
    print("PSP   ", " ".join(f"{e:8.1e}" for e in psp_errors))
    print("Foldiak", " ".join(f"{e:8.1e}" for e in foldiak_errors))
    assert psp_errors[-1] <= foldiak_errors[-1]
    mean = lambda e: np.exp(np.mean(np.log(e[1:])))  # noqa: E731
    assert mean(psp_errors) < mean(foldiak_errors)


def eta_psw(t):
    return 1.0 / (t + 100)


def test_online_psw_with_explicit_rates_and_guard_whitens():
    """The paper's rule as given: top lambda (2, 1.5, 1.2), tau=0.25, eta_t=1/(t+100), floor 0.05.

    Measured at t=1e5: subspace error 9.6e-5, whitening error 1.1e-2.
    """
    spectrum = [2, 1.5, 1.2, 0.5, 0.45, 0.4, 0.35, 0.3, 0.25, 0.2]
    X, U = gaussian_data(spectrum, 100_000, seed=1)
    C = U @ np.diag(spectrum) @ U.T
    est = HebbianSimilarityMatching(
        3, mode="psw", tau=0.25, learning_rate=eta_psw, pd_floor=0.05, random_state=0,
        device="cpu",
    ).partial_fit(X)  # fmt: skip
    errors = (subspace_error(est.components_, U[:, :3].T), whitening_error(est.components_, C))
    print(f"PSW at t=1e5: subspace {errors[0]:.1e}, whitening {errors[1]:.1e}")
    assert errors[0] < 1e-3
    assert errors[1] < 5e-2
    assert eigenvalue_error(est.lateral_weights_, spectrum) < 5e-2


def test_psw_guard_keeps_lateral_weights_positive_definite():
    """Small outputs shrink M by (eta/tau) I per step: unguarded PSW loses positive definiteness.

    With explicit rates (a constant 0.1, tau=0.5) the rule is applied as given.
    """
    X = 0.01 * gaussian_data([2, 1.5, 1.2, 0.5, 0.3], 300, seed=2)[0]
    params = dict(
        n_components=3, mode="psw", learning_rate=0.1, tau=0.5, random_state=0, device="cpu"
    )
    guarded = HebbianSimilarityMatching(pd_floor=0.05, **params).partial_fit(X)
    assert np.linalg.eigvalsh(guarded.lateral_weights_).min() >= 0.05 - 1e-12
    assert np.isfinite(guarded.transform(X)).all()
    unguarded = HebbianSimilarityMatching(**params)
    with pytest.raises(TrainingDivergedError, match="pd_floor") as excinfo:
        unguarded.partial_fit(X)
    assert excinfo.value.step <= 10  # M shrinks by 0.2 I per step
    # No step passed a check: as for the kernel estimator, no state is kept.
    assert "keeps no fitted state" in str(excinfo.value)
    assert not hasattr(unguarded, "lateral_weights_")


@pytest.mark.parametrize(
    "spectrum, tau, converges",
    [([100, 1], 0.5, True), ([10, 1], 0.7, False)],
    ids=["tau=0.5<0.510", "tau=0.7>0.623"],
)
def test_online_psp_tau_rule(spectrum, tau, converges):
    """E13 with the paper's schedule eta_t=1/(2t+5): k=2, 1e5 samples; bounds 0.510 and 0.623."""
    X, U = gaussian_data(spectrum + [0.5, 0.4, 0.3, 0.2, 0.1, 0.1, 0.1, 0.1], 100_000, seed=2)
    est = HebbianSimilarityMatching(2, tau=tau, learning_rate=eta_psp, random_state=0, device="cpu")
    errors = stream(est, X, [50_000, 75_000, 100_000], U[:, :2].T)
    print(f"lambda={spectrum}, tau={tau}: errors at 5e4, 7.5e4, 1e5:", errors)
    if converges:
        assert errors[-1] < 1e-3
    else:
        assert errors.min() > 5e-2  # oscillates far from the subspace, never settles


# ------------------------------------- defaults that need no tuning (issue 22)

# Issue 22's stream: 20 dimensions, the top four eigenvalues well above the rest.
ISSUE_SPECTRUM = [4.0, 3.0, 2.5, 2.0, *np.linspace(0.5, 0.05, 16)]


def whitening_on(est, X):
    """``|Y^T Y / n - I|_F / sqrt(k)`` of the outputs on ``X``."""
    Y = est.transform(X)
    return np.linalg.norm(Y.T @ Y / len(Y) - np.eye(Y.shape[1])) / np.sqrt(Y.shape[1])


@pytest.mark.parametrize(
    "spectrum, k",
    [([100, 1, 0.5], 2), ([10, 9.9, 0.1, 0.05], 2), ([1, 0.01, 1e-3, 1e-4], 3),
     ([5, 4, 3, 1, 0.9, 0.8], 3), ([1e-2, 1e-3, 1e-4, 1e-6], 3)],
)  # fmt: skip
def test_auto_tau_makes_psw_stable_for_every_spectrum(spectrum, k):
    """tau="auto" for PSW is 1/2 in units of 1/lambda_max(M) -> 1/lambda_1: inside E14 always.

    E14 has units of 1/lambda, so no fixed tau suits every scale; 1/(2 lambda_1)
    does, because lambda_1 (lambda_i + lambda_j) > (lambda_i - lambda_j)^2.
    """
    tau = 0.5 / spectrum[0]
    assert tau < _tau_threshold("psw", spectrum, k)
    assert _max_growth_rate("psw", tau, spectrum, k) < 0


def test_psw_rates_are_scaled_and_keep_lateral_weights_positive_definite():
    _, M, _, _ = random_synapses()
    low, high = (float(e) for e in torch.linalg.eigvalsh(M)[[0, -1]])
    # Small steps: the lateral rate is multiplied by lambda_max(M), the feedforward one unchanged.
    w, m = _psp.psw_rates(M, 0.2, 1e-3 * low / high)
    assert (float(w), float(m)) == pytest.approx((0.2, 1e-3 * low), rel=1e-12)
    # Large steps: both scaled down together, the lateral one to lambda_min(M) / 2 ...
    w, m = _psp.psw_rates(M, 0.2, 10.0)
    assert float(m) == pytest.approx(low / 2, rel=1e-12)
    assert float(w) / float(m) == pytest.approx(0.2 / (10.0 * high), rel=1e-12)
    # ... so that even silent outputs (y = 0) leave M positive definite.
    silent = _psp.anti_hebbian_update(M, torch.zeros(4, 3, dtype=M.dtype), m, "psw")
    assert float(torch.linalg.eigvalsh(silent)[0]) == pytest.approx(low / 2, rel=1e-10)


@pytest.fixture(scope="module")
def issue_stream():
    return gaussian_data(ISSUE_SPECTRUM, 5000, seed=4)


def test_psw_defaults_whiten_at_any_scale(issue_stream):
    """Issue 22: defaults that whiten, at top eigenvalues of a few hundredths and of some tens.

    Before, the same calls diverged (x 2^-3) or ended with a whitening error
    above 2 (x 2^2). The defaults are scale-free: the network fitted to
    ``s X`` is the one fitted to ``X``, rescaled (filters ``F / s``), up to
    rounding. Measured: whitening errors 0.018, subspace errors 7.5e-4, 2 passes.
    """
    X, U = issue_stream
    fits = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        for power in (-3, 2):
            est = HebbianSimilarityMatching(4, mode="psw", random_state=0, device="cpu")
            fits[power] = est.fit(2.0**power * X)
            white = whitening_on(est, 2.0**power * X)
            sub = subspace_error(est.components_, U[:, :4].T)
            print(f"x 2^{power}: whitening {white:.3f}, subspace {sub:.1e}, {est.n_iter_} passes")
            assert white < 0.05
            assert sub < 1e-2
    np.testing.assert_allclose(
        fits[2].components_ * 2.0**2, fits[-3].components_ * 2.0**-3, rtol=1e-6, atol=1e-9
    )


def test_psp_defaults_are_scale_free(issue_stream):
    """The PSP network fitted to ``s X`` has the filters of the one fitted to ``X``."""
    X = issue_stream[0][:500]
    small, large = (
        HebbianSimilarityMatching(4, random_state=0, device="cpu").partial_fit(s * X)
        for s in (2.0**-4, 2.0**4)
    )
    np.testing.assert_allclose(small.components_, large.components_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(
        small.lateral_weights_ * 2.0**16, large.lateral_weights_, rtol=1e-6, atol=1e-9
    )


@pytest.mark.parametrize("mode", ["psp", "psw"])
def test_float32_inputs_far_from_unit_scale_give_the_unit_scale_network(mode, issue_stream):
    """Defaults at float32 inputs of order 1e12 and 1e-9 (issue 22: "defaults must not
    depend on the scale of the data").

    PSP's synapses scale as ``|x|^2`` and its objective as ``|x|^4``, which
    overflowed float32 from inputs of order 1e10 (``TrainingDivergedError`` at
    step 1). The fit to ``2^p X`` must be the fit to ``X`` with every fitted
    quantity rescaled by its power of the input scale (``W``: 2 for PSP, 1
    for PSW; ``M``: 2; the filters: 0 and -1; the objective: 4 and 2). The
    training computes the same numbers in both cases, so the tolerance
    (rtol 1e-4) only allows for float32 rounding in different orders.
    """
    X = issue_stream[0][:500].astype(np.float32)
    w_power = 2 if mode == "psp" else 1

    def fit(power):
        est = HebbianSimilarityMatching(4, mode=mode, random_state=0, device="cpu")
        return est.partial_fit(np.float32(2.0**power) * X)

    base = fit(0)
    for power in (40, -30):
        est = fit(power)
        assert est.components_.dtype == np.float32
        for name, unit_power in [("components_", w_power - 2), ("feedforward_weights_", w_power),
                                 ("lateral_weights_", 2)]:  # fmt: skip
            scaled = getattr(est, name).astype(np.float64) * 2.0 ** (-power * unit_power)
            np.testing.assert_allclose(scaled, getattr(base, name), rtol=1e-4, atol=1e-6,
                                       err_msg=f"{name} at x 2^{power}")  # fmt: skip
        np.testing.assert_allclose(
            est.objective_history_ * 2.0 ** (-power * 2 * w_power), base.objective_history_,
            rtol=1e-4, atol=1e-6,
        )  # fmt: skip


@pytest.mark.parametrize("scale", [1e-25, 1e25])
def test_inputs_whose_synapses_float32_cannot_hold_are_refused(fitted, scale):
    """Beyond float32's range for ``|x|^2`` a clear ValueError, the fitted model kept."""
    est = pickle.loads(pickle.dumps(fitted))
    before = snapshot(est)
    X = np.float32(scale) * np.random.RandomState(0).normal(size=(200, 6)).astype(np.float32)
    with pytest.raises(ValueError, match=r"float32.*Rescale the inputs.*float64"):
        est.fit(X)
    assert_same_state(est, before)


def test_psw_pd_floor_is_in_the_units_of_the_inputs(issue_stream):
    """An explicit ``pd_floor`` (an eigenvalue of ``M``, units ``|x|^2``) scales with the
    data: the fit to ``4 X`` with ``16 pd_floor`` is the fit to ``X``, rescaled (a floor of 1
    binds: the smallest eigenvalue of ``M`` is 0.71 without it)."""
    X = issue_stream[0][:1000]
    fits = [
        HebbianSimilarityMatching(4, mode="psw", learning_rate=0.02, pd_floor=s**2,
                                  random_state=0, device="cpu").partial_fit(s * X)
        for s in (1.0, 4.0)
    ]  # fmt: skip
    floors = [np.linalg.eigvalsh(est.lateral_weights_).min() / s**2
              for est, s in zip(fits, (1.0, 4.0), strict=True)]  # fmt: skip
    assert floors == pytest.approx([1.0, 1.0], rel=1e-6)  # it binds at the end
    np.testing.assert_allclose(fits[1].components_ * 4.0, fits[0].components_, rtol=1e-6)


@pytest.mark.parametrize("mode", ["psp", "psw"])
def test_fit_stops_at_the_first_pass_within_tol(mode, issue_stream):
    """The residuals are the relative gradients of E5 / E11 on the training data."""
    X = issue_stream[0][:2500]
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = HebbianSimilarityMatching(4, mode=mode, random_state=0, device="cpu").fit(X)
    W, M = est.feedforward_weights_, est.lateral_weights_
    Y = X @ np.linalg.solve(M, W).T
    feedforward = np.linalg.norm(Y.T @ X / len(X) - W) / np.linalg.norm(W)
    target = np.eye(4) if mode == "psw" else M
    scale = np.sqrt(4) if mode == "psw" else np.linalg.norm(M)
    lateral = np.linalg.norm(Y.T @ Y / len(X) - target) / scale
    print(mode, est.n_iter_, "passes:", est.residual_history_)
    assert est.residual_history_.shape == (est.n_iter_, 2)
    np.testing.assert_allclose(est.residual_history_[-1], [feedforward, lateral], rtol=1e-8)
    assert max(feedforward, lateral) <= est.tol
    assert all(max(r) > est.tol for r in est.residual_history_[:-1])
    assert est.n_steps_ == est.n_iter_ * len(X) < est.max_iter * len(X)


def test_unconverged_fit_warns_with_the_measured_whitening_error(issue_stream):
    X = issue_stream[0][:300]
    est = HebbianSimilarityMatching(4, mode="psw", max_iter=1, random_state=0, device="cpu")
    with pytest.warns(ConvergenceWarning, match="did not converge in max_iter=1 passes") as record:
        est.fit(X)
    message = str(record[0].message)
    reported = float(re.search(r"sqrt\(k\), is ([-+.e0-9]+)", message).group(1))
    measured = whitening_on(est, X)
    print(message)
    assert measured > est.tol  # really unconverged
    assert reported == pytest.approx(measured, rel=5e-3)  # printed to 3 digits
    assert est.n_iter_ == 1 and est.residual_history_.shape == (1, 2)


@pytest.mark.parametrize("mode, start", [("psw", 50), ("psp", 15)])
def test_averaged_synapses_are_the_documented_weighted_mean(fixed_data, mode, start, monkeypatch):
    """From step ``start`` on (documented: 50 for PSW, 15 for PSP), the fitted
    synapses are sum_s w_s S_s / sum_s w_s, s = t - start.

    The weights of the running average of rate 1.5 / (s + 1.5), in closed
    form: w_s = Gamma(s + 1.5) / Gamma(s + 1). One row per call shows every
    step's learning synapses; the restarts of a stream's first rows
    (``_stream_start_rows``, tested on their own) are switched off for that.
    """
    monkeypatch.setattr(HebbianSimilarityMatching, "_stream_start_rows", lambda self: 0)
    X = fixed_data[: start + 30]
    est = HebbianSimilarityMatching(3, mode=mode, random_state=0, device="cpu")
    learning = []
    for row in X:
        est.partial_fit(row[None])
        learning.append((est.learning_feedforward_weights_, est.learning_lateral_weights_))
        if est.n_steps_ <= start:
            np.testing.assert_array_equal(est.feedforward_weights_, learning[-1][0])
    s = np.arange(31.0)  # t = start .. start + 30
    weights = np.exp(gammaln(s + 1.5) - gammaln(s + 1))
    for index, fitted in enumerate((est.feedforward_weights_, est.lateral_weights_)):
        states = np.array([state[index] for state in learning[start - 1 :]])
        expected = np.tensordot(weights, states, axes=1) / weights.sum()
        np.testing.assert_allclose(fitted, expected, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------- the estimator


def test_components_are_the_filters_by_a_solve(fitted):
    M, W = fitted.lateral_weights_, fitted.feedforward_weights_
    np.testing.assert_allclose(M @ fitted.components_, W, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(M, M.T, rtol=0, atol=1e-14)
    X = np.random.RandomState(0).normal(size=(20, 10))
    np.testing.assert_allclose(fitted.transform(X), X @ fitted.components_.T, rtol=1e-10)


def test_partial_fit_in_chunks_continues_the_schedule(fixed_data):
    """The global step t continues across calls: chunks give the one-call network exactly."""
    X = fixed_data[:300]
    whole = HebbianSimilarityMatching(3, random_state=0, device="cpu").partial_fit(X)
    chunks = HebbianSimilarityMatching(3, random_state=0, device="cpu")
    for start in (0, 100, 200):
        chunks.partial_fit(X[start : start + 100])
    assert (chunks.n_steps_, chunks.n_samples_seen_, chunks.n_iter_) == (300, 300, 3)
    for name in ("feedforward_weights_", "lateral_weights_", "objective_history_"):
        np.testing.assert_array_equal(getattr(chunks, name), getattr(whole, name), err_msg=name)


@pytest.mark.parametrize("mode", ["psp", "psw"])
@pytest.mark.parametrize("init", ["random", "sample"])
def test_a_stream_of_single_rows_starts_from_its_first_100_rows(fixed_data, mode, init):
    """The initial scale (and ``init="sample"``'s filters) come from the first 100 rows
    of a stream however they arrive: a stream restarts from the rows seen so far until
    it has 100, so one row per call gives the network of one call on the first 100
    rows and single rows after it, and with ``init="random"`` (filters drawn whatever
    the rows) that of one call on all the rows. Before, the first row alone set the
    scale, and ``"sample"`` made every filter that row."""
    X = fixed_data[:300]
    params = dict(n_components=3, mode=mode, init=init, random_state=0, device="cpu")
    rows, started = single_row_streams(HebbianSimilarityMatching, params, X, 100)
    others = [started] + ([HebbianSimilarityMatching(**params).partial_fit(X)]
                          if init == "random" else [])  # fmt: skip
    for other in others:
        for name in ("components_", "learning_feedforward_weights_", "learning_lateral_weights_"):
            np.testing.assert_allclose(getattr(rows, name), getattr(other, name), rtol=1e-9,
                                       atol=1e-12, err_msg=name)  # fmt: skip
    assert rows.n_iter_ == len(X) and rows.n_steps_ == len(X)


def test_partial_fit_after_fit_continues_from_the_fit_steps(fixed_data):
    X = fixed_data[:200]
    est = HebbianSimilarityMatching(3, max_iter=1, random_state=0, device="cpu").fit(X)
    seen = []
    est.set_params(learning_rate=lambda t: seen.append(t) or eta_psp(t))
    est.partial_fit(X[:5])
    assert seen == [201, 202, 203, 204, 205]


def eta_auto(t):
    """The documented "auto" schedule (PSP, tau=1/2)."""
    return max(1.0 / (2 * t + 5), 0.04 * (300 / (t + 300)) ** 0.8)


@pytest.mark.parametrize(
    "Estimator, change",
    [(HebbianSimilarityMatching, {"n_components": 2}), (HebbianSimilarityMatching, {"mode": "psw"}),
     (FoldiakNetwork, {"n_components": 2})],
)  # fmt: skip
def test_partial_fit_refuses_a_changed_structure_and_keeps_the_model(Estimator, change, fixed_data):
    """A fitted network cannot grow neurons or change the meaning of its synapses (PSW's
    ``W`` has the units of ``x``, PSP's of ``x^2``): before, the call continued the old
    network silently (three components with ``n_components=2``, or PSP's state as PSW's)."""
    est = Estimator(3, random_state=0, device="cpu").fit(fixed_data[:500])
    before = snapshot(est)
    ((name, value),) = change.items()
    with pytest.raises(ValueError, match=rf"{name}={value!r} \(fitted with"):
        est.set_params(**change).partial_fit(fixed_data[500:600])
    assert_same_state(est.set_params(**{name: before[name]}), before)
    est.set_params(**change).fit(
        fixed_data[:500]
    )  # fit starts a new network with the new structure
    assert est.components_.shape[0] == est.n_components


def test_auto_rate_is_the_documented_schedule(fixed_data):
    X = fixed_data[:200]
    auto = HebbianSimilarityMatching(3, random_state=0, device="cpu").partial_fit(X)
    given = HebbianSimilarityMatching(
        3, learning_rate=eta_auto, average=True, random_state=0, device="cpu"
    )
    np.testing.assert_array_equal(given.partial_fit(X).components_, auto.components_)


def test_full_batch_fit_equals_partial_fit(fixed_data):
    """batch_size=None: one step on all rows, in fit (shuffled) and partial_fit (in order)."""
    params = dict(n_components=3, batch_size=None, random_state=0, device="cpu")
    fit = HebbianSimilarityMatching(max_iter=1, **params).fit(fixed_data)
    partial = HebbianSimilarityMatching(**params).partial_fit(fixed_data)
    assert fit.n_steps_ == partial.n_steps_ == 1
    np.testing.assert_allclose(fit.components_, partial.components_, rtol=1e-12)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"tau": 0.1, "learning_rate": 0.2}, "learning_rate / tau < 1"),
        ({"learning_rate": lambda t: 0.01 if t < 550 else 0.6}, "below 0.5.*step t=550"),
        ({"learning_rate": lambda t: -1.0}, "positive finite"),
        ({"learning_rate": lambda t: float("nan")}, "positive finite"),
    ],
    ids=["constant", "callable-mid-stream", "negative", "nan"],
)
def test_unsafe_learning_rates_are_rejected_and_model_untouched(fitted, fixed_data, params, match):
    est = pickle.loads(pickle.dumps(fitted))
    before = snapshot(est)
    est.set_params(**params)
    with pytest.raises(ValueError, match=match):
        est.partial_fit(fixed_data[:100])
    assert_same_state(est.set_params(learning_rate="auto", tau="auto"), before)


def test_auto_rate_respects_the_psp_rule_for_small_tau(fixed_data):
    est = HebbianSimilarityMatching(3, tau=0.1, random_state=0, device="cpu")
    assert np.isfinite(est.partial_fit(fixed_data[:100]).components_).all()


def test_dynamics_inference_equals_solve(fitted, fixed_data):
    dynamics = clone(fitted).set_params(inference="dynamics")
    dynamics.__dict__.update({k: v for k, v in vars(fitted).items() if k.endswith("_")})
    np.testing.assert_allclose(
        dynamics.transform(fixed_data), fitted.transform(fixed_data), rtol=1e-8, atol=1e-10
    )
    trained = clone(dynamics).fit(fixed_data[:500])
    np.testing.assert_allclose(trained.components_, fitted.components_, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("Estimator", [HebbianSimilarityMatching, FoldiakNetwork])
def test_dtype_is_preserved(Estimator, dtype, fixed_data):
    X = fixed_data[:200].astype(dtype)
    est = Estimator(3, max_iter=1, random_state=0, device="cpu").fit(X)
    assert est.components_.dtype == dtype and est.transform(X).dtype == dtype


@pytest.mark.parametrize("init", ["random", "sample"])
def test_init_options(init, fixed_data):
    est = HebbianSimilarityMatching(3, init=init, max_iter=1, random_state=0, device="cpu")
    assert est.fit(fixed_data[:50]).components_.shape == (3, 10)


def test_init_array_is_used_and_checked(fixed_data):
    W0 = np.eye(10)[:3] * 2.0
    est = HebbianSimilarityMatching(3, init=W0, learning_rate=1e-12, device="cpu")
    np.testing.assert_allclose(est.partial_fit(fixed_data[:1]).feedforward_weights_, W0, atol=1e-9)
    with pytest.raises(ValueError, match="init has shape"):
        clone(est).set_params(n_components=2).fit(fixed_data)


def test_more_components_than_features_is_an_error(fixed_data):
    with pytest.raises(ValueError, match="n_components = 11 must be at most n_features = 10"):
        HebbianSimilarityMatching(11).fit(fixed_data)


def test_verbose_prints_progress(fixed_data, capsys):
    with pytest.warns(ConvergenceWarning):
        HebbianSimilarityMatching(3, max_iter=2, verbose=1, device="cpu").fit(fixed_data[:50])
    assert "pass 2: residuals" in capsys.readouterr().out


def test_random_state_reproducible_and_seed_dependent(fixed_data):
    X = fixed_data[:100]
    a, b, c = (HebbianSimilarityMatching(3, max_iter=1, random_state=s, device="cpu").fit(X)
               for s in (7, 7, 8))  # fmt: skip
    np.testing.assert_array_equal(a.components_, b.components_)
    assert not np.allclose(a.components_, c.components_)


def test_foldiak_network_rules(fixed_data):
    est = FoldiakNetwork(3, max_iter=1, random_state=0, device="cpu").fit(fixed_data)
    W, L = est.feedforward_weights_, est.lateral_weights_
    np.testing.assert_array_equal(np.diag(L), 0.0)
    np.testing.assert_allclose((np.eye(3) + L) @ est.components_, W, rtol=1e-12, atol=1e-12)
    assert subspace_error(est.components_, top_subspace(fixed_data, 3)[0]) < 1e-2


def test_foldiak_divergence_is_reported_with_advice(fixed_data):
    est = FoldiakNetwork(3, learning_rate=0.4, random_state=0, device="cpu")
    with pytest.raises(TrainingDivergedError, match="Oja's rule diverges") as excinfo:
        est.partial_fit(100 * fixed_data)
    if "keeps no fitted state" in str(excinfo.value):  # no step passed a check
        assert not hasattr(est, "feedforward_weights_")
    else:
        assert np.isfinite(est.feedforward_weights_).all()


@pytest.mark.parametrize("Estimator", [HebbianSimilarityMatching, FoldiakNetwork])
def test_fit_on_device_matches_cpu(Estimator, device, fixed_data):
    X = fixed_data[:200]
    cpu = Estimator(3, max_iter=1, random_state=0, device="cpu").fit(X)
    other = Estimator(3, max_iter=1, random_state=0, device=device).fit(X)
    np.testing.assert_allclose(other.components_, cpu.components_, rtol=1e-7, atol=1e-9)


# ---------------------------------------------------- API and bad input


@pytest.mark.parametrize("Estimator", [HebbianSimilarityMatching, FoldiakNetwork])
def test_param_validation(Estimator):
    check_param_validation(Estimator.__name__, Estimator(2, max_iter=1, random_state=0))


@pytest.mark.filterwarnings("ignore:X (does not have valid|has) feature names:UserWarning")
@pytest.mark.parametrize("Estimator", [HebbianSimilarityMatching, FoldiakNetwork])
def test_set_output_pandas(Estimator):
    pytest.importorskip("pandas")
    check_set_output_transform_pandas(Estimator.__name__, Estimator(2, max_iter=1, random_state=0))


@pytest.mark.parametrize(
    "X, error, match",
    [
        (np.array([[1.0, np.nan] + [0.0] * 8]), ValueError, "NaN"),
        (np.array([[1.0, np.inf] + [0.0] * 8]), ValueError, "infinity"),
        (sp.csr_matrix(np.eye(10)), TypeError, "[Ss]parse"),
        (np.ones(10), ValueError, "2D array"),
        (np.empty((0, 10)), ValueError, "0 sample"),
        (np.array([["a"] * 10], dtype=object), ValueError, "convert"),
    ],
    ids=["nan", "inf", "sparse", "1d", "empty", "strings"],
)
@pytest.mark.parametrize("method", ["fit", "partial_fit", "transform"])
def test_bad_input_is_rejected_and_model_untouched(fitted, method, X, error, match):
    est = pickle.loads(pickle.dumps(fitted))
    before = snapshot(est)
    with pytest.raises(error, match=match):
        getattr(est, method)(X)
    assert_same_state(est, before)


@pytest.mark.parametrize("method", ["partial_fit", "transform"])
def test_wrong_number_of_features(fitted, fixed_data, method):
    est = pickle.loads(pickle.dumps(fitted))
    before = snapshot(est)
    with pytest.raises(ValueError, match="features"):
        getattr(est, method)(fixed_data[:, :4])
    assert_same_state(est, before)


@pytest.mark.parametrize(
    "params",
    [
        {"n_components": 0},
        {"mode": "pca"},
        {"tau": 0.0},
        {"tau": "fast"},
        {"tol": -1.0},
        {"average": "yes"},
        {"learning_rate": 0.5},
        {"learning_rate": "fast"},
        {"batch_size": 0},
        {"max_iter": 0},
        {"pd_floor": -1.0},
        {"inference": "euler"},
        {"init": "zeros"},
        {"device": "tpu"},
    ],
    ids=repr,
)
def test_invalid_parameters_are_rejected_and_model_untouched(fitted, fixed_data, params):
    est = pickle.loads(pickle.dumps(fitted)).set_params(**params)
    before = snapshot(est)
    with pytest.raises((ValueError, TypeError)):
        est.fit(fixed_data)
    assert_same_state(est, before)


def test_pickle_round_trip_is_bitwise(fitted, fixed_data):
    loaded = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(loaded.transform(fixed_data), fitted.transform(fixed_data))
    with_schedule = clone(fitted).set_params(learning_rate=eta_psp).fit(fixed_data[:50])
    loaded = pickle.loads(pickle.dumps(with_schedule))
    np.testing.assert_array_equal(loaded.components_, with_schedule.components_)
    loaded.partial_fit(fixed_data[50:60])  # the schedule travels with the model
    assert loaded.n_steps_ == 60


def test_feature_names_out(fitted):
    names = fitted.get_feature_names_out()
    assert list(names) == [f"hebbiansimilaritymatching{i}" for i in range(3)]
