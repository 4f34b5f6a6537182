"""Analyses of learned representations (the paper's MNIST section, 4.2 and A.7-A.8).

Pure NumPy / scikit-learn functions shared by :mod:`sklearn_ksm.plotting` and
the examples: the sign degeneracy of the responses, sparsity figures,
"linearized" receptive fields, and the linear-probe protocol.
"""

from numbers import Integral

import numpy as np
import scipy.linalg
from scipy import stats
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, PredefinedSplit
from sklearn.pipeline import Pipeline
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import Interval, validate_params
from sklearn.utils.validation import check_array

__all__ = [
    "remove_sign_degeneracy",
    "response_kurtosis",
    "response_sparsity",
    "linearized_responses",
    "template_similarity",
    "sample_per_class",
    "weight_decay_to_C",
    "linear_probe_scores",
]

# The paper's grid of weight decays for the linear probe (section 4.2).
PAPER_WEIGHT_DECAYS = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
# The paper's numbers of labels per class on MNIST (up to 300 on the 5k sample).
PAPER_LABELS_PER_CLASS = (1, 3, 10, 30, 100, 300, 1000, 3000)


def remove_sign_degeneracy(Y, components=None):
    """Flip each neuron so that its mean response is non-negative.

    For odd ``alpha`` the power-cosine objective is unchanged when ``w_i``
    and ``y_i`` change sign together; the paper removes this degeneracy by
    multiplying both by the sign of the mean response ``<y_i>`` (section 4.2).

    Parameters
    ----------
    Y : array-like of shape (n_samples, n_components)
        Responses of the neurons.
    components : array-like of shape (n_components, n_features), default=None
        The neurons' feedforward weights ``W``, flipped with the same signs.

    Returns
    -------
    Y_signed : ndarray of shape (n_samples, n_components)
        ``Y * signs`` with ``signs = sign(Y.mean(axis=0))`` (0 counts as +1).
    components_signed : ndarray of shape (n_components, n_features) or None
        ``components * signs[:, None]``, or None if ``components`` is None.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ksm.analysis import remove_sign_degeneracy
    >>> Y = np.array([[1.0, -3.0], [2.0, 1.0]])
    >>> Y_signed, _ = remove_sign_degeneracy(Y)
    >>> Y_signed
    array([[ 1.,  3.],
           [ 2., -1.]])
    """
    Y = check_array(Y, dtype=[np.float64, np.float32])
    signs = np.where(Y.mean(axis=0) < 0, -1, 1).astype(Y.dtype)
    if components is None:
        return Y * signs, None
    components = check_array(components, dtype=[np.float64, np.float32])
    if components.shape[0] != Y.shape[1]:
        raise ValueError(f"components has {components.shape[0]} rows; Y has {Y.shape[1]} neurons.")
    return Y * signs, components * signs[:, None]


def response_kurtosis(Y):
    """Excess kurtosis of each neuron's responses (0 for a Gaussian; sparse > 0).

    ``<(y - <y>)^4> / <(y - <y>)^2>^2 - 3`` over the samples, per neuron
    (the biased, population moments).

    Parameters
    ----------
    Y : array-like of shape (n_samples, n_components)
        Responses.

    Returns
    -------
    kurtosis : ndarray of shape (n_components,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ksm.analysis import response_kurtosis
    >>> response_kurtosis(np.array([[-1.0], [1.0]]))
    array([-2.])
    """
    Y = check_array(Y, dtype=np.float64)
    return stats.kurtosis(Y, axis=0, fisher=True, bias=True)


def response_sparsity(Y, *, threshold=0.1):
    """Fraction of each neuron's responses below ``threshold`` times its largest.

    The share of samples with ``|y_i| < threshold * max_t |y_i(t)|``: near 0
    for dense codes, near 1 for sparse ones.

    Parameters
    ----------
    Y : array-like of shape (n_samples, n_components)
        Responses.
    threshold : float, default=0.1
        Fraction of the neuron's largest absolute response.

    Returns
    -------
    fraction : ndarray of shape (n_components,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ksm.analysis import response_sparsity
    >>> response_sparsity(np.array([[10.0], [0.5], [-2.0], [0.0]]))
    array([0.5])
    """
    Y = np.abs(check_array(Y, dtype=np.float64))
    return np.mean(Y < threshold * Y.max(axis=0), axis=0)


