"""Training and transform speed of the package against the paper's training loop.

Prints a machine line, a one-time check that the baseline computes the package's
update, then up to four tables:

1. steps/s of the package's training step with the default rule (the
   adaptive anti-Hebbian step, ``_gda.minibatch_step``), the paper's loop
   (:class:`PaperLoop`, Fig. 7 of Luther & Seung) and the estimator's
   ``fit``, on the same float32 rows
   (the step engines cycle through them in a fixed order, fit shuffles them),
   for (M, N) = (2, 16), (400, 200), (400, 800), batch 64, rbf and power-cosine
   (degree 3) kernels (``--sizes`` for others); the ratios package / paper;
   and the default step against a roofline (its flop count over the
   measured float32 matmul rate).
2. time per step of the paper's anti-Hebbian rule against N (M = 400,
   B = 64) and against the batch size (M = 400, N = 800), with the fitted
   exponent of a power law.
3. ``transform`` throughput (rows/s) against scikit-learn's ``Nystroem``.
4. (``--memory``) peak memory that ``fit`` and ``transform`` add, on 7,000
   and 70,000 rows, each measured in a fresh subprocess.

The data are Gaussian float32 rows (fixed seed); the rbf ``gamma`` is 1 / M;
the rates and ``reg`` are the estimator's defaults. The engines are timed in
interleaved rounds and the median per engine is reported, so a noisy shared
machine slows all of them alike. The script exits with status 1 if the
baseline does not compute the package's update.

Run from the repository root::

    python benchmarks/bench_speed.py [--device {auto,cpu,cuda}] [--threads T]
        [--fit-n-jobs J] [--quick] [--tables 1 2 3 4] [--memory]
        [--sizes 2x16 400x800] [--csv-dir DIR]

``--threads`` sets torch's and the BLAS libraries' threads for the process
(default: as found): the paper's loop and the step engines run on all of
them; ``fit`` runs as a user's default fit does, with the estimator's thread
policy (``n_jobs=None``: one thread below ``THREADS_MIN_SIZE`` neurons, the
idle cores from there, never more than ``--threads``), or with
``n_jobs=J`` given ``--fit-n-jobs J``; table 1's ``fit thr`` is the threads
it ran on. ``--quick`` shrinks every count (about 20 s on two cores);
``--tables`` picks tables (default 1 2 3); ``--memory`` adds table 4;
``--sizes`` replaces table 1's (M, N) list; ``--csv-dir DIR`` also writes each
table to ``DIR/speed_table1.csv``, ``speed_table2a.csv``... (with the title and
machine line as ``#`` comments): ``--tables 2 --csv-dir doc/_data`` refreshes
the speed figure of the documentation, which reads that file at build time.
"""

import argparse
import csv
import functools
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.base import clone
from sklearn.kernel_approximation import Nystroem
from threadpoolctl import threadpool_limits

import sklearn_ksm._base as base_module
from sklearn_ksm import HebbianKernelSimilarityMatching, _gda, _lateral
from sklearn_ksm._solver import train
from sklearn_ksm.kernels import make_kernel

DTYPE = torch.float32
BATCH = 64
REG = 1e-3  # the estimator's default lambda
RATES = _gda.LearningRates(0.003, 0.003, 0.03)  # the paper-like rates of the engines
DEFAULT_RATES = _gda.LearningRates(0.003, 0.01, 0.2)  # the default rule's (rbf: gains learn)
KERNELS = {"rbf": {}, "power_cosine": {"degree": 3}}  # rbf gamma is 1 / M
TABLE1_SIZES = ((2, 16), (400, 200), (400, 800))
SCALING_M = 400
SCALING_N = (16, 32, 64, 128, 256, 512, 1024, 2048)
SCALING_N_BATCH = 800
SCALING_BATCHES = (16, 32, 64, 128, 256, 512, 1024)
SCALING_N_FIT_FROM = 128  # below it the O(BMN) and per-call overheads dominate
TRANSFORM_SIZES = (200, 800)
MEMORY_N = 800
MEMORY_M = 400
CHECK_TOL = 1e-10  # PaperLoop vs the package's step, relative to the update, float64
# Rates of order 1 in the check make each update as large as the synapses, so
# the comparison resolves the update to float64 rounding instead of losing its
# low digits in the synapses' own rounding (any rates define the same update).
CHECK_RATES = _gda.LearningRates(0.5, 0.5, 0.5)
DATA_SEED = 0
# fit is timed over at least this many epochs, so that its one-off costs
# (validation, initial state, publishing numpy attributes) are amortised as
# they are in a real fit of thousands of steps
FIT_MIN_EPOCHS = 10
# Lateral learning of the estimator in the fit rows and the memory table (the
# default, "auto"; set from --lateral) and its n_jobs (set from --fit-n-jobs;
# the default, None, otherwise).
FIT_LATERAL = {"lateral": "auto"}
# The threads the last timed fit ran on (torch's count inside its training loop).
FIT_THREADS = {"last": None}


