"""The comparison command end to end (quick mode)."""

import contextlib
import csv
import io
import json
import math
import re

import numpy as np
import pytest
import torch

from sklearn_ksm import _compare
from sklearn_ksm.__main__ import main

FIGURES = [
    "error_vs_n.png",
    "similarities.png",
    "features_and_tuning.png",
    "learned_features.png",
    "clustering.png",
]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare")
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["compare", "--quick", "--output-dir", str(out)]) == 0
    (out / "stderr.txt").write_text(err.getvalue())
    return out


def test_quick_compare_says_what_it_does_after_fitting(quick_run):
    err = (quick_run / "stderr.txt").read_text()
    for step in ("drawing error_vs_n.png", "clustering: 2-means", "drawing clustering.png"):
        assert step in err, err


def test_quick_compare_writes_table_and_figures(quick_run):
    for name in FIGURES + ["results.csv", "summary.json"]:
        assert (quick_run / name).stat().st_size > 0, name
    with open(quick_run / "results.csv") as f:
        rows = list(csv.DictReader(f))
    # 7 methods x 2 N x 1 seed.
    assert {(r["method"], r["n_components"]) for r in rows} == {
        (m, n)
        for m in [
            "optimal",
            "nystroem_uniform",
            "nystroem_kmeans",
            "nystroem_rpcholesky",
            "rff",
            "network",
            "nystroem_network",
        ]
        for n in ["4", "16"]
    }
    summary = json.loads((quick_run / "summary.json").read_text())
    optimal = {
        s["n_components"]: s["error_mean"] for s in summary["summary"] if s["method"] == "optimal"
    }
    assert optimal[4] == pytest.approx(0.620, abs=5e-4)  # the note's exact figure
    assert optimal[16] == pytest.approx(0.096, abs=5e-4)
    # Every landmark method is a rank-N approximation: never below the optimum.
    for s in summary["summary"]:
        if s["method"].startswith("nystroem"):
            assert optimal[s["n_components"]] <= s["error_mean"] <= 1, s
    ari = summary["clustering_adjusted_rand_index"]
    assert set(ari) == {"n_components", "x", "y", "y_normalized", "optimal"}
    assert all(-1 <= ari[k] <= 1 for k in ("x", "y", "y_normalized", "optimal"))


def test_quick_compare_prints_the_table(tmp_path, capsys):
    args = [
        "compare",
        "--dataset",
        "digits",
        "--n-components",
        "8",
        "--seeds",
        "0",
        "--methods",
        "optimal",
        "nystroem_uniform",
        "network",
        "--max-iter",
        "3",
        "--no-figures",
        "--output-dir",
        str(tmp_path),
    ]
    assert main(args) == 0
    out = capsys.readouterr()
    assert "kernel PCA (optimal)" in out.out and "Hebbian network y" in out.out
    assert "N=8" in out.out and "[compare]" in out.err
    assert not list(tmp_path.glob("*.png"))


def test_unknown_dataset_is_rejected(capsys):
    with pytest.raises(SystemExit):
        main(["compare", "--dataset", "cifar"])
    assert "invalid choice" in capsys.readouterr().err


# ------------------------------------------------- invalid options (issue 21)

INVALID = [
    (["--n-components", "-5"], "--n-components"),
    (["--n-components", "0"], "--n-components"),
    (["--n-components", "4", "4"], "--n-components"),
    (["--max-iter", "-1"], "--max-iter"),
    (["--max-iter", "0"], "--max-iter"),  # used to mean the default, 150 passes
    (["--seeds", "-1"], "--seeds"),
    (["--seeds", str(2**32)], "--seeds"),
    (["--device", "bogus"], "--device"),
    (["--gamma", "-1"], "--gamma"),
    (["--gamma", "nan"], "--gamma"),
    (["--coef0", "inf"], "--coef0"),
    (["--degree", "0"], "--degree"),
    (["--jobs", "0"], "--jobs"),
]


@pytest.mark.parametrize(("options", "named"), INVALID)
def test_invalid_options_exit_non_zero_before_computing(tmp_path, capsys, options, named):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "--quick", "--no-figures", "--output-dir", str(out), *options])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    error_lines = [line for line in err.splitlines() if line.startswith("python -m sklearn_ksm")]
    assert len(error_lines) == 1 and named in error_lines[0], err
    assert "Traceback" not in err and "[compare]" not in err  # nothing was fitted
    assert not (out / "results.csv").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_unavailable_cuda_device_is_rejected(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "--quick", "--device", "cuda", "--output-dir", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "--device" in capsys.readouterr().err
    assert not (tmp_path / "results.csv").exists()


def test_unwritable_output_dir_is_rejected_before_computing(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "--quick", "--output-dir", str(blocker / "out")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--output-dir" in err and "[compare]" not in err and "Traceback" not in err


def test_summary_json_is_strict_json_with_failed_fits(tmp_path):
    comparison = _compare.Comparison("moons", {"kernel": "rbf"}, (4,), (0, 1), ("network",))
    for seed, error in [(0, 0.5), (1, float("nan"))]:
        comparison.rows.append(
            {"method": "network", "n_components": 4, "seed": seed, "error": error,
             "fit_seconds": float("nan") if math.isnan(error) else 1.0}
        )  # fmt: skip
    comparison.extras["total_seconds"] = float("inf")
    _compare.save_results(comparison, tmp_path)

    def reject(constant):
        raise ValueError(f"summary.json holds {constant}, which is not JSON")

    summary = json.loads((tmp_path / "summary.json").read_text(), parse_constant=reject)
    (entry,) = summary["summary"]
    # the mean over seeds with a failed fit is undefined: null, and the failure counted
    assert entry["error_mean"] is None and entry["n_failed"] == 1
    assert summary["total_seconds"] is None


# ------------------------------------------------ parallel fits (issue 19, 23)

SMALL = ["compare", "--n-components", "4", "8", "--seeds", "0", "1", "--max-iter", "10",
         "--methods", "optimal", "nystroem_kmeans", "network", "nystroem_network",
         "--no-figures"]  # fmt: skip


def _errors(directory):
    with open(directory / "results.csv") as f:
        return [(r["method"], r["n_components"], r["seed"], float(r["error"]))
                for r in csv.DictReader(f)]  # fmt: skip


def test_results_do_not_depend_on_jobs(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(_compare, "PARENT_RUNS_TASKS", False)  # all in the worker
    runs = {}
    for jobs in (1, 2):
        out = tmp_path / f"jobs{jobs}"
        assert main([*SMALL, "--jobs", str(jobs), "--output-dir", str(out)]) == 0
        runs[jobs] = _errors(out)
        err = capsys.readouterr().err
        # a progress line per fit, with the rate and the time left
        progress = [line for line in err.splitlines() if re.search(r"\[\d+/14 fits, ", line)]
        assert len(progress) == len(runs[jobs]) == 2 * (1 + 3 * 2)
        assert all(re.search(r"fits/(s|min)", line) for line in progress)
        assert any("left]" in line for line in progress)
    # Every fit runs on one thread whatever --jobs, so the results agree (to
    # the last bits on one machine; the tolerance leaves room for BLAS kernels
    # that depend on memory alignment).
    assert [row[:3] for row in runs[1]] == [row[:3] for row in runs[2]]
    np.testing.assert_allclose([r[3] for r in runs[1]], [r[3] for r in runs[2]], rtol=1e-6)
