"""Convergence grid: the estimator's defaults against the paper's procedure, over seeds.

Fits :class:`~sklearn_ksm.HebbianKernelSimilarityMatching` for every data set,
number of neurons N, procedure and seed, and prints, per data set x N x
procedure: the number of runs, how many diverged (the fit raised
:class:`~sklearn_ksm.TrainingDivergedError` or the output was not finite),
the relative kernel error ``||K - Y Y^T||_F / ||K||_F`` of the network output
on the training set (mean +- std and [min, max] over the seeds that did not
diverge), the error of the Nystroem map on the learned landmarks (mean +-
std), the KMeans-landmark Nystroem baseline (mean over the same seeds), the
optimal rank-N error (uncentred kernel PCA), the training samples used
(``n_samples_seen_``) and the mean wall time of ``fit``. The baselines are
those of ``python -m sklearn_ksm compare`` (its ``_Runner``).

Data sets: ``moons`` (``make_half_moons(1600, random_state=0)``, rbf,
gamma = 1 / (2 * 0.3**2), N in 2 .. 64, seeds 0..9); ``mnist1`` and ``mnist3``
(the bundled 5000 x 400 MNIST sample, power-cosine with alpha = 1 or 3, N in
25 .. 800, seeds 0..4). Procedures: ``defaults`` (only N, the kernel and the
seed are given) and ``paper`` (anti-Hebbian ascent on L from random landmarks
with the paper's rates and schedule: 20,000 steps of 64 on the moons, about
15,000 on MNIST).

Run from the repository root::

    python benchmarks/convergence_grid.py [--datasets moons mnist1 mnist3]
        [--procedures defaults paper] [--n-components N ...] [--seeds S]
        [--jobs J] [--csv PATH [--resume]] [--max-iter I] [--summary CSV]
    python benchmarks/convergence_grid.py --table-from PATH [--summary CSV]

``--jobs`` runs independent fits in J single-threaded worker processes (1,
the default: in this process, with torch's threads as found);
``--csv`` appends one row per fit (and per baseline) as it finishes, and
``--resume`` skips the fits already in that file, so an interrupted run can
be continued; ``--table-from`` prints the table of a CSV without fitting;
``--max-iter`` overrides both procedures' ``max_iter`` (for smoke tests). The
CSV does not record the settings: resume a file with the options that began it.
``--summary`` merges the summary table into a CSV (one row per data set x N x
procedure, replacing those rows if present): ``--summary
doc/_data/convergence_grid.csv`` refreshes the figures and numbers of the
documentation, which reads that file at build time.

Expected run time of the whole grid with one worker: about 7 hours on the
project's 2-core CPU machine (10 minutes for the moons, the rest MNIST,
mostly the default fits at N = 800: 1690 s at alpha = 1 and 1245 s at
alpha = 3, about 140 and 105 ms per step, measured with other fits running
beside them; a paper fit at N = 800 takes about 13 ms per step). ``--jobs 2``
roughly halves it when both cores are free. On a GPU keep ``--jobs`` at
2-4: more workers time-slice the device and gain little (on the H100, four
default fits at N = 800 side by side took 476 s each, one alone 158 s).
"""

import argparse
import concurrent.futures
import csv
import functools
import math
import os
import time
from dataclasses import dataclass

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from sklearn_ksm import HebbianKernelSimilarityMatching, TrainingDivergedError
from sklearn_ksm._compare import Comparison, Dataset, _Runner
from sklearn_ksm.datasets import load_mnist, make_half_moons
from sklearn_ksm.metrics import kernel_approximation_error

# The paper's procedures: Hebbian/anti-Hebbian ascent on L from Gaussian landmarks.
MOONS_PAPER = dict(
    lateral="hebbian", init="random", learning_rate=0.01, learning_rate_gain=0.01,
    learning_rate_lateral=0.1, max_iter=800, decay_start=0.5, learning_rate_decay=0.1,
)  # fmt: skip
MNIST_PAPER = dict(
    lateral="hebbian", init="random", learning_rate=0.001, learning_rate_gain=0.0,
    learning_rate_lateral=0.01, max_iter=190, decay_start=2 / 3, learning_rate_decay=0.1,
)  # fmt: skip


@dataclass(frozen=True)
class Grid:
    kernel: dict
    n_components: tuple
    n_seeds: int
    paper: dict