def linearized_responses(X, Y, *, reg=0.1):
    """Linear receptive fields ``s_i = (reg I + <x x^T>)^{-1} <y_i x>`` (paper A.8).

    The ridge regression of each response on the inputs, so that
    ``y_i ~ s_i . x`` (the paper's "linearized neuron responses", Fig. 9,
    with ``reg = 0.1``).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Inputs.
    Y : array-like of shape (n_samples, n_components)
        Responses to those inputs.
    reg : float, default=0.1
        Ridge added to the input correlation matrix ``<x x^T> = X^T X / n``.

    Returns
    -------
    S : ndarray of shape (n_components, n_features)
        One linear filter per neuron (rows, like ``components_``).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ksm.analysis import linearized_responses
    >>> X = np.random.RandomState(0).normal(size=(500, 3))
    >>> A = np.array([[1.0, 2.0, 0.0]])
    >>> np.round(linearized_responses(X, X @ A.T, reg=0.0), 6)
    array([[1., 2., 0.]])
    """
    X = check_array(X, dtype=np.float64)
    Y = check_array(Y, dtype=np.float64)
    if len(X) != len(Y):
        raise ValueError(f"X and Y must have the same number of rows, got {len(X)} and {len(Y)}.")
    n = len(X)
    correlation = X.T @ X / n
    correlation[np.diag_indices_from(correlation)] += reg
    cross = X.T @ Y / n
    return scipy.linalg.solve(correlation, cross, assume_a="pos").T


def template_similarity(components, X, *, block_size=4096):
    """Cosine similarity of each feature with its closest input: how template-like it is.

    ``max_t |cos(w_i, x_t)|``: 1 when ``w_i`` is (a multiple of) an input,
    near 0 for a feature unlike any input. The absolute value makes it blind
    to the sign of ``w_i``, which is arbitrary for even ``alpha``. Used to
    check that power-cosine features turn into whole-digit templates as
    ``alpha`` grows (paper, Figs. 8-9).

    Parameters
    ----------
    components : array-like of shape (n_components, n_features)
        Features, e.g. ``components_`` or linearized responses.
    X : array-like of shape (n_samples, n_features)
        Inputs.
    block_size : int, default=4096
        Rows of ``X`` compared at once (memory ``O(block_size * n_components)``).

    Returns
    -------
    similarity : ndarray of shape (n_components,)
        The largest absolute cosine similarity (in [0, 1]); 0 for an all-zero
        feature.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ksm.analysis import template_similarity
    >>> X = np.array([[1.0, 0.0], [0.0, 2.0]])
    >>> template_similarity(np.array([[-3.0, 0.0], [1.0, 1.0]]), X).round(4)
    array([1.    , 0.7071])
    """
    W = check_array(components, dtype=np.float64)
    X = check_array(X, dtype=np.float64)
    if W.shape[1] != X.shape[1]:
        raise ValueError(f"components have {W.shape[1]} features; X has {X.shape[1]}.")

    def unit_rows(A):
        norms = np.linalg.norm(A, axis=1, keepdims=True)
        return A / np.where(norms > 0, norms, 1.0)

    W = unit_rows(W)
    best = np.zeros(len(W))
    for start in range(0, len(X), block_size):
        block = unit_rows(X[start : start + block_size])
        best = np.maximum(best, np.abs(W @ block.T).max(axis=1))
    return best


def sample_per_class(y, n_per_class, *, random_state=None):
    """Indices of ``n_per_class`` randomly chosen samples of every class.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Class labels.
    n_per_class : int
        Samples drawn (without replacement) from each class.
    random_state : int, RandomState instance or None, default=None
        Seeds the draw.

    Returns
    -------
    indices : ndarray of shape (n_classes * n_per_class,)
        Sorted row indices into ``y``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ksm.analysis import sample_per_class
    >>> y = np.array([0, 0, 0, 1, 1, 1])
    >>> idx = sample_per_class(y, 2, random_state=0)
    >>> np.bincount(y[idx]).tolist()
    [2, 2]
    """
    y = np.asarray(y)
    rng = check_random_state(random_state)
    chosen = []
    for label in np.unique(y):
        rows = np.flatnonzero(y == label)
        if len(rows) < n_per_class:
            label = label.item() if isinstance(label, np.generic) else label
            raise ValueError(f"Class {label!r} has {len(rows)} samples; asked for {n_per_class}.")
        chosen.append(rng.choice(rows, n_per_class, replace=False))
    return np.sort(np.concatenate(chosen))


