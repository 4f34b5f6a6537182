"""Divergence sweep: large learning rates and no regularisation.

Trains :class:`~sklearn_ksm.HebbianKernelSimilarityMatching` on the half
moons (rbf, gamma = 1 / (2 * 0.3**2), N = 16, 10 epochs of 25 steps, in
float64 and float32) and on the bundled MNIST 5k sample (power-cosine,
degree 3, N = 32, float32, 2 epochs of 79 steps) with the learning rates
multiplied by 1 .. 1000 (``learning_rate_lateral`` is capped at its largest
allowed value, 2) and ``reg`` from the default 1e-3 down to 0. Every run must
either finish ("finished": all ``max_iter`` epochs, no early stopping) or
stop with :class:`~sklearn_ksm.TrainingDivergedError`
keeping a finite state; the table counts runs that end with NaN/inf in a
fitted attribute or in the output (must be 0) and flags "finite but absurd"
results (relative kernel error > 10). A run that diverges before its first
check (every 100 steps, or every epoch when shorter) keeps the initial,
untrained network.

Run from the repository root (about 10 s on one core)::

    python benchmarks/divergence_sweep.py [--quick]
"""

import argparse
import time

import numpy as np
import torch

from sklearn_ksm import HebbianKernelSimilarityMatching, TrainingDivergedError
from sklearn_ksm.datasets import load_mnist, make_half_moons
from sklearn_ksm.metrics import kernel_approximation_error

DEFAULT_RATES = dict(learning_rate=0.003, learning_rate_gain=0.01, learning_rate_lateral=0.03)
MAX_LATERAL = 2.0  # the parameter's upper bound
ABSURD = 10.0  # relative kernel error above which a finite result is "absurd"


def datasets(quick):
    X_moons, _ = make_half_moons(1600, random_state=0)
    X_mnist = load_mnist(source="sample", return_X_y=True)[0]
    X_mnist = X_mnist[:1000] if quick else X_mnist
    moons = dict(n_components=16, kernel="rbf", gamma=1 / (2 * 0.3**2))
    return {
        "moons": (X_moons, moons, 10),
        "moons32": (X_moons.astype(np.float32), moons, 10),
        "mnist5k": (X_mnist, dict(n_components=32, kernel="power_cosine", degree=3), 2),
    }


def rates(multiplier):
    scaled = {name: rate * multiplier for name, rate in DEFAULT_RATES.items()}
    scaled["learning_rate_lateral"] = min(scaled["learning_rate_lateral"], MAX_LATERAL)
    return scaled


def run_one(X, X_eval, params, max_iter, multiplier, reg):
    est = HebbianKernelSimilarityMatching(
        **params,
        **rates(multiplier),
        reg=reg,
        batch_size=64,
        max_iter=max_iter,
        random_state=0,
        lateral="hebbian",
        init="random",
    )
    tic = time.perf_counter()
    try:
        est.fit(X)
        outcome = "finished"
    except TrainingDivergedError:
        outcome = "diverged"
    seconds = time.perf_counter() - tic
    fitted = [est.components_, est.gains_, est.lateral_weights_, est.objective_history_]
    nan_fitted = not all(np.isfinite(a).all() for a in fitted)
    try:
        Y = est.transform(X_eval)
        nan_output = not np.isfinite(Y).all()  # transform refuses non-finite output
        error = kernel_approximation_error(X_eval, Y, kernel=est.kernel_)
        if np.abs(Y).max() < 1e-6:
            outcome += " (output ~ 0)"  # collapsed network: finite, error 1
    except ValueError:
        nan_output, error = False, float("nan")
        outcome += " (output refused)"
    return dict(
        outcome=outcome, steps=est.n_steps_, nan_fitted=nan_fitted, nan_output=nan_output,
        error=error, seconds=seconds,
    )  # fmt: skip


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="MNIST: 1000 rows only")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    multipliers = [1, 3, 10, 30, 100, 300, 1000]
    regs = [1e-3, 1e-6, 0.0]
    header = (
        f"{'data':8} {'lr x':>5} {'reg':>6} {'outcome':26} {'steps':>6} "
        f"{'rel. error':>10} {'NaN fit':>7} {'NaN out':>7} {'s':>5}"
    )
    print(header)
    print("-" * len(header))
    rows = []
    for name, (X, params, max_iter) in datasets(args.quick).items():
        X_eval = X[np.random.RandomState(0).choice(len(X), min(len(X), 1000), replace=False)]
        for multiplier in multipliers:
            for reg in regs:
                row = run_one(X, X_eval, params, max_iter, multiplier, reg)
                rows.append(row)
                flag = "  <- absurd" if row["error"] > ABSURD else ""
                print(
                    f"{name:8} {multiplier:>5} {reg:>6.0e} {row['outcome']:26} "
                    f"{row['steps']:>6} {row['error']:>10.3g} {row['nan_fitted']!s:>7} "
                    f"{row['nan_output']!s:>7} {row['seconds']:>5.1f}{flag}",
                    flush=True,
                )
    count = lambda key: sum(bool(r[key]) for r in rows)  # noqa: E731
    print()
    print(f"runs: {len(rows)}, diverged: {sum('diverged' in r['outcome'] for r in rows)}, "
          f"output refused: {sum('refused' in r['outcome'] for r in rows)}, "
          f"NaN in fitted attributes: {count('nan_fitted')}, NaN in output: {count('nan_output')}, "
          f"finite but absurd (error > {ABSURD:g}): {sum(r['error'] > ABSURD for r in rows)}, "
          f"collapsed (output ~ 0): {sum('~ 0' in r['outcome'] for r in rows)}")  # fmt: skip


if __name__ == "__main__":
    main()
