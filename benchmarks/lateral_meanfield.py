"""Noise-free GDA on the linear kernel: is the lateral ascent the bottleneck?

Runs the expected (full-batch) updates of Eq. 10 for the linear kernel
(power-cosine with alpha = 1) on the MNIST sample, in float64, from the
estimator's random initialisation, and prints the relative kernel error of
the network's output every ``steps / 5`` steps. With ``--lateral best`` the
lateral weights are set to their optimum for the current ``W`` at every step
(``l (l + reg)^2 = s`` on the eigenvalues ``s`` of ``W C W^T``) instead of
taking a gradient-ascent step; the difference shows whether the ascent in
``L``, rather than the descent in ``W``, limits convergence.

    python benchmarks/lateral_meanfield.py --n-components 100 --steps 15000
    python benchmarks/lateral_meanfield.py --lateral-rate 0.3
    python benchmarks/lateral_meanfield.py --lateral best --steps 5000
"""

import argparse

import torch

from sklearn_ksm import _gda
from sklearn_ksm.datasets import load_mnist


def error(C, W, L, reg):
    """||X X^T - Y Y^T||_F / ||X X^T||_F from the input covariance C."""
    A = L + reg * torch.eye(len(L), dtype=L.dtype)
    D = torch.eye(len(C), dtype=C.dtype) - W.T @ torch.linalg.solve(A @ A, W)
    return (torch.trace(C @ D @ C @ D) / torch.trace(C @ C)).sqrt().item()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-components", type=int, default=100)
    parser.add_argument("--steps", type=int, default=15000)
    parser.add_argument("--rate", type=float, default=0.003)
    parser.add_argument("--lateral-rate", type=float, default=0.03)
    parser.add_argument("--lateral", choices=["ascent", "best"], default="ascent")
    parser.add_argument("--reg", type=float, default=1e-3)
    args = parser.parse_args()
    X = torch.as_tensor(load_mnist(source="sample", return_X_y=True)[0], dtype=torch.float64)
    C = X.T @ X / len(X)
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(args.n_components, X.shape[1], generator=gen, dtype=torch.float64)
    W = X.mean(0) + X.std(0) * noise
    L = torch.eye(args.n_components, dtype=torch.float64)
    eye = torch.eye(args.n_components, dtype=torch.float64)
    for step in range(args.steps):
        AiW = torch.linalg.solve(L + args.reg * eye, W)
        YX = AiW @ C  # <y x^T>
        YY = YX @ AiW.T  # <y y^T>
        W = W + args.rate * (YX - W)
        if args.lateral == "best":  # the maximiser for the new W
            L = _gda.lateral_equilibrium(W @ C @ W.T, args.reg)
        else:
            L = L + args.lateral_rate / 2 * (YY - L)
        if step % (args.steps // 5) == 0 or step == args.steps - 1:
            print(f"step {step:6d}  error {error(C, W, L, args.reg):.5f}", flush=True)


if __name__ == "__main__":
    main()
