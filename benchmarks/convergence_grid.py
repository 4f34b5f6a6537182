"""Convergence grid: the estimator's defaults against the paper's procedure, over seeds.

Fits the network for every data set, number of neurons N, procedure and
seed, and prints two tables. The first, per data set x N x procedure: the
number of runs, how many diverged (the fit raised
:class:`~sklearn_ksm.TrainingDivergedError`, or the output or the state was
not finite), the relative kernel error ``||K - Y Y^T||_F / ||K||_F`` of the
network output on the training set (mean +- std and [min, max] over the
seeds that did not diverge), the error of the Nystroem map on the learned
landmarks (mean +- std), the optimal rank-N error (uncentred kernel PCA),
the training samples used and the mean wall time of the fit with its output
(training and ``y`` for every row; the error computations are not timed). The second,
per data set x N: the landmark baselines a user would pick, Nystroem on
uniform rows, on scikit-learn's default k-means++ ``KMeans`` centres and
on randomly pivoted Cholesky rows (mean +- std over the same seeds), and,
with ``--baselines ... bound``, the optimum of the network's objective
(``bound_optimum.py``, L-BFGS from k-means++ centres, seed 0): its output
error and the Nystroem error on its landmarks, which tell the limits of the
objective from those of the training.

Data sets: ``moons`` (``make_half_moons(1600, random_state=0)``, rbf,
gamma = 1 / (2 * 0.3**2), N in 2 .. 64, seeds 0..9); ``mnist1`` ..
``mnist4`` (the bundled 5000 x 400 MNIST sample, power-cosine with
alpha = 1 .. 4, N in 25 .. 800, seeds 0..4). Procedures: ``defaults``
(:class:`~sklearn_ksm.HebbianKernelSimilarityMatching` given only N, the
kernel and the seed); ``equilibrium`` (the defaults with the exact,
non-local ``lateral="equilibrium"``); ``init_kmeans`` and ``init_rpcholesky``
(the defaults from those landmark initialisations); ``paper``: the authors' procedure as
their public notebooks run it (``train-halfmoons.ipynb``,
``train-mnist.ipynb``), re-implemented here with its own loop, since the
estimator cannot change the kernel during training: float32, W ~ N(0, 1)
(times 0.5 on the moons), q = 1, L = I, lambda = 1e-3, a fresh random batch
of 64 distinct rows every step, the updates of Eqs. 12-15 in the authors'
order; on the moons 10,000 steps at eta_w = eta_q = 0.01, eta_l = 0.1 and
10,000 at a tenth; on MNIST 1,000 warm-up steps with the linear kernel
(alpha = 1; eta_w 0.01, eta_l 0.1), then the target alpha: 5,000 steps at
eta_w 1e-3, eta_l 1e-2 and 5,000 at 1e-4 / 1e-3, q fixed. As in their
code, nothing stops a run that diverges, except that this loop ends it at
the first non-finite state (the result is the same: diverged).

Run from the repository root::

    python benchmarks/convergence_grid.py [--datasets moons mnist1 mnist3]
        [--procedures defaults paper] [--baselines uniform kmeans rpcholesky optimal]
        [--n-components N ...] [--seeds S] [--jobs J] [--csv PATH [--resume]]
        [--max-iter I] [--summary CSV]
    python benchmarks/convergence_grid.py --table-from PATH [--summary CSV]

``--jobs`` runs independent fits in J single-threaded worker processes (1,
the default: in this process, with torch's threads as found);
``--csv`` appends one row per fit (and per baseline) as it finishes, and
``--resume`` skips the fits already in that file, so an interrupted run can
be continued; ``--table-from`` prints the tables of a CSV without fitting;
``--max-iter`` overrides the defaults' ``max_iter`` and gives the paper's
procedure the same number of steps (I passes of batches of 64, split over
its phases in proportion; for smoke tests). The CSV does not record the
settings: resume a file with the options that began it.
``--summary`` merges the summary table into a CSV (one row per data set x N x
procedure, replacing those rows if present): ``--summary
doc/_data/convergence_grid.csv`` refreshes the figures and numbers of the
documentation, which reads that file at build time.

Expected run time of the whole default grid with one worker: about 7 hours
on the project's 2-core CPU machine (10 minutes for the moons, the rest
MNIST, mostly the default fits at N = 800: 1690 s at alpha = 1 and 1245 s
at alpha = 3, about 140 and 105 ms per step, measured with other fits
running beside them; a paper fit at N = 800 takes about 13 ms per step).
``--jobs 2`` roughly halves it when both cores are free. On a GPU keep
``--jobs`` at 2-4: more workers time-slice the device and gain little (on
the H100, four default fits at N = 800 side by side took 476 s each, one
alone 158 s).
"""

