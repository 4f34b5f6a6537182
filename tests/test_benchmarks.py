"""Smoke tests of benchmarks/bench_speed.py (the figures themselves are not checked).

The quick mode runs in a subprocess on tiny sizes with one thread: on small
shared CI machines, competing thread pools slow it down many times over.
"""

import importlib.util
import itertools
import os
import pathlib
import subprocess
import sys

import torch

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "bench_speed.py"
SIZES = ("2x16", "8x12")
KERNELS = ("rbf", "power_cosine")


def load_script():
    spec = importlib.util.spec_from_file_location("bench_speed", SCRIPT)
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
