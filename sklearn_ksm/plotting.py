"""Display objects for the paper's figures, in scikit-learn's ``Display`` style.

Each Display stores the data of one figure panel; ``from_estimator`` (or
``from_kernel``, ``from_responses``...) computes that data and calls
``plot(ax=...)``, which draws it and sets ``ax_``, ``figure_`` and the artists.
matplotlib is an optional dependency (``pip install sklearn-ksm[examples]``),
imported only when something is drawn.
"""

import math

import numpy as np
from scipy.signal import lfilter
from sklearn.utils.validation import check_is_fitted

from .analysis import (
    PAPER_WEIGHT_DECAYS,
    linear_probe_scores,
    linearized_responses,
    remove_sign_degeneracy,
)
from .metrics import gram_spectrum, kernel_spectrum

__all__ = [
    "ResponseHistogramDisplay",
    "ImageGridDisplay",
    "SpectrumDisplay",
    "ProbeAccuracyDisplay",
    "tile_images",
    "plot_convergence",
]

# Smoothing window (steps) of plot_convergence when the epoch length is unknown.
DEFAULT_SMOOTHING_STEPS = 100


def _axes(ax, caller):
    """``(ax, figure)``: the given axes, or new ones (importing matplotlib lazily)."""
    if ax is None:
        try:
            import matplotlib.pyplot as plt
        except ImportError as exc:  # pragma: no cover - matplotlib is installed in tests
            raise ImportError(
                f"{caller} needs matplotlib: pip install 'sklearn-ksm[examples]'."
            ) from exc
        _, ax = plt.subplots()
    return ax, ax.figure


