"""Behaviour of HebbianKernelSimilarityMatching against oracles."""

import pickle
import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.kernel_approximation import Nystroem
from sklearn.metrics.pairwise import rbf_kernel
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sklearn_ksm._base as base_module
import sklearn_ksm._hebbian as hebbian_module
import sklearn_ksm._solver as solver_module
from sklearn_ksm import HebbianKernelSimilarityMatching, TrainingDivergedError, _gda
from sklearn_ksm.metrics import kernel_approximation_error

from .conftest import CUDA, assert_same_state, single_row_streams, snapshot

GAMMA_MOONS = 1 / (2 * 0.3**2)  # the paper's sigma = 0.3


def rbf_callable(X, W, gamma):
    return torch.exp(-gamma * torch.cdist(X, W) ** 2)


@pytest.fixture(scope="module")
def fitted(small_data):
    return HebbianKernelSimilarityMatching(6, max_iter=5, random_state=0).fit(small_data)


# ---------------------------------------------------------------- oracles


def test_linear_kernel_learns_principal_subspace():
    """Linear kernel = linear similarity matching: Y Y^T -> best rank-N of X X^T.

    Data: 10-D Gaussian whose covariance has eigenvalues (9, 7, 5) then 0.1,
    so the top-3 subspace is well separated. The tolerance (2% relative
    Frobenius error on Y Y^T) covers the stabiliser's bias, about
    reg / smallest kept eigenvalue = 2e-4, and the stochastic fluctuation of
    the final SGD phase at rate 3e-4.
    """
    rng = np.random.RandomState(0)
    basis, _ = np.linalg.qr(rng.normal(size=(10, 10)))
    scales = np.sqrt([9, 7, 5] + [0.1] * 7)
    X = (rng.normal(size=(2000, 10)) * scales) @ basis.T
    est = HebbianKernelSimilarityMatching(3, kernel="linear", max_iter=100, random_state=0)
    Y = est.fit_transform(X)
    K = X @ X.T
    eigenvalues, eigenvectors = np.linalg.eigh(K)
    top = eigenvectors[:, -3:]
    K_best = (top * eigenvalues[-3:]) @ top.T
    assert np.linalg.norm(Y @ Y.T - K_best) / np.linalg.norm(K_best) < 0.02
    # The learned filters span the top principal subspace of the inputs.
    F = np.linalg.lstsq(X, Y, rcond=None)[0]  # y = F^T x
    projector = basis[:, :3] @ basis[:, :3].T
    assert np.linalg.norm(F - projector @ F) / np.linalg.norm(F) < 0.02
    np.testing.assert_array_equal(est.gains_, 1.0)  # homogeneous: q stays 1


def test_half_moons_default_fit_beats_uniform_nystroem(moons):
    X, _ = moons
    est = HebbianKernelSimilarityMatching(16, kernel="rbf", gamma=GAMMA_MOONS, random_state=0)
    error = kernel_approximation_error(X, est.fit_transform(X), kernel="rbf", gamma=GAMMA_MOONS)
    nystroem = Nystroem(gamma=GAMMA_MOONS, n_components=16, random_state=0).fit(X)
    error_nystroem = kernel_approximation_error(
        X, nystroem.transform(X), kernel="rbf", gamma=GAMMA_MOONS
    )
    assert error <= 0.25
    assert error < error_nystroem


def test_callable_kernel_trains_like_the_built_in_one(small_data):
    """Autograd derivatives (callable) and closed forms (built-in) agree."""
    params = dict(n_components=5, max_iter=3, batch_size=16, random_state=0)
    builtin = HebbianKernelSimilarityMatching(kernel="rbf", gamma=0.3, **params).fit(small_data)
    custom = HebbianKernelSimilarityMatching(
        kernel=rbf_callable, kernel_params={"gamma": 0.3}, **params
    ).fit(small_data)
    for name in ("components_", "gains_", "lateral_weights_"):
        np.testing.assert_allclose(getattr(custom, name), getattr(builtin, name), rtol=1e-9)


def test_dynamics_inference_matches_closed_form(fitted, small_data):
    dynamics = clone(fitted).set_params(inference="dynamics")
    dynamics.__dict__.update({k: v for k, v in vars(fitted).items() if k.endswith("_")})
    np.testing.assert_allclose(
        dynamics.transform(small_data), fitted.transform(small_data), rtol=1e-4, atol=1e-6
    )


@pytest.mark.parametrize("kernel", ["linear", "power_cosine"])
def test_homogeneous_kernels_keep_unit_gains(kernel, small_data):
    est = HebbianKernelSimilarityMatching(4, kernel=kernel, max_iter=3, random_state=0)
    np.testing.assert_array_equal(est.fit(small_data).gains_, 1.0)


def test_rbf_learns_gains(fitted):
    assert not np.allclose(fitted.gains_, 1.0)


def test_score_is_minus_relative_kernel_error(fitted, small_data):
    Y = fitted.transform(small_data)
    K = np.exp(-fitted.kernel_.gamma * ((small_data[:, None] - small_data[None]) ** 2).sum(-1))
    expected = np.linalg.norm(K - Y @ Y.T) / np.linalg.norm(K)
    assert fitted.score(small_data) == pytest.approx(-expected, rel=1e-10)


