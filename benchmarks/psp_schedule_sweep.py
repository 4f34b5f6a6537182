"""PSP schedules on the linear grid, simulated: which meet both PSP targets of issue 22?

``benchmarks/linear_grid.py`` runs the package (about 0.15 ms per one-row
step). To compare many schedules, this script simulates the PSP network of
:class:`~sklearn_ksm.HebbianSimilarityMatching` in numpy with the seeds of a
cell batched (three, as in the grid, or ``--seeds``): ``y = M^{-1} W x``,
``W += 2 eta_t (y x^T - W)``, ``M += 2 eta_t (y y^T - M)`` (``tau = 1/2``),
the running (Polyak-Ruppert) average of both from step ``avg_start`` with weight ``avg_rate / (s +
avg_rate)``, and initial synapses scaled to the variance ``v`` of the first
100 rows along the initial filters (``W = s v units``, ``M = s v I``, ``s``
the ``init_scale``). A schedule is

    eta_t = min(1/4, max(1 / (2 t + 5), ramp_t rate (t0 / (t + t0)) ** power))

with ``ramp_t = min(1, t / onset)`` for the delayed slow terms of ``--ramps``
(1 otherwise): the paper's 1 / (2 t) steps for the first ``onset / 4`` or so
steps, the slow term reached at ``t = onset``.

Its initial filters are random (the package's ``init="random"``, drawn from
other generators than the package's, so figures differ from the package's
within a checkpoint) or the first k rows (``init="rows"``, as online_psp's
SM starts).

For each schedule it prints how many of the grid's 72 cells (n, k, gap,
scale) miss each target: a subspace error below 1e-2 at the end of the stream
(every seed), and a median number of rows to get there no larger than SM's
at that scale. The simulation is scale-free, so it runs scale 1 and compares
with SM at each of the three scales (SM's reach is computed once and cached
in ``--sm-cache``).

Run from the repository root (one thread per worker)::

    OMP_NUM_THREADS=1 python benchmarks/psp_schedule_sweep.py [--jobs 2]
        [--sm-cache sm_reach.json] [--verbose] [--first F] [--seeds S]
        [--ramps | --package]

The first lines are references, not schedules: the sample PCA of the rows
seen so far (offline; it keeps the n x n sample covariance), and SM's own run
at each scale held against SM at every scale, as a scale-free rule is.
The default sweep is the one recorded in doc/benchmarks.rst ("Linear networks
without tuning"), with this version's PSP schedule added third: the package's
PSP schedules (the first two: ``--first 2``), SM's own 1/t steps with SM-like
starts, and constant late floors (about 15 minutes on two cores). ``--ramps``
runs instead the previous schedule and its slow term delayed (``onset`` 200 to
800, the average starting at 50 or half the onset, random or first-rows
filters). ``--package`` runs instead the package's own PSP
(:class:`~sklearn_ksm.HebbianSimilarityMatching` with its defaults,
``partial_fit`` one row per step, as ``linear_grid.py`` runs it) at scale 1,
to hold the simulation against it.
"""

import argparse
import itertools
import json
import multiprocessing
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import linear_grid as lg  # noqa: E402

from sklearn_ksm.metrics import subspace_error  # noqa: E402

# (rate, t0, power, avg_start, avg_rate, init, init_scale[, onset])
# the package's PSP schedules: the first, the one after it, and the current
FORMER = (0.05, 20, 0.6, 50, 1.5, "random", 1.0)
PREVIOUS = (0.02, 200, 0.5, 50, 1.5, "random", 1.0)
CURRENT = (0.04, 300, 0.8, 15, 1.5, "random", 1.0)
NO_AVERAGE = 10**12
OFFLINE = "sample PCA"  # not a schedule: the top-k eigenvectors of the rows so far
PACKAGE = "package"  # not a schedule: HebbianSimilarityMatching's defaults (--package)


