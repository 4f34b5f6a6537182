"""Tests of sklearn_ksm.analysis (against oracles) and sklearn_ksm.plotting (Agg backend)."""

import numpy as np
import pytest
from scipy import optimize
from sklearn.base import BaseEstimator
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression

import sklearn_ksm._base as base_module
from sklearn_ksm import HebbianKernelSimilarityMatching
from sklearn_ksm.analysis import (
    linear_probe_scores,
    linearized_responses,
    remove_sign_degeneracy,
    response_kurtosis,
    response_sparsity,
    sample_per_class,
    template_similarity,
    weight_decay_to_C,
)

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from sklearn_ksm.datasets import make_half_moons  # noqa: E402
from sklearn_ksm.metrics import gram_spectrum, kernel_spectrum  # noqa: E402
from sklearn_ksm.plotting import (  # noqa: E402
    ImageGridDisplay,
    ProbeAccuracyDisplay,
    ResponseHistogramDisplay,
    SpectrumDisplay,
    plot_convergence,
    tile_images,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def digits():
    """8x8 digits (64 square-image features) and a fitted PCA as a stand-in network."""
    X, y = load_digits(return_X_y=True)
    pca = PCA(n_components=6, random_state=0).fit(X)
    return X, y, pca


# -------------------------------------------------------------- analysis


def test_remove_sign_degeneracy():
    rng = np.random.RandomState(0)
    Y = rng.normal(size=(50, 6)) + np.array([1, -1, 2, -2, 0.5, -0.5])
    W = rng.normal(size=(6, 3))
    Y_signed, W_signed = remove_sign_degeneracy(Y, W)
    signs = np.sign(Y.mean(axis=0))
    np.testing.assert_array_equal(Y_signed, Y * signs)
    np.testing.assert_array_equal(W_signed, W * signs[:, None])
    assert np.all(Y_signed.mean(axis=0) >= 0)
    # The flip is a symmetry of similarity matching: Y Y^T is unchanged.
    np.testing.assert_allclose(Y_signed @ Y_signed.T, Y @ Y.T)
    assert remove_sign_degeneracy(Y)[1] is None
    with pytest.raises(ValueError, match="neurons"):
        remove_sign_degeneracy(Y, W[:5])


def test_response_kurtosis_oracle():
    rng = np.random.RandomState(0)
    Y = np.column_stack([rng.normal(size=20000), rng.laplace(size=20000), rng.rand(20000)])
    centred = Y - Y.mean(axis=0)
    oracle = np.mean(centred**4, axis=0) / np.mean(centred**2, axis=0) ** 2 - 3
    np.testing.assert_allclose(response_kurtosis(Y), oracle, rtol=1e-10)
    # Gaussian 0, Laplace 3, uniform -1.2 (within sampling error).
    np.testing.assert_allclose(response_kurtosis(Y), [0, 3, -1.2], atol=0.5)


def test_response_sparsity_oracle():
    rng = np.random.RandomState(1)
    Y = rng.standard_cauchy(size=(300, 4))
    oracle = [
        sum(abs(v) < 0.2 * max(abs(u) for u in Y[:, i]) for v in Y[:, i]) / len(Y)
        for i in range(Y.shape[1])
    ]
    np.testing.assert_allclose(response_sparsity(Y, threshold=0.2), oracle)
    assert response_sparsity(np.ones((5, 2))).tolist() == [0.0, 0.0]


def test_linearized_responses_oracle():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(400, 5)) @ rng.normal(size=(5, 5))
    Y = np.tanh(X @ rng.normal(size=(5, 3)))
    n = len(X)
    S_oracle = (np.linalg.inv(0.1 * np.eye(5) + X.T @ X / n) @ (X.T @ Y / n)).T
    np.testing.assert_allclose(linearized_responses(X, Y), S_oracle, rtol=1e-10)
    # A linear network is recovered exactly without the ridge.
    A = rng.normal(size=(3, 5))
    np.testing.assert_allclose(linearized_responses(X, X @ A.T, reg=0.0), A, atol=1e-10)
    with pytest.raises(ValueError, match="same number of rows"):
        linearized_responses(X, Y[:-1])


