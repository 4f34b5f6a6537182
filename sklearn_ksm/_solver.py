"""The minibatch training loop shared by the estimators.

The loop knows nothing about the network: it takes a ``step(state, X_batch,
rates) -> (state, batch_objective)`` function, feeds it minibatches, applies
the learning-rate schedule, and every ``CHECK_EVERY`` steps (or at the end of
an epoch) does the only host-device synchronisation of the loop: it reads the
objectives of the steps since the last check, checks that they and the state
are finite, and updates the early-stopping monitor.
"""

import math
import time
from typing import NamedTuple

import numpy as np
import torch

# Steps between two checks of divergence and convergence. A check costs one
# device-to-host copy; 100 steps keeps that negligible on GPU while bounding
# how far a diverged run can go past its last finite state.
CHECK_EVERY = 100


class TrainingDivergedError(FloatingPointError, ValueError):
    """Training produced non-finite synapses or objective values.

    The estimator that raised it keeps its last finite state. It is a
    ``ValueError`` too: the usual causes are learning rates or inputs out of
    the range the network can handle (e.g. a polynomial kernel on inputs of
    scale 1e8).

    Parameters
    ----------
    message : str
        The error message.
    step : int
        Index (over the estimator's lifetime, 1-based) of the first step whose
        objective was non-finite.
    result : TrainingResult, default=None
        The training run up to the last finite state checked.

    Attributes
    ----------
    step : int
        Index (over the estimator's lifetime, 1-based) of the first step whose
        objective was non-finite.
    result : TrainingResult or None
        The training run up to the last finite state checked.

    Examples
    --------
    Inputs of scale 1e8 overflow a cubic polynomial kernel; the estimator
    keeps its last finite synapses:

    >>> import numpy as np
    >>> from sklearn_ksm import HebbianKernelSimilarityMatching, TrainingDivergedError
    >>> X = np.random.RandomState(0).normal(size=(200, 3)) * 1e8
    >>> ksm = HebbianKernelSimilarityMatching(4, kernel="poly", degree=3, max_iter=2,
    ...                                       random_state=0)
    >>> try:
    ...     ksm.fit(X)
    ... except TrainingDivergedError as error:
    ...     print(isinstance(error, ValueError), bool(np.isfinite(ksm.components_).all()))
    True True
    """

    def __init__(self, message, step, result=None):
        super().__init__(message)
        self.step = step
        self.result = result


class Schedule:
    """Learning rates of Eq. 10 with a single multiplicative decay.

    The rates are ``base`` until ``decay_step`` steps have run (counted within
    one call of :func:`train`), then ``base * decay``. The decay also happens
    earlier, at a plateau of the objective, when the monitor asks for it.
    """

    def __init__(self, base, decay=1.0, decay_step=None):
        self.base = base
        self.decay = decay
        self.decay_step = decay_step
        self.decayed = False

    def rates(self, step):
        if not self.decayed and self.decay_step is not None and step >= self.decay_step:
            self.decayed = True
        return self.base.scaled(self.decay) if self.decayed else self.base

    @property
    def can_decay(self):
        return not self.decayed and self.decay < 1.0


class PlateauMonitor:
    """Early stopping on a smoothed objective, in scikit-learn's manner.

    The per-step objective is smoothed by an exponentially weighted average
    whose window is about one epoch (as MiniBatchDictionaryLearning does). A
    step *improves* when the smoothed value falls below the best so far by
    more than ``tol * |best|``. After ``patience`` steps without improvement,
    :meth:`update` reports a plateau.
    """

    def __init__(self, tol, patience, alpha):
        self.tol = tol
        self.patience = patience
        self.alpha = alpha
        self.ewa = None
        self.best = math.inf
        self.no_improvement = 0

    def reset(self):
        self.best = math.inf
        self.no_improvement = 0

    def update(self, values):
        """Feed objectives in order; return the index of the plateau or None."""
        for index, value in enumerate(values):
            self.ewa = (
                value if self.ewa is None else ((1 - self.alpha) * self.ewa + self.alpha * value)
            )
            if self.ewa < self.best - self.tol * abs(self.best):
                self.best = self.ewa
                self.no_improvement = 0
            else:
                self.no_improvement += 1
            if self.patience is not None and self.no_improvement >= self.patience:
                return index
        return None


class TrainingResult(NamedTuple):
    state: tuple
    objective: np.ndarray
    n_epochs: int
    n_steps: int
    n_samples: int
    converged: bool
    diagnostic: np.ndarray = np.zeros(0)
    diagnostic_steps: np.ndarray = np.zeros(0, dtype=np.int64)


def _batches(n_samples, batch_size, generator, device):
    # One host-to-device copy of the epoch's order: indexing a CUDA tensor with
    # a CPU index would copy (and synchronise) at every step.
    order = None
    if generator is not None:
        order = torch.randperm(n_samples, generator=generator).to(device, non_blocking=True)
    for start in range(0, n_samples, batch_size):
        stop = min(start + batch_size, n_samples)
        yield order[start:stop] if order is not None else slice(start, stop)


