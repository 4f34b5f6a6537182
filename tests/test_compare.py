"""The comparison command end to end (quick mode)."""

import csv
import json

import pytest

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
    assert main(["compare", "--quick", "--output-dir", str(out)]) == 0
    return out


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
