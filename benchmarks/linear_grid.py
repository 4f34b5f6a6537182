"""Linear grid: PSP and PSW with their defaults over spectra, scales and eigen-gaps (issue 22).

For every input dimension n in {10, 50, 100}, number of neurons k in {2, 4,
10} (k < n), scale of the top eigenvalue lambda_1 in {0.01, 1, 100} and
eigen-gap g = lambda_k / lambda_{k+1} in {1.1, 2, 10}, three seeds stream
Gaussian rows ``x = U diag(sqrt(lambda)) z`` (random rotation ``U``) whose
spectrum is: the top k eigenvalues geometric from lambda_1 down to
lambda_1 / 4, then the bulk lambda_k / g, decaying by 0.8 per index. The same
``z`` and ``U`` are used at every scale, so a scale-free method gives the same
figures at every scale.

Per run:

- ``offline``: the top-k eigenvectors of the stream's sample covariance (the
  offline solution of both objectives: PSW's offline filters span it too).
- ``PSP``: :class:`~sklearn_ksm.HebbianSimilarityMatching` with its defaults,
  ``partial_fit`` over the stream once, one row per step; its subspace error
  at geometric checkpoints, and the samples it took to get below 1e-2.
- ``SM``: online_psp's similarity matching (Pehlevan et al.'s PSP network as
  the flatironinstitute/online_psp simulations run it), written below from
  its update rule, on the same stream and checkpoints.
- ``PSW``: ``HebbianSimilarityMatching(k, mode="psw").fit(X)`` with its
  defaults (passes until converged): the whitening error
  ``||Y^T Y / n - I||_F / sqrt(k)`` of its outputs on the stream, the
  population whitening error ``||F C F^T - I||_F / sqrt(k)``, the subspace
  error, the passes run and whether it converged.

Subspace errors are the squared projector distance to the population's top-k
eigenvectors, ``||P_F - U_k U_k^T||_F^2 / k``. The stream length n_rows is
chosen per cell so that the offline error is about 2e-3 (5,000 to 50,000 rows:
the statistical floor grows as 1 / (g - 1)^2 when the gap closes).

Targets (issue 22), per cell (n, k, scale, gap), over its seeds: PSW
whitening error < 0.05 and subspace error < 1e-2 in every run, and its mean
subspace error at most 2x the offline one; PSP subspace error < 1e-2 at the
end of every stream, and its median number of samples to get below 1e-2 at
most SM's (a run that never gets there counts as infinitely slow); no
divergence.

Run from the repository root (one thread)::

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/linear_grid.py \
        [--quick] [--seeds S] [--csv PATH [--resume]] [--jobs J]
    python benchmarks/linear_grid.py --table-from PATH [--by-gap]

``--csv`` appends one row per run as it finishes, and ``--resume`` skips the
runs already in that file; ``--jobs`` runs J single-threaded worker processes;
``--table-from`` prints the table of a CSV, ``--by-gap`` one line per (n, k, gap)
with the worst figures over the three scales.

``--quick`` runs a smoke grid: n = 10, k = 2, gap 10, scales 0.01 and 100, one
seed and 2,000 rows (seconds).
Expected run time of the whole grid (216 runs): about 30 minutes on one
thread of the project's CPU machine (most of it the package's 100-300 us per
one-row step; the SM reference is plain numpy).
"""

import argparse
import concurrent.futures
import csv
import functools
import itertools
import math
import os
import sys
import time
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

from sklearn_ksm import HebbianSimilarityMatching, TrainingDivergedError
from sklearn_ksm.metrics import subspace_error

DIMENSIONS = (10, 50, 100)
COMPONENTS = (2, 4, 10)
SCALES = (0.01, 1.0, 100.0)
GAPS = (1.1, 2.0, 10.0)
TOP_SPREAD = 4.0  # lambda_1 / lambda_k
BULK_DECAY = 0.8  # lambda_{j+1} / lambda_j in the bulk
FLOOR_TARGET = 2e-3  # offline subspace error the stream length aims at
MIN_ROWS, MAX_ROWS = 5_000, 50_000

SUBSPACE_TARGET, WHITENING_TARGET, OFFLINE_RATIO = 1e-2, 0.05, 2.0

QUICK = dict(
    dimensions=(10,), components=(2,), scales=(0.01, 100.0), gaps=(10.0,), seeds=1,
    max_rows=2_000,
)  # fmt: skip

