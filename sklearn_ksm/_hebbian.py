"""HebbianKernelSimilarityMatching: the scikit-learn API layer."""

import math
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.cluster import kmeans_plusplus
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from . import _gda
from ._base import FLOAT_DTYPES, TRANSFORM_BLOCK, NetworkEstimatorMixin
from ._device import resolve_device, to_tensor
from ._solver import PlateauMonitor, Schedule
from .kernels import KERNEL_NAMES, estimator_kernel
from .metrics import kernel_approximation_error

# Rows of the seeded subsample on which score() computes the kernel error
# (the error needs an O(n^2) kernel matrix, computed in blocks).
SCORE_MAX_SAMPLES = 2000
# The automatic moment window holds 4 N samples, but never fewer than this
# many, nor more for linear kernels.
MOMENT_WINDOW_SAMPLES = 800
# Linear kernels in the equilibrium mode average the input moments <x x^T>
# (n_features^2 floats, n_components n_features^2 flops a step) up to this
# many features, and the drive moments beyond.
INPUT_MOMENTS_MAX_FEATURES = 1024
# The input moments are a mean over all samples seen, forgetting no faster
# than a window of this many samples (or 10 per feature, if more).
INPUT_MOMENTS_MIN_WINDOW = 10_000


def _column_mean_std(X, block=4096):
    """Column means and standard deviations in float64, a block of rows at a time.

    ``X.std(0, dtype=np.float64)`` would make a float64 copy of all of ``X``;
    two passes over blocks keep the extra memory at one block.
    """
    blocks = range(0, X.shape[0], block)
    mean = sum(X[i : i + block].sum(0, dtype=np.float64) for i in blocks) / X.shape[0]
    squares = sum(((X[i : i + block] - mean) ** 2).sum(0) for i in blocks)
    return mean, np.sqrt(squares / X.shape[0])


def _kmeans_plusplus(X, n_components, generator):
    """k-means++ seeding of the landmarks (random rows beyond ``len(X)``)."""
    seed = int(torch.randint(np.iinfo(np.int32).max, (1,), generator=generator))
    n_seeded = min(n_components, X.shape[0])
    W, _ = kmeans_plusplus(np.asarray(X, dtype=np.float64), n_seeded, random_state=seed)
    if n_seeded < n_components:
        rows = torch.randint(X.shape[0], (n_components - n_seeded,), generator=generator)
        W = np.vstack([W, np.asarray(X[rows.numpy()], dtype=np.float64)])
    return W


