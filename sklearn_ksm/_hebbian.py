"""HebbianKernelSimilarityMatching: the scikit-learn API layer."""

import functools
import math
import warnings
from numbers import Real

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.cluster import kmeans_plusplus
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from . import _gda, _lateral
from ._base import FLOAT_DTYPES, TRANSFORM_BLOCK, NetworkEstimatorMixin
from ._device import host_array, resolve_device, to_numpy, to_tensor
from ._solver import (
    CHECK_EVERY,
    PlateauMonitor,
    Schedule,
    TrainingDivergedError,
    TrainingResult,
    objective_drift,
)
from ._threads import thread_policy
from ._validation import IntegerInterval, available_memory, format_bytes
from .kernels import KERNEL_NAMES, PSD_CHECK_ROWS, CallableKernel, estimator_kernel
from .metrics import kernel_approximation_error, score_subsample

# The equilibrium rule's automatic moment window holds 4 N samples, but never
# fewer than this many, nor more for linear kernels.
MOMENT_WINDOW_SAMPLES = 800
INPUT_MOMENTS_MAX_FEATURES = _lateral.Equilibrium.INPUT_MOMENTS_MAX_FEATURES
# The learning rates are per this many samples (the paper's batch size).
REFERENCE_BATCH = 64
# The duality gap is measured on at most max(this, 4 N) rows.
GAP_SAMPLE_ROWS = 1024
# ... every max(CHECK_EVERY, this times N) steps. One measurement costs the
# kernel on 4 N rows, their float64 moments (syrk) and N x N eigenvalues: at
# N = 800, one thread, 240 ms on the 2-core Intel Xeon with a float64 product
# (about 30 default steps of 8 ms), 114 ms on the AMD EPYC with syrk (150 ms
# with the product; about 20 steps of 5.6 ms), so at every 2 N steps it takes
# 1-2% of a fit (at every N steps, 2-4%).
GAP_EVERY_PER_NEURON = 2
SETTLE_LATERAL = True
# fit ends (adaptive rule) at the best of these points between the learned
# lateral weights (0) and their fixed point (1), on a sample of the rows:
# eighths resolve the optimum of the MNIST alpha = 3 seeds (0.5 and 0.75 at
# N = 400), whose errors vary smoothly with the fraction.
SETTLE_FRACTIONS = tuple(i / 8 for i in range(9))
# The fitted common initial gain is used only within this range.
INITIAL_GAIN_RANGE = (1e-6, 1e6)
# The largest anti-Hebbian step eta of lateral="adaptive" (the paper's
# half-moons rate; the stiffness usually sets a smaller one).
ADAPTIVE_LATERAL_CAP = 0.2
# fit warns (ConvergenceWarning) when the mean objective of its last tenth of
# steps differs from the tenth before by more than this (relative).
CONVERGED_RTOL = 1e-3
# An output whose kernel error on the training rows exceeds this has diverged
# (an all-zero output has error 1; the divergence sweep's criterion).
ABSURD_ERROR = 10.0
# Rows on which the state kept after a divergence is checked.
USELESS_CHECK_ROWS = 512
# partial_fit checks the output on calls of at least this many rows.
OUTPUT_CHECK_MIN_ROWS = 256
# A stream's initial state comes from at least this many of its first rows
# (and 2 n_components, for distinct k-means++ seeds): see _base._stream_rows.
# Half moons (rbf, sigma = 0.3), N = 16, three shuffled passes of 1,600 rows
# one row per step, first call of 1 / 16 / 64 / 256 / 1,600 rows, the others
# of one row: kernel error 1.05 / 0.29 / 0.21 / 0.19 / 0.18 (a default fit:
# 0.18).
STREAM_START_ROWS = 256
# A divergence with kernel values f(x, x) beyond this is blamed on the input
# scale: the bundled MNIST sample (power-cosine, f(x, x) up to 1.5e3) trains
# at the default rates; the poly kernel on uniform[-10, 10] inputs (f(x, x) of
# 1e4 to 1e6) diverges at them (benchmarks/divergence_sweep.py, issue 21).
KERNEL_SCALE_LARGE = 1e4
# ... and fit warns when the median f(x, x) is below this: the landmark steps
# shrink with the kernel's values (a homogeneous kernel's gradients scale with
# the input), so far below order 1 the network barely learns. Default fits to
# s * np.random.RandomState(0).normal(size=(600, 8)) with random_state=0, for
# s = 1 / 0.3 / 0.1 (median f(x, x) of 7.3 / 0.66 / 0.073), relative kernel
# errors on those rows: power-cosine (degree 2, N = 8) 0.77 / 1.00 / 1.70,
# linear (N = 4) 0.67 / 0.76 / 1.08.
KERNEL_SCALE_SMALL = 0.1
# A landmark this many times longer than the longest input row has blown up.
BLOWUP = 1e3
# Peak memory of a fit per pair of neurons, in bytes: about 10 float64 N x N
# arrays (lateral weights and drive moments with their next values, the
# eigendecompositions of the lateral rule and of the duality-gap check, the
# factor of L + reg I). benchmarks/fit_memory.py measured a peak of 12 to 14
# N^2 float64 at N = 1500 and 9 to 10 at N = 3000, both lateral rules,
# float32 and float64 inputs (issue 21); the estimate stays at or below the
# measured peaks, so it refuses only fits that could not run.
FIT_BYTES_PER_NEURON_PAIR = 80


def _gap_sample(X, limit):
    """At most ``limit`` rows of ``X``: a seeded sample, in their order."""
    if len(X) <= limit:
        return X
    return X[np.sort(np.random.RandomState(0).choice(len(X), limit, replace=False))]


def _train_step(state, X_batch, rates, t, **options):
    """The training loop's step: one minibatch step of Eq. 10 at step ``t``."""
    return _gda.minibatch_step(state, X_batch, rates=rates, step=t, **options)


