"""The documentation's numbers and figures from result files (doc/_ext/ksm_data.py).

Every ``|name|`` quoted in the pages must be defined from the committed data
(a missing one would fail the Sphinx build; this finds it in seconds), the
values must be those of the files, and the benchmark scripts must write the
files the extension reads.
"""

import csv
import importlib.util
import json
import pathlib
import re

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOC = ROOT / "doc"


def load(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def ksm_data():
    return load(DOC / "_ext" / "ksm_data.py")


@pytest.fixture(scope="module")
def grid():
    return load(ROOT / "benchmarks" / "convergence_grid.py")


def fake_compare_summary():
    """A summary.json of the moons comparison: every method and N of the command."""
    from sklearn_ksm._compare import METHODS, load_dataset

    ns = load_dataset("moons").n_components
    rows = [{"method": m, "n_components": n, "error_mean": 0.5 / n, "error_std": 0.01,
             "fit_seconds_mean": 1.5, "n_runs": 3, "n_failed": 0}
            for m in METHODS for n in ns]  # fmt: skip
    clustering = {"n_components": 16, "x": 0.26, "y": 0.44, "y_normalized": 0.94, "optimal": 0.59}
    return {"seeds": [0, 1, 2], "summary": rows, "clustering_adjusted_rand_index": clustering,
            "total_seconds": 61.2}  # fmt: skip


def all_values(ksm_data):
    values = ksm_data.compare_values(fake_compare_summary())
    values.update(ksm_data.grid_values(ksm_data.read_csv(ksm_data.GRID)))
    values.update(ksm_data.speed_values(ksm_data.read_csv(ksm_data.SPEED_N),
                                        ksm_data.read_csv(ksm_data.SPEED_B)))  # fmt: skip
    return values


def test_every_quoted_number_is_defined(ksm_data):
    values = all_values(ksm_data)
    used = set()
    for page in DOC.glob("*.rst"):
        used |= set(re.findall(r"\|((?:moons|grid|speed)-[\w.-]+)\|", page.read_text("utf-8")))
    assert used, "no page quotes the data"
    assert used <= set(values), sorted(used - set(values))


def test_values_are_those_of_the_files(ksm_data):
    values = all_values(ksm_data)
    rows = {(r["dataset"], r["procedure"], r["n_components"]): r
            for r in ksm_data.read_csv(ksm_data.GRID)}  # fmt: skip
    row = rows["moons", "defaults", "64"]
    assert values["grid-moons-defaults-64"] == row["y_error_mean"]
    assert values["grid-moons-defaults-64-optimal"] == row["optimal"]
    assert values["moons-network-16"] == "0.0312"  # 0.5 / 16, 3 significant digits
    assert values["moons-seeds"] == "3"
    assert values["moons-network-runs"] == "18" and values["moons-network-failed"] == "0"
    assert values["moons-ari-y_normalized"] == "0.940" and values["moons-ari-n_components"] == "16"
    # the exponent is the least-squares slope of log t on log N, N >= 128
    speed = ksm_data.read_csv(ksm_data.SPEED_N)
    n = np.array([float(r["N"]) for r in speed])
    t = np.array([float(r["ms/step"]) for r in speed])
    keep = n >= 128
    slope = np.polyfit(np.log(n[keep]), np.log(t[keep]), 1)[0]
    assert float(values["speed-exponent-n"]) == pytest.approx(slope, abs=0.005)


@pytest.mark.parametrize("value, text", [(0.19342, "0.193"), (0.0089931, "0.00899"),
                                         (1.5, "1.50"), (0.0, "0")])  # fmt: skip
def test_significant_digits(ksm_data, value, text):
    assert ksm_data.significant(value) == text


def test_substitutions_are_rst(ksm_data):
    text = ksm_data.substitutions({"moons-network-16": "0.193"})
    assert text == ".. |moons-network-16| replace:: 0.193"


def test_figures_and_tables_are_drawn(ksm_data, tmp_path):
    pytest.importorskip("matplotlib")
    rows = ksm_data.read_csv(ksm_data.GRID)
    ksm_data.plot_error_vs_n(rows, tmp_path / "error.png")
    ksm_data.plot_speed(ksm_data.read_csv(ksm_data.SPEED_N), ksm_data.read_csv(ksm_data.SPEED_B),
                        tmp_path / "speed.png")  # fmt: skip
    ksm_data.write_grid_tables(rows, tmp_path)
    for name in ("error.png", "speed.png", "convergence_moons.csv", "convergence_mnist3.csv"):
        assert (tmp_path / name).stat().st_size > 0, name
    with open(tmp_path / "convergence_moons.csv", newline="") as f:
        table = list(csv.reader(f))
    assert len(table) == 1 + sum(r["dataset"] == "moons" for r in rows)


def test_grid_summary_merges_into_the_data_file(grid, tmp_path):
    """``--summary`` replaces the rows it ran and keeps the others."""
    fits = [
        {"dataset": "moons", "n_components": 2, "procedure": "defaults", "seed": s,
         "diverged": 0, "error": e, "nystroem_error": e - 0.01, "n_samples_seen": 100.0,
         "n_steps": 2.0, "seconds": 1.0}
        for s, e in ((0, 0.5), (1, 0.7))
    ] + [{"dataset": "moons", "n_components": 2, "procedure": "optimal", "seed": None,
          "diverged": 0, "error": 0.4, "nystroem_error": float("nan"), "n_samples_seen": 0.0,
          "n_steps": 0.0, "seconds": 0.1}]  # fmt: skip
    path = tmp_path / "grid.csv"
    old = {f: "" for f in grid.SUMMARY_FIELDS}
    stale = dict(old, dataset="moons", n_components="2", procedure="defaults",
                 y_error_mean="0.9999")  # fmt: skip
    kept = dict(old, dataset="mnist1", n_components="25", procedure="paper",
                y_error_mean="0.0405")  # fmt: skip
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, grid.SUMMARY_FIELDS)
        writer.writeheader()
        writer.writerows([kept, stale])
    grid.write_summary(path, fits)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["dataset"], r["y_error_mean"]) for r in rows] == [
        ("moons", "0.6000"), ("mnist1", "0.0405")]  # fmt: skip
    moons = rows[0]
    assert (moons["y_error_std"], moons["y_error_min"], moons["y_error_max"]) == (
        "0.1000", "0.5000", "0.7000")  # fmt: skip
    assert moons["optimal"] == "0.4000" and moons["nystroem_mean"] == "0.5900"
    assert moons["runs"] == "2" and moons["diverged"] == "0"


def test_committed_data_files_parse(ksm_data):
    rows = ksm_data.read_csv(ksm_data.GRID)
    datasets = {r["dataset"] for r in rows}
    # the three plotted grids, and alpha = 2 and 4 at N = 400 (quoted in the text)
    assert {"moons", "mnist1", "mnist3"} <= datasets <= {"moons", "mnist1", "mnist2", "mnist3",
                                                         "mnist4"}  # fmt: skip
    assert {r["procedure"] for r in rows} == {"defaults", "equilibrium", "paper"}
    for row in rows:
        assert 0 < float(row["y_error_mean"]) < 1, row
    for path in (ksm_data.SPEED_N, ksm_data.SPEED_B):
        assert all(float(r["ms/step"]) > 0 for r in ksm_data.read_csv(path))
    json.dumps(all_values(ksm_data))  # plain strings
