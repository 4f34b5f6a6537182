"""The network math (Eqs. 8-15) against autograd and linear algebra."""

import numpy as np
import pytest
import torch

from sklearn_ksm import _gda, _lateral, _mkl
from sklearn_ksm.kernels import (
    CallableKernel,
    LinearKernel,
    PolynomialKernel,
    PowerCosineKernel,
    RBFKernel,
)

from .conftest import DEVICES


def softplus_kernel(X, W):
    """A non-homogeneous PSD kernel known only through autograd."""
    return (X @ W.T) + torch.exp(-0.5 * torch.cdist(X, W) ** 2)


KERNELS = [
    RBFKernel(0.8),
    LinearKernel(),
    PolynomialKernel(0.5, degree=3, coef0=1.0),
    PowerCosineKernel(3),
    CallableKernel(softplus_kernel),
]


def random_network(n_inputs=3, n_neurons=5, n_batch=7, seed=0):
    gen = torch.Generator().manual_seed(seed)
    rand = lambda *shape: torch.randn(*shape, generator=gen, dtype=torch.float64)  # noqa: E731
    A = rand(n_neurons, n_neurons)
    L = A @ A.T / n_neurons  # symmetric positive semi-definite, as in training
    q = 0.5 + torch.rand(n_neurons, generator=gen, dtype=torch.float64)
    return _gda.NetworkState(rand(n_neurons, n_inputs), q, L), rand(n_batch, n_inputs)


# ------------------------------------------------- oracles (the paper's equations)


def grad_W(kernel, X, W, K, Y, q):
    """Eq. 13: ``de/dw_i = -q_i <y_i df(w_i, x)/dw_i> + 1/2 q_i^2 df(w_i, w_i)/dw_i``."""
    hebbian = kernel.grad_second(X, W, K, Y * (-q / X.shape[0]))
    return hebbian + (0.5 * q * q)[:, None] * kernel.diag_grad(W)


def grad_L(Y, L):
    """Eq. 15: ``de/dL_ij = 1/2 (<y_i y_j> - L_ij)``."""
    return 0.5 * ((Y.T @ Y) / Y.shape[0] - L)


def plain_step(state, X, *, kernel, rates, reg, learn_gains):
    """Eq. 10 written term by term: the reference the training step is tested against."""
    W, q, L = state
    K = kernel(X, W)
    Y = _gda.response_solve(_gda.drive(q, K), L, reg)
    kdiag = kernel.diag(W)
    batch_energy = _gda.energy(Y, K, kdiag, q, L, reg)
    # Hebbian feedforward, rescaled by 1/q^2:  w_i -= eta_w / q_i^2 de/dw_i (with q_i
    # at least a hundredth of the mean gain in the rescaling)
    floor = torch.clamp(q, min=_gda.PRECONDITION_FLOOR * float(q.mean()))
    self_term = (0.5 * q * q)[:, None] * kernel.diag_grad(W)  # 1/2 q_i^2 df(w_i, w_i)/dw_i
    hebbian = grad_W(kernel, X, W, K, Y, q) - self_term
    # (the self term 1/2 q_i^2 df/dw over q_i^2 is 1/2 df/dw: written so, it stays
    # finite for gains that fade to 0)
    W_new = W - rates.w * (hebbian / (floor * floor)[:, None] + 0.5 * kernel.diag_grad(W))
    # gain:  q_i -= eta_q (-<y_i f_i> + q_i f(w_i, w_i)), shrinking at most by half
    step = q - rates.q * _gda.grad_q(Y, K, q, kdiag)
    q_new = torch.maximum(step, _gda.GAIN_SHRINK * q) if learn_gains else q
    # anti-Hebbian lateral (ascent):  L += eta_l/2 (<y y^T> - L)
    L_new = L + rates.lateral * grad_L(Y, L)
    return _gda.NetworkState(W_new, q_new, L_new), batch_energy


def package_step(state, X, *, kernel, rates, reg, learn_gains, rule=None, step=0):
    """The package's training step with the paper's anti-Hebbian rule, on a NetworkState."""
    training = _gda.TrainingState(*state, {})
    new, batch_energy = _gda.minibatch_step(
        training, X, kernel=kernel, rule=rule or _lateral.AntiHebbian(), rates=rates, reg=reg,
        learn_gains=learn_gains, step=step,
    )  # fmt: skip
    return new.network, batch_energy


