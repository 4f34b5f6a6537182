"""Sphinx configuration for the sklearn-ksm documentation.

Build with ``make -C doc html`` (warnings are errors). The build runs the
gallery examples (``examples/plot_*.py``) in their quick mode and the
half-moons comparison command whose figures the results page shows; it needs
no network.
"""

import os
import pathlib
import re
import subprocess
import sys

# One thread for BLAS and torch, set before torch is imported: on small
# machines (CI has 2 cores) the thread pools of the examples otherwise compete
# and run several times slower (see doc/results_mnist.rst, "Run time").
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import sklearn_ksm  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

project = "sklearn-ksm"
author = "the sklearn-ksm developers"
copyright = "the sklearn-ksm developers"
release = version = sklearn_ksm.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    # Math rendering offline: sphinx.ext.mathjax alone loads MathJax from a
    # CDN, so pages opened without network (and this project's machines,
    # which reach only package registries) would show raw TeX. This extension
    # ships MathJax 3 in its wheel, copies it to _build/html/_static/mathjax
    # and points mathjax_path there. imgmath was not chosen: it needs a LaTeX
    # installation, which pip cannot provide.
    "sphinx-mathjax-offline",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    # Numbers quoted in the text (|moons-network-16|, ...) and the benchmarks
    # page's figures, from the result files on every build: doc/_ext/ksm_data.py.
    "ksm_data",
]

templates_path = ["templates"]
exclude_patterns = [
    "_build",
    "_data",
    "_static",
    "_ext",
    "templates",
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.zip",
    "auto_examples/*.json",
    "auto_examples/*.md5",
    "auto_examples/*.codeobj.json",
]
default_role = "literal"

# ------------------------------------------------------------------ API pages

autosummary_generate = True
autodoc_typehints = "none"
autodoc_default_options = {"members": True, "inherited-members": True}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# numpydoc's validation, limited to the checks that catch real omissions:
# a public object with no docstring, a parameter that is not documented or
# documented but not in the signature, and no Examples section.
numpydoc_validation_checks = {"GL08", "PR01", "PR02", "EX01"}
numpydoc_validation_exclude = {
    r"\.__init__$",
    r"\.__call__$",
    r"\.__repr__$",
    # Methods whose contract is scikit-learn's (documented there, with
    # Examples on the class) and the kernels' internal derivative helpers.
    r"\.(fit|partial_fit|transform|fit_transform|score|plot|from_estimator|"
    r"from_kernel|from_responses)$",
    r"\.(diag|diag_grad|grad_second|gram_and_slope|gradient_factors|diag_grad_factor|"
    r"get_params|sklearn_metric)$",
    r"^sklearn_ksm\.kernels\.KERNEL_NAMES$",  # a constant
}

# ------------------------------------------------------------ theme and math

html_theme = "pydata_sphinx_theme"
html_title = f"sklearn-ksm {version}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"index": [], "results_*": [], "benchmarks": []}
html_static_path = ["_static"]
html_css_files = ["sklearn_ksm.css"]
html_show_sourcelink = False
# Method entries in the page's table of contents as "fit", not the full path.
toc_object_entries_show_parents = "hide"
# Whole numbers of equations are referred to by the paper's numbers, in text.
math_number_all = False

# Links to other projects' documentation (numpy, scikit-learn, torch) need
# their inventories from the network; this project's machines and CI have
# none, and a failed fetch is a warning (an error under -W). Opt in with
# SKLEARN_KSM_DOC_INTERSPHINX=1 where the network is reachable.
if os.environ.get("SKLEARN_KSM_DOC_INTERSPHINX") == "1":
    extensions.append("sphinx.ext.intersphinx")
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "sklearn": ("https://scikit-learn.org/stable", None),
        "torch": ("https://docs.pytorch.org/docs/stable", None),
    }

# ------------------------------------------------------------------- gallery

# The examples run in their quick mode, which is what a script does when run
# with no arguments (``--full`` gives the papers' scale): small data and short
# training, exactly what tests/test_examples.py runs. sphinx-gallery passes no
# arguments (its ``reset_argv`` is left at the default), and the scripts read
# theirs with ``parse_known_args``. ``-D plot_gallery=0`` skips running them.
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "doc_module": ("sklearn_ksm",),
    "backreferences_dir": "generated/backreferences",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "matplotlib_animations": False,
    "show_memory": False,
    "image_scrapers": ("matplotlib",),
}

# ---------------------------------------------- the half-moons comparison run

# doc/results_moons.rst shows the output and figures of the comparison
# command. The build runs it (244 s in a build on a 2-core Intel Xeon VM at
# load average 8-12, other jobs running) into doc/generated/, so
# the page is never stale; ``make clean`` removes it, and a build reuses a
# finished run.
COMPARE_DIR = HERE / "generated" / "compare_moons"
COMPARE_COMMAND = ["compare", "--dataset", "moons", "--output-dir", str(COMPARE_DIR)]


def run_comparison(app):
    output = COMPARE_DIR / "output.txt"
    if output.exists() and (COMPARE_DIR / "error_vs_n.png").exists():
        return
    COMPARE_DIR.mkdir(parents=True, exist_ok=True)
    completed = subprocess.run(
        [sys.executable, "-m", "sklearn_ksm", *COMPARE_COMMAND],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"python -m sklearn_ksm {' '.join(COMPARE_COMMAND)} failed:\n{completed.stderr}"
        )
    # The printed table, minus the last line (it names the local output path).
    lines = completed.stdout.rstrip().splitlines()
    if lines and lines[-1].startswith("saved "):
        lines = lines[:-1]
    output.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")


_TYPE_LINE = re.compile(r"^(\*{0,2}\w[\w, *]*) : (.*)$")
_TRAILING_UNDERSCORE = re.compile(r"(?<![\w`\\])([A-Za-z]\w*?)_(?=[^\w`]|$)")


def escape_type_references(app, what, name, obj, options, lines):
    """Escape ``name_`` in the type of a numpydoc parameter or attribute.

    scikit-learn-style types such as ``ndarray of shape (n_steps_,)`` end a
    word in an underscore, which reStructuredText reads as a link to a target
    ``n_steps``. Runs before numpydoc, on the raw ``name : type`` lines only
    (never on descriptions or code).
    """
    for i, line in enumerate(lines):
        match = _TYPE_LINE.match(line)
        if match and "`" not in match.group(2):
            escaped = _TRAILING_UNDERSCORE.sub(r"\1\\_", match.group(2))
            lines[i] = f"{match.group(1)} : {escaped}"


def skip_foreign_members(app, what, name, obj, skip, options):
    """Document members inherited from sklearn_ksm classes, not scikit-learn's.

    ``get_params``, ``set_output`` and the like are scikit-learn's, with
    scikit-learn's docstrings (whose cross-references point into its own
    documentation); they are listed on scikit-learn's pages.
    """
    module = getattr(obj, "__module__", None) or ""
    if what in ("class", "exception") and not module.startswith("sklearn_ksm"):
        return True
    return None


def allow_missing_gallery_images(app, config):
    """With ``-D plot_gallery=0`` the examples do not run, so the results
    pages' figures drawn by them are missing: do not fail on that."""
    if str(config.plot_gallery).lower() in ("0", "false"):
        config.suppress_warnings = [*config.suppress_warnings, "image.not_readable"]


def setup(app):
    app.connect("config-inited", allow_missing_gallery_images)
    app.connect("builder-inited", run_comparison)
    app.connect("autodoc-skip-member", skip_foreign_members)
    # Before numpydoc (priority 500) turns the sections into reStructuredText.
    app.connect("autodoc-process-docstring", escape_type_references, priority=100)
