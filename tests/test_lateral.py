"""The lateral learning rules (sklearn_ksm._lateral) against their one-line definitions."""

import math

import pytest
import torch

from sklearn_ksm import _gda, _lateral
from sklearn_ksm.kernels import PowerCosineKernel, RBFKernel

REG = 1e-3


def random_state(n_inputs=3, n_neurons=5, n_batch=7, seed=0):
    gen = torch.Generator().manual_seed(seed)
    rand = lambda *shape: torch.randn(*shape, generator=gen, dtype=torch.float64)  # noqa: E731
    A = rand(n_neurons, n_neurons)
    L = A @ A.T / n_neurons + 0.1 * torch.eye(n_neurons, dtype=torch.float64)
    q = 0.5 + torch.rand(n_neurons, generator=gen, dtype=torch.float64)
    return rand(n_neurons, n_inputs), q, L, rand(n_batch, n_inputs)


def per_synapse_step(kernel, X, W, q, L, eta_w, eta_q, eta_l):
    """The user guide's rules, one synapse at a time, from what each synapse sees.

    - feedforward ``w_i -= eta_w / q_i^2 (-q_i <y_i df(w_i, x)/dw_i>
      + 1/2 q_i^2 df(w_i, w_i)/dw_i)``
    - gain ``q_i -= eta_q (-<y_i f(w_i, x)> + q_i f(w_i, w_i))``
    - lateral ``L_ij += eta_l / 2 (<y_i y_j> - L_ij)``
    """
    n_neurons, n_batch = len(q), len(X)
    K = kernel(X, W)
    A = L + REG * torch.eye(n_neurons, dtype=L.dtype)
    Y = torch.linalg.solve(A, (K * q).T).T  # the network's steady state, Eq. 12
    W_new, q_new, L_new = W.clone(), q.clone(), L.clone()
    for i in range(n_neurons):
        w = W[i].clone().requires_grad_(True)
        f = kernel(X, w[None])[:, 0]  # f(w_i, x) for the batch: neuron i's input
        (df,) = torch.autograd.grad(f, w, grad_outputs=Y[:, i] / n_batch)  # <y_i df/dw_i>
        wd = W[i].clone().requires_grad_(True)
        (dself,) = torch.autograd.grad(kernel(wd[None], wd[None])[0, 0], wd)  # df(w_i, w_i)/dw_i
        W_new[i] = W[i] - eta_w / q[i] ** 2 * (-q[i] * df + 0.5 * q[i] ** 2 * dself)
        own = float(kernel.diag(W[i][None])[0])
        q_new[i] = q[i] - eta_q * (-(Y[:, i] * K[:, i]).mean() + q[i] * own)
        for j in range(n_neurons):
            L_new[i, j] = L[i, j] + eta_l / 2 * ((Y[:, i] * Y[:, j]).mean() - L[i, j])
    return W_new, q_new, L_new


