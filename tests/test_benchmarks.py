"""Smoke tests of benchmarks/bench_speed.py, convergence_grid.py and linear_grid.py.

The figures themselves are not checked. The scripts run in a subprocess on
tiny sizes with one thread: on small shared CI machines, competing thread
pools slow them down many times over.
"""

import csv
import importlib.util
import itertools
import math
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import torch

from sklearn_ksm import HebbianKernelSimilarityMatching, TrainingDivergedError

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "bench_speed.py"
GRID_SCRIPT = SCRIPT.with_name("convergence_grid.py")
SINGLE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
SIZES = ("2x16", "8x12")
KERNELS = ("rbf", "power_cosine")


def load_script(path=SCRIPT):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def table_rows(stdout, title):
    """The data rows of the table whose title line starts with ``title``."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    rows = []
    for line in lines[start + 2 :]:  # skip the title and the column headers
        if not line.strip():
            break
        rows.append(line.split())
    return rows


def test_quick_training_table_has_every_row_with_positive_figures():
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}  # fmt: skip
    command = [sys.executable, str(SCRIPT), "--quick", "--tables", "1", "--threads", "1",
               "--device", "cpu", "--sizes", *SIZES]  # fmt: skip
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]
    assert "PaperLoop check passed" in completed.stdout
    rows = table_rows(completed.stdout, "Table 1:")
    expected = {(k, *s.split("x")) for k, s in itertools.product(KERNELS, SIZES)}
    assert {tuple(row[:3]) for row in rows} == expected
    for row in rows:
        figures = [float(cell) for cell in row[3:]]
        assert len(figures) == 10 and all(f > 0 for f in figures), row


def test_script_fails_when_the_baseline_takes_another_step(monkeypatch, capsys):
    """Fig. 7's literal order (q first, so W divides by the new q^2) is caught."""
    bench = load_script()

    def q_first_step(self, x):
        y = self.forward(x)
        gq, gw, gl = torch.autograd.grad(self.energy(x, y), [self.q, self.w, self.l])
        with torch.no_grad():
            self.q -= self.eta_q * gq
            self.w -= self.eta_w * gw / (self.q**2)[:, None]
            self.l += self.eta_l * gl

    monkeypatch.setattr(bench.PaperLoop, "step", q_first_step)
    assert bench.main(["--quick", "--tables", "1", "--device", "cpu"]) == 1
    assert "PaperLoop check FAILED" in capsys.readouterr().out


# ------------------------------------------------------------ convergence grid

GRID_TINY = ["--datasets", "moons", "--n-components", "2", "--seeds", "1", "--max-iter", "2"]


def grid_table(stdout):
    """The summary table of convergence_grid.py: from its title to the first blank line."""
    lines = stdout.splitlines()
    start = lines.index("Convergence grid summary")
    end = lines.index("", start)
    return lines[start:end]


def test_convergence_grid_smoke(tmp_path, capsys):
    """Both procedures and both baselines on the moons, N = 2, one seed, 2 passes."""
    path = tmp_path / "grid.csv"
    command = [sys.executable, str(GRID_SCRIPT), *GRID_TINY, "--jobs", "2", "--csv", str(path)]
    env = {**os.environ, **SINGLE_THREAD}
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]
    with open(path, newline="") as f:
        rows = {row["procedure"]: row for row in csv.DictReader(f)}
    assert sorted(rows) == ["defaults", "kmeans", "optimal", "paper"]
    assert [rows[p]["seed"] for p in sorted(rows)] == ["0", "0", "", "0"]
    error = {p: float(row["error"]) for p, row in rows.items()}
    assert all(math.isfinite(e) and e > 0 for e in error.values()), error
    # Kernel PCA is the best rank-2 approximation; a Nystroem map never overshoots K.
    assert error["optimal"] <= min(error.values()) and error["kmeans"] <= 1
    for procedure in ("defaults", "paper"):
        row = rows[procedure]
        assert row["diverged"] == "0" and 0 < float(row["nystroem_error"]) <= 1
        assert error["optimal"] <= float(row["nystroem_error"])
        # 2 passes over 1600 rows in 25 batches of 64.
        assert (row["n_steps"], row["n_samples_seen"]) == ("50", "3200")

    table = grid_table(completed.stdout)
    cells = [line.split() for line in table[3:]]
    assert [c[:5] for c in cells] == [["moons", "2", p, "1", "0"] for p in ("defaults", "paper")]
    for c, procedure in zip(cells, ("defaults", "paper"), strict=True):
        value = f"{error[procedure]:.4f}"
        assert c[5:8] == [f"{value}±0.0000", value, value]
        assert c[9:11] == [f"{error['kmeans']:.4f}", f"{error['optimal']:.4f}"]
        assert c[11] == "3200" and float(c[12]) >= 0

    grid = load_script(GRID_SCRIPT)
    assert grid.main(["--table-from", str(path)]) == 0
    assert grid_table(capsys.readouterr().out) == table
    # Resuming the same grid finds every fit in the CSV: nothing runs, nothing is added.
    assert grid.main([*GRID_TINY, "--csv", str(path), "--resume"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("0 tasks to run (4 rows already") and grid_table(out) == table
    assert len(path.read_text().splitlines()) == 5
    # A fit appended twice (a rerun without --resume) is counted once.
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines, *lines[1:]]) + "\n")
    grid.main(["--table-from", str(path)])
    assert grid_table(capsys.readouterr().out) == table


