"""Sphinx configuration of the eegm2_sklearn documentation.

Build (from the repository root, offline, warnings are errors)::

    python -m sphinx -W -b html docs docs/_build/html

Environment variables read here:

- ``EEGM2_DATA``: folder of the EEGMAT recordings used by the gallery. When unset, the
  folder ``../shared/data/eegmat`` beside the repository is used if it exists; otherwise
  :func:`eegm2_sklearn.datasets.fetch_eegmat` downloads the data.
- ``EEGM2_EXAMPLES_QUICK=1``: run the gallery in its short mode (fewer subjects and
  epochs) for a fast check of the site; the published site is built without it.
- ``EEGM2_DOCS_INTERSPHINX=1``: link to the documentation of Python, NumPy, MNE,
  scikit-learn, PyTorch, ... (downloads their inventories, so it needs the network).
- ``EEGM2_DOCS_PLOT_GALLERY=0``: do not run the examples (the gallery pages then have no
  figures); for editing the prose quickly.
"""

from __future__ import annotations

import os
import sys
import warnings
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))  # the checkout's package, installed or not

if not os.environ.get("EEGM2_DATA"):
    _local_data = REPO.parent / "shared" / "data" / "eegmat"
    if _local_data.is_dir():
        os.environ["EEGM2_DATA"] = str(_local_data)

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import eegm2_sklearn  # noqa: E402

# braindecode imports its model zoo, which asks MNE for a montage name MNE deprecates;
# the warning says nothing about this package and would clutter the examples' output.
warnings.filterwarnings(
    "ignore", message="Montage name 'standard_1020' is deprecated", category=FutureWarning
)

#: Whether to link other projects' docs (downloads their inventories).
INTERSPHINX = os.environ.get("EEGM2_DOCS_INTERSPHINX", "") not in ("", "0")

# -- project ----------------------------------------------------------------------------
project = "eegm2_sklearn"
author = "eegm2_sklearn developers"
copyright = f"{date.today().year}, {author}"  # noqa: A001
release = eegm2_sklearn.__version__
version = ".".join(release.split(".")[:2])

# -- extensions -------------------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
try:  # markdown pages (benchmarks, performance); the docs extra installs it
    import myst_parser  # noqa: F401

    extensions.append("myst_parser")
    source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
    myst_enable_extensions = ["dollarmath", "colon_fence"]
    myst_heading_anchors = 3
except ImportError:
    source_suffix = {".rst": "restructuredtext"}

templates_path = ["_templates"]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "auto_examples/*.ipynb"]
root_doc = "index"
default_role = "py:obj"
pygments_style = "sphinx"

# -- autodoc / autosummary / numpydoc -----------------------------------------------------
autosummary_generate = True
autodoc_typehints = "none"  # numpydoc's "Parameters" give the types
autodoc_member_order = "groupwise"
autodoc_default_options = {"inherited-members": True}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
# numpydoc's built-in aliases point to intersphinx labels (``bool`` to Python's docs, ...),
# which are undefined offline: link parameter types only when intersphinx is on.
numpydoc_xref_param_type = INTERSPHINX
numpydoc_xref_ignore = "all"  # link only the aliases below
numpydoc_xref_aliases = {
    "ndarray": "numpy.ndarray",
    "Epochs": "mne.Epochs",
    "Raw": "mne.io.Raw",
    "Tensor": "torch.Tensor",
    "Figure": "matplotlib.figure.Figure",
    "Axes": "matplotlib.axes.Axes",
    "DataFrame": "pandas.DataFrame",
    "EEGM2Pretrainer": "eegm2_sklearn.EEGM2Pretrainer",
    "EEGM2Classifier": "eegm2_sklearn.EEGM2Classifier",
}