GRIDS = {
    "moons": Grid({"kernel": "rbf", "gamma": 1 / (2 * 0.3**2)}, (2, 4, 8, 16, 32, 64), 10,
                  MOONS_PAPER),
    "mnist1": Grid({"kernel": "power_cosine", "degree": 1}, (25, 50, 100, 200, 400, 800), 5,
                   MNIST_PAPER),
    "mnist3": Grid({"kernel": "power_cosine", "degree": 3}, (25, 50, 100, 200, 400, 800), 5,
                   MNIST_PAPER),
}  # fmt: skip
PROCEDURES = ("defaults", "paper")
BASELINES = ("kmeans", "optimal")
FIELDS = (
    "dataset", "n_components", "procedure", "seed", "diverged", "error", "nystroem_error",
    "n_samples_seen", "n_steps", "seconds",
)  # fmt: skip


@dataclass(frozen=True)
class Task:
    """One unit of work: a fit, a KMeans baseline, or the optimum for several N."""

    dataset: str
    procedure: str
    n_components: tuple  # one N; every N for "optimal" (one decomposition serves all)
    seed: int | None


@functools.cache
def load_data(dataset):
    """The training rows (cached: each worker process loads a data set once)."""
    if dataset == "moons":
        return make_half_moons(1600, random_state=0)[0]
    return load_mnist(source="sample", return_X_y=True)[0]


def network_params(dataset, procedure, max_iter):
    params = {} if procedure == "defaults" else dict(GRIDS[dataset].paper)
    if max_iter is not None:
        params["max_iter"] = max_iter
    return params


def new_row(task, n, **values):
    row = dict.fromkeys(FIELDS, math.nan)
    row.update(dataset=task.dataset, n_components=n, procedure=task.procedure, seed=task.seed)
    row.update(diverged=0, **values)
    return row


def finite_output(estimator, X):
    """``estimator.transform(X)``, or None when the output is not finite."""
    try:
        Y = estimator.transform(X)
    except ValueError:  # transform refuses to return non-finite values
        return None
    return Y if np.isfinite(Y).all() else None


def fit_network(task, max_iter):
    (n,) = task.n_components
    X, kernel = load_data(task.dataset), GRIDS[task.dataset].kernel
    params = network_params(task.dataset, task.procedure, max_iter)
    estimator = HebbianKernelSimilarityMatching(n, **kernel, random_state=task.seed, **params)
    tic = time.perf_counter()
    try:
        estimator.fit(X)
        Y = finite_output(estimator, X)
    except TrainingDivergedError:
        Y = None
    seconds = time.perf_counter() - tic
    # A diverged estimator keeps its last finite state, so its counters exist.
    row = new_row(
        task, n, seconds=seconds, n_steps=getattr(estimator, "n_steps_", math.nan),
        n_samples_seen=getattr(estimator, "n_samples_seen_", math.nan),
    )  # fmt: skip
    if Y is None:
        row["diverged"] = 1
        return [row]
    row["error"] = kernel_approximation_error(X, Y, **kernel)
    readout = finite_output(estimator.nystroem_readout(), X)
    if readout is not None:
        row["nystroem_error"] = kernel_approximation_error(X, readout, **kernel)
    return [row]


def baseline_runner(dataset, n_components):
    """The compare command's runner, which builds the KMeans and kernel PCA baselines.

    A fresh one per task: it decomposes K once, at the largest of ``n_components``,
    and slices that for the smaller N.
    """
    grid = GRIDS[dataset]
    data = Dataset(load_data(dataset), None, grid.kernel, n_components, dataset)
    comparison = Comparison(dataset, grid.kernel, n_components, (), ("optimal",))
    return _Runner(data, comparison, "cpu")


def fit_baseline(task):
    runner = baseline_runner(task.dataset, task.n_components)
    method = "nystroem_kmeans" if task.procedure == "kmeans" else "optimal"
    rows = []
    for n in task.n_components:
        Y, seconds = runner.fit(method, n, task.seed)
        rows.append(new_row(task, n, error=runner.error(Y), seconds=seconds))
    return rows


def run_task(task, max_iter=None):
    """The CSV rows of one task."""
    if task.procedure in BASELINES:
        return fit_baseline(task)
    return fit_network(task, max_iter)


def single_threaded():
    """Worker initialiser: J workers on J cores, without competing thread pools."""
    torch.set_num_threads(1)
    threadpool_limits(1)


def run_tasks(tasks, jobs, max_iter):
    """Yield rows as tasks finish, in this process (jobs=1) or in a process pool."""
    if jobs == 1:
        for task in tasks:
            yield from run_task(task, max_iter)
        return
    with concurrent.futures.ProcessPoolExecutor(jobs, initializer=single_threaded) as pool:
        futures = [pool.submit(run_task, task, max_iter) for task in tasks]
        for future in concurrent.futures.as_completed(futures):
            yield from future.result()


# ----------------------------------------------------------- planning and CSV


def row_key(row):
    return row["dataset"], row["n_components"], row["procedure"], row["seed"]


