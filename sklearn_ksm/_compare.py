"""The comparison command: the network against the standard kernel approximations.

``python -m sklearn_ksm compare`` fits every method for every number of
components N and seed, measures the relative kernel approximation error
``||K - Y Y^T||_F / ||K||_F`` on the training set and the fit time, prints
the table, saves it (CSV and JSON) and draws the paper's figures.
"""

import csv
import json
import math
import multiprocessing
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits
from sklearn.kernel_approximation import RBFSampler
from sklearn.metrics import adjusted_rand_score

from ._hebbian import HebbianKernelSimilarityMatching
from ._threads import thread_limit
from .baselines import KernelNystroem, UncenteredKernelPCA
from .kernels import make_kernel
from .metrics import kernel_approximation_error, similarity_samples

METHODS = (
    "optimal",
    "nystroem_uniform",
    "nystroem_kmeans",
    "nystroem_rpcholesky",
    "rff",
    "network",
    "nystroem_network",
)
METHOD_LABELS = {
    "optimal": "kernel PCA (optimal)",
    "nystroem_uniform": "Nystroem uniform",
    "nystroem_kmeans": "Nystroem k-means++",
    "nystroem_rpcholesky": "Nystroem RPCholesky",
    "rff": "random Fourier features",
    "network": "Hebbian network y",
    "nystroem_network": "Nystroem on learned W",
}


@dataclass
class Dataset:
    X: np.ndarray
    y: np.ndarray
    kernel: dict
    n_components: tuple
    description: str


def load_dataset(name):
    """The data set and its default kernel and N grid (the paper's where it has one)."""
    if name == "moons":
        from .datasets import make_half_moons

        X, y = make_half_moons()
        return Dataset(
            X,
            y,
            {"kernel": "rbf", "gamma": 1 / (2 * 0.3**2)},
            (2, 4, 8, 16, 32, 64),
            "half moons: 1600 points, noise 0.1, centred; rbf, sigma = 0.3",
        )
    if name == "digits":
        X, y = load_digits(return_X_y=True)
        X = X / 16.0
        gamma = 1.0 / (X.shape[1] * X.var())  # scikit-learn's gamma="scale"
        return Dataset(
            X,
            y,
            {"kernel": "rbf", "gamma": gamma},
            (8, 16, 32, 64, 128),
            f"scikit-learn digits (1797 x 64, /16); rbf, gamma = {gamma:.4g}",
        )
    if name == "mnist":
        from .datasets import load_mnist

        X, y = load_mnist(return_X_y=True)
        return Dataset(
            X,
            y,
            {"kernel": "power_cosine", "degree": 3},
            (25, 100, 200, 400, 800),
            "MNIST 5k sample, 20x20 crop, unit std; power-cosine, alpha = 3",
        )
    raise ValueError(f"Unknown dataset {name!r}; expected 'moons', 'digits' or 'mnist'.")


@dataclass
class Comparison:
    """Settings and results of one comparison run."""

    dataset: str
    kernel: dict
    n_components: tuple
    seeds: tuple
    methods: tuple
    network_params: dict = field(default_factory=dict)
    rows: list = field(default_factory=list)
    extras: dict = field(default_factory=dict)

    def summary(self):
        """Mean, standard deviation and mean fit time per (method, N)."""
        table = {}
        for row in self.rows:
            table.setdefault((row["method"], row["n_components"]), []).append(row)
        return [
            {
                "method": method,
                "n_components": n,
                "error_mean": float(np.mean([r["error"] for r in rows])),
                "error_std": float(np.std([r["error"] for r in rows])),
                "fit_seconds_mean": float(np.mean([r["fit_seconds"] for r in rows])),
                "n_runs": len(rows),
                "n_failed": sum(not math.isfinite(r["error"]) for r in rows),
            }
            for (method, n), rows in table.items()
        ]


def _progress(message):
    print(f"[compare] {message}", file=sys.stderr, flush=True)