FIELDS = [
    "n", "k", "scale", "gap", "seed", "n_rows", "offline",
    "psp", "psp_reach", "psp_diverged", "sm", "sm_reach", "offline_reach",
    "psw", "psw_whitening", "psw_whitening_population", "psw_passes", "psw_converged",
    "psw_diverged", "psp_seconds", "psw_seconds", "sm_seconds",
]  # fmt: skip


# ------------------------------------------------------------------- data


def spectrum(n, k, scale, gap):
    """Top k geometric from ``scale`` to ``scale / TOP_SPREAD``; bulk from ``lambda_k / gap``."""
    top = scale * np.geomspace(1.0, 1.0 / TOP_SPREAD, k)
    bulk = top[-1] / gap * BULK_DECAY ** np.arange(n - k)
    return np.concatenate([top, bulk])


def offline_floor(eigenvalues, k):
    """Expected offline subspace error times n_rows (first-order perturbation theory).

    ``2 / k sum_{i<=k<j} lambda_i lambda_j / (lambda_i - lambda_j)^2`` for Gaussian data.
    """
    top, bulk = eigenvalues[:k, None], eigenvalues[None, k:]
    return 2 / k * float(np.sum(top * bulk / (top - bulk) ** 2))


def stream_length(n, k, gap, max_rows=MAX_ROWS):
    # The floor does not depend on the scale.
    rows = math.ceil(offline_floor(spectrum(n, k, 1.0, gap), k) / FLOOR_TARGET)
    return int(np.clip(rows, MIN_ROWS, max_rows))


def make_stream(n, k, scale, gap, seed, n_rows):
    """Rows, population covariance, top-k eigenvectors (columns); ``z``, ``U`` ignore scale."""
    rng = np.random.RandomState([n, k, int(10 * gap), seed])
    eigenvalues = spectrum(n, k, scale, gap)
    U, _ = np.linalg.qr(rng.normal(size=(n, n)))
    X = (rng.normal(size=(n_rows, n)) * np.sqrt(eigenvalues)) @ U.T
    return X, (U * eigenvalues) @ U.T, U[:, :k]


def checkpoints(n_rows):
    return np.unique(np.geomspace(10, n_rows, 30).astype(int))


def first_below(errors, points, level=SUBSPACE_TARGET):
    """Samples at the first checkpoint with an error below ``level`` (inf if none)."""
    below = np.flatnonzero(np.asarray(errors) < level)
    return float(points[below[0]]) if below.size else math.inf


# ------------------------------------------------------------ the methods


def sm_reference(X, k, points, top):
    """online_psp's similarity matching (SM), written from its update rule.

    ``y = M^{-1} W x``, ``W <- W + 2 eta_t (y x^T - W)``,
    ``M <- M + (eta_t / tau) (y y^T - M)`` with ``eta_t = 1 / (gamma t + 5)``,
    ``gamma = 2``, ``tau = 1/2``, ``t = 0, 1, ...``; the initialisation of the
    online_psp simulations: ``W_0`` the first k rows normalised and ``M_0 =
    I``, both divided by 100. Returns the subspace errors at ``points``.
    """
    W = X[:k] / np.linalg.norm(X[:k], axis=1, keepdims=True) / 100
    M = np.eye(k) / 100
    errors, gamma, tau = [], 2.0, 0.5
    stops = set(int(p) for p in points)
    for t, x in enumerate(X):
        y = np.linalg.solve(M, W @ x)
        eta = 1.0 / (gamma * t + 5)
        W = (1 - 2 * eta) * W + 2 * eta * np.outer(y, x)
        M = (1 - eta / tau) * M + eta / tau * np.outer(y, y)
        if t + 1 in stops:
            errors.append(subspace_error(np.linalg.solve(M, W), top.T))
    return errors


def offline_reference(X, k, points, top):
    """The sample PCA of the rows so far: its subspace errors at ``points``.

    Not an online method (it keeps the n x n sample covariance); it shows how
    early the rows themselves allow a subspace error below 1e-2.
    """
    errors, C, start = [], np.zeros((X.shape[1], X.shape[1])), 0
    for stop in points:
        C += X[start:stop].T @ X[start:stop]
        start = stop
        errors.append(subspace_error(np.linalg.eigh(C)[1][:, -k:].T, top.T))
    return errors


def run_psp(X, k, seed, points, top):
    est = HebbianSimilarityMatching(k, random_state=seed, device="cpu")
    errors, start = [], 0
    for stop in points:
        est.partial_fit(X[start:stop])
        errors.append(subspace_error(est.components_, top.T))
        start = stop
    return errors