def planned_tasks(datasets, procedures, n_components, n_seeds):
    """Every task of the grid; largest first, so that the pool's tail is short."""
    tasks = []
    for dataset in datasets:
        grid = GRIDS[dataset]
        ns = tuple(n_components or grid.n_components)
        seeds = range(grid.n_seeds if n_seeds is None else n_seeds)
        tasks.append(Task(dataset, "optimal", ns, None))
        for n in ns:
            for procedure in (*procedures, "kmeans"):
                tasks += [Task(dataset, procedure, (n,), seed) for seed in seeds]
    return sorted(tasks, key=lambda t: (t.dataset != "moons", max(t.n_components)), reverse=True)


def task_keys(task):
    return [(task.dataset, n, task.procedure, task.seed) for n in task.n_components]


def missing_part(task, done):
    """The task restricted to the N not yet in ``done``, or None if all are."""
    keys = zip(task.n_components, task_keys(task), strict=True)
    ns = tuple(n for n, key in keys if key not in done)
    return Task(task.dataset, task.procedure, ns, task.seed) if ns else None


def read_rows(path):
    """Rows of a CSV written by this script, numbers parsed; the last row of each fit wins.

    (A run without ``--resume`` appends fits that may already be in the file.)
    """
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row["n_components"] = int(row["n_components"])
        row["seed"] = int(row["seed"]) if row["seed"] else None
        row["diverged"] = int(row["diverged"])
        for name in ("error", "nystroem_error", "n_samples_seen", "n_steps", "seconds"):
            row[name] = float(row[name])
    return list({row_key(row): row for row in rows}.values())


def append_row(path, row):
    new_file = not os.path.exists(path) or os.path.getsize(path) == 0
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, FIELDS)
        if new_file:
            writer.writeheader()
        writer.writerow({k: "" if v is None else v for k, v in row.items()})


# ------------------------------------------------------------------ the table


def progress_line(row):
    run = row["procedure"] + ("" if row["seed"] is None else f" seed={row['seed']}")
    head = f"{row['dataset']:7} N={row['n_components']:<4} {run + ':':17}"
    if row["diverged"]:
        return f"{head} DIVERGED after {row['n_steps']:.0f} steps ({row['seconds']:.1f} s)"
    text = f"{head} error {row['error']:.4f}"
    if row["procedure"] in PROCEDURES:
        text += (
            f", Nystroem(W) {row['nystroem_error']:.4f}, {row['n_steps']:.0f} steps, "
            f"{row['n_samples_seen']:.0f} samples"
        )
    return f"{text} ({row['seconds']:.1f} s)"


def mean_std(values):
    return "-" if not values else f"{np.mean(values):.4f}±{np.std(values):.4f}"


def fmt(value, spec=".4f"):
    return "-" if value is None or not np.isfinite(value) else format(value, spec)


def summary_cells(rows, baselines):
    """The table cells of one data set x N x procedure."""
    ok = [r for r in rows if not r["diverged"] and np.isfinite(r["error"])]
    errors = [r["error"] for r in ok]
    nystroem = [r["nystroem_error"] for r in ok if np.isfinite(r["nystroem_error"])]
    first = rows[0]
    dataset, n = first["dataset"], first["n_components"]
    kmeans = [baselines.get((dataset, n, "kmeans", r["seed"])) for r in rows]
    kmeans = [e for e in kmeans if e is not None]
    optimal = baselines.get((dataset, n, "optimal", None))
    return [
        dataset, str(n), first["procedure"], str(len(rows)), str(len(rows) - len(ok)),
        mean_std(errors), fmt(min(errors, default=None)), fmt(max(errors, default=None)),
        mean_std(nystroem), fmt(np.mean(kmeans) if kmeans else None), fmt(optimal),
        fmt(np.mean([r["n_samples_seen"] for r in rows]), ".0f"),
        fmt(np.mean([r["seconds"] for r in rows]), ".1f"),
    ]  # fmt: skip


HEADER = (
    "data", "N", "procedure", "runs", "diverged", "y error mean±std", "y min", "y max",
    "Nystroem(W) mean±std", "KMeans Nys.", "optimal", "samples seen", "fit s",
)  # fmt: skip
NOTES = """\
Errors: ||K - YY^T||_F / ||K||_F on the training set; y and Nystroem(W) over the seeds that
did not diverge; KMeans Nys.: Nystroem on KMeans landmarks, mean over the same seeds;
optimal: uncentred kernel PCA. samples seen: mean n_samples_seen_ (the defaults' final
lateral pass reads the n training rows once more, not counted). fit s: mean wall time of fit."""


def aligned(cells, widths):
    """One table line: names (data, procedure) to the left, numbers to the right."""
    pairs = enumerate(zip(cells, widths, strict=True))
    return "  ".join(c.ljust(w) if i in (0, 2) else c.rjust(w) for i, (c, w) in pairs)


