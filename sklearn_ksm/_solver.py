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
# verbose=1 prints at most one progress line this often (seconds).
PROGRESS_SECONDS = 2.0
# Steps averaged for the objective a progress line reports.
EWA_WINDOW = 100


class TrainingDivergedError(FloatingPointError, ValueError):
    """Training diverged: non-finite values, or a state that failed a sanity check.

    The estimator that raised it keeps its last state that passed the
    checks, or, when none did, is left as it was before the call (unfitted,
    or at its previous fit); the message says which. It is a ``ValueError``
    too: the usual causes are learning rates or inputs out of the range the
    network can handle (e.g. a polynomial kernel on inputs of scale 1e8).

    Parameters
    ----------
    message : str
        The error message.
    step : int
        Index (over the estimator's lifetime, 1-based) of the first step whose
        objective was non-finite.
    result : TrainingResult, default=None
        The training run up to the last finite state checked.
    reason : str, default="non-finite"
        What was detected: ``"non-finite"`` values, or the name of a sanity
        check of the estimator (e.g. ``"landmarks blew up"``).

    Attributes
    ----------
    step : int
        Index (over the estimator's lifetime, 1-based) of the first step whose
        objective was non-finite.
    result : TrainingResult or None
        The training run up to the last sane state checked.
    reason : str
        What was detected.

    Examples
    --------
    Inputs of scale 1e8 give a cubic polynomial kernel values of order
    1e49; training diverges within the first steps, the message blames the
    input scale, and the estimator stays unfitted:

    >>> import numpy as np
    >>> from sklearn_ksm import HebbianKernelSimilarityMatching, TrainingDivergedError
    >>> X = np.random.RandomState(0).normal(size=(200, 3)) * 1e8
    >>> ksm = HebbianKernelSimilarityMatching(4, kernel="poly", degree=3, max_iter=2,
    ...                                       random_state=0)
    >>> try:
    ...     ksm.fit(X)
    ... except TrainingDivergedError as error:
    ...     print(isinstance(error, ValueError), "input scale" in str(error))
    True True
    >>> hasattr(ksm, "components_")
    False
    """

    def __init__(self, message, step, result=None, reason="non-finite"):
        super().__init__(message)
        self.step = step
        self.result = result
        self.reason = reason


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


def objective_drift(objective, window):
    """Relative change of the mean objective between the last two windows of steps.

    ``(change, noise)``: ``|mean(last) - mean(before)| / |mean(last)|`` and
    the standard error of that difference from the minibatch noise of each
    window, on the same scale; ``(nan, nan)`` with fewer than two windows.
    """
    objective = np.asarray(objective, dtype=np.float64)
    if window < 1 or len(objective) < 2 * window:
        return math.nan, math.nan
    last, before = objective[-window:], objective[-2 * window : -window]
    scale = max(abs(last.mean()), np.finfo(np.float64).tiny)
    change = abs(last.mean() - before.mean()) / scale
    noise = math.sqrt((last.var() + before.var()) / window) / scale
    return change, noise


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


def tensors_of(state):
    """The tensors in a (nested) tuple or dict, e.g. a training state."""
    if isinstance(state, torch.Tensor):
        return [state]
    if isinstance(state, dict):
        state = tuple(state.values())
    if isinstance(state, tuple | list):
        return [t for item in state for t in tensors_of(item)]
    return []


def _is_finite(state):
    return torch.stack([torch.isfinite(t).all() for t in tensors_of(state)]).all()


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


def _format_seconds(seconds):
    if not math.isfinite(seconds):
        return "?"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min {seconds % 60:02.0f} s"
    return f"{seconds // 3600:.0f} h {seconds % 3600 // 60:02.0f} min"


