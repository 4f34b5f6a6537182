"""Property-based robustness: any input either works with finite output or
raises a clear ValueError / TypeError (never a torch crash, a hang or NaN)."""

import pickle

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sklearn_ksm import (
    FoldiakNetwork,
    HebbianKernelSimilarityMatching,
    HebbianSimilarityMatching,
    TrainingDivergedError,
)
from sklearn_ksm.datasets import load_mnist, make_half_moons

DTYPES = [np.float16, np.float32, np.float64, np.int32, np.int64, np.bool_, object]
KERNELS = ["rbf", "power_cosine", "linear", "poly"]


@st.composite
def inputs(draw):
    n = draw(st.integers(1, 25))
    m = draw(st.integers(1, 5))
    scale = 10.0 ** draw(st.sampled_from([-8, -3, 0, 3, 8]))
    seed = draw(st.integers(0, 2**16))
    X = np.random.RandomState(seed).normal(size=(n, 2 * m)) * scale
    X = X[:, ::2] if draw(st.booleans()) else np.ascontiguousarray(X[:, :m])  # strided or not
    special = draw(st.sampled_from([None, np.nan, np.inf, -np.inf]))
    if special is not None:
        X[draw(st.integers(0, n - 1)), draw(st.integers(0, m - 1))] = special
    dtype = draw(st.sampled_from(DTYPES))
    with np.errstate(invalid="ignore", over="ignore"):
        X = X.astype(dtype)
    if draw(st.booleans()):
        X.flags.writeable = False
    container = draw(st.sampled_from(["array", "dataframe", "list"]))
    if container == "dataframe":
        X = pd.DataFrame(X, columns=[f"f{i}" for i in range(m)])
    elif container == "list":
        X = X.tolist()
    return X


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    X=inputs(),
    n_components=st.integers(1, 30),
    kernel=st.sampled_from(KERNELS),
    method=st.sampled_from(["fit", "partial_fit"]),
)
def test_any_input_works_or_fails_clearly(X, n_components, kernel, method):
    est = HebbianKernelSimilarityMatching(
        n_components, kernel=kernel, max_iter=2, batch_size=8, random_state=0
    )
    try:
        getattr(est, method)(X)
        Y = est.transform(X)
    except (ValueError, TypeError) as exc:
        assert str(exc), "errors must say what was wrong"
        return
    assert Y.shape == (len(X), n_components)
    assert np.isfinite(Y).all()
    for name in ("components_", "gains_", "lateral_weights_", "objective_history_"):
        assert np.isfinite(getattr(est, name)).all(), name


@pytest.mark.parametrize("scale", [1e-8, 1e8])
@pytest.mark.parametrize("kernel", KERNELS)
def test_extreme_scales_float32(scale, kernel):
    X = (np.random.RandomState(0).normal(size=(50, 3)) * scale).astype(np.float32)
    est = HebbianKernelSimilarityMatching(4, kernel=kernel, max_iter=3, random_state=0)
    try:
        Y = est.fit_transform(X)
    except ValueError as exc:
        assert "diverged" in str(exc) or "not finite" in str(exc)
        assert np.isfinite(est.components_).all()
        return
    assert np.isfinite(Y).all()


def _fitted_arrays_finite(est):
    for name, value in vars(est).items():
        if name.endswith("_") and isinstance(value, np.ndarray) and value.dtype.kind == "f":
            assert np.isfinite(value).all(), name


LINEAR = [HebbianSimilarityMatching, FoldiakNetwork]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    X=inputs(),
    n_components=st.integers(1, 8),
    cls=st.sampled_from(LINEAR),
    method=st.sampled_from(["fit", "partial_fit"]),
)
def test_linear_networks_any_input_works_or_fails_clearly(X, n_components, cls, method):
    est = cls(n_components, max_iter=2, batch_size=4, random_state=0)
    try:
        getattr(est, method)(X)
        Y = est.transform(X)
    except (ValueError, TypeError) as exc:
        assert str(exc), "errors must say what was wrong"
        return
    assert Y.shape == (len(X), n_components)
    assert np.isfinite(Y).all()
    _fitted_arrays_finite(est)


@st.composite
def odd_objects(draw):
    """Object arrays holding strings, None, complex numbers or nested lists."""
    n, m = draw(st.integers(1, 6)), draw(st.integers(1, 3))
    X = np.random.RandomState(0).normal(size=(n, m)).astype(object)
    X[draw(st.integers(0, n - 1)), draw(st.integers(0, m - 1))] = draw(
        st.sampled_from(["a", "1.5", None, 1 + 2j, [1.0], b"x", np.datetime64("2020-01-01")])
    )
    return X