def schedules():
    yield FORMER
    yield PREVIOUS
    yield CURRENT
    for rate, power, t0, start, weight in itertools.product(
        [0.02, 0.05, 0.1], [0.5, 0.6, 0.7], [20, 200], [50, 300], [1.5, 3.0]
    ):
        yield rate, t0, power, start, weight, "random", 1.0
    for init, scale in itertools.product(["random", "rows"], [1.0, 0.1, 0.01, 0.001]):
        yield 0.0, 1, 1.0, NO_AVERAGE, 1.5, init, scale  # SM's 1/t steps only
        yield 0.02, 200, 0.5, 50, 1.5, init, scale
    for floor, power in itertools.product([2.5e-4, 5e-4, 1e-3, 2e-3], [0.0, 0.3]):
        cross = 1 / (2 * floor)  # where the floor meets 1 / (2 t)
        yield floor, cross, power, cross, 1.5, "rows", 0.1


def ramps():
    """The previous schedule, then its slow term delayed (``--ramps``)."""
    yield PREVIOUS
    for onset, start, init in [(400, 50, "random"), (400, 200, "random"), (200, 100, "random"),
                               (400, 200, "rows"), (800, 400, "random")]:  # fmt: skip
        yield (*PREVIOUS[:3], start, 1.5, init, 1.0, onset)


def simulate(X, k, points, tops, schedule):
    """Subspace errors at ``points`` for the seeds stacked in ``X`` (S, rows, n)."""
    rate, t0, power, avg_start, avg_rate, init, init_scale = schedule[:7]
    onset = schedule[7] if len(schedule) > 7 else None
    S, n_rows, n = X.shape
    if init == "rows":
        W = X[:, :k].copy()
    else:
        W = np.stack([np.random.RandomState(1000 + s).normal(size=(k, n)) for s in range(S)])
    W /= np.linalg.norm(W, axis=2, keepdims=True)
    v = np.mean(np.einsum("srn,skn->srk", X[:, :100], W) ** 2, axis=(1, 2))[:, None, None]
    W, M = W * v * init_scale, np.eye(k) * v * init_scale
    W_avg, M_avg = W.copy(), M.copy()
    stops, errors = set(int(p) for p in points), [[] for _ in range(S)]
    for t in range(1, n_rows + 1):
        ramp = 1.0 if onset is None else min(1.0, t / onset)
        eta = min(0.25, max(1.0 / (2 * t + 5), ramp * rate * (t0 / (t + t0)) ** power))
        x = X[:, t - 1]
        y = np.linalg.solve(M, np.einsum("skn,sn->sk", W, x)[..., None])[..., 0]
        W += 2 * eta * (y[:, :, None] * x[:, None, :] - W)
        M += 2 * eta * (y[:, :, None] * y[:, None, :] - M)
        if t > avg_start:
            weight = avg_rate / (t - avg_start + avg_rate)
            W_avg += weight * (W - W_avg)
            M_avg += weight * (M - M_avg)
        else:
            W_avg[:], M_avg[:] = W, M
        if t in stops:
            F = np.linalg.solve(M_avg, W_avg)
            for s in range(S):
                errors[s].append(subspace_error(F[s], tops[s].T))
    return errors


def cells():
    return [
        (n, k, gap)
        for n, k, gap in itertools.product(lg.DIMENSIONS, lg.COMPONENTS, lg.GAPS)
        if k < n
    ]


def run_cell(task):
    (n, k, gap), schedule, seeds = task
    n_rows = lg.stream_length(n, k, gap)
    points = lg.checkpoints(n_rows)
    data = [lg.make_stream(n, k, 1.0, gap, seed, n_rows) for seed in range(seeds)]
    if schedule == OFFLINE:
        errors = [lg.offline_reference(X, k, points, top) for X, _, top in data]
    elif schedule == PACKAGE:
        errors = [lg.run_psp(X, k, seed, points, top) for seed, (X, _, top) in enumerate(data)]
    else:
        X = np.stack([d[0] for d in data])
        errors = simulate(X, k, points, [d[2] for d in data], schedule)
    reach = float(np.median([lg.first_below(e, points) for e in errors]))
    return reach, max(e[-1] for e in errors)


def sm_reach(task):
    (n, k, gap), seed, scale = task
    n_rows = lg.stream_length(n, k, gap)
    X, _, top = lg.make_stream(n, k, scale, gap, seed, n_rows)
    points = lg.checkpoints(n_rows)
    return lg.first_below(lg.sm_reference(X, k, points, top), points)