class _Progress:
    """Progress lines for ``verbose``: rate, ETA and how far the objective has come.

    A line at the end of an epoch, at most one every ``PROGRESS_SECONDS``
    (``verbose >= 2``: every epoch), and the last epoch's always; long epochs
    also report at checks, so the first line of a big fit comes within
    seconds, not at the end of its first pass.
    """

    def __init__(self, name, verbose, step_offset, total_steps):
        self.name, self.verbose = name, verbose
        self.step_offset, self.total = step_offset, total_steps
        self.tic = self.last = time.perf_counter()
        self.first = self.previous = None
        self.reported = None

    def report(self, epoch, max_epochs, n_steps, history, diagnostics, decayed, force=False):
        if not self.verbose or n_steps == self.reported:
            return
        now = time.perf_counter()
        if not force and self.verbose < 2 and now - self.last < PROGRESS_SECONDS:
            return
        self.last, self.reported = now, n_steps
        elapsed = now - self.tic
        rate = n_steps / elapsed if elapsed > 0 else math.inf
        eta = (self.total - n_steps) / rate if rate > 0 else math.inf
        recent = np.concatenate(history[-3:])[-EWA_WINDOW:] if history else np.zeros(0)
        objective = float(recent.mean()) if recent.size else math.nan
        if self.first is None:
            self.first = objective
        change = ""
        if self.previous is not None and math.isfinite(objective):
            # how far the objective has come: its change since the last line,
            # relative to its total change since the first line
            total = self.first - objective
            since = self.previous - objective
            change = f" ({since:+.3g} since the last line, {total:+.3g} in all)"
        self.previous = objective
        gap = f", duality gap {diagnostics[-1]:.3g}" if diagnostics else ""
        rates = ", rates decayed" if decayed else ""
        print(
            f"[{self.name}] epoch {epoch}/{max_epochs}, step {self.step_offset + n_steps} "
            f"({100 * n_steps / max(self.total, 1):.0f}%), {rate:.0f} steps/s, "
            f"objective {objective:.6g}{change}{gap}{rates}; "
            f"{_format_seconds(elapsed)} elapsed, ETA {_format_seconds(eta)}",
            flush=True,
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
    inspect=None,
):
    """Run minibatch steps over ``X`` for up to ``max_epochs`` passes.

    Parameters
    ----------
    step : callable
        ``step(state, X_batch, rates, t=t) -> (new_state, objective)``;
        ``t`` counts the steps the estimator has run before this one
        (0-based, over its lifetime): the one step counter.
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
        Steps already run by the estimator.
    verbose : int
    name : str
        Estimator name used in messages.
    diagnose : callable or None
        ``diagnose(state, t, final) -> float or None``, evaluated at every
        check (e.g. a duality gap) and on the final state (``final=True``,
        where it must return a value); None skips that check. The values and
        their step numbers are returned.
    inspect : callable or None
        ``inspect(state) -> str or None``: a sanity check of a finite state
        at every check; a string names what is wrong (e.g. ``"the landmarks
        blew up"``) and stops training as a divergence.

    Returns
    -------
    TrainingResult

    Raises
    ------
    TrainingDivergedError
        With the run up to the last sane state checked, as ``error.result``
        (``error.result.n_steps == 0`` when no check passed).
    """
    n_samples = X.shape[0]
    if batch_size is None:
        batch_size = n_samples
    n_batches = math.ceil(n_samples / batch_size)
    check_every = min(CHECK_EVERY, n_batches)
    pending, history, diagnostics, diagnostic_steps = [], [], [], []
    n_steps = n_samples_seen = epoch = 0
    converged = False
    progress = _Progress(name, verbose, step_offset, max_epochs * n_batches)
    good = TrainingResult(state, np.zeros(0), 0, 0, 0, False)

    def diverged(first, reason):
        rates_text, advice = _divergence_hint(rates)
        detail = f"non-finite values at step {step_offset + first + 1}"
        if reason != "non-finite":
            detail = f"{reason} by step {step_offset + first + 1}"
        return TrainingDivergedError(
            f"{name} training diverged: {detail} ({rates_text}). {advice}",
            step=step_offset + first + 1,
            result=good,
            reason=reason,
        )

    def check():
        nonlocal good, converged
        values = torch.stack(pending).cpu().numpy().astype(np.float64)
        finite = bool(_is_finite(state))
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size or not finite:
            first = n_steps - len(values) + (bad[0] if bad.size else len(values) - 1)
            raise diverged(first, "non-finite")
        reason = inspect(state) if inspect is not None else None
        if reason is not None:
            raise diverged(n_steps - 1, reason)
        history.append(values)
        pending.clear()
        if diagnose is not None:
            value = diagnose(state, step_offset + n_steps, final=False)
            if value is not None:
                diagnostics.append(float(value))
                diagnostic_steps.append(step_offset + n_steps)
        good = TrainingResult(
            state, np.concatenate(history), epoch, n_steps, n_samples_seen, False,
            np.array(diagnostics), np.array(diagnostic_steps, dtype=np.int64),
        )  # fmt: skip
        progress.report(epoch, max_epochs, n_steps, history, diagnostics, schedule.decayed)
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
            state, objective = step(state, X_batch, rates, t=step_offset + n_steps)
            pending.append(objective)
            n_steps += 1
            n_samples_seen += X_batch.shape[0]
            if len(pending) >= check_every and check():
                break
        if pending and not converged:
            check()
        last = converged or epoch == max_epochs
        progress.report(
            epoch, max_epochs, n_steps, history, diagnostics, schedule.decayed, force=last
        )
        if converged:
            break
    if diagnose is not None and (not diagnostic_steps or diagnostic_steps[-1] != good.n_steps
                                 + step_offset) and good.n_steps:  # fmt: skip
        # the diagnostic of the final state, whenever its turn came last (unless
        # the diagnostic declines, e.g. at the end of a short partial_fit call)
        value = diagnose(good.state, step_offset + good.n_steps, final=True)
        if value is not None:
            diagnostics.append(float(value))
            diagnostic_steps.append(step_offset + good.n_steps)
        good = good._replace(
            diagnostic=np.array(diagnostics),
            diagnostic_steps=np.array(diagnostic_steps, dtype=np.int64),
        )
    return good._replace(converged=converged)
