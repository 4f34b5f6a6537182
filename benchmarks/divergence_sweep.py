"""Divergence sweep: every fit reaches a sane state or raises.

Fits :class:`~sklearn_ksm.HebbianKernelSimilarityMatching` with each lateral
rule ("adaptive", "hebbian", "equilibrium") in three sweeps:

- ``rates``: the half moons (rbf, gamma = 1 / (2 * 0.3**2), N = 16, 10 epochs
  of 25 steps, float64 and float32) and the bundled MNIST 5k sample
  (power-cosine, degree 3, N = 32, float32, 2 epochs of 79 steps) with the
  learning rates multiplied by 1 .. 1000 and ``reg`` from the default 1e-3
  down to 0 (``init="random"``). ``learning_rate_lateral`` is scaled too for
  the rules it is a step size of (hebbian: 0.03, adaptive: its cap 0.2;
  capped at the largest allowed value, 2); equilibrium keeps its moment rate.
- ``poly``: the default poly kernel (degree 3, gamma = 1 / n_features,
  coef0 = 1) on ``uniform(-10, 10)`` inputs, 40 seeds, 30 x 5 (N = 5, issue
  21's reproduction) and 200 x 2 (N = 10), default parameters otherwise.
- ``linear``: the linear kernel on ``make_moons(400, noise=0.1)``, N = 8, 10
  epochs, ``learning_rate`` 0.003 .. 30, and the rates of issue 21's item 2
  (``learning_rate=3, learning_rate_gain=10, learning_rate_lateral=2``).

For every run it prints whether ``fit`` raised ``TrainingDivergedError``
(and which check fired), whether anything non-finite was stored (a fitted
float array) or returned (``transform``), the relative kernel error of the
output on the training rows (at most 1000), and a flag for a bad run: one
that stores or returns non-finite values, or returns normally with a kernel
error above 10 ("absurd": an all-zero output has error 1) or with a state
``transform`` refuses. A raised run either kept its last sane state ("kept":
its error is shown, informational) or left the estimator unfitted. The last
line counts each; the script exits with status 1 if any run was bad.

Run from the repository root, single-threaded (453 fits: 76 to 126 s on
one thread of a busy 2-core Intel Xeon; ``--quick``: 51 fits, about 10 s)::

    OMP_NUM_THREADS=1 python benchmarks/divergence_sweep.py [--quick] \
        [--sweeps rates poly linear] [--laterals adaptive hebbian equilibrium]
"""

import argparse
import time
import warnings

import numpy as np
import torch
from sklearn.datasets import make_moons

from sklearn_ksm import HebbianKernelSimilarityMatching, TrainingDivergedError
from sklearn_ksm.datasets import load_mnist, make_half_moons
from sklearn_ksm.metrics import kernel_approximation_error

LATERALS = ("adaptive", "hebbian", "equilibrium")
DEFAULT_RATES = dict(learning_rate=0.003, learning_rate_gain=0.01)
# learning_rate_lateral at multiplier 1, for the rules where it is a step size
LATERAL_RATE = {"hebbian": 0.03, "adaptive": 0.2}
MAX_LATERAL = 2.0  # the parameter's upper bound
ABSURD = 10.0  # relative kernel error above which a finite result is "absurd"
EVAL_ROWS = 1000


def rate_runs(quick):
    """(data name, X, parameters, setting) of the rates sweep, without ``lateral``."""
    X_moons, _ = make_half_moons(1600, random_state=0)
    X_mnist = load_mnist(source="sample", return_X_y=True)[0]
    moons = dict(n_components=16, kernel="rbf", gamma=1 / (2 * 0.3**2), max_iter=10)
    data = {
        "moons": (X_moons, moons),
        "moons32": (X_moons.astype(np.float32), moons),
        "mnist5k": (X_mnist, dict(n_components=32, kernel="power_cosine", degree=3, max_iter=2)),
    }
    multipliers, regs = ([1, 1000], [1e-3, 0.0]) if quick else ([1, 3, 10, 30, 100, 300, 1000],
                                                                [1e-3, 1e-6, 0.0])  # fmt: skip
    if quick:
        data = {"moons": (X_moons[:640], moons), "mnist500": (X_mnist[:500], data["mnist5k"][1])}
    for name, (X, params) in data.items():
        for multiplier in multipliers:
            for reg in regs:
                scaled = {key: rate * multiplier for key, rate in DEFAULT_RATES.items()}
                run = dict(params, **scaled, reg=reg, init="random")
                yield name, X, run, f"lr x{multiplier} reg {reg:g}", multiplier


def poly_runs(quick):
    shapes = [(30, 5, 5), (200, 2, 10)]
    for seed in range(3 if quick else 40):
        for n, m, n_components in shapes:
            X = np.random.RandomState(seed).uniform(-10, 10, (n, m))
            run = dict(n_components=n_components, kernel="poly")
            yield f"unif{n}x{m}", X, run, f"seed {seed} N {n_components}", None