def sm_table(pool, path, seeds):
    """Median rows SM needs to reach 1e-2 over ``seeds`` seeds, per (n, k, gap, scale)."""
    if path and os.path.exists(path):
        with open(path) as f:
            cached = json.load(f)
        if "reach" not in cached:  # written before --seeds: three seeds, no header
            cached = {"seeds": 3, "reach": cached}
        if cached["seeds"] != seeds:
            raise SystemExit(f"{path} holds SM's reach over {cached['seeds']} seeds")
        return {tuple(json.loads(key)): value for key, value in cached["reach"].items()}
    tasks = [(c, seed, scale) for c in cells() for scale in lg.SCALES for seed in range(seeds)]
    reach = pool.map(sm_reach, tasks)
    table = {
        (*c, scale): float(np.median(reach[i : i + seeds]))
        for i, (c, _, scale) in zip(range(0, len(tasks), seeds), tasks[::seeds], strict=True)
    }
    if path:
        with open(path, "w") as f:
            reach = {json.dumps(list(key)): value for key, value in table.items()}
            json.dump({"seeds": seeds, "reach": reach}, f)
    return table


def evaluate(pool, schedule, sm, seeds=3, verbose=False):
    """(cells above 1e-2 at the end, cells later than SM), out of 72."""
    results = pool.map(run_cell, [(c, schedule, seeds) for c in cells()])
    late = above = 0
    for c, (reach, final) in zip(cells(), results, strict=True):
        misses = [scale for scale in lg.SCALES if reach > sm[(*c, scale)]]
        above += len(lg.SCALES) * (final >= lg.SUBSPACE_TARGET)
        late += len(misses)
        if verbose and (misses or final >= lg.SUBSPACE_TARGET):
            print(f"  {c}: reach {reach:g}, end {final:.2e}, SM late at scales {misses}")
    return above, late


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--sm-cache", help="JSON file caching SM's reach per cell and scale")
    parser.add_argument("--verbose", action="store_true", help="list the cells each misses")
    parser.add_argument(
        "--first", type=int, help="only the first F schedules (3: the package's three so far)"
    )
    parser.add_argument("--seeds", type=int, default=3, help="seeds per cell (the grid's: 3)")
    parser.add_argument(
        "--package",
        action="store_true",
        help="the package's PSP with its defaults (as linear_grid.py runs it), instead",
    )
    parser.add_argument(
        "--ramps",
        action="store_true",
        help="the previous schedule with its slow term delayed, instead",
    )
    args = parser.parse_args(argv)
    with multiprocessing.Pool(args.jobs) as pool:
        sm = sm_table(pool, args.sm_cache, args.seeds)
        print(
            "rate t0 power avg_start avg_rate init init_scale [onset]: "
            "cells above 1e-2 / later than SM"
        )
        above, late = evaluate(pool, OFFLINE, sm, args.seeds, args.verbose)
        print(f"{OFFLINE} of the rows so far (reference, offline): {above} / {late}", flush=True)
        for scale in lg.SCALES:  # "above": never below 1e-2 at a checkpoint (median)
            never = len(lg.SCALES) * sum(np.isinf(sm[(*c, scale)]) for c in cells())
            late = sum(sm[(*c, scale)] > sm[(*c, other)] for c in cells() for other in lg.SCALES)
            print(f"SM's own run at scale {scale:g} (reference): {never} / {late}", flush=True)
        if args.package:
            above, late = evaluate(pool, PACKAGE, sm, args.seeds, args.verbose)
            print(f"the package's PSP (defaults, partial_fit): {above} / {late}", flush=True)
            return 0
        for schedule in itertools.islice(ramps() if args.ramps else schedules(), args.first):
            above, late = evaluate(pool, schedule, sm, args.seeds, args.verbose)
            start = "none" if schedule[3] == NO_AVERAGE else schedule[3]
            shown = (*schedule[:3], start, *schedule[4:])
            print(" ".join(f"{value:g}" if isinstance(value, float) else str(value)
                           for value in shown) + f": {above} / {late}", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
