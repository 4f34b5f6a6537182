"""Same final quality: the fused training step against the term-by-term one.

Fits the estimator with its defaults twice on the same data and seed, once
with the package's fused step (``_gda.gda_step``) and once with the plain
step (``_gda.gda_step_plain``, swapped in for the duration), and prints the
relative kernel error of both outputs (mean over seeds 0, 1, 2) and their
relative difference: on the half moons (rbf, sigma = 0.3, N = 16 and 64)
and on the MNIST 5k sample (power-cosine, alpha = 3, N = 100), float32.
Single runs can differ by more than the means: where training is noisy
(the moons at N = 64), rounding differences grow into different
trajectories of similar quality.

    python benchmarks/engine_quality.py
"""

import numpy as np

from sklearn_ksm import HebbianKernelSimilarityMatching, _gda
from sklearn_ksm.datasets import load_mnist, make_half_moons
from sklearn_ksm.metrics import kernel_approximation_error

FUSED = _gda.gda_step


SEEDS = (0, 1, 2)


def fit_error(X, params, step):
    """Mean relative kernel error over SEEDS of fits that use ``step``."""
    kernel = {k: v for k, v in params.items() if k in ("kernel", "gamma", "degree")}
    errors = []
    _gda.gda_step = step  # the estimator looks the step up at each fit
    try:
        for seed in SEEDS:
            Y = HebbianKernelSimilarityMatching(random_state=seed, **params).fit_transform(X)
            errors.append(kernel_approximation_error(X, Y, **kernel))
    finally:
        _gda.gda_step = FUSED
    return float(np.mean(errors))


def main():
    moons = make_half_moons()[0].astype(np.float32)
    mnist = load_mnist(source="sample", return_X_y=True)[0].astype(np.float32)
    rbf = {"kernel": "rbf", "gamma": 1 / (2 * 0.3**2)}
    cases = [
        ("moons", moons, {"n_components": 16, **rbf}),
        ("moons", moons, {"n_components": 64, **rbf}),
        ("mnist5k", mnist, {"n_components": 100, "kernel": "power_cosine", "degree": 3}),
    ]
    print("data      N   fused error   plain error   relative difference")
    for name, X, params in cases:
        fused = fit_error(X, params, FUSED)
        plain = fit_error(X, params, _gda.gda_step_plain)
        print(f"{name:8s} {params['n_components']:3d}   {fused:11.5f}   {plain:11.5f}   "
              f"{abs(fused - plain) / plain:19.2%}")  # fmt: skip


if __name__ == "__main__":
    main()