def summary_lines(rows):
    """The cells of every data set x N x procedure, in the table's order."""
    baselines = {row_key(r): r["error"] for r in rows if r["procedure"] in BASELINES}
    groups = {}
    for row in rows:
        if row["procedure"] not in BASELINES:
            groups.setdefault(row_key(row)[:3], []).append(row)
    order = {name: i for i, name in enumerate((*GRIDS, *PROCEDURES))}
    keys = sorted(groups, key=lambda k: (order.get(k[0], 99), k[1], order.get(k[2], 99), k))
    return [summary_cells(groups[k], baselines) for k in keys]


def format_table(rows):
    """The summary table of CSV rows (networks and baselines together)."""
    table = [list(HEADER)] + summary_lines(rows)
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADER))]
    lines = [aligned(line, widths) for line in table]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(["Convergence grid summary", *lines, "", NOTES])


SUMMARY_FIELDS = (
    "dataset", "n_components", "procedure", "runs", "diverged", "y_error_mean", "y_error_std",
    "y_error_min", "y_error_max", "nystroem_mean", "nystroem_std", "kmeans_nystroem",
    "optimal", "samples_seen", "fit_seconds",
)  # fmt: skip


def summary_records(rows):
    """The table's numbers, one dict per data set x N x procedure (for doc/_data)."""
    records = []
    for cells in summary_lines(rows):
        (mean, std), (ny_mean, ny_std) = (c.split("±") if "±" in c else ("", "")
                                          for c in (cells[5], cells[8]))  # fmt: skip
        values = [*cells[:5], mean, std, cells[6], cells[7], ny_mean, ny_std, *cells[9:]]
        values = ["" if v == "-" else v for v in values]
        records.append(dict(zip(SUMMARY_FIELDS, values, strict=True)))
    return records


def write_summary(path, rows):
    """Merge this run's summary into ``path``: its (data set, N, procedure) rows are replaced."""
    new = summary_records(rows)
    key = lambda r: (r["dataset"], int(r["n_components"]), r["procedure"])  # noqa: E731
    kept = []
    if os.path.exists(path):
        with open(path, newline="") as f:
            replaced = {key(r) for r in new}
            kept = [r for r in csv.DictReader(f) if key(r) not in replaced]
    order = {name: i for i, name in enumerate((*GRIDS, *PROCEDURES))}
    records = sorted(kept + new, key=lambda r: (order.get(r["dataset"], 99),
                     int(r["n_components"]), order.get(r["procedure"], 99)))  # fmt: skip
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, SUMMARY_FIELDS)
        writer.writeheader()
        writer.writerows(records)
    print(f"wrote {len(new)} summary rows to {path} ({len(kept)} kept from before)")


# ------------------------------------------------------------------- main


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=tuple(GRIDS), default=tuple(GRIDS))
    parser.add_argument("--procedures", nargs="+", choices=PROCEDURES, default=PROCEDURES)
    parser.add_argument("--n-components", nargs="+", type=int, help="replaces every N grid")
    parser.add_argument("--seeds", type=int, help="number of seeds (0 .. S-1)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--csv", help="append one row per fit to this file")
    parser.add_argument("--resume", action="store_true", help="skip fits already in --csv")
    parser.add_argument("--table-from", help="print the table of this CSV; no fitting")
    parser.add_argument("--max-iter", type=int, help="override max_iter (smoke tests)")
    parser.add_argument("--summary", help="merge the summary table into this CSV "
                        "(doc/_data/convergence_grid.csv for the documentation)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.resume and not args.csv:
        parser.error("--resume needs --csv")
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.table_from:
        rows = read_rows(args.table_from)
        print(format_table(rows))
        if args.summary:
            write_summary(args.summary, rows)
        return 0
    tasks = planned_tasks(args.datasets, args.procedures, args.n_components, args.seeds)
    planned = {key for task in tasks for key in task_keys(task)}
    rows = []
    if args.resume and os.path.exists(args.csv):
        rows = [r for r in read_rows(args.csv) if row_key(r) in planned]
        done = {row_key(r) for r in rows}
        tasks = [t for t in (missing_part(t, done) for t in tasks) if t is not None]
    resumed = f" ({len(rows)} rows already in {args.csv})" if args.resume else ""
    print(f"{len(tasks)} tasks to run{resumed}", flush=True)
    for row in run_tasks(tasks, args.jobs, args.max_iter):
        print(progress_line(row), flush=True)
        if args.csv:
            append_row(args.csv, row)
        rows.append(row)
    print()
    print(format_table(rows), flush=True)
    if args.summary:
        write_summary(args.summary, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
