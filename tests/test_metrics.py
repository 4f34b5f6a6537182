import warnings

import numpy as np
import pytest
from sklearn.metrics.pairwise import pairwise_kernels
from sklearn.model_selection import GridSearchCV, ShuffleSplit
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_ksm import HebbianKernelSimilarityMatching
from sklearn_ksm.datasets import make_half_moons
from sklearn_ksm.metrics import (
    gram_spectrum,
    kernel_approximation_error,
    kernel_spectrum,
    make_kernel_scorer,
    score_subsample,
    similarity_samples,
)


@pytest.mark.parametrize(
    "kernel, params", [("rbf", {"gamma": 0.4}), ("linear", {}), ("poly", {"gamma": 0.2})]
)
def test_blocked_error_equals_dense_formula(kernel, params):
    rng = np.random.RandomState(0)
    X, Y = rng.normal(size=(53, 3)), rng.normal(size=(53, 5))
    K = pairwise_kernels(X, metric=kernel, **params)
    expected = np.linalg.norm(K - Y @ Y.T) / np.linalg.norm(K)
    error = kernel_approximation_error(X, Y, kernel=kernel, block_size=7, **params)
    assert error == pytest.approx(expected, rel=1e-12)


def test_exact_factorisation_has_zero_error():
    X = np.random.RandomState(1).normal(size=(40, 3))
    K = pairwise_kernels(X, metric="rbf", gamma=0.5)
    eigenvalues, eigenvectors = np.linalg.eigh(K)
    Y = eigenvectors * np.sqrt(eigenvalues.clip(0))
    assert kernel_approximation_error(X, Y, kernel="rbf", gamma=0.5) < 1e-7


def test_error_input_validation():
    X = np.ones((4, 2))
    with pytest.raises(ValueError, match="same number of rows"):
        kernel_approximation_error(X, np.ones((3, 2)))
    with pytest.raises(ValueError, match="zero"):
        kernel_approximation_error(np.zeros((4, 2)), np.zeros((4, 2)), kernel="linear")


def test_similarity_samples_are_kernel_and_gram_entries():
    rng = np.random.RandomState(2)
    X, Y = rng.normal(size=(25, 3)), rng.normal(size=(25, 4))
    k, y = similarity_samples(X, Y, kernel="rbf", gamma=0.3, n_pairs=600, random_state=0)
    K = pairwise_kernels(X, metric="rbf", gamma=0.3)
    G = Y @ Y.T
    # Every sample is one (s, t) entry of K together with the same entry of Y Y^T.
    matches = [np.flatnonzero(np.isclose(K, a, rtol=1e-12) & np.isclose(G, b, rtol=1e-12))
               for a, b in zip(k, y, strict=True)]  # fmt: skip
    assert all(m.size > 0 for m in matches)
    assert len({int(m[0]) for m in matches}) > 200  # many distinct pairs


def test_spectra_match_dense_eigendecomposition():
    X = np.random.RandomState(3).normal(size=(120, 4))
    K = pairwise_kernels(X, metric="rbf", gamma=0.5)
    dense = np.linalg.eigvalsh(K)[::-1]
    np.testing.assert_allclose(kernel_spectrum(X, kernel="rbf", gamma=0.5), dense, atol=1e-10)
    top = kernel_spectrum(X, kernel="rbf", gamma=0.5, n_eigenvalues=10, random_state=0)
    np.testing.assert_allclose(top, dense[:10], rtol=1e-6)
    Y = np.random.RandomState(4).normal(size=(30, 5))
    np.testing.assert_allclose(gram_spectrum(Y), np.linalg.eigvalsh(Y @ Y.T)[::-1][:5], rtol=1e-10)


@pytest.mark.parametrize("scale", [1e-150, 1e150])
def test_error_is_scale_invariant_to_the_float64_limits(scale):
    """Regression (issue 21, item 5): for a linear kernel the relative error
    is invariant under X, Y -> s X, s Y. At s = 1e150 the squares of K
    (1e300) overflowed and the error was NaN; at 1e-150 they underflowed to 0
    and the kernel was reported as zero. The scaled norms give the error at
    s = 1 up to the rounding of s X (relative 1e-15; 1e-12 allowed)."""
    rng = np.random.RandomState(0)
    X, Y = rng.normal(size=(53, 3)), rng.normal(size=(53, 4))
    K = X @ X.T
    expected = np.linalg.norm(K - Y @ Y.T) / np.linalg.norm(K)
    error = kernel_approximation_error(X * scale, Y * scale, kernel="linear", block_size=7)
    assert error == pytest.approx(expected, rel=1e-12)


def test_zero_output_on_huge_kernel_values_has_error_one():
    """Regression (issue 21): K of about 1e300 with Y = 0 gave NaN; the error
    is exactly ||K|| / ||K|| = 1."""
    X = np.random.RandomState(0).normal(size=(30, 2)) * 1e150
    assert kernel_approximation_error(X, np.zeros((30, 2)), kernel="linear") == 1.0


def test_huge_but_representable_error_is_finite():
    """K of about 1e300 against Y Y^T of about 1e400 (which overflows float64):
    the error, about 1e100, is representable. Oracle: with X = 1e150 A and
    Y = 1e200 B it is 1e100 ||B B^T - 1e-100 A A^T|| / ||A A^T||, computed at
    unit scale (relative 1e-12 allowed for the rounding of the scalings)."""
    rng = np.random.RandomState(0)
    A, B = rng.normal(size=(40, 3)), rng.normal(size=(40, 2))
    expected = 1e100 * np.linalg.norm(B @ B.T - 1e-100 * A @ A.T) / np.linalg.norm(A @ A.T)
    error = kernel_approximation_error(A * 1e150, B * 1e200, kernel="linear", block_size=16)
    assert np.isfinite(error) and error == pytest.approx(expected, rel=1e-12)


