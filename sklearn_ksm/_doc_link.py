"""The documentation link of the estimators' HTML representation.

scikit-learn's HTML repr (in notebooks) shows a "?" linking to an
estimator's API page when ``_get_doc_link`` returns a URL built from
``_doc_link_module`` and ``_doc_link_template``. The package has no
canonical web address, so the link points to, in this order:

1. the site named by the environment variable ``SKLEARN_KSM_DOC_URL`` (the
   root of a published build, e.g. ``https://example.org/sklearn-ksm``);
2. the documentation built in the source tree (``make -C doc html`` in a
   clone installed with ``pip install -e .``), as a ``file://`` URL;
3. nowhere: without either, the repr shows no link rather than a dead one.
"""

import os
import pathlib

DOC_URL_VARIABLE = "SKLEARN_KSM_DOC_URL"
# where ``make -C doc html`` writes the site, for an editable install
LOCAL_BUILD = pathlib.Path(__file__).resolve().parents[1] / "doc" / "_build" / "html"
# the API pages of doc/api.rst (autosummary): generated/<module>.<name>.html
API_PAGE = "/generated/{estimator_module}.{estimator_name}.html"


def documentation_root():
    """The root URL of the documentation, or None if there is none to link to."""
    url = os.environ.get(DOC_URL_VARIABLE, "").strip()
    if url:
        return url.rstrip("/")
    if (LOCAL_BUILD / "index.html").is_file():
        return LOCAL_BUILD.as_uri()
    return None


class DocLinkMixin:
    """Points scikit-learn's HTML repr at the package's API pages."""

    _doc_link_module = "sklearn_ksm"

    @property
    def _doc_link_template(self):
        override = self.__dict__.get("_doc_link_template_override")
        if override is not None:
            return override
        root = documentation_root()
        return "" if root is None else root + API_PAGE

    @_doc_link_template.setter
    def _doc_link_template(self, value):
        self.__dict__["_doc_link_template_override"] = value