def _skip_foreign_members(app, what, name, obj, skip, options):
    """Document only members written in this package, not those of torch or sklearn.

    ``inherited-members`` brings in what the estimators share through their private base
    class (``module_``, ``history_``); this drops what they inherit from scikit-learn,
    skorch and torch, whose docstrings belong to (and link within) those projects.
    """
    if what != "class" or skip:
        return skip
    target = obj.fget if isinstance(obj, property) else obj
    module = getattr(target, "__module__", None) or ""
    if module and not module.startswith("eegm2_sklearn"):
        return True
    return skip


# -- intersphinx: only on request (the build must pass offline) ---------------------------
if INTERSPHINX:
    extensions.append("sphinx.ext.intersphinx")
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "scipy": ("https://docs.scipy.org/doc/scipy", None),
        "matplotlib": ("https://matplotlib.org/stable", None),
        "pandas": ("https://pandas.pydata.org/docs", None),
        "sklearn": ("https://scikit-learn.org/stable", None),
        "mne": ("https://mne.tools/stable", None),
        "torch": ("https://docs.pytorch.org/docs/stable", None),
        "braindecode": ("https://braindecode.org/stable", None),
        "skorch": ("https://skorch.readthedocs.io/en/stable", None),
    }

# -- sphinx-gallery ---------------------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": str(REPO / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "plot_gallery": os.environ.get("EEGM2_DOCS_PLOT_GALLERY", "True") not in ("0", "False"),
    "doc_module": ("eegm2_sklearn",),
    "backreferences_dir": "generated/backreferences",
    "image_scrapers": ("matplotlib",),
    "remove_config_comments": True,
    # show HTML reprs (a Pipeline's diagram) of a cell's last expression, not the text
    # reprs of matplotlib objects that plotting calls return
    "capture_repr": ("_repr_html_",),
    "min_reported_time": 0,
    "abort_on_example_error": False,
    "show_memory": False,
    "matplotlib_animations": False,
}

# -- HTML -------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"eegm2_sklearn {release}"
html_static_path = ["_static"]
html_show_sourcelink = False
html_theme_options = {
    "navbar_end": ["theme-switcher", "navbar-icon-links"],
    "header_links_before_dropdown": 4,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_context = {"default_mode": "light"}

# -- pages written by the benchmark and scale-out work ------------------------------------
#: Top-level pages (Markdown or reST in docs/) that the toctrees list when they exist,
#: by token: index.rst holds ``@BENCHMARK_PAGES@`` and ``@OTHER_PAGES@``,
#: user_guide/index.rst ``@GUIDE_PAGES@``. Any other top-level page goes to "More", so a
#: new page never breaks the -W build by being in no toctree.
PAGE_GROUPS = {
    "@BENCHMARK_PAGES@": ("benchmarks", "performance"),
    "@GUIDE_PAGES@": ("scaling_out",),
}
_LISTED = {"index", "install", "api", "development"}
_SUFFIXES = (".rst", ".md")


def _top_level_pages() -> list[str]:
    return sorted(p.stem for p in HERE.iterdir() if p.suffix in _SUFFIXES and p.is_file())


def _toctree_entries(token: str, prefix: str = "") -> str:
    present = set(_top_level_pages())
    if token == "@OTHER_PAGES@":
        grouped = {name for names in PAGE_GROUPS.values() for name in names}
        names = sorted(present - grouped - _LISTED)
    else:
        names = [name for name in PAGE_GROUPS[token] if name in present]
    return "\n".join(f"   {prefix}{name}" for name in names)


def _fill_toctrees(app, docname, source):
    """Replace the page tokens of the toctrees by the pages that exist."""
    prefix = "/" if docname != "index" else ""
    for token in (*PAGE_GROUPS, "@OTHER_PAGES@"):
        if token in source[0]:
            source[0] = source[0].replace(f"   {token}", _toctree_entries(token, prefix))


# ``.. only:: scaling_out`` in the user guide: text that points to that page if it exists
for _page in _top_level_pages():
    tags.add(f"page_{_page}")  # noqa: F821 - Sphinx provides ``tags`` to conf.py


def setup(app):
    app.connect("autodoc-skip-member", _skip_foreign_members)
    app.connect("source-read", _fill_toctrees)
