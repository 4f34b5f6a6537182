"""scikit-learn's estimator checks on every public estimator."""

import pytest
from sklearn.utils.estimator_checks import (
    check_global_output_transform_pandas,
    check_param_validation,
    check_set_output_transform_pandas,
    parametrize_with_checks,
)

from sklearn_ksm import HebbianKernelSimilarityMatching

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
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS[:2], ids=repr)
def test_param_validation(estimator):
    check_param_validation(type(estimator).__name__, estimator)


@pytest.mark.parametrize(
    "check", [check_set_output_transform_pandas, check_global_output_transform_pandas]
)
@pytest.mark.parametrize("estimator", ESTIMATORS[:2], ids=repr)
def test_set_output_pandas(estimator, check):
    check(type(estimator).__name__, estimator)