import argparse
import concurrent.futures
import csv
import functools
import math
import os
import pathlib
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from sklearn_ksm import HebbianKernelSimilarityMatching, TrainingDivergedError, _gda
from sklearn_ksm._compare import Comparison, Dataset, _Runner
from sklearn_ksm.baselines import KernelNystroem
from sklearn_ksm.datasets import load_mnist, make_half_moons
from sklearn_ksm.kernels import make_kernel
from sklearn_ksm.metrics import kernel_approximation_error


@dataclass(frozen=True)
class Phase:
    """A stretch of the paper's training at fixed rates (and kernel exponent)."""

    steps: int
    eta_w: float
    eta_q: float
    eta_l: float
    degree: int | None = None  # power-cosine alpha of this phase; None: the data set's


@dataclass(frozen=True)
class PaperProcedure:
    """The authors' schedule: initial landmark scale and phases of batches of 64."""

    init_scale: float
    phases: tuple
    reg: float = 1e-3
    batch_size: int = 64


# train-halfmoons.ipynb: net.w *= 0.5; 10,000 steps, then 10,000 at a tenth.
MOONS_PAPER = PaperProcedure(0.5, (Phase(10_000, 0.01, 0.01, 0.1), Phase(10_000, 1e-3, 1e-3, 1e-2)))
# train-mnist.ipynb: W = randn; 1,000 warm-up steps at d = 1, then net.d = alpha.
MNIST_PAPER = PaperProcedure(
    1.0, (Phase(1_000, 0.01, 0.0, 0.1, degree=1), Phase(5_000, 1e-3, 0.0, 1e-2),
          Phase(5_000, 1e-4, 0.0, 1e-3)),
)  # fmt: skip


@dataclass(frozen=True)
class Grid:
    kernel: dict
    n_components: tuple
    n_seeds: int
    paper: PaperProcedure


MNIST_N = (25, 50, 100, 200, 400, 800)
GRIDS = {
    "moons": Grid({"kernel": "rbf", "gamma": 1 / (2 * 0.3**2)}, (2, 4, 8, 16, 32, 64), 10,
                  MOONS_PAPER),
    **{f"mnist{alpha}": Grid({"kernel": "power_cosine", "degree": alpha}, MNIST_N, 5, MNIST_PAPER)
       for alpha in (1, 2, 3, 4)},
}  # fmt: skip
DEFAULT_DATASETS = ("moons", "mnist1", "mnist3")
PROCEDURES = ("defaults", "equilibrium", "paper", "init_kmeans", "init_rpcholesky")
DEFAULT_PROCEDURES = ("defaults", "paper")
# Nystroem landmark baselines (one fit per seed), the objective's optimum
# (bound_optimum.py, seed 0) and the optimal rank-N error (one for all seeds).
NYSTROEM_BASELINES = ("uniform", "kmeans", "rpcholesky")
BASELINES = (*NYSTROEM_BASELINES, "bound", "optimal")
DEFAULT_BASELINES = (*NYSTROEM_BASELINES, "optimal")
FIELDS = (
    "dataset", "n_components", "procedure", "seed", "diverged", "error", "nystroem_error",
    "n_samples_seen", "n_steps", "seconds",
)  # fmt: skip
HERE = pathlib.Path(__file__).resolve().parent


