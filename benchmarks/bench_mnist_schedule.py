"""Wall time of the paper's MNIST schedule with the package's network.

N = 800 power-cosine neurons (alpha = 3) on the 20x20 MNIST sample, batch 64,
the paper's step count (10,000 steps, then 5,000 with rates / 10), float32.
Prints steps per second and the relative kernel error of the result.

    python benchmarks/bench_mnist_schedule.py [--device cuda] [--steps 15000]
"""

import argparse
import math
import time

import torch

from sklearn_ksm import HebbianKernelSimilarityMatching
from sklearn_ksm.datasets import load_mnist
from sklearn_ksm.metrics import kernel_approximation_error


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=15000)
    parser.add_argument("--n-components", type=int, default=800)
    args = parser.parse_args()
    X = load_mnist(source="sample", return_X_y=True)[0]
    n_epochs = math.ceil(args.steps / math.ceil(len(X) / 64))
    est = HebbianKernelSimilarityMatching(
        args.n_components, kernel="power_cosine", degree=3, learning_rate=0.001,
        learning_rate_lateral=0.01, decay_start=2 / 3, max_iter=n_epochs,
        device=args.device, random_state=0,
    )  # fmt: skip
    tic = time.perf_counter()
    est.fit(X)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    seconds = time.perf_counter() - tic
    error = kernel_approximation_error(X, est.transform(X), kernel="power_cosine", degree=3,
                                       device=args.device)  # fmt: skip
    print(f"device={args.device} torch={torch.__version__} threads={torch.get_num_threads()} "
          f"N={args.n_components} steps={est.n_steps_} time={seconds:.2f}s "
          f"steps/s={est.n_steps_ / seconds:.0f} relative_error={error:.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