def run_psw(X, k, seed):
    """Defaults: ``fit`` until converged. Returns (estimator, converged)."""
    est = HebbianSimilarityMatching(k, mode="psw", random_state=seed, device="cpu")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        est.fit(X)
    return est, not any(issubclass(w.category, ConvergenceWarning) for w in caught)


def whitening(Y):
    k = Y.shape[1]
    return float(np.linalg.norm(Y.T @ Y / len(Y) - np.eye(k)) / np.sqrt(k))


def run_one(task):
    n, k, scale, gap, seed, max_rows = task
    torch.set_num_threads(1)
    n_rows = stream_length(n, k, gap, max_rows)
    X, C, top = make_stream(n, k, scale, gap, seed, n_rows)
    points = checkpoints(n_rows)
    row = dict(n=n, k=k, scale=scale, gap=gap, seed=seed, n_rows=n_rows)
    eigenvectors = np.linalg.eigh(X.T @ X / n_rows)[1][:, ::-1][:, :k]
    row["offline"] = subspace_error(eigenvectors.T, top.T)

    tic = time.perf_counter()
    try:
        errors = run_psp(X, k, seed, points, top)
        row.update(psp=errors[-1], psp_reach=first_below(errors, points), psp_diverged=0)
    except (TrainingDivergedError, ValueError):
        row.update(psp=math.nan, psp_reach=math.inf, psp_diverged=1)
    row["psp_seconds"] = time.perf_counter() - tic

    tic = time.perf_counter()
    errors = sm_reference(X, k, points, top)
    row.update(sm=errors[-1], sm_reach=first_below(errors, points))
    row["sm_seconds"] = time.perf_counter() - tic
    row["offline_reach"] = first_below(offline_reference(X, k, points, top), points)

    tic = time.perf_counter()
    try:
        est, converged = run_psw(X, k, seed)
        F = est.components_
        row.update(
            psw=subspace_error(F, top.T), psw_whitening=whitening(est.transform(X)),
            psw_whitening_population=whitening_population(F, C), psw_passes=est.n_iter_,
            psw_converged=int(converged), psw_diverged=0,
        )  # fmt: skip
    except (TrainingDivergedError, ValueError):
        row.update(
            psw=math.nan, psw_whitening=math.nan, psw_whitening_population=math.nan,
            psw_passes=0, psw_converged=0, psw_diverged=1,
        )  # fmt: skip
    row["psw_seconds"] = time.perf_counter() - tic
    return row


def whitening_population(F, C):
    k = F.shape[0]
    return float(np.linalg.norm(F @ C @ F.T - np.eye(k)) / np.sqrt(k))


# ---------------------------------------------------------------- summary


def cell_summary(rows):
    """Aggregates over the seeds of one cell and whether each target is met."""
    get = lambda name: np.array([float(r[name]) for r in rows])  # noqa: E731
    psw, offline = get("psw"), get("offline")
    ratio = float(np.mean(psw) / np.mean(offline))
    psp_reach, sm_reach = float(np.median(get("psp_reach"))), float(np.median(get("sm_reach")))
    # CSVs written before the sample-PCA reference have no offline_reach column.
    offline_reach = math.nan
    if "offline_reach" in rows[0]:
        offline_reach = float(np.median(get("offline_reach")))
    diverged = int(get("psp_diverged").sum() + get("psw_diverged").sum())
    summary = dict(
        runs=len(rows), offline=float(np.mean(offline)), psw=float(np.max(psw)), ratio=ratio,
        whitening=float(np.max(get("psw_whitening"))),
        whitening_population=float(np.max(get("psw_whitening_population"))),
        passes=float(np.mean(get("psw_passes"))), converged=int(get("psw_converged").sum()),
        psp=float(np.max(get("psp"))), sm=float(np.max(get("sm"))), psp_reach=psp_reach,
        sm_reach=sm_reach, offline_reach=offline_reach, diverged=diverged,
    )  # fmt: skip
    summary["targets"] = {
        "PSW whitening": summary["whitening"] < WHITENING_TARGET,
        "PSW subspace": summary["psw"] < SUBSPACE_TARGET,
        "PSW vs offline": ratio <= OFFLINE_RATIO,
        "PSP subspace": summary["psp"] < SUBSPACE_TARGET,
        "PSP vs SM": psp_reach <= sm_reach,
        "no divergence": diverged == 0,
    }
    return summary