@dataclass(frozen=True)
class Task:
    """One unit of work: a fit, a baseline, or the optimum for several N."""

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


# ------------------------------------------------------ the paper's procedure


def paper_step(W, q, L, x, kernel, phase, reg):
    """One step of the authors' loop: Eqs. 12-15, then Eq. 10 in their order.

    Their notebooks update q first, so the W step divides by the new q^2 (on
    MNIST q is fixed and the order does not matter).
    """
    K = kernel(x, W)
    Y = _gda.response_solve(_gda.drive(q, K), L, reg)  # Eq. 12
    batch = x.shape[0]
    # Eq. 13: de/dw_i = -q_i <y_i df(x, w_i)/dw_i> + 1/2 q_i^2 df(w_i, w_i)/dw_i
    grad_w = kernel.grad_second(x, W, K, Y * (-q / batch))
    grad_w = grad_w + (0.5 * q * q)[:, None] * kernel.diag_grad(W)
    # Eq. 14: de/dq_i = -<y_i f(x, w_i)> + q_i f(w_i, w_i)
    grad_q = -(Y * K).mean(0) + q * kernel.diag(W)
    # Eq. 15: de/dL = 1/2 (<y y^T> - L), ascended
    grad_l = 0.5 * ((Y.T @ Y) / batch - L)
    q = q - phase.eta_q * grad_q
    W = W - phase.eta_w * grad_w / (q * q)[:, None]
    return W, q, L + phase.eta_l * grad_l


def scaled_phases(procedure, total_steps):
    """The phases shortened in proportion to ``total_steps`` (smoke tests)."""
    planned = sum(phase.steps for phase in procedure.phases)
    return tuple(
        Phase(max(1, round(phase.steps * total_steps / planned)), phase.eta_w, phase.eta_q,
              phase.eta_l, phase.degree)
        for phase in procedure.phases
    )  # fmt: skip


def paper_fit(X, kernel_params, n_components, seed, procedure, total_steps=None):
    """Train as the authors' notebooks do; returns ``(W, q, L, steps)`` in float64.

    ``W``, ``q`` and ``L`` are None when the state became non-finite.
    """
    generator = torch.Generator().manual_seed(seed)
    X = torch.as_tensor(np.asarray(X, dtype=np.float32))
    W = procedure.init_scale * torch.randn(n_components, X.shape[1], generator=generator)
    q, L = torch.ones(n_components), torch.eye(n_components)
    phases = procedure.phases if total_steps is None else scaled_phases(procedure, total_steps)
    steps = 0
    for phase in phases:
        params = dict(kernel_params)
        if phase.degree is not None:
            params["degree"] = phase.degree
        kernel = make_kernel(n_features=X.shape[1], **params)
        for _ in range(phase.steps):
            rows = torch.randperm(X.shape[0], generator=generator)[: procedure.batch_size]
            W, q, L = paper_step(W, q, L, X[rows], kernel, phase, procedure.reg)
            steps += 1
            if steps % 100 == 0 and not all(torch.isfinite(t).all() for t in (W, q, L)):
                return None, None, None, steps
    if not all(torch.isfinite(t).all() for t in (W, q, L)):
        return None, None, None, steps
    return W.double(), q.double(), L.double(), steps


def paper_output(X, W, q, L, kernel, reg):
    """The trained network's output y (Eq. 12) for every row, in float64."""
    Xt = torch.as_tensor(np.asarray(X, dtype=np.float64))
    return _gda.response_solve(_gda.drive(q, kernel(Xt, W)), L, reg).numpy()