@dataclass(frozen=True)
class Settings:
    """How long to time things; ``--quick`` shrinks every count."""

    rounds: int  # interleaved rounds per measurement; the median is reported
    seconds: float  # target time of one engine in one round
    min_steps: int
    n_batches: int  # distinct batches per configuration (one epoch of fit)
    transform_rows: int
    transform_repeats: int
    memory_rows: tuple
    peak_repeats: int


FULL = Settings(5, 0.5, 3, 100, 20_000, 3, (7_000, 70_000), 7)
QUICK = Settings(3, 0.05, 2, 10, 2_000, 3, (700, 7_000), 3)


# ------------------------------------------------------------ the baseline


def package_step(state, X, *, kernel, rates, reg, learn_gains, rule=None, step=0):
    """The package's training step (``_gda.minibatch_step``) on a NetworkState.

    With the paper's anti-Hebbian rule by default: the step the paper's loop
    takes, computed by the package's engine.
    """
    rule = rule or _lateral.AntiHebbian()
    training = _gda.TrainingState(*state, rule.initial_stats(
        state.W.shape[0], state.W.shape[1], state.W.dtype, state.W.device))  # fmt: skip
    new, batch_energy = _gda.minibatch_step(
        training, X, kernel=kernel, rule=rule, rates=rates, reg=reg, learn_gains=learn_gains,
        step=step,
    )  # fmt: skip
    return new.network, batch_energy


class PaperLoop:
    """The training loop of the paper's Fig. 7 (appendix A.2), the speed baseline.

    Per step: ``y = forward(x)`` by an explicit inverse of ``L + lam I``; the
    batch-mean energy of Eq. 8 with autograd tracking on ``q``, ``W``, ``L``;
    ``torch.autograd.grad``; then descent in ``W`` (rescaled by ``1 / q^2``)
    and ``q``, ascent in ``L``. Only the kernel's *value* comes from the
    package's kernel objects; autograd differentiates it.
    """

    def __init__(self, state, kernel, *, rates, reg, learn_gains):
        self.w, self.q, self.l = (t.detach().clone().requires_grad_(True) for t in state)
        self.kernel = kernel
        self.lam = reg
        self.eta_w, self.eta_l = rates.w, rates.lateral
        # appendix A.3: homogeneous kernels keep q = 1 through a zero gain rate
        self.eta_q = rates.q if learn_gains else 0.0

    def forward(self, x):
        # y minimises the energy, so the paper's gradients do not flow through
        # it; computing it untracked spares autograd the inverse's graph, which
        # favours the baseline. As in Fig. 7, forward and energy each evaluate
        # the kernel.
        with torch.no_grad():
            eye = torch.eye(self.l.shape[0], dtype=self.l.dtype, device=self.l.device)
            inverse = torch.linalg.inv(self.l + self.lam * eye)
            return (self.q * self.kernel(x, self.w)) @ inverse.mT

    def energy(self, x, y):
        """Eq. 8, averaged over the batch."""
        f = self.kernel(x, self.w)
        per_sample = (
            -(self.q * y * f).sum(1)
            + 0.5 * ((y @ self.l) * y).sum(1)
            + 0.5 * self.lam * (y * y).sum(1)
        )
        constant = 0.5 * (self.q**2 * self.kernel.diag(self.w)).sum() - 0.25 * (self.l**2).sum()
        return per_sample.mean() + constant

    def step(self, x):
        y = self.forward(x)
        e = self.energy(x, y)
        gq, gw, gl = torch.autograd.grad(e, [self.q, self.w, self.l])
        with torch.no_grad():
            # Fig. 7 updates q first, so its w step divides by the new q^2; w goes
            # first here so that all three updates use the pre-step synapses, the
            # simultaneous step of Eq. 10 that the package takes (same cost).
            self.w -= self.eta_w * gw / (self.q**2)[:, None]
            self.q -= self.eta_q * gq
            self.l += self.eta_l * gl
        return e.detach()

    def state(self):
        return _gda.NetworkState(*(t.detach().clone() for t in (self.w, self.q, self.l)))