def _is_finite(state):
    return torch.stack([torch.isfinite(t).all() for t in state]).all()


def _divergence_hint(rates):
    """What a divergence message says about the rates: ``(values, advice)``.

    A rates object may supply its own with a ``divergence_hint()`` method; the
    default describes the kernel estimator's ``LearningRates``.
    """
    if hasattr(rates, "divergence_hint"):
        return rates.divergence_hint()
    return (
        f"learning rates w={rates.w:g}, q={rates.q:g}, lateral={rates.lateral:g}",
        "Try smaller learning rates (e.g. learning_rate and learning_rate_gain divided by 10, "
        "keeping learning_rate_lateral about 10 times larger) or a larger reg.",
    )


def train(
    step,
    state,
    X,
    *,
    batch_size,
    max_epochs,
    schedule,
    generator=None,
    monitor=None,
    step_offset=0,
    verbose=0,
    name="",
    diagnose=None,
):
    """Run minibatch steps over ``X`` for up to ``max_epochs`` passes.

    Parameters
    ----------
    step : callable
        ``step(state, X_batch, rates) -> (new_state, objective)``.
    state : tuple of tensors
    X : tensor (n_samples, n_features), on the state's device
    batch_size : int or None
        Rows per step; ``None`` puts all the rows of ``X`` in every step.
    max_epochs : int
    schedule : Schedule
    generator : torch.Generator or None
        Shuffles the rows each epoch; ``None`` takes them in order.
    monitor : PlateauMonitor or None
        A plateau decays the rates if the schedule still can, else stops.
    step_offset : int
        Steps already run by the estimator (for messages only).
    verbose : int
    name : str
        Estimator name used in messages.
    diagnose : callable or None
        ``diagnose(state) -> 0-d tensor``, evaluated at every check (e.g. a
        duality gap); the values and their step numbers are returned.

    Returns
    -------
    TrainingResult

    Raises
    ------
    TrainingDivergedError
        With the run up to the last finite state checked, as ``error.result``.
    """
    n_samples = X.shape[0]
    if batch_size is None:
        batch_size = n_samples
    n_batches = math.ceil(n_samples / batch_size)
    check_every = min(CHECK_EVERY, n_batches)
    pending, history, diagnostics, diagnostic_steps = [], [], [], []
    n_steps = n_samples_seen = epoch = 0
    converged, tic = False, time.perf_counter()
    good = TrainingResult(state, np.zeros(0), 0, 0, 0, False)

    def check():
        nonlocal good, converged
        values = torch.stack(pending).cpu().numpy().astype(np.float64)
        finite = bool(_is_finite(state))
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size or not finite:
            first = n_steps - len(values) + (bad[0] if bad.size else len(values) - 1)
            rates_text, advice = _divergence_hint(rates)
            error = TrainingDivergedError(
                f"{name} training diverged: non-finite values at step "
                f"{step_offset + first + 1} ({rates_text}). The estimator keeps "
                f"its last finite state, from step {step_offset + good.n_steps}. {advice}",
                step=step_offset + first + 1,
                result=good,
            )
            raise error
        history.append(values)
        pending.clear()
        if diagnose is not None:
            diagnostics.append(float(diagnose(state)))
            diagnostic_steps.append(step_offset + n_steps)
        good = TrainingResult(
            state, np.concatenate(history), epoch, n_steps, n_samples_seen, False,
            np.array(diagnostics), np.array(diagnostic_steps, dtype=np.int64),
        )  # fmt: skip
        if monitor is None:
            return False
        plateau = monitor.update(values)
        if plateau is None:
            return False
        if schedule.can_decay:
            schedule.decayed = True
            monitor.reset()
            if verbose:
                print(
                    f"[{name}] plateau at step {step_offset + n_steps}: "
                    f"learning rates x {schedule.decay:g}"
                )
            return False
        converged = True
        return True

    for epoch in range(1, max_epochs + 1):
        for index in _batches(n_samples, batch_size, generator, X.device):
            rates = schedule.rates(n_steps)
            X_batch = X[index]
            state, objective = step(state, X_batch, rates)
            pending.append(objective)
            n_steps += 1
            n_samples_seen += X_batch.shape[0]
            if len(pending) >= check_every and check():
                break
        if pending and not converged:
            check()
        if verbose:
            last = history[-1][-1] if history else float("nan")
            gap = f", duality gap {diagnostics[-1]:.3g}" if diagnostics else ""
            decayed = f", rates x {schedule.decay:g}" if schedule.decayed else ""
            print(
                f"[{name}] epoch {epoch}/{max_epochs}: step {step_offset + n_steps}, "
                f"objective {last:.6g}{gap}{decayed}, {time.perf_counter() - tic:.2f} s"
            )
        if converged:
            break
    return good._replace(converged=converged)