def fit_paper(task, max_iter):
    (n,) = task.n_components
    X, grid = load_data(task.dataset), GRIDS[task.dataset]
    total = None if max_iter is None else max_iter * math.ceil(len(X) / grid.paper.batch_size)
    tic = time.perf_counter()
    W, q, L, steps = paper_fit(X, grid.kernel, n, task.seed, grid.paper, total)
    row = new_row(task, n, n_steps=steps, n_samples_seen=steps * grid.paper.batch_size)
    Y = None
    if W is not None:
        Y = paper_output(X, W, q, L, make_kernel(n_features=X.shape[1], **grid.kernel),
                         grid.paper.reg)  # fmt: skip
    # training and the output, as for the estimator (fit and transform); the
    # errors below are the benchmark's, not the procedure's
    row["seconds"] = time.perf_counter() - tic
    if Y is not None and np.isfinite(Y).all():
        row["error"] = kernel_approximation_error(X, Y, **grid.kernel)
        readout = KernelNystroem(landmarks=W.numpy(), **grid.kernel).fit_transform(X)
        row["nystroem_error"] = kernel_approximation_error(X, readout, **grid.kernel)
    row["diverged"] = int(not np.isfinite(row["error"]))
    return [row]


# ------------------------------------------------------------ the estimator


def network_params(procedure, max_iter):
    params = {}
    if procedure.startswith("init_"):
        params["init"] = procedure.removeprefix("init_")
    if procedure == "equilibrium":
        params["lateral"] = "equilibrium"
    if max_iter is not None:
        params["max_iter"] = max_iter
    return params


def fit_network(task, max_iter):
    (n,) = task.n_components
    X, kernel = load_data(task.dataset), GRIDS[task.dataset].kernel
    params = network_params(task.procedure, max_iter)
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


# ---------------------------------------------------------------- baselines


def baseline_runner(dataset, n_components):
    """The compare command's runner, which builds the Nystroem and kernel PCA baselines.

    A fresh one per task: it decomposes K once, at the largest of ``n_components``,
    and slices that for the smaller N.
    """
    grid = GRIDS[dataset]
    data = Dataset(load_data(dataset), None, grid.kernel, n_components, dataset)
    comparison = Comparison(dataset, grid.kernel, n_components, (), ("optimal",))
    return _Runner(data, comparison, "cpu")


def fit_bound(task):
    """The objective's optimum from k-means++ centres (bound_optimum.py), per N."""
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    import bound_optimum  # imports this module: imported here, not at the top

    X, kernel = load_data(task.dataset), GRIDS[task.dataset].kernel
    rows = []
    for n in task.n_components:
        tic = time.perf_counter()
        start = bound_optimum.kmeans_start(X, n, task.seed)
        result = bound_optimum.bound_errors(X, kernel, n, start)
        rows.append(new_row(task, n, error=result["error"], nystroem_error=result["nystroem_error"],
                            seconds=time.perf_counter() - tic))  # fmt: skip
    return rows


def fit_baseline(task):
    if task.procedure == "bound":
        return fit_bound(task)
    runner = baseline_runner(task.dataset, task.n_components)
    method = "optimal" if task.procedure == "optimal" else f"nystroem_{task.procedure}"
    rows = []
    for n in task.n_components:
        Y, seconds = runner.fit(method, n, task.seed)
        rows.append(new_row(task, n, error=runner.error(Y), seconds=seconds))
    return rows


def run_task(task, max_iter=None):
    """The CSV rows of one task."""
    if task.procedure in BASELINES:
        return fit_baseline(task)
    if task.procedure == "paper":
        return fit_paper(task, max_iter)
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


def planned_tasks(datasets, procedures, baselines, n_components, n_seeds):
    """Every task of the grid; largest first, so that the pool's tail is short."""
    tasks = []
    for dataset in datasets:
        grid = GRIDS[dataset]
        ns = tuple(n_components or grid.n_components)
        seeds = range(grid.n_seeds if n_seeds is None else n_seeds)
        if "optimal" in baselines:
            tasks.append(Task(dataset, "optimal", ns, None))
        for n in ns:
            if "bound" in baselines:
                tasks.append(Task(dataset, "bound", (n,), 0))
            # seed-major: with --jobs 2 the procedures of a seed run side by
            # side, with --jobs 1 they alternate, so their times compare
            methods = procedures + tuple(b for b in baselines if b in NYSTROEM_BASELINES)
            tasks += [Task(dataset, method, (n,), seed) for seed in seeds for method in methods]
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