@pytest.mark.parametrize("scale", [1e-100, 1e100])
def test_linear_model_score_is_finite_and_scale_invariant(small_data, scale):
    """Regression (issue 21, item 5): a linear model's output is linear in x,
    so its relative kernel error does not depend on the scale of X; on
    X * 1e100 the squares of K (1e200) overflowed and score() returned NaN.
    The score at scale equals the one at unit scale up to the rounding of
    X * scale (relative 1e-15; 1e-9 allowed)."""
    model = HebbianKernelSimilarityMatching(4, kernel="linear", max_iter=2, random_state=0)
    model.fit(small_data)
    score = model.score(small_data * scale)
    assert np.isfinite(score) and score == pytest.approx(model.score(small_data), rel=1e-9)


# ------------------------------------------------------ fit / partial_fit


def test_partial_fit_step_equals_fit_step(small_data):
    """One full-batch step: fit and partial_fit share the step and the init."""
    params = dict(n_components=5, batch_size=len(small_data), random_state=3)
    fit = HebbianKernelSimilarityMatching(max_iter=1, **params).fit(small_data)
    partial = HebbianKernelSimilarityMatching(**params).partial_fit(small_data)
    for name in ("components_", "gains_", "lateral_weights_", "objective_history_"):
        np.testing.assert_allclose(getattr(partial, name), getattr(fit, name), rtol=1e-10)


def test_partial_fit_continues_and_counts(small_data):
    est = HebbianKernelSimilarityMatching(5, batch_size=32, random_state=0)
    est.partial_fit(small_data)
    first = snapshot(est)
    est.partial_fit(small_data[:50])
    assert (est.n_steps_, est.n_samples_seen_, est.n_iter_) == (4 + 2, 120 + 50, 2)
    assert len(est.objective_history_) == est.n_steps_
    np.testing.assert_array_equal(est.objective_history_[:4], first["objective_history_"])
    assert not np.array_equal(est.components_, first["components_"])


def test_fit_counters_and_history(small_data):
    est = HebbianKernelSimilarityMatching(5, batch_size=32, max_iter=3, random_state=0)
    est.fit(small_data)
    assert (est.n_iter_, est.n_steps_, est.n_samples_seen_) == (3, 12, 360)
    assert est.objective_history_.shape == (12,) and np.isfinite(est.objective_history_).all()
    # fit starts cold: a second fit gives the same model, not a continued one.
    again = snapshot(est.fit(small_data))
    np.testing.assert_array_equal(again["components_"], est.components_)


def test_early_stopping_decays_then_stops(moons):
    X, _ = moons
    est = HebbianKernelSimilarityMatching(
        8, gamma=GAMMA_MOONS, max_iter=500, tol=1e-2, max_no_improvement=20, random_state=0
    ).fit(X)
    assert est.n_iter_ < 500
    assert est.n_steps_ == len(est.objective_history_) < 500 * 25


def test_random_state_reproducible_and_seed_dependent(small_data):
    a = HebbianKernelSimilarityMatching(4, max_iter=2, random_state=7).fit(small_data)
    b = HebbianKernelSimilarityMatching(4, max_iter=2, random_state=7).fit(small_data)
    c = HebbianKernelSimilarityMatching(4, max_iter=2, random_state=8).fit(small_data)
    np.testing.assert_array_equal(a.transform(small_data), b.transform(small_data))
    assert not np.allclose(a.components_, c.components_)


@pytest.mark.parametrize("init", ["random", "sample", "kmeans", "rpcholesky"])
def test_init_options(init, small_data):
    est = HebbianKernelSimilarityMatching(4, init=init, max_iter=1, random_state=0)
    assert est.fit(small_data).components_.shape == (4, 4)


def _initial_components(X, init, n_components=6, random_state=0, **params):
    """The landmarks a fit starts from (a 1e-12 step leaves them in place)."""
    return HebbianKernelSimilarityMatching(
        n_components, init=init, max_iter=1, learning_rate=1e-12, learning_rate_gain=0.0,
        random_state=random_state, **params,
    ).fit(X).components_  # fmt: skip


def _laplacian(X, W, gamma=0.5):
    return torch.exp(-gamma * torch.cdist(X, W, p=1))


@pytest.mark.parametrize("kernel", ["rbf", _laplacian], ids=["rbf", "callable"])
def test_rpcholesky_init_starts_from_distinct_training_rows(small_data, kernel):
    W = _initial_components(small_data, "rpcholesky", kernel=kernel)
    # 1e-12 steps move W by ~1e-12: match each landmark to its nearest row.
    nearest = ((W[:, None] - small_data[None]) ** 2).sum(-1).argmin(1)
    np.testing.assert_allclose(W, small_data[nearest], atol=1e-9)
    assert len(set(nearest)) == 6
    again = _initial_components(small_data, "rpcholesky", kernel=kernel)
    np.testing.assert_array_equal(again, W)
    other = _initial_components(small_data, "rpcholesky", kernel=kernel, random_state=1)
    assert not np.allclose(other, W)


def test_kmeans_init_starts_from_converged_kmeans_centres(small_data):
    W = _initial_components(small_data, "kmeans")
    # Lloyd's fixed point: each centre is the mean of the rows nearest to it.
    labels = ((small_data[:, None] - W[None]) ** 2).sum(-1).argmin(1)
    means = np.array([small_data[labels == i].mean(0) for i in range(len(W))])
    np.testing.assert_allclose(W, means, atol=1e-8)


@pytest.mark.parametrize("init", ["kmeans", "rpcholesky"])
def test_sampler_inits_with_more_neurons_than_rows(init):
    X = _low_rank_data(n_samples=10)
    est = HebbianKernelSimilarityMatching(25, init=init, max_iter=1, random_state=0).fit(X)
    assert est.components_.shape == (25, X.shape[1]) and np.isfinite(est.transform(X)).all()


