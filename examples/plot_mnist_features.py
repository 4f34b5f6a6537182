"""
=====================================================================
Learned features and linearized responses of power-cosine networks
=====================================================================

What do the neurons of a power-cosine network trained on MNIST respond to?
Two pictures per network (Luther & Seung, Figs. 8 and 9): the feedforward
weights ``w_i`` (the landmarks), and the "linearized responses"
``s_i = (0.1 I + <x x^T>)^{-1} <y_i x>``, the ridge regression of each
response on the pixels (``y_i ~ s_i . x``), which also accounts for the
lateral inhibition. The paper reports that for ``alpha = 1`` the weights are
complicated mixtures of digits and the linearized responses high-frequency
patterns, while as ``alpha`` grows both look more and more like whole
digits ("templates").

The table measures this: for each feature, the largest absolute cosine
similarity with any digit of the data set (1 for an exact template).

By default the script runs a quick version (64 neurons, 1,500 digits, 3,000
steps at three times the paper's learning rates). ``python plot_mnist_features.py
--full`` runs the paper's setting on the 5,000-digit sample: 800 neurons, the
paper's 15,000-step schedule.
``--output-dir DIR`` saves the figure.
"""

# %%
# Settings
# --------
import argparse
import math
import pathlib
import time

import matplotlib.pyplot as plt
import numpy as np

from sklearn_ksm import HebbianKernelSimilarityMatching
from sklearn_ksm.analysis import linearized_responses, template_similarity
from sklearn_ksm.datasets import load_mnist
from sklearn_ksm.plotting import ImageGridDisplay

parser = argparse.ArgumentParser(description="Learned features of power-cosine networks.")
parser.add_argument("--full", action="store_true", help="paper scale: N = 800, 15,000 steps")
parser.add_argument("--output-dir", help="save the figure there as PNG")
args, _ = parser.parse_known_args()  # sphinx-gallery passes its own arguments

if args.full:
    n_components, n_steps, n_samples = 800, 15_000, None
else:
    n_components, n_steps, n_samples = 64, 3_000, 1_500
alphas = (1, 2, 3, 4)

X, digits = load_mnist(return_X_y=True)
if n_samples is not None:
    X = X[np.random.RandomState(0).permutation(len(X))[:n_samples]]
batch_size = 64
# The paper's rates; the quick version takes larger steps to get somewhere in 3,000.
learning_rate = 0.001 if args.full else 0.003
n_epochs = math.ceil(n_steps / math.ceil(len(X) / batch_size))

# %%
# Training
# --------
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
    networks[alpha] = network.fit(X)
    print(f"alpha = {alpha}: {network.n_steps_} steps in {time.perf_counter() - tic:.1f} s")

# %%
# How template-like are the features?
# -----------------------------------
# Median over neurons of the best absolute cosine similarity with a digit,
# for the weights ``w_i`` and for the linearized responses ``s_i``. For
# reference, the same figure for weights drawn like the estimator's initial
# ones (Gaussian with each pixel's mean and standard deviation: already
# blurry average digits).
rng = np.random.RandomState(0)
initial = X.mean(axis=0) + X.std(axis=0) * rng.normal(size=(n_components, X.shape[1]))
print(f"initial-like weights: {np.median(template_similarity(initial, X)):.3f}")
print(f"{'alpha':>5} {'weights w_i':>12} {'linearized s_i':>15}")
for alpha, network in networks.items():
    S = linearized_responses(X, network.transform(X), reg=0.1)
    weights = np.median(template_similarity(network.components_, X))
    linearized = np.median(template_similarity(S, X))
    print(f"{alpha:>5} {weights:>12.3f} {linearized:>15.3f}")

# %%
# Feature and receptive-field images
# ----------------------------------
# The first 36 neurons of each network (their order is arbitrary); each image
# is scaled to its largest absolute value (red positive, blue negative) and
# oriented so that it shows what excites the neuron.
fig, axes = plt.subplots(2, len(alphas), figsize=(3.2 * len(alphas), 7))
for column, (alpha, network) in enumerate(networks.items()):
    ImageGridDisplay.from_estimator(
        network, X, kind="components", n_images=36, name=f"weights, alpha = {alpha}",
        ax=axes[0, column],
    )  # fmt: skip
    ImageGridDisplay.from_estimator(
        network, X, kind="linearized", n_images=36, name=f"linearized, alpha = {alpha}",
        ax=axes[1, column],
    )  # fmt: skip
fig.tight_layout()
if args.output_dir:
    fig.savefig(pathlib.Path(args.output_dir) / "mnist_features.png", dpi=120)
plt.show()