def energy_of(kernel, W, q, L, X, Y, reg):
    K = kernel(X, W)
    return _gda.energy(Y, K, kernel.diag(W), q, L, reg)


@pytest.mark.parametrize("kernel", KERNELS, ids=repr)
def test_closed_form_updates_equal_autograd_of_energy(kernel):
    """Eqs. 13-15 are the gradients of the batch energy (Eq. 8) at the solved y."""
    (W, q, L), X = random_network()
    reg = 1e-3
    Y = _gda.response_solve(_gda.drive(q, kernel(X, W)), L, reg)
    params = [t.clone().requires_grad_(True) for t in (W, q, L)]
    gW, gq, gL = torch.autograd.grad(energy_of(kernel, *params, X, Y, reg), params)
    K = kernel(X, W)
    tol = dict(rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(grad_W(kernel, X, W, K, Y, q), gW, **tol)
    torch.testing.assert_close(_gda.grad_q(Y, K, q, kernel.diag(W)), gq, **tol)
    torch.testing.assert_close(grad_L(Y, L), gL, **tol)


@pytest.mark.parametrize("kernel", KERNELS, ids=repr)
def test_solved_response_zeroes_energy_gradient(kernel):
    (W, q, L), X = random_network(seed=1)
    Y = _gda.response_solve(_gda.drive(q, kernel(X, W)), L, 1e-3).requires_grad_(True)
    (gY,) = torch.autograd.grad(energy_of(kernel, W, q, L, X, Y, 1e-3), Y)
    assert gY.abs().max() < 1e-10 * max(1.0, Y.abs().max().item())


def test_dynamics_converge_to_closed_form():
    (W, q, L), X = random_network(seed=2)
    L = L + torch.eye(len(L), dtype=L.dtype)  # well conditioned, as after training
    d = _gda.drive(q, RBFKernel(0.8)(X, W))
    Y_dyn, n_iter = _gda.response_dynamics(d, L, 1e-3)
    assert n_iter < _gda.DYNAMICS_MAX_ITER
    torch.testing.assert_close(Y_dyn, _gda.response_solve(d, L, 1e-3), rtol=1e-5, atol=1e-6)


# cholesky_lower factors with the potrf of torch's MKL where torch has one;
# without it, with scipy's LAPACK while torch runs one thread and with torch's
# cholesky_ex otherwise: every response test below runs all three.
FACTOR_PATHS = pytest.mark.parametrize(
    "factor_path", ["mkl", "scipy", "torch"], ids=["mkl", "scipy", "torch"]
)


def use_factor_path(factor_path, monkeypatch):
    if factor_path == "mkl":
        if _mkl._potrf(torch.float64) is None:
            pytest.skip("torch build without MKL")
        return
    monkeypatch.setattr(_gda, "potrf_in_place", lambda A: None)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1 if factor_path == "scipy" else 2)


@FACTOR_PATHS
def test_response_solve_reports_failure_as_nan_not_exception(factor_path, monkeypatch):
    use_factor_path(factor_path, monkeypatch)
    (W, q, L), X = random_network(seed=3)
    bad_L = -torch.eye(len(L), dtype=L.dtype)  # L + reg I is not positive definite
    Y = _gda.response_solve(_gda.drive(q, LinearKernel()(X, W)), bad_L, 1e-3)
    assert torch.isnan(Y).all()


