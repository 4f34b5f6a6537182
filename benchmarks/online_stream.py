"""Online learning: streams of one and of eight rows per step against a default fit.

For each data set and N, fits :class:`~sklearn_ksm.HebbianKernelSimilarityMatching`
with its defaults (``fit``), then trains fresh estimators with the same
defaults but ``batch_size`` 1 and 8 by ``partial_fit`` on a stream: the
training rows, shuffled anew each pass (seeded), for as many samples as the
default fit used (``n_samples_seen_`` of the fit; ``--passes`` caps it).
Prints, per run: whether it diverged, the smallest gain, the relative kernel
error ``||K - Y Y^T||_F / ||K||_F`` of the output on the training rows, the
ratio to the default fit's error (target: at most 1.10), the samples used
and the wall time.

Data: the half moons (``make_half_moons(1600, random_state=0)``, rbf with
sigma = 0.3) and the bundled MNIST sample (5,000 digits, the default kernel:
rbf with ``gamma = 1 / n_features``), N = 16 and 100.

Run from the repository root (one thread)::

    python benchmarks/online_stream.py [--datasets moons mnist] [--n-components 16 100]
        [--batch-sizes 1 8] [--passes P] [--seed S] [--step-calls]

``--step-calls`` calls ``partial_fit`` once per step, with ``batch_size``
rows (the online setting: a stream of single rows with ``--batch-sizes 1``),
instead of once per pass.
"""

import argparse
import time

import numpy as np
import torch

from sklearn_ksm import HebbianKernelSimilarityMatching, TrainingDivergedError
from sklearn_ksm.datasets import load_mnist, make_half_moons
from sklearn_ksm.metrics import kernel_approximation_error

TARGET_RATIO = 1.10


def load(name):
    if name == "moons":
        return make_half_moons(1600, random_state=0)[0], {"gamma": 1 / (2 * 0.3**2)}
    return load_mnist(source="sample", return_X_y=True)[0], {}


def error(estimator, X):
    return kernel_approximation_error(X, estimator.transform(X), kernel=estimator.kernel_)


def stream(X, params, n_components, batch_size, n_samples, seed, step_calls=False):
    """``partial_fit`` on shuffled passes until ``n_samples`` rows were seen: a pass
    per call, or with ``step_calls`` a minibatch (``batch_size`` rows) per call."""
    estimator = HebbianKernelSimilarityMatching(
        n_components, batch_size=batch_size, random_state=seed, **params
    )
    rng = np.random.RandomState(seed)
    seen, diverged = 0, False
    while seen < n_samples and not diverged:
        rows = X[rng.permutation(len(X))][: n_samples - seen]
        calls = range(0, len(rows), batch_size) if step_calls else [0]
        for start in calls:
            chunk = rows[start : start + batch_size] if step_calls else rows
            try:
                estimator.partial_fit(chunk)
            except TrainingDivergedError:
                diverged = True
                break
            seen += len(chunk)
    return estimator, seen, diverged


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["moons", "mnist"])
    parser.add_argument("--n-components", nargs="+", type=int, default=[16, 100])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--passes", type=int, help="at most this many passes per stream")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--step-calls",
        action="store_true",
        help="one partial_fit call per step (batch_size rows), not one per pass",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    header = (f"{'data':6} {'N':>4} {'batch':>5} {'diverged':>8} {'min gain':>9} "
              f"{'y error':>8} {'/ fit':>6} {'samples':>9} {'s':>7}")  # fmt: skip
    print(header)
    print("-" * len(header))
    worst = 0.0
    for name in args.datasets:
        X, params = load(name)
        for n in args.n_components:
            tic = time.perf_counter()
            fitted = HebbianKernelSimilarityMatching(n, random_state=args.seed, **params).fit(X)
            reference = error(fitted, X)
            print(f"{name:6} {n:>4} {'fit':>5} {'no':>8} {fitted.gains_.min():>9.3g} "
                  f"{reference:>8.4f} {1.0:>6.2f} {fitted.n_samples_seen_:>9} "
                  f"{time.perf_counter() - tic:>7.1f}", flush=True)  # fmt: skip
            budget = fitted.n_samples_seen_
            if args.passes is not None:
                budget = min(budget, args.passes * len(X))
            for batch_size in args.batch_sizes:
                tic = time.perf_counter()
                est, seen, diverged = stream(
                    X, params, n, batch_size, budget, args.seed, args.step_calls
                )
                value = error(est, X) if hasattr(est, "components_") else float("nan")
                ratio = value / reference
                worst = max(worst, ratio if np.isfinite(ratio) else np.inf)
                print(f"{name:6} {n:>4} {batch_size:>5} {'YES' if diverged else 'no':>8} "
                      f"{est.gains_.min():>9.3g} {value:>8.4f} {ratio:>6.2f} {seen:>9} "
                      f"{time.perf_counter() - tic:>7.1f}", flush=True)  # fmt: skip
    print(f"\nworst stream / fit ratio: {worst:.2f} (target <= {TARGET_RATIO:.2f})")
    return 0 if worst <= TARGET_RATIO else 1


if __name__ == "__main__":
    raise SystemExit(main())
