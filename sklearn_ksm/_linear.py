"""Linear similarity matching networks: the scikit-learn API layer.

:class:`HebbianSimilarityMatching` is the principal subspace projection (PSP)
and whitening (PSW) network of Pehlevan, Sengupta & Chklovskii (2018);
:class:`FoldiakNetwork` is the heuristic Hebbian/anti-Hebbian baseline it is
compared with. The math is in :mod:`sklearn_ksm._psp`.
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
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array

from . import _psp
from ._base import NetworkEstimatorMixin
from ._device import to_tensor
from ._solver import Schedule

# The filters A^-1 W are refused when the reciprocal condition number of A
# is below this many roundings of the training dtype (below 2.2e-14 in
# float64, 1.2e-5 in float32): their error in the weakest direction, about
# eps cond(A), would exceed 1%, and whether A is singular at all would depend
# on the processor's rounding.
MIN_RCOND_ROUNDINGS = 100

# Relative residual at which the Euler neural dynamics stop (inference="dynamics"),
# per dtype: well above each dtype's rounding level.
DYNAMICS_RTOL = {torch.float64: 1e-10, torch.float32: 1e-5}


# The "auto" schedule of HebbianSimilarityMatching (benchmarks/linear_grid.py):
# eta_t = max(1 / (2 t + 5), rate * (t0 / (t + t0)) ** power) with
# (rate, t0, power) = SLOW_RATE[mode]. The first term is the paper's
# running-average schedule, which converges fastest
# while t is small; the second decays more slowly (power < 1) so that the
# slowest mode, the rotation between lambda_k and lambda_{k+1}, still converges
# when the eigen-gap is small (1 / t steps move it only as t^-(1 - 1/gap)); the
# running average of the synapses (Polyak-Ruppert, from step AVERAGE_START)
# removes the extra noise of those larger steps. At its s-th step the average
# takes the new synapses with weight AVERAGE_RATE / (s + AVERAGE_RATE), so that
# step s counts as Gamma(s + 1.5) / Gamma(s + 1) ~ sqrt(s): the early, far
# from converged synapses fade out. (Weights ~ s, AVERAGE_RATE = 2, ended the
# benchmark's streams up to 2x above the offline error, against 1.4x.)
# PSP's slow term is (0.04, 300, 0.8), its average starts at step 15: on the
# grid of benchmarks/linear_grid.py, (0.05, 20, 0.6) left 3 of 72 cells above
# a subspace error of 1e-2 at the end of the stream, (0.02, 200, 0.5) with the
# average from step 50 none, but 10 cells reached 1e-2 later than
# online_psp's SM. benchmarks/psp_schedule_sweep.py's simulation of the grid
# (cells above 1e-2 / later than SM, three and ten seeds per cell): 0 / 11 and
# 6 / 11 for that schedule, 0 / 9 and 3 / 7 for this one (the sample PCA of the
# rows so far, an offline reference: 0 / 3 and 3 / 0); the package itself
# (psp_schedule_sweep.py --package): 0 / 10 and 6 / 5 before, 0 / 8 and 3 / 6
# with this schedule, and on the whole grid 64 of 72 cells no later than SM
# (63 once streams started from their first 100 rows: noise of the early
# steps; ten seeds per cell miss alike with and without, doc/benchmarks.rst).
# No schedule tried reached 1e-2 as early as SM in every cell
# (doc/benchmarks.rst). PSW keeps the schedule its grid was measured with.
SLOW_RATE = {"psp": (0.04, 300, 0.8), "psw": (0.05, 20, 0.6)}
AVERAGE_START = {"psp": 15, "psw": 50}
AVERAGE_RATE = 1.5
# Rows of the first training call whose variance along the initial filters sets
# the scale of the initial synapses: a 10%-accurate estimate, and the same
# network whether a stream is passed in one call or in chunks of this size.
INIT_SCALE_ROWS = 100
# The dimensionless time-scale ratio of tau="auto": 1/2, stable for every
# spectrum (PSP: E13; PSW, with the lateral rate scaled by lambda_max(M): E14).
AUTO_TAU = 0.5


def _times_power_of_two(t, n):
    """``t * 2^n``: exact, computed in float64 (no overflow of the factor itself)."""
    half = n // 2
    return (t.to(torch.float64) * math.ldexp(1.0, half) * math.ldexp(1.0, n - half)).to(t.dtype)


def _dynamics_response(X, W, M):
    """The Euler neural dynamics, run to the tolerance of the dtype."""
    return _psp.response_dynamics(X, W, M, rtol=DYNAMICS_RTOL[X.dtype])[0]


class _Rates(NamedTuple):
    """Step sizes at global step ``t``: ``w`` for W, ``m`` for the lateral synapses.

    ``average`` is the weight of the new synapses in their running average
    (1: the average is the current synapses).
    """

    t: int
    w: float
    m: float
    advice: str
    average: float = 1.0

    def divergence_hint(self):
        """For :class:`~sklearn_ksm.TrainingDivergedError` messages."""
        return (
            f"rates at step t={self.t}: feedforward {self.w:g}, lateral {self.m:g}",
            self.advice,
        )


class _StepSchedule(Schedule):
    """Rates as a function of the estimator's global, 1-based step ``t``.

    :func:`~sklearn_ksm._solver.train` passes the step index local to one
    call; ``offset`` (the steps run by earlier calls) makes ``t`` continue
    across ``partial_fit`` calls. It never decays (no plateau monitor is used).
    """

    def __init__(self, rates_at, offset=0):
        super().__init__(base=None)
        self.rates_at = rates_at
        self.offset = offset

    def rates(self, step):
        return self.rates_at(self.offset + step + 1)


class _LinearNetwork(
    NetworkEstimatorMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    """What the linear networks share: schedule, initialisation, filters.

    A subclass sets ``_state_attributes = (W, lateral, ...)`` (the first two
    define the filters) and implements
    ``_auto_learning_rate(t)``, ``_check_rate(eta, t)``, ``_rates(eta, t)``,
    ``_initial_lateral(k)``, ``_response_matrix(lateral)`` (the ``A`` of
    ``y = A^{-1} W x``), ``_step_function(step_offset)``
    and ``_respond(state, X_block)``.
    """

    # --------------------------------------------------------------- fit

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the network from scratch on ``X``.

        Runs up to ``max_iter`` passes over the rows (shuffled each pass), one
        step per ``batch_size`` rows, with the learning rate of the global step
        ``t = 1, 2, ...``. :class:`HebbianSimilarityMatching` stops after the
        first pass that ends at a fixed point of its learning rules (``tol``),
        and warns if none does.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, assumed centred (the network learns the subspace
            of the uncentred second moment ``<x x^T>``).
        y : None
            Ignored.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        return self._fit_network(X)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Continue training on the rows of ``X``, in order, one step per batch.

        The first call initialises the network; later calls (also after
        ``fit``) continue from the current synapses, and the step count ``t``
        of the learning-rate schedule continues too. Until a stream has
        delivered 100 rows (those that set the initial scale, and the rows
        of ``init="sample"``), every call that doubles the rows seen so far
        starts the network again from all of them, so that streaming the
        data in chunks, down to single rows, gives the network of one call
        on all of it (with ``init="sample"``: of one call on the rows of the
        last start, then the same calls).

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
        return self._partial_fit_network(X)

    def transform(self, X):
        """Steady-state network output ``y = M^{-1} W x`` for each row of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        Y : ndarray of shape (n_samples, n_components)
            Responses of the output neurons. A torch tensor on the input's
            device under array API dispatch; a lazy Dask array for a Dask
            array (see :ref:`scale_out`).
        """
        return self._transform_network(X)

    # ----------------------------------------------------- network hooks

    # what partial_fit cannot change on a fitted network (set_params between calls)
    _structural_parameters = ("n_components",)

    def _configure(self, X):
        if self.n_components > X.shape[1]:
            raise ValueError(
                f"n_components = {self.n_components} must be at most n_features = "
                f"{X.shape[1]}: a linear network projects onto a subspace of the inputs."
            )
        self._record_structure()

    def _learning_rate(self, t):
        """``eta_t`` at the global step ``t``, validated."""
        if isinstance(self.learning_rate, str):
            eta = self._auto_learning_rate(t)
        elif callable(self.learning_rate):
            eta = self.learning_rate(t)
        else:
            eta = self.learning_rate
        if isinstance(eta, bool) or not isinstance(eta, Real) or not 0 < eta < math.inf:
            raise ValueError(
                f"learning_rate must give a positive finite step, got {eta!r} at step t={t}."
            )
        self._check_rate(float(eta), t)
        return self._rates(float(eta), t)

    def _fit_schedule(self, n_samples):
        return _StepSchedule(self._learning_rate), None

    def _stream_start_rows(self):
        # the rows that set the initial scale (and the rows of init="sample")
        return INIT_SCALE_ROWS

    def _stream_schedule(self, previous):
        # t continues from the network continued (a start, or a restart, is at t = 1)
        offset = previous["n_steps_"] if previous is not None else 0
        return _StepSchedule(self._learning_rate, offset=offset)

    def _initial_W(self, X, generator):
        """``W`` from ``init`` (float64 numpy), and whether it came from a string option."""
        k, n = self.n_components, X.shape[1]
        if isinstance(self.init, str) and self.init == "sample":
            rows = torch.randint(X.shape[0], (k,), generator=generator).numpy()
            W = np.array(X[rows], dtype=np.float64)
            W /= np.maximum(np.linalg.norm(W, axis=1, keepdims=True), np.finfo(np.float64).tiny)
            return W, True
        if isinstance(self.init, str):
            W = torch.randn((k, n), generator=generator, dtype=torch.float64).numpy()
            return W / math.sqrt(n), True
        W = check_array(self.init, dtype=np.float64, input_name="init")
        if W.shape != (k, n):
            raise ValueError(
                f"init has shape {W.shape}; expected (n_components, n_features) = {(k, n)}."
            )
        return W, False

    def _initial_state(self, X, device, generator):
        """``W`` from ``init``; the lateral synapses from ``_initial_lateral``."""
        W, _ = self._initial_W(X, generator)
        return (
            to_tensor(W.astype(X.dtype), device),
            to_tensor(self._initial_lateral(self.n_components).astype(X.dtype), device),
        )

    def _publish(self, result, previous):
        super()._publish(result, previous)
        W, lateral = (torch.from_numpy(getattr(self, name)) for name in self._state_attributes[:2])
        A = self._response_matrix(lateral)
        rcond = _psp.reciprocal_condition(A)
        limit = MIN_RCOND_ROUNDINGS * torch.finfo(A.dtype).eps
        dtype = str(A.dtype).removeprefix("torch.")
        if not rcond > limit:
            # A finite state can still have singular or ill-conditioned lateral
            # weights (inputs of scale ~1e9 in a few steps): refuse it; the
            # transaction restores the model as it was before this call.
            raise ValueError(
                f"{type(self).__name__}: the lateral weights became singular after "
                f"{self.n_steps_} steps (reciprocal condition number {rcond:.2g}, below "
                f"{limit:.2g} in {dtype}), so the filters M^-1 W are undefined. The "
                "inputs are probably far from unit scale: standardise them (e.g. "
                "StandardScaler) or use a smaller learning_rate."
            )
        self.components_ = _psp.filters(W, A).numpy()

    @property
    def _n_features_out(self):
        """Number of output features, for ``get_feature_names_out``."""
        return self.components_.shape[0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


_COMMON_CONSTRAINTS = {
    "n_components": [Interval(Integral, 1, None, closed="left")],
    "learning_rate": [
        StrOptions({"auto"}),
        Interval(Real, 0, 0.5, closed="neither"),
        callable,
    ],
    "batch_size": [Interval(Integral, 1, None, closed="left"), None],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "init": [StrOptions({"random", "sample"}), "array-like"],
    "device": [str],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}


class HebbianSimilarityMatching(_LinearNetwork):
    """Principal subspace projection or whitening by a Hebbian/anti-Hebbian network.

    The linear similarity matching network of Pehlevan, Sengupta &
    Chklovskii (2018): ``n_components`` output neurons with feedforward
    synapses ``W`` and lateral synapses ``M`` respond to an input ``x`` with
    the steady state of the neural dynamics ``dy/dg = W x - M y``, i.e.
    ``y = M^{-1} W x``. Hebbian learning of ``W`` and anti-Hebbian learning
    of ``M`` (local rules) make the filters ``F = M^{-1} W`` an orthonormal
    basis of the top principal subspace of the inputs (``mode="psp"``), or
    a basis that also whitens the outputs (``mode="psw"``).

    The network is the linear-kernel case of
    :class:`HebbianKernelSimilarityMatching`: both minimise the same
    objective and learn the same subspace.

    The defaults need no tuning and do not depend on the scale of the data:
    the initial synapses are scaled to the data, the PSW lateral rate to the
    lateral synapses (``tau="auto"``), and ``fit`` runs passes until the
    network is at a fixed point on the training data (``tol``), with a
    :class:`~sklearn.exceptions.ConvergenceWarning` otherwise.

    Parameters
    ----------
    n_components : int, default=2
        Number of output neurons ``k`` (at most ``n_features``).
    mode : {"psp", "psw"}, default="psp"
        ``"psp"``: principal subspace projection, ``F F^T = I``, and
        ``<y y^T> = M`` has the top eigenvalues of the input covariance
        ``C``. ``"psw"``: principal subspace whitening, ``F C F^T = I``.
    tau : "auto" or float, default="auto"
        Ratio of the time scales of ``W`` and ``M``: the ``M`` step is
        ``eta / tau``, the ``W`` step ``2 eta``. PSP converges for every
        spectrum when ``tau <= 1/2``; PSW needs
        ``tau < min_{i<j<=k} (lambda_i + lambda_j) / (2 (lambda_i - lambda_j)^2)``,
        which depends on the scale of the data (see the user guide).
        ``"auto"``: ``1/2`` for PSP; for PSW, ``1/2`` in units of
        ``1 / lambda_max(M)`` (the lateral step is ``eta lambda_max(M) / (1/2)``),
        which meets the PSW bound for every spectrum and scale.
    learning_rate : "auto", float or callable, default="auto"
        ``eta_t`` at step ``t = 1, 2, ...`` (steps count over the
        estimator's lifetime, across ``partial_fit`` calls). A float is
        constant (at most 0.5); a callable maps ``t`` to ``eta_t`` (use a
        module-level function to keep the estimator picklable). ``"auto"``:
        ``max(1 / (2 t + 5), 0.04 (300 / (t + 300))^0.8)``, at most
        ``tau / 2`` (PSP), and ``max(1 / (2 t + 5), 0.05 (20 / (t +
        20))^0.6)`` (PSW); the constant ``min(0.05, tau / 2)`` when
        ``batch_size=None``. With ``"auto"`` and PSW, both steps are also
        scaled down together whenever the lateral step would exceed half the
        smallest eigenvalue of ``M``, which keeps ``M`` positive definite.
        PSP requires ``eta_t / tau < 1``, which keeps ``M`` positive definite.
    batch_size : int or None, default=1
        Samples per step (1: the online network). ``None``: every step uses
        all the training rows, which is the offline (full-batch) gradient
        descent-ascent; then each of the ``max_iter`` passes is one step.
    max_iter : int, default=100
        Most passes over the training set in ``fit``.
    tol : float, default=0.02
        ``fit`` stops after the first pass at whose end the synapses are at
        a fixed point of the learning rules on the training data, to within
        ``tol``: the relative residuals ``|<y x^T> - W|_F / |W|_F`` and
        ``|<y y^T> - M|_F / |M|_F`` (PSP) or ``|<y y^T> - I|_F / sqrt(k)``
        (PSW, the whitening error of the outputs) are both at most ``tol``.
        ``0`` runs all ``max_iter`` passes.
    average : "auto" or bool, default="auto"
        Average the synapses over the training steps (Polyak-Ruppert
        averaging) from step 15 (PSP) or 50 (PSW) on, the ``s``-th averaged
        step weighted by
        ``Gamma(s + 1.5) / Gamma(s + 1)`` (about ``sqrt(s)``):
        ``feedforward_weights_`` and ``lateral_weights_`` (hence
        ``components_`` and ``transform``) are then the averages of the
        learning synapses. ``"auto"``: averaging with the ``"auto"`` learning
        rate in minibatch training, none otherwise (an explicit rate gives
        the paper's network exactly).
    inference : {"solve", "dynamics"}, default="solve"
        How the response is computed: ``"solve"``, the closed form
        ``M^{-1} W x`` by a linear solve; ``"dynamics"``, Euler steps of
        the neural dynamics run to a relative residual of 1e-10 (float64) or
        1e-5 (float32).
    pd_floor : float or None, default=None
        A PSW guard for explicit learning rates: after each step, the
        eigenvalues of ``M`` are floored at ``pd_floor``, so that ``M`` stays
        positive definite while the outputs are still small. Choose it below
        the smallest of the top ``k`` eigenvalues of the input covariance.
        ``None`` disables it (the ``"auto"`` rates need none).
    init : {"random", "sample"} or array-like of shape (n_components, n_features), \
default="random"
        Initial filters: random Gaussian directions (``"random"``) or
        randomly chosen training rows (``"sample"``), scaled to the data:
        with ``v`` the mean variance of the first 100 training rows along them,
        ``M`` starts at ``v I`` and ``W`` at ``v`` (PSP) or ``sqrt(v)`` (PSW)
        times the unit directions. An array is the initial ``W`` itself, and
        ``M`` then starts at the identity. PSP, and PSW with ``tau="auto"``,
        train on the inputs divided by the power of two nearest ``sqrt(v)``
        (exact in floating point; their rules are scale-free), so that float32
        inputs of order 1e-18 or 1e18 train as inputs of order one; the fitted
        synapses are in the units of the inputs. Inputs whose ``v`` lies
        outside the range of their dtype are refused (``ValueError``).
    device : str, default="auto"
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or
        ``"cuda:<index>"``.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial ``W`` and the order of the rows in ``fit``
        (through a local ``torch.Generator``).
    verbose : int, default=0
        Print one line per pass over the data (its objective in the training
        units of ``init``; ``objective_history_`` is in those of the inputs).

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The neural filters ``F = M^{-1} W`` (computed by a solve), so that
        ``transform(X) = X F^T``. Orthonormal rows for PSP at convergence.
    feedforward_weights_ : ndarray of shape (n_components, n_features)
        Feedforward synapses ``W`` (their running average when ``average``
        is on).
    lateral_weights_ : ndarray of shape (n_components, n_components)
        Lateral synapses ``M`` (symmetric positive definite; their running
        average when ``average`` is on); the lateral inhibition between
        neurons ``i != j`` is ``-M_ij``.
    learning_feedforward_weights_ : ndarray of shape (n_components, n_features)
        The feedforward synapses the learning rules update (equal to
        ``feedforward_weights_`` without averaging).
    learning_lateral_weights_ : ndarray of shape (n_components, n_components)
        The lateral synapses the learning rules update.
    n_iter_ : int
        Passes over the data run by the last ``fit`` (for ``partial_fit``,
        the number of calls).
    n_steps_ : int
        Steps ``t`` run since initialisation.
    n_samples_seen_ : int
        Samples processed since initialisation (counting repeats).
    objective_history_ : ndarray of shape (n_steps_,)
        The min-max objective ``L(W, M)`` on each step's batch, at the
        pre-update learning synapses. It tends to ``-sum_i lambda_i^2``
        (PSP) or ``-2 sum_i lambda_i`` (PSW) over the top ``k`` eigenvalues
        of ``C``.
    residual_history_ : ndarray of shape (n_iter_, 2)
        After each pass of the last ``fit``: the feedforward and lateral
        residuals compared with ``tol`` (the second is the whitening error
        for PSW). Empty after ``partial_fit`` alone.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during ``fit`` (only when ``X`` has string
        column names).

    See Also
    --------
    FoldiakNetwork : The heuristic Hebbian/anti-Hebbian baseline.
    HebbianKernelSimilarityMatching : The kernel generalisation.
    sklearn.decomposition.IncrementalPCA : Batch-incremental PCA.

    Notes
    -----
    Training solves the synaptic min-max problem (PSP)

    .. math::

        \\min_W \\max_M \\; 2\\,\\mathrm{Tr}(W^\\top W) - \\mathrm{Tr}(M^2)
        - 2\\,\\mathrm{Tr}(M^{-1} W C W^\\top),

    with ``- 2 Tr(M)`` in place of ``- Tr(M^2)`` for PSW, by stochastic
    gradient descent in ``W`` and ascent in ``M`` at the optimal response
    ``y = M^{-1} W x``. The steps are the local rules

    .. math::

        W \\leftarrow W + 2\\eta_t (y x^\\top - W), \\qquad
        M \\leftarrow M + \\frac{\\eta_t}{\\tau} (y y^\\top - M)
        \\quad (\\text{PSW: } y y^\\top - I),

    averaged over each batch. The stable fixed point is
    ``F = O V_k^T`` (PSP) or ``O D_k^{-1/2} V_k^T`` (PSW), with ``V_k`` the
    top ``k`` eigenvectors of ``C``, ``D_k`` their eigenvalues and ``O``
    any rotation: only the subspace is learnt, not the eigenvectors.

    References
    ----------
    .. [1] Pehlevan, C., Sengupta, A. M. & Chklovskii, D. B. "Why do
       similarity matching objectives lead to Hebbian/anti-Hebbian
       networks?" Neural Computation 30(1), 84-124 (2018).
    .. [2] Polyak, B. T. & Juditsky, A. B. "Acceleration of stochastic
       approximation by averaging." SIAM J. Control Optim. 30(4), 838-855
       (1992).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ksm import HebbianSimilarityMatching
    >>> from sklearn_ksm.metrics import subspace_error
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(5000, 5)) * [3.0, 2.0, 1.0, 0.5, 0.2]
    >>> psp = HebbianSimilarityMatching(n_components=2, random_state=0)
    >>> Y = psp.fit_transform(X)
    >>> Y.shape
    (5000, 2)
    >>> bool(subspace_error(psp.components_, np.eye(5)[:2]) < 1e-2)
    True

    Whitening, on inputs of any scale:

    >>> psw = HebbianSimilarityMatching(n_components=2, mode="psw", random_state=0)
    >>> Y = psw.fit_transform(1e3 * X)
    >>> bool(np.linalg.norm(Y.T @ Y / len(Y) - np.eye(2)) / np.sqrt(2) < 0.05)
    True

    The offline algorithm (full-batch gradient descent-ascent):

    >>> offline = HebbianSimilarityMatching(2, batch_size=None, max_iter=500, tol=1e-12,
    ...                                     random_state=0)
    >>> top = np.linalg.eigh(X.T @ X / len(X))[1][:, ::-1][:, :2].T
    >>> bool(subspace_error(offline.fit(X).components_, top) < 1e-10)
    True
    """

    _state_attributes = (
        "feedforward_weights_",
        "lateral_weights_",
        "learning_feedforward_weights_",
        "learning_lateral_weights_",
    )

    # the mode sets the units and the fixed point of the synapses
    _structural_parameters = ("n_components", "mode")

    _DIVERGENCE_ADVICE = (
        "Try the default learning_rate='auto' and tau='auto' (they adapt to the scale of "
        "the data), or a smaller learning_rate or tau; for mode='psw' with an explicit "
        "learning_rate, set a pd_floor."
    )

    _parameter_constraints: dict = {
        **_COMMON_CONSTRAINTS,
        "mode": [StrOptions(set(_psp.MODES))],
        "tau": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "average": [StrOptions({"auto"}), "boolean"],
        "inference": [StrOptions({"solve", "dynamics"})],
        "pd_floor": [Interval(Real, 0, None, closed="neither"), None],
    }

    def __init__(
        self,
        n_components=2,
        *,
        mode="psp",
        tau="auto",
        learning_rate="auto",
        batch_size=1,
        max_iter=100,
        tol=0.02,
        average="auto",
        inference="solve",
        pd_floor=None,
        init="random",
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.mode = mode
        self.tau = tau
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.average = average
        self.inference = inference
        self.pd_floor = pd_floor
        self.init = init
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------ options

    @property
    def _tau(self):
        """``tau`` as a number: dimensionless for PSW with ``tau="auto"`` (see ``_scaled``)."""
        return AUTO_TAU if self.tau == "auto" else self.tau

    @property
    def _scaled(self):
        """PSW with ``tau="auto"``: the lateral rate is scaled by ``lambda_max(M)``."""
        return self.mode == "psw" and self.tau == "auto"

    @property
    def _averaging(self):
        if self.average == "auto":
            return self.learning_rate == "auto" and self.batch_size is not None
        return bool(self.average)

    # ------------------------------------------------------------ schedule

    def _auto_learning_rate(self, t):
        if self.batch_size is None:
            return min(0.05, self._tau / 2)
        rate, t0, power = SLOW_RATE[self.mode]
        eta = max(1.0 / (2 * t + 5), rate * (t0 / (t + t0)) ** power)
        # PSP keeps M positive definite only while eta / tau < 1.
        return eta if self._scaled else min(eta, self._tau / 2)

    def _check_rate(self, eta, t):
        if 2 * eta >= 1:
            raise ValueError(f"learning_rate must be below 0.5, got eta={eta:g} at step t={t}.")
        if self.mode == "psp" and eta / self._tau >= 1:
            raise ValueError(
                f"PSP needs learning_rate / tau < 1 to keep M positive definite; got "
                f"eta={eta:g} and tau={self._tau:g} at step t={t}. Use a smaller "
                f"learning_rate or a larger tau."
            )

    def _rates(self, eta, t):
        average = 1.0
        start = AVERAGE_START[self.mode]
        if self._averaging and t > start:
            average = AVERAGE_RATE / (t - start + AVERAGE_RATE)
        return _Rates(t, 2 * eta, eta / self._tau, self._DIVERGENCE_ADVICE, average)

    # ------------------------------------------------------- initial state

    def _initial_lateral(self, k):
        return np.eye(k)

    def _response_matrix(self, M):
        return M

    def _initial_state(self, X, device, generator):
        """Unit filters from ``init``, with ``W`` and ``M`` scaled to the data (see ``init``).

        The variance ``v`` along the filters sets the scale of ``M`` at the
        fixed point (the top eigenvalues of ``C``), so that every default
        is invariant to the scale of ``X``, and the exponent ``e`` of the
        training units ``2^e``, about ``sqrt(v)`` (see ``_run``).
        """
        W, from_option = self._initial_W(X, generator)
        M = self._initial_lateral(self.n_components)
        units = W / np.maximum(np.linalg.norm(W, axis=1, keepdims=True), np.finfo(float).tiny)
        with np.errstate(over="ignore"):  # float64 for float32 X too
            v = float(np.mean((X[:INIT_SCALE_ROWS] @ units.T) ** 2))
        if self._scale_free:
            self._check_scale(v, X.dtype)
        if not 0 < v < math.inf:
            v = 1.0  # zero (or overflowing) inputs: the old unit scale
        # training runs on x / 2^e, 2^e about sqrt(v) (see _run)
        self._scale_exponent = round(math.log2(v) / 2) if self._scale_free else 0
        if from_option:
            W = units * (v if self.mode == "psp" else math.sqrt(v))
            M = v * M
        W, M = (to_tensor(A.astype(X.dtype), device) for A in (W, M))
        return W, M, W, M

    # ------------------------------------------------------ training units

    @property
    def _scale_free(self):
        """Whether the learning rules commute with a rescaling of the inputs.

        For ``x -> x / c`` PSP's rules map ``(W, M, y)`` to ``(W / c^2, M /
        c^2, y / c)`` and PSW's with ``tau="auto"`` (lateral rate times
        ``lambda_max(M)``) to ``(W / c, M / c^2, y)``, step for step. With an
        explicit ``tau`` PSW's lateral step ``<y y^T> - I`` has no such
        symmetry, and it trains on the inputs as given.
        """
        return self.mode == "psp" or self._scaled

    def _check_scale(self, v, dtype):
        """Refuse inputs whose synapses the fitted attributes could not hold.

        ``M`` (and PSP's ``W``) scale as the variance ``v`` of the inputs;
        a zero ``v`` (all-zero rows) is left to the unit scale.
        """
        finfo = np.finfo(dtype)
        if v == 0 or float(finfo.tiny) <= v <= float(finfo.max):
            return
        raise ValueError(
            f"{type(self).__name__} cannot represent a network for these inputs in "
            f"{finfo.dtype}: their variance along random directions is {v:.3g}, and the "
            f"synapses scale with it, outside the range [{finfo.tiny:.3g}, {finfo.max:.3g}] "
            f"of {finfo.dtype}. Rescale the inputs (e.g. StandardScaler)"
            + (" or pass them as float64." if finfo.dtype == np.float32 else ".")
        )

    def _exponent(self):
        """``e`` of the training units ``2^e`` (0 where the rules are not scale-free,
        e.g. after ``set_params(tau=...)`` between ``partial_fit`` calls)."""
        return getattr(self, "_scale_exponent", 0) if self._scale_free else 0

    def _unit_powers(self):
        """Powers of the input scale in ``(W, M, W, M)`` and in the objective."""
        a = 2 if self.mode == "psp" else 1
        return (a, 2, a, 2), 2 * a

    def _in_units(self, state, sign):
        """The synapses divided (``sign=-1``) or multiplied (``+1``) by their scale.

        The scale is a power of two, so both ways are exact in floating point
        (no rounding), as long as nothing overflows.
        """
        exponent = sign * self._exponent()
        powers, _ = self._unit_powers()
        if exponent == 0:
            return state
        return tuple(
            _times_power_of_two(t, p * exponent) for t, p in zip(state, powers, strict=True)
        )

    # ---------------------------------------------------------- training

    def _filters(self, W, M):
        return _psp.filters(W, M)

    def _step_function(self, step_offset=0):
        mode, pd_floor, averaging = self.mode, self.pd_floor, self._averaging
        if pd_floor is not None:  # an eigenvalue of M, in the training units of _run
            pd_floor = math.ldexp(pd_floor, -2 * self._exponent())
        respond = None if self.inference == "solve" else _dynamics_response
        scaled, pd_safe = self._scaled, self.mode == "psw" and self.learning_rate == "auto"

        def step(state, X_batch, rates, t=None):
            averages, learning = state[:2], state[2:]
            learning, objective = _psp.network_step(
                learning, X_batch, w_rate=rates.w, m_rate=rates.m, mode=mode,
                pd_floor=pd_floor, respond=respond, scaled=scaled, pd_safe=pd_safe,
            )  # fmt: skip
            if averaging and rates.average < 1:
                averages = _psp.running_average(averages, learning, rates.average)
            else:
                averages = learning
            return (*averages, *learning), objective

        return step

    def _run(self, X, state, device, *, previous, schedule, generator, max_epochs, monitor):
        """``fit`` (rows shuffled): one pass at a time, until the residuals are below ``tol``.

        ``partial_fit`` (rows in order, no generator) runs its single pass as is.

        The network trains on ``x / 2^e`` (``_scale_exponent``, set with the
        initial state) where its rules are scale-free, with its synapses in
        the matching units: where float32 would overflow or underflow in
        ``|W|^2`` (PSP: inputs of order 1e10 or 1e-10), it works at order one.
        The fitted attributes are in the units of ``X`` (see ``_publish``).
        """
        exponent = self._exponent()
        if exponent:
            X = X * np.asarray(math.ldexp(1.0, -exponent), dtype=X.dtype)
        state = self._in_units(state, -1)
        if generator is None:
            return super()._run(
                X, state, device, previous=previous, schedule=schedule, generator=None,
                max_epochs=max_epochs, monitor=monitor,
            )  # fmt: skip
        X_tensor, residuals = to_tensor(X, device), []
        for epoch in range(max_epochs):
            result = super()._run(
                X, state, device, previous=previous, max_epochs=1, generator=generator,
                schedule=schedule if epoch == 0 else self._stream_schedule(previous),
                monitor=None,
            )  # fmt: skip
            previous = self._counters()
            state = self._in_units(self._fitted_state(device, X.dtype), -1)
            residual = _psp.stationarity(X_tensor, state[0], state[1], self.mode)
            residuals.append([float(r) for r in residual])
            if self.verbose:
                print(
                    f"[{type(self).__name__}] pass {epoch + 1}: residuals "
                    f"{residuals[-1][0]:.3g} (feedforward), {residuals[-1][1]:.3g} "
                    f"({'whitening' if self.mode == 'psw' else 'lateral'}), tol {self.tol:g}"
                )
            if max(residuals[-1]) <= self.tol:
                break
        self.n_iter_ = epoch + 1
        self.residual_history_ = np.array(residuals)
        if max(residuals[-1]) > self.tol:
            self._warn_unconverged()
        return result

    def _warn_unconverged(self):
        feedforward, lateral = self.residual_history_[-1]
        what = (
            f"the whitening error of its outputs on the training data, "
            f"|<y y^T> - I|_F / sqrt(k), is {lateral:.3g}"
            if self.mode == "psw"
            else f"|<y y^T> - M|_F / |M|_F is {lateral:.3g}"
        )
        warnings.warn(
            f"{type(self).__name__} did not converge in max_iter={self.max_iter} passes: "
            f"{what}, and |<y x^T> - W|_F / |W|_F is {feedforward:.3g} (tol={self.tol:g}). "
            "Increase max_iter, or give more training rows.",
            ConvergenceWarning,
            stacklevel=4,
        )

    def _publish(self, result, previous):
        # from the training units of _run to those of the inputs
        _, objective_power = self._unit_powers()
        exponent = objective_power * self._exponent()
        with np.errstate(over="ignore"):  # PSP's objective scales as |x|^4: inf beyond 1e77
            objective = np.ldexp(result.objective, exponent)
        result = result._replace(state=self._in_units(result.state, +1), objective=objective)
        super()._publish(result, previous)
        if previous is None:
            self.residual_history_ = np.zeros((0, 2))

    def _respond(self, state, X_block):
        respond = _psp.response_solve if self.inference == "solve" else _dynamics_response
        return respond(X_block, *state[:2])


class FoldiakNetwork(_LinearNetwork):
    """Heuristic Hebbian/anti-Hebbian subspace network (Foldiak type), as a baseline.

    The classical network with postulated rather than derived learning
    rules: the response is ``y = (I + L)^{-1} W x``, the steady state of
    ``dy/dg = W x - L y - y``; the feedforward synapses follow Oja's
    subspace rule and the lateral ones a purely anti-Hebbian rule with no
    decay and no self-connections. Kept as the baseline against which
    :class:`HebbianSimilarityMatching` is compared (Pehlevan et al., 2018):
    it learns the principal subspace too, but more slowly.

    Parameters
    ----------
    n_components : int, default=2
        Number of output neurons (at most ``n_features``).
    learning_rate : "auto", float or callable, default="auto"
        ``eta_t`` at step ``t = 1, 2, ...`` (over the estimator's lifetime).
        ``"auto"``: ``1 / (t + 100)``, or the constant 0.01 when
        ``batch_size=None``. Oja's rule diverges when ``eta |x|^2`` is large:
        scale the inputs (or the rate) so that ``eta_1 <x^T x>`` is below 1.
    batch_size : int or None, default=1
        Samples per step; ``None``: all training rows in each step.
    max_iter : int, default=10
        Passes over the training set in ``fit``.
    init : {"random", "sample"} or array-like of shape (n_components, n_features), \
default="random"
        Initial ``W``, as for :class:`HebbianSimilarityMatching`; ``L``
        starts at zero.
    device : str, default="auto"
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:<index>"``.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial ``W`` and the order of the rows in ``fit``.
    verbose : int, default=0
        Print one line per pass over the data.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The filters ``(I + L)^{-1} W`` (computed by a solve).
    feedforward_weights_ : ndarray of shape (n_components, n_features)
        Feedforward synapses ``W``.
    lateral_weights_ : ndarray of shape (n_components, n_components)
        Lateral synapses ``L`` (zero diagonal); the inhibition is ``-L``.
    n_iter_ : int
        Passes over the data run by the last ``fit``.
    n_steps_ : int
        Steps run since initialisation.
    n_samples_seen_ : int
        Samples processed since initialisation.
    objective_history_ : ndarray of shape (n_steps_,)
        The reconstruction error ``<|x - W^T y|^2>`` of each step's batch,
        a progress monitor (the rules minimise no objective).
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during ``fit`` (only when ``X`` has string
        column names).

    See Also
    --------
    HebbianSimilarityMatching : The network derived from similarity matching.

    Notes
    -----
    The rules are

    .. math::

        W \\leftarrow W + \\eta_t\\,(y x^\\top - \\mathrm{diag}(y \\odot y)\\, W),
        \\qquad L \\leftarrow L + \\eta_t\\, y y^\\top,\\; L_{ii} = 0,

    averaged over each batch.

    References
    ----------
    .. [1] Foldiak, P. "Adaptive network for optimal linear feature
       extraction." IJCNN (1989).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ksm import FoldiakNetwork
    >>> from sklearn_ksm.metrics import subspace_error
    >>> X = np.random.RandomState(0).normal(size=(5000, 5)) * [3.0, 2.0, 1.0, 0.5, 0.2]
    >>> net = FoldiakNetwork(n_components=2, learning_rate=1e-3, max_iter=2, random_state=0)
    >>> bool(subspace_error(net.fit(X).components_, np.eye(5)[:2]) < 1e-2)
    True
    """

    _state_attributes = ("feedforward_weights_", "lateral_weights_")

    _DIVERGENCE_ADVICE = (
        "Oja's rule diverges when learning_rate * |x|^2 is large: use a smaller "
        "learning_rate or scale the inputs down."
    )

    _parameter_constraints: dict = {**_COMMON_CONSTRAINTS}

    def __init__(
        self,
        n_components=2,
        *,
        learning_rate="auto",
        batch_size=1,
        max_iter=10,
        init="random",
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.init = init
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _auto_learning_rate(self, t):
        return 0.01 if self.batch_size is None else 1.0 / (t + 100)

    def _check_rate(self, eta, t):
        if 2 * eta >= 1:
            raise ValueError(f"learning_rate must be below 0.5, got eta={eta:g} at step t={t}.")

    def _rates(self, eta, t):
        return _Rates(t, eta, eta, self._DIVERGENCE_ADVICE)

    def _initial_lateral(self, k):
        return np.zeros((k, k))

    def _response_matrix(self, L):
        return L + torch.eye(L.shape[0], dtype=L.dtype)

    def _step_function(self, step_offset=0):
        def step(state, X_batch, rates, t=None):
            return _psp.foldiak_step(state, X_batch, rate=rates.w)

        return step

    def _respond(self, state, X_block):
        return _psp.foldiak_response(X_block, *state)