@FACTOR_PATHS
@pytest.mark.parametrize("dtype, rtol", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
def test_response_solve_is_the_dense_solve(factor_path, dtype, rtol, monkeypatch):
    # oracle: numpy's LU solve in float64. L is a Wishart matrix with 60 of
    # 120 degrees of freedom (condition number of L + 1e-3 I below 100), so a
    # float32 solve is good to ~1e3 eps; rtol 1e-4 leaves a margin of 10.
    use_factor_path(factor_path, monkeypatch)
    rng = np.random.RandomState(0)
    Z = rng.normal(size=(60, 120))
    L, D = Z @ Z.T / 120, rng.normal(size=(9, 60))
    expected = np.linalg.solve(L + 1e-3 * np.eye(60), D.T).T
    L_t = torch.tensor(L, dtype=dtype)
    Y = _gda.response_solve(torch.tensor(D, dtype=dtype), L_t, 1e-3)
    np.testing.assert_allclose(Y.double().numpy(), expected, rtol=0,
                               atol=rtol * np.abs(expected).max())  # fmt: skip
    torch.testing.assert_close(L_t, torch.tensor(L, dtype=dtype))  # L itself is untouched


def test_triangular_solves_read_only_the_factors_triangle():
    # cholesky_lower leaves the strictly upper triangle of its factor
    # unspecified (LAPACK's potrf on the CPU); response_solve relies on
    # torch's triangular solves (BLAS trsm) never reading that triangle.
    rng = np.random.RandomState(1)
    Z = torch.tensor(rng.normal(size=(30, 60)))
    C = torch.linalg.cholesky(Z @ Z.T / 60)
    garbage = C + torch.triu(torch.full_like(C, float("nan")), 1)
    D = torch.tensor(rng.normal(size=(4, 30)))
    # as response_solve calls them: from the left, on the transposed rows
    for upper, factor, clean in ((False, garbage, C), (True, garbage.mT, C.mT)):
        torch.testing.assert_close(
            torch.linalg.solve_triangular(factor, D.mT, upper=upper, left=True),
            torch.linalg.solve_triangular(clean, D.mT, upper=upper, left=True),
            rtol=1e-12, atol=1e-12,
        )  # fmt: skip


@pytest.mark.parametrize("learn_gains", [True, False])
def test_step_follows_eq_10_and_keeps_lateral_psd(learn_gains):
    kernel = RBFKernel(0.8)
    state, X = random_network(seed=4)
    rates = _gda.LearningRates(0.05, 0.02, 0.3)
    new, e = package_step(state, X, kernel=kernel, rates=rates, reg=1e-3, learn_gains=learn_gains)
    W, q, L = state
    K = kernel(X, W)
    Y = _gda.response_solve(_gda.drive(q, K), L, 1e-3)
    torch.testing.assert_close(e, _gda.energy(Y, K, kernel.diag(W), q, L, 1e-3))
    expected_W = W - (0.05 / q**2)[:, None] * grad_W(kernel, X, W, K, Y, q)
    torch.testing.assert_close(new.W, expected_W)
    if learn_gains:
        torch.testing.assert_close(new.q, q - 0.02 * _gda.grad_q(Y, K, q, kernel.diag(W)))
    else:
        assert new.q is q
    torch.testing.assert_close(new.L, (1 - 0.15) * L + 0.15 * Y.T @ Y / len(X))
    assert torch.linalg.eigvalsh(new.L).min() > -1e-12
    # The step is functional: the old state is untouched.
    assert not torch.equal(new.W, W)


def _run_engine(step, kernel, dtype, n_steps, seed=0):
    """``n_steps`` of ``step`` from one initial network on one stream of batches."""
    gen = torch.Generator().manual_seed(seed)
    # fewer neurons than inputs and the default rates: a well-posed run, where
    # rounding differences are damped rather than amplified
    n_inputs, n_neurons, n_batch = 10, 8, 16
    X = 0.3 * torch.randn(4 * n_batch, n_inputs, generator=gen, dtype=torch.float64)
    W = torch.randn(n_neurons, n_inputs, generator=gen, dtype=torch.float64)
    state = _gda.NetworkState(W, torch.ones(n_neurons, dtype=torch.float64),
                              torch.eye(n_neurons, dtype=torch.float64))  # fmt: skip
    state = _gda.NetworkState(*(t.to(dtype) for t in state))
    X = X.to(dtype)
    rates = _gda.LearningRates(0.003, 0.003, 0.03)
    energies = []
    for t in range(n_steps):
        batch = X[(t % 4) * n_batch : (t % 4 + 1) * n_batch]
        state, e = step(state, batch, kernel=kernel, rates=rates, reg=1e-3,
                        learn_gains=not kernel.homogeneous)  # fmt: skip
        energies.append(e)
    return state, torch.stack(energies)


@pytest.mark.parametrize("kernel", KERNELS, ids=repr)
@pytest.mark.parametrize(
    "dtype, n_steps, rtol", [(torch.float64, 200, 1e-12), (torch.float32, 1000, 2e-5)]
)
def test_fused_engine_matches_plain_engine(kernel, dtype, n_steps, rtol):
    """The fast step computes the plain step's update, up to rounding (float32: 1,000 steps)."""
    fused, e_fused = _run_engine(package_step, kernel, dtype, n_steps)
    plain, e_plain = _run_engine(plain_step, kernel, dtype, n_steps)
    assert all(torch.isfinite(t).all() for t in fused)
    for a, b in zip(fused, plain, strict=True):
        scale = b.abs().max()
        torch.testing.assert_close(a, b, rtol=0, atol=rtol * scale)
    torch.testing.assert_close(e_fused, e_plain, rtol=0, atol=rtol * e_plain.abs().max())
    # the network moved: the comparison is not between two untouched states
    assert (fused.W - _run_engine(package_step, kernel, dtype, 1)[0].W).abs().max() > 1e-3


def _drive_sample(n_samples=400, scales=(3.0, 1.0, 0.3, 0.1, 0.0, 0.0)):
    """Drives with a known spectrum, two directions never excited."""
    gen = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(
        torch.randn(len(scales), len(scales), generator=gen, dtype=torch.float64)
    )[0]
    U = torch.randn(n_samples, len(scales), generator=gen, dtype=torch.float64)
    return (U * torch.tensor(scales, dtype=torch.float64)) @ basis.T


@pytest.mark.parametrize("reg", [1e-3, 0.1])
def test_lateral_equilibrium_is_fixed_point_of_anti_hebbian_rule(reg):
    U = _drive_sample()
    S = U.T @ U / len(U)
    L = _gda.lateral_equilibrium(S, reg)
    Y = _gda.response_solve(U, L, reg)
    # Eq. 15's fixed point: <y y^T> = L (up to the floor in unexcited directions)
    floor = _gda.LATERAL_FLOOR * torch.linalg.eigvalsh(L).max()
    torch.testing.assert_close(Y.T @ Y / len(U), L, atol=2 * floor.item(), rtol=1e-9)
    # and the maximiser of the L-part of Eq. 9: zero autograd gradient
    gradient = torch.func.grad(lambda lat: _gda.lateral_objective(S, lat, reg))(L)
    assert gradient.abs().max() < 1e-5


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("layout", ["contiguous", "transposed", "empty"])
def test_second_moments_equal_the_float64_product(dtype, layout):
    # the oracle: numpy's float64 product of the same rows; syrk sums the same
    # products in another order, so they agree to float64 rounding (1e-12
    # relative is about 1e4 ulps of the largest entry over 300 terms)
    rows = {"contiguous": 300, "transposed": 300, "empty": 0}[layout]
    D = torch.randn(rows, 40, generator=torch.Generator().manual_seed(0), dtype=dtype)
    if layout == "transposed":
        D = torch.randn(40, rows, generator=torch.Generator().manual_seed(1), dtype=dtype).mT
    S = _gda.second_moments(D)
    assert S.dtype == torch.float64 and S.shape == (40, 40)
    if rows == 0:
        assert not S.any()
        return
    D64 = D.numpy().astype(np.float64)
    expected = D64.T @ D64 / rows
    np.testing.assert_allclose(S.numpy(), expected, rtol=0, atol=1e-12 * np.abs(expected).max())
    assert torch.equal(S, S.mT)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("n_rows", [300, 20])  # N x N moments path; Y Y^T path
def test_kernel_errors_are_those_of_the_solved_responses(n_rows, device):
    """Oracle: ``||K - Y Y^T||_F`` with ``Y`` from numpy's dense solve, all in
    float64. Every lateral matrix is well conditioned (eigenvalues 0.05 to 2
    plus reg), so the moments path's cancellation (errors about 0.3 of
    ``||K||``) leaves about 14 digits: rtol 1e-9. An indefinite ``L`` gives NaN."""
    rng = np.random.RandomState(0)
    X, C = rng.normal(size=(n_rows, 5)), rng.normal(size=(30, 5))
    K = np.exp(-0.1 * ((X[:, None] - X[None]) ** 2).sum(-1))
    D = np.exp(-0.1 * ((X[:, None] - C[None]) ** 2).sum(-1))
    laterals = []
    for low in (0.05, 0.5):
        V = np.linalg.qr(rng.normal(size=(30, 30)))[0]
        laterals.append((V * np.linspace(low, 2, 30)) @ V.T)
    indefinite = -np.eye(30)
    errors = _gda.kernel_errors(
        torch.from_numpy(K).to(device), torch.from_numpy(D).float().to(device),
        [torch.from_numpy(L).to(device) for L in laterals + [indefinite]], 1e-3,
    ).cpu().numpy()  # fmt: skip
    # the drive goes to K's dtype before any solve: D in float32 is D rounded once
    Df = D.astype(np.float32).astype(np.float64)
    expected = [np.linalg.norm(K - Y @ Y.T) for Y in
                (np.linalg.solve(L + 1e-3 * np.eye(30), Df.T).T for L in laterals)]  # fmt: skip
    np.testing.assert_allclose(errors[:2], expected, rtol=1e-9)
    assert np.isnan(errors[2])


def test_lateral_gap_is_positive_away_from_equilibrium_and_zero_at_it():
    U = _drive_sample()
    S = U.T @ U / len(U)
    L = _gda.lateral_equilibrium(S, 1e-3)
    assert abs(_gda.lateral_gap(S, L, 1e-3)) < 1e-9
    eye = torch.eye(len(S), dtype=S.dtype)
    for other in (eye, 2 * L + eye, 0.5 * L):
        assert _gda.lateral_gap(S, other, 1e-3) > 1e-4


@pytest.mark.parametrize("reg", [1e-3, 0.3])
def test_lateral_gap_equals_objective_difference_at_the_rebuilt_maximiser(reg):
    # oracle: the objective evaluated at the maximiser rebuilt from its
    # eigenvectors (lateral_equilibrium), by a Cholesky solve; the gap's
    # closed form from the eigenvalues alone must agree to float64 rounding
    # of terms of order |S| (1e-10 relative leaves 1e5 eps for the eigh and
    # the solves)
    gen = torch.Generator().manual_seed(3)
    U = torch.randn(40, 9, generator=gen, dtype=torch.float64) * torch.linspace(0.01, 2, 9)
    S = U.T @ U / len(U)
    A = torch.randn(9, 9, generator=gen, dtype=torch.float64)
    for L in (torch.zeros(9, 9, dtype=torch.float64), A @ A.T / 9, 0.01 * torch.eye(9)):
        expected = _gda.lateral_objective(S, _gda.lateral_equilibrium(S, reg), reg) - \
            _gda.lateral_objective(S, L, reg)  # fmt: skip
        scale = float(torch.linalg.matrix_norm(S)) / reg + 1.0
        assert float(_gda.lateral_gap(S, L, reg)) == pytest.approx(float(expected),
                                                                   abs=1e-10 * scale)  # fmt: skip


def test_accumulate_moments_is_a_running_average():
    U = _drive_sample()
    S = torch.zeros(U.shape[1], U.shape[1], dtype=torch.float64)
    for t, block in enumerate(U.split(50)):
        S = _gda.accumulate_moments(S, block.float(), 1.0 / (t + 1))
    torch.testing.assert_close(S, U.T @ U / len(U), rtol=1e-6, atol=1e-6)
    assert S.dtype == torch.float64


def test_rate_decay_leaves_the_equilibrium_window_alone():
    # The equilibrium rule's moment window is its own parameter, in samples:
    # decaying the learning rates (issue 9: a decayed window lagged the
    # landmarks, MNIST alpha=1, N=400 at 0.0134 instead of 0.0036) cannot touch it.
    from sklearn_ksm._solver import Schedule

    base = _gda.LearningRates(0.003, 0.002, 0.03)
    decayed = Schedule(base, decay=0.1, decay_step=5).rates(10)
    torch.testing.assert_close(torch.tensor(decayed[:3]), torch.tensor((0.0003, 0.0002, 0.003)))
    assert decayed.average_output is False  # a flag, not a rate: decay leaves it alone
    rule = _lateral.Equilibrium(8, batch_size=64, window=800, reg=1e-3)
    assert rule.moment_rate == pytest.approx(64 / 800)


LINEAR_KERNELS = [LinearKernel(), PolynomialKernel(0.5, degree=1, coef0=0.0), PowerCosineKernel(1)]


@pytest.mark.parametrize("kernel", LINEAR_KERNELS, ids=repr)
def test_linear_drive_moments_are_those_of_the_current_drives(kernel):
    # <u u^T> over a sample, u = q f(W, x), from the sample's <x x^T> alone
    state, _ = random_network(n_inputs=4, n_neurons=6)
    X = torch.randn(50, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    U = _gda.drive(state.q, kernel(X, state.W))
    scale = float(kernel.diag(torch.eye(1, 4, dtype=torch.float64))[0])  # c of c x^T w
    S = _gda.linear_drive_moments(X.T @ X / len(X), state.W, state.q, scale)
    torch.testing.assert_close(S, U.T @ U / len(X))


def test_equilibrium_step_with_input_moments_follows_the_landmarks():
    # With input moments in the state, S and L are those of the landmarks the
    # step starts from, whatever S held before (no running average of drives).
    kernel = LinearKernel()
    (W, q, _), X = random_network(n_inputs=4, n_neurons=6, n_batch=8)
    C = torch.eye(4, dtype=torch.float64)
    stale = torch.full((6, 6), 7.0, dtype=torch.float64)
    rule = _lateral.Equilibrium(6, batch_size=8, window=32, reg=1e-3, linear_scale=1.0,
                                n_features=4)  # fmt: skip
    rule.input_rate = 0.25
    state = _gda.TrainingState(W, q, torch.eye(6, dtype=W.dtype),
                               {"drive_moments": stale, "input_moments": C})  # fmt: skip
    new, _ = _gda.minibatch_step(
        state, X, kernel=kernel, rule=rule, rates=_gda.LearningRates(0.01, 0.0, 0.0),
        reg=1e-3, learn_gains=False, step=100,
    )  # fmt: skip
    C_new, S = new.stats["input_moments"], new.stats["drive_moments"]
    torch.testing.assert_close(C_new, 0.75 * C + 0.25 * X.T @ X / len(X))
    P = q[:, None] * W
    torch.testing.assert_close(S, P @ C_new @ P.T)
    torch.testing.assert_close(new.L, _gda.lateral_equilibrium(S, 1e-3))
    assert not torch.equal(new.W, W)


def test_response_operator_is_the_inverse_where_the_drive_is_resolved():
    state, _ = random_network(n_neurons=5)
    L = state.L + 0.1 * torch.eye(5, dtype=torch.float64)
    expected = torch.linalg.inv(L + 1e-3 * torch.eye(5, dtype=torch.float64))
    torch.testing.assert_close(_gda.response_operator(L, 1e-3), expected)
    bad = L.clone()
    bad[0, 0] = float("nan")
    assert torch.isnan(_gda.response_operator(bad, 1e-3)).all()
    assert torch.isnan(_gda.response_operator(-L, 1e-3)).all()  # L + reg I indefinite


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_response_operator_ignores_drive_below_rounding(dtype):
    # A direction with l = 1e-9 carries drive power l (l + reg)^2 = 1e-15,
    # against 1e3 for l = 10: below float32 rounding (eps^2 = 1.4e-14 of
    # it), so in float32 its computed drive would be rounding error
    # amplified by 1 / reg; in float64 it is resolved.
    gen = torch.Generator().manual_seed(0)
    V = torch.linalg.qr(torch.randn(3, 3, generator=gen, dtype=torch.float64))[0].to(dtype)
    lat = torch.tensor([10.0, 1.0, 1e-9], dtype=dtype)
    G = _gda.response_operator((V * lat) @ V.T, 1e-3)
    assert G.dtype == dtype
    gain_weak = (V[:, 2] @ G @ V[:, 2]).item()
    assert (V[:, 0] @ G @ V[:, 0]).item() == pytest.approx(1 / 10.001, rel=1e-5)
    if dtype == torch.float32:
        assert abs(gain_weak) < 1e-3
    else:
        assert gain_weak == pytest.approx(1 / (1e-9 + 1e-3), rel=1e-6)