def check_paper_loop(device):
    """One PaperLoop step makes the package's update (float64); True if so."""
    gen = torch.Generator().manual_seed(0)
    n_inputs, n_neurons, n_batch = 5, 7, 9
    rand = lambda *shape: torch.randn(*shape, generator=gen, dtype=torch.float64)  # noqa: E731
    A = rand(n_neurons, n_neurons)
    # a generic symmetric positive definite L and gains away from 1, so that no
    # term of the update is trivially equal
    L = torch.eye(n_neurons, dtype=torch.float64) + A @ A.T / n_neurons
    q = 0.5 + torch.rand(n_neurons, generator=gen, dtype=torch.float64)
    W, X = rand(n_neurons, n_inputs), rand(n_batch, n_inputs)
    worst = 0.0
    for name, params in KERNELS.items():
        kernel = make_kernel(name, n_features=n_inputs, **params)
        learn_gains = not kernel.homogeneous
        state = _gda.NetworkState(W, q if learn_gains else torch.ones_like(q), L)
        state = _gda.NetworkState(*(t.to(device) for t in state))
        options = dict(rates=CHECK_RATES, reg=REG, learn_gains=learn_gains)
        reference, _ = package_step(state, X.to(device), kernel=kernel, **options)
        paper = PaperLoop(state, kernel, **options)
        paper.step(X.to(device))
        errors = [
            update_error(old, new, ref)
            for old, new, ref in zip(state, paper.state(), reference, strict=True)
        ]
        worst = max(worst, *errors)
        print(
            f"  {name:<12} max relative difference of the (W, q, L) updates: "
            + ", ".join(f"{e:.1e}" for e in errors)
        )
    passed = worst <= CHECK_TOL
    print(f"  PaperLoop check {'passed' if passed else 'FAILED'} (tolerance {CHECK_TOL:g})")
    return passed


def update_error(old, new, reference):
    """Difference of two updates relative to the reference update's size.

    Comparing updates rather than new synapses keeps the old values, equal in
    both, from hiding a wrong step.
    """
    delta_ref, delta_new = reference - old, new - old
    scale = delta_ref.abs().max().clamp(min=torch.finfo(old.dtype).tiny)
    return ((delta_new - delta_ref).abs().max() / scale).item()


# ------------------------------------------------------------ timing tools