class _Runner:
    """Fits the methods, caching what several of them share."""

    def __init__(self, data, comparison, device):
        self.data, self.comparison, self.device = data, comparison, device
        self.kernel = make_kernel(n_features=data.X.shape[1], **comparison.kernel)
        self.networks = {}
        self._optimal = None

    def error(self, Y):
        return kernel_approximation_error(self.data.X, Y, kernel=self.kernel, device=self.device)

    def fit(self, method, n, seed):
        """Return the training-set representation and the fit time in seconds."""
        X, kernel = self.data.X, self.comparison.kernel
        tic = time.perf_counter()
        if method == "optimal":
            # Eigenpairs are nested: one decomposition at the largest N serves all N.
            if self._optimal is None:
                largest = max(self.comparison.n_components)
                self._optimal = UncenteredKernelPCA(largest, device=self.device, **kernel)
                self._optimal_Y = self._optimal.fit_transform(X)
                self._optimal_seconds = time.perf_counter() - tic
            return self._optimal_Y[:, :n], self._optimal_seconds
        if method in ("nystroem_uniform", "nystroem_kmeans", "nystroem_rpcholesky"):
            landmarks = method.removeprefix("nystroem_")
            model = KernelNystroem(n, landmarks=landmarks, random_state=seed, **kernel)
            Y = model.fit_transform(X)
        elif method == "rff":
            Y = RBFSampler(gamma=kernel["gamma"], n_components=n, random_state=seed).fit_transform(
                X
            )
        elif method == "network":
            network = HebbianKernelSimilarityMatching(
                n, random_state=seed, device=self.device, **kernel, **self.comparison.network_params
            )
            Y = network.fit_transform(X)
            self.networks[n, seed] = (network, Y, time.perf_counter() - tic)
        elif method == "nystroem_network":
            network, _, network_seconds = self._network(n, seed)
            tic -= network_seconds
            Y = network.nystroem_readout().transform(X)
        else:
            raise ValueError(f"Unknown method {method!r}; expected one of {METHODS}.")
        return Y, time.perf_counter() - tic

    def _network(self, n, seed):
        if (n, seed) not in self.networks:
            self.fit("network", n, seed)
        return self.networks[n, seed]


# Methods that reuse the network fitted for the same N and seed: they run in
# the network's task.
NETWORK_METHODS = ("network", "nystroem_network")


@dataclass(frozen=True)
class _Task:
    """Fits that run together in one worker: ``methods`` at each of ``ns``, one seed."""

    methods: tuple
    ns: tuple
    seed: int

    @property
    def cost(self):
        """Relative cost, for the order of the tasks and the ETA: grows with N."""
        return sum(n + 32 for n in self.ns)


def _tasks(comparison):
    """The comparison's fits as independent tasks.

    Kernel PCA is one task (one decomposition at the largest N serves every
    N); the network-based methods share a task per (N, seed); every other
    fit is a task of its own.
    """
    network = tuple(m for m in comparison.methods if m in NETWORK_METHODS)
    tasks = []
    if "optimal" in comparison.methods:
        tasks.append(_Task(("optimal",), tuple(comparison.n_components), comparison.seeds[0]))
    for n in sorted(comparison.n_components, reverse=True):
        for seed in comparison.seeds:
            if network:
                tasks.append(_Task(network, (n,), seed))
            for method in comparison.methods:
                if method != "optimal" and method not in NETWORK_METHODS:
                    tasks.append(_Task((method,), (n,), seed))
    return tasks


def _row_order(comparison):
    """The order of ``comparison.rows``: N, then method, then seed (the table's)."""
    for n in comparison.n_components:
        for method in comparison.methods:
            for seed in comparison.seeds[:1] if method == "optimal" else comparison.seeds:
                yield method, n, seed


class _Outcome(NamedTuple):
    rows: list
    failures: list  # messages
    networks: dict  # (N, seed) -> (network, Y, seconds), first seed only
    optimal: tuple  # (UncenteredKernelPCA, Y, seconds) or None
    seconds: float  # wall time of the task, errors included


