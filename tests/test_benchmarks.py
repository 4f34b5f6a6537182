"""Tests of benchmarks/bench_speed.py, bench_contention.py, convergence_grid.py,
divergence_sweep.py and linear_grid.py.

The figures themselves are not checked; the grid's re-implementation of the
paper's training step is, against the authors' code. The scripts run in a
subprocess on tiny sizes with one thread: on small shared CI machines,
competing thread pools slow them down many times over.
"""

import csv
import importlib.util
import itertools
import math
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from sklearn_ksm import HebbianKernelSimilarityMatching, TrainingDivergedError
from sklearn_ksm.kernels import PowerCosineKernel, RBFKernel
from sklearn_ksm.metrics import subspace_error

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "bench_speed.py"
GRID_SCRIPT = SCRIPT.with_name("convergence_grid.py")
DIVERGENCE_SCRIPT = SCRIPT.with_name("divergence_sweep.py")
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
        assert len(figures) == 11 and all(f > 0 for f in figures), row
        assert row[6] == "1", row  # the fit's threads, within --threads 1


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


def grid_table(stdout, title="Convergence grid summary"):
    """A table of convergence_grid.py: from its title to the first blank line."""
    lines = stdout.splitlines()
    start = lines.index(title)
    end = lines.index("", start)
    return lines[start:end]


