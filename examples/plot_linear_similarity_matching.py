"""
==========================================================
Linear similarity matching: derived versus heuristic rules
==========================================================

The principal subspace projection (PSP) network of Pehlevan, Sengupta &
Chklovskii (2018), :class:`~sklearn_ksm.HebbianSimilarityMatching`, has
learning rules derived from a similarity matching objective: Hebbian
feedforward weights ``W`` and anti-Hebbian lateral weights ``M``, with the
output ``y = M^{-1} W x``. We stream 100,000 samples of a 10-dimensional
Gaussian, one per step, through this network and through the classical
Foldiak-type network with postulated rules (:class:`~sklearn_ksm.FoldiakNetwork`),
and compare how far their filters are from the top 3-dimensional principal
subspace with the statistical floor: batch PCA on the same first ``t``
samples. Then the whitening mode (PSW) learns filters whose outputs are white.
"""

# %%
# Data
# ----
# ``x = U diag(sqrt(lambda)) z`` with a random rotation ``U`` and the spectrum
# ``lambda = (5, 4, 3, 1, 0.9, ..., 0.4)``: a top-3 subspace to find.
import matplotlib.pyplot as plt
import numpy as np

from sklearn_ksm import FoldiakNetwork, HebbianSimilarityMatching
from sklearn_ksm.metrics import subspace_error, whitening_error


def gaussian_data(spectrum, n_samples, seed):
    rng = np.random.RandomState(seed)
    rotation, _ = np.linalg.qr(rng.normal(size=(len(spectrum), len(spectrum))))
    X = (rng.normal(size=(n_samples, len(spectrum))) * np.sqrt(spectrum)) @ rotation.T
    return X, rotation


spectrum = [5, 4, 3, 1, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
X, rotation = gaussian_data(spectrum, 100_000, seed=0)
top = rotation[:, :3].T  # the population's principal subspace, as rows
checkpoints = np.unique(np.logspace(2, 5, 13).astype(int))

# %%
# Streaming the samples
# ---------------------
# ``partial_fit`` takes the rows in order and continues the step count ``t``
# of the learning-rate schedule across calls. Both networks run with their
# defaults: the derived one starts with the paper's ``eta_t = 1/(2t + 5)``
# (``tau = 1/2``), continues with more slowly decaying steps, and its fitted
# synapses are a running average of the learning ones; the heuristic one uses
# ``eta_t = 1/(t + 100)``. The error is the squared projector distance
# ``||P_F - P_U||_F^2 / k``.


def stream(network, X, checkpoints, reference):
    errors, start = [], 0
    for stop in checkpoints:
        network.partial_fit(X[start:stop])
        errors.append(subspace_error(network.components_, reference))
        start = stop
    return np.array(errors)


def batch_pca(X_seen, k):
    eigenvectors = np.linalg.eigh(X_seen.T @ X_seen / len(X_seen))[1]
    return eigenvectors[:, ::-1][:, :k].T


derived = stream(HebbianSimilarityMatching(3, random_state=0), X, checkpoints, top)
heuristic = stream(FoldiakNetwork(3, random_state=0), X, checkpoints, top)
floor = np.array([subspace_error(batch_pca(X[:t], 3), top) for t in checkpoints])

print(f"{'samples':>8s} {'derived PSP':>12s} {'Foldiak':>12s} {'batch PCA':>12s}")
for row in zip(checkpoints, derived, heuristic, floor, strict=True):
    print("{:8d} {:12.2e} {:12.2e} {:12.2e}".format(*row))

fig, ax = plt.subplots(figsize=(6, 4))
ax.loglog(checkpoints, derived, "o-", label="derived PSP network")
ax.loglog(checkpoints, heuristic, "s-", label="Foldiak-type heuristic")
ax.loglog(checkpoints, floor, "k--", label="batch PCA (floor)")
ax.set_xlabel("samples t")
ax.set_ylabel("subspace error")
ax.legend()
ax.set_title("Principal subspace, spectrum (5, 4, 3, 1, ...)")
plt.show()

# %%
# Principal subspace whitening
# ----------------------------
# With ``mode="psw"`` the lateral update ends in ``- I`` and the filters
# ``F = M^{-1} W`` whiten the outputs: ``F C F^T = I``. Its stability bound
# on ``tau`` depends on the scale of the data; the default ``tau="auto"``
# scales the lateral rate with the lateral synapses, and the default rates
# keep ``M`` positive definite, so the defaults need no tuning. The spectrum
# here is ``(20, 15, 12, 5, ...)``: ten times that of the PSP example.
spectrum_w = [20, 15, 12, 5, 4.5, 4, 3.5, 3, 2.5, 2]
X_w, rotation_w = gaussian_data(spectrum_w, 100_000, seed=1)
C_w = rotation_w @ np.diag(spectrum_w) @ rotation_w.T
psw = HebbianSimilarityMatching(3, mode="psw", random_state=0)
whitening, start = [], 0
for stop in checkpoints:
    psw.partial_fit(X_w[start:stop])
    whitening.append(whitening_error(psw.components_, C_w))
    start = stop
output_covariance = psw.components_ @ C_w @ psw.components_.T

print("whitening error ||F C F^T - I||_F / sqrt(k):")
for t, error in zip(checkpoints, whitening, strict=True):
    print(f"{t:8d} {error:10.2e}")
print(f"subspace error at t = {checkpoints[-1]}: "
      f"{subspace_error(psw.components_, rotation_w[:, :3].T):.2e}")  # fmt: skip
print("output covariance F C F^T:")
print(np.array2string(output_covariance, precision=3, suppress_small=True))

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
ax1.loglog(checkpoints, whitening, "o-")
ax1.set_xlabel("samples t")
ax1.set_ylabel("whitening error")
ax1.set_title("PSW network")
image = ax2.imshow(output_covariance, vmin=-0.2, vmax=1.2, cmap="RdBu_r")
ax2.set_title("output covariance $F C F^T$ at t = 1e5")
fig.colorbar(image, ax=ax2)
plt.show()