def _run_task(runner, task):
    """Fit a task's methods on one thread; return its rows and what the figures need.

    One thread per fit makes the results independent of how many tasks run
    at once, and lets parallel tasks use the cores without oversubscribing.
    """
    rows, failures = [], []
    start = time.perf_counter()
    with thread_limit(1):
        for method in task.methods:
            for n in task.ns:
                try:
                    Y, seconds = runner.fit(method, n, task.seed)
                    error = runner.error(Y)
                except (FloatingPointError, ValueError) as exc:  # a diverged network
                    failures.append(f"N={n} seed={task.seed} {method}: failed ({exc})")
                    error, seconds = float("nan"), float("nan")
                rows.append(
                    {
                        "method": method,
                        "n_components": n,
                        "seed": task.seed,
                        "error": error,
                        "fit_seconds": seconds,
                    }
                )
    # the figures use the networks of the first seed and the kernel PCA features
    networks = {key: runner.networks.pop(key) for key in list(runner.networks)}
    first_seed = runner.comparison.seeds[0]
    networks = {key: value for key, value in networks.items() if key[1] == first_seed}
    optimal = None
    if runner._optimal is not None:
        optimal = (runner._optimal, runner._optimal_Y, runner._optimal_seconds)
        runner._optimal = None
    return _Outcome(rows, failures, networks, optimal, time.perf_counter() - start)


# The runner of a worker process, built once by _start_worker.
_WORKER_RUNNER = None


def _start_worker(data, comparison, device):
    global _WORKER_RUNNER
    _WORKER_RUNNER = _Runner(data, comparison, device)


def _run_task_in_worker(task):
    return _run_task(_WORKER_RUNNER, task)


# Whether the comparison's own process runs tasks beside its workers (the
# tests turn it off to check the workers' results).
PARENT_RUNS_TASKS = True


def _worker_ready():
    """A no-op task: its result tells the parent that a worker has started."""


def _execute(tasks, data, comparison, device, jobs, record):
    """Run ``tasks`` on ``jobs`` processes; call ``record(task, outcome)`` as each ends.

    This process runs tasks from the first moment, while ``jobs - 1`` worker
    processes start (spawned: a forked child of a process whose OpenMP pool
    has run can hang; each imports torch, seconds). A worker gets a task once
    it has started, so a short comparison does not wait for them, and they
    are stopped when the last task ends. Tasks are taken longest first.
    ``record`` runs under a lock, in this thread or the pool's result thread.
    """
    queue, lock = deque(tasks), threading.Lock()
    pending, failures = [0], []
    runner = _Runner(data, comparison, device)

    def run_here():
        with lock:
            task = queue.popleft() if queue and not failures else None
        if task is None:
            return False
        outcome = _run_task(runner, task)
        with lock:
            record(task, outcome)
        return True

    if jobs == 1:
        while run_here():
            pass
        return
    context = multiprocessing.get_context("spawn")
    pool = context.Pool(jobs - 1, _start_worker, (data, comparison, device))

    def submit():  # called with the lock held
        if queue and not failures:
            task = queue.popleft()
            pending[0] += 1
            pool.apply_async(
                _run_task_in_worker, (task,), callback=lambda outcome: finished(task, outcome),
                error_callback=failed,
            )  # fmt: skip

    def finished(task, outcome):
        with lock:
            pending[0] -= 1
            record(task, outcome)
            submit()

    def failed(exc):
        with lock:
            pending[0] -= 1
            failures.append(exc)

    def ready(_):
        with lock:
            submit()

    try:
        for _ in range(jobs - 1):
            pool.apply_async(_worker_ready, callback=ready)
        while PARENT_RUNS_TASKS and run_here():
            pass
        while True:  # the workers' last tasks
            with lock:
                if (not queue and not pending[0]) or failures:
                    break
            time.sleep(0.05)
        if failures:
            raise failures[0]
    finally:
        pool.terminate()  # also the workers still starting
        pool.join()


def _duration(seconds):
    seconds = round(seconds)
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


