"""The HTML repr links each public estimator to its page of the API reference."""

import pytest

from sklearn_ksm import (
    FoldiakNetwork,
    HebbianKernelSimilarityMatching,
    HebbianSimilarityMatching,
    _doc_link,
)
from sklearn_ksm.baselines import KernelNystroem, UncenteredKernelPCA

from .test_docs import documented_names

ESTIMATORS = [HebbianKernelSimilarityMatching, HebbianSimilarityMatching, FoldiakNetwork,
              UncenteredKernelPCA, KernelNystroem]  # fmt: skip


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_link_to_the_estimators_api_page(estimator, monkeypatch):
    monkeypatch.setenv(_doc_link.DOC_URL_VARIABLE, "https://docs.example/sklearn-ksm/")
    link = estimator()._get_doc_link()
    prefix = "https://docs.example/sklearn-ksm/generated/"
    assert link.startswith(prefix) and link.endswith(".html")
    module, _, name = link.removeprefix(prefix).removesuffix(".html").rpartition(".")
    assert name == estimator.__name__
    assert (module, name) in documented_names()  # the page the docs build makes
    assert f'href="{link}"' in estimator()._repr_html_()


def test_link_falls_back_to_the_local_build_or_to_none(monkeypatch, tmp_path):
    monkeypatch.delenv(_doc_link.DOC_URL_VARIABLE, raising=False)
    monkeypatch.setattr(_doc_link, "LOCAL_BUILD", tmp_path)
    assert HebbianKernelSimilarityMatching()._get_doc_link() == ""  # no dead link
    (tmp_path / "index.html").write_text("<html></html>")
    link = HebbianKernelSimilarityMatching()._get_doc_link()
    expected = "generated/sklearn_ksm.HebbianKernelSimilarityMatching.html"
    assert link == f"{tmp_path.as_uri()}/{expected}"


def test_link_template_can_be_set_per_instance(monkeypatch):
    monkeypatch.delenv(_doc_link.DOC_URL_VARIABLE, raising=False)
    ksm = HebbianKernelSimilarityMatching()
    ksm._doc_link_template = "https://mirror.example/{estimator_name}"
    assert ksm._get_doc_link() == "https://mirror.example/HebbianKernelSimilarityMatching"