# ------------------------------------------------------------------ the tables


def progress_line(row):
    run = row["procedure"] + ("" if row["seed"] is None else f" seed={row['seed']}")
    head = f"{row['dataset']:7} N={row['n_components']:<4} {run + ':':22}"
    if row["diverged"]:
        return f"{head} DIVERGED after {row['n_steps']:.0f} steps ({row['seconds']:.1f} s)"
    text = f"{head} error {row['error']:.4f}"
    if np.isfinite(row["nystroem_error"]):
        text += f", Nystroem(W) {row['nystroem_error']:.4f}"
    if row["procedure"] in PROCEDURES:
        text += f", {row['n_steps']:.0f} steps, {row['n_samples_seen']:.0f} samples"
    return f"{text} ({row['seconds']:.1f} s)"


def mean_std(values):
    return "-" if not values else f"{np.mean(values):.4f}±{np.std(values):.4f}"


def fmt(value, spec=".4f"):
    return "-" if value is None or not np.isfinite(value) else format(value, spec)


def summary_cells(rows, optimal):
    """The cells of one data set x N x procedure."""
    ok = [r for r in rows if not r["diverged"] and np.isfinite(r["error"])]
    errors = [r["error"] for r in ok]
    nystroem = [r["nystroem_error"] for r in ok if np.isfinite(r["nystroem_error"])]
    first = rows[0]
    return [
        first["dataset"], str(first["n_components"]), first["procedure"], str(len(rows)),
        str(len(rows) - len(ok)), mean_std(errors), fmt(min(errors, default=None)),
        fmt(max(errors, default=None)), mean_std(nystroem), fmt(optimal),
        fmt(np.mean([r["n_samples_seen"] for r in rows]), ".0f"),
        fmt(np.mean([r["seconds"] for r in rows]), ".1f"),
    ]  # fmt: skip


def baseline_cells(dataset, n, baselines):
    """The cells of one data set x N of the baseline table."""
    cells = [dataset, str(n)]
    for name in NYSTROEM_BASELINES:
        cells.append(mean_std([r["error"] for r in baselines.get((dataset, n, name), [])]))
    bound = baselines.get((dataset, n, "bound"), [])
    cells += [fmt(bound[0]["error"] if bound else None),
              fmt(bound[0]["nystroem_error"] if bound else None)]  # fmt: skip
    optimal = baselines.get((dataset, n, "optimal"), [])
    return cells + [fmt(optimal[0]["error"] if optimal else None)]


HEADER = (
    "data", "N", "procedure", "runs", "diverged", "y error mean±std", "y min", "y max",
    "Nystroem(W) mean±std", "optimal", "samples seen", "fit s",
)  # fmt: skip
BASELINE_HEADER = (
    "data", "N", "uniform Nys.", "k-means++ Nys.", "RPCholesky Nys.", "bound y",
    "bound Nys.(W*)", "optimal",
)  # fmt: skip
NOTES = """\
Errors: ||K - YY^T||_F / ||K||_F on the training set; y and Nystroem(W) over the seeds that
did not diverge. Baselines: Nystroem on uniform rows, on k-means++ KMeans centres and on
randomly pivoted Cholesky rows (mean±std over the seeds); bound: the output y and Nystroem on
the landmarks W* at the optimum of the network's objective (bound_optimum.py, seed 0);
optimal: uncentred kernel PCA. samples seen: mean training samples (the defaults' final
lateral pass reads the n training rows once more, not counted). fit s: mean wall time."""


def aligned(cells, widths, names=(0, 2)):
    """One table line: names (data, procedure) to the left, numbers to the right."""
    pairs = enumerate(zip(cells, widths, strict=True))
    return "  ".join(c.ljust(w) if i in names else c.rjust(w) for i, (c, w) in pairs)