class _Progress:
    """Progress lines with the rate and the estimated time left.

    The time left is the remaining tasks' cost (:attr:`_Task.cost`) times the
    seconds per unit of cost measured so far for each method (all methods'
    when a method has not finished a task yet), divided by the workers.
    """

    def __init__(self, tasks, n_fits, jobs):
        self.remaining = list(tasks)
        self.n_fits, self.done, self.jobs = n_fits, 0, jobs
        self.seconds, self.costs = {}, {}
        self.start = time.perf_counter()

    def _left(self):
        rates = {m: self.seconds[m] / self.costs[m] for m in self.seconds if self.costs[m]}
        if not rates or not self.remaining:
            return None
        mean = sum(self.seconds.values()) / sum(self.costs.values())
        total = sum(t.cost * rates.get(t.methods[0], mean) for t in self.remaining)
        return total / min(self.jobs, len(self.remaining))

    def update(self, task, outcome):
        self.remaining.remove(task)
        key = task.methods[0]
        self.seconds[key] = self.seconds.get(key, 0.0) + outcome.seconds
        self.costs[key] = self.costs.get(key, 0) + task.cost
        for message in outcome.failures:
            _progress(message)
        elapsed, left = time.perf_counter() - self.start, self._left()
        for row in outcome.rows:
            self.done += 1
            rate = self.done / elapsed
            status = f"{self.done}/{self.n_fits} fits, {_duration(elapsed)}, " + (
                f"{rate:.2f} fits/s" if rate >= 0.1 else f"{60 * rate:.2f} fits/min"
            )
            if left is not None:
                status += f", about {_duration(left)} left"
            _progress(
                f"N={row['n_components']} seed={row['seed']} {row['method']}: error "
                f"{row['error']:.4f} ({row['fit_seconds']:.2f} s)  [{status}]"
            )


def run_comparison(data, comparison, *, device="cpu", jobs=1):
    """Fit every method for every N and seed; fill ``comparison.rows``.

    Independent fits run in ``jobs`` worker processes with one thread each
    (in this process when ``jobs`` is 1), so that a comparison uses the
    machine's cores without competing thread pools, and its results do not
    depend on ``jobs``. Progress lines go to stderr.

    Returns
    -------
    runner : _Runner
        Holds the fitted networks of the first seed and the kernel PCA
        features, for the figures.
    """
    tasks = sorted(_tasks(comparison), key=lambda task: -task.cost)
    order = list(_row_order(comparison))
    jobs = max(1, min(jobs, len(tasks)))
    _progress(
        f"{len(order)} fits in {len(tasks)} tasks, "
        + (
            "in this process"
            if jobs == 1
            else f"in this process and {jobs - 1} worker" + "s" * (jobs > 2)
        )
        + ", one thread each"
    )
    runner = _Runner(data, comparison, device)
    progress = _Progress(tasks, len(order), jobs)
    results = {}

    def record(task, outcome):
        results.update({(r["method"], r["n_components"], r["seed"]): r for r in outcome.rows})
        runner.networks.update(outcome.networks)
        if outcome.optimal is not None:
            runner._optimal, runner._optimal_Y, runner._optimal_seconds = outcome.optimal
        progress.update(task, outcome)

    _execute(tasks, data, comparison, device, jobs, record)
    comparison.rows.extend(results[key] for key in order)
    return runner


def format_table(comparison):
    """The method x N table of mean +- std relative error, then mean fit times."""
    summary = {(s["method"], s["n_components"]): s for s in comparison.summary()}
    ns = comparison.n_components
    methods = [m for m in comparison.methods if any((m, n) in summary for n in ns)]
    width = max(len(METHOD_LABELS[m]) for m in methods) + 2
    lines = ["relative kernel error ||K - YY^T||_F / ||K||_F, mean +- std over seeds"]
    lines.append("method".ljust(width) + "".join(f"N={n}".rjust(17) for n in ns))
    for m in methods:
        cells = []
        for n in ns:
            s = summary.get((m, n))
            cell = "-" if s is None else f"{s['error_mean']:.4f} +- {s['error_std']:.4f}"
            if s is not None and s["n_failed"]:
                cell += f" ({s['n_failed']} failed)"
            cells.append(cell.rjust(17))
        lines.append(METHOD_LABELS[m].ljust(width) + "".join(cells))
    lines.append("")
    lines.append("mean fit time (s)")
    for m in methods:
        cells = [
            ("-" if (m, n) not in summary else f"{summary[m, n]['fit_seconds_mean']:.2f}").rjust(17)
            for n in ns
        ]
        lines.append(METHOD_LABELS[m].ljust(width) + "".join(cells))
    return "\n".join(lines)


