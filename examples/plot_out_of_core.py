"""
==============================================
Out-of-core training from a memory-mapped file
==============================================

When the data do not fit in memory, stream them: read the file chunk by
chunk and feed each chunk to
:meth:`~sklearn_ksm.HebbianKernelSimilarityMatching.partial_fit`, which
continues training from the current synapses, one minibatch step per
``batch_size`` rows. Here the half moons are written to a ``.npy`` file and
read back as a NumPy memmap (only the chunk being read is in memory); we
compare the result with an in-memory ``fit`` that runs the same number of
steps with the same learning-rate schedule.
"""

# %%
# A data set on disk
# ------------------
import pathlib
import tempfile

import matplotlib.pyplot as plt
import numpy as np

from sklearn_ksm import HebbianKernelSimilarityMatching
from sklearn_ksm.datasets import make_half_moons

X, _ = make_half_moons(1600, random_state=0)
path = pathlib.Path(tempfile.mkdtemp()) / "moons.npy"
np.save(path, X)
X_disk = np.load(path, mmap_mode="r")  # a read-only memmap: nothing loaded yet
print(type(X_disk).__name__, X_disk.shape)

# %%
# Streaming through ``partial_fit``
# ---------------------------------
# ``partial_fit`` has no decay schedule (a stream has no known end), so we
# anneal by hand: the rates are divided by 10 after half of the passes, as
# ``fit`` does by default (``learning_rate_decay=0.1, decay_start=0.5``).
rates = dict(learning_rate=0.03, learning_rate_gain=0.03, learning_rate_lateral=0.3)
n_passes, chunk = 6, 400
params = dict(
    n_components=16,
    kernel="rbf",
    gamma=5.0,
    batch_size=16,
    lateral="hebbian",
    init="random",
    random_state=0,
)  # the paper's anti-Hebbian ascent, whose steps partial_fit and fit share

stream = HebbianKernelSimilarityMatching(**params, **rates)
errors = []
for epoch in range(n_passes):
    if epoch == n_passes // 2:
        stream.set_params(**{name: 0.1 * rate for name, rate in rates.items()})
    for start in range(0, X_disk.shape[0], chunk):
        stream.partial_fit(X_disk[start : start + chunk])  # reads 400 rows from disk
        errors.append((stream.n_steps_, -stream.score(X)))

# %%
# The same steps in memory
# ------------------------
# ``fit`` reshuffles the rows every pass while the stream reads them in file
# order, so the two runs are not identical, only equally good.
in_memory = HebbianKernelSimilarityMatching(**params, **rates, max_iter=n_passes).fit(X)
print(f"steps: stream {stream.n_steps_}, in-memory fit {in_memory.n_steps_}")
print(f"relative kernel error: stream {-stream.score(X):.3f}, fit {-in_memory.score(X):.3f}")

steps, error = np.array(errors).T
fig, ax = plt.subplots(figsize=(5, 3.5))
ax.plot(steps, error, marker="o", label="partial_fit on the memmap")
ax.axhline(-in_memory.score(X), color="k", ls="--", label="in-memory fit, same steps")
ax.set(xlabel="minibatch steps", ylabel="relative kernel error", yscale="log")
ax.legend()
fig.tight_layout()
plt.show()

del X_disk
path.unlink()  # the temporary file
