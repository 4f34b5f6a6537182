"""scikit-learn's estimator checks on every public estimator."""

import pytest
from sklearn.utils.estimator_checks import (
    check_global_output_transform_pandas,
    check_param_validation,
    check_set_output_transform_pandas,
    parametrize_with_checks,
)

from sklearn_ksm import (
    FoldiakNetwork,
    HebbianKernelSimilarityMatching,
    HebbianSimilarityMatching,
)
from sklearn_ksm._base import NetworkEstimatorMixin
from sklearn_ksm.baselines import KernelNystroem, UncenteredKernelPCA

# Small networks and few passes keep the ~50 checks per instance fast; the
# behaviour under test (API contracts) does not depend on the size.
ESTIMATORS = [
    HebbianKernelSimilarityMatching(n_components=5, max_iter=5, random_state=0),
    HebbianKernelSimilarityMatching(
        n_components=5, kernel="power_cosine", max_iter=5, random_state=0
    ),
    HebbianKernelSimilarityMatching(n_components=3, kernel="linear", max_iter=5, random_state=0),
    # Several checks fit on inputs around 100, where poly with the default
    # gamma = 1/n_features reaches values ~1e8 and fixed-rate gradient steps
    # diverge (by design, a TrainingDivergedError); a gamma matched to that
    # scale keeps the kernel O(1) there.
    HebbianKernelSimilarityMatching(
        n_components=4, kernel="poly", degree=2, gamma=1e-4, max_iter=5, random_state=0
    ),
    HebbianKernelSimilarityMatching(
        n_components=4, inference="dynamics", max_iter=2, random_state=0
    ),
    UncenteredKernelPCA(n_components=4),
    UncenteredKernelPCA(
        n_components=4, kernel="power_cosine", eigen_solver="randomized", random_state=0
    ),  # fmt: skip
    KernelNystroem(n_components=5, random_state=0),
    KernelNystroem(n_components=5, kernel="power_cosine", landmarks="kmeans", random_state=0),
    KernelNystroem(n_components=5, landmarks="rpcholesky", random_state=0),
]

# The linear networks (issue 5): online PSP, PSW with its guard, the offline
# full-batch algorithm with the neural-dynamics inference, the heuristic baseline.
ESTIMATORS += [
    HebbianSimilarityMatching(n_components=2, max_iter=2, random_state=0),
    HebbianSimilarityMatching(
        n_components=2, mode="psw", pd_floor=0.05, max_iter=2, random_state=0
    ),
    HebbianSimilarityMatching(
        n_components=2, batch_size=None, inference="dynamics", max_iter=3, random_state=0
    ),
    # Oja's rule diverges when eta |x|^2 >> 1 and several checks fit on inputs
    # around 100: a rate matched to that scale.
    FoldiakNetwork(n_components=2, learning_rate=1e-6, max_iter=2, random_state=0),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    try:
        check(estimator)
    except AssertionError as error:
        # scikit-learn's check_array_api_input asserts that attributes fitted
        # on torch tensors are torch tensors; the networks keep NumPy fitted
        # attributes whatever the input, so that fitted models pickle and load
        # on any machine (doc/scale_out.rst). What they promise under array
        # API dispatch (outputs in the input's namespace, device and dtype,
        # equal to the NumPy path) is tested in tests/test_array_api.py.
        known = "attribute is in wrong namespace" in str(error)
        if isinstance(estimator, NetworkEstimatorMixin) and known:
            pytest.xfail("fitted attributes stay NumPy arrays by design")
        raise


@pytest.mark.parametrize("estimator", ESTIMATORS[:2], ids=repr)
def test_param_validation(estimator):
    check_param_validation(type(estimator).__name__, estimator)


@pytest.mark.parametrize(
    "check", [check_set_output_transform_pandas, check_global_output_transform_pandas]
)
@pytest.mark.parametrize("estimator", ESTIMATORS[:2], ids=repr)
def test_set_output_pandas(estimator, check):
    check(type(estimator).__name__, estimator)