def fmt_reach(value):
    if math.isnan(value):
        return "-"
    return "never" if math.isinf(value) else f"{value:.0f}"


def reference_lines(summaries):
    """How the sample PCA of the same rows compares with SM and PSP (not targets)."""
    summaries = [s for s in summaries if not math.isnan(s["offline_reach"])]
    if not summaries:
        return []
    not_later_than_sm = sum(s["offline_reach"] <= s["sm_reach"] for s in summaries)
    psp_not_later = sum(s["psp_reach"] <= s["offline_reach"] for s in summaries)
    return [
        "Reference, the sample PCA of the rows so far (offline, not a target):",
        f"  it is no later than SM in {not_later_than_sm}/{len(summaries)} cells",
        f"  PSP no later than it   in {psp_not_later}/{len(summaries)} cells",
    ]


HEADER = (
    f"{'n':>4} {'k':>3} {'scale':>6} {'gap':>5} {'rows':>6} {'offline':>8} "
    f"{'PSW sub':>8} {'/off':>5} {'white':>6} {'w.pop':>6} {'passes':>6} {'conv':>4} "
    f"{'PSP sub':>8} {'SM sub':>8} {'PSP@1e-2':>8} {'SM@1e-2':>8} {'off@1e-2':>8} {'div':>3}  unmet"
)


def format_table(rows):
    """The per-cell table (worst seed for errors; see the module docstring) and the totals."""
    cells = {}
    for row in rows:
        key = (int(row["n"]), int(row["k"]), float(row["scale"]), float(row["gap"]))
        cells.setdefault(key, []).append(row)
    lines = ["Linear grid (issue 22): defaults of HebbianSimilarityMatching", "", HEADER]
    unmet_total, summaries = {}, []
    for key in sorted(cells):
        s = cell_summary(cells[key])
        summaries.append(s)
        unmet = [name for name, ok in s["targets"].items() if not ok]
        for name in s["targets"]:
            unmet_total.setdefault(name, 0)
            unmet_total[name] += name in unmet
        n, k, scale, gap = key
        lines.append(
            f"{n:>4} {k:>3} {scale:>6g} {gap:>5g} {int(cells[key][0]['n_rows']):>6} "
            f"{s['offline']:>8.1e} {s['psw']:>8.1e} {s['ratio']:>5.2f} {s['whitening']:>6.3f} "
            f"{s['whitening_population']:>6.3f} {s['passes']:>6.1f} "
            f"{s['converged']:>2}/{s['runs']} {s['psp']:>8.1e} {s['sm']:>8.1e} "
            f"{fmt_reach(s['psp_reach']):>8} {fmt_reach(s['sm_reach']):>8} "
            f"{fmt_reach(s['offline_reach']):>8} {s['diverged']:>3}  "
            + (", ".join(unmet) if unmet else "-")
        )
    lines += ["", f"Targets over {len(cells)} cells, {len(rows)} runs:"]
    for name, count in unmet_total.items():
        lines.append(f"  {name:<14} met in {len(cells) - count}/{len(cells)} cells")
    lines += reference_lines(summaries)
    seconds = {m: sum(float(r[f"{m}_seconds"]) for r in rows) for m in ("psp", "psw", "sm")}
    lines.append(
        "Run time: " + ", ".join(f"{m.upper()} {seconds[m]:.0f} s" for m in ("psp", "sm", "psw"))
    )
    return "\n".join(lines) + "\n"


COMPACT_HEADER = (
    f"{'n':>4} {'k':>3} {'gap':>4} {'rows':>6} {'offline':>8} {'PSW sub':>8} {'/off':>5} "
    f"{'white':>6} {'w.pop':>6} {'passes':>6} {'PSP sub':>8} {'PSP@1e-2':>8} "
    f"{'SM sub':>8} {'SM@1e-2 (0.01/1/100)':>22} {'off@1e-2':>8}  unmet"
)


def _worst(summaries, name):
    return max(s[name] for s in summaries)