def test_init_array_is_used(small_data):
    W0 = small_data[:3].copy()
    est = HebbianKernelSimilarityMatching(3, init=W0, max_iter=1, learning_rate=1e-12,
                                          learning_rate_gain=0.0).fit(small_data)  # fmt: skip
    np.testing.assert_allclose(est.components_, W0, rtol=1e-9)
    with pytest.raises(ValueError, match="init has shape"):
        clone(est).set_params(n_components=4).fit(small_data)


def test_verbose_prints_progress(small_data, capsys):
    HebbianKernelSimilarityMatching(3, max_iter=2, verbose=1, random_state=0).fit(small_data)
    out = capsys.readouterr().out
    assert "epoch 2/2" in out
    # rate, time left and how far the objective has come (issue 23)
    assert re.search(r"\d+ steps/s", out) and "ETA" in out and "objective" in out


def test_progress_lines_come_early_in_a_long_epoch(monkeypatch, capsys):
    # a line at a check (every 100 steps) once PROGRESS_SECONDS have passed,
    # not only at the end of the pass: here one pass of 300 steps
    monkeypatch.setattr(solver_module, "PROGRESS_SECONDS", 0.0)
    X = np.random.RandomState(0).normal(size=(600, 3))
    HebbianKernelSimilarityMatching(4, batch_size=2, max_iter=1, verbose=1,
                                    random_state=0).fit(X)  # fmt: skip
    lines = [line for line in capsys.readouterr().out.splitlines() if "epoch 1/1" in line]
    assert len(lines) >= 3
    assert "step 100 (33%)" in lines[0] and "since the last line" in lines[1]


def test_unconverged_fit_warns_and_a_converged_one_does_not(moons):
    X, _ = moons
    # Full batches: the objective moves without minibatch noise, by about
    # 1.5e-3 between the last two tenths after 50 steps (tolerance 1e-3, noise
    # 3e-4); short minibatch fits hide the same drift in a noise of 2%.
    with pytest.warns(ConvergenceWarning, match="did not converge: its objective still changed"):
        HebbianKernelSimilarityMatching(16, gamma=GAMMA_MOONS, batch_size=len(X), max_iter=50,
                                        random_state=0).fit(X)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        HebbianKernelSimilarityMatching(16, gamma=GAMMA_MOONS, random_state=0).fit(X)


def test_fit_warns_when_its_output_is_worse_than_zeros():
    # Gaussian rows in 50 dimensions under the power-cosine kernel (degree 3):
    # the kernel matrix is close to a multiple of the identity, with no
    # low-rank structure for 32 neurons, and one pass leaves an output whose
    # Gram matrix overshoots it (error 3.2; an all-zero output has 1). The
    # converged fit of the test above checks that good fits do not warn.
    X = np.random.RandomState(0).normal(size=(300, 50))
    est = HebbianKernelSimilarityMatching(32, kernel="power_cosine", degree=3, max_iter=1,
                                          random_state=0)  # fmt: skip
    with pytest.warns(ConvergenceWarning, match="worse than an all-zero output"):
        est.fit(X)
    assert kernel_approximation_error(X, est.transform(X), kernel=est.kernel_) > 1.0


# ---------------------------------------------------------------- outputs


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved(dtype, small_data):
    X = small_data.astype(dtype)
    est = HebbianKernelSimilarityMatching(4, max_iter=2, random_state=0).fit(X)
    assert est.components_.dtype == dtype and est.transform(X).dtype == dtype
    assert est.transform(small_data.astype(np.float32)).dtype == np.float32


def test_transform_in_blocks_equals_whole(fitted, small_data, monkeypatch):
    whole = fitted.transform(small_data)
    monkeypatch.setattr(base_module, "TRANSFORM_BLOCK", 7)
    np.testing.assert_allclose(fitted.transform(small_data), whole, rtol=1e-12, atol=1e-14)


def test_pickle_round_trip_is_bitwise(fitted, small_data):
    loaded = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(loaded.transform(small_data), fitted.transform(small_data))


def test_callable_kernel_model_pickles(small_data):
    est = HebbianKernelSimilarityMatching(
        3, kernel=rbf_callable, kernel_params={"gamma": 0.5}, max_iter=1, random_state=0
    ).fit(small_data)
    loaded = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(loaded.transform(small_data), est.transform(small_data))


def test_pipeline_and_grid_search_without_scoring(small_data):
    pipe = make_pipeline(
        StandardScaler(), HebbianKernelSimilarityMatching(4, max_iter=3, random_state=0)
    )
    search = GridSearchCV(pipe, {"hebbiankernelsimilaritymatching__gamma": [0.05, 0.5]}, cv=2)
    search.fit(small_data)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.transform(small_data).shape == (len(small_data), 4)


# -------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "X, error, match",
    [
        (np.array([[1.0, np.nan, 0.0, 1.0]]), ValueError, "NaN"),
        (np.array([[1.0, np.inf, 0.0, 1.0]]), ValueError, "infinity"),
        (sp.csr_matrix(np.eye(4)), TypeError, "[Ss]parse"),
        (np.ones(4), ValueError, "2D array"),
        (np.empty((0, 4)), ValueError, "0 sample"),
        (np.array([["a", "b", "c", "d"]], dtype=object), ValueError, "convert"),
    ],
    ids=["nan", "inf", "sparse", "1d", "empty", "strings"],
)
@pytest.mark.parametrize("method", ["fit", "partial_fit", "transform"])
def test_bad_input_is_rejected_and_model_untouched(fitted, method, X, error, match):
    est = pickle.loads(pickle.dumps(fitted))
    before = snapshot(est)
    with pytest.raises(error, match=match):
        getattr(est, method)(X)
    assert_same_state(est, before)