def test_convergence_grid_smoke(tmp_path, capsys):
    """Both procedures and every default baseline on the moons, N = 2, one seed, 2 passes."""
    path = tmp_path / "grid.csv"
    command = [sys.executable, str(GRID_SCRIPT), *GRID_TINY, "--jobs", "2", "--csv", str(path)]
    env = {**os.environ, **SINGLE_THREAD}
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]
    with open(path, newline="") as f:
        rows = {row["procedure"]: row for row in csv.DictReader(f)}
    baselines = ["kmeans", "optimal", "rpcholesky", "uniform"]
    assert sorted(rows) == sorted(["defaults", "paper", *baselines])
    assert {p: rows[p]["seed"] for p in rows} == {p: "" if p == "optimal" else "0" for p in rows}
    error = {p: float(row["error"]) for p, row in rows.items()}
    assert all(math.isfinite(e) and e > 0 for e in error.values()), error
    # Kernel PCA is the best rank-2 approximation; a Nystroem map never overshoots K.
    assert all(error["optimal"] <= error[b] <= 1 for b in baselines), error
    for procedure in ("defaults", "paper"):
        row = rows[procedure]
        assert row["diverged"] == "0" and 0 < float(row["nystroem_error"]) <= 1
        assert error["optimal"] <= float(row["nystroem_error"])
        # 2 passes over 1600 rows in 25 batches of 64 (the paper's: 25 + 25 steps).
        assert (row["n_steps"], row["n_samples_seen"]) == ("50", "3200")

    table = grid_table(completed.stdout)
    cells = [line.split() for line in table[3:]]
    assert [c[:5] for c in cells] == [["moons", "2", p, "1", "0"] for p in ("defaults", "paper")]
    for c, procedure in zip(cells, ("defaults", "paper"), strict=True):
        value = f"{error[procedure]:.4f}"
        assert c[5:8] == [f"{value}±0.0000", value, value]
        assert c[9] == f"{error['optimal']:.4f}"
        assert c[10] == "3200" and float(c[11]) >= 0
    (line,) = grid_table(completed.stdout, "Baselines")[3:]
    assert line.split() == [
        "moons", "2", *(f"{error[b]:.4f}±0.0000" for b in ("uniform", "kmeans", "rpcholesky")),
        "-", "-", f"{error['optimal']:.4f}",
    ]  # fmt: skip

    grid = load_script(GRID_SCRIPT)
    assert grid.main(["--table-from", str(path)]) == 0
    out = capsys.readouterr().out
    assert grid_table(out) == table and grid_table(out, "Baselines")[3] == line
    # Resuming the same grid finds every fit in the CSV: nothing runs, nothing is added.
    assert grid.main([*GRID_TINY, "--csv", str(path), "--resume"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("0 tasks to run (6 rows already") and grid_table(out) == table
    assert len(path.read_text().splitlines()) == 7
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
        for row in grid.run_task(grid.Task("moons", "defaults", (2,), seed), max_iter=1)
    ]  # fmt: skip
    assert [row["diverged"] for row in rows] == [0, 1]
    assert math.isfinite(rows[0]["error"]) and math.isnan(rows[1]["error"])
    assert rows[1]["n_steps"] == 25  # the counters of the last finite state
    (line,) = grid_table(grid.format_table(rows))[3:]
    # Two runs, one diverged; the statistics are those of the other one.
    assert line.split()[:8] == [
        "moons", "2", "defaults", "2", "1", f"{rows[0]['error']:.4f}±0.0000",
        f"{rows[0]['error']:.4f}", f"{rows[0]['error']:.4f}",
    ]  # fmt: skip


# ------------------------------------------- the paper's procedure, re-implemented


class AuthorsNetwork:
    """The authors' update as their notebooks' code writes it (autograd, their signs).

    Their energy is minus Eq. 8 (with the 1/2 on the lateral and lambda terms
    of their code); they ascend it in q and W, q first, and descend in L.
    """

    def __init__(self, W, q, L, kernel, reg):
        self.w, self.q, self.l = (t.clone().requires_grad_(True) for t in (W, q, L))
        self.f, self.lam = kernel, reg

    def forward(self, x):
        eye = torch.eye(self.l.shape[0], dtype=x.dtype)
        return ((self.f(x, self.w) * self.q) @ torch.linalg.inv(self.l + self.lam * eye)).detach()

    def energy(self, x, y):
        cyy = (y.T @ y) / y.shape[0]
        cyb = (y * self.f(x, self.w)).mean(0)
        e1 = (self.q * cyb).sum() - 0.5 * (self.q**2 * torch.diagonal(self.f(self.w, self.w))).sum()
        e2 = (self.l * cyy - 0.5 * self.l**2).sum()
        return e1 - 0.5 * e2 - 0.5 * (self.lam * torch.diagonal(cyy)).sum()

    def step(self, x, eta_w, eta_q, eta_l):
        gq, gw, gl = torch.autograd.grad(self.energy(x, self.forward(x)), [self.q, self.w, self.l])
        with torch.no_grad():
            self.q += eta_q * gq
            self.w += eta_w * gw / (self.q**2)[:, None]
            self.l -= eta_l * gl
        return self.w.detach(), self.q.detach(), self.l.detach()


@pytest.mark.parametrize(
    "kernel", [RBFKernel(gamma=0.7), PowerCosineKernel(alpha=3)], ids=["rbf", "power_cosine"]
)
def test_paper_step_is_the_authors_update(kernel):
    grid = load_script(GRID_SCRIPT)
    gen = torch.Generator().manual_seed(0)
    x, W = (torch.randn(*shape, generator=gen, dtype=torch.float64) for shape in ((9, 5), (4, 5)))
    q = 0.5 + torch.rand(4, generator=gen, dtype=torch.float64)
    A = torch.randn(4, 4, generator=gen, dtype=torch.float64)
    L = A @ A.T / 4 + torch.eye(4, dtype=torch.float64)
    phase = grid.Phase(1, eta_w=0.03, eta_q=0.02, eta_l=0.1)
    ours = grid.paper_step(W, q, L, x, kernel, phase, 1e-3)
    theirs = AuthorsNetwork(W, q, L, kernel, 1e-3).step(x, 0.03, 0.02, 0.1)
    for a, b in zip(ours, theirs, strict=True):
        # Closed-form derivatives and a Cholesky solve against autograd and an
        # explicit inverse, in float64: equal to rounding (~1e-15).
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_paper_procedure_warms_up_with_the_linear_kernel_then_switches(monkeypatch):
    grid = load_script(GRID_SCRIPT)
    assert [p.steps for p in grid.MNIST_PAPER.phases] == [1_000, 5_000, 5_000]
    assert [p.steps for p in grid.MOONS_PAPER.phases] == [10_000, 10_000]
    kernels = []
    step = grid.paper_step

    def recording_step(W, q, L, x, kernel, phase, reg):
        kernels.append((kernel, phase.eta_w))
        return step(W, q, L, x, kernel, phase, reg)

    monkeypatch.setattr(grid, "paper_step", recording_step)
    X = np.random.RandomState(0).normal(size=(100, 6)).astype(np.float32)
    W, q, L, steps = grid.paper_fit(X, {"kernel": "power_cosine", "degree": 3}, 5, 0,
                                    grid.MNIST_PAPER, total_steps=22)  # fmt: skip
    assert steps == 22 and np.isfinite(W.numpy()).all()
    # 1,000 : 5,000 : 5,000 shortened to 2 : 10 : 10 steps.
    assert [(k.alpha, eta) for k, eta in kernels] == (
        [(1, 0.01)] * 2 + [(3, 1e-3)] * 10 + [(3, 1e-4)] * 10
    )
    np.testing.assert_array_equal(q.numpy(), np.ones(5))  # q fixed on MNIST


def test_paper_procedure_reports_divergence():
    grid = load_script(GRID_SCRIPT)
    X = grid.load_data("moons")
    blow_up = grid.PaperProcedure(0.5, (grid.Phase(200, 1e6, 1e6, 1.9),))
    W, q, L, steps = grid.paper_fit(X, grid.GRIDS["moons"].kernel, 4, 0, blow_up)
    assert W is None and steps <= 200


# ------------------------------------------------------------ divergence sweep


def test_divergence_sweep_quick_has_no_bad_run():
    """The sweep's subset (``--quick``): all three sweeps with all three lateral
    rules, and every fit either raised TrainingDivergedError or returned
    finite values with a kernel error of at most 10 (issue 21)."""
    command = [sys.executable, str(DIVERGENCE_SCRIPT), "--quick"]
    env = {**os.environ, **SINGLE_THREAD}
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-4000:]
    lines = completed.stdout.splitlines()
    rows = [line.split() for line in lines[2 : lines.index("")]]
    assert {tuple(row[0:3:2]) for row in rows} == set(
        itertools.product(("rates", "poly", "linear"), ("adaptive", "hebbian", "equilibrium"))
    )
    outcomes = [next(f for f in row[3:] if f in ("raised", "returned", "error")) for row in rows]
    for row, outcome in zip(rows, outcomes, strict=True):
        steps, kept, error, non_finite = row[-5:-1]
        assert non_finite == "False", row
        if outcome == "returned":
            assert kept == "True" and int(steps) > 0 and float(error) <= 10, row
        else:
            assert outcome == "raised", row
    summary = lines[-1]
    assert summary.startswith(f"runs: {len(rows)}; raised TrainingDivergedError: "
                              f"{outcomes.count('raised')} ")  # fmt: skip
    assert f"; returned: {outcomes.count('returned')};" in summary
    assert summary.endswith("bad runs: 0")