@settings(max_examples=60, deadline=None)
@given(X=odd_objects(), cls=st.sampled_from([HebbianKernelSimilarityMatching] + LINEAR))
def test_odd_objects_work_or_fail_clearly(X, cls):
    est = cls(2, max_iter=1, batch_size=4, random_state=0)
    try:
        Y = est.fit(X).transform(X)
    except (ValueError, TypeError) as exc:
        assert str(exc)
        return
    assert np.isfinite(Y).all()  # e.g. the string "1.5" is converted to a float


@pytest.fixture(scope="module")
def fitted_models():
    X = np.random.RandomState(0).normal(size=(60, 3))
    return [
        HebbianKernelSimilarityMatching(5, kernel=kernel, max_iter=2, random_state=0).fit(X)
        for kernel in KERNELS
    ] + [cls(2, max_iter=2, random_state=0).fit(X) for cls in LINEAR]


@pytest.mark.filterwarnings("ignore:X has feature names")
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(X=inputs(), which=st.integers(0, len(KERNELS) + len(LINEAR) - 1))
def test_fitted_model_transform_and_partial_fit_any_input(fitted_models, X, which):
    """A fitted model fed any input: finite output or a clear error, and the
    model is unchanged by a rejected ``partial_fit``."""
    est = pickle.loads(pickle.dumps(fitted_models[which]))
    before = {k: v.copy() for k, v in vars(est).items() if isinstance(v, np.ndarray)}
    try:
        Y = est.transform(X)
    except (ValueError, TypeError) as exc:
        assert str(exc)
    else:
        assert np.isfinite(Y).all()
    try:
        est.partial_fit(X)
    except (ValueError, TypeError) as exc:
        assert str(exc)
        if not isinstance(exc, TrainingDivergedError):  # that one keeps its last finite state
            for name, value in before.items():
                np.testing.assert_array_equal(getattr(est, name), value, err_msg=name)
    _fitted_arrays_finite(est)


@pytest.fixture(scope="module")
def sweep_data():
    X_mnist = load_mnist(source="sample", return_X_y=True)[0][:640]
    return {
        "moons": (make_half_moons(640, random_state=0)[0], dict(gamma=1 / (2 * 0.3**2))),
        "mnist": (X_mnist, dict(kernel="power_cosine", degree=3)),
    }


@pytest.mark.parametrize("data", ["moons", "mnist"])
@pytest.mark.parametrize("multiplier", [100, 1000])
@pytest.mark.parametrize("reg", [1e-6, 0.0])
@pytest.mark.parametrize("lateral, lateral_rate", [("hebbian", 2.0), ("equilibrium", "auto")])
def test_large_rates_and_no_reg_never_leave_nan(
    sweep_data, data, multiplier, reg, lateral, lateral_rate
):
    """A corner of benchmarks/divergence_sweep.py: finish or raise the documented
    error; never NaN in a fitted attribute or in the output."""
    X, kernel = sweep_data[data]
    est = HebbianKernelSimilarityMatching(
        16, **kernel, reg=reg, learning_rate=0.003 * multiplier,
        learning_rate_gain=0.003 * multiplier, learning_rate_lateral=lateral_rate,
        lateral=lateral, batch_size=64, max_iter=4, random_state=0,
    )  # fmt: skip
    try:
        est.fit(X)
    except TrainingDivergedError as exc:
        assert "diverged" in str(exc) and "last finite state" in str(exc)
    _fitted_arrays_finite(est)
    try:
        Y = est.transform(X)
    except ValueError as exc:  # a finite state whose output overflows is refused
        assert "not finite" in str(exc)
    else:
        assert np.isfinite(Y).all()


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_singular_lateral_weights_raise_value_error(method):
    """Regression (found by the property test above): one int32 entry of -2**31
    left finite but singular lateral weights, and computing the filters M^-1 W
    crashed inside torch (LinAlgError). Now a clear ValueError, nothing stored."""
    X = np.zeros((13, 2), dtype=np.int32)
    X[4, 0] = np.iinfo(np.int32).min
    est = HebbianSimilarityMatching(2, max_iter=2, batch_size=4, random_state=0)
    with pytest.raises(ValueError, match="lateral weights became singular.*standardise"):
        getattr(est, method)(X)
    assert not hasattr(est, "components_") and not hasattr(est, "n_steps_")