def format_compact(rows):
    """One line per (n, k, gap): the worst over the three scales, SM's reach per scale."""
    cells = {}
    for row in rows:
        key = (int(row["n"]), int(row["k"]), float(row["gap"]))
        cells.setdefault(key, {}).setdefault(float(row["scale"]), []).append(row)
    lines = ["Linear grid by (n, k, gap), worst over the scales", "", COMPACT_HEADER]
    for (n, k, gap), by_scale in sorted(cells.items()):
        summaries = [cell_summary(by_scale[scale]) for scale in sorted(by_scale)]
        worst = functools.partial(_worst, summaries)
        unmet = sorted({name for s in summaries for name, ok in s["targets"].items() if not ok})
        counts = [sum(not s["targets"][name] for s in summaries) for name in unmet]
        reach = "/".join(fmt_reach(s["sm_reach"]) for s in summaries)
        rows_used = int(next(iter(by_scale.values()))[0]["n_rows"])
        lines.append(
            f"{n:>4} {k:>3} {gap:>4g} {rows_used:>6} {worst('offline'):>8.1e} "
            f"{worst('psw'):>8.1e} {worst('ratio'):>5.2f} {worst('whitening'):>6.3f} "
            f"{worst('whitening_population'):>6.3f} {worst('passes'):>6.1f} "
            f"{worst('psp'):>8.1e} {fmt_reach(worst('psp_reach')):>8} {worst('sm'):>8.1e} "
            f"{reach:>22} {fmt_reach(summaries[0]['offline_reach']):>8}  "
            + (
                ", ".join(f"{u} ({c}/{len(summaries)})" for u, c in zip(unmet, counts, strict=True))
                if unmet
                else "-"
            )
        )
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------- main


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke grid of two cells")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0 .. S-1")
    parser.add_argument("--jobs", type=int, default=1, help="single-threaded worker processes")
    parser.add_argument("--csv", help="append one row per run to this file")
    parser.add_argument("--resume", action="store_true", help="skip runs already in --csv")
    parser.add_argument("--table-from", help="print the table of this CSV; no runs")
    parser.add_argument(
        "--by-gap", action="store_true", help="with --table-from: one line per (n, k, gap)"
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.table_from:
        rows = read_rows(args.table_from)
        sys.stdout.write(format_compact(rows) if args.by_gap else format_table(rows))
        return 0
    grid = dict(
        dimensions=DIMENSIONS, components=COMPONENTS, scales=SCALES, gaps=GAPS,
        seeds=args.seeds, max_rows=MAX_ROWS,
    )  # fmt: skip
    if args.quick:
        grid = QUICK
    tasks = [
        (n, k, scale, gap, seed, grid["max_rows"])
        for n, k, gap, scale, seed in itertools.product(
            grid["dimensions"],
            grid["components"],
            grid["gaps"],
            grid["scales"],
            range(grid["seeds"]),
        )  # fmt: skip
        if k < n
    ]
    done = []
    if args.csv and args.resume and os.path.exists(args.csv):
        done = read_rows(args.csv)
        keys = {task_key(row) for row in done}
        # a task is (n, k, scale, gap, seed, max_rows): its first fields are its key
        tasks = [task for task in tasks if tuple(map(float, task[: len(TASK_FIELDS)])) not in keys]
    print(f"{len(tasks)} runs ({len(done)} already in the CSV), {args.jobs} worker(s)", flush=True)
    rows = []
    if args.jobs > 1:
        env = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        os.environ.update(env)
        with concurrent.futures.ProcessPoolExecutor(args.jobs) as pool:
            for row in pool.map(run_one, tasks):
                rows.append(record(progress(row), args.csv))
    else:
        rows = [record(progress(run_one(task)), args.csv) for task in tasks]
    sys.stdout.write("\n" + format_table(done + rows))
    return 0


TASK_FIELDS = ("n", "k", "scale", "gap", "seed")


def task_key(row):
    return tuple(float(row[name]) for name in TASK_FIELDS)


def record(row, path):
    """Append ``row`` to the CSV at ``path`` (with a header if new); return it."""
    if path:
        new = not os.path.exists(path)
        with open(path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=FIELDS)
            if new:
                writer.writeheader()
            writer.writerow(row)
    return row


def progress(row):
    print(
        f"n={row['n']} k={row['k']} scale={row['scale']:g} gap={row['gap']:g} "
        f"seed={row['seed']}: PSP {row['psp']:.1e} (SM {row['sm']:.1e}), PSW {row['psw']:.1e} "
        f"white {row['psw_whitening']:.3f} in {row['psw_passes']} passes, "
        f"{row['psp_seconds'] + row['psw_seconds'] + row['sm_seconds']:.1f} s",
        flush=True,
    )
    return row


if __name__ == "__main__":
    sys.exit(main())
