"""The best the network's objective allows: Eq. 9 solved offline, to high accuracy.

For fixed landmarks ``W`` and gains ``q`` the inner problems of Eq. 9 have
closed forms: ``y = (L + reg I)^{-1} u`` with ``u = q * f(W, x)``, and the
lateral weights maximising the batch energy are ``L* = V diag(l) V^T`` where
``C = <u u^T> = V diag(s) V^T`` and each ``l`` solves ``l (l + reg)^2 = s``
(the stationarity ``L = <y y^T>``). What remains is a smooth minimisation
over ``W`` (and ``q`` for non-homogeneous kernels), done here full-batch in
float64 by L-BFGS from k-means++ landmarks (scikit-learn's default
``KMeans``); by the envelope theorem the gradient is the partial gradient of
Eq. 8 at ``(y, L*)``.

The network's output ``y`` at this optimum is the best any optimiser of the
objective can reach (up to local optima), so it separates limits of the
objective from limits of the online training. Printed per N: the optimum
energy, the relative kernel error of ``y``, and that of Nystroem on the
optimal landmarks.

``--init paper`` starts L-BFGS from the landmarks (and gains) that the
paper's training procedure learned (``convergence_grid.py``'s faithful
re-implementation of the authors' notebooks, seed ``--seed``) instead of
k-means++ centres, and also prints that starting point: when L-BFGS lowers
the energy below the trained network's but not the output error, the error
the training reached is not the objective's. ``--init rpcholesky`` starts
from randomly pivoted Cholesky rows. ``convergence_grid.py --baselines
bound`` puts the k-means++ start's figures beside the landmark baselines.

Run from the repository root::

    python benchmarks/bound_optimum.py moons 8 16 32 64
    python benchmarks/bound_optimum.py mnist --degree 3 200 800
    python benchmarks/bound_optimum.py mnist --degree 1 100 400
    python benchmarks/bound_optimum.py mnist --degree 3 800 --init paper --device cuda
"""

import argparse
import time

import numpy as np
import torch
from sklearn.cluster import KMeans

from sklearn_ksm import _gda
from sklearn_ksm.baselines import KernelNystroem, sample_landmarks
from sklearn_ksm.datasets import load_mnist, make_half_moons
from sklearn_ksm.kernels import make_kernel
from sklearn_ksm.metrics import kernel_approximation_error

NEWTON_STEPS = 60  # far more than training's 8: the offline optimum is solved to high accuracy


def reduced_energy(W, q, X, kernel, reg):
    """Eq. 9 at the optimal ``y`` and ``L`` for these ``W, q``; also returns ``y``."""
    K = kernel(X, W)
    u = _gda.drive(q, K)
    with torch.no_grad():
        L = _gda.lateral_equilibrium(u.T @ u / len(X), reg, newton_steps=NEWTON_STEPS)
    Y = _gda.response_solve(u, L, reg)
    return _gda.energy(Y, K, kernel.diag(W), q, L, reg), Y


def kmeans_start(X, n_components, seed):
    """scikit-learn's default KMeans (k-means++) centres, gains 1."""
    W0 = KMeans(n_components, random_state=seed).fit(X).cluster_centers_
    return W0, np.ones(n_components)


def rpcholesky_start(X, n_components, seed, kernel):
    """Randomly pivoted Cholesky rows, gains 1."""
    W0 = sample_landmarks(X, n_components, "rpcholesky", kernel=kernel, random_state=seed)
    return W0, np.ones(n_components)


def paper_start(X, n_components, seed, params):
    """Landmarks and gains of the authors' procedure (convergence_grid.py, float32)."""
    from convergence_grid import MNIST_PAPER, MOONS_PAPER, paper_fit  # it imports this module

    procedure = MOONS_PAPER if params["kernel"] == "rbf" else MNIST_PAPER
    W, q, _, steps = paper_fit(X, params, n_components, seed, procedure)
    if W is None:
        raise RuntimeError(f"the paper's procedure diverged after {steps} steps (seed {seed})")
    return W.numpy(), q.numpy()


def solve(X, kernel, start, *, reg, max_iter):
    W = torch.tensor(start[0], dtype=X.dtype, device=X.device, requires_grad=True)
    q = torch.tensor(start[1], dtype=X.dtype, device=X.device, requires_grad=not kernel.homogeneous)
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

    if max_iter > 0:
        optimizer.step(closure)
    with torch.no_grad():
        value, Y = reduced_energy(W, q, X, kernel, reg)
    return value.item(), Y.cpu().numpy(), W.detach().cpu().numpy()


def bound_errors(X, params, n_components, start, *, reg=1e-3, max_iter=300, device="cpu"):
    """Solve from ``start``; the energy, the output error and Nystroem(W*) error."""
    kernel = make_kernel(n_features=X.shape[1], **params)
    X64 = torch.as_tensor(np.asarray(X, dtype=np.float64), device=device)
    value, Y, W = solve(X64, kernel, start, reg=reg, max_iter=max_iter)
    readout = KernelNystroem(n_components, landmarks=W, **params).fit_transform(X)
    return {
        "energy": value,
        "error": kernel_approximation_error(X, Y, **params),
        "nystroem_error": kernel_approximation_error(X, readout, **params),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=["moons", "mnist"])
    parser.add_argument("n_components", type=int, nargs="+")
    parser.add_argument("--degree", type=int, default=3, help="power-cosine alpha (mnist)")
    parser.add_argument("--reg", type=float, default=1e-3)
    parser.add_argument("--max-iter", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init", choices=["kmeans", "rpcholesky", "paper"], default="kmeans")
    parser.add_argument("--device", default="cpu", help="torch device of the solve")
    args = parser.parse_args()
    if args.dataset == "moons":
        X = make_half_moons()[0]
        params = {"kernel": "rbf", "gamma": 1 / (2 * 0.3**2)}
    else:
        X = load_mnist(source="sample", return_X_y=True)[0]
        params = {"kernel": "power_cosine", "degree": args.degree}
    kernel = make_kernel(n_features=X.shape[1], **params)
    print(f"{args.dataset} {params} reg={args.reg:g} L-BFGS max_iter={args.max_iter} "
          f"init={args.init} seed={args.seed} device={args.device} "
          f"threads={torch.get_num_threads()}")  # fmt: skip
    print("   N  point               energy   y error   Nystroem(W) error   seconds")
    for n in args.n_components:
        tic = time.perf_counter()
        if args.init == "paper":
            start = paper_start(X, n, args.seed, params)
            points = [("paper's training", 0), ("L-BFGS from it", args.max_iter)]
        elif args.init == "rpcholesky":
            start = rpcholesky_start(X, n, args.seed, kernel)
            points = [("L-BFGS from RPChol", args.max_iter)]
        else:
            start = kmeans_start(X, n, args.seed)
            points = [("L-BFGS from KMeans", args.max_iter)]
        for label, max_iter in points:
            result = bound_errors(X, params, n, start, reg=args.reg, max_iter=max_iter,
                                  device=args.device)  # fmt: skip
            seconds = time.perf_counter() - tic
            print(f"{n:4d}  {label:18s} {result['energy']:14.8g}   {result['error']:7.4f}   "
                  f"{result['nystroem_error']:17.4f}   {seconds:7.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