class HebbianKernelSimilarityMatching(
    NetworkEstimatorMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    """Kernel similarity matching with a Hebbian/anti-Hebbian network.

    Learns an ``n_components``-dimensional representation ``y(x)`` whose inner
    products match a kernel, ``y(x_s) . y(x_t) ~ f(x_s, x_t)``, by online
    stochastic gradient descent-ascent on the correlation-based bound of
    Luther & Seung. The fitted state is a one-layer recurrent network:
    feedforward synapses (landmarks) ``W``, gains ``q`` and lateral
    inhibition ``L``; the output of the network is
    ``y = (L + reg I)^{-1} (q * f(W, x))``.

    Training runs in PyTorch on the CPU or a CUDA device; inputs and outputs
    are numpy arrays and the fitted attributes are numpy arrays, so a fitted
    model pickles and loads on any machine.

    Parameters
    ----------
    n_components : int, default=100
        Number of output neurons ``N`` (dimension of ``y``).
    kernel : {"rbf", "power_cosine", "linear", "poly"} or callable, default="rbf"
        Input similarity ``f``. ``"rbf"``: ``exp(-gamma |u - v|^2)``;
        ``"power_cosine"``: ``|u| |v| cos(u, v)^degree``; ``"linear"``:
        ``u . v``; ``"poly"``: ``(gamma u . v + coef0)^degree``. A callable
        takes two 2-D torch tensors ``(X, W)`` (and ``**kernel_params``) and
        returns their Gram matrix; it must be positive semi-definite and
        differentiable by torch autograd (use a module-level function so the
        estimator pickles).
    gamma : float, default=None
        Scale of rbf and poly; ``None`` means ``1 / n_features``. The paper's
        ``sigma`` is ``gamma = 1 / (2 sigma^2)``.
    degree : int, default=3
        Degree of poly, and the exponent ``alpha`` of power_cosine.
    coef0 : float, default=1
        Constant term of poly (poly is homogeneous when ``coef0 = 0``).
    kernel_params : dict, default=None
        Keyword arguments for a callable kernel.
    reg : float, default=1e-3
        The stabiliser ``lambda`` of Eq. 8: the response solves
        ``(L + reg I) y = q f(W, x)``.
    learning_rate : float, default=0.003
        Step size ``eta_w`` of the feedforward synapses ``W`` (the update is
        rescaled by ``1 / q_i^2``, Eq. 10). The default lies between the
        paper's rates for half moons (0.01) and MNIST (0.001) and does well on
        both.
    learning_rate_gain : float, default=0.01
        Step size ``eta_q`` of the gains (the paper's half-moons rate). Unused
        (gains stay 1) for homogeneous kernels: linear, power_cosine, poly
        with ``coef0=0``.
    learning_rate_lateral : float or "auto", default="auto"
        With ``lateral="hebbian"``: the step size ``eta_l`` of the lateral
        weights, ``L += eta_l / 2 (<y y^T> - L)``; keep it about 10 times
        ``learning_rate`` (the two time-scale rule); at most 2, which keeps
        ``L`` positive semi-definite. ``"auto"``: ``10 * learning_rate``.
        With ``lateral="equilibrium"``: the rate of the running average of
        the drive moments ``<u u^T>`` the lateral weights are computed from;
        ``"auto"``: ``min(1, batch_size / max(4 n_components, 800))``, an
        average over ``4 n_components`` samples (enough for a full-rank
        estimate) or 800 if more, that still follows the landmarks as they
        move; for linear kernels (``linear``, ``power_cosine`` with
        ``degree=1``, ``poly`` with ``degree=1, coef0=0``) over 800 samples
        whatever ``n_components``, since their landmarks drift along exact
        symmetries of the energy. This rate is a window, not a step size:
        ``learning_rate_decay`` leaves it alone. Linear kernels with at most
        1024 features use it only as the warm-up before the landmarks
        move: their drive moments are computed exactly from the input moments
        (``input_moments_``) at the current landmarks.
    lateral : {"equilibrium", "hebbian"}, default="equilibrium"
        How the lateral weights learn. ``"hebbian"``: the paper's
        anti-Hebbian gradient ascent (Eq. 15), which needs a tuned rate and
        diverges at large N. ``"equilibrium"``: the limit of that rule with
        the time scales fully separated: ``L`` is the rule's fixed point
        ``<y y^T>`` for a running average of the drive moments (the
        maximiser of Eq. 9 over ``L``, computed from an eigendecomposition
        every step), and ``fit`` ends with one pass over the data that
        sets ``L`` to its fixed point for the final landmarks. See the user
        guide, "Training that converges".
    learning_rate_decay : float, default=0.1
        Factor applied to the learning rates once (all three, but not the
        moment rate of ``lateral="equilibrium"``), after
        ``decay_start`` of the planned steps of ``fit`` (or earlier, at a
        plateau of the objective). 1 disables the decay.
    decay_start : float, default=0.5
        Fraction of the ``max_iter`` passes of ``fit`` after which the rates
        are decayed. The paper's schedules are ``0.5`` (half moons) and
        ``2/3`` (MNIST) with ``learning_rate_decay=0.1``.
    batch_size : int, default=64
        Samples per gradient step.
    max_iter : int, default=150
        Maximum number of passes over the training set in ``fit``.
    tol : float, default=1e-4
        Relative improvement of the smoothed objective that counts as
        progress for early stopping.
    max_no_improvement : int, default=None
        Stop (or, before the decay, decay the rates) after this many
        consecutive steps without progress of the smoothed objective.
        ``None`` disables early stopping: ``fit`` runs all ``max_iter``
        passes on the fixed schedule.
    init : {"kmeans++", "kmeans", "rpcholesky", "random", "sample"} or \
array-like of shape (n_components, n_features), default="kmeans++"
        Initial landmarks ``W``. ``"kmeans++"``: training rows chosen by
        k-means++ seeding (:func:`sklearn.cluster.kmeans_plusplus`);
        ``"kmeans"``: the centres of scikit-learn's default
        :class:`~sklearn.cluster.KMeans` (k-means++ seeding, then Lloyd's
        iterations); ``"rpcholesky"``: training rows chosen by randomly
        pivoted Cholesky on the kernel
        (:func:`~sklearn_ksm.baselines.randomly_pivoted_cholesky`);
        ``"random"``: Gaussian with the per-feature mean and standard
        deviation of the training data (the paper's); ``"sample"``: randomly
        chosen training rows; an array: used as given. The samplers add
        training rows drawn at random once ``n_components`` exceeds the
        number of rows. Gains start at 1 and lateral weights at the
        identity, as in the paper.
    inference : {"solve", "dynamics"}, default="solve"
        How the network output is computed: ``"solve"``, the closed form of
        Eq. 12 by a Cholesky solve; ``"dynamics"``, the recurrent network
        dynamics of Eq. 11 iterated to a relative tolerance of 1e-6.
    device : str, default="auto"
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or
        ``"cuda:<index>"``. A fitted model used where its CUDA device is
        missing falls back to the CPU with a warning.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial landmarks and the order of the minibatches (through
        a local ``torch.Generator``; no global state is touched).
    verbose : int, default=0
        Print one line per pass over the data: step, objective, duality
        gap, whether the rates have decayed, and the time so far.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        Learned landmarks / feedforward synapses ``W``.
    gains_ : ndarray of shape (n_components,)
        Gains ``q`` (all 1 for homogeneous kernels).
    lateral_weights_ : ndarray of shape (n_components, n_components)
        Lateral inhibitory weights ``L`` (symmetric positive semi-definite).
    kernel_ : Kernel
        The kernel object with its resolved parameters (e.g. ``gamma``).
    n_iter_ : int
        Passes over the data run by the last ``fit`` (for ``partial_fit``,
        the number of calls).
    n_steps_ : int
        Gradient steps run since initialisation.
    n_samples_seen_ : int
        Samples processed since initialisation (counting repeats).
    objective_history_ : ndarray of shape (n_steps_,)
        Minibatch energy (Eq. 8) at every step since initialisation.
    duality_gap_history_ : ndarray of shape (n_checks,)
        Duality gap of the ascent in ``L`` at every check of training (every
        100 steps and at the end of each pass): how much Eq. 9 would rise if
        ``L`` moved to its maximiser for the current landmarks, on the
        running drive moments (:func:`~sklearn_ksm.plotting.plot_convergence`
        draws it with the objective). It should fall towards 0; a gap that
        grows means the lateral weights cannot follow the landmarks.
    gap_steps_ : ndarray of shape (n_checks,)
        Step (since initialisation, 1-based) of each duality-gap value.
    drive_moments_ : ndarray of shape (n_components, n_components)
        Running average of the drive moments ``<u u^T>``, ``u = q f(W, x)``
        (float64); after ``fit`` with ``lateral="equilibrium"``, their
        exact mean over the training data at the final landmarks.
    input_moments_ : ndarray of shape (n_features_in_, n_features_in_)
        Mean of ``x x^T`` over the samples seen (float64, forgetting no
        faster than a window of ``max(10 n_features, 10000)`` samples). Only
        with ``lateral="equilibrium"`` and a linear kernel on at most 1024
        features, where the drive moments follow from it exactly,
        ``<u u^T> = c^2 W <x x^T> W^T``, without the lag of a running
        average behind the moving landmarks.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during ``fit`` (only when ``X`` has string
        column names).

    See Also
    --------
    sklearn.kernel_approximation.Nystroem : Kernel map from sampled landmarks.
    sklearn.kernel_approximation.RBFSampler : Random Fourier features.

    Notes
    -----
    Training solves ``min_{W,q} max_L min_y <e(y, x)>`` with the per-sample
    energy (Eq. 8)

    .. math::

        e = \\sum_i \\left[-q_i y_i f(w_i, x) + \\tfrac12 q_i^2 f(w_i, w_i)\\right]
            + \\tfrac12 y^\\top L y - \\tfrac14 \\|L\\|_F^2
            + \\tfrac{\\lambda}{2} \\|y\\|^2

    by minibatch gradient descent in ``W`` (rescaled by ``1/q_i^2``) and ``q``
    and, with ``lateral="hebbian"``, ascent in ``L`` (Eq. 10); with
    ``lateral="equilibrium"``, ``L`` is kept at the maximiser for the running
    drive moments instead (the fixed point of the ascent). Both use the optimal response
    ``y = (L + \\lambda I)^{-1} (q \\odot f(W, x))`` (Eq. 12). The updates are
    Hebbian for ``W`` and ``q`` (Eqs. 13-14; 17 for rbf) and anti-Hebbian for
    ``L`` (Eq. 15). For callable kernels the derivatives come from autograd.

    References
    ----------
    .. [1] Luther, K. & Seung, H. S. "Kernel similarity matching with Hebbian
       neural networks." Advances in Neural Information Processing Systems 35
       (NeurIPS 2022). Equation numbers follow its ICLR 2022 submission.

    Examples
    --------
    >>> from sklearn.datasets import make_moons
    >>> from sklearn_ksm import HebbianKernelSimilarityMatching
    >>> X, _ = make_moons(n_samples=200, noise=0.1, random_state=0)
    >>> ksm = HebbianKernelSimilarityMatching(
    ...     n_components=8, kernel="rbf", gamma=5.0, max_iter=20, random_state=0)
    >>> Y = ksm.fit_transform(X)
    >>> Y.shape, ksm.components_.shape, ksm.gains_.shape, ksm.lateral_weights_.shape
    ((200, 8), (8, 2), (8,), (8, 8))

    ``score`` is minus the relative kernel error ``||K - Y Y^T||_F / ||K||_F``,
    so ``GridSearchCV`` needs no ``scoring``; ``partial_fit`` continues training
    on new rows:

    >>> bool(ksm.score(X) < 0)
    True
    >>> ksm.partial_fit(X[:64]).transform(X).shape
    (200, 8)
    """

    _float64_attributes = ("drive_moments_", "input_moments_")

    @property
    def _state_attributes(self):
        names = ("components_", "gains_", "lateral_weights_", "drive_moments_")
        return names + ("input_moments_",) if getattr(self, "_input_moments", False) else names

    _diagnostic_attributes = ("duality_gap_history_", "gap_steps_")

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "kernel": [StrOptions(set(KERNEL_NAMES)), callable],
        "gamma": [Interval(Real, 0, None, closed="neither"), None],
        "degree": [Interval(Real, 1, None, closed="left")],
        "coef0": [Interval(Real, None, None, closed="neither")],
        "kernel_params": [dict, None],
        "reg": [Interval(Real, 0, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "learning_rate_gain": [Interval(Real, 0, None, closed="left")],
        "learning_rate_lateral": [Interval(Real, 0, 2, closed="right"), StrOptions({"auto"})],
        "lateral": [StrOptions({"equilibrium", "hebbian"})],
        "learning_rate_decay": [Interval(Real, 0, 1, closed="right")],
        "decay_start": [Interval(Real, 0, 1, closed="right")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_no_improvement": [Interval(Integral, 1, None, closed="left"), None],
        "init": [
            StrOptions({"kmeans++", "kmeans", "rpcholesky", "random", "sample"}),
            "array-like",
        ],
        "inference": [StrOptions({"solve", "dynamics"})],
        "device": [str],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        n_components=100,
        *,
        kernel="rbf",
        gamma=None,
        degree=3,
        coef0=1,
        kernel_params=None,
        reg=1e-3,
        learning_rate=0.003,
        learning_rate_gain=0.01,
        learning_rate_lateral="auto",
        lateral="equilibrium",
        learning_rate_decay=0.1,
        decay_start=0.5,
        batch_size=64,
        max_iter=150,
        tol=1e-4,
        max_no_improvement=None,
        init="kmeans++",
        inference="solve",
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.kernel_params = kernel_params
        self.reg = reg
        self.learning_rate = learning_rate
        self.learning_rate_gain = learning_rate_gain
        self.learning_rate_lateral = learning_rate_lateral
        self.lateral = lateral
        self.learning_rate_decay = learning_rate_decay
        self.decay_start = decay_start
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.max_no_improvement = max_no_improvement
        self.init = init
        self.inference = inference
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fit

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the network from scratch on ``X``.

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
        return self._fit_network(X)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Continue training on the rows of ``X``, one minibatch step per batch.

        The first call initialises the network; later calls continue from the
        current synapses (also after ``fit``). Rows are used in the given
        order, in batches of ``batch_size``, at the base learning rates (no
        decay schedule: a stream has no known end; change the rates with
        ``set_params`` between calls to anneal).

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

    # ------------------------------------------------------ network hooks

    def _configure(self, X):
        self.kernel_ = estimator_kernel(self, X.shape[1])
        # decided once per model, so partial_fit keeps the state it started with
        self._input_moments = (
            self.lateral == "equilibrium"
            and self.kernel_.linear
            and X.shape[1] <= INPUT_MOMENTS_MAX_FEATURES
        )
        if not self._input_moments:  # left by an earlier fit
            self.__dict__.pop("input_moments_", None)

    def _step_function(self, step_offset=0):
        kernel, reg, inference = self.kernel_, self.reg, self.inference
        learn_gains = not kernel.homogeneous and self.learning_rate_gain > 0
        options = dict(kernel=kernel, reg=reg, learn_gains=learn_gains)
        if self.lateral == "hebbian":

            def step(state, X_batch, rates):
                network, batch_energy = _gda.gda_step(
                    _gda.NetworkState(*state[:3]), X_batch, rates=rates, inference=inference,
                    **options,
                )  # fmt: skip
                # the moments only feed the duality-gap diagnostic here
                moments = _gda.accumulate_moments(
                    state[3], _gda.drive(state[1], kernel(X_batch, state[0])), rates.moments
                )
                return (*network, moments, *state[4:]), batch_energy

            return step

        # The moments average over about 1 / rate steps: W and q stay fixed
        # until they hold 4 N samples (a full-rank average before the first
        # learning step), or the whole window if shorter. L is recomputed at
        # every step: with an L even a few steps old, the response in weakly
        # driven directions (amplified up to 1 / reg) no longer matches the
        # moving landmarks, and on MNIST (N = 400) the landmarks then grew
        # without bound.
        window = math.ceil(1.0 / self._moment_rate())
        warmup = min(window, math.ceil(4 * self.n_components / self.batch_size))
        count = [step_offset]
        if self._input_moments:  # c of f(x, w) = c x^T w
            unit = torch.zeros(1, self.n_features_in_, dtype=torch.float64)
            unit[0, 0] = 1.0
            options["scale"] = float(kernel.diag(unit)[0])

        def step(state, X_batch, rates):
            t = count[0]
            count[0] += 1
            # running means (not yet exponential averages); the input moments
            # stay one for as long as their window allows
            rates = rates._replace(inputs=max(rates.inputs, 1.0 / (t + 1)))
            if t < window:
                rates = rates._replace(moments=max(rates.moments, 1.0 / (t + 1)))
            return _gda.gda_step_equilibrium(
                state, X_batch, rates=rates, learn=t >= warmup, **options,
            )  # fmt: skip

        return step

    def _moment_rate(self):
        if self.lateral == "equilibrium" and self.learning_rate_lateral != "auto":
            if self.learning_rate_lateral > 1:
                raise ValueError(
                    "With lateral='equilibrium', learning_rate_lateral is the rate of a running "
                    f"average and must be in (0, 1] or 'auto'; got {self.learning_rate_lateral}."
                )
            return self.learning_rate_lateral
        # A window of 4 N samples keeps the moments well conditioned, and a
        # longer one helps below N = 200 too (MNIST alpha = 3, N = 25, seed 0:
        # 0.2045 with 256 samples, 0.2032 with 800). For linear kernels the
        # landmarks drift along exact rotations of the energy, which a long
        # window lags behind: there it holds 800 samples (MNIST alpha = 1,
        # N = 400, seed 0: 0.0036 with 1600, 0.0026 with 800; alpha = 3
        # prefers 1600, 0.1042 against 0.1068).
        samples = 4 * self.n_components
        if self.kernel_.linear:
            samples = MOMENT_WINDOW_SAMPLES
        return min(1.0, self.batch_size / max(samples, MOMENT_WINDOW_SAMPLES))

    def _rates(self):
        lateral = self.learning_rate_lateral
        if lateral == "auto":
            lateral = 10 * self.learning_rate if self.lateral == "hebbian" else 0.0
        inputs = self.batch_size / max(10 * self.n_features_in_, INPUT_MOMENTS_MIN_WINDOW)
        return _gda.LearningRates(
            self.learning_rate, self.learning_rate_gain, lateral, self._moment_rate(),
            min(1.0, inputs),
        )  # fmt: skip

    def _diagnostic(self):
        reg = self.reg
        # clamp: at the equilibrium the gap is 0 up to rounding, which can be negative
        return lambda state: _gda.lateral_gap(state[3], state[2], reg).clamp(min=0)

    def _finish_fit(self, X, device):
        """Set ``L`` to its fixed point for the final landmarks (one pass)."""
        if self.lateral != "equilibrium":
            return
        W, q = self._fitted_state(device, X.dtype)[:2]
        S = torch.zeros(len(q), len(q), dtype=torch.float64, device=device)
        for start in range(0, X.shape[0], TRANSFORM_BLOCK):
            block = to_tensor(X[start : start + TRANSFORM_BLOCK], device)
            D = _gda.drive(q, self.kernel_(block, W)).to(torch.float64)
            S.addmm_(D.mT, D)
        S /= X.shape[0]
        L = _gda.lateral_equilibrium(S, self.reg)
        self.lateral_weights_ = L.to(W.dtype).cpu().numpy()
        self.drive_moments_ = S.cpu().numpy()

    def _fit_schedule(self, n_samples):
        n_batches = math.ceil(n_samples / self.batch_size)
        schedule = Schedule(
            self._rates(),
            self.learning_rate_decay,
            decay_step=math.ceil(self.decay_start * self.max_iter * n_batches),
        )
        monitor = None
        if self.max_no_improvement is not None:
            alpha = min(1.0, self.batch_size / (n_samples + 1))
            monitor = PlateauMonitor(self.tol, self.max_no_improvement, alpha)
        return schedule, monitor

    def _stream_schedule(self):
        return Schedule(self._rates())

    def _prepare_response(self, state):
        operator = _gda.response_operator(state[2], self.reg) if self.inference == "solve" else None
        return _gda.NetworkState(*state[:3]), operator

    def _respond(self, state, X_block):
        state, operator = state
        return _gda.transform_batch(
            state, X_block, kernel=self.kernel_, reg=self.reg, inference=self.inference,
            operator=operator,
        )  # fmt: skip

    def _initial_state(self, X, device, generator):
        """Landmarks from ``init``; gains 1 and lateral weights I (the paper's)."""
        shape = (self.n_components, X.shape[1])
        if isinstance(self.init, str) and self.init == "kmeans++":
            W = _kmeans_plusplus(X, shape[0], generator)
        elif isinstance(self.init, str) and self.init in ("kmeans", "rpcholesky"):
            from .baselines import sample_landmarks  # baselines imports the metrics

            seed = int(torch.randint(np.iinfo(np.int32).max, (1,), generator=generator))
            W = sample_landmarks(X, shape[0], self.init, kernel=self.kernel_, random_state=seed)
        elif isinstance(self.init, str) and self.init == "sample":
            rows = torch.randint(X.shape[0], (shape[0],), generator=generator).numpy()
            W = np.array(X[rows], dtype=np.float64)
        elif isinstance(self.init, str):
            # Gaussian matched to the data's scale, so no input scaling is needed.
            mean, std = _column_mean_std(X)
            std[std == 0] = std.max() if std.max() > 0 else 1.0
            noise = torch.randn(shape, generator=generator, dtype=torch.float64).numpy()
            W = mean + std * noise
        else:
            W = check_array(self.init, dtype=np.float64, input_name="init")
            if W.shape != shape:
                raise ValueError(
                    f"init has shape {W.shape}; expected (n_components, n_features) = {shape}."
                )
        tensor = lambda a: to_tensor(np.asarray(a, dtype=X.dtype), device)  # noqa: E731
        n = shape[0]
        moments = torch.zeros(n, n, dtype=torch.float64, device=device)
        state = (tensor(W), tensor(np.ones(n)), tensor(np.eye(n)), moments)
        if self._input_moments:
            m = shape[1]
            state += (torch.zeros(m, m, dtype=torch.float64, device=device),)
        return state

    # ------------------------------------------------------------ predict

    def transform(self, X):
        """Network output ``y`` for each row of ``X``.

        Computed in blocks of rows, so memory beyond the output is bounded
        by the block size; the output has the float dtype of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        Y : ndarray of shape (n_samples, n_components)
            Responses of the output neurons.
        """
        return self._transform_network(X)

    def nystroem_readout(self):
        """Nystroem map on the learned landmarks ``components_``.

        The paper's "Nystroem with our landmarks": instead of the network's
        responses, ``y(x) = K_WW^{-1/2} k(W, x)``, which is often the more
        faithful kernel approximation.

        Returns
        -------
        readout : KernelNystroem
            A fitted transformer with the network's kernel and landmarks.

        Examples
        --------
        >>> from sklearn.datasets import make_moons
        >>> from sklearn_ksm import HebbianKernelSimilarityMatching
        >>> X, _ = make_moons(n_samples=100, noise=0.1, random_state=0)
        >>> ksm = HebbianKernelSimilarityMatching(4, gamma=5.0, max_iter=5, random_state=0)
        >>> ksm.fit(X).nystroem_readout().transform(X).shape
        (100, 4)
        """
        from .baselines import KernelNystroem  # baselines imports the metrics

        check_is_fitted(self)
        readout = KernelNystroem(kernel=self.kernel_, landmarks=self.components_)
        return readout.fit(self.components_)

    def score(self, X, y=None):
        """Minus the relative kernel approximation error of the output on ``X``.

        ``-||K - Y Y^T||_F / ||K||_F`` (higher is better, 0 is exact), on a
        subsample of at most 2000 rows drawn with a fixed seed when ``X`` is
        larger, so that ``GridSearchCV`` works without a scoring argument.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        y : None
            Ignored.

        Returns
        -------
        score : float
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=FLOAT_DTYPES, reset=False)
        if X.shape[0] > SCORE_MAX_SAMPLES:
            rows = np.random.RandomState(0).choice(X.shape[0], SCORE_MAX_SAMPLES, replace=False)
            X = X[np.sort(rows)]
        Y = self._transform_validated(X)
        return -kernel_approximation_error(
            X, Y, kernel=self.kernel_, device=str(resolve_device(self.device, fallback=True))
        )

    @property
    def _n_features_out(self):
        """Number of output features, for ``get_feature_names_out``."""
        return self.components_.shape[0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