# ------------------------------------------------------------------ contention

CONTENTION_SCRIPT = SCRIPT.with_name("bench_contention.py")


def printed_ratio(a, b):
    """``a / b`` and the tolerance of the printed ratio of two times ``a`` and
    ``b`` printed to 3 decimals (each off by up to 5e-4), itself printed to 2
    (off by up to 5e-3): the true ratio is at most ``(a + 5e-4) / (b - 5e-4)``."""
    ratio = a / b
    return {"expected": ratio, "abs": (a + 5e-4) / (b - 5e-4) - ratio + 5e-3 + 1e-9}


def test_contention_table_beside_one_competitor():
    """``--max-competitors 1``: no column for two competitors, and with
    ``--all-policies`` the one-thread fit beside the competitor over the same
    fit idle: both ratios must be those of the printed seconds, to within
    what the rounding allows (seconds to 3 decimals, ratios to 2)."""
    command = [sys.executable, str(CONTENTION_SCRIPT), "--quick", "--tables", "contention",
               "--contention-n", "16", "--max-competitors", "1", "--all-policies"]  # fmt: skip
    env = {**os.environ, **SINGLE_THREAD}
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-4000:]
    # the table's one row (N = 16), then the lines beside the competitors
    n, idle, one, two, x_one, x_two, every, single, *_ = table_rows(
        completed.stdout, "Table contention"
    )[0]
    assert n == "16" and two == "nan" and x_two == "nan"
    assert float(x_one) == pytest.approx(**printed_ratio(float(one), float(idle)))
    assert min(float(idle), float(one), float(every), float(single)) > 0
    match = re.search(r"^\s*16 1 comp: ([\d.]+) / ([\d.]+) \(([\d.]+)\)$",
                      completed.stdout, re.MULTILINE)  # fmt: skip
    assert match, completed.stdout
    beside_every, beside_single, ratio = map(float, match.groups())
    assert beside_every > 0 and beside_single > 0
    assert ratio == pytest.approx(**printed_ratio(beside_single, float(single)))


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
    assert line[:4] == ["10", "2", "10", "2000"]
    # the targets missed, if any, counted over the two scales of the cell
    unmet = " ".join(line[15:])  # after the 15 columns of figures
    assert unmet == "-" or re.fullmatch(r"[A-Za-z ]+ \([12]/2\)(, [A-Za-z ]+ \([12]/2\))*", unmet)
    assert len(line[13].split("/")) == 2  # SM's median rows to 1e-2 at scales 0.01 and 100
    # The sample PCA sees the same rows at both scales: one reach, in the CSV and the table.
    assert float(rows[0]["offline_reach"]) == float(rows[1]["offline_reach"]) == float(line[14])
    assert "it is no later than SM in" in table
    # a resumed run finds both runs in the CSV and runs none
    resumed = subprocess.run(command + ["--resume"], env=env, capture_output=True, text=True,
                             timeout=300)  # fmt: skip
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-4000:]
    assert "0 runs (2 already in the CSV)" in resumed.stdout


