"""
=================================================================
Linear classification of MNIST on kernel similarity matching maps
=================================================================

How useful are the representations learned without labels? A network of
power-cosine neurons is fitted once on unlabelled MNIST digits; then a
logistic regression is trained on its responses ``y`` with ``k`` labelled
digits per class, and compared with one trained on the raw pixels (Luther &
Seung, Fig. 6b,c). The paper finds that the linear network (``alpha = 1``)
does as well as the pixels, and that the nonlinear ones (``alpha = 2, 3,
4``) do better than both and nearly equally well.

The protocol is the paper's: for each ``k`` and each of 5 random labelled
subsets, the weight decay (``1e-5 ... 1``) giving the highest test accuracy
is kept. It is a :class:`~sklearn.model_selection.GridSearchCV` over the
classifier's ``C`` of ``Pipeline([("ksm", frozen network), ("clf",
LogisticRegression())])``, with one split: the labelled digits train, the
test digits score.

By default the script runs a quick version (64 neurons, 3,000 steps at three
times the paper's learning rates, alpha 1 and 3, three values of ``k``, 2
seeds). ``python plot_mnist_linear_probe.py
--full`` runs the paper's setting on the 5,000-digit sample: 800 neurons, the
paper's 15,000-step schedule, ``alpha = 1, 2, 3, 4``, ``k`` in 1, 3, 10, 30,
100, 300, 5 seeds. ``--output-dir DIR`` saves the figure; ``--n-jobs J`` fits
the classifiers of the grid in parallel.
"""

# %%
# Settings and data
# -----------------
# The 5,000 digits are split, stratified, into 4,000 training digits (the
# unlabelled pool the networks learn from, and the source of the labelled
# subsets) and 1,000 test digits.
import argparse
import math
import pathlib
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, PredefinedSplit, train_test_split
from sklearn.pipeline import Pipeline

from sklearn_ksm import HebbianKernelSimilarityMatching
from sklearn_ksm.analysis import (
    PAPER_WEIGHT_DECAYS,
    sample_per_class,
    weight_decay_to_C,
)
from sklearn_ksm.datasets import load_mnist
from sklearn_ksm.plotting import ProbeAccuracyDisplay

parser = argparse.ArgumentParser(description="Linear probe on learned representations (Fig. 6b,c).")
parser.add_argument("--full", action="store_true", help="paper scale: N = 800, 15,000 steps")
parser.add_argument("--output-dir", help="save the figure there as PNG")
parser.add_argument("--n-jobs", type=int, help="classifiers fitted in parallel")
args, _ = parser.parse_known_args()  # sphinx-gallery passes its own arguments

if args.full:
    n_components, n_steps, alphas = 800, 15_000, (1, 2, 3, 4)
    labels_per_class, n_seeds, weight_decays = (1, 3, 10, 30, 100, 300), 5, PAPER_WEIGHT_DECAYS
else:
    n_components, n_steps, alphas = 64, 3_000, (1, 3)
    labels_per_class, n_seeds, weight_decays = (1, 10, 100), 2, (1e-3, 1e-2, 1e-1)

X, digits = load_mnist(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, digits, test_size=1000, stratify=digits, random_state=0
)
batch_size = 64
# The paper's rates; the quick version takes larger steps to get somewhere in 3,000.
learning_rate = 0.001 if args.full else 0.003
n_epochs = math.ceil(n_steps / math.ceil(len(X_train) / batch_size))

# %%
# Networks, fitted once without labels
# ------------------------------------
# The paper's MNIST schedule (see :ref:`the sparsity example
# <sphx_glr_auto_examples_plot_mnist_sparsity.py>`).
networks = {}
for alpha in alphas:
    network = HebbianKernelSimilarityMatching(
        n_components,
        kernel="power_cosine",
        degree=alpha,
        learning_rate=learning_rate,
        learning_rate_lateral=10 * learning_rate,
        lateral="hebbian",
        init="random",  # the paper's procedure
        decay_start=2 / 3,
        batch_size=batch_size,
        max_iter=n_epochs,
        random_state=0,
    )
    tic = time.perf_counter()
    networks[f"alpha = {alpha}"] = network.fit(X_train)
    print(f"alpha = {alpha}: {network.n_steps_} steps in {time.perf_counter() - tic:.1f} s")

# %%
# One probe, spelled out
# ----------------------
# The fitted network is wrapped in :class:`~sklearn.frozen.FrozenEstimator`, so
# that fitting the pipeline trains the classifier only. The weight decay
# ``lam`` on the mean loss is scikit-learn's ``C = 1 / (lam n)``. The search
# has a single predefined split: the ``10 k`` labelled digits train (fold -1),
# the test digits score (fold 0); ``refit=False`` since the scores are all we
# need.
probe = Pipeline(
    [("ksm", FrozenEstimator(networks[f"alpha = {alphas[-1]}"])),
     ("clf", LogisticRegression(max_iter=1000))]
)  # fmt: skip
rows = sample_per_class(y_train, 10, random_state=0)
split = PredefinedSplit(np.r_[np.full(len(rows), -1), np.zeros(len(X_test), dtype=int)])
search = GridSearchCV(
    probe, {"clf__C": list(weight_decay_to_C(weight_decays, len(rows)))}, cv=split,
    refit=False, return_train_score=True,
)  # fmt: skip
search.fit(np.concatenate([X_train[rows], X_test]), np.concatenate([y_train[rows], y_test]))
for lam, test, train in zip(
    weight_decays, search.cv_results_["mean_test_score"], search.cv_results_["mean_train_score"],
    strict=True,
):  # fmt: skip
    print(f"alpha = {alphas[-1]}, k = 10, weight decay {lam:g}: test {test:.3f} train {train:.3f}")

# %%
# Accuracy vs labels per class
# ----------------------------
# :func:`~sklearn_ksm.analysis.linear_probe_scores` runs that search for each
# ``k`` and seed (the same labelled subsets for every representation);
# ``None`` probes the raw pixels. The weakest decays may stop lbfgs at its
# iteration limit; such a fit is rarely the selected one.
fig, (ax_test, ax_train) = plt.subplots(1, 2, figsize=(12, 4.5), sharex=True)
results = {}
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    for name, transformer in [("pixels", None), *networks.items()]:
        tic = time.perf_counter()
        display = ProbeAccuracyDisplay.from_estimator(
            transformer, X_train, y_train, X_test, y_test, labels_per_class=labels_per_class,
            weight_decays=weight_decays, n_seeds=n_seeds, random_state=0, n_jobs=args.n_jobs,
            name=name, ax=ax_test,
        )  # fmt: skip
        display.plot(ax=ax_train, score_type="train")
        results[name] = display
        print(f"probe on {name}: {time.perf_counter() - tic:.1f} s")
ax_test.set_title("test accuracy (mean and std over seeds)")
ax_train.set_title("train accuracy")
fig.tight_layout()
if args.output_dir:
    fig.savefig(pathlib.Path(args.output_dir) / "mnist_linear_probe.png", dpi=120)

# %%
# Table
# -----
for score_type in ("test", "train"):
    print(f"\n{score_type} accuracy, mean (std) over {n_seeds} seeds")
    print(f"{'k':>5}" + "".join(f"{name:>16}" for name in results))
    for i, k in enumerate(labels_per_class):
        cells = []
        for display in results.values():
            scores = display.test_scores if score_type == "test" else display.train_scores
            cells.append(f"{scores[i].mean():.3f} ({scores[i].std():.3f})")
        print(f"{k:>5}" + "".join(f"{cell:>16}" for cell in cells))
plt.show()