def clustering_scores(data, runner, n, seed, random_state=0):
    """Adjusted Rand index of KMeans (100 inits) on x, on y and on y / |y| (Fig. 4).

    Also on the optimal rank-N features when they were computed, to tell the
    geometry of the objective from the quality of the training.
    """
    _, Y, _ = runner._network(n, seed)
    unit = Y / np.maximum(np.linalg.norm(Y, axis=1, keepdims=True), np.finfo(Y.dtype).tiny)
    representations = {"x": data.X, "y": Y, "y_normalized": unit}
    if runner._optimal is not None:
        representations["optimal"] = runner._optimal_Y[:, :n]
    n_clusters = len(np.unique(data.y))
    labels = {
        name: KMeans(n_clusters, n_init=100, random_state=random_state).fit_predict(Z)
        for name, Z in representations.items()
    }
    scores = {name: float(adjusted_rand_score(data.y, lab)) for name, lab in labels.items()}
    return scores, labels


def save_results(comparison, directory):
    """Write ``results.csv`` (a row per fit; ``nan`` for a failed one) and ``summary.json``.

    The JSON is strict: a failed fit's error is ``null``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, ["method", "n_components", "seed", "error", "fit_seconds"])
        writer.writeheader()
        writer.writerows(comparison.rows)
    summary = {
        "dataset": comparison.dataset,
        "kernel": comparison.kernel,
        "n_components": list(comparison.n_components),
        "seeds": list(comparison.seeds),
        "network_params": comparison.network_params,
        "summary": comparison.summary(),
        **comparison.extras,
    }
    with open(directory / "summary.json", "w") as f:
        json.dump(_strict_json(summary), f, indent=2, allow_nan=False)


def _strict_json(value):
    """``value`` with every non-finite float (a failed fit's NaN) as None: JSON has no NaN."""
    if isinstance(value, dict):
        return {key: _strict_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_strict_json(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ------------------------------------------------------------------ figures


def plot_error_vs_n(comparison, path):
    """Relative error against N for every method (Fig. 3c / Fig. 5)."""
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    summary = comparison.summary()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for method in comparison.methods:
        rows = sorted(
            (s for s in summary if s["method"] == method), key=lambda s: s["n_components"]
        )
        if rows:
            ax.errorbar(
                [s["n_components"] for s in rows],
                [s["error_mean"] for s in rows],
                yerr=[s["error_std"] for s in rows],
                marker="o",
                capsize=3,
                linestyle="--" if method == "network" else "-",
                label=METHOD_LABELS[method],
            )
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="dimensionality N",
        ylabel="relative kernel error",
        title=f"{comparison.dataset}: error vs N",
    )
    ax.set_xticks(comparison.n_components, [str(n) for n in comparison.n_components])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_features_and_tuning(data, runner, n, seed, path):
    """Data, learned landmarks and three neurons' tuning maps (Fig. 2), 2-D data."""
    import matplotlib.pyplot as plt

    network, Y, _ = runner._network(n, seed)
    W = network.components_
    fig, axes = plt.subplots(1, 4, figsize=(16, 4), sharex=True, sharey=True)
    axes[0].scatter(*data.X.T, c=data.y, s=3, cmap="coolwarm", alpha=0.3)
    axes[0].scatter(*W.T, c="k", marker="x", s=50)
    axes[0].set_title(f"data and {n} learned landmarks")
    strongest = np.argsort(-np.abs(Y).max(axis=0))[:3]
    for ax, neuron in zip(axes[1:], strongest, strict=True):
        limit = np.abs(Y[:, neuron]).max()
        ax.scatter(*data.X.T, c=Y[:, neuron], s=3, cmap="bwr", vmin=-limit, vmax=limit)
        ax.scatter(*W[neuron], c="k", marker="x", s=80)
        ax.set_title(f"neuron {neuron} tuning (red +, blue -)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_learned_features(data, runner, seed, path):
    """Learned landmarks for several N (Fig. 3a), 2-D data."""
    import matplotlib.pyplot as plt

    ns = [n for n in runner.comparison.n_components if (n, seed) in runner.networks]
    fig, axes = plt.subplots(1, len(ns), figsize=(4 * len(ns), 4), squeeze=False)
    for ax, n in zip(axes[0], ns, strict=True):
        ax.scatter(*data.X.T, c="0.8", s=2)
        ax.scatter(*runner.networks[n, seed][0].components_.T, c="k", marker="x", s=30)
        ax.set_title(f"N = {n}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_similarities(data, runner, n, seed, path):
    """Input vs output similarity of random pairs (Fig. 3b)."""
    import matplotlib.pyplot as plt

    _, Y, _ = runner._network(n, seed)
    k, yy = similarity_samples(data.X, Y, kernel=runner.kernel, n_pairs=3000, random_state=0)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(k, yy, s=3, alpha=0.4)
    low, high = min(k.min(), yy.min()), max(k.max(), yy.max())
    ax.plot([low, high], [low, high], "k--", lw=1)
    ax.set(
        xlabel="input similarity f(x_s, x_t)",
        ylabel="output similarity y_s . y_t",
        title=f"network, N = {n}",
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_clustering(data, labels, scores, n, path):
    """2-means on x and on the network output y (Fig. 4), 2-D data."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4), sharex=True, sharey=True)
    for ax, name in zip(axes, ("x", "y", "y_normalized"), strict=True):
        ax.scatter(*data.X.T, c=labels[name], s=3, cmap="coolwarm")
        title = {
            "x": "KMeans on x",
            "y": f"KMeans on y (N = {n})",
            "y_normalized": f"KMeans on y / |y| (N = {n})",
        }[name]
        ax.set_title(f"{title}\nadjusted Rand index {scores[name]:.3f}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def draw_figures(data, runner, comparison, directory):
    """Draw the figures (on one thread: the results must not depend on the load)."""
    with thread_limit(1):
        return _draw_figures(data, runner, comparison, directory)


def _draw_figures(data, runner, comparison, directory):
    import matplotlib

    matplotlib.use("Agg")  # files only; never open windows
    directory.mkdir(parents=True, exist_ok=True)
    written = [directory / "error_vs_n.png"]
    _progress(f"drawing {written[-1].name}")
    plot_error_vs_n(comparison, written[0])
    if "network" not in comparison.methods:
        return written
    seed = comparison.seeds[0]
    n = 16 if 16 in comparison.n_components else max(comparison.n_components)
    written.append(directory / "similarities.png")
    _progress(f"drawing {written[-1].name} (N = {n}, seed {seed})")
    plot_similarities(data, runner, n, seed, written[-1])
    if data.X.shape[1] == 2:
        written += [directory / "features_and_tuning.png", directory / "learned_features.png"]
        _progress(f"drawing {written[-2].name} and {written[-1].name}")
        plot_features_and_tuning(data, runner, n, seed, written[-2])
        plot_learned_features(data, runner, seed, written[-1])
        start = time.perf_counter()
        _progress(f"clustering: 2-means with 100 inits on x, y (N = {n}) and y / |y|")
        scores, labels = clustering_scores(data, runner, n, seed)
        _progress(f"clustering done ({time.perf_counter() - start:.1f} s)")
        comparison.extras["clustering_adjusted_rand_index"] = {"n_components": n, **scores}
        written.append(directory / "clustering.png")
        _progress(f"drawing {written[-1].name}")
        plot_clustering(data, labels, scores, n, written[-1])
    return written
