"""
=====================================================
Hebbian kernel similarity matching on the half moons
=====================================================

A network of 16 neurons learns a representation ``y`` of the half moons whose
inner products match a Gaussian kernel, ``y(x_s) . y(x_t) ~ f(x_s, x_t)``
(Luther & Seung, Fig. 2). We compare the relative kernel approximation error
with scikit-learn's :class:`~sklearn.kernel_approximation.Nystroem` on
uniformly sampled landmarks, and show the learned landmarks and the tuning of
three neurons.
"""

# %%
# Data and model
# --------------
# The paper's setting: 1600 points, noise 0.1, centred; ``sigma = 0.3``, i.e.
# ``gamma = 1 / (2 sigma^2)``.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_moons
from sklearn.kernel_approximation import Nystroem

from sklearn_ksm import HebbianKernelSimilarityMatching
from sklearn_ksm.metrics import kernel_approximation_error

X, labels = make_moons(n_samples=1600, noise=0.1, random_state=0)
X -= X.mean(axis=0)
gamma = 1 / (2 * 0.3**2)

ksm = HebbianKernelSimilarityMatching(n_components=16, kernel="rbf", gamma=gamma, random_state=0)
Y = ksm.fit_transform(X)

# %%
# Kernel approximation error
# --------------------------
nystroem = Nystroem(gamma=gamma, n_components=16, random_state=0).fit(X)
for name, features in [("Hebbian network y", Y), ("Nystroem (uniform)", nystroem.transform(X))]:
    error = kernel_approximation_error(X, features, kernel="rbf", gamma=gamma)
    print(f"{name:20s} relative error {error:.3f}")

# %%
# Learned landmarks and neuron tuning
# -----------------------------------
# Each neuron responds to a localised region of the input space, near its
# landmark ``w_i`` (red: positive response, blue: negative).
fig, axes = plt.subplots(1, 4, figsize=(16, 4), sharex=True, sharey=True)
axes[0].scatter(*X.T, c=labels, s=4, cmap="coolwarm", alpha=0.4)
axes[0].scatter(*ksm.components_.T, c="k", marker="x", s=60)
axes[0].set_title("data and learned landmarks")
for ax, neuron in zip(axes[1:], range(3), strict=True):
    limit = np.abs(Y[:, neuron]).max()
    ax.scatter(*X.T, c=Y[:, neuron], s=4, cmap="bwr", vmin=-limit, vmax=limit)
    ax.scatter(*ksm.components_[neuron], c="k", marker="x", s=60)
    ax.set_title(f"neuron {neuron + 1} tuning")
plt.show()
