"""Command line: ``python -m sklearn_ksm compare`` (also the ``sklearn-ksm`` script)."""

import argparse
import pathlib
import shlex
import sys
import time

from . import _compare

QUICK = {"n_components": (4, 16), "seeds": (0,), "max_iter": 100}


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m sklearn_ksm",
        description="Kernel similarity matching with Hebbian networks.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    compare = commands.add_parser(
        "compare",
        help="compare the Hebbian network with kernel PCA, Nystroem and random features",
        description="Fit every method for every N and seed; print the relative kernel "
        "approximation error and fit time, save them (results.csv, summary.json) and "
        "the paper's figures (PNG) in the output directory.",
    )
    compare.add_argument(
        "--dataset",
        choices=("moons", "digits", "mnist"),
        default="moons",
        help="data set (default: the paper's half moons)",
    )
    compare.add_argument(
        "--kernel",
        choices=("rbf", "power_cosine", "linear", "poly"),
        help="kernel (default: the data set's: rbf for moons and digits, power_cosine for mnist)",
    )
    compare.add_argument("--gamma", type=float, help="rbf / poly gamma")
    compare.add_argument("--degree", type=int, help="poly degree / power_cosine alpha")
    compare.add_argument("--coef0", type=float, help="poly coef0")
    compare.add_argument(
        "--n-components",
        type=int,
        nargs="+",
        metavar="N",
        help="numbers of components (default: the data set's grid)",
    )
    compare.add_argument("--seeds", type=int, nargs="+", default=(0, 1, 2), metavar="SEED")
    compare.add_argument(
        "--methods",
        nargs="+",
        choices=_compare.METHODS,
        default=_compare.METHODS,
        metavar="METHOD",
        help=f"subset of {', '.join(_compare.METHODS)}",
    )
    compare.add_argument(
        "--max-iter",
        type=int,
        help="passes over the data for the network (default: the estimator's)",
    )
    compare.add_argument("--device", default="cpu", help="'cpu', 'cuda' or 'auto'")
    compare.add_argument("--output-dir", type=pathlib.Path, default=pathlib.Path("compare_output"))
    compare.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    compare.add_argument(
        "--quick", action="store_true", help="small run for CI: N in {4, 16}, one seed, 100 passes"
    )
    return parser


def _kernel_settings(args, data):
    if args.kernel is not None and args.kernel != data.kernel["kernel"]:
        kernel = {"kernel": args.kernel}
    else:
        kernel = dict(data.kernel)
    for name in ("gamma", "degree", "coef0"):
        if getattr(args, name) is not None:
            kernel[name] = getattr(args, name)
    return kernel


def compare(args):
    data = _compare.load_dataset(args.dataset)
    kernel = _kernel_settings(args, data)
    methods = tuple(args.methods)
    if kernel["kernel"] != "rbf" and "rff" in methods:
        methods = tuple(m for m in methods if m != "rff")  # random Fourier features: rbf only
    n_components = tuple(
        args.n_components or (QUICK["n_components"] if args.quick else data.n_components)
    )
    network_params = {}
    if args.max_iter or args.quick:
        network_params["max_iter"] = args.max_iter or QUICK["max_iter"]
    comparison = _compare.Comparison(
        dataset=args.dataset,
        kernel=kernel,
        n_components=n_components,
        seeds=tuple(QUICK["seeds"] if args.quick and args.seeds == (0, 1, 2) else args.seeds),
        methods=methods,
        network_params=network_params,
    )
    comparison.extras["command"] = "python -m sklearn_ksm " + shlex.join(sys.argv[1:])
    print(f"{data.description}; {len(data.X)} samples", file=sys.stderr)
    tic = time.perf_counter()
    runner = _compare.run_comparison(data, comparison, device=args.device)
    comparison.extras["total_seconds"] = time.perf_counter() - tic
    written = []
    if not args.no_figures:
        written = _compare.draw_figures(data, runner, comparison, args.output_dir)
    _compare.save_results(comparison, args.output_dir)
    print(_compare.format_table(comparison))
    scores = comparison.extras.get("clustering_adjusted_rand_index")
    if scores:
        print(
            f"\n2-means adjusted Rand index with the true labels: on x {scores['x']:.3f}, "
            f"on network y (N = {scores['n_components']}) {scores['y']:.3f}, "
            f"on y / |y| {scores['y_normalized']:.3f}"
            + (
                f", on the optimal rank-N features {scores['optimal']:.3f}"
                if "optimal" in scores
                else ""
            )
        )
    print(
        f"\nsaved results.csv, summary.json{''.join(', ' + p.name for p in written)} "
        f"in {args.output_dir}/ ({comparison.extras['total_seconds']:.0f} s)"
    )
    return 0


def main(argv=None):
    args = build_parser().parse_args(argv)
    return compare(args)


if __name__ == "__main__":
    sys.exit(main())