def test_template_similarity_oracle():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(37, 6))
    W = np.vstack([rng.normal(size=(4, 6)), -2.5 * X[3], np.zeros(6)])
    oracle = [
        max(abs(w @ x) / (np.linalg.norm(w) * np.linalg.norm(x)) for x in X) if w.any() else 0
        for w in W
    ]
    np.testing.assert_allclose(template_similarity(W, X, block_size=5), oracle, rtol=1e-12)
    assert template_similarity(W, X)[4] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="features"):
        template_similarity(W[:, :3], X)


def test_sample_per_class():
    y = np.repeat([3, 5, 7], [10, 4, 6])
    rows = sample_per_class(y, 4, random_state=0)
    assert len(np.unique(rows)) == 12
    np.testing.assert_array_equal(np.unique(y[rows], return_counts=True)[1], [4, 4, 4])
    np.testing.assert_array_equal(rows, sample_per_class(y, 4, random_state=0))
    assert not np.array_equal(rows, sample_per_class(y, 4, random_state=1))
    with pytest.raises(ValueError, match="Class 5"):
        sample_per_class(y, 5)


def test_weight_decay_to_C_matches_mean_loss_objective():
    """C = 1 / (lam n) minimises mean logistic loss + lam/2 |w|^2 (PyTorch's weight decay)."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 3))
    y = (X @ [1.0, -2.0, 0.5] + 0.5 * rng.normal(size=60) > 0).astype(int)
    lam = 0.05
    signs = 2 * y - 1

    def objective(w):
        return np.mean(np.logaddexp(0, -signs * (X @ w))) + lam / 2 * w @ w

    oracle = optimize.minimize(objective, np.zeros(3), method="BFGS", tol=1e-12).x
    clf = LogisticRegression(C=weight_decay_to_C(lam, len(X)), fit_intercept=False, tol=1e-10)
    np.testing.assert_allclose(clf.fit(X, y).coef_.ravel(), oracle, rtol=1e-5)
    np.testing.assert_allclose(weight_decay_to_C([1e-2, 1.0], 10), [10.0, 0.1])


def test_linear_probe_uses_frozen_transformer(digits):
    """A frozen transformer gives the scores of its precomputed output, and is not refitted."""
    X, y, pca = digits
    X_pool, y_pool, X_test, y_test = X[:1000], y[:1000], X[1000:1300], y[1000:1300]
    components = pca.components_.copy()
    kwargs = dict(labels_per_class=[2, 5], weight_decays=[1e-2, 1.0], n_seeds=2, random_state=0)
    frozen = linear_probe_scores(pca, X_pool, y_pool, X_test, y_test, **kwargs)
    precomputed = linear_probe_scores(
        None, pca.transform(X_pool), y_pool, pca.transform(X_test), y_test, **kwargs
    )
    for key in ("test_scores", "train_scores", "weight_decay"):
        np.testing.assert_allclose(frozen[key], precomputed[key])
    np.testing.assert_array_equal(pca.components_, components)
    assert frozen.test_scores.shape == (2, 2)
    np.testing.assert_array_equal(frozen.labels_per_class, [2, 5])


def test_linear_probe_selects_best_test_accuracy(digits):
    """With every pool sample labelled, the score is the best test accuracy over the grid."""
    X, y, _ = digits
    pool = np.concatenate([np.flatnonzero(y == c)[:20] for c in range(3)])
    test = np.concatenate([np.flatnonzero(y == c)[20:70] for c in range(3)])
    X_pool, y_pool, X_test, y_test = X[pool], y[pool], X[test], y[test]
    rows = np.sort(sample_per_class(y_pool, 20, random_state=0))
    np.testing.assert_array_equal(rows, np.arange(60))  # all of them, whatever the draw
    decays = [1e-3, 1e-1, 10.0]
    oracle = []
    for lam in decays:
        clf = LogisticRegression(C=weight_decay_to_C(lam, 60), max_iter=1000)
        clf.fit(X_pool, y_pool)
        oracle.append((clf.score(X_test, y_test), clf.score(X_pool, y_pool)))
    best = int(np.argmax([score for score, _ in oracle]))
    result = linear_probe_scores(
        None, X_pool, y_pool, X_test, y_test, labels_per_class=[20], weight_decays=decays,
        n_seeds=1, random_state=0,
    )  # fmt: skip
    assert result.test_scores[0, 0] == pytest.approx(oracle[best][0])
    assert result.train_scores[0, 0] == pytest.approx(oracle[best][1])
    assert result.weight_decay[0, 0] == decays[best]


def test_linear_probe_refuses_a_split_lacking_classes(digits):
    """A split of class-sorted data by position: refused, naming the missing classes."""
    X, y, _ = digits
    order = np.argsort(y, kind="stable")
    X_sorted, y_sorted = X[order], y[order]  # as a class-sorted file would be
    train, test = slice(0, 700), slice(700, 1000)  # classes 0-3 | classes 3-5
    assert set(y_sorted[train]) == {0, 1, 2, 3} and set(y_sorted[test]) == {3, 4, 5}
    kwargs = dict(labels_per_class=[1], weight_decays=[1.0], n_seeds=1, random_state=0)
    message = r"pool y lacks classes \[4, 5\] and the test set y_test lacks classes \[0, 1, 2\]"
    with pytest.raises(ValueError, match=message):
        linear_probe_scores(None, X_sorted[train], y_sorted[train], X_sorted[test],
                            y_sorted[test], **kwargs)  # fmt: skip
    with pytest.raises(ValueError, match=r"training pool y lacks classes \[9\]"):
        ProbeAccuracyDisplay.from_estimator(
            None, X[y != 9], y[y != 9], X[:300], y[:300], **kwargs
        )  # fmt: skip
    with pytest.raises(ValueError, match=r"test set y_test lacks classes \[0\]"):
        linear_probe_scores(None, X, y, X[y != 0], y[y != 0], **kwargs)


# ---------------------------------------------------------------- plotting


def test_tile_images_oracle():
    images = np.arange(1, 3 * 2 * 2 + 1, dtype=float).reshape(3, 2, 2)
    mosaic = tile_images(images, n_cols=2, pad=1, normalize=False)
    assert mosaic.shape == (5, 5)
    np.testing.assert_array_equal(mosaic[0:2, 0:2], images[0])
    np.testing.assert_array_equal(mosaic[0:2, 3:5], images[1])
    np.testing.assert_array_equal(mosaic[3:5, 0:2], images[2])
    assert np.isnan(mosaic[2]).all() and np.isnan(mosaic[:, 2]).all()
    assert np.isnan(mosaic[3:5, 3:5]).all()
    normalized = tile_images(-images, n_cols=3, pad=0)
    np.testing.assert_allclose(normalized[:, 0:2], -images[0] / 4)
    assert np.nanmin(normalized) == -1
    assert tile_images(np.zeros((2, 1, 1)), pad=0).tolist() == [[0.0, 0.0]]
    with pytest.raises(ValueError, match="3-D"):
        tile_images(np.zeros((2, 4)))


def test_response_histogram_display():
    rng = np.random.RandomState(0)
    Y = np.column_stack([-rng.standard_exponential(500), rng.standard_exponential(500)])
    bins = np.linspace(-1, 8, 19)
    display = ResponseHistogramDisplay.from_responses(Y, bins=bins, name="toy")
    counts, _ = np.histogram(np.abs(Y).ravel(), bins=bins, density=True)
    np.testing.assert_allclose(display.counts_, counts)
    np.testing.assert_array_equal(display.bin_edges_, bins)
    assert display.ax_.get_yscale() == "log"
    assert display.ax_.get_legend().get_texts()[0].get_text() == "toy"
    assert display.figure_ is display.ax_.figure and len(display.patches_) == 1

    fig, ax = plt.subplots()
    raw = ResponseHistogramDisplay.from_responses(
        Y, remove_sign=False, bins=bins, density=False, log=False, ax=ax
    )
    assert raw.ax_ is ax and raw.ax_.get_yscale() == "linear"
    assert raw.counts_.sum() == np.sum((Y >= -1) & (Y <= 8))


def test_response_histogram_from_estimator(digits):
    X, _, pca = digits
    display = ResponseHistogramDisplay.from_estimator(pca, X, bins=10)
    oracle = ResponseHistogramDisplay.from_responses(pca.transform(X), bins=10)
    np.testing.assert_allclose(display.counts_, oracle.counts_)


def test_image_grid_display(digits):
    X, _, pca = digits
    display = ImageGridDisplay.from_estimator(pca, n_images=4, name="PCA", cmap="gray")
    expected = tile_images(pca.components_[:4].reshape(4, 8, 8))
    np.testing.assert_allclose(display.image_.get_array().filled(np.nan), expected)
    assert display.ax_.get_title() == "PCA" and not display.ax_.axison
    assert display.image_.get_cmap().name == "gray"

    # Linearized responses, each oriented by the sign of its mean response.
    Y = pca.transform(X)
    S = linearized_responses(X, Y, reg=0.1) * np.where(Y.mean(0) < 0, -1, 1)[:, None]
    display = ImageGridDisplay.from_estimator(pca, X, kind="linearized", indices=[5, 0])
    np.testing.assert_allclose(
        display.image_.get_array().filled(np.nan), tile_images(S[[5, 0]].reshape(2, 8, 8))
    )
    # Components oriented by their mean projection on X.
    display = ImageGridDisplay.from_estimator(pca, X, n_images=6, n_cols=6)
    signs = np.where((X @ pca.components_.T).mean(0) < 0, -1, 1)[:, None]
    np.testing.assert_allclose(
        display.image_.get_array().filled(np.nan),
        tile_images((pca.components_ * signs).reshape(6, 8, 8), n_cols=6),
    )


def test_image_grid_display_errors(digits):
    X, _, pca = digits
    with pytest.raises(ValueError, match="kind"):
        ImageGridDisplay.from_estimator(pca, X, kind="weights")
    with pytest.raises(ValueError, match="needs the inputs"):
        ImageGridDisplay.from_estimator(pca, kind="linearized")
    with pytest.raises(ValueError, match="square"):
        ImageGridDisplay(np.ones((2, 6))).plot()
    assert ImageGridDisplay(np.ones((2, 6)), image_shape=(2, 3)).plot().image_ is not None


def test_spectrum_display(digits):
    X, _, pca = digits
    display = SpectrumDisplay.from_kernel(X[:200], kernel="linear", name="K")
    singular = np.linalg.svd(X[:200], compute_uv=False) ** 2
    y, relative = display.line_.get_ydata(), singular / singular[0]
    rank = np.sum(relative > 1e-8)
    np.testing.assert_allclose(y[:rank], relative[:rank], rtol=1e-8)
    # Beyond the rank (at most 64 features), eigenvalues are rounding noise: not drawn.
    assert len(y) == 200 and np.isnan(y[64:]).all()
    assert display.ax_.get_yscale() == "log" and display.ax_.get_xscale() == "log"
    np.testing.assert_array_equal(display.line_.get_xdata()[:3], [1, 2, 3])

    output = SpectrumDisplay.from_estimator(pca, X, ax=display.ax_, name="Y Y^T")
    expected = gram_spectrum(pca.transform(X))
    np.testing.assert_allclose(output.line_.get_ydata(), expected / expected[0])
    assert output.ax_ is display.ax_ and len(display.ax_.get_lines()) == 2

    raw = SpectrumDisplay(kernel_spectrum(X[:50], kernel="linear")).plot(
        normalize=False, xscale="linear"
    )
    top = np.linalg.svd(X[:50], compute_uv=False)[0] ** 2
    assert np.nanmax(raw.line_.get_ydata()) == pytest.approx(top, rel=1e-10)
    assert raw.ax_.get_xscale() == "linear" and raw.ax_.get_ylabel() == "eigenvalue"


def test_probe_accuracy_display(digits):
    test = np.array([[0.5, 0.7], [0.8, 0.9]])
    train = np.ones((2, 2))
    display = ProbeAccuracyDisplay([1, 10], test, train, name="raw").plot()
    np.testing.assert_allclose(display.line_.get_ydata(), [0.6, 0.85])
    np.testing.assert_array_equal(display.line_.get_xdata(), [1, 10])
    path = display.fill_between_.get_paths()[0].vertices
    np.testing.assert_allclose([path[:, 1].min(), path[:, 1].max()], [0.5, 0.9])
    assert display.ax_.get_ylabel() == "test accuracy"
    display.plot(score_type="train")
    np.testing.assert_allclose(display.line_.get_ydata(), [1, 1])
    with pytest.raises(ValueError, match="score_type"):
        display.plot(score_type="validation")
    with pytest.raises(ValueError, match="no train scores"):
        ProbeAccuracyDisplay([1], test[:1]).plot(score_type="train")

    X, y, pca = digits
    display = ProbeAccuracyDisplay.from_estimator(
        pca, X[:600], y[:600], X[600:900], y[600:900], labels_per_class=[1, 5],
        weight_decays=[1e-2], n_seeds=2, random_state=0, name="PCA",
    )  # fmt: skip
    assert display.test_scores.shape == display.train_scores.shape == (2, 2)
    assert display.ax_.get_legend().get_texts()[0].get_text() == "PCA"


class FittedHistories(BaseEstimator):
    """A stand-in fitted network: 10 passes of 25 steps (1600 rows, batch 64)."""

    def __init__(self, batch_size=64):
        self.batch_size = batch_size

    def fit(self, X=None, y=None):
        rng = np.random.RandomState(0)
        steps = np.arange(1, 251)
        self.objective_history_ = -1.0 + 5.0 / steps + 0.3 * rng.normal(size=250)
        self.gap_steps_ = np.array([25, 50, 100, 150, 200, 250])
        self.duality_gap_history_ = 10.0 ** -np.arange(1.0, 7.0)
        self.n_iter_, self.n_samples_seen_, self.n_steps_ = 10, 16000, 250
        return self


def exponential_average_oracle(values, window):
    smoothed = [values[0]]
    for value in values[1:]:
        smoothed.append((1 - 1 / window) * smoothed[-1] + value / window)
    return np.array(smoothed)


def lines_by_label(ax):
    return {line.get_label(): line for line in ax.get_lines()}


def test_plot_convergence_draws_the_histories():
    fitted = FittedHistories().fit()
    fig, ax = plt.subplots()
    out_ax, gap_ax = plot_convergence(fitted, ax=ax)
    assert out_ax is ax and gap_ax.figure is fig
    lines = lines_by_label(ax)
    # Default window: one epoch, ceil(16000 / 10 / 64) = 25 steps.
    assert set(lines) == {"objective", "objective, smoothed (25 steps)"}
    raw, smoothed = lines["objective"], lines["objective, smoothed (25 steps)"]
    np.testing.assert_array_equal(raw.get_xdata(), np.arange(1, 251))
    np.testing.assert_array_equal(raw.get_ydata(), fitted.objective_history_)
    np.testing.assert_array_equal(smoothed.get_xdata(), np.arange(1, 251))
    oracle = exponential_average_oracle(fitted.objective_history_, 25)
    np.testing.assert_allclose(smoothed.get_ydata(), oracle, rtol=1e-12)
    (gap,) = gap_ax.get_lines()
    np.testing.assert_array_equal(gap.get_xdata(), fitted.gap_steps_)
    np.testing.assert_array_equal(gap.get_ydata(), fitted.duality_gap_history_)
    assert gap.get_marker() == "o"
    assert gap_ax.get_yscale() == "log" and ax.get_yscale() == "linear"
    assert gap_ax.get_shared_x_axes().joined(ax, gap_ax)
    legend = [text.get_text() for text in gap_ax.get_legend().get_texts()]
    assert legend == ["objective", "objective, smoothed (25 steps)", "duality gap"]


def test_plot_convergence_smoothing_window():
    fitted = FittedHistories().fit()
    values = fitted.objective_history_
    ax, _ = plot_convergence(fitted, smooth=1)
    smoothed = lines_by_label(ax)["objective, smoothed (1 steps)"]
    np.testing.assert_allclose(smoothed.get_ydata(), values, rtol=1e-12)
    ax, _ = plot_convergence(fitted, smooth=7)
    smoothed = lines_by_label(ax)["objective, smoothed (7 steps)"]
    np.testing.assert_allclose(
        smoothed.get_ydata(), exponential_average_oracle(values, 7), rtol=1e-12
    )
    # Without the epoch length (no n_iter_), the window falls back to 100 steps.
    del fitted.n_iter_
    ax, _ = plot_convergence(fitted)
    assert "objective, smoothed (100 steps)" in lines_by_label(ax)
    # Zero gaps cannot go on the log axis: NaN in the line, counted in its label.
    fitted.duality_gap_history_[[0, 3]] = 0.0
    _, gap_ax = plot_convergence(fitted)
    (gap,) = gap_ax.get_lines()
    assert gap.get_label() == "duality gap (2 of 6 checks 0, not drawn)"
    np.testing.assert_array_equal(np.isnan(gap.get_ydata()), [1, 0, 0, 1, 0, 0])
    kept = [1, 2, 4, 5]
    np.testing.assert_array_equal(gap.get_ydata()[kept], fitted.duality_gap_history_[kept])
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="smooth"):
            plot_convergence(fitted, smooth=bad)


def test_plot_convergence_errors(digits):
    with pytest.raises(NotFittedError):
        plot_convergence(HebbianKernelSimilarityMatching(4))
    _, _, pca = digits
    with pytest.raises(TypeError, match="objective_history_, duality_gap_history_, gap_steps_"):
        plot_convergence(pca)
    fitted = FittedHistories().fit()
    del fitted.duality_gap_history_
    with pytest.raises(TypeError, match=r"has no duality_gap_history_\.$"):
        plot_convergence(fitted)
    fitted = FittedHistories().fit()
    fitted.gap_steps_ = fitted.gap_steps_[:-1]
    with pytest.raises(ValueError, match="gap_steps_"):
        plot_convergence(fitted)


def test_plot_convergence_of_a_fitted_network():
    X, _ = make_half_moons(100, random_state=0)
    ksm = HebbianKernelSimilarityMatching(4, gamma=5.0, max_iter=2, random_state=0).fit(X)
    ax, gap_ax = plot_convergence(ksm)
    lines = lines_by_label(ax)
    # 100 rows in batches of 64: 2 steps per pass, so a window of 2 steps.
    np.testing.assert_array_equal(lines["objective"].get_ydata(), ksm.objective_history_)
    assert "objective, smoothed (2 steps)" in lines
    (gap,) = gap_ax.get_lines()
    np.testing.assert_array_equal(gap.get_xdata(), ksm.gap_steps_)
    positive = ksm.duality_gap_history_ > 0
    np.testing.assert_array_equal(gap.get_ydata()[positive], ksm.duality_gap_history_[positive])
    assert np.isnan(gap.get_ydata()[~positive]).all()
    assert len(ksm.objective_history_) == ksm.n_steps_ == 4
    assert gap_ax.get_yscale() == "log"


def test_plot_convergence_of_a_thinned_history(monkeypatch):
    """Histories longer than HISTORY_MAX are thinned (issue 21, item 3): the
    objective is drawn at its own steps, ``objective_steps_``."""
    monkeypatch.setattr(base_module, "HISTORY_MAX", 8)
    X, _ = make_half_moons(100, random_state=0)
    ksm = HebbianKernelSimilarityMatching(4, gamma=5.0, batch_size=10, max_iter=3,
                                          random_state=0).fit(X)  # fmt: skip
    assert ksm.n_steps_ == 30 and len(ksm.objective_steps_) <= 8
    ax, _ = plot_convergence(ksm)
    raw = lines_by_label(ax)["objective"]
    np.testing.assert_array_equal(raw.get_xdata(), ksm.objective_steps_)
    np.testing.assert_array_equal(raw.get_ydata(), ksm.objective_history_)
    assert raw.get_xdata()[-1] == 30
