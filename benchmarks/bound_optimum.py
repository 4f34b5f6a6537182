"""The best the network's objective allows: Eq. 9 solved offline, to high accuracy.

For fixed landmarks ``W`` and gains ``q`` the inner problems of Eq. 9 have
closed forms: ``y = (L + reg I)^{-1} u`` with ``u = q * f(W, x)``, and the
lateral weights maximising the batch energy are ``L* = V diag(l) V^T`` where
``C = <u u^T> = V diag(s) V^T`` and each ``l`` solves ``l (l + reg)^2 = s``
(the stationarity ``L = <y y^T>``). What remains is a smooth minimisation
over ``W`` (and ``q`` for non-homogeneous kernels), done here full-batch in
float64 by L-BFGS from k-means landmarks; by the envelope theorem the
gradient is the partial gradient of Eq. 8 at ``(y, L*)``.

The network's output ``y`` at this optimum is the best any optimiser of the
objective can reach (up to local optima), so it separates limits of the
objective from limits of the online training. Printed per N: the optimum
energy, the relative kernel error of ``y``, and that of Nystroem on the
optimal landmarks.

Run from the repository root::

    python benchmarks/bound_optimum.py moons 8 16 32 64
    python benchmarks/bound_optimum.py mnist --degree 3 200 800
    python benchmarks/bound_optimum.py mnist --degree 1 100 400
"""

import argparse
import time

import numpy as np
import torch
from sklearn.cluster import KMeans

from sklearn_ksm import _gda
from sklearn_ksm.baselines import KernelNystroem
from sklearn_ksm.datasets import load_mnist, make_half_moons
from sklearn_ksm.kernels import make_kernel
from sklearn_ksm.metrics import kernel_approximation_error

NEWTON_STEPS = 60  # l (l + reg)^2 = s is monotone in l >= 0: Newton from s^(1/3) converges fast


def lateral_optimum(C, reg):
    """``argmax_L`` of the batch energy for the drive correlations ``C``."""
    s, V = torch.linalg.eigh(C)
    s = s.clamp(min=0)
    lat = s.clamp(min=1e-300) ** (1 / 3)
    for _ in range(NEWTON_STEPS):
        residual = lat * (lat + reg) ** 2 - s
        lat = (lat - residual / ((lat + reg) ** 2 + 2 * lat * (lat + reg))).clamp(min=0)
    return (V * lat) @ V.T


def reduced_energy(W, q, X, kernel, reg):
    """Eq. 9 at the optimal ``y`` and ``L`` for these ``W, q``; also returns ``y``."""
    K = kernel(X, W)
    u = _gda.drive(q, K)
    with torch.no_grad():
        L = lateral_optimum(u.T @ u / len(X), reg)
    Y = _gda.response_solve(u, L, reg)
    return _gda.energy(Y, K, kernel.diag(W), q, L, reg), Y


def solve(X, kernel, n_components, *, reg, max_iter, seed=0):
    W0 = KMeans(n_components, n_init=1, random_state=seed).fit(X.numpy()).cluster_centers_
    W = torch.tensor(W0, dtype=X.dtype, requires_grad=True)
    q = torch.ones(n_components, dtype=X.dtype, requires_grad=not kernel.homogeneous)
    params = [W] if kernel.homogeneous else [W, q]
    optimizer = torch.optim.LBFGS(
        params, max_iter=max_iter, history_size=50, tolerance_grad=1e-12,
        tolerance_change=1e-15, line_search_fn="strong_wolfe",
    )  # fmt: skip

    def closure():
        optimizer.zero_grad()
        value = reduced_energy(W, q, X, kernel, reg)[0]
        value.backward()
        return value

    optimizer.step(closure)
    with torch.no_grad():
        value, Y = reduced_energy(W, q, X, kernel, reg)
    return value.item(), Y.numpy(), W.detach().numpy()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=["moons", "mnist"])
    parser.add_argument("n_components", type=int, nargs="+")
    parser.add_argument("--degree", type=int, default=3, help="power-cosine alpha (mnist)")
    parser.add_argument("--reg", type=float, default=1e-3)
    parser.add_argument("--max-iter", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.dataset == "moons":
        X = make_half_moons()[0]
        params = {"kernel": "rbf", "gamma": 1 / (2 * 0.3**2)}
    else:
        X = load_mnist(source="sample", return_X_y=True)[0]
        params = {"kernel": "power_cosine", "degree": args.degree}
    kernel = make_kernel(n_features=X.shape[1], **params)
    X64 = torch.as_tensor(np.asarray(X, dtype=np.float64))
    print(f"{args.dataset} {params} reg={args.reg:g} L-BFGS max_iter={args.max_iter} "
          f"seed={args.seed} threads={torch.get_num_threads()}")  # fmt: skip
    print("   N   optimum energy   y error   Nystroem(W*) error   seconds")
    for n in args.n_components:
        tic = time.perf_counter()
        value, Y, W = solve(X64, kernel, n, reg=args.reg, max_iter=args.max_iter, seed=args.seed)
        error = kernel_approximation_error(X, Y, **params)
        readout = KernelNystroem(n, landmarks=W, **params).fit_transform(X)
        nystroem = kernel_approximation_error(X, readout, **params)
        print(f"{n:4d}   {value:14.8g}   {error:7.4f}   {nystroem:18.4f}   "
              f"{time.perf_counter() - tic:7.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