def render(title, header, body, names):
    table = [list(header), *body]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    lines = [aligned(line, widths, names) for line in table]
    lines.insert(1, "-" * len(lines[0]))
    return [title, *lines]


def grouped(rows):
    """``(baselines, groups, keys, order)``: CSV rows by data set x N x procedure."""
    baselines, groups = {}, {}
    for row in rows:
        target = baselines if row["procedure"] in BASELINES else groups
        key = row_key(row)[:3]
        target.setdefault(key, []).append(row)
    order = {name: i for i, name in enumerate((*GRIDS, *PROCEDURES))}
    keys = sorted(groups, key=lambda k: (order.get(k[0], 99), k[1], order.get(k[2], 99), k))
    return baselines, groups, keys, order


def summary_lines(rows):
    """The cells of every data set x N x procedure, in the table's order."""
    baselines, groups, keys, _ = grouped(rows)
    optimal = {k[:2]: v[0]["error"] for k, v in baselines.items() if k[2] == "optimal"}
    return [summary_cells(groups[k], optimal.get(k[:2])) for k in keys]


def format_table(rows):
    """The summary and baseline tables of CSV rows (networks and baselines together)."""
    baselines, _, _, order = grouped(rows)
    cells = sorted({k[:2] for k in baselines}, key=lambda k: (order.get(k[0], 99), k))
    lines = render("Convergence grid summary", HEADER, summary_lines(rows), (0, 2))
    if cells:
        lines += ["", *render("Baselines", BASELINE_HEADER,
                              [baseline_cells(*k, baselines) for k in cells], (0,))]  # fmt: skip
    return "\n".join([*lines, "", NOTES])


SUMMARY_FIELDS = (
    "dataset", "n_components", "procedure", "runs", "diverged", "y_error_mean", "y_error_std",
    "y_error_min", "y_error_max", "nystroem_mean", "nystroem_std", "kmeans_nystroem",
    "optimal", "samples_seen", "fit_seconds",
)  # fmt: skip


def summary_records(rows):
    """The table's numbers, one dict per data set x N x procedure (for doc/_data)."""
    records = []
    baselines = grouped(rows)[0]
    for cells in summary_lines(rows):
        (mean, std), (ny_mean, ny_std) = (c.split("±") if "±" in c else ("", "")
                                          for c in (cells[5], cells[8]))  # fmt: skip
        kmeans = [r["error"] for r in baselines.get((cells[0], int(cells[1]), "kmeans"), [])]
        values = [*cells[:5], mean, std, cells[6], cells[7], ny_mean, ny_std,
                  fmt(np.mean(kmeans) if kmeans else None), *cells[9:]]  # fmt: skip
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
    parser.add_argument("--datasets", nargs="+", choices=tuple(GRIDS), default=DEFAULT_DATASETS)
    parser.add_argument(
        "--procedures", nargs="*", choices=PROCEDURES, default=DEFAULT_PROCEDURES,
        help="network procedures (none: the baselines only)",
    )  # fmt: skip
    parser.add_argument(
        "--baselines", nargs="*", choices=BASELINES, default=DEFAULT_BASELINES,
        help="landmark baselines and references to compute (bound: L-BFGS, slow on MNIST)",
    )  # fmt: skip
    parser.add_argument("--n-components", nargs="+", type=int, help="replaces every N grid")
    parser.add_argument("--seeds", type=int, help="number of seeds (0 .. S-1)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--csv", help="append one row per fit to this file")
    parser.add_argument("--resume", action="store_true", help="skip fits already in --csv")
    parser.add_argument("--table-from", help="print the tables of this CSV; no fitting")
    parser.add_argument("--max-iter", type=int, help="passes for every procedure (smoke tests)")
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
    tasks = planned_tasks(
        args.datasets, tuple(args.procedures), tuple(args.baselines), args.n_components, args.seeds
    )
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