def weight_decay_to_C(weight_decay, n_samples):
    """:class:`~sklearn.linear_model.LogisticRegression`'s ``C`` for a weight decay.

    A weight decay ``lam`` on the mean loss, ``mean_i loss_i + lam/2 |w|^2``
    (PyTorch's ``weight_decay``), has the same minimiser as scikit-learn's
    ``C sum_i loss_i + 1/2 |w|^2`` with ``C = 1 / (lam n_samples)``.

    Parameters
    ----------
    weight_decay : float or array-like
        The decay ``lam`` (> 0).
    n_samples : int
        Number of training samples.

    Returns
    -------
    C : float or ndarray

    Examples
    --------
    >>> from sklearn_ksm.analysis import weight_decay_to_C
    >>> weight_decay_to_C(1e-3, 100)
    10.0
    """
    C = 1.0 / (np.asarray(weight_decay, dtype=np.float64) * n_samples)
    return float(C) if C.ndim == 0 else C


def _check_same_classes(y, y_test):
    """Refuse a split whose training pool and test set hold different classes.

    A test class absent from the pool is never predicted (its samples all
    count as errors); a pool class absent from the test set is never tested.
    Either way the accuracies are not those of "k labels of every class".
    Data sorted by class, split by position, give such splits silently.
    """
    train_classes, test_classes = np.unique(y), np.unique(y_test)
    missing = {
        "training pool y": np.setdiff1d(test_classes, train_classes),
        "test set y_test": np.setdiff1d(train_classes, test_classes),
    }
    problems = [f"the {where} lacks classes {classes.tolist()}"
                for where, classes in missing.items() if len(classes)]  # fmt: skip
    if problems:
        raise ValueError(
            "The linear probe needs the same classes in y and y_test, but "
            f"{' and '.join(problems)} (y has {train_classes.tolist()}, y_test has "
            f"{test_classes.tolist()}). Is the data sorted by class? Split it with "
            "sklearn.model_selection.train_test_split(..., stratify=y)."
        )


