"""Sphinx configuration for the project's documentation.

Build with ``make docs`` (warnings are errors, references are checked):

    .venv/bin/sphinx-build -W -n --keep-going -b html docs docs/_build/html
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import django
from docutils.nodes import Element
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent / "_ext"))

# autodoc imports the code, and the code imports Django's settings.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from channels_core import exceptions  # noqa: E402  (needs Django set up)

project = "Event-driven Django"
author = "The project's developers"
copyright = "2026, the project's developers"
release = "0.1.0"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",  # the code's docstrings are Google style
    "sphinx.ext.viewcode",
    "sphinx.ext.graphviz",
    "barchart",  # docs/_ext/barchart.py: the performance charts, drawn from the figures in the page
    "sequence",  # docs/_ext/sequence.py: sequence diagrams drawn from docs/diagrams/*.seq
]

# Diagrams are drawn at build time from the .dot sources in docs/diagrams/.
if shutil.which("dot") is None:
    raise RuntimeError("the docs need Graphviz's `dot` (Debian: apt-get install graphviz; `make test` installs it)")
graphviz_output_format = "svg"

exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []

# No intersphinx: the build must work offline. References to Python's, Django's
# and the libraries' objects are therefore left unlinked rather than broken.
nitpicky = True
nitpick_ignore_regex = [
    (
        r"py:.*",
        r"(django|redis|websockets|asyncio|collections|concurrent|logging|re|threading|queue|io|types|pathlib|dataclasses)\..*",
    ),
    (r"py:.*", r"(Callable|Iterable|Iterator|Mapping|Sequence|IO|F|R|TypeVar|Any|Path)"),
    (r"py:.*", r"channels_core\.testing\.processes\.T"),  # wait_until's type variable
    (r"py:.*", r"(channels_core\.backends\.(base|config)\.)?T"),  # ByQueue's type variable
    (r"py:.*", r"(HttpRequest|SessionBase|AnonymousUser|ServerConnection|CommandParser|Context|ImproperlyConfigured)"),
    (r"py:.*", r"(_Socket|_Shard|_Dispatcher|Entry|Message|Binding|EmitKeepalives|LogFailure)"),
]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"
# Members are listed in each directive (reference/api.rst), so aliases such as Message stay out.
autodoc_default_options = {"show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False

html_theme = "furo"
html_title = "Event-driven Django"
html_static_path = ["_static"]
html_css_files = ["docs.css"]
pygments_style = "friendly"
pygments_dark_style = "monokai"


def _resolve_core_exceptions(app: Sphinx, env: BuildEnvironment, node: Element, contnode: Element) -> Element | None:
    """Link the code's short ``:exc:`ChannelFull``` references to ``channels_core.exceptions``."""
    target = node.get("reftarget", "")
    if node.get("refdomain") != "py" or target not in exceptions.__all__:
        return None
    resolved: Element | None = env.get_domain("py").resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], f"channels_core.exceptions.{target}", node, contnode
    )
    return resolved


def setup(app: Sphinx) -> None:
    app.connect("missing-reference", _resolve_core_exceptions)