def test_linear_grid_offline_reference_is_the_sample_pca_of_the_rows_so_far():
    """Against the top right singular vectors of the first rows (an SVD, not the script's eigh)."""
    grid = load_script(LINEAR_SCRIPT)
    X, _, top = grid.make_stream(10, 2, 1.0, 10.0, 0, 400)
    points = grid.checkpoints(400)
    expected = [subspace_error(np.linalg.svd(X[:p])[2][:2], top.T) for p in points]
    # float64 eigh and SVD of the same well-separated subspace agree far below 1e-9.
    np.testing.assert_allclose(grid.offline_reference(X, 2, points, top), expected, atol=1e-9)
    assert expected[0] > 1e-2 > expected[-1]  # the reach is a checkpoint inside the stream


def test_psp_sweep_refuses_an_sm_cache_of_other_seeds(tmp_path):
    """A cache of SM's reach over 3 seeds must not answer for 9 (nor a legacy cache, of 3)."""
    sweep = load_script(SCRIPT.with_name("psp_schedule_sweep.py"))
    legacy, tagged = tmp_path / "legacy.json", tmp_path / "tagged.json"
    legacy.write_text('{"[10, 2, 2.0, 1.0]": 85.0}')
    tagged.write_text('{"seeds": 9, "reach": {"[10, 2, 2.0, 1.0]": 68.0}}')
    with pytest.raises(SystemExit, match="over 3 seeds"):
        sweep.sm_table(None, str(legacy), 9)
    assert sweep.sm_table(None, str(tagged), 9) == {(10, 2, 2.0, 1.0): 68.0}