@validate_params(
    {
        "transformer": "no_validation",
        "X": ["array-like"],
        "y": ["array-like"],
        "X_test": ["array-like"],
        "y_test": ["array-like"],
        "labels_per_class": ["array-like"],
        "weight_decays": ["array-like"],
        "n_seeds": [Interval(Integral, 1, None, closed="left")],
        "classifier": "no_validation",
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
    },
    prefer_skip_nested_validation=True,
)
def linear_probe_scores(
    transformer, X, y, X_test, y_test, *, labels_per_class=(1, 3, 10, 30, 100, 300),
    weight_decays=PAPER_WEIGHT_DECAYS, n_seeds=5, classifier=None, random_state=None,
    n_jobs=None,
):  # fmt: skip
    """Accuracy of a linear classifier on a fixed representation vs labels per class.

    The paper's protocol (section 4.2, Fig. 6b,c): a representation learned
    without labels is frozen; for each number ``k`` of labels per class and
    each seed, a linear classifier is trained on ``k`` random labelled
    samples of every class with each weight decay of ``weight_decays``, and
    the decay giving the highest test accuracy is kept (as the paper does:
    the choice is made on the test set, so the figures are optimistic, the
    same way for every representation).

    Each run is a :class:`~sklearn.model_selection.GridSearchCV` over
    ``Pipeline([("ksm", FrozenEstimator(transformer)), ("clf", classifier)])``
    with one predefined split (the labelled subset to train, the test set to
    score) and ``return_train_score=True``; the frozen transformer is never
    refitted.

    Parameters
    ----------
    transformer : fitted transformer or None
        The representation (e.g. a fitted
        :class:`~sklearn_ksm.HebbianKernelSimilarityMatching`); ``None``
        probes the raw inputs.
    X : array-like of shape (n_samples, n_features)
        Pool of training inputs the labelled subsets are drawn from.
    y : array-like of shape (n_samples,)
        Their labels.
    X_test : array-like of shape (n_test, n_features)
        Test inputs.
    y_test : array-like of shape (n_test,)
        Their labels.
    labels_per_class : array-like of int, default=(1, 3, 10, 30, 100, 300)
        The numbers ``k`` of labelled samples per class.
    weight_decays : array-like of float, default=(1e-5, 1e-4, ..., 1)
        The grid of weight decays ``lam`` (on the mean loss); each becomes
        ``C = 1 / (lam * n_labelled)`` (see :func:`weight_decay_to_C`).
    n_seeds : int, default=5
        Random labelled subsets per ``k``.
    classifier : estimator, default=None
        The linear classifier, with a parameter ``C``;
        ``LogisticRegression(max_iter=1000)`` if None.
    random_state : int, RandomState instance or None, default=None
        Seeds the labelled subsets.
    n_jobs : int, default=None
        Grid points fitted in parallel (``GridSearchCV``'s ``n_jobs``).

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        ``labels_per_class`` (n_k,), ``test_scores`` and ``train_scores``
        (n_k, n_seeds): accuracies at the selected decay, and
        ``weight_decay`` (n_k, n_seeds): the selected decay.

    Raises
    ------
    ValueError
        If ``y`` and ``y_test`` do not hold the same classes (e.g. a split by
        position of data sorted by class); the message names the missing ones.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ksm.analysis import linear_probe_scores
    >>> rng = np.random.RandomState(0)
    >>> y = np.repeat([0, 1], 20)
    >>> X = rng.normal(size=(40, 2)) + 3 * y[:, None]
    >>> result = linear_probe_scores(None, X, y, X, y, labels_per_class=[1, 5],
    ...                              weight_decays=[1e-2, 1], n_seeds=2, random_state=0)
    >>> result.test_scores.shape
    (2, 2)
    >>> bool(result.test_scores[-1].min() > 0.9)
    True
    """
    X, X_test = np.asarray(X), np.asarray(X_test)
    y, y_test = np.asarray(y), np.asarray(y_test)
    _check_same_classes(y, y_test)
    labels_per_class = np.asarray(labels_per_class, dtype=int)
    weight_decays = np.asarray(weight_decays, dtype=np.float64)
    if classifier is None:
        classifier = LogisticRegression(max_iter=1000)
    first = "passthrough" if transformer is None else FrozenEstimator(transformer)
    probe = Pipeline([("ksm", first), ("clf", classifier)])
    rng = check_random_state(random_state)
    seeds = rng.randint(np.iinfo(np.int32).max, size=n_seeds)
    shape = (len(labels_per_class), n_seeds)
    test, train, decay = np.empty(shape), np.empty(shape), np.empty(shape)
    test_fold_of_test = np.zeros(len(X_test), dtype=int)
    for i, k in enumerate(labels_per_class):
        for j, seed in enumerate(seeds):
            rows = sample_per_class(y, k, random_state=seed)
            n_train = len(rows)
            # One split: the labelled subset trains (fold -1), the test set scores (fold 0).
            split = PredefinedSplit(np.r_[np.full(n_train, -1), test_fold_of_test])
            search = GridSearchCV(
                clone(probe), {"clf__C": list(weight_decay_to_C(weight_decays, n_train))},
                cv=split, refit=False, return_train_score=True, error_score="raise",
                n_jobs=n_jobs,
            )  # fmt: skip
            search.fit(np.concatenate([X[rows], X_test]), np.concatenate([y[rows], y_test]))
            best = search.best_index_
            test[i, j] = search.cv_results_["mean_test_score"][best]
            train[i, j] = search.cv_results_["mean_train_score"][best]
            decay[i, j] = weight_decays[best]
    return Bunch(
        labels_per_class=labels_per_class, test_scores=test, train_scores=train, weight_decay=decay
    )
