"""Lateral learning rules: how the lateral weights ``L`` follow the responses.

The training step (:func:`sklearn_ksm._gda.minibatch_step`) writes the
feedforward updates (Eqs. 13-14) once and hands the lateral half to a rule
object. A rule has these methods:

- ``lateral(L, stats, *, X, D, W, q, step) -> (L, stats)``: the lateral
  weights the network responds with at this step (the current ones for a
  learning rule) and its updated running statistics;
- ``update(L, stats, *, Y, D, rates, step) -> (L, stats)``: the lateral
  weights after the response;
- ``learns(step) -> bool``: whether ``W`` and ``q`` learn at this step;
- ``probes(stats) -> tensor or None``: vectors to solve with ``(L + reg I)``
  alongside the minibatch (their responses reach ``update`` as ``P``);
- ``feedforward_rates(stats, rates) -> rates``: the step sizes of ``W`` and
  ``q`` at this step (the schedule's, or slower to keep two time scales);
- ``output(L, stats) -> L``: the lateral weights the network's output uses
  (the learned ones, or their running average);
- ``restart(L, stats) -> stats``: the statistics once a non-local step (the
  end of ``fit``) has set the lateral weights to ``L``.

and ``initial_stats(n_components, n_features, dtype, device)``, the
statistics it keeps (a dict of tensors, empty for local rules), which the
estimator stores as private fitted attributes. :class:`LateralRule` gives
each method its neutral default. To change how the lateral weights learn,
edit or add a rule here and name it in :data:`LATERAL_RULES`.
"""

import math

import torch

from . import _gda


class LateralRule:
    """The neutral rule: no statistics, no probes, the schedule's rates, ``L`` unchanged.

    The rules below override what they change.
    """

    def initial_stats(self, n_components, n_features, dtype, device):
        return {}

    def lateral(self, L, stats, **context):
        return L, stats

    def learns(self, step):
        return True

    def probes(self, stats):
        return None

    def feedforward_rates(self, stats, rates):
        return rates

    def update(self, L, stats, **context):
        return L, stats

    def output(self, L, stats):
        return L

    def restart(self, L, stats):
        return stats


class AntiHebbian(LateralRule):
    """The paper's anti-Hebbian ascent (Eq. 15): ``L += eta_l / 2 (<y y^T> - L)``.

    Local: synapse ``L_ij`` changes by the responses ``y_i``, ``y_j`` of the
    neurons it connects and its own value. Stable only while ``eta_l`` stays
    below about ``2 / kappa``, ``kappa`` the stiffness of the ascent (user
    guide, "Training that converges").
    """

    def update(self, L, stats, *, Y, rates, **context):
        return _gda.anti_hebbian_update(L, Y, rates.lateral), stats


