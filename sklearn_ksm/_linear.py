"""Linear similarity matching networks: the scikit-learn API layer.

:class:`HebbianSimilarityMatching` is the principal subspace projection (PSP)
and whitening (PSW) network of Pehlevan, Sengupta & Chklovskii (2018);
:class:`FoldiakNetwork` is the heuristic Hebbian/anti-Hebbian baseline it is
compared with. The math is in :mod:`sklearn_ksm._psp`.
"""

import math
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


def _dynamics_response(X, W, M):
    """The Euler neural dynamics, run to the tolerance of the dtype."""
    return _psp.response_dynamics(X, W, M, rtol=DYNAMICS_RTOL[X.dtype])[0]


class _Rates(NamedTuple):
    """Step sizes at global step ``t``: ``w`` for W, ``m`` for the lateral synapses."""

    t: int
    w: float
    m: float
    advice: str

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

    A subclass sets ``_state_attributes = (W, lateral)`` and implements
    ``_auto_learning_rate(t)``, ``_check_rate(eta, t)``, ``_rates(eta, t)``,
    ``_initial_lateral(k)``, ``_response_matrix(lateral)`` (the ``A`` of
    ``y = A^{-1} W x``), ``_step_function(step_offset)``
    and ``_respond(state, X_block)``.
    """

    # --------------------------------------------------------------- fit

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the network from scratch on ``X``.

        Runs ``max_iter`` passes over the rows (shuffled each pass), one step
        per ``batch_size`` rows, with the learning rate of the global step
        ``t = 1, 2, ...``.

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
        of the learning-rate schedule continues too, so that streaming the
        data in chunks gives the same network as one call on all of it.

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

    def _configure(self, X):
        if self.n_components > X.shape[1]:
            raise ValueError(
                f"n_components = {self.n_components} must be at most n_features = "
                f"{X.shape[1]}: a linear network projects onto a subspace of the inputs."
            )

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

    def _stream_schedule(self):
        return _StepSchedule(self._learning_rate, offset=getattr(self, "n_steps_", 0))

    def _initial_state(self, X, device, generator):
        """``W`` from ``init``; the lateral synapses from ``_initial_lateral``."""
        k, n = self.n_components, X.shape[1]
        if isinstance(self.init, str) and self.init == "sample":
            rows = torch.randint(X.shape[0], (k,), generator=generator).numpy()
            W = np.array(X[rows], dtype=np.float64)
            W /= np.maximum(np.linalg.norm(W, axis=1, keepdims=True), np.finfo(np.float64).tiny)
        elif isinstance(self.init, str):
            W = torch.randn((k, n), generator=generator, dtype=torch.float64).numpy() / math.sqrt(n)
        else:
            W = check_array(self.init, dtype=np.float64, input_name="init")
            if W.shape != (k, n):
                raise ValueError(
                    f"init has shape {W.shape}; expected (n_components, n_features) = {(k, n)}."
                )
        return (
            to_tensor(W.astype(X.dtype), device),
            to_tensor(self._initial_lateral(k).astype(X.dtype), device),
        )

    def _publish(self, result, previous):
        super()._publish(result, previous)
        W, lateral = (torch.from_numpy(getattr(self, name)) for name in self._state_attributes)
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

    Parameters
    ----------
    n_components : int, default=2
        Number of output neurons ``k`` (at most ``n_features``).
    mode : {"psp", "psw"}, default="psp"
        ``"psp"``: principal subspace projection, ``F F^T = I``, and
        ``<y y^T> = M`` has the top eigenvalues of the input covariance
        ``C``. ``"psw"``: principal subspace whitening, ``F C F^T = I``.
    tau : float, default=0.5
        Ratio of the time scales of ``W`` and ``M``: the ``M`` step is
        ``eta / tau``, the ``W`` step ``2 eta``. ``tau <= 1/2`` guarantees
        convergence of PSP for every spectrum; PSW needs
        ``tau < min_{i<j<=k} (lambda_i + lambda_j) / (2 (lambda_i - lambda_j)^2)``,
        which depends on the scale of the data (see the user guide).
    learning_rate : "auto", float or callable, default="auto"
        ``eta_t`` at step ``t = 1, 2, ...`` (steps count over the
        estimator's lifetime, across ``partial_fit`` calls). A float is
        constant (at most 0.5); a callable maps ``t`` to ``eta_t`` (use a
        module-level function to keep the estimator picklable). ``"auto"``:
        ``1 / (2 t + t0)`` with ``t0 = max(5, 2 / tau - 2)`` for PSP (W and M
        become running averages of ``y x^T`` and ``y y^T``), ``1 / (t + 100)``
        for PSW; the constant ``min(0.05, tau / 2)`` when ``batch_size=None``.
        PSP requires ``eta_t / tau < 1``, which keeps ``M`` positive definite.
    batch_size : int or None, default=1
        Samples per step (1: the online network). ``None``: every step uses
        all the training rows, which is the offline (full-batch) gradient
        descent-ascent; then each of the ``max_iter`` passes is one step, and
        hundreds are needed (e.g. ``max_iter=500``).
    max_iter : int, default=10
        Passes over the training set in ``fit``.
    inference : {"solve", "dynamics"}, default="solve"
        How the response is computed: ``"solve"``, the closed form
        ``M^{-1} W x`` by a Cholesky solve; ``"dynamics"``, Euler steps of
        the neural dynamics run to a relative residual of 1e-10 (float64) or
        1e-5 (float32).
    pd_floor : float or None, default=None
        The PSW guard: after each step, the eigenvalues of ``M`` are floored
        at ``pd_floor``, so that ``M`` stays positive definite while the
        outputs are still small. Choose it below the smallest of the top
        ``k`` eigenvalues of the input covariance (e.g. 0.05 for
        standardised inputs). ``None`` disables it (PSP never needs it).
    init : {"random", "sample"} or array-like of shape (n_components, n_features), \
default="random"
        Initial ``W``: Gaussian with variance ``1 / n_features``
        (``"random"``), randomly chosen training rows scaled to unit norm
        (``"sample"``), or the given array. ``M`` starts at the identity.
    device : str, default="auto"
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or
        ``"cuda:<index>"``.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial ``W`` and the order of the rows in ``fit``
        (through a local ``torch.Generator``).
    verbose : int, default=0
        Print one line per pass over the data.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The neural filters ``F = M^{-1} W`` (computed by a solve), so that
        ``transform(X) = X F^T``. Orthonormal rows for PSP at convergence.
    feedforward_weights_ : ndarray of shape (n_components, n_features)
        Feedforward synapses ``W``.
    lateral_weights_ : ndarray of shape (n_components, n_components)
        Lateral synapses ``M`` (symmetric positive definite); the lateral
        inhibition between neurons ``i != j`` is ``-M_ij``.
    n_iter_ : int
        Passes over the data run by the last ``fit`` (for ``partial_fit``,
        the number of calls).
    n_steps_ : int
        Steps ``t`` run since initialisation.
    n_samples_seen_ : int
        Samples processed since initialisation (counting repeats).
    objective_history_ : ndarray of shape (n_steps_,)
        The min-max objective ``L(W, M)`` on each step's batch, at the
        pre-update synapses. It tends to ``-sum_i lambda_i^2`` (PSP) or
        ``-2 sum_i lambda_i`` (PSW) over the top ``k`` eigenvalues of ``C``.
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

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ksm import HebbianSimilarityMatching
    >>> from sklearn_ksm.metrics import subspace_error
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(5000, 5)) * [3.0, 2.0, 1.0, 0.5, 0.2]
    >>> psp = HebbianSimilarityMatching(n_components=2, max_iter=1, random_state=0)
    >>> Y = psp.fit_transform(X)
    >>> Y.shape
    (5000, 2)
    >>> bool(subspace_error(psp.components_, np.eye(5)[:2]) < 1e-2)
    True

    The offline algorithm (full-batch gradient descent-ascent):

    >>> offline = HebbianSimilarityMatching(2, batch_size=None, max_iter=500, random_state=0)
    >>> top = np.linalg.eigh(X.T @ X / len(X))[1][:, ::-1][:, :2].T
    >>> bool(subspace_error(offline.fit(X).components_, top) < 1e-10)
    True
    """

    _state_attributes = ("feedforward_weights_", "lateral_weights_")

    _DIVERGENCE_ADVICE = (
        "Try a smaller learning_rate or tau, or inputs scaled so that the top "
        "eigenvalues of their covariance are about 1 (the PSW network's stability "
        "depends on the scale of the data); for mode='psw', set a pd_floor."
    )

    _parameter_constraints: dict = {
        **_COMMON_CONSTRAINTS,
        "mode": [StrOptions(set(_psp.MODES))],
        "tau": [Interval(Real, 0, None, closed="neither")],
        "inference": [StrOptions({"solve", "dynamics"})],
        "pd_floor": [Interval(Real, 0, None, closed="neither"), None],
    }

    def __init__(
        self,
        n_components=2,
        *,
        mode="psp",
        tau=0.5,
        learning_rate="auto",
        batch_size=1,
        max_iter=10,
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
        self.inference = inference
        self.pd_floor = pd_floor
        self.init = init
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _auto_learning_rate(self, t):
        if self.batch_size is None:
            return min(0.05, self.tau / 2)
        if self.mode == "psp":
            return 1.0 / (2 * t + max(5.0, 2 / self.tau - 2))
        return 1.0 / (t + 100)

    def _check_rate(self, eta, t):
        if 2 * eta >= 1:
            raise ValueError(f"learning_rate must be below 0.5, got eta={eta:g} at step t={t}.")
        if self.mode == "psp" and eta / self.tau >= 1:
            raise ValueError(
                f"PSP needs learning_rate / tau < 1 to keep M positive definite; got "
                f"eta={eta:g} and tau={self.tau:g} at step t={t}. Use a smaller "
                f"learning_rate or a larger tau."
            )

    def _rates(self, eta, t):
        return _Rates(t, 2 * eta, eta / self.tau, self._DIVERGENCE_ADVICE)

    def _initial_lateral(self, k):
        return np.eye(k)

    def _response_matrix(self, M):
        return M

    def _step_function(self, step_offset=0):
        mode, pd_floor = self.mode, self.pd_floor
        respond = None if self.inference == "solve" else _dynamics_response

        def step(state, X_batch, rates, t=None):
            return _psp.network_step(
                state, X_batch, w_rate=rates.w, m_rate=rates.m, mode=mode,
                pd_floor=pd_floor, respond=respond,
            )  # fmt: skip

        return step

    def _respond(self, state, X_block):
        respond = _psp.response_solve if self.inference == "solve" else _dynamics_response
        return respond(X_block, *state)


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