@pytest.mark.parametrize("method", ["partial_fit", "transform", "score"])
def test_wrong_number_of_features(fitted, small_data, method):
    est = pickle.loads(pickle.dumps(fitted))
    before = snapshot(est)
    with pytest.raises(ValueError, match="features"):
        getattr(est, method)(small_data[:, :3])
    assert_same_state(est, before)


@pytest.mark.parametrize(
    "params, error",
    [
        ({"n_components": 0}, ValueError),
        ({"kernel": "sigmoid"}, ValueError),
        ({"learning_rate_lateral": 3.0}, ValueError),
        ({"reg": -1.0}, ValueError),
        ({"degree": 2.5, "kernel": "power_cosine"}, ValueError),
        ({"device": "tpu"}, ValueError),
        ({"kernel_params": {"gamma": 1.0}}, ValueError),
    ],
)
def test_invalid_parameters_are_rejected_and_model_untouched(fitted, small_data, params, error):
    est = pickle.loads(pickle.dumps(fitted)).set_params(**params)
    before = snapshot(est)
    with pytest.raises(error):
        est.fit(small_data)
    assert_same_state(est, before)


def test_divergence_before_any_check_leaves_the_estimator_unfitted(small_data):
    # the paper's fixed-rate rule at absurd rates (the adaptive rule survives these)
    est = HebbianKernelSimilarityMatching(
        8, lateral="hebbian", learning_rate=1000.0, learning_rate_gain=1000.0, max_iter=50,
        random_state=0,
    )  # fmt: skip
    with pytest.raises(TrainingDivergedError, match=r"diverged.*step \d+.*no fitted state"):
        est.fit(small_data)
    assert not hasattr(est, "components_")
    with pytest.raises(NotFittedError):
        est.transform(small_data)


def test_divergence_after_sane_checks_keeps_a_state_that_transforms(small_data):
    # sane for the first pass (checks every 4 steps), then the rates jump
    est = HebbianKernelSimilarityMatching(8, lateral="hebbian", batch_size=32, max_iter=1,
                                          random_state=0)  # fmt: skip
    est.fit(small_data)
    kept_steps = est.n_steps_
    est.set_params(learning_rate=1000.0, learning_rate_gain=1000.0)
    with pytest.raises(TrainingDivergedError, match="keeps its last sane state|previous fit"):
        est.partial_fit(np.vstack([small_data] * 20))
    assert est.n_steps_ >= kept_steps
    for name in ("components_", "gains_", "lateral_weights_", "objective_history_"):
        assert np.isfinite(getattr(est, name)).all(), name
    assert len(est.objective_history_) == est.n_steps_
    assert np.isfinite(est.transform(small_data)).all()


@pytest.mark.parametrize("kernel", ["power_cosine", "linear"])
def test_kernel_values_far_below_order_one_are_named(kernel):
    """Homogeneous kernels scale with the inputs: at a tenth of unit scale (median
    f(x, x) = 0.073 here, against the threshold 0.1) fit warns and names the cure;
    at unit scale (7.3) it does not, and the RBF kernel (f(x, x) = 1) never does."""
    X = np.random.RandomState(0).normal(size=(300, 8))
    est = HebbianKernelSimilarityMatching(4, kernel=kernel, max_iter=1, random_state=0)
    with pytest.warns(UserWarning, match=r"median f\(x, x\) = 0\.07.*StandardScaler"):
        est.fit(0.1 * X)
    for params, data in [({}, X), ({"kernel": "rbf"}, 1e-3 * X)]:
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message="The kernel's values", category=UserWarning)
            est.set_params(**params).fit(data)


def test_absurd_output_of_a_short_fit_on_structureless_data_names_the_short_fit():
    """A power-cosine kernel (degree 3) on isotropic Gaussian rows is nearly a multiple of
    the identity: one pass of 400 neurons over 1,000 rows gives an output error of
    15.4 (measured; the check's limit is 10) without any divergence, and 40 passes
    bring it below the limit (8.1). The error names that cause, not the rates."""
    X = np.random.default_rng(0).normal(size=(1000, 20))
    est = HebbianKernelSimilarityMatching(400, kernel="power_cosine", degree=3, max_iter=1,
                                          random_state=0)  # fmt: skip
    with pytest.raises(TrainingDivergedError, match="landmarks lie within the data") as caught:
        est.fit(X)
    assert caught.value.reason == "absurd output"
    assert "max_iter" in str(caught.value) and "learning rates" not in str(caught.value)
    with pytest.warns(ConvergenceWarning, match="worse than an all-zero output"):
        est.set_params(max_iter=40).fit(X)
    # landmarks far outside the data point to the rates instead
    est.components_ = 10 * est.components_
    assert "smaller learning rates" in est._absurd_output_advice(X)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_inspector_names_lateral_weights_that_lost_positive_definiteness(fitted, small_data, dtype):
    inspect = fitted._inspector(small_data)
    W, q, L, stats = fitted._fitted_state("cpu", dtype)
    assert inspect(_gda.TrainingState(W, q, L, stats)) is None  # as fitted: positive definite
    # neuron 0 decoupled with L_00 = -2 reg: L + reg I has the eigenvalue -reg
    indefinite = L.clone()
    indefinite[0, :] = indefinite[:, 0] = 0.0
    indefinite[0, 0] = -2 * fitted.reg
    reason = inspect(_gda.TrainingState(W, q, indefinite, stats))
    assert reason is not None and "positive definiteness" in reason


