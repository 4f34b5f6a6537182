"""Numbers and figures of the documentation, computed from result files at build time.

Prose quotes results through substitutions (``|moons-network-16|``) that this
extension defines from the result files on every build, so a number in the
text is always the one in the file, and the figures of the benchmarks page
are drawn from the same files. The sources:

``doc/generated/compare_moons/summary.json``
    The half-moons comparison, run by this build (``conf.run_comparison``).
``doc/_data/convergence_grid.csv``
    ``python benchmarks/convergence_grid.py ... --summary doc/_data/convergence_grid.csv``
    (merges the rows of the data sets, N and procedures it ran).
``doc/_data/speed_table2a.csv``, ``doc/_data/speed_table2b.csv``
    ``python benchmarks/bench_speed.py --tables 2 --csv-dir doc/_data``.

Substitutions (a missing value is a build error, so a renamed or dropped
row cannot leave a stale number behind):

``|moons-<method>-<N>|``, ``|moons-<method>-<N>-std|``, ``|moons-<method>-<N>-seconds|``
    Mean (3 significant digits), standard deviation and mean fit time of a
    method of the comparison (``network``, ``nystroem_network``, ``optimal``,
    ``nystroem_uniform``, ``nystroem_kmeans``, ``rff``); ``|moons-seeds|``:
    the number of seeds; ``|moons-<method>-runs|`` and ``-failed``: its fits
    over all N; ``|moons-ari-<x|y|y_normalized|optimal|n_components>|``: the
    clustering scores (Fig. 4); ``|moons-total-seconds|``: the run's time.
``|grid-<dataset>-<procedure>-<N>|`` and ``...-std``, ``-min``, ``-max``, ``-nystroem``
    A row of the convergence grid, as printed (4 decimals); also ``-kmeans``,
    ``-optimal``, ``-seconds``, ``-runs`` and ``-diverged``.
``|speed-exponent-n|``, ``|speed-exponent-b|``, ``|speed-machine|``
    The fitted power-law exponents of the step time against N (N >= 128)
    and against the batch size; the machine line of the run.

Figures and tables written to ``doc/generated/data/``: ``error_vs_n.png``,
``speed_vs_n.png``, ``convergence_<dataset>.csv`` (a narrow table per data
set, for ``csv-table``) and the speed tables without their comment lines.
"""

import csv
import hashlib
import json
import pathlib

import numpy as np

HERE = pathlib.Path(__file__).resolve().parents[1]
DATA = HERE / "_data"
OUTPUT = HERE / "generated" / "data"
COMPARE_SUMMARY = HERE / "generated" / "compare_moons" / "summary.json"
GRID = DATA / "convergence_grid.csv"
SPEED_N = DATA / "speed_table2a.csv"
SPEED_B = DATA / "speed_table2b.csv"
# the step time is fitted against N from here on (below, per-call overheads dominate)
SPEED_FIT_FROM_N = 128
GRID_LABELS = {
    "moons": "half moons, rbf (sigma = 0.3)",
    "mnist1": "MNIST sample, power-cosine alpha = 1",
    "mnist2": "MNIST sample, power-cosine alpha = 2",
    "mnist3": "MNIST sample, power-cosine alpha = 3",
    "mnist4": "MNIST sample, power-cosine alpha = 4",
}
# the panels of error_vs_n.png (every data set has its table)
FIGURE_DATASETS = ("moons", "mnist1", "mnist3")


def read_csv(path):
    """Rows of a CSV as dicts, skipping ``#`` comment lines."""
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def significant(value, digits=3):
    """``0.1934 -> "0.193"``, ``0.008993 -> "0.00899"`` (no exponent notation)."""
    if value == 0 or not np.isfinite(value):
        return f"{value:g}"
    decimals = max(0, digits - 1 - int(np.floor(np.log10(abs(value)))))
    return f"{value:.{decimals}f}"