def tile_images(images, *, n_cols=None, pad=1, normalize=True):
    """Arrange images in a grid, one mosaic array (NaN between tiles).

    Parameters
    ----------
    images : array-like of shape (n_images, height, width)
        The images.
    n_cols : int, default=None
        Tiles per row; ``ceil(sqrt(n_images))`` if None.
    pad : int, default=1
        NaN pixels between neighbouring tiles.
    normalize : bool, default=True
        Divide each image by its largest absolute value (so it spans at most
        [-1, 1]; all-zero images stay 0).

    Returns
    -------
    mosaic : ndarray of shape (n_rows * (height + pad) - pad, n_cols * (width + pad) - pad)
        Unused cells of the last row are NaN.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ksm.plotting import tile_images
    >>> tile_images(np.ones((3, 1, 2)), n_cols=2, normalize=False)
    array([[ 1.,  1., nan,  1.,  1.],
           [nan, nan, nan, nan, nan],
           [ 1.,  1., nan, nan, nan]])
    """
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 3:
        raise ValueError(f"images must be 3-D (n_images, height, width), got {images.shape}.")
    n, height, width = images.shape
    n_cols = math.ceil(math.sqrt(n)) if n_cols is None else n_cols
    n_rows = math.ceil(n / n_cols)
    if normalize:
        peak = np.abs(images).reshape(n, -1).max(axis=1)
        images = images / np.where(peak > 0, peak, 1.0)[:, None, None]
    mosaic = np.full((n_rows * (height + pad) - pad, n_cols * (width + pad) - pad), np.nan)
    for index, image in enumerate(images):
        top, left = (index // n_cols) * (height + pad), (index % n_cols) * (width + pad)
        mosaic[top : top + height, left : left + width] = image
    return mosaic


def _image_shape(n_features, image_shape):
    if image_shape is not None:
        return tuple(image_shape)
    side = math.isqrt(n_features)
    if side * side != n_features:
        raise ValueError(f"{n_features} features are not a square image; give image_shape.")
    return side, side


class ResponseHistogramDisplay:
    """Histogram of the neurons' responses, pooled over neurons and samples (Fig. 6a).

    Parameters
    ----------
    responses : ndarray of shape (n_samples, n_components)
        Responses, usually after :func:`~sklearn_ksm.analysis.remove_sign_degeneracy`.
    name : str, default=None
        Legend label.

    Attributes
    ----------
    counts_ : ndarray of shape (n_bins,)
        Histogram values (densities if ``density=True``).
    bin_edges_ : ndarray of shape (n_bins + 1,)
        Bin edges.
    patches_ : list of matplotlib patches
        The drawn histogram.
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn_ksm.plotting import ResponseHistogramDisplay
    >>> Y = np.random.RandomState(0).standard_exponential(size=(200, 5))
    >>> display = ResponseHistogramDisplay.from_responses(Y, bins=20, name="exponential")
    >>> display.counts_.shape
    (20,)
    """

    def __init__(self, responses, *, name=None):
        self.responses = responses
        self.name = name

    def plot(self, ax=None, *, name=None, bins=100, density=True, log=True, **kwargs):
        """Draw the histogram (a step line, so several can share an axes).

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; a new figure if None.
        name : str, default=None
            Legend label (overrides the one given at construction).
        bins : int or array-like, default=100
            As for :func:`numpy.histogram`; give common edges to compare displays.
        density : bool, default=True
            Normalise to a probability density.
        log : bool, default=True
            Logarithmic count axis (shows the heavy tails).
        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.hist`.

        Returns
        -------
        display : ResponseHistogramDisplay
        """
        ax, figure = _axes(ax, "ResponseHistogramDisplay")
        name = self.name if name is None else name
        counts, edges, patches = ax.hist(
            np.ravel(self.responses), bins=bins, density=density, histtype="step", label=name,
            **kwargs,
        )  # fmt: skip
        if log:
            ax.set_yscale("log")
        ax.set_xlabel("response $y_i$ (sign of $\\langle y_i \\rangle$ removed)")
        ax.set_ylabel("density" if density else "count")
        if name is not None:
            ax.legend()
        self.counts_, self.bin_edges_, self.patches_ = counts, edges, patches
        self.ax_, self.figure_ = ax, figure
        return self

    @classmethod
    def from_responses(cls, Y, *, remove_sign=True, name=None, ax=None, **kwargs):
        """Histogram of given responses.

        Parameters
        ----------
        Y : array-like of shape (n_samples, n_components)
            Responses.
        remove_sign : bool, default=True
            First flip each neuron to a non-negative mean response.
        name : str, default=None
            Legend label.
        ax : matplotlib Axes, default=None
            Where to draw.
        **kwargs : dict
            Passed to :meth:`plot`.

        Returns
        -------
        display : ResponseHistogramDisplay
        """
        if remove_sign:
            Y, _ = remove_sign_degeneracy(Y)
        return cls(np.asarray(Y), name=name).plot(ax=ax, **kwargs)

    @classmethod
    def from_estimator(cls, estimator, X, *, remove_sign=True, name=None, ax=None, **kwargs):
        """Histogram of a fitted network's responses ``estimator.transform(X)``.

        Parameters
        ----------
        estimator : fitted transformer
            E.g. a fitted :class:`~sklearn_ksm.HebbianKernelSimilarityMatching`.
        X : array-like of shape (n_samples, n_features)
            Inputs.
        remove_sign : bool, default=True
            First flip each neuron to a non-negative mean response.
        name : str, default=None
            Legend label.
        ax : matplotlib Axes, default=None
            Where to draw.
        **kwargs : dict
            Passed to :meth:`plot`.

        Returns
        -------
        display : ResponseHistogramDisplay
        """
        return cls.from_responses(
            estimator.transform(X), remove_sign=remove_sign, name=name, ax=ax, **kwargs
        )


class ImageGridDisplay:
    """Rows of a matrix shown as a grid of small images (Figs. 8 and 9).

    Each image is scaled to its own largest absolute value and drawn with a
    diverging colour map centred on 0.

    Parameters
    ----------
    images : ndarray of shape (n_images, n_pixels)
        One flattened image per row (e.g. learned features ``W``).
    image_shape : tuple of int, default=None
        ``(height, width)``; square if None.
    name : str, default=None
        Title of the axes.

    Attributes
    ----------
    image_ : matplotlib AxesImage
        The mosaic (see :func:`tile_images`).
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn_ksm.plotting import ImageGridDisplay
    >>> display = ImageGridDisplay(np.eye(4)).plot(n_cols=4)
    >>> display.image_.get_array().shape
    (2, 11)
    """

    def __init__(self, images, *, image_shape=None, name=None):
        self.images = images
        self.image_shape = image_shape
        self.name = name

    def plot(self, ax=None, *, n_cols=None, pad=1, cmap="RdBu_r", name=None, **kwargs):
        """Draw the grid.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; a new figure if None.
        n_cols : int, default=None
            Images per row (about square if None).
        pad : int, default=1
            Blank pixels between images.
        cmap : str or Colormap, default="RdBu_r"
            Diverging colour map (limits -1 and 1 after per-image scaling).
        name : str, default=None
            Title (overrides the one given at construction).
        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.imshow`.

        Returns
        -------
        display : ImageGridDisplay
        """
        ax, figure = _axes(ax, "ImageGridDisplay")
        images = np.asarray(self.images)
        shape = _image_shape(images.shape[1], self.image_shape)
        mosaic = tile_images(images.reshape(-1, *shape), n_cols=n_cols, pad=pad)
        kwargs = {"interpolation": "nearest", "vmin": -1, "vmax": 1, **kwargs}
        self.image_ = ax.imshow(mosaic, cmap=cmap, **kwargs)
        ax.set_axis_off()
        name = self.name if name is None else name
        if name is not None:
            ax.set_title(name)
        self.ax_, self.figure_ = ax, figure
        return self

    @classmethod
    def from_estimator(
        cls, estimator, X=None, *, kind="components", n_images=36, indices=None,
        remove_sign=True, reg=0.1, image_shape=None, name=None, ax=None, **kwargs,
    ):  # fmt: skip
        """Learned features or linearized responses of a fitted network as images.

        Parameters
        ----------
        estimator : fitted estimator with ``components_``
            E.g. a fitted :class:`~sklearn_ksm.HebbianKernelSimilarityMatching`.
        X : array-like of shape (n_samples, n_features), default=None
            Inputs; needed for ``kind="linearized"`` and to remove the sign
            degeneracy.
        kind : {"components", "linearized"}, default="components"
            ``"components"``: the feedforward weights ``w_i`` (Fig. 8);
            ``"linearized"``: ``s_i = (reg I + <x x^T>)^{-1} <y_i x>`` (Fig. 9,
            see :func:`~sklearn_ksm.analysis.linearized_responses`).
        n_images : int, default=36
            Show the first ``n_images`` neurons (if ``indices`` is None).
        indices : array-like of int, default=None
            The neurons to show.
        remove_sign : bool, default=True
            With ``X``, orient each image: a linearized response by the sign
            of the neuron's mean response ``<y_i>`` (the paper's convention,
            so that it shows what excites the neuron); a feature ``w_i`` by
            the sign of its mean projection ``<w_i . x>`` (for even ``alpha``
            the sign of ``w_i`` is arbitrary and unrelated to ``y_i``).
        reg : float, default=0.1
            Ridge of the linearized responses.
        image_shape : tuple of int, default=None
            ``(height, width)``; square if None.
        name : str, default=None
            Title.
        ax : matplotlib Axes, default=None
            Where to draw.
        **kwargs : dict
            Passed to :meth:`plot`.

        Returns
        -------
        display : ImageGridDisplay
        """
        if kind not in ("components", "linearized"):
            raise ValueError(f"kind must be 'components' or 'linearized', got {kind!r}.")
        if kind == "linearized" and X is None:
            raise ValueError("kind='linearized' needs the inputs X.")
        images = np.asarray(estimator.components_, dtype=np.float64)
        if kind == "linearized":
            Y = estimator.transform(X)
            images = linearized_responses(X, Y, reg=reg)
            if remove_sign:
                images = images * np.where(Y.mean(axis=0) < 0, -1.0, 1.0)[:, None]
        elif X is not None and remove_sign:
            projection = np.asarray(X, dtype=np.float64) @ images.T
            images = images * np.where(projection.mean(axis=0) < 0, -1.0, 1.0)[:, None]
        if indices is None:
            indices = np.arange(min(n_images, len(images)))
        return cls(images[np.asarray(indices)], image_shape=image_shape, name=name).plot(
            ax=ax, **kwargs
        )


class SpectrumDisplay:
    """Eigenvalue spectrum of a similarity matrix, normalised by the largest (Fig. 10).

    Parameters
    ----------
    eigenvalues : ndarray of shape (n_eigenvalues,)
        Eigenvalues (any order; drawn largest first).
    name : str, default=None
        Legend label.

    Attributes
    ----------
    line_ : matplotlib Line2D
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn_ksm.plotting import SpectrumDisplay
    >>> display = SpectrumDisplay(np.array([1.0, 4.0, 2.0]), name="K").plot()
    >>> display.line_.get_ydata().tolist()
    [1.0, 0.5, 0.25]
    """

    def __init__(self, eigenvalues, *, name=None):
        self.eigenvalues = eigenvalues
        self.name = name

    def plot(self, ax=None, *, name=None, normalize=True, floor=1e-12, xscale="log", **kwargs):
        """Draw the eigenvalues, largest first, on a logarithmic axis.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; a new figure if None.
        name : str, default=None
            Legend label (overrides the one given at construction).
        normalize : bool, default=True
            Divide by the largest eigenvalue.
        floor : float, default=1e-12
            Eigenvalues below ``floor`` times the largest (rounding noise, or
            exact zeros beyond the rank) are not drawn.
        xscale : {"log", "linear"}, default="log"
            Scale of the index axis.
        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.plot`.

        Returns
        -------
        display : SpectrumDisplay
        """
        ax, figure = _axes(ax, "SpectrumDisplay")
        values = np.sort(np.asarray(self.eigenvalues, dtype=np.float64))[::-1]
        top = values[0]
        values = np.where(values > floor * top, values, np.nan)
        if normalize:
            values = values / top
        name = self.name if name is None else name
        (self.line_,) = ax.plot(np.arange(1, len(values) + 1), values, label=name, **kwargs)
        ax.set_yscale("log")
        ax.set_xscale(xscale)
        ax.set_xlabel("eigenvalue index")
        ax.set_ylabel("eigenvalue / largest" if normalize else "eigenvalue")
        if name is not None:
            ax.legend()
        self.ax_, self.figure_ = ax, figure
        return self

    @classmethod
    def from_kernel(
        cls, X, *, kernel="rbf", gamma=None, degree=3, coef0=1.0, kernel_params=None,
        n_eigenvalues=None, random_state=None, name=None, ax=None, **kwargs,
    ):  # fmt: skip
        """Spectrum of the (uncentred) kernel matrix ``K = f(X, X)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        kernel, gamma, degree, coef0, kernel_params
            The kernel, as for :func:`~sklearn_ksm.metrics.kernel_spectrum`
            (a fitted network's ``kernel_`` works too).
        n_eigenvalues : int, default=None
            Only the largest ones (randomized solver); all if None.
        random_state : int, RandomState instance or None, default=None
            Seeds the randomized solver.
        name : str, default=None
            Legend label.
        ax : matplotlib Axes, default=None
            Where to draw.
        **kwargs : dict
            Passed to :meth:`plot`.

        Returns
        -------
        display : SpectrumDisplay
        """
        eigenvalues = kernel_spectrum(
            X, kernel=kernel, gamma=gamma, degree=degree, coef0=coef0,
            kernel_params=kernel_params, n_eigenvalues=n_eigenvalues, random_state=random_state,
        )  # fmt: skip
        return cls(eigenvalues, name=name).plot(ax=ax, **kwargs)

    @classmethod
    def from_estimator(cls, estimator, X, *, name=None, ax=None, **kwargs):
        """Spectrum of the output similarity matrix ``Y Y^T``, ``Y = estimator.transform(X)``.

        Parameters
        ----------
        estimator : fitted transformer
            E.g. a fitted :class:`~sklearn_ksm.HebbianKernelSimilarityMatching`.
        X : array-like of shape (n_samples, n_features)
            Inputs.
        name : str, default=None
            Legend label.
        ax : matplotlib Axes, default=None
            Where to draw.
        **kwargs : dict
            Passed to :meth:`plot`.

        Returns
        -------
        display : SpectrumDisplay
        """
        return cls(gram_spectrum(estimator.transform(X)), name=name).plot(ax=ax, **kwargs)


class ProbeAccuracyDisplay:
    """Accuracy of a linear probe vs the number of labels per class (Fig. 6b,c).

    Draws the mean over seeds with a band of one standard deviation.

    Parameters
    ----------
    labels_per_class : ndarray of shape (n_k,)
        Numbers of labelled samples per class.
    test_scores : ndarray of shape (n_k, n_seeds)
        Test accuracies.
    train_scores : ndarray of shape (n_k, n_seeds), default=None
        Training accuracies.
    name : str, default=None
        Legend label.

    Attributes
    ----------
    line_ : matplotlib Line2D
        The mean accuracy.
    fill_between_ : matplotlib PolyCollection
        Mean +- one standard deviation over seeds.
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    See Also
    --------
    sklearn_ksm.analysis.linear_probe_scores : Computes the scores.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn_ksm.plotting import ProbeAccuracyDisplay
    >>> display = ProbeAccuracyDisplay([1, 10], np.array([[0.5, 0.7], [0.9, 0.9]]),
    ...                                name="pixels").plot()
    >>> display.line_.get_ydata().round(2).tolist()
    [0.6, 0.9]
    """

    def __init__(self, labels_per_class, test_scores, train_scores=None, *, name=None):
        self.labels_per_class = labels_per_class
        self.test_scores = test_scores
        self.train_scores = train_scores
        self.name = name

    def plot(self, ax=None, *, score_type="test", name=None, **kwargs):
        """Draw the mean accuracy vs labels per class (logarithmic axis).

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; a new figure if None.
        score_type : {"test", "train"}, default="test"
            Which accuracies to draw.
        name : str, default=None
            Legend label (overrides the one given at construction).
        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.plot`.

        Returns
        -------
        display : ProbeAccuracyDisplay
        """
        if score_type not in ("test", "train"):
            raise ValueError(f"score_type must be 'test' or 'train', got {score_type!r}.")
        scores = self.test_scores if score_type == "test" else self.train_scores
        if scores is None:
            raise ValueError("This display has no train scores.")
        ax, figure = _axes(ax, "ProbeAccuracyDisplay")
        scores = np.asarray(scores, dtype=np.float64)
        k = np.asarray(self.labels_per_class)
        mean, std = scores.mean(axis=1), scores.std(axis=1)
        name = self.name if name is None else name
        (self.line_,) = ax.plot(k, mean, marker="o", label=name, **kwargs)
        self.fill_between_ = ax.fill_between(
            k, mean - std, mean + std, alpha=0.2, color=self.line_.get_color()
        )
        ax.set_xscale("log")
        ax.set_xticks(k, labels=[str(v) for v in k])
        ax.minorticks_off()
        ax.set_xlabel("labels per class")
        ax.set_ylabel(f"{score_type} accuracy")
        if name is not None:
            ax.legend()
        self.ax_, self.figure_ = ax, figure
        return self

    @classmethod
    def from_estimator(
        cls, transformer, X, y, X_test, y_test, *, labels_per_class=(1, 3, 10, 30, 100, 300),
        weight_decays=PAPER_WEIGHT_DECAYS, n_seeds=5, classifier=None, random_state=None,
        n_jobs=None, score_type="test", name=None, ax=None, **kwargs,
    ):  # fmt: skip
        """Run :func:`~sklearn_ksm.analysis.linear_probe_scores` and draw the result.

        Parameters
        ----------
        transformer : fitted transformer or None
            The frozen representation; None probes the raw inputs.
        X, y : array-like
            Pool of labelled training samples.
        X_test, y_test : array-like
            Test samples.
        labels_per_class, weight_decays, n_seeds, classifier, random_state, n_jobs
            As for :func:`~sklearn_ksm.analysis.linear_probe_scores`.
        score_type : {"test", "train"}, default="test"
            Which accuracies to draw.
        name : str, default=None
            Legend label.
        ax : matplotlib Axes, default=None
            Where to draw.
        **kwargs : dict
            Passed to :meth:`plot`.

        Returns
        -------
        display : ProbeAccuracyDisplay
        """
        result = linear_probe_scores(
            transformer, X, y, X_test, y_test, labels_per_class=labels_per_class,
            weight_decays=weight_decays, n_seeds=n_seeds, classifier=classifier,
            random_state=random_state, n_jobs=n_jobs,
        )  # fmt: skip
        display = cls(result.labels_per_class, result.test_scores, result.train_scores, name=name)
        return display.plot(ax=ax, score_type=score_type, **kwargs)


def _smoothing_window(estimator):
    """About one epoch, ``ceil(n_samples / batch_size)`` steps, when the estimator tells."""
    n_iter = getattr(estimator, "n_iter_", 0)
    seen = getattr(estimator, "n_samples_seen_", 0)
    batch_size = getattr(estimator, "batch_size", None)
    if not (n_iter and seen and isinstance(batch_size, int) and batch_size > 0):
        return DEFAULT_SMOOTHING_STEPS
    # n_samples_seen_ counts every pass of the last fit, so one pass is seen / n_iter.
    return max(1, math.ceil(seen / n_iter / batch_size))


def _exponential_average(values, window):
    """Exponentially weighted average with weight ``1 / window``, started at ``values[0]``.

    The same smoothing as the estimators' early stopping (and scikit-learn's
    ``MiniBatchDictionaryLearning``): ``s_t = (1 - a) s_{t-1} + a v_t``.
    """
    alpha = 1.0 / window
    # lfilter's initial condition (1 - a) v_0 makes s_0 = v_0 (no bias towards 0).
    smoothed, _ = lfilter([alpha], [1.0, alpha - 1.0], values, zi=[(1.0 - alpha) * values[0]])
    return smoothed


def _convergence_histories(estimator):
    """``(objective, gap, gap_steps)`` of a fitted estimator, as float/int arrays."""
    check_is_fitted(estimator)
    names = ("objective_history_", "duality_gap_history_", "gap_steps_")
    missing = [name for name in names if not hasattr(estimator, name)]
    if missing:
        raise TypeError(
            f"plot_convergence needs an estimator that records its training histories; "
            f"{type(estimator).__name__} has no {', '.join(missing)}."
        )
    objective = np.asarray(estimator.objective_history_, dtype=np.float64)
    gap = np.asarray(estimator.duality_gap_history_, dtype=np.float64)
    gap_steps = np.asarray(estimator.gap_steps_)
    if objective.size == 0:
        raise ValueError("The estimator has run no training step: nothing to plot.")
    if gap.shape != gap_steps.shape:
        raise ValueError(
            f"duality_gap_history_ has shape {gap.shape} but gap_steps_ has {gap_steps.shape}."
        )
    return objective, gap, gap_steps


def plot_convergence(estimator, *, ax=None, smooth=None):
    """Training curves of a fitted network: objective per step and duality gap.

    The minibatch objective ``objective_history_`` is drawn against the step
    (light: every step; dark: its exponentially weighted average) on ``ax``;
    the lateral duality gap ``duality_gap_history_`` is drawn with markers at
    the steps ``gap_steps_`` where it was measured, on a logarithmic axis to
    the right (``ax.twinx()``); checks where the gap is exactly 0 are left
    out (and counted in the legend). Steps are counted from 1 over the
    estimator's lifetime, so ``partial_fit`` calls after ``fit`` continue the
    curves.

    Parameters
    ----------
    estimator : fitted estimator
        E.g. a fitted :class:`~sklearn_ksm.HebbianKernelSimilarityMatching`,
        with the attributes ``objective_history_``, ``duality_gap_history_``
        and ``gap_steps_``.
    ax : matplotlib Axes, default=None
        Where to draw the objective (the gap goes to its twin); a new figure
        if None.
    smooth : int, default=None
        Window, in steps, of the exponentially weighted average (weight
        ``1 / smooth`` on the newest step; 1 draws the raw values again).
        None: about one epoch, ``ceil(n_samples / batch_size)`` steps, derived
        from ``n_samples_seen_``, ``n_iter_`` and ``batch_size``; 100 steps
        where those are missing.

    Returns
    -------
    ax : matplotlib Axes
        The axes of the objective (its figure is ``ax.figure``).
    gap_ax : matplotlib Axes
        The twin axes of the duality gap (logarithmic scale).

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If the estimator is not fitted (a ``ValueError``).
    TypeError
        If the estimator does not record the histories.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn_ksm import HebbianKernelSimilarityMatching
    >>> from sklearn_ksm.datasets import make_half_moons
    >>> from sklearn_ksm.plotting import plot_convergence
    >>> X, _ = make_half_moons(100, random_state=0)
    >>> ksm = HebbianKernelSimilarityMatching(4, gamma=5.0, max_iter=2, random_state=0).fit(X)
    >>> ax, gap_ax = plot_convergence(ksm)
    >>> len(ax.get_lines()[0].get_ydata()) == ksm.n_steps_, gap_ax.get_yscale()
    (True, 'log')
    """
    objective, gap, gap_steps = _convergence_histories(estimator)
    window = _smoothing_window(estimator) if smooth is None else smooth
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise ValueError(f"smooth must be a positive integer (steps) or None, got {smooth!r}.")
    ax, _ = _axes(ax, "plot_convergence")
    # the steps of the values: long histories are thinned (objective_steps_)
    steps = getattr(estimator, "objective_steps_", None)
    steps = np.arange(1, objective.size + 1) if steps is None else np.asarray(steps)
    # The raw objective is noisy (one minibatch per value): light, under its average.
    ax.plot(steps, objective, color="C0", alpha=0.25, lw=0.8, label="objective")
    ax.plot(
        steps, _exponential_average(objective, int(window)), color="C0", lw=1.8,
        label=f"objective, smoothed ({int(window)} steps)",
    )  # fmt: skip
    ax.set_xlabel("training step")
    ax.set_ylabel("minibatch objective", color="C0")
    gap_ax = ax.twinx()
    # A zero gap (L exactly at its optimum) has no place on a log axis: NaN, and said so.
    zeros = int(np.sum(gap <= 0))
    label = "duality gap" + (f" ({zeros} of {gap.size} checks 0, not drawn)" if zeros else "")
    drawn = np.where(gap > 0, gap, np.nan)
    gap_ax.plot(gap_steps, drawn, color="C3", marker="o", ms=3, lw=1, label=label)
    gap_ax.set_yscale("log")
    gap_ax.set_ylabel("lateral duality gap", color="C3")
    # One legend for both axes; the twin is drawn on top, so the legend goes there.
    handles = ax.get_lines() + gap_ax.get_lines()
    gap_ax.legend(handles, [h.get_label() for h in handles], loc="upper right")
    return ax, gap_ax
