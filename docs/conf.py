"""Sphinx configuration of the brian2_delgrad documentation (``sphinx-build -W -b html docs docs/_build/html``)."""
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import inventories                                    # noqa: E402  (docs/inventories.py)

import brian2_delgrad                                  # noqa: E402

os.environ.setdefault("MPLBACKEND", "agg")

project = "brian2_delgrad"
author = "the brian2_delgrad developers"
copyright = "2026, " + author
release = version = brian2_delgrad.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "examples"]
templates_path = ["_templates"]

html_theme = "furo"
html_title = f"brian2_delgrad {release}"
html_static_path = []

# API pages: one per public name, generated from the numpydoc docstrings.
autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"
autodoc_member_order = "bysource"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# A public name without its parameters or returns documented fails the build (-W).
numpydoc_validation_checks = {"PR01", "PR02", "PR03", "PR10", "RT01"}

myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3

# Cross-references into Brian2, NumPy, pandas and Python without the network: the inventories are
# written here from the installed packages (docs/inventories.py), pointing at the projects' sites.
intersphinx_mapping = inventories.write(HERE / "_build" / "inventories")
intersphinx_timeout = 1

sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "only_warn_on_example_error": False,
    "abort_on_example_error": True,
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "capture_repr": (),
}