def compare_values(summary):
    values = {"moons-seeds": str(len(summary["seeds"]))}
    totals = {}
    for row in summary["summary"]:
        key = f"moons-{row['method']}-{row['n_components']}"
        values[key] = significant(row["error_mean"])
        values[f"{key}-std"] = significant(row["error_std"], 2)
        values[f"{key}-seconds"] = f"{row['fit_seconds_mean']:.2g}"
        runs, failed = totals.get(row["method"], (0, 0))
        totals[row["method"]] = (runs + row["n_runs"], failed + row["n_failed"])
    for method, (runs, failed) in totals.items():
        values[f"moons-{method}-runs"], values[f"moons-{method}-failed"] = str(runs), str(failed)
    clustering = summary.get("clustering_adjusted_rand_index", {})
    for name, score in clustering.items():
        values[f"moons-ari-{name}"] = str(score) if name == "n_components" else f"{score:.3f}"
    if "total_seconds" in summary:
        values["moons-total-seconds"] = f"{summary['total_seconds']:.0f}"
    return values


GRID_FIELDS = {
    "": "y_error_mean", "std": "y_error_std", "min": "y_error_min", "max": "y_error_max",
    "nystroem": "nystroem_mean", "kmeans": "kmeans_nystroem", "optimal": "optimal",
    "seconds": "fit_seconds", "runs": "runs", "diverged": "diverged",
}  # fmt: skip


def grid_values(rows):
    values = {}
    for row in rows:
        key = f"grid-{row['dataset']}-{row['procedure']}-{row['n_components']}"
        for suffix, field in GRID_FIELDS.items():
            if row[field]:
                values[f"{key}-{suffix}" if suffix else key] = row[field]
    return values


def power_law_exponent(x, y):
    """p of the least-squares fit log y = a + p log x."""
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def speed_values(by_n, by_b, machine=""):
    n, t = _speed_points(by_n, "N")
    keep = n >= SPEED_FIT_FROM_N
    b, tb = _speed_points(by_b, "B")
    return {
        "speed-exponent-n": f"{power_law_exponent(n[keep], t[keep]):.2f}",
        "speed-exponent-b": f"{power_law_exponent(b, tb):.2f}",
        "speed-machine": machine or "not recorded",
    }