@pytest.mark.parametrize("kernel", [RBFKernel(0.8), PowerCosineKernel(3)], ids=repr)
def test_adaptive_rule_is_the_per_synapse_rule_with_its_global_step(kernel):
    W, q, L, X = random_state()
    learn_gains = not kernel.homogeneous
    cap = 0.2
    rule = _lateral.ConditionedAntiHebbian(cap=cap, reg=REG)
    stats = rule.initial_stats(len(q), W.shape[1], W.dtype, W.device)
    rates = _gda.LearningRates(0.05, 0.02 if learn_gains else 0.0, cap * 0.5)  # decayed by 1/2
    new, _ = _gda.minibatch_step(
        _gda.TrainingState(W, q, L, stats), X, kernel=kernel, rule=rule, rates=rates, reg=REG,
        learn_gains=learn_gains, step=0,
    )  # fmt: skip
    # the one global scalar: eta = decay * min(cap, 2 c / kappa), kappa from one
    # power step on L and one inverse step on L + reg I from the rule's vectors
    top, bottom = stats["top_direction"], stats["bottom_direction"]
    A = L + REG * torch.eye(len(q), dtype=L.dtype)
    kappa = (top @ L @ top) * (bottom @ torch.linalg.solve(A, bottom))
    eta = 0.5 * min(cap, 2 * rule.STIFFNESS_STEPS / max(float(kappa), 1.0))
    # the feedforward steps are at most a tenth of the last lateral step (the
    # initial one is the cap)
    eta_w, eta_q = (min(rate, cap / rule.TIME_SCALE) for rate in (rates.w, rates.q))
    W_ref, q_ref, L_ref = per_synapse_step(kernel, X, W, q, L, eta_w, eta_q, eta)
    torch.testing.assert_close(new.W, W_ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(new.q, q_ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(new.L, L_ref, rtol=1e-10, atol=1e-12)


def test_paper_rule_is_the_per_synapse_rule():
    kernel = RBFKernel(0.5)
    W, q, L, X = random_state(seed=1)
    rates = _gda.LearningRates(0.05, 0.02, 0.3)
    new, _ = _gda.minibatch_step(
        _gda.TrainingState(W, q, L, {}), X, kernel=kernel, rule=_lateral.AntiHebbian(),
        rates=rates, reg=REG, learn_gains=True, step=0,
    )  # fmt: skip
    W_ref, q_ref, L_ref = per_synapse_step(kernel, X, W, q, L, 0.05, 0.02, 0.3)
    for got, expected in zip(new.network, (W_ref, q_ref, L_ref), strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


def test_stiffness_estimate_converges_to_the_condition_number():
    # at fixed L the power and inverse iterations of the rule converge to the
    # extreme eigenvalues: kappa -> l_max / (l_min + reg)
    gen = torch.Generator().manual_seed(0)
    V = torch.linalg.qr(torch.randn(6, 6, generator=gen, dtype=torch.float64))[0]
    lat = torch.tensor([5.0, 1.0, 0.5, 0.1, 0.01, 0.0], dtype=torch.float64)
    L = (V * lat) @ V.T
    rule = _lateral.ConditionedAntiHebbian(cap=0.2, reg=REG)
    stats = rule.initial_stats(6, 1, torch.float64, "cpu")
    A = L + REG * torch.eye(6, dtype=torch.float64)
    for _ in range(60):
        P = torch.linalg.solve(A, stats["bottom_direction"])[None]
        # an all-zero batch and rate keep L fixed; only the estimate moves
        _, stats = rule.update(L, stats, Y=torch.zeros(1, 6, dtype=torch.float64), P=P,
                               rates=_gda.LearningRates(0, 0, 0.0))  # fmt: skip
    top, bottom = stats["top_direction"], stats["bottom_direction"]
    l_max = float(top @ L @ top)
    a_min = 1 / float(bottom @ torch.linalg.solve(A, bottom))
    assert l_max == pytest.approx(5.0, rel=1e-6)
    assert a_min == pytest.approx(REG, rel=1e-6)
    assert math.isclose(l_max / a_min, 5.0 / REG, rel_tol=1e-5)


def test_equilibrium_rule_is_the_maximiser_for_its_moments():
    W, q, L, X = random_state(seed=2)
    rule = _lateral.Equilibrium(5, batch_size=7, window=7, reg=REG)
    stats = rule.initial_stats(5, 3, W.dtype, W.device)
    D = _gda.drive(q, RBFKernel(0.5)(X, W))
    L_new, stats = rule.lateral(L, stats, X=X, D=D, W=W, q=q, step=0)
    torch.testing.assert_close(stats["drive_moments"], D.T @ D / len(X))
    torch.testing.assert_close(L_new, _gda.lateral_equilibrium(D.T @ D / len(X), REG))


def test_adaptive_rule_outputs_the_running_average_of_its_learned_weights():
    # oracle: the weighted mean sum_t a_t L_t / sum_t a_t with
    # a_t = rho_t prod_{s > t} (1 - rho_s), rho_t = eta_t / (2 * 10)
    n = 5
    W, q, L, _ = random_state(n_neurons=n, seed=3)
    rule = _lateral.ConditionedAntiHebbian(cap=0.2, reg=REG)
    stats = rule.initial_stats(n, W.shape[1], L.dtype, "cpu")
    torch.testing.assert_close(rule.output(L, stats), L)  # no step yet: the learned L
    # fit's steps (average_output False) keep no average: the output is the learned L
    Y0 = torch.randn(8, n, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    P0 = torch.linalg.solve(L + REG * torch.eye(n, dtype=L.dtype), stats["bottom_direction"])[None]
    L0, stats0 = rule.update(L, stats, Y=Y0, P=P0, rates=_gda.LearningRates(0, 0, 0.2))
    torch.testing.assert_close(rule.output(L0, stats0), L0)
    gen = torch.Generator().manual_seed(4)
    A = L + REG * torch.eye(n, dtype=L.dtype)
    history, rhos = [], []
    stream = _gda.LearningRates(0, 0, 0.2, average_output=True)
    for _ in range(6):
        Y = torch.randn(8, n, generator=gen, dtype=torch.float64)
        P = torch.linalg.solve(A, stats["bottom_direction"])[None]
        L, stats = rule.update(L, stats, Y=Y, P=P, rates=stream)
        A = L + REG * torch.eye(n, dtype=L.dtype)
        history.append(L)
        rhos.append(float(stats["step_size"]) / (2 * rule.AVERAGE_TIME_SCALE))
    weights = [rho * math.prod(1 - r for r in rhos[t + 1 :]) for t, rho in enumerate(rhos)]
    expected = sum(a * Lt for a, Lt in zip(weights, history, strict=True)) / sum(weights)
    torch.testing.assert_close(rule.output(L, stats), expected, rtol=1e-12, atol=1e-14)
    assert not torch.allclose(rule.output(L, stats), L)  # a real average, not the last L
    # a non-local step that sets L (the end of fit) restarts the average there
    torch.testing.assert_close(rule.output(L, rule.restart(L, stats)), L)
    # new rates (annealed between calls): the average restarts from nothing,
    # so after one step it is that step's L
    annealed = _lateral.ConditionedAntiHebbian(cap=0.02, reg=REG)
    Y = torch.randn(8, n, generator=gen, dtype=torch.float64)
    P = torch.linalg.solve(A, stats["bottom_direction"])[None]
    L1, stats1 = annealed.update(L, stats, Y=Y, P=P, rates=stream._replace(lateral=0.02))
    torch.testing.assert_close(annealed.output(L1, stats1), L1, rtol=1e-12, atol=1e-14)