def _row_norms_max(X, block=4096):
    """The largest squared row norm of ``X`` (float64, a block at a time)."""
    return max(
        float(np.einsum("ij,ij->i", b, b, dtype=np.float64).max())
        for b in (X[i : i + block] for i in range(0, X.shape[0], block))
    )


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
        Number of output neurons ``N`` (dimension of ``y``). A step costs
        ``O(N^3)`` time (a factorisation of the ``N x N`` lateral weights)
        and a fit about ``80 N^2`` bytes of memory (N = 5000: 2 GB); ``fit``
        refuses an ``N`` whose estimate exceeds the available memory, and
        warns when ``N`` exceeds the number of training samples, whose drive
        has rank at most ``n_samples``: the extra neurons cannot be excited.
    kernel : {"rbf", "power_cosine", "linear", "poly"} or callable, default="rbf"
        Input similarity ``f``. ``"rbf"``: ``exp(-gamma |u - v|^2)``;
        ``"power_cosine"``: ``|u| |v| cos(u, v)^degree``; ``"linear"``:
        ``u . v``; ``"poly"``: ``(gamma u . v + coef0)^degree``. A callable
        takes two 2-D torch tensors ``(X, W)`` (and ``**kernel_params``) and
        returns their Gram matrix; it must be positive semi-definite and
        differentiable by torch autograd (use a module-level function so the
        estimator pickles). ``fit`` tries it once on training rows and raises
        if it returns anything but a floating-point tensor of the right
        shape, modifies its inputs, or has no finite derivative; it warns if
        its Gram matrix there has a clearly negative eigenvalue.
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
        Step size ``eta_w`` of the feedforward synapses ``W`` per 64 samples
        (the update is rescaled by ``1 / q_i^2``, Eq. 10; a batch of ``B <
        64`` rows takes ``B / 64`` of it, so a stream of one row per step
        follows the path of batches of 64). The default lies between the
        paper's rates for half moons (0.01) and MNIST (0.001) and does well on
        both.
    learning_rate_gain : float, default=0.01
        Step size ``eta_q`` of the gains (the paper's half-moons rate), per
        64 samples. Unused (gains stay 1) for homogeneous kernels: linear,
        power_cosine, poly with ``coef0=0``. With ``lateral="adaptive"`` the
        gains also learn at most a tenth as fast as the lateral weights.
    learning_rate_lateral : float or "auto", default="auto"
        Step size ``eta_l`` of the anti-Hebbian lateral rule,
        ``L += eta_l / 2 (<y y^T> - L)``, per 64 samples; at most 2, which
        keeps ``L`` positive semi-definite. With ``lateral="hebbian"`` it is
        the step (``"auto"``: ``10 * learning_rate``, the two time-scale
        rule); with ``lateral="adaptive"`` the largest step (``"auto"``:
        0.2), below which the stiffness of the ascent sets it. Unused with
        ``lateral="equilibrium"``.
    lateral : {"auto", "adaptive", "hebbian", "equilibrium"}, default="auto"
        How the lateral weights learn (user guide, "Training that
        converges"). ``"adaptive"``: the anti-Hebbian rule of Eq. 15, each
        synapse ``L_ij`` moving towards ``y_i y_j``, with one global step
        size (shared by all synapses) set at every step from the stiffness
        of the ascent, ``2 * 30 / kappa`` with ``kappa = l_max / (l_min +
        reg)`` tracked by one power-iteration step on ``L`` and one
        inverse-iteration step on ``L + reg I``, and the feedforward synapses
        and gains learning at most a tenth as fast. Three parts are not
        local and run once per ``fit``: ``L`` starts at the rule's fixed
        point for the initial landmarks (and, for kernels with learned gains,
        the gains at the common scale that best matches the kernel), and
        ``fit`` ends by moving ``L`` to the point between the learned
        weights and their fixed point for the final landmarks (in eighths)
        that approximates the kernel best on a sample of the training rows.
        ``"hebbian"``: the paper's procedure: the same rule
        at the fixed step ``learning_rate_lateral`` from ``L = I``; it needs
        a tuned rate and diverges at large N. ``"equilibrium"``: the exact,
        non-local reference: ``L`` is the maximiser of Eq. 9 for a running
        average of the drive moments over ``moment_window`` samples,
        computed from an eigendecomposition every step (``O(N^3)`` per
        step), and ``fit`` ends with ``L`` at its fixed point for the final
        landmarks. ``"auto"``: ``"adaptive"``, except for kernels linear in
        the landmarks (``linear``, ``power_cosine`` with ``degree=1``,
        ``poly`` with ``degree=1, coef0=0``), whose ascent is too stiff for
        the adaptive step to converge in a default fit: ``"equilibrium"``
        there (non-local). The rule used is ``lateral_``.
    moment_window : int or "auto", default="auto"
        With ``lateral="equilibrium"``: the samples in the running average of
        the drive moments ``<u u^T>``; ``"auto"``: ``max(4 n_components,
        800)`` (800 for linear kernels, whose landmarks drift along exact
        symmetries of the energy; with at most 1024 features their drive
        moments come exactly from the input moments ``<x x^T>``). A window,
        not a step size: ``learning_rate_decay`` leaves it alone.
    learning_rate_decay : float, default=0.1
        Factor applied to the learning rates once (all three), after
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
        dynamics of Eq. 11 iterated to a relative tolerance of 1e-6. The
        dynamics illustrate the network and are slow: up to 10,000 Euler
        steps, each a product with the ``N x N`` lateral weights, a number
        that grows with the condition number of ``L + reg I`` (hundreds of
        times the cost of ``"solve"`` once ``L`` is learned), in training and
        in ``transform``.
    device : str, default="auto"
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or
        ``"cuda:<index>"``. A fitted model used where its CUDA device is
        missing falls back to the CPU with a warning.
    n_jobs : int, default=None
        CPU threads of ``fit``, ``partial_fit``, ``transform`` and ``score``
        (torch's, OpenMP's and BLAS's, for the call only). ``None``: one
        thread below ``n_components=256``, where a second one saves nothing
        and slows everything on a busy machine, and above it the cores idle
        at the start of the call. An int: that many threads (``-1``: all
        usable cores). Never more than an enclosing
        ``threadpoolctl.threadpool_limits``, ``OMP_NUM_THREADS`` or joblib's
        worker limit allow. See the user guide, "Threads and busy machines".
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
        Lateral inhibitory weights ``L`` of the output (symmetric positive
        semi-definite). For ``lateral_="adaptive"``, the running average of
        the learned weights (over ten times their learning time, the time
        scale of the landmarks), which a stream's constant rates leave
        fluctuating; right after ``fit``, the settled weights.
    learning_lateral_weights_ : ndarray of shape (n_components, n_components)
        The lateral weights the learning rule updates (equal to
        ``lateral_weights_`` for the other rules and right after ``fit``).
    kernel_ : Kernel
        The kernel object with its resolved parameters (e.g. ``gamma``).
    lateral_ : str
        The lateral rule used: ``lateral`` with ``"auto"`` resolved.
    n_iter_ : int
        Passes over the data run by the last ``fit`` (for ``partial_fit``,
        the number of calls).
    n_steps_ : int
        Gradient steps run since initialisation.
    n_samples_seen_ : int
        Samples processed since initialisation (counting repeats).
    objective_history_ : ndarray of shape (n_records,)
        Minibatch energy (Eq. 8) at the steps ``objective_steps_``: every
        step of the last 10,000; beyond, older entries are thinned (half the
        oldest half dropped each time), so memory stays bounded on a stream.
    objective_steps_ : ndarray of shape (n_records,)
        Step (since initialisation, 1-based) of each ``objective_history_``
        entry.
    duality_gap_history_ : ndarray of shape (n_checks,)
        Duality gap of the ascent in ``L``, every ``max(100, 2 n_components)``
        steps and at the end of each call: how much Eq. 9 would rise if ``L``
        moved to its maximiser for the current landmarks, measured on the
        drive moments of a sample of rows (up to ``max(1024, 4 N)`` training
        rows, or the latest rows of a stream), not on the statistics that set
        ``L``. It should fall towards 0; a gap that grows means the lateral
        weights cannot follow the landmarks
        (:func:`~sklearn_ksm.plotting.plot_convergence` draws it).
    gap_steps_ : ndarray of shape (n_checks,)
        Step (since initialisation, 1-based) of each duality-gap value.
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
    Training solves :math:`\\min_{W,q} \\max_L \\langle \\min_y e(y, x) \\rangle`
    with the per-sample energy (Eq. 8)

    .. math::

        e = \\sum_i \\left[-q_i y_i f(w_i, x) + \\tfrac12 q_i^2 f(w_i, w_i)\\right]
            + \\tfrac12 y^\\top L y - \\tfrac14 \\|L\\|_F^2
            + \\tfrac{\\lambda}{2} \\|y\\|^2

    by minibatch gradient descent in :math:`W` (rescaled by :math:`1/q_i^2`)
    and :math:`q` and ascent in :math:`L` (Eq. 10), with the step of the
    ascent set by its stiffness (``lateral="adaptive"``) or fixed (the
    paper's, ``lateral="hebbian"``); with ``lateral="equilibrium"``,
    :math:`L` is kept at the maximiser for the running drive moments
    instead (the fixed point of the ascent). All use the optimal response
    :math:`y = (L + \\lambda I)^{-1} (q \\odot f(W, x))` (Eq. 12). The updates
    are Hebbian for :math:`W` and :math:`q` (Eqs. 13-14; 17 for rbf) and
    anti-Hebbian for :math:`L` (Eq. 15). For callable kernels the derivatives
    come from autograd.

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

    ``score`` is minus the relative kernel error ``||K - Y Y^T||_F / ||K||_F``
    against the model's own kernel, so ``GridSearchCV`` needs no ``scoring``
    (except over kernel parameters: see :meth:`score`); ``partial_fit``
    continues training on new rows:

    >>> bool(ksm.score(X) < 0)
    True
    >>> ksm.partial_fit(X[:64]).transform(X).shape
    (200, 8)
    """

    _state_attributes = ("components_", "gains_", "lateral_weights_")

    _diagnostic_attributes = ("duality_gap_history_", "gap_steps_")

    _parameter_constraints: dict = {
        "n_components": [IntegerInterval(1, None, closed="left")],
        "kernel": [StrOptions(set(KERNEL_NAMES)), callable],
        "gamma": [Interval(Real, 0, None, closed="neither"), None],
        "degree": [Interval(Real, 1, None, closed="left")],
        "coef0": [Interval(Real, None, None, closed="neither")],
        "kernel_params": [dict, None],
        "reg": [Interval(Real, 0, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "learning_rate_gain": [Interval(Real, 0, None, closed="left")],
        "learning_rate_lateral": [Interval(Real, 0, 2, closed="right"), StrOptions({"auto"})],
        "lateral": [StrOptions({"auto", "adaptive", "equilibrium", "hebbian"})],
        "moment_window": [IntegerInterval(1, None, closed="left"), StrOptions({"auto"})],
        "learning_rate_decay": [Interval(Real, 0, 1, closed="right")],
        "decay_start": [Interval(Real, 0, 1, closed="right")],
        "batch_size": [IntegerInterval(1, None, closed="left")],
        "max_iter": [IntegerInterval(1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_no_improvement": [IntegerInterval(1, None, closed="left"), None],
        "init": [
            StrOptions({"kmeans++", "kmeans", "rpcholesky", "random", "sample"}),
            "array-like",
        ],
        "inference": [StrOptions({"solve", "dynamics"})],
        "device": [str],
        "n_jobs": [
            IntegerInterval(1, None, closed="left"),
            IntegerInterval(None, -1, closed="right"),
            None,
        ],
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
        lateral="auto",
        moment_window="auto",
        learning_rate_decay=0.1,
        decay_start=0.5,
        batch_size=64,
        max_iter=150,
        tol=1e-4,
        max_no_improvement=None,
        init="kmeans++",
        inference="solve",
        device="auto",
        n_jobs=None,
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
        self.moment_window = moment_window
        self.learning_rate_decay = learning_rate_decay
        self.decay_start = decay_start
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.max_no_improvement = max_no_improvement
        self.init = init
        self.inference = inference
        self.device = device
        self.n_jobs = n_jobs
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
        self._warn_unexcitable_neurons(X)
        return self._fit_network(X)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Continue training on the rows of ``X``, one minibatch step per batch.

        The first call initialises the network; later calls continue from the
        current synapses (also after ``fit``). A stream's first rows set the
        initial state (landmarks seeded by ``init``, gains, lateral weights):
        until it has delivered ``max(256, 2 n_components)`` rows, every call
        that doubles the rows seen so far starts the network again from all
        of them, as one call on them would, so that a stream of single rows
        starts as well as a chunked one (``n_steps_`` and
        ``n_samples_seen_`` then count from that start, ``n_iter_`` counts
        every call). Rows are used in the given
        order, in batches of ``batch_size``, at the base learning rates (no
        decay schedule: a stream has no known end; change the rates with
        ``set_params`` between calls to anneal). With ``lateral_="adaptive"``
        the output uses the running average of the learned lateral weights
        (``lateral_weights_``), which such constant rates leave fluctuating.

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

    _structural_parameters = (
        "n_components", "kernel", "gamma", "degree", "coef0", "kernel_params", "lateral",
    )  # fmt: skip

    def _stream_start_rows(self):
        return max(STREAM_START_ROWS, 2 * self.n_components)

    def _warn_unexcitable_neurons(self, X):
        try:
            shape = X.shape if hasattr(X, "shape") else np.shape(X)
        except (TypeError, ValueError):
            return
        if len(shape) != 2 or shape[0] == 0:
            return  # invalid: validate_data says so
        n_samples = shape[0]
        if self.n_components > n_samples:
            warnings.warn(
                f"n_components={self.n_components} exceeds the {n_samples} training samples: "
                f"the drive has rank at most {n_samples}, so the extra neurons cannot be "
                "excited (the output has rank at most n_samples) while the cost grows as "
                "n_components**2 (memory) and **3 (time per step). Use n_components <= "
                "n_samples.",
                UserWarning,
                stacklevel=4,
            )

    def _check_resources(self, X):
        """Reject a ``reg`` or ``n_components`` that cannot work, before allocating."""
        # The response solves (L + reg I) y = u in the dtype of X, and the
        # lateral weights and transform use (l + reg)^2 in float64, for
        # eigenvalues l of L up to about reg.
        limit = min(math.sqrt(np.finfo(np.float64).max), float(np.finfo(X.dtype).max)) / 2
        if self.reg > limit:
            raise ValueError(
                f"reg={self.reg:g} is out of range for {X.dtype} inputs: it must be at most "
                f"{limit:.3g}, so that L + reg I is representable in {X.dtype} and "
                "(l + reg)^2 in float64. (The outputs scale as 1 / reg.)"
            )
        n, m = self.n_components, X.shape[1]
        needed = FIT_BYTES_PER_NEURON_PAIR * n * n + 4 * n * m * X.dtype.itemsize
        device = resolve_device(self.device)
        available = available_memory(device)
        if available is not None and needed > available:
            raise ValueError(
                f"n_components={n} needs about {format_bytes(needed)} of memory to fit (about "
                f"{FIT_BYTES_PER_NEURON_PAIR} bytes per pair of neurons, for the N x N lateral "
                f"weights, drive moments and their factorisations), more than the "
                f"{format_bytes(available)} available on {device}. Use fewer components "
                "(memory grows as n_components**2)."
            )

    def _configure(self, X):
        self._check_resources(X)
        self.kernel_ = estimator_kernel(self, X.shape[1])
        self.lateral_ = self.lateral
        if self.lateral == "auto":
            # the local adaptive rule, except for kernels linear in the landmarks:
            # there its ascent is too stiff to converge in a default fit (MNIST,
            # alpha = 1: 0.0107 at N = 100 against the optimum's 0.0067, and the
            # landmarks do not reach the optimum at N = 400), while the exact
            # lateral weights are lag-free from the input moments
            self.lateral_ = "equilibrium" if self.kernel_.linear else "adaptive"
        # rows spread over X, for the checks of the kernel on these inputs
        rows = np.linspace(0, len(X) - 1, min(len(X), PSD_CHECK_ROWS)).round().astype(int)
        sample = to_tensor(X[rows], resolve_device(self.device))
        if isinstance(self.kernel_, CallableKernel):
            self.kernel_.check(sample)
        self._warn_small_kernel_values(X, sample)
        self._record_structure()

    def _warn_small_kernel_values(self, X, sample):
        """Warn when the kernel's values on the rows ``sample`` of ``X`` are far below
        order 1 (``KERNEL_SCALE_SMALL``)."""
        diag = self.kernel_.diag(sample)
        diag = diag[diag > 0].to(torch.float64)  # all-zero rows (e.g. sparse data) aside
        median = float(torch.median(diag).cpu()) if len(diag) else math.inf
        if median < KERNEL_SCALE_SMALL:
            warnings.warn(
                f"The kernel's values on these inputs are small: median f(x, x) = {median:.3g} "
                f"(largest |x| = {np.abs(X).max():.3g}). The default learning rates suit values "
                "of order 1 to 1e3; far below, the landmarks barely learn and the output can "
                "approximate the kernel worse than an all-zero output. Rescale the inputs (e.g. "
                "with StandardScaler) so that the kernel's values are of order 1.",
                UserWarning,
                stacklevel=7,
            )

    def _lateral_rule(self):
        """The lateral learning rule of ``lateral`` (see :mod:`sklearn_ksm._lateral`)."""
        if self.lateral_ == "equilibrium":
            linear = self.kernel_.linear and self.n_features_in_ <= INPUT_MOMENTS_MAX_FEATURES
            return _lateral.Equilibrium(
                self.n_components, self.batch_size, self._moment_window(), self.reg,
                linear_scale=self._linear_scale() if linear else None,
                n_features=self.n_features_in_,
            )  # fmt: skip
        if self.lateral_ == "adaptive":
            return _lateral.ConditionedAntiHebbian(self._rates().lateral, self.reg)
        return _lateral.AntiHebbian()

    def _linear_scale(self):
        """``c`` of a linear kernel ``f(x, w) = c x^T w``: ``f(e, e)`` for a unit vector."""
        unit = torch.zeros(1, self.n_features_in_, dtype=torch.float64)
        unit[0, 0] = 1.0
        return float(self.kernel_.diag(unit)[0])

    def _moment_window(self):
        if self.moment_window != "auto":
            return self.moment_window
        # A window of 4 N samples keeps the moments well conditioned, and a
        # longer one helps below N = 200 too (MNIST alpha = 3, N = 25, seed 0:
        # 0.2045 with 256 samples, 0.2032 with 800). For linear kernels the
        # landmarks drift along exact rotations of the energy, which a long
        # window lags behind: there it holds 800 samples (MNIST alpha = 1,
        # N = 400, seed 0: 0.0036 with 1600, 0.0026 with 800; alpha = 3
        # prefers 1600, 0.1042 against 0.1068).
        if self.kernel_.linear:
            return MOMENT_WINDOW_SAMPLES
        return max(4 * self.n_components, MOMENT_WINDOW_SAMPLES)

    def _step_function(self):
        learn_gains = not self.kernel_.homogeneous and self.learning_rate_gain > 0
        return functools.partial(
            _train_step, kernel=self.kernel_, rule=self._lateral_rule(), reg=self.reg,
            learn_gains=learn_gains, inference=self.inference,
        )  # fmt: skip

    def _rates(self):
        # Rates are per REFERENCE_BATCH samples: a smaller batch takes
        # proportionally smaller steps, so a stream of one row per step follows
        # the same path per sample as batches of 64 (larger batches keep the
        # per-step rates, which bound the stable step).
        scale = min(1.0, self.batch_size / REFERENCE_BATCH)
        lateral = self.learning_rate_lateral
        if lateral == "auto":
            adaptive = self.lateral_ == "adaptive"
            lateral = ADAPTIVE_LATERAL_CAP if adaptive else 10 * self.learning_rate
        return _gda.LearningRates(
            self.learning_rate * scale, self.learning_rate_gain * scale, lateral * scale
        )

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

    def _stream_schedule(self, previous):
        # a stream's output averages the lateral weights (adaptive rule); fit settles them
        return Schedule(self._rates()._replace(average_output=True))

    def _initial_state(self, X, device, generator):
        """Landmarks from ``init``; gains fitted; lateral weights from the rule.

        The gains start at 1 for ``lateral="hebbian"`` (the paper) and at the
        fitted common gain of :meth:`_initial_gain` for the other rules.

        ``lateral="hebbian"`` starts from ``L = I``, as the paper does; the
        adaptive rule starts from the fixed point of the anti-Hebbian rule for
        the initial landmarks on a sample of the rows (one
        eigendecomposition), which spares it the transient in which ``L``
        first overshoots the scale of the drives (MNIST power-cosine: drives
        of order 100 against ``L = I``) and the stiffness estimate, and with
        it the step, collapses.
        """
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
        W, q = tensor(W), tensor(np.ones(shape[0]))
        rows = None
        if self.lateral_ != "hebbian":
            rows = _gap_sample(X, max(GAP_SAMPLE_ROWS, 4 * shape[0]))
            if not self.kernel_.homogeneous and self.learning_rate_gain > 0:
                q = q * self._initial_gain(rows, W, q, device)
        if self.lateral_ == "adaptive":
            S = self._drive_moments_of(rows, W, q, device)
            L = _gda.lateral_equilibrium(S, self.reg).to(W.dtype)
        else:
            L = tensor(np.eye(shape[0]))
        stats = self._lateral_rule().initial_stats(shape[0], shape[1], W.dtype, device)
        return _gda.TrainingState(W, q, L, stats)

    def _initial_gain(self, rows, W, q, device):
        """The common gain that best scales the initial output to the kernel.

        The gains start at 1 in the paper and must fall to about 0.1 on the
        half moons (rbf, sigma = 0.3) before the output's inner products
        have the kernel's scale: until then the output approximates the
        kernel worse than zeros do (error 1.8 after 10 passes). Scaling
        every drive by ``c`` scales ``y y^T`` by about ``c^(2/3)`` at the
        lateral fixed point (``l (l + reg)^2 = s``), so the least-squares
        ``c^(2/3) = <K, Y Y^T> / |Y Y^T|^2`` on a sample of rows, with ``Y``
        the fixed-point output at gains 1, starts them at the right scale.
        """
        sample = to_tensor(rows, device)
        U = _gda.drive(q, self.kernel_(sample, W)).to(torch.float64)
        L = _gda.lateral_equilibrium(_gda.second_moments(U), self.reg)
        Y = _gda.response_solve(U, L, self.reg)
        G = Y @ Y.mT
        norm = torch.linalg.matrix_norm(G)  # G / |G| keeps the ratio clear of underflow
        K = self.kernel_(sample, sample).to(torch.float64)
        fit = float((K * (G / norm)).sum() / norm) if norm > 0 else math.nan
        # a scale the drives can take (an extreme reg or kernel scale: keep 1)
        gain = fit**1.5 if np.isfinite(fit) and fit > 0 else math.nan
        return gain if INITIAL_GAIN_RANGE[0] <= gain <= INITIAL_GAIN_RANGE[1] else 1.0

    def _state_arrays(self, state):
        # the rule's running statistics are kept between calls as private
        # attributes "_<name>", in their own dtype (float64 moments)
        for name in getattr(self, "_stat_names", ()):
            self.__dict__.pop("_" + name, None)  # left by an earlier fit with another rule
        arrays = {
            "components_": to_numpy(state.W),
            "gains_": to_numpy(state.q),
            "lateral_weights_": to_numpy(self._lateral_rule().output(state.L, state.stats)),
            "learning_lateral_weights_": to_numpy(state.L),
            "_stat_names": tuple(state.stats),
        }
        arrays.update({"_" + name: to_numpy(value) for name, value in state.stats.items()})
        return arrays

    def _fitted_state(self, device, dtype):
        tensor = lambda a: to_tensor(np.asarray(a, dtype=dtype), device)  # noqa: E731
        stats = {name: to_tensor(getattr(self, "_" + name), device)
                 for name in getattr(self, "_stat_names", ())}  # fmt: skip
        return _gda.TrainingState(
            tensor(self.components_),
            tensor(self.gains_),
            tensor(self.learning_lateral_weights_),
            stats,
        )

    def _finish_fit(self, X, device, result):
        """Let the lateral weights settle for the final landmarks (equilibrium, adaptive).

        ``L`` goes to the fixed point of the anti-Hebbian rule for the final
        landmarks and gains, ``<y y^T>`` over the training rows (the limit of
        lateral learning with ``W`` and ``q`` frozen, computed exactly in one
        pass and one eigendecomposition). For ``lateral="adaptive"`` it goes
        to the point between the learned weights and that fixed point that
        approximates the kernel best on a sample of the training rows: a
        fixed point away from the learned weights can be worse for the
        output, and learned weights still off in a few slow directions too
        (MNIST, power-cosine with alpha = 3, N = 400, seeds 1 and 2: 0.183
        and 0.106 learned, 0.098 and 0.099 settled, 0.089 and 0.086 at
        fractions 0.75 and 0.5).
        """
        error = None
        if self.lateral_ in ("equilibrium", "adaptive") and SETTLE_LATERAL:
            error = self._settle_lateral(X, device)
        self._check_output(X, device, error)
        self._warn_if_unconverged(result, math.ceil(X.shape[0] / self.batch_size))

    def _warn_if_unconverged(self, result, n_batches):
        """ConvergenceWarning when ``fit`` ends with its objective still moving.

        The mean minibatch objective over the last tenth of the steps (at
        least an epoch) is compared with the tenth before: a relative change
        above ``CONVERGED_RTOL`` that also exceeds three standard errors of
        the minibatch noise means the objective had not settled (early
        stopping ends a fit only once it has). See ``_solver.objective_drift``.
        """
        if result.converged:
            return
        window = max(n_batches, result.n_steps // 10)
        change, noise = objective_drift(result.objective, window)
        if change > CONVERGED_RTOL and change > 3 * noise:
            warnings.warn(
                f"{type(self).__name__} did not converge: its objective still changed by "
                f"{change:.2g} (relative) between the last two tenths of training, beyond "
                f"the tolerance {CONVERGED_RTOL:g} and the minibatch noise ({noise:.2g}). "
                "Increase max_iter (or learning_rate, if the objective falls steadily), or "
                "set max_no_improvement to stop on a plateau.",
                ConvergenceWarning,
                stacklevel=4,
            )

    def _finish_partial_fit(self, X, device):
        if len(X) >= OUTPUT_CHECK_MIN_ROWS:
            self._check_output(X, device)

    def _check_output(self, X, device, error=None):
        """Raise if the trained output is absurd: kernel error above ``ABSURD_ERROR``;
        warn if it is worse than an all-zero output's (error 1).

        ``error``: the output's kernel error on :func:`score_subsample` of
        ``X`` where the caller has measured it already (the end of an
        adaptive ``fit``); else it is measured here.

        A finite state whose output approximates the kernel far worse than an
        all-zero output is a divergence the sanity checks of the training
        loop missed (e.g. landmarks that grew, but less than a thousandfold),
        or a fit too short for a kernel matrix with little low-rank structure
        (:meth:`_absurd_output_advice` says which is likelier). The state is
        kept, so the message can be acted on. Between 1 and
        ``ABSURD_ERROR`` the network has learned nothing useful yet, which
        happens without any divergence where the kernel matrix has little
        low-rank structure: on 6,400 Gaussian rows in 400 dimensions, with
        the power-cosine kernel (degree 3, nearly a multiple of the identity)
        and N = 800, each landmark matches about one row, whose output the
        lateral fixed point amplifies (``|y|^2`` about 47 times ``f(x, x)``),
        and the error fell only from 14 to 4.3 over 1 to 10 passes.
        """
        if error is None:
            sample = score_subsample(X)
            Y = self._transform_validated(sample)
            error = kernel_approximation_error(sample, Y, kernel=self.kernel_, device=str(device))
        if not error <= ABSURD_ERROR:
            raise TrainingDivergedError(
                f"{type(self).__name__}'s output is absurd: its relative kernel error on the "
                f"training rows is {error:.3g}, far above that of an all-zero output (1). The "
                f"estimator keeps this state. {self._absurd_output_advice(X)}",
                step=self.n_steps_,
                reason="absurd output",
                result=TrainingResult(None, np.zeros(0), 0, self.n_steps_, 0, False),
            )
        if error > 1.0:
            warnings.warn(
                f"{type(self).__name__}'s output approximates the kernel worse than an all-zero "
                f"output: relative kernel error {error:.3g} on the training rows (zeros give 1). "
                "The kernel matrix may have too little low-rank structure for "
                f"n_components={self.n_components} (each neuron then responds to a few rows "
                "only), or training stopped early: compare with a Nystroem baseline, try "
                "fewer components or more passes (max_iter).",
                ConvergenceWarning,
                stacklevel=4,
            )

    def _absurd_output_advice(self, X):
        """The likelier cause of an absurd output from a state that passed every check.

        The kernel's scale, if :meth:`_kernel_advice` names it. Otherwise,
        landmarks within the data (row norms at most twice the largest
        input's) have not diverged: the fit was too short for its number of
        neurons on a kernel matrix with little low-rank structure, where each
        neuron responds to a few rows, whose output the lateral weights
        amplify, and more passes bring the error down (a power-cosine kernel
        of degree 3 on 2,000 Gaussian rows in 20 dimensions, N = 256: 11.5
        after one pass, 8.7 after ten, 0.62 after the default 150). Landmarks
        beyond that point to the rates.
        """
        advice = self._kernel_advice(X)
        if advice is not None:
            return advice
        landmarks = float(np.linalg.norm(self.components_, axis=1).max())
        if landmarks > 2 * math.sqrt(_row_norms_max(X)):
            return self._divergence_advice()
        return (
            f"Its landmarks lie within the data, so the likelier cause is a fit too short "
            f"(here {self.n_steps_} steps) for n_components={self.n_components} on a kernel "
            "matrix with little low-rank structure: each neuron then responds to a few rows, "
            "whose output the lateral weights amplify, and more passes bring it down. Train "
            "longer (max_iter) or use fewer components, and compare with a Nystroem baseline."
        )

    def _useless_output(self, X):
        """After a divergence: the kept state's kernel error, if above ``ABSURD_ERROR``."""
        sample = score_subsample(X, USELESS_CHECK_ROWS)
        try:
            Y = self._transform_validated(sample)
            error = kernel_approximation_error(sample, Y, kernel=self.kernel_)
        except (ValueError, OverflowError):
            return "its output cannot be computed"
        return None if error <= ABSURD_ERROR else f"output kernel error {error:.3g}"

    def _divergence_advice(self):
        return (
            "Try smaller learning rates (learning_rate and learning_rate_gain), a larger reg, "
            "or inputs rescaled so that the kernel values are of order 1."
        )

    def _settle_lateral(self, X, device):
        """Set ``L`` as :meth:`_finish_fit` says; the adaptive rule returns the
        output's kernel error on the sample it chose ``L`` by (else None)."""
        W, q, L_learned, stats = self._fitted_state(device, X.dtype)
        S = self._drive_moments_of(X, W, q, device)
        L, error = _gda.lateral_equilibrium(S, self.reg).to(W.dtype), None
        if self.lateral_ == "adaptive":
            L, error = self._best_lateral_between(X, W, q, L_learned, L, device)
        # learned and output weights both start from here (e.g. for partial_fit)
        stats = self._lateral_rule().restart(L, stats)
        self.__dict__.update(self._state_arrays(_gda.TrainingState(W, q, L, stats)))
        if self.lateral_ == "equilibrium":
            self._drive_moments = S.cpu().numpy()  # the rule's statistic "drive_moments"
        return error

    def _best_lateral_between(self, X, W, q, L_learned, L_settled, device):
        """The point of ``SETTLE_FRACTIONS`` on the segment from the learned
        lateral weights to their fixed point with the lowest kernel error on a
        sample of the training rows (every point is positive semi-definite),
        and that relative error (float64, as ``kernel_approximation_error``)."""
        sample = to_tensor(score_subsample(X), device)
        D = _gda.drive(q, self.kernel_(sample, W))
        rows64 = sample.to(torch.float64)
        K = self.kernel_(rows64, rows64)
        candidates = [(1 - t) * L_learned + t * L_settled for t in SETTLE_FRACTIONS]
        errors = (_gda.kernel_errors(K, D, candidates, self.reg) / K.norm()).cpu().numpy()
        if not np.isfinite(errors).any():
            return L_learned, None
        best = int(np.nanargmin(errors))
        return candidates[best], float(errors[best])

    def _drive_moments_of(self, X, W, q, device):
        """``<u u^T>`` over the rows of ``X`` at these synapses (float64, in blocks)."""
        S = torch.zeros(len(q), len(q), dtype=torch.float64, device=device)
        for start in range(0, X.shape[0], TRANSFORM_BLOCK):
            block = to_tensor(X[start : start + TRANSFORM_BLOCK], device)
            S += len(block) * _gda.second_moments(_gda.drive(q, self.kernel_(block, W)))
        return S / X.shape[0]

    def _diagnostic(self, X, previous, stream=False):
        """The duality gap of the lateral ascent on a sample of rows, every few checks.

        The gap ``max_L' F(L') - F(L)`` is measured on the drive moments of up
        to ``GAP_SAMPLE_ROWS`` rows at the current synapses: moments that did
        not set ``L`` (the equilibrium rule sets ``L`` from running moments of
        past steps), so it measures how far ``L`` is from its maximiser for
        the current landmarks, for every rule. It costs an ``N x N``
        eigendecomposition, so it runs at most every ``max(100, 2 N)`` steps
        (``GAP_EVERY_PER_NEURON``), and on the final state of ``fit``. A
        ``partial_fit`` call measures its final state only if at least
        ``CHECK_EVERY`` steps passed since the last value: a stream of single
        rows would otherwise pay an eigendecomposition per row (half moons,
        N = 16: 0.4 of the 1.7 ms of a one-row call).
        """
        rows = self._gap_rows(X, continued=previous is not None)
        device = resolve_device(self.device, fallback=True)
        sample = to_tensor(rows, device)
        reg, kernel = self.reg, self.kernel_
        every = max(CHECK_EVERY, GAP_EVERY_PER_NEURON * self.n_components)
        last = [previous["gap_steps_"][-1] if previous is not None and
                len(previous["gap_steps_"]) else -every]  # fmt: skip

        def diagnose(state, t, final):
            due = t - last[0] >= every
            if not (due or final and (not stream or t - last[0] >= CHECK_EVERY)):
                return None
            last[0] = t
            S = _gda.second_moments(_gda.drive(state.q, kernel(sample, state.W)))
            gap = _gda.lateral_gap(S, state.L, reg)
            return float(gap)

        return diagnose

    def _gap_rows(self, X, continued):
        """Rows the duality gap is measured on: a fixed sample of ``X`` (``fit``), or
        the most recent rows of the stream (``partial_fit``)."""
        limit = max(GAP_SAMPLE_ROWS, 4 * self.n_components)
        recent = getattr(self, "_recent_rows", None) if continued else None
        if recent is not None and recent.shape[1] == X.shape[1]:
            X = np.concatenate([recent.astype(X.dtype, copy=False), X])[-limit:]
        else:
            X = _gap_sample(X, limit)
        self._recent_rows = X
        return X

    def _inspector(self, X):
        """Sanity checks of a finite state: what blew up, or None."""
        data_norm = float(np.sqrt(_row_norms_max(X)))
        reg, learn_gains = self.reg, not self.kernel_.homogeneous

        def inspect(state):
            W, q, L, _ = state
            if float(torch.linalg.vector_norm(W, dim=1).max()) > BLOWUP * max(data_norm, 1e-30):
                return "the landmarks blew up (grew a thousand times beyond the inputs)"
            if learn_gains and bool((q <= 0).any()):
                return "a gain turned non-positive"
            # the training step's own test, in L's dtype: L + reg I has a
            # Cholesky factor (float32, N = 800, one thread: about 2 ms, against
            # 10 ms for torch's float64 factor of a copy)
            if not bool(_gda.shifted_cholesky(L, reg)[1]):
                return "the lateral weights lost positive definiteness"
            return None

        return inspect

    def _explain_divergence(self, error, X):
        """The divergence message, naming the likelier cause.

        The loop's message blames the learning rates; :meth:`_kernel_advice`
        replaces that advice when the kernel's values point to the inputs or
        to the kernel instead.
        """
        state = error.result.state if error.result is not None else None
        advice = self._kernel_advice(X, None if state is None else state.W)
        return str(error) if advice is None else f"{str(error).split(' Try ')[0]} {advice}"

    def _kernel_advice(self, X, W=None):
        """Advice on a divergence from the kernel's values on ``X`` (and ``W``), or None.

        Names a kernel whose values are not finite on these inputs (an
        overflow of the input scale for a built-in kernel; the callable, for
        a user's kernel) or far from order 1 (``KERNEL_SCALE_LARGE``): the
        steps grow with the kernel's scale, so inputs of the wrong scale
        diverge at rates tuned for kernel values of order 1. None when the
        kernel's values are unremarkable (the rates are the likelier cause).
        """
        sample = to_tensor(X[: min(len(X), 256)], resolve_device(self.device, fallback=True))
        try:
            diag = self.kernel_.diag(sample)
            values = diag if W is None else torch.cat(
                [diag, self.kernel_(sample, W.to(sample)).flatten()]
            )  # fmt: skip
        except Exception:  # noqa: BLE001 - the kernel itself failed: say so below
            diag = values = torch.tensor([float("nan")])
        largest = f"largest |x| = {np.abs(X).max():.3g}"
        if not bool(torch.isfinite(values).all()):
            if isinstance(self.kernel_, CallableKernel):
                return (
                    f"{self.kernel_._label()} returned non-finite values for these inputs "
                    f"({largest}, {X.dtype}): check it for overflow or invalid operations, or "
                    "rescale the inputs."
                )
            wider = ", or use float64" if X.dtype != np.float64 else ""
            return (
                f"The kernel's values are not finite in {X.dtype} for these inputs "
                f"({largest}): rescale the inputs{wider}."
            )
        scale = float(diag.abs().max()) if len(diag) else 0.0
        if scale > KERNEL_SCALE_LARGE:
            return (
                f"The likely cause is the input scale: the kernel's values f(x, x) reach "
                f"{scale:.3g} on these inputs ({largest}), and the steps grow with them. "
                "Rescale the inputs so that the kernel's values are of order 1 (e.g. with "
                "StandardScaler), or use much smaller learning rates."
            )
        return None

    def _prepare_response(self, state):
        # the output's lateral weights, as published (for the adaptive rule the
        # running average of the learned ones in state.L)
        L = torch.as_tensor(self.lateral_weights_, dtype=state.L.dtype, device=state.L.device)
        operator = _gda.response_operator(L, self.reg) if self.inference == "solve" else None
        return _gda.NetworkState(state.W, state.q, L), operator

    def _respond(self, state, X_block):
        state, operator = state
        return _gda.transform_batch(
            state, X_block, kernel=self.kernel_, reg=self.reg, inference=self.inference,
            operator=operator,
        )  # fmt: skip

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
            Responses of the output neurons. A torch tensor on the input's
            device under array API dispatch; a lazy Dask array for a Dask
            array (see :ref:`scale_out`).
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

    @thread_policy(lambda estimator, X: estimator.n_components)
    def score(self, X, y=None):
        """Minus the relative kernel approximation error of the output on ``X``.

        ``-||K - Y Y^T||_F / ||K||_F`` (higher is better, 0 is exact), on a
        subsample of at most 2000 rows drawn with a fixed seed when ``X`` is
        larger, so that ``GridSearchCV`` works without a scoring argument.

        ``K`` is the model's **own** kernel (``kernel_``). Models with
        different kernel parameters are therefore graded against different
        targets, and a search over ``gamma`` with this score picks the
        smoothest kernel of the grid, which is the easiest to approximate.
        To compare them, score against one fixed kernel: pass
        ``scoring=make_kernel_scorer(...)``
        (:func:`~sklearn_ksm.metrics.make_kernel_scorer`).

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
        X = score_subsample(validate_data(self, host_array(X), dtype=FLOAT_DTYPES, reset=False))
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