def resolve_device(name):
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def clock(device):
    """Wall time after the device's queued work has finished."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def timed_run(run, n_steps, device):
    """``(steps, seconds)`` of one call of an engine (which may time itself)."""
    tic = clock(device)
    done = run(n_steps)
    elapsed = clock(device) - tic
    return done if isinstance(done, tuple) else (done, elapsed)


def steps_per_second(run, n_steps, device):
    done, elapsed = timed_run(run, n_steps, device)
    return done / elapsed


def calibrate(run, settings, device):
    """Steps that take about ``settings.seconds``, after a warm-up call."""
    run(settings.min_steps)  # first-call costs: allocations, lazy initialisation
    n_steps = settings.min_steps
    while True:
        done, elapsed = timed_run(run, n_steps, device)
        if elapsed >= settings.seconds / 5 or n_steps >= 1_000_000:
            break
        n_steps *= 2
    return max(settings.min_steps, math.ceil(settings.seconds * done / elapsed))


def interleaved_rates(engines, settings, device):
    """Median steps/s of each engine over rounds that take turns between them.

    The order rotates every round so that no engine always runs right after
    the same neighbour.
    """
    counts = {name: calibrate(run, settings, device) for name, run in engines.items()}
    samples = {name: [] for name in engines}
    names = list(engines)
    for round_index in range(settings.rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(steps_per_second(engines[name], counts[name], device))
    return {name: statistics.median(values) for name, values in samples.items()}


def matmul_peak(device, settings):
    """Measured float32 matmul rate (flop/s): median of square products."""
    size = 4096 if device.type == "cuda" else 1024
    gen = torch.Generator().manual_seed(0)
    A, B = (torch.randn(size, size, generator=gen, dtype=DTYPE).to(device) for _ in range(2))
    A @ B  # warm-up
    times = []
    for _ in range(settings.peak_repeats):
        tic = clock(device)
        A @ B
        times.append(clock(device) - tic)
    return 2 * size**3 / statistics.median(times)


def step_flops(M, N, B):
    """Flops of one fused step; the O(BN + NM) elementwise terms are ignored."""
    kernel, hebbian = 2 * B * M * N, 2 * B * M * N
    cholesky, triangular_solves, lateral_addmm = N**3 / 3, 2 * B * N**2, 2 * B * N**2
    return kernel + hebbian + cholesky + triangular_solves + lateral_addmm


# ------------------------------------------------------- the configurations


def synthetic(n_rows, n_features, seed=DATA_SEED):
    """Gaussian float32 rows, drawn in place (no float64 intermediate)."""
    X = np.empty((n_rows, n_features), dtype=np.float32)
    np.random.default_rng(seed).standard_normal(out=X, dtype=np.float32)
    return X


def kernel_params(name, M):
    return {"gamma": 1.0 / M, **KERNELS[name]} if name == "rbf" else dict(KERNELS[name])


class Problem:
    """One (kernel, M, N, B) configuration: data, batches and initial network."""

    def __init__(self, kernel_name, M, N, B, settings, device):
        self.kernel_name, self.M, self.N, self.B = kernel_name, M, N, B
        self.device = device
        self.params = kernel_params(kernel_name, M)
        self.kernel = make_kernel(kernel_name, n_features=M, **self.params)
        self.learn_gains = not self.kernel.homogeneous
        self.n_batches = settings.n_batches
        self.X = synthetic(B * self.n_batches, M)
        # the same rows in a fixed shuffled order, cut into batches as fit does
        order = np.random.default_rng(DATA_SEED + 1).permutation(len(self.X))
        X_device = torch.from_numpy(self.X[order]).to(device)
        self.batches = list(torch.split(X_device, B))
        gen = torch.Generator().manual_seed(0)
        W = torch.randn(N, M, generator=gen, dtype=DTYPE)
        self.initial = _gda.NetworkState(
            *(t.to(device) for t in (W, torch.ones(N, dtype=DTYPE), torch.eye(N, dtype=DTYPE)))
        )

    def step_engine(self, step):
        """``run(n)``: n steps of a ``_gda`` step function from the initial network."""
        options = dict(kernel=self.kernel, rates=RATES, reg=REG, learn_gains=self.learn_gains)

        def run(n_steps):
            state = self.initial
            for t in range(n_steps):
                state, _ = step(state, self.batches[t % self.n_batches], **options)
            return n_steps

        return run

    def default_engine(self):
        """``run(n)``: n steps of the default rule (the adaptive anti-Hebbian step).

        The estimator's step with its default rates, stiffness-scaled lateral
        step and probe vector, carrying the rule's statistics from step to
        step, from the paper's initial network.
        """
        rule = _lateral.ConditionedAntiHebbian(DEFAULT_RATES.lateral, REG)
        stats = rule.initial_stats(self.N, self.M, DTYPE, self.device)
        options = dict(kernel=self.kernel, rule=rule, rates=DEFAULT_RATES, reg=REG,
                       learn_gains=self.learn_gains)  # fmt: skip

        def run(n_steps):
            state = _gda.TrainingState(*self.initial, stats)
            for t in range(n_steps):
                batch = self.batches[t % self.n_batches]
                state, _ = _gda.minibatch_step(state, batch, step=t, **options)
            return n_steps

        return run

    def floor_engine(self):
        """``run(n)``: n times the dense kernels any step that solves Eq. 12 exactly runs.

        The Gram product ``X W^T``, the Cholesky factor of ``L + reg I`` (a
        copy: the factorisation overwrites it), the two triangular solves of
        the ``B + 1`` right-hand sides (the batch and the default rule's
        probe, through the package's ``response_solve``), the Hebbian product
        ``G^T X`` and the lateral product ``Y^T Y``, and nothing else: no
        elementwise work beyond the solve's own diagonal shift and failure
        mask, no kernel nonlinearity. Its rate bounds the
        steps/s of such a step, so ``floor/paper`` bounds the ratio to the
        paper's loop that any rule with one exact solve per step can reach on
        this machine.
        """
        W, _, L = self.initial
        L = L + 0.1 * torch.ones_like(L)  # positive definite, not diagonal

        def run(n_steps):
            for t in range(n_steps):
                X = self.batches[t % self.n_batches]
                K = X @ W.mT
                Y = _gda.response_solve(torch.cat([K, K[:1]]), L, REG)[: len(X)]
                Y.mT @ X
                Y.mT @ Y
            return n_steps

        return run

    def paper_engine(self):
        def run(n_steps):
            loop = PaperLoop(
                self.initial, self.kernel, rates=RATES, reg=REG, learn_gains=self.learn_gains
            )
            for t in range(n_steps):
                loop.step(self.batches[t % self.n_batches])
            return n_steps

        return run

    def fit_engine(self):
        """``run(n)``: a fresh ``fit`` of whole epochs, at least n steps (and 10 epochs).

        Returns ``(steps, seconds)`` with the seconds spent in the training
        loop only: the one-off work before and after it (validation, k-means++
        seeding of the landmarks, the initial and final lateral solves of the
        default rule) is left out, as the step rate is what is compared.
        """

        def run(n_steps):
            estimator = HebbianKernelSimilarityMatching(
                self.N, kernel=self.kernel_name, batch_size=self.B,
                max_iter=max(FIT_MIN_EPOCHS, math.ceil(n_steps / self.n_batches)),
                device=str(self.device), random_state=0, **self.params, **FIT_LATERAL,
            )  # fmt: skip
            seconds = []

            def timed(*args, **kwargs):
                FIT_THREADS["last"] = torch.get_num_threads()
                tic = clock(self.device)
                result = train(*args, **kwargs)
                seconds.append(clock(self.device) - tic)
                return result

            base_module.train = timed
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # short fits warn that they did not converge
                    steps = estimator.fit(self.X).n_steps_
            finally:
                base_module.train = train
            return steps, sum(seconds)

        return run


# ------------------------------------------------------------------ tables


# Set by --csv-dir: where each table is also written, as speed_<table>.csv.
CSV_OUTPUT = {"directory": None, "machine": ""}


def print_table(title, headers, rows):
    print(f"\n{title}")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print("  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True)))
    for row in rows:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    if CSV_OUTPUT["directory"] is not None:
        write_table_csv(title, headers, rows)


def write_table_csv(title, headers, rows):
    """``speed_table2a.csv`` etc.: the table, with its title and machine line as comments."""
    name = "speed_" + title.split(":")[0].lower().replace(" ", "") + ".csv"
    path = os.path.join(CSV_OUTPUT["directory"], name)
    with open(path, "w", newline="") as f:
        f.write(f"# {title}\n# {CSV_OUTPUT['machine']}\n")
        writer = csv.writer(f)
        writer.writerow(headers)
        writer.writerows(rows)
    print(f"(written to {path})")


def table_training(args, settings, device, peak):
    headers = ["kernel", "M", "N", "default/s", "paper/s", "fit/s", "fit thr", "fit samples/s",
               "fit/paper", "default/paper", "floor/paper", "GFLOP/step", "roofline/s",
               "fraction"]  # fmt: skip
    rows = []
    for kernel_name in KERNELS:
        for M, N in args.sizes:
            problem = Problem(kernel_name, M, N, BATCH, settings, device)
            engines = {
                "default": problem.default_engine(),
                "paper": problem.paper_engine(),
                "fit": problem.fit_engine(),
                "floor": problem.floor_engine(),
            }
            rate = interleaved_rates(engines, settings, device)
            flops = step_flops(M, N, BATCH)
            roofline = peak / flops
            rows.append([
                kernel_name, str(M), str(N), f"{rate['default']:.0f}",
                f"{rate['paper']:.0f}", f"{rate['fit']:.0f}", str(FIT_THREADS["last"]),
                f"{rate['fit'] * BATCH:.0f}",
                f"{rate['fit'] / rate['paper']:.2f}", f"{rate['default'] / rate['paper']:.2f}",
                f"{rate['floor'] / rate['paper']:.2f}", f"{flops / 1e9:.3g}", f"{roofline:.0f}",
                f"{rate['default'] / roofline:.3g}",
            ])  # fmt: skip
    print_table(
        f"Table 1: training steps/s, batch {BATCH}, float32, median of {settings.rounds} "
        "interleaved rounds (fraction = default steps/s / roofline steps/s; floor = the "
        "dense kernels of an exact-solve step alone)",
        headers,
        rows,
    )


def fused_seconds_per_step(M, N, B, settings, device):
    problem = Problem("rbf", M, N, B, settings, device)
    rate = interleaved_rates({"fused": problem.step_engine(package_step)}, settings, device)
    return 1.0 / rate["fused"]


def power_law_exponent(xs, seconds):
    """p of the least-squares fit log t = a + p log x."""
    return float(np.polyfit(np.log(xs), np.log(seconds), 1)[0])


def scaling_rows(points, settings, device, peak):
    rows, seconds = [], []
    for M, N, B in points:
        t = fused_seconds_per_step(M, N, B, settings, device)
        seconds.append(t)
        flops = step_flops(M, N, B)
        rows.append([str(M), str(N), str(B), f"{t * 1e3:.3g}", f"{flops / 1e9:.3g}",
                     f"{flops / t / peak:.3g}"])  # fmt: skip
    return rows, seconds


def table_scaling(settings, device, peak):
    headers = ["M", "N", "B", "ms/step", "GFLOP/step", "fraction"]
    points = [(SCALING_M, N, BATCH) for N in SCALING_N]
    rows, seconds = scaling_rows(points, settings, device, peak)
    title = f"Table 2a: fused step time vs N (rbf, M = {SCALING_M}, B = {BATCH})"
    print_table(title, headers, rows)
    fitted = [(N, t) for N, t in zip(SCALING_N, seconds, strict=True) if N >= SCALING_N_FIT_FROM]
    p = power_law_exponent(*zip(*fitted, strict=True))
    print(f"fitted exponent p (t ~ N^p, N >= {SCALING_N_FIT_FROM}): {p:.2f}")
    points = [(SCALING_M, SCALING_N_BATCH, B) for B in SCALING_BATCHES]
    rows, seconds = scaling_rows(points, settings, device, peak)
    print_table(
        f"Table 2b: fused step time vs batch (rbf, M = {SCALING_M}, N = {SCALING_N_BATCH})",
        headers,
        rows,
    )
    p = power_law_exponent(SCALING_BATCHES, seconds)
    print(f"fitted exponent p (t ~ B^p, all B): {p:.2f}")


def median_seconds(function, repeats, device):
    times = []
    for _ in range(repeats):
        tic = clock(device)
        function()
        times.append(clock(device) - tic)
    return statistics.median(times)


def table_transform(settings, device):
    M = SCALING_M
    X = synthetic(settings.transform_rows, M)
    cpu = torch.device("cpu")
    rows = []
    for N in TRANSFORM_SIZES:
        # a brief fit: only transform is timed, and its cost does not depend on training
        estimator = HebbianKernelSimilarityMatching(
            N, kernel="rbf", gamma=1.0 / M, batch_size=BATCH, max_iter=1,
            device=str(device), random_state=0,
        ).fit(X[: BATCH * settings.n_batches])  # fmt: skip
        nystroem = Nystroem(kernel="rbf", gamma=1.0 / M, n_components=N, random_state=0).fit(X)
        estimator.transform(X[:BATCH])  # warm-up
        repeats = settings.transform_repeats
        package = median_seconds(functools.partial(estimator.transform, X), repeats, device)
        sklearn = median_seconds(functools.partial(nystroem.transform, X), repeats, cpu)
        rows.append([str(len(X)), str(M), str(N), f"{len(X) / package:.0f}",
                     f"{len(X) / sklearn:.0f}", f"{sklearn / package:.2f}"])  # fmt: skip
    print_table(
        f"Table 3: transform rows/s, float32, median of {settings.transform_repeats} "
        "(Nystroem runs on the CPU)",
        ["rows", "M", "N", "package rows/s", "Nystroem rows/s", "package/Nystroem"],
        rows,
    )


# ------------------------------------------------------------------ memory


def current_rss_bytes():
    with open("/proc/self/statm") as statm:  # Linux: pages
        return int(statm.read().split()[1]) * resource.getpagesize()


class PeakRSS:
    """Highest resident set size while the ``with`` body runs, sampled every ms.

    ``ru_maxrss`` is a high-water mark over the whole process (data creation
    included), so it cannot isolate one call; sampling the current RSS can.
    """

    def __enter__(self):
        self.peak = self.start = current_rss_bytes()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._done.wait(0.001):
            self.peak = max(self.peak, current_rss_bytes())

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, current_rss_bytes())

    @property
    def added(self):
        return self.peak - self.start


def memory_child(mode, n_rows, n_components, device, epochs=1):
    """Run one fit or transform and print, as JSON, the peak memory it added."""
    X = synthetic(n_rows, MEMORY_M)
    estimator = HebbianKernelSimilarityMatching(
        n_components, kernel="rbf", gamma=1.0 / MEMORY_M, batch_size=BATCH, max_iter=epochs,
        device=str(device), random_state=0, **FIT_LATERAL,
    )  # fmt: skip
    # A small fit before the baseline: it pays the one-time costs (thread pools,
    # allocator and LAPACK workspaces) that would otherwise count as growth, and
    # gives transform a model.
    warm_up = clone(estimator).set_params(max_iter=1).fit(X[: 10 * BATCH])
    if mode == "transform":
        estimator = warm_up
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    tic = clock(device)
    with PeakRSS() as memory:
        if mode == "fit":
            estimator.fit(X)
            fitted = ("components_", "gains_", "lateral_weights_", "objective_history_")
            output = sum(getattr(estimator, name).nbytes for name in fitted)
        else:
            output = estimator.transform(X).nbytes
    seconds = clock(device) - tic
    result = {
        "added": memory.added,
        "data": X.nbytes,
        "output": output,
        "steps": int(estimator.n_steps_) if mode == "fit" else None,
        "seconds": seconds,
    }
    if device.type == "cuda":
        result["gpu_peak"] = torch.cuda.max_memory_allocated(device)
    print(json.dumps(result))


def table_memory(args, settings, device):
    rows = []
    small, large = settings.memory_rows
    # fit on the small data for as many steps as one epoch of the large data
    # separates what grows with the steps (allocator) from what grows with rows
    cases = [("fit", small, 1), ("fit", small, large // small), ("fit", large, 1),
             ("transform", small, 1), ("transform", large, 1)]  # fmt: skip
    for mode, n_rows, epochs in cases:
        command = [sys.executable, os.path.abspath(__file__), "--_memory-child", mode,
                   str(n_rows), str(MEMORY_N), str(epochs), "--device", str(device),
                   "--lateral", args.lateral]  # fmt: skip
        if args.threads is not None:
            command += ["--threads", str(args.threads)]
        if args.fit_n_jobs is not None:
            command += ["--fit-n-jobs", str(args.fit_n_jobs)]
        completed = subprocess.run(command, capture_output=True, text=True, check=True)
        result = json.loads(completed.stdout.strip().splitlines()[-1])
        mib = lambda b: f"{b / 2**20:.1f}"  # noqa: E731
        row = [mode, str(n_rows), str(MEMORY_M), str(MEMORY_N), str(result["steps"] or "-"),
               mib(result["data"]), mib(result["output"]), mib(result["added"])]  # fmt: skip
        if device.type == "cuda":
            row.append(mib(result["gpu_peak"]))
        rows.append(row)
    headers = ["call", "rows", "M", "N", "fit steps", "data MiB", "output MiB", "added MiB"]
    if device.type == "cuda":
        headers.append("GPU peak MiB")
    print_table(
        "Table 4: peak memory added by the call (peak RSS sampled during it minus RSS before it, "
        "fresh process each; output of fit = fitted attributes)",
        headers,
        rows,
    )


# -------------------------------------------------------------------- main


def machine_line(device):
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            names = [line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line]
        model = names[0] if names else model
    except OSError:
        pass
    gpu = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
    return (
        f"machine: {model}, os.cpu_count()={os.cpu_count()}, "
        f"torch threads={torch.get_num_threads()}, torch {torch.__version__}, "
        f"device={device}{gpu}, dtype=float32, "
        f"load average {os.getloadavg()[0]:.2f} (a busy machine slows every engine)"
    )


def parse_size(text):
    M, N = text.lower().split("x")
    return int(M), int(N)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=None, help="torch and BLAS threads")
    parser.add_argument(
        "--fit-n-jobs",
        type=int,
        default=None,
        help="n_jobs of the fit rows (default: the estimator's, None)",
    )
    parser.add_argument("--quick", action="store_true", help="small counts (about a minute)")
    parser.add_argument("--tables", type=int, nargs="+", choices=[1, 2, 3, 4], default=[1, 2, 3],
                        help="tables to run (4 is the memory table)")  # fmt: skip
    parser.add_argument("--memory", action="store_true", help="also run table 4 (memory)")
    parser.add_argument("--sizes", type=parse_size, nargs="+", default=list(TABLE1_SIZES),
                        metavar="MxN", help="table 1 sizes, e.g. 2x16 400x800")  # fmt: skip
    parser.add_argument(
        "--lateral",
        choices=["auto", "adaptive", "hebbian", "equilibrium"],
        default="auto",
        help="lateral learning of the fit rows (the default: auto)",
    )
    parser.add_argument("--csv-dir", help="also write each table to DIR/speed_<table>.csv "
                        "(doc/_data for the documentation's figures)")  # fmt: skip
    parser.add_argument("--_memory-child", nargs=4, metavar=("MODE", "ROWS", "N", "EPOCHS"),
                        help=argparse.SUPPRESS)  # fmt: skip
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    FIT_LATERAL["lateral"] = args.lateral
    if args.fit_n_jobs is not None:
        FIT_LATERAL["n_jobs"] = args.fit_n_jobs  # the estimator's own thread policy otherwise
    if args.threads is None:
        return run(args)
    torch.set_num_threads(args.threads)
    with threadpool_limits(limits=args.threads):  # numpy / scikit-learn's BLAS too
        return run(args)


def run(args):
    device = resolve_device(args.device)
    if args._memory_child:
        mode, n_rows, n_components, epochs = args._memory_child
        memory_child(mode, int(n_rows), int(n_components), device, int(epochs))
        return 0
    settings = QUICK if args.quick else FULL
    tables = set(args.tables) | ({4} if args.memory else set())
    print(machine_line(device))
    if args.csv_dir:
        os.makedirs(args.csv_dir, exist_ok=True)
        CSV_OUTPUT.update(directory=args.csv_dir, machine=machine_line(device))
    print("PaperLoop (Fig. 7) against the package's step, one step, float64:")
    if not check_paper_loop(device):
        return 1
    if tables & {1, 2}:
        peak = matmul_peak(device, settings)
        print(f"measured float32 matmul peak: {peak / 1e9:.1f} GFLOP/s")
    if 1 in tables:
        table_training(args, settings, device, peak)
    if 2 in tables:
        table_scaling(settings, device, peak)
    if 3 in tables:
        table_transform(settings, device)
    if 4 in tables:
        table_memory(args, settings, device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