def linear_runs(quick):
    X, _ = make_moons(400, noise=0.1, random_state=0)
    base = dict(n_components=8, kernel="linear", max_iter=10)
    rates = [0.003, 3.0] if quick else [0.003, 0.03, 0.3, 1.0, 3.0, 10.0, 30.0]
    for rate in rates:
        yield "moons400", X, dict(base, learning_rate=rate), f"lr {rate:g}", None
    item2 = dict(learning_rate=3.0, learning_rate_gain=10.0, learning_rate_lateral=2.0)
    yield "moons400", X, dict(base, **item2), "lr 3 gain 10 lat 2", None


SWEEPS = {"rates": rate_runs, "poly": poly_runs, "linear": linear_runs}


def lateral_rate(lateral, multiplier):
    """``learning_rate_lateral`` of a rates run (multiplied), or nothing (as given)."""
    if multiplier is None or lateral not in LATERAL_RATE:
        return {}
    return {"learning_rate_lateral": min(LATERAL_RATE[lateral] * multiplier, MAX_LATERAL)}


def non_finite_attributes(est):
    arrays = {k: v for k, v in vars(est).items() if isinstance(v, np.ndarray)}
    return [k for k, v in arrays.items() if v.dtype.kind == "f" and not np.isfinite(v).all()]


def run_one(X, params, lateral, multiplier):
    """Fit once; what it raised, stored and returned."""
    params = dict(params, lateral=lateral, **lateral_rate(lateral, multiplier))
    est = HebbianKernelSimilarityMatching(**params, random_state=0)
    row = dict(outcome="returned", reason="", kept=False, nonfinite=False, refused=False,
               error=float("nan"))  # fmt: skip
    tic = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. more neurons than rows: not the point here
        try:
            est.fit(X)
        except TrainingDivergedError as exc:
            row["outcome"], row["reason"] = "raised", exc.reason.split(" (")[0]
        except (ValueError, TypeError) as exc:  # noqa: BLE001 - counted, not hidden
            row["outcome"], row["reason"] = "error", f"{type(exc).__name__}: {exc}"[:40]
    row["seconds"] = time.perf_counter() - tic
    row["kept"] = hasattr(est, "components_")
    row["steps"] = getattr(est, "n_steps_", 0)
    if row["kept"]:
        row["nonfinite"] = bool(non_finite_attributes(est))
        X_eval = X[np.random.RandomState(0).choice(len(X), min(len(X), EVAL_ROWS), replace=False)]
        try:
            Y = est.transform(X_eval)
        except ValueError:
            row["refused"] = True
        else:
            row["nonfinite"] |= not np.isfinite(Y).all()
            row["error"] = kernel_approximation_error(X_eval, Y, kernel=est.kernel_)
            row["nonfinite"] |= not np.isfinite(row["error"])
    returned = row["outcome"] == "returned"
    row["bad"] = row["nonfinite"] or (returned and (row["refused"] or not row["error"] <= ABSURD))
    return row


def summary(rows):
    raised = [r for r in rows if r["outcome"] == "raised"]
    kept = [r for r in raised if r["kept"]]
    returned = [r for r in rows if r["outcome"] == "returned"]
    return (
        f"runs: {len(rows)}; raised TrainingDivergedError: {len(raised)} (kept a state: "
        f"{len(kept)}, of which transform refused: {sum(r['refused'] for r in kept)}, kernel "
        f"error > {ABSURD:g}: {sum(r['error'] > ABSURD for r in kept)}); other errors: "
        f"{sum(r['outcome'] == 'error' for r in rows)}; returned: {len(returned)}; "
        f"non-finite stored or returned: {sum(r['nonfinite'] for r in rows)}; returned with "
        f"kernel error > {ABSURD:g}: {sum(r['error'] > ABSURD for r in returned)}; returned "
        f"but transform refused: {sum(r['refused'] for r in returned)}; bad runs: "
        f"{sum(r['bad'] for r in rows)}"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small subset (a smoke test)")
    parser.add_argument("--sweeps", nargs="+", choices=list(SWEEPS), default=list(SWEEPS))
    parser.add_argument("--laterals", nargs="+", choices=LATERALS, default=list(LATERALS))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    header = (
        f"{'sweep':6} {'data':9} {'lateral':11} {'setting':18} {'outcome':8} {'check':28} "
        f"{'steps':>5} {'kept':>5} {'rel. error':>10} {'non-fin':>7} {'s':>5}"
    )
    print(header)
    print("-" * len(header))
    rows = []
    tic = time.perf_counter()
    for sweep in args.sweeps:
        for data, X, params, setting, multiplier in SWEEPS[sweep](args.quick):
            for lateral in args.laterals:
                row = run_one(X, params, lateral, multiplier)
                rows.append(row)
                flag = "  <- BAD" if row["bad"] else ""
                error = "refused" if row["refused"] else f"{row['error']:.3g}"
                print(
                    f"{sweep:6} {data:9} {lateral:11} {setting:18} {row['outcome']:8} "
                    f"{row['reason'] or '-':28} {row['steps']:>5} {row['kept']!s:>5} "
                    f"{error:>10} {row['nonfinite']!s:>7} {row['seconds']:>5.2f}{flag}",
                    flush=True,
                )
    print()
    print(f"total {time.perf_counter() - tic:.0f} s")
    print(summary(rows))
    return 1 if any(r["bad"] for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
