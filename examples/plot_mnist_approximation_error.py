"""
======================================================
Kernel approximation error vs N on MNIST (Fig. 5)
======================================================

How well do ``N``-dimensional representations match the power-cosine kernel
``f(u, v) = |u| |v| cos(u, v)^alpha`` of MNIST digits, for ``alpha = 1`` (the
linear kernel) and ``alpha = 3``? The Hebbian network's output ``y`` and the
Nystroem map on its learned landmarks are compared with the optimal rank-N
approximation (uncentred kernel PCA) and Nystroem on uniformly sampled or
KMeans landmarks (Luther & Seung, Fig. 5). The error is the relative
Frobenius error ``||K - Y Y^T||_F / ||K||_F`` on the training digits.

By default the script runs a quick version (1,000 digits, N in {16, 64},
150 passes). ``python plot_mnist_approximation_error.py --full`` runs the
5,000-digit sample with N in {25, 100, 200, 400, 800} and the estimator's
default schedule; ``python -m sklearn_ksm compare --dataset mnist --degree
ALPHA`` prints the same table with more seeds. ``--output-dir DIR`` saves
the figure.
"""

# %%
# Settings
# --------
import argparse
import pathlib

import matplotlib.pyplot as plt
import numpy as np

from sklearn_ksm import HebbianKernelSimilarityMatching
from sklearn_ksm.baselines import KernelNystroem, UncenteredKernelPCA
from sklearn_ksm.datasets import load_mnist
from sklearn_ksm.metrics import kernel_approximation_error

parser = argparse.ArgumentParser(description="Approximation error vs N on MNIST (Fig. 5).")
parser.add_argument("--full", action="store_true", help="5k digits, N up to 800")
parser.add_argument("--output-dir", help="save the figure there as PNG")
args, _ = parser.parse_known_args()  # sphinx-gallery passes its own arguments

X, _ = load_mnist(return_X_y=True)
if args.full:
    n_grid, network_params = (25, 100, 200, 400, 800), {}
else:
    X = X[np.random.RandomState(0).permutation(len(X))[:1000]]
    n_grid, network_params = (16, 64), {"max_iter": 150}

# %%
# Errors
# ------
# One eigendecomposition at the largest N serves every N (eigenpairs nest).
fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
for ax, alpha in zip(axes, (1, 3), strict=True):
    kernel = {"kernel": "power_cosine", "degree": alpha}
    optimal = UncenteredKernelPCA(max(n_grid), **kernel).fit_transform(X)
    errors = {name: [] for name in ("optimal", "uniform", "kmeans", "network", "network W")}
    for n in n_grid:
        network = HebbianKernelSimilarityMatching(n, random_state=0, **kernel, **network_params)
        representations = {
            "optimal": optimal[:, :n],
            "uniform": KernelNystroem(n, random_state=0, **kernel).fit_transform(X),
            "kmeans": KernelNystroem(n, landmarks="kmeans", random_state=0, **kernel).fit_transform(
                X
            ),
            "network": network.fit_transform(X),
        }
        representations["network W"] = network.nystroem_readout().transform(X)
        for name, Y in representations.items():
            errors[name].append(kernel_approximation_error(X, Y, **kernel))
    print(f"alpha = {alpha}: relative kernel error")
    print(f"{'N':>14}" + "".join(f"{n:>9}" for n in n_grid))
    for name, values in errors.items():
        print(f"{name:>14}" + "".join(f"{v:9.4f}" for v in values))
        ax.plot(n_grid, values, marker="o", linestyle="--" if name == "network" else "-",
                label=name)  # fmt: skip
    ax.set(xscale="log", yscale="log", xlabel="N", title=f"alpha = {alpha}")
    ax.set_xticks(n_grid, [str(n) for n in n_grid], minor=False)
    ax.set_xticks([], minor=True)
axes[0].set_ylabel("relative kernel error")
axes[0].legend()
fig.tight_layout()
if args.output_dir:
    fig.savefig(pathlib.Path(args.output_dir) / "mnist_approximation_error.png", dpi=110)
plt.show()