class ConditionedAntiHebbian(AntiHebbian):
    """Eq. 15 with one global step size set by the stiffness of the ascent (the default).

    Every synapse follows the anti-Hebbian rule ``L_ij += eta/2 (y_i y_j -
    L_ij)``; only the step size ``eta``, one scalar shared by all synapses
    (a neuromodulator, in the network's terms), adapts. The ascent in ``L``
    has curvature ``1/2 (1 + l_i/(l_j + reg) + l_j/(l_i + reg))`` along the
    pair of eigen-directions ``(i, j)`` of ``L`` (user guide, "Training that
    converges"), up to about ``kappa = l_max / (l_min + reg)``; a step
    ``eta`` multiplies the error in the stiffest pair by ``1 - eta kappa / 2``.
    The rule takes ``eta = min(cap, 2 STIFFNESS_STEPS / kappa)``: overshooting
    the stiff pairs by a bounded factor (30), which the positive semi-definiteness
    of ``L`` keeps from growing, while the well-conditioned pairs converge at
    the largest rate that allows. ``kappa`` is tracked with one power-iteration
    step on ``L`` and one inverse-iteration step on ``L + reg I`` per
    minibatch (the inverse step's vector is solved with the minibatch's own
    factorisation): no eigendecomposition and no extra factorisation.

    In a stream (``rates.average_output``) the output uses a running average
    of each lateral synapse, ``Lbar_ij += eta / (2 AVERAGE_TIME_SCALE) (L_ij -
    Lbar_ij)`` (bias-corrected for its zero start), a slow copy that follows
    the learned synapse on the time scale of the landmarks: at the constant
    rates of a stream the learned ``L`` fluctuates with every minibatch, and
    ``fit``'s decay and final settling (which remove that noise) have no
    counterpart in a stream. Without an average the output uses ``L``. The
    average restarts when the rates change (``cap``, e.g. annealed with
    ``set_params`` between ``partial_fit`` calls).

    Parameters
    ----------
    cap : float
        The largest step ``eta`` (the undecayed ``rates.lateral``); the
        schedule's decay multiplies both the cap and the stiffness step.
    reg : float
    """

    # eta kappa / 2 = STIFFNESS_STEPS: the stiffest pair's error is multiplied
    # by about -STIFFNESS_STEPS per step (kept bounded by the positive
    # semi-definiteness of L), all others converge at rate eta / 2. Chosen on
    # seed 0 (issue 18 note): MNIST power-cosine alpha = 3, N = 400, kernel
    # error 0.1044 / 0.1012 / 0.0919 / 0.0880 / 0.0942 for 7 / 11 / 20 / 30 /
    # 50; N = 100: 0.1270 / 0.1247 / 0.1243 / 0.1244 for 7 / 11 / 20 / 30; the
    # half moons (N = 8 to 64) do not depend on it (the cap binds there).
    STIFFNESS_STEPS = 30.0
    # The feedforward synapses and the gains learn at least this many times
    # slower than the lateral weights: the paper's two time scales (no
    # convergence "when eta_w / eta_l or eta_q / eta_l are large"). With the
    # stiffness setting a small lateral step, the default rates otherwise
    # collapsed the landmarks (MNIST, linear kernel, N = 400: kernel error
    # 0.20 even with L at its maximiser) and drove gains negative (digits,
    # rbf, N = 64).
    TIME_SCALE = 10.0
    # The output's lateral weights average the learned ones this many times
    # slower than those learn. Half moons (rbf, sigma = 0.3), N = 100, a stream
    # of 8 rows per step for 240,000 samples (benchmarks/online_stream.py's
    # setting): kernel error 0.162 with the learned L, 0.142 / 0.141 / 0.139 /
    # 0.149 with averages 3 / 10 / 30 / 100 times slower, against 0.1387 for a
    # default fit; MNIST sample, rbf, N = 16, 750,000 samples: 0.462 learned,
    # 0.471 / 0.471 / 0.468 (3 / 10 / 30), fit 0.534. 10 is TIME_SCALE: the
    # average lags no more than the landmarks move.
    AVERAGE_TIME_SCALE = 10.0

    def __init__(self, cap, reg):
        self.cap = cap
        self.reg = reg

    def initial_stats(self, n_components, n_features, dtype, device):
        generator = torch.Generator().manual_seed(0)
        start = torch.randn(2, n_components, generator=generator, dtype=torch.float64)
        start = start / torch.linalg.vector_norm(start, dim=1, keepdim=True)
        return {"top_direction": start[0].to(dtype=dtype, device=device),
                "bottom_direction": start[1].to(dtype=dtype, device=device),
                "step_size": torch.tensor(self.cap, dtype=dtype, device=device),
                "lateral_average": torch.zeros(n_components, n_components, dtype=dtype,
                                               device=device),
                "average_weight": torch.zeros((), dtype=dtype, device=device),
                "average_cap": torch.tensor(self.cap, dtype=dtype, device=device)}  # fmt: skip

    def feedforward_rates(self, stats, rates):
        # the feedforward steps of this minibatch follow the last lateral step
        slowest = stats["step_size"] / self.TIME_SCALE
        return rates._replace(w=torch.clamp(slowest, max=rates.w),
                              q=torch.clamp(slowest, max=rates.q))  # fmt: skip

    def probes(self, stats):
        return stats["bottom_direction"][None, :]

    def update(self, L, stats, *, Y, P, rates, **context):
        top, bottom = stats["top_direction"], stats["bottom_direction"]
        Lv = L @ top
        l_max = torch.dot(top, Lv)  # Rayleigh quotient: a lower bound of l_max
        inverse = P[0]  # (L + reg I)^-1 v for the unit vector v = bottom
        a_min = 1.0 / torch.dot(bottom, inverse).clamp(min=torch.finfo(L.dtype).tiny)
        kappa = (l_max / a_min).clamp(min=1.0)
        factor = rates.lateral / self.cap if self.cap > 0 else 0.0
        eta = factor * torch.clamp(2 * self.STIFFNESS_STEPS / kappa, max=self.cap)
        half = 0.5 * eta  # a tensor: no host synchronisation for the step size
        # (1 - half) L + half <y y^T>, blended in place into the fresh product
        L = (Y.mT @ (Y / Y.shape[0])).lerp_(L, 1.0 - half)
        tiny = torch.finfo(L.dtype).tiny
        average, weight, cap = (stats[k] for k in ("lateral_average", "average_weight",
                                                   "average_cap"))  # fmt: skip
        if rates.average_output:
            # the slow copy of every synapse; its weight tracks the zero start.
            # It restarts from nothing when the rates changed (e.g. annealed
            # between partial_fit calls): kept, it would hold the weights of the
            # old regime for ten of the new, slower, learning times.
            keep = (cap == self.cap).to(L.dtype)
            slow = eta / (2 * self.AVERAGE_TIME_SCALE)
            average = torch.lerp(average * keep, L, slow)
            weight = torch.lerp(weight * keep, torch.ones_like(weight), slow)
            cap = torch.full_like(cap, self.cap)
        stats = {"top_direction": Lv / torch.linalg.vector_norm(Lv).clamp(min=tiny),
                 "bottom_direction": inverse / torch.linalg.vector_norm(inverse).clamp(min=tiny),
                 "step_size": eta, "lateral_average": average, "average_weight": weight,
                 "average_cap": cap}  # fmt: skip
        return L, stats

    def output(self, L, stats):
        """The running average ``m / w`` of the learned weights (``L`` before any step)."""
        weight = stats["average_weight"].to(L.dtype)
        average = stats["lateral_average"].to(L.dtype) / weight.clamp(min=torch.finfo(L.dtype).tiny)
        return torch.where(weight > 0, average, L)

    def restart(self, L, stats):
        return {**stats, "lateral_average": L.to(stats["lateral_average"].dtype).clone(),
                "average_weight": torch.ones_like(stats["average_weight"]),
                "average_cap": torch.full_like(stats["average_cap"], self.cap)}  # fmt: skip