def test_interrupted_fit_keeps_previous_model(fitted, small_data, monkeypatch):
    est = pickle.loads(pickle.dumps(fitted))
    before = snapshot(est)

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(hebbian_module._gda, "minibatch_step", interrupt)
    with pytest.raises(KeyboardInterrupt):
        est.fit(small_data)
    assert_same_state(est, before)
    with pytest.raises(KeyboardInterrupt):
        est.partial_fit(small_data)
    assert_same_state(est, before)


def test_interrupt_mid_partial_fit_keeps_previous_model(fitted, small_data, monkeypatch):
    """An interrupt after some steps of a partial_fit leaves the model as it was."""
    est = pickle.loads(pickle.dumps(fitted)).set_params(batch_size=10)
    before = snapshot(est)
    step, calls = hebbian_module._gda.minibatch_step, []

    def interrupt_third_step(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return step(*args, **kwargs)

    monkeypatch.setattr(hebbian_module._gda, "minibatch_step", interrupt_third_step)
    with pytest.raises(KeyboardInterrupt):
        est.partial_fit(small_data)
    assert len(calls) == 3
    assert_same_state(est, before)


# ---------------------------------------------------------------- devices


def test_unavailable_cuda_is_an_error_for_fit_and_a_fallback_for_transform(
    fitted, small_data, monkeypatch
):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    expected = fitted.transform(small_data)
    est = pickle.loads(pickle.dumps(fitted)).set_params(device="cuda")
    with pytest.warns(RuntimeWarning, match="using the CPU"):
        np.testing.assert_array_equal(est.transform(small_data), expected)
    with pytest.raises(ValueError, match="not available"):
        est.fit(small_data)


def test_fit_on_device_matches_cpu(device, small_data):
    params = dict(n_components=5, max_iter=3, random_state=0)
    cpu = HebbianKernelSimilarityMatching(device="cpu", **params).fit(small_data)
    other = HebbianKernelSimilarityMatching(device=device, **params).fit(small_data)
    np.testing.assert_allclose(other.components_, cpu.components_, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(
        other.transform(small_data), cpu.transform(small_data), rtol=1e-6, atol=1e-8
    )


@CUDA
@pytest.mark.cuda
def test_model_fitted_on_cuda_loads_on_cpu_only_machine(small_data, monkeypatch):
    est = HebbianKernelSimilarityMatching(5, device="cuda", max_iter=3, random_state=0)
    est.fit(small_data.astype(np.float32))
    expected = est.transform(small_data.astype(np.float32))
    blob = pickle.dumps(est)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    loaded = pickle.loads(blob)
    with pytest.warns(RuntimeWarning, match="using the CPU"):
        Y = loaded.transform(small_data.astype(np.float32))
    np.testing.assert_allclose(Y, expected, rtol=1e-4, atol=1e-5)


@CUDA
@pytest.mark.cuda
def test_cuda_training_steps_do_not_synchronise(small_data):
    """Only the periodic checks read from the device: no sync inside the step loop."""
    from sklearn_ksm import _gda, _lateral, _solver
    from sklearn_ksm.kernels import RBFKernel

    X = torch.as_tensor(small_data, dtype=torch.float32, device="cuda")
    rule = _lateral.ConditionedAntiHebbian(cap=0.2, reg=1e-3)
    state = _gda.TrainingState(X[:8].clone(), torch.ones(8, device="cuda"),
                               torch.eye(8, device="cuda"),
                               rule.initial_stats(8, X.shape[1], X.dtype, X.device))  # fmt: skip
    rates = _gda.LearningRates(0.003, 0.003, 0.2)
    batches = list(_solver._batches(X.shape[0], 4, torch.Generator().manual_seed(0), X.device))
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for t, index in enumerate(batches):
            state, _ = _gda.minibatch_step(
                state,
                X[index],
                kernel=RBFKernel(0.5),
                rule=rule,
                rates=rates,
                reg=1e-3,
                learn_gains=True,
                step=t,
            )
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert torch.isfinite(state.W).all()


def _low_rank_data(n_samples=600, rank=6, n_features=12):
    rng = np.random.RandomState(0)
    basis = np.linalg.qr(rng.normal(size=(n_features, rank)))[0]
    return (rng.normal(size=(n_samples, rank)) * np.geomspace(3, 0.3, rank)) @ basis.T


def test_equilibrium_lateral_reaches_optimum_beyond_data_rank():
    # N = 16 > rank 6: the paper's ascent has unexcited directions where its
    # rate must stay below 2 reg / l_max; the equilibrium does not care.
    X = _low_rank_data()
    est = HebbianKernelSimilarityMatching(16, kernel="linear", lateral="equilibrium",
                                          max_iter=600, random_state=0)  # fmt: skip
    Y = est.fit_transform(X)
    K = X @ X.T
    assert np.linalg.norm(K - Y @ Y.T) / np.linalg.norm(K) < 0.005
    # after fit, L is the fixed point <y y^T> of the anti-Hebbian rule
    assert np.allclose(
        Y.T @ Y / len(X), est.lateral_weights_, atol=1e-3 * np.abs(est.lateral_weights_).max()
    )


def test_duality_gap_history_and_trace(small_data, capsys):
    for lateral in ("equilibrium", "hebbian"):
        est = HebbianKernelSimilarityMatching(
            6, lateral=lateral, max_iter=3, verbose=1, random_state=0
        ).fit(small_data)
        assert est.duality_gap_history_.shape == est.gap_steps_.shape
        assert (est.duality_gap_history_ >= 0).all()
        assert est.gap_steps_[-1] == est.n_steps_
        assert "duality gap" in capsys.readouterr().out
    # the paper's ascent starts from L = I, far from its maximiser
    assert est.duality_gap_history_[0] > 1e-3
    # a stream measures its final state only 100 steps (CHECK_EVERY) after the
    # last value: a call of two steps adds none, a stream of 100 one-row calls one
    n_checks = len(est.gap_steps_)
    est.partial_fit(small_data)
    assert len(est.gap_steps_) == n_checks
    est.set_params(batch_size=1)
    for row in np.vstack([small_data] * 2)[:98]:
        est.partial_fit(row[None])
    assert len(est.gap_steps_) == n_checks + 1 and est.gap_steps_[-1] == est.n_steps_


def test_kmeans_plus_plus_init_with_more_neurons_than_rows():
    X = _low_rank_data(n_samples=10)
    est = HebbianKernelSimilarityMatching(25, max_iter=1, random_state=0).fit(X)
    assert est.components_.shape == (25, X.shape[1]) and np.isfinite(est.transform(X)).all()


def test_moment_window_is_its_own_parameter(small_data):
    # the equilibrium's averaging window, in samples; the lateral rate keeps
    # one meaning (the anti-Hebbian step) for every rule
    est = HebbianKernelSimilarityMatching(4, lateral="equilibrium", moment_window=0, max_iter=1)
    with pytest.raises(ValueError, match="moment_window"):
        est.fit(small_data)
    est.set_params(moment_window=32).fit(small_data)
    assert est._lateral_rule().moment_rate == 1.0  # a window shorter than a batch
    est.set_params(moment_window=640)
    assert est._lateral_rule().moment_rate == pytest.approx(0.1)


@pytest.mark.parametrize("kernel, window", [("linear", 13), ("rbf", 16)])
def test_landmarks_wait_for_the_automatic_moment_window(kernel, window):
    # N = 256, batches of 64: the moments average over 4 N = 1024 samples
    # (16 steps), or 800 (13 steps) for a linear kernel, whose landmarks drift
    # along exact rotations; the landmarks stay at their seeds (rows of X)
    # until the first window is full.
    X = np.random.default_rng(0).normal(size=(64 * 14, 3))

    def moved(n_steps):
        est = HebbianKernelSimilarityMatching(256, kernel=kernel, lateral="equilibrium",
                                              max_iter=1, random_state=0)  # fmt: skip
        try:
            est.fit(X[: 64 * n_steps])
        except TrainingDivergedError as error:
            # rbf, one pass of N = 256 on 832 rows: an output error of 10.007,
            # over the output check's limit of 10 (as before that check existed);
            # the state is kept, and the landmarks are what this test is about
            assert error.reason == "absurd output"
        W = est.components_
        return ~(W[:, None, :] == X[None, : 64 * n_steps, :]).all(-1).any(1)

    assert not moved(13).any()
    assert moved(14).any() == (window < 14)


def test_linear_kernel_averages_input_moments_across_partial_fits():
    # A linear kernel's drive moments follow from <x x^T> at the current
    # landmarks; the estimator keeps that mean over every sample it has seen.
    X = np.random.default_rng(0).normal(size=(512, 5))
    est = HebbianKernelSimilarityMatching(3, kernel="linear", lateral="equilibrium",
                                          random_state=0)  # fmt: skip
    est.partial_fit(X[:256])
    np.testing.assert_allclose(est._input_moments, X[:256].T @ X[:256] / 256, rtol=1e-6)
    est.partial_fit(X[256:])
    np.testing.assert_allclose(est._input_moments, X.T @ X / 512, rtol=1e-6)
    assert est._input_moments.dtype == np.float64
    # other kernels and the anti-Hebbian rules average the drives instead
    for params in ({"kernel": "rbf"}, {"kernel": "linear", "lateral": "hebbian"}):
        assert not hasattr(est.set_params(**params).fit(X), "_input_moments")
    wide = np.random.default_rng(0).normal(size=(64, 1025))
    wide_est = clone(est).set_params(kernel="linear", lateral="equilibrium", max_iter=1)
    assert not hasattr(wide_est.fit(wide), "_input_moments")


def test_float32_output_resolves_no_more_than_float32_drive():
    # N = 16 neurons on rank-6 inputs: ten directions of the lateral weights
    # carry no drive, and the float32 drive's rounding there, amplified by
    # 1 / reg, once made the float32 error 11 times the float64 one.
    X = (_low_rank_data() * 30).astype(np.float32)
    est = HebbianKernelSimilarityMatching(16, kernel="linear", max_iter=600, random_state=0)
    est.fit(X)
    error32 = kernel_approximation_error(X, est.transform(X), kernel="linear")
    X64 = X.astype(np.float64)
    error64 = kernel_approximation_error(X64, est.transform(X64), kernel="linear")
    assert error32 < 1.1 * error64


# ------------------------------------------- reliability of parameters (issue 21)


def through_numpy_kernel(X, W):
    return torch.from_numpy(X.detach().numpy() @ W.detach().numpy().T)


def boolean_kernel(X, W):
    return X @ W.T > 0


def in_place_kernel(X, W):
    X.mul_(2.0)
    return X @ W.T


def sqrt_distance_kernel(X, W):
    return torch.exp(-(((X[:, None] - W[None]) ** 2).sum(-1)).sqrt())


@pytest.mark.parametrize(
    "kernel, error, match",
    [
        (through_numpy_kernel, TypeError, "not differentiable by torch autograd"),
        (boolean_kernel, TypeError, "torch.bool values"),
        (in_place_kernel, ValueError, "modifies its input tensors in place"),
        (sqrt_distance_kernel, ValueError, "non-finite derivative"),
    ],
)
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_broken_callable_kernel_fails_at_the_start_naming_it(
    small_data, kernel, error, match, method
):
    """Regression (issue 21, item 6): these failed inside torch ("element 0 of
    tensors does not require grad", "a view ... modified inplace") or as a
    divergence, never naming the kernel; now the check at the start of fit
    raises before any training, and leaves the estimator unfitted (and, for
    the in-place kernel, the training data unchanged)."""
    X = small_data.copy()
    est = HebbianKernelSimilarityMatching(4, kernel=kernel, max_iter=1, random_state=0)
    with pytest.raises(error, match=f"'{kernel.__name__}'.*{match}"):
        getattr(est, method)(X)
    assert not hasattr(est, "components_")
    np.testing.assert_array_equal(X, small_data)


def sigmoid_kernel(X, W):
    return torch.tanh(X @ W.T + 0.5)


def test_non_psd_callable_kernel_warns_at_fit(small_data):
    """Regression (issue 21, item 6): a tanh kernel (not positive
    semi-definite) trained without a word."""
    est = HebbianKernelSimilarityMatching(4, kernel=sigmoid_kernel, max_iter=1, random_state=0)
    with pytest.warns(UserWarning, match="'sigmoid_kernel' is not positive semi-definite"):
        try:
            est.fit(small_data)
        except TrainingDivergedError:
            pass  # whether training survives a non-PSD kernel is not the point


@pytest.mark.parametrize(
    "params, dtype, match",
    [
        ({"reg": 1e155}, np.float64, r"reg=1e\+155 is out of range for float64.*most 6.7e\+153"),
        ({"reg": 1e39}, np.float32, r"reg=1e\+39 is out of range for float32.*most 1.7e\+38"),
        ({"n_components": True}, np.float64, "'n_components' parameter.*Got True"),
        ({"batch_size": np.True_}, np.float64, "'batch_size' parameter.*Got np.True_"),
    ],
)
def test_unusable_parameters_raise_clear_errors(small_data, params, dtype, match):
    """Regression (issue 21, item 7): reg=1e155 raised OverflowError (reg**2
    overflows float64), reg=1e39 with float32 a divergence blamed on the
    rates (L + reg I overflows float32), and n_components=True passed
    validation as 1 and failed inside k-means++."""
    est = HebbianKernelSimilarityMatching(**{"n_components": 4, "max_iter": 1, **params})
    with pytest.raises(ValueError, match=match):
        est.fit(small_data.astype(dtype))
    assert not hasattr(est, "components_")


def test_largest_accepted_reg_fits_and_responds(small_data):
    """The reg limits are where float arithmetic overflows, not tighter: the
    largest accepted values fit, and the outputs are finite (about 1 / reg)."""
    for dtype, reg in [(np.float64, 6.7e153), (np.float32, 1.7e38)]:
        X = small_data.astype(dtype)
        est = HebbianKernelSimilarityMatching(4, reg=reg, max_iter=1, random_state=0).fit(X)
        Y = est.transform(X)
        # rbf drives are at most the gains: |y| <= max q / reg
        assert np.isfinite(Y).all() and np.abs(Y).max() <= 2 * est.gains_.max() / reg


def test_memory_estimate_refuses_a_fit_that_cannot_fit(small_data, monkeypatch):
    """Regression (issue 21, item 7): n_components=10**6 failed inside torch's
    allocator (8 TB for one N x N matrix); the estimate (80 bytes per pair of
    neurons, 80 TB here) is now compared with the available memory before
    anything is allocated. With the available memory pinned at 1 GiB, N =
    4000 (1.2 GiB) is refused and N = 100 (0.8 MB) is not."""
    with pytest.raises(ValueError, match=r"n_components=1000000 needs about 72.8 TiB"):
        HebbianKernelSimilarityMatching(10**6, max_iter=1).partial_fit(small_data)
    monkeypatch.setattr(hebbian_module, "available_memory", lambda device: 2**30)
    with pytest.raises(ValueError, match=r"needs about 1.19 GiB.*more than the 1 GiB available"):
        HebbianKernelSimilarityMatching(4000, max_iter=1).partial_fit(small_data)
    HebbianKernelSimilarityMatching(100, max_iter=1, random_state=0).partial_fit(small_data)


def test_more_neurons_than_samples_warns(small_data):
    """Issue 21, item 9: neurons beyond the number of samples cannot be excited
    (the drive moments have rank at most n_samples); fit says so. A first
    partial_fit on a short chunk of a stream does not."""
    with pytest.warns(UserWarning, match="n_components=30 exceeds the 20 training samples"):
        HebbianKernelSimilarityMatching(30, max_iter=1, random_state=0).fit(small_data[:20])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        HebbianKernelSimilarityMatching(30, max_iter=1, random_state=0).partial_fit(small_data[:20])
        HebbianKernelSimilarityMatching(20, max_iter=1, random_state=0).fit(small_data[:20])


def test_fit_ends_at_the_best_lateral_weights_between_learned_and_settled(moons, monkeypatch):
    """The adaptive rule's final L lies on the segment from the learned weights
    to their fixed point, at a point no worse on the scored sample than either
    end (oracle: the fixed point from an eigendecomposition in numpy)."""
    X = moons[0][:600]
    # two passes: L is still off its fixed point, and a point between is best
    params = dict(n_components=12, gamma=GAMMA_MOONS, max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        monkeypatch.setattr(hebbian_module, "SETTLE_LATERAL", False)
        learned = HebbianKernelSimilarityMatching(**params).fit(X)
        monkeypatch.setattr(hebbian_module, "SETTLE_LATERAL", True)
        final = HebbianKernelSimilarityMatching(**params).fit(X)
    assert final.lateral_ == "adaptive"
    np.testing.assert_array_equal(final.components_, learned.components_)
    # the fixed point: L with the eigenvectors of S = <u u^T> and l (l + reg)^2 = s
    U = final.gains_ * rbf_kernel(X, final.components_, gamma=GAMMA_MOONS)
    s, V = np.linalg.eigh(U.T @ U / len(X))
    roots = [max(np.roots([1, 2 * final.reg, final.reg**2, -max(v, 0)]).real) for v in s]
    settled = (V * roots) @ V.T
    direction = settled - learned.learning_lateral_weights_
    t = np.sum((final.lateral_weights_ - learned.learning_lateral_weights_) * direction) / np.sum(
        direction**2
    )
    # on the segment (float64 throughout: 1e-8 of the weights' scale)
    np.testing.assert_allclose(
        final.lateral_weights_, learned.learning_lateral_weights_ + t * direction, atol=1e-8
    )
    assert 0.1 <= t <= 1 + 1e-8, t  # moved off the learned weights

    def error(L):
        Y = np.linalg.solve(L + final.reg * np.eye(len(L)), U.T).T
        return kernel_approximation_error(X, Y, kernel="rbf", gamma=GAMMA_MOONS)

    assert error(final.lateral_weights_) <= min(error(learned.learning_lateral_weights_),
                                                error(settled)) + 1e-9  # fmt: skip


def stream_in_chunks(X, first, chunk, **params):
    """``partial_fit`` on ``X[:first]`` (which initialises), then chunks of ``chunk`` rows."""
    est = HebbianKernelSimilarityMatching(**params).partial_fit(X[:first])
    for start in range(first, len(X), chunk):
        est.partial_fit(X[start : start + chunk])
    return est


def test_stream_of_single_rows_starts_from_its_first_rows(moons):
    """One row per call, the online setting: the network starts again from the rows
    seen so far each time they double, up to 256 (``STREAM_START_ROWS``), so the
    stream is the one that a first call on 256 rows and single rows after it give.
    Before, the first row seeded every landmark and fitted the gains and lateral
    weights alone: three passes over the 1,600 moons ended at a kernel error of
    1.05, against 0.19 now and 0.18 for a first call of 1,600 rows."""
    X = moons[0][:400]
    params = dict(n_components=8, gamma=GAMMA_MOONS, batch_size=1, random_state=0)
    rows, started = single_row_streams(HebbianKernelSimilarityMatching, params, X, 256)
    for name in ("components_", "gains_", "lateral_weights_", "learning_lateral_weights_"):
        np.testing.assert_allclose(getattr(rows, name), getattr(started, name), rtol=1e-10,
                                   err_msg=name)  # fmt: skip
    assert rows.n_iter_ == len(X) and rows.n_samples_seen_ == rows.n_steps_ == len(X)
    # the kept first rows are a copy: a stream may refill its buffer
    buffer = X[:1].copy()
    refilled = HebbianKernelSimilarityMatching(**params).partial_fit(buffer)
    buffer[:] = 99.0
    for i in range(1, len(X)):
        refilled.partial_fit(X[i : i + 1])
    np.testing.assert_allclose(refilled.components_, rows.components_, rtol=1e-10)


def test_stream_responds_with_the_running_average_of_the_learned_lateral_weights(moons):
    """A stream's output uses lateral_weights_, the adaptive rule's running
    average, while learning continues from learning_lateral_weights_; the
    average carries over between calls: after the same first call, the rest
    of the rows in one call or in chunks give the same network."""
    X = moons[0][:800]
    params = dict(n_components=10, gamma=GAMMA_MOONS, batch_size=8, random_state=0)
    whole = stream_in_chunks(X, 300, len(X), **params)  # 300: a whole stream start
    assert whole.lateral_ == "adaptive"
    assert not np.allclose(whole.lateral_weights_, whole.learning_lateral_weights_)
    # oracle for the output: y = (L + reg I)^-1 q f(W, x) with the averaged L
    U = whole.gains_ * rbf_kernel(X, whole.components_, gamma=GAMMA_MOONS)
    A = whole.lateral_weights_ + whole.reg * np.eye(10)
    np.testing.assert_allclose(whole.transform(X), np.linalg.solve(A, U.T).T, rtol=1e-8)
    # same steps in the same order: equal up to rounding
    chunked = stream_in_chunks(X, 300, 200, **params)
    for name in ("components_", "lateral_weights_", "learning_lateral_weights_"):
        np.testing.assert_allclose(getattr(chunked, name), getattr(whole, name), rtol=1e-10)


def test_stream_after_fit_starts_from_the_settled_lateral_weights(moons):
    X = moons[0][:600]
    est = HebbianKernelSimilarityMatching(8, gamma=GAMMA_MOONS, max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X)
    np.testing.assert_array_equal(est.learning_lateral_weights_, est.lateral_weights_)
    settled = est.lateral_weights_.copy()
    est.partial_fit(X[: est.batch_size])
    # one step at the same rates: the average moved by its slow rate only, from the settled L
    step = np.abs(est.learning_lateral_weights_ - settled).max()
    assert 0 < np.abs(est.lateral_weights_ - settled).max() < step