def machine_comment(path):
    """The ``# machine: ...`` line that ``bench_speed.py --csv-dir`` writes, without the prefix."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("# machine:"):
                return line.removeprefix("# machine:").strip()
    return ""


def _speed_points(rows, column):
    x = np.array([float(r[column]) for r in rows])
    return x, np.array([float(r["ms/step"]) for r in rows])


def substitutions(values):
    """``rst_prolog`` lines defining each value as a substitution."""
    return "\n".join(f".. |{name}| replace:: {value}" for name, value in sorted(values.items()))


# ------------------------------------------------------------------ figures


def _label_ticks(ax, values):
    """Ticks at the measured x values only (no log-scale minor labels)."""
    from matplotlib.ticker import NullLocator

    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticks(values, [str(v) for v in values], fontsize=8)


def plot_error_vs_n(rows, path):
    import matplotlib.pyplot as plt

    datasets = [d for d in FIGURE_DATASETS if any(r["dataset"] == d for r in rows)]
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.2 * len(datasets), 3.6), squeeze=False)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        series = {}
        for row in rows:
            if row["dataset"] == dataset:
                series.setdefault(row["procedure"], []).append(row)
        defaults = sorted(series.get("defaults", []), key=lambda r: int(r["n_components"]))
        n = [int(r["n_components"]) for r in defaults]
        lines = [
            ("y_error_mean", "defaults", "network y, defaults", "o-"),
            ("y_error_mean", "equilibrium", "network y, equilibrium rule", "d-."),
            ("y_error_mean", "paper", "network y, paper's procedure", "s--"),
            ("nystroem_mean", "defaults", "Nystroem on learned W", "^-"),
            ("kmeans_nystroem", "defaults", "Nystroem on k-means++", "v:"),
            ("optimal", "defaults", "optimal (kernel PCA)", "k-"),
        ]
        for field, procedure, label, style in lines:
            part = sorted(series.get(procedure, []), key=lambda r: int(r["n_components"]))
            points = [(int(r["n_components"]), float(r[field])) for r in part if r[field]]
            points = [(x, y) for x, y in points if y > 0]
            if points:
                ax.plot(*zip(*points, strict=True), style, label=label, markersize=4)
        ax.set(xscale="log", yscale="log", xlabel="N (neurons)", title=GRID_LABELS[dataset])
        _label_ticks(ax, n)
        ax.grid(True, which="both", alpha=0.3)
    axes[0, 0].set_ylabel("relative kernel error")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_speed(by_n, by_b, path):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.4))
    for ax, rows, column, fit_from in ((axes[0], by_n, "N", SPEED_FIT_FROM_N),
                                       (axes[1], by_b, "B", 0)):  # fmt: skip
        x, t = _speed_points(rows, column)
        ax.plot(x, t, "o-", label="fused step (measured)")
        keep = x >= fit_from
        p = power_law_exponent(x[keep], t[keep])
        a = np.mean(np.log(t[keep]) - p * np.log(x[keep]))
        ax.plot(x[keep], np.exp(a) * x[keep] ** p, "k--", label=f"fit: t ~ {column}^{p:.2f}")
        ax.set(xscale="log", yscale="log", ylabel="ms per step")
        _label_ticks(ax, [int(v) for v in x])
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set(xlabel="N (neurons), M = 400, B = 64")
    axes[1].set(xlabel="B (batch), M = 400, N = 800")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_grid_tables(rows, directory):
    """One narrow CSV per data set: the columns a reader compares."""
    header = ["N", "procedure", "y error", "y min - max", "Nystroem on W", "k-means++ Nystroem",
              "optimal", "fit s"]  # fmt: skip
    for dataset in GRID_LABELS:
        part = [r for r in rows if r["dataset"] == dataset]
        if not part:
            continue
        with open(directory / f"convergence_{dataset}.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            for r in part:
                writer.writerow([
                    r["n_components"], r["procedure"],
                    f"{r['y_error_mean']} ± {r['y_error_std']}",
                    f"{r['y_error_min']} - {r['y_error_max']}",
                    r["nystroem_mean"], r["kmeans_nystroem"], r["optimal"], r["fit_seconds"],
                ])  # fmt: skip


# --------------------------------------------------------------- the hooks


def _sources():
    return [path for path in (COMPARE_SUMMARY, GRID, SPEED_N, SPEED_B) if path.exists()]


def build_data(app):
    """Read the result files, define the substitutions, draw the figures."""
    values = {}
    if COMPARE_SUMMARY.exists():
        values.update(compare_values(json.loads(COMPARE_SUMMARY.read_text(encoding="utf-8"))))
    OUTPUT.mkdir(parents=True, exist_ok=True)
    grid = read_csv(GRID)
    values.update(grid_values(grid))
    write_grid_tables(grid, OUTPUT)
    plot_error_vs_n(grid, OUTPUT / "error_vs_n.png")
    by_n, by_b = read_csv(SPEED_N), read_csv(SPEED_B)
    for source, rows in ((SPEED_N, by_n), (SPEED_B, by_b)):  # for csv-table: no comments
        with open(OUTPUT / source.name, "w", newline="") as f:
            writer = csv.DictWriter(f, list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    values.update(speed_values(by_n, by_b, machine_comment(SPEED_N)))
    plot_speed(by_n, by_b, OUTPUT / "speed_vs_n.png")
    prolog = app.config.rst_prolog or ""
    app.config.rst_prolog = f"{prolog}\n{substitutions(values)}\n"
    digest = hashlib.sha256()
    for path in _sources():
        digest.update(path.read_bytes())
    app.ksm_data_digest = digest.hexdigest()


def outdated_when_data_change(app, env, added, changed, removed):
    """Reread every page when a result file changed (the substitutions are in all of them)."""
    if getattr(env, "ksm_data_digest", None) != app.ksm_data_digest:
        env.ksm_data_digest = app.ksm_data_digest
        return sorted(env.found_docs)
    return []


def setup(app):
    # after the comparison run of conf.py (priority 500), whose summary it reads
    app.connect("builder-inited", build_data, priority=900)
    app.connect("env-get-outdated", outdated_when_data_change)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