def test_unrepresentable_error_and_overflowing_kernel_raise():
    """Regression (issue 21): |Y| of 1e200 against an rbf kernel (at most 1)
    gave inf: the error, about 1e400, is beyond float64; a linear kernel on
    inputs of 1e200 overflows (K = 1e400) and gave NaN. Both now raise."""
    X = np.random.RandomState(0).normal(size=(20, 2))
    with pytest.raises(ValueError, match="exceeds the float64 range"):
        kernel_approximation_error(X, np.full((20, 3), 1e200), kernel="rbf")
    with pytest.raises(ValueError, match="kernel values of X are not finite.*Rescale X"):
        kernel_approximation_error(X * 1e200, np.zeros((20, 3)), kernel="linear")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"block_size": 0}, "'block_size' parameter"),
        ({"block_size": -3}, "'block_size' parameter"),
        ({"block_size": 2.5}, "'block_size' parameter"),
        ({"block_size": True}, "'block_size' parameter"),
        ({"kernel": "cosine"}, "'kernel' parameter"),
        ({"gamma": -1.0}, "'gamma' parameter"),
        ({"degree": 0}, "'degree' parameter"),
        ({"kernel_params": [1]}, "'kernel_params' parameter"),
        ({"device": 0}, "'device' parameter"),
    ],
)
def test_error_arguments_are_validated(kwargs, match):
    """Regression (issue 21, item 7): block_size=0 failed with "range() arg 3
    must not be zero" and block_size=-3 claimed the kernel matrix was zero."""
    X = np.ones((4, 2))
    with pytest.raises(ValueError, match=match):
        kernel_approximation_error(X, X, **kwargs)


# ------------------------------------------------------- the fixed-kernel scorer


def test_kernel_scorer_against_own_kernel_equals_score():
    """With the estimator's own kernel, the scorer is ``score`` (same rows, same error)."""
    X, _ = make_half_moons(2600, random_state=1)  # more rows than the 2000 scored
    ksm = HebbianKernelSimilarityMatching(8, gamma=3.0, max_iter=3, random_state=0).fit(X[:400])
    scorer = make_kernel_scorer("rbf", gamma=3.0)
    assert scorer(ksm, X) == pytest.approx(ksm.score(X), rel=1e-12)
    rows = score_subsample(X)
    assert len(rows) == 2000
    expected = -kernel_approximation_error(rows, ksm.transform(rows), kernel="rbf", gamma=5.0)
    assert make_kernel_scorer("rbf", gamma=5.0)(ksm, X) == pytest.approx(expected, rel=1e-12)
    assert repr(scorer) == "make_kernel_scorer(kernel='rbf', gamma=3.0, degree=3, coef0=1.0)"


def test_kernel_scorer_takes_a_pipeline_and_a_dataframe():
    pd = pytest.importorskip("pandas")
    X, _ = make_half_moons(300, random_state=0)
    frame = pd.DataFrame(X, columns=["a", "b"])
    pipe = make_pipeline(
        StandardScaler(), HebbianKernelSimilarityMatching(6, max_iter=3, random_state=0)
    ).fit(frame)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. no "X does not have valid feature names"
        score = make_kernel_scorer("rbf", gamma=0.5)(pipe, frame)
    expected = -kernel_approximation_error(X, pipe.transform(frame), kernel="rbf", gamma=0.5)
    assert score == pytest.approx(expected, rel=1e-12)


def test_search_over_gamma_needs_a_fixed_reference_kernel():
    """``score`` rewards a smoother kernel; the fixed-kernel scorer finds the reference.

    A candidate's own kernel error falls as gamma falls (a smoother kernel
    has a faster-decaying spectrum, so 16 components capture more of it: the
    optimal errors here are about 1e-4, 0.01, 0.08 and 0.35), so the default
    scoring prefers a gamma below the reference (the trained networks' own
    errors are about 0.15, 0.15, 0.17 and 0.52: 60 passes do not reach the
    smooth kernels' optimum). Against one reference kernel (gamma = 5), the
    network trained on that kernel is the best approximation; the smoothest
    one is far worse (kernel errors about 1.5 against 0.17 here).
    """
    X, _ = make_half_moons(800, random_state=0)
    grid = [0.5, 2.0, 5.0, 20.0]
    search = GridSearchCV(
        HebbianKernelSimilarityMatching(16, max_iter=60, batch_size=32, random_state=0),
        {"gamma": grid},
        scoring={"own": lambda est, X, y=None: est.score(X),
                 "fixed": make_kernel_scorer("rbf", gamma=5.0)},
        cv=ShuffleSplit(n_splits=1, test_size=0.5, random_state=0), refit=False,
    ).fit(X)  # fmt: skip
    own = search.cv_results_["mean_test_own"]
    fixed = search.cv_results_["mean_test_fixed"]
    assert grid[np.argmax(own)] < 5.0  # a smoother kernel than the reference
    assert own[:2].min() > own[2] + 0.01 and own[2] > own[3] + 0.1
    assert grid[np.argmax(fixed)] == 5.0  # the reference
    assert fixed[2] > fixed[0] + 0.5
