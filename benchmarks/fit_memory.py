"""Peak memory of a fit per pair of neurons (FIT_BYTES_PER_NEURON_PAIR).

Fits :class:`~sklearn_ksm.HebbianKernelSimilarityMatching` with ``N``
neurons on ``3 x 64`` rows of 2 features (three steps, ``init="sample"``),
each configuration in a fresh process, and prints the growth of the peak
resident memory (``VmHWM``, Linux only) during ``fit`` in units of ``N^2``
float64 values. The estimator refuses, before allocating, a fit whose
estimate ``FIT_BYTES_PER_NEURON_PAIR * N^2`` (80 bytes, 10 float64 arrays)
exceeds the available memory; this script is how that figure was chosen
(9 to 14 for N = 1500 and 3000, issue 21). Re-run it when the training step
changes.

Run from the repository root (about a minute at N = 1500 on one core)::

    python benchmarks/fit_memory.py [--n-components 1500 3000]
"""

import argparse
import subprocess
import sys

CHILD = """
import sys, warnings
import numpy as np, torch
torch.set_num_threads(1)
warnings.simplefilter("ignore")
from sklearn_ksm import HebbianKernelSimilarityMatching

def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) * 1024

n, lateral, dtype = int(sys.argv[1]), sys.argv[2], sys.argv[3]
X = np.random.RandomState(0).normal(size=(3 * 64, 2)).astype(dtype)
options = dict(lateral=lateral, max_iter=1, init="sample", random_state=0)
# library buffers (LAPACK workspaces, torch allocator) into the baseline
HebbianKernelSimilarityMatching(20, **options).fit(X).transform(X)
before = peak()
HebbianKernelSimilarityMatching(n, **options).fit(X)
print((peak() - before) / (8 * n * n))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-components", type=int, nargs="+", default=[1500])
    args = parser.parse_args()
    print(f"{'N':>6} {'lateral':>12} {'dtype':>8} {'peak / (N^2 float64)':>22}")
    for n in args.n_components:
        for lateral in ("equilibrium", "hebbian"):
            for dtype in ("float64", "float32"):
                out = subprocess.run(
                    [sys.executable, "-c", CHILD, str(n), lateral, dtype],
                    capture_output=True, text=True, check=True,
                )  # fmt: skip
                print(f"{n:>6} {lateral:>12} {dtype:>8} {float(out.stdout):>22.1f}")


if __name__ == "__main__":
    main()
