"""Command line: ``python -m sklearn_ksm compare`` (also the ``sklearn-ksm`` script)."""

import argparse
import math
import pathlib
import shlex
import sys
import tempfile
import time

from . import _compare
from ._device import resolve_device
from ._threads import usable_cores
from .kernels import make_kernel

QUICK = {"n_components": (4, 16), "seeds": (0,), "max_iter": 100}
MAX_SEED = 2**32 - 1  # numpy's RandomState seeds


def _integer(low, high=None):
    """An argparse type: an int in [low, high]."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low or (high is not None and value > high):
            accepted = f"between {low} and {high}" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"must be {accepted}, got {value}")
        return value

    return parse


def _finite_float(positive=False):
    """An argparse type: a finite float, > 0 if ``positive``."""

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value) or (positive and value <= 0):
            raise argparse.ArgumentTypeError(
                f"must be a finite number{' > 0' if positive else ''}, got {text}"
            )
        return value

    return parse


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
    compare.add_argument("--gamma", type=_finite_float(positive=True), help="rbf / poly gamma")
    compare.add_argument("--degree", type=_integer(1), help="poly degree / power_cosine alpha")
    compare.add_argument("--coef0", type=_finite_float(), help="poly coef0")
    compare.add_argument(
        "--n-components",
        type=_integer(1),
        nargs="+",
        metavar="N",
        help="numbers of components (default: the data set's grid)",
    )
    compare.add_argument(
        "--seeds", type=_integer(0, MAX_SEED), nargs="+", default=(0, 1, 2), metavar="SEED"
    )
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
        type=_integer(1),
        help="passes over the data for the network (default: the estimator's)",
    )
    compare.add_argument("--device", default="cpu", help="'cpu', 'cuda' or 'auto'")
    compare.add_argument(
        "--jobs",
        type=_integer(1),
        help="fits run at once, by this process and JOBS - 1 worker processes, one thread "
        "each (default: the usable cores on the CPU, 1 on a CUDA device); the results do "
        "not depend on it",
    )
    compare.add_argument("--output-dir", type=pathlib.Path, default=pathlib.Path("compare_output"))
    compare.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    compare.add_argument(
        "--quick", action="store_true", help="small run for CI: N in {4, 16}, one seed, 100 passes"
    )
    compare.set_defaults(subparser=compare)  # reports the errors found after parsing
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


def _check_output_dir(directory):
    """Create ``directory`` and check that files can be written in it, or say why not."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        return f"cannot write in {str(directory)!r}: {exc.strerror or exc}"
    return None


def _settings(parser, args):
    """Validate every option before any computation; exit with one line if one is wrong."""
    for name in ("n_components", "seeds"):
        values = getattr(args, name)
        if values is not None and len(set(values)) != len(values):
            parser.error(f"argument --{name.replace('_', '-')}: repeated values in {values}")
    try:
        device = resolve_device(args.device)
    except ValueError as exc:
        parser.error(f"argument --device: {exc}")
    jobs = args.jobs or (usable_cores() if device.type == "cpu" else 1)
    data = _compare.load_dataset(args.dataset)
    kernel = _kernel_settings(args, data)
    try:
        make_kernel(n_features=data.X.shape[1], **kernel)
    except (TypeError, ValueError) as exc:
        parser.error(f"kernel {kernel}: {exc}")
    problem = _check_output_dir(args.output_dir)
    if problem:
        parser.error(f"argument --output-dir: {problem}")
    return data, kernel, jobs


def compare(args, argv=None):
    data, kernel, jobs = _settings(args.subparser, args)
    methods = tuple(args.methods)
    if kernel["kernel"] != "rbf" and "rff" in methods:
        methods = tuple(m for m in methods if m != "rff")  # random Fourier features: rbf only
    n_components = tuple(
        args.n_components or (QUICK["n_components"] if args.quick else data.n_components)
    )
    network_params = {}
    if args.max_iter is not None or args.quick:
        network_params["max_iter"] = args.max_iter or QUICK["max_iter"]
    comparison = _compare.Comparison(
        dataset=args.dataset,
        kernel=kernel,
        n_components=n_components,
        seeds=tuple(QUICK["seeds"] if args.quick and args.seeds == (0, 1, 2) else args.seeds),
        methods=methods,
        network_params=network_params,
    )
    command = sys.argv[1:] if argv is None else list(argv)
    comparison.extras["command"] = "python -m sklearn_ksm " + shlex.join(command)
    comparison.extras["jobs"] = jobs
    print(f"{data.description}; {len(data.X)} samples", file=sys.stderr)
    tic = time.perf_counter()
    runner = _compare.run_comparison(data, comparison, device=args.device, jobs=jobs)
    comparison.extras["total_seconds"] = time.perf_counter() - tic
    _compare.save_results(comparison, args.output_dir)  # kept if a figure fails
    written = []
    if not args.no_figures:
        written = _compare.draw_figures(data, runner, comparison, args.output_dir)
        _compare.save_results(comparison, args.output_dir)  # with the clustering scores
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
    failed = sum(not math.isfinite(row["error"]) for row in comparison.rows)
    if failed == len(comparison.rows):
        print(f"error: every fit failed ({failed}); see the messages above", file=sys.stderr)
        return 1
    if failed:
        print(f"warning: {failed} of {len(comparison.rows)} fits failed", file=sys.stderr)
    return 0


def main(argv=None):
    args = build_parser().parse_args(argv)
    return compare(args, argv)


if __name__ == "__main__":
    sys.exit(main())