class Equilibrium(LateralRule):
    """The exact maximiser of Eq. 9 over ``L`` for running drive moments (non-local).

    The limit of the anti-Hebbian rule with infinitely separated time scales:
    the drive moments ``S = <u u^T>`` are averaged over the last ``window``
    samples (a running mean until the window is full) and ``L`` is set, at
    every step, to the maximiser :func:`~sklearn_ksm._gda.lateral_equilibrium`
    (an ``N x N`` eigendecomposition). For linear kernels with at most
    ``INPUT_MOMENTS_MAX_FEATURES`` features, ``S`` is computed exactly from
    the input moments ``<x x^T>`` at the current landmarks
    (:func:`~sklearn_ksm._gda.linear_drive_moments`), without lag. ``W`` and
    ``q`` wait until the moments hold ``4 N`` samples (or a window, if
    shorter), so that ``S`` has full rank before they move.

    Parameters
    ----------
    n_components : int
    batch_size : int
    window : int
        Samples in the running average of the drive moments.
    reg : float
        The stabiliser ``lambda`` of Eq. 8.
    linear_scale : float or None
        ``c`` of a linear kernel ``f(x, w) = c x^T w`` to average the input
        moments instead; None averages the drives.
    n_features : int
    """

    # Linear kernels average the input moments <x x^T> (M^2 floats, N M^2
    # flops a step) up to this many features, and the drive moments beyond.
    INPUT_MOMENTS_MAX_FEATURES = 1024
    # The input moments are a mean over all samples seen, forgetting no faster
    # than a window of this many samples (or 10 per feature, if more).
    INPUT_MOMENTS_MIN_WINDOW = 10_000

    def __init__(self, n_components, batch_size, window, reg, linear_scale=None, n_features=None):
        self.reg = reg
        self.window_steps = math.ceil(window / batch_size)
        self.moment_rate = min(1.0, batch_size / window)
        self.warmup = min(self.window_steps, math.ceil(4 * n_components / batch_size))
        self.linear_scale = linear_scale
        self.input_rate = None
        if linear_scale is not None:
            inputs_window = max(10 * n_features, self.INPUT_MOMENTS_MIN_WINDOW)
            self.input_rate = min(1.0, batch_size / inputs_window)

    def initial_stats(self, n_components, n_features, dtype, device):
        stats = {"drive_moments": torch.zeros(n_components, n_components, dtype=torch.float64,
                                              device=device)}  # fmt: skip
        if self.linear_scale is not None:
            stats["input_moments"] = torch.zeros(
                n_features, n_features, dtype=torch.float64, device=device
            )
        return stats

    def lateral(self, L, stats, *, X, D, W, q, step):
        # running means (1 / (t + 1)) until the window is full; the input
        # moments stay one for as long as their window allows
        if self.linear_scale is not None:
            rate = max(self.input_rate, 1.0 / (step + 1))
            C = _gda.accumulate_moments(stats["input_moments"], X, rate)
            S = _gda.linear_drive_moments(C, W, q, self.linear_scale)
            stats = {"drive_moments": S, "input_moments": C}
        else:
            rate = (
                self.moment_rate
                if step >= self.window_steps
                else max(self.moment_rate, 1.0 / (step + 1))
            )
            S = _gda.accumulate_moments(stats["drive_moments"], D, rate)
            stats = {"drive_moments": S}
        return _gda.lateral_equilibrium(S, self.reg).to(L.dtype), stats

    def learns(self, step):
        return step >= self.warmup