class DivergingNetwork(HebbianKernelSimilarityMatching):
    """Diverges for seed 1 (as fit reports it, keeping the last finite state)."""

    def fit(self, X, y=None):
        super().fit(X)
        if self.random_state == 1:
            raise TrainingDivergedError("diverged", step=self.n_steps_)
        return self


class NonFiniteNetwork(HebbianKernelSimilarityMatching):
    """Fits, but for seed 1 its output is not finite."""

    def transform(self, X):
        Y = super().transform(X)
        return Y * np.nan if self.random_state == 1 else Y


@pytest.mark.parametrize("network", [DivergingNetwork, NonFiniteNetwork])
def test_convergence_grid_counts_divergence(monkeypatch, network):
    grid = load_script(GRID_SCRIPT)
    monkeypatch.setattr(grid, "HebbianKernelSimilarityMatching", network)
    rows = [
        row for seed in (0, 1)
        for row in grid.run_task(grid.Task("moons", "paper", (2,), seed), max_iter=1)
    ]  # fmt: skip
    assert [row["diverged"] for row in rows] == [0, 1]
    assert math.isfinite(rows[0]["error"]) and math.isnan(rows[1]["error"])
    assert rows[1]["n_steps"] == 25  # the counters of the last finite state
    (line,) = grid_table(grid.format_table(rows))[3:]
    # Two runs, one diverged; the statistics are those of the other one.
    assert line.split()[:8] == [
        "moons", "2", "paper", "2", "1", f"{rows[0]['error']:.4f}±0.0000",
        f"{rows[0]['error']:.4f}", f"{rows[0]['error']:.4f}",
    ]  # fmt: skip


# ------------------------------------------------------------------ linear grid

LINEAR_SCRIPT = SCRIPT.with_name("linear_grid.py")


def test_linear_grid_quick_smoke(tmp_path, capsys):
    """Two cells that differ only in the scale of the data (0.01 and 100), one seed."""
    path = tmp_path / "linear.csv"
    command = [sys.executable, str(LINEAR_SCRIPT), "--quick", "--csv", str(path)]
    env = {**os.environ, **SINGLE_THREAD}
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["scale"], r["gap"], r["psp_diverged"], r["psw_diverged"]) for r in rows] == [
        ("0.01", "10.0", "0", "0"), ("100.0", "10.0", "0", "0")
    ]  # fmt: skip
    # The defaults are scale-free: the same figures at both scales (up to rounding).
    for name in ("psp", "psw", "psw_whitening", "psw_passes"):
        assert float(rows[0][name]) == pytest.approx(float(rows[1][name]), rel=1e-6), name
    for row in rows:
        assert 0 < float(row["offline"]) < 1e-2 and float(row["psw_whitening"]) < 0.05

    table = completed.stdout[completed.stdout.index("Linear grid (issue 22)") :]
    cells = table_rows(table, "Linear grid (issue 22)")[1:]  # after a blank line, the header
    assert [c[:4] for c in cells] == [["10", "2", "0.01", "10"], ["10", "2", "100", "10"]]
    assert "no divergence  met in 2/2 cells" in table
    grid = load_script(LINEAR_SCRIPT)
    assert grid.main(["--table-from", str(path)]) == 0
    printed = capsys.readouterr().out
    # The table from the CSV is the printed one, but for the rounding of the seconds.
    assert printed.splitlines()[:-1] == table.splitlines()[:-1]
    # One line per (n, k, gap): the worst over the scales, SM's reach at each scale.
    assert grid.main(["--table-from", str(path), "--by-gap"]) == 0
    (line,) = table_rows(capsys.readouterr().out, "Linear grid by (n, k, gap)")[1:]
    assert line[:4] == ["10", "2", "10", "2000"] and line[-1] == "-"
    assert len(line[-2].split("/")) == 2  # SM's median rows to 1e-2 at scales 0.01 and 100
