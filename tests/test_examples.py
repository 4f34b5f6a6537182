"""Every sphinx-gallery example runs end to end in its quick (default) mode.

Each script runs in a subprocess, in a temporary directory, with the Agg
backend. Examples that take ``--output-dir`` must write their figures there.
BLAS and torch are limited to one thread: on small shared CI machines their
thread pools otherwise compete and slow the scripts down many times over.
"""

import os
import pathlib
import subprocess
import sys

import pytest

EXAMPLES = sorted((pathlib.Path(__file__).resolve().parents[1] / "examples").glob("plot_*.py"))


@pytest.mark.parametrize("script", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_example_runs(script, tmp_path):
    pytest.importorskip("matplotlib")
    env = {
        **os.environ,
        "MPLBACKEND": "Agg",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    writes_figures = "--output-dir" in script.read_text()
    command = [sys.executable, str(script)]
    if writes_figures:
        command += ["--output-dir", str(tmp_path)]
    completed = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert completed.returncode == 0, (
        f"{script.name} failed:\n{completed.stdout[-2000:]}\n{completed.stderr[-4000:]}"
    )
    if writes_figures:
        assert list(tmp_path.glob("*.png")), f"{script.name} wrote no figure"
