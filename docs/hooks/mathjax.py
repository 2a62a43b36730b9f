"""MkDocs hook: the built site serves its own copy of MathJax, so formulas render offline.

MathJax comes from the ``django-static-mathjax`` package on PyPI (a plain copy of MathJax 3's
``es5`` build; despite the name it needs no Django), installed by the ``docs`` and ``dev``
extras. After each build the parts a page can ask for are copied to ``site/js/mathjax/``; pages
load ``js/mathjax/tex-mml-chtml.js`` (see ``extra_javascript`` in ``mkdocs.yml``), which finds
its fonts and on-demand extensions beside itself. Nothing is fetched from a CDN, and nothing
vendored is committed to the repository.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError

TARGET = "js/mathjax"
# The combined script the pages load, then what it loads on demand: TeX extensions that macros
# autoload, the CHTML fonts, and the context menu's accessibility parts (explorer, speech).
PARTS = (
    "tex-mml-chtml.js",
    "input/tex/extensions",
    "output/chtml/fonts",
    "a11y",
    "sre",
    "ui",
)


def mathjax_es5() -> Path:
    """The folder holding MathJax's ``es5`` build inside the installed package."""
    try:
        root = Path(str(resources.files("mathjax"))) / "static" / "mathjax"
    except ModuleNotFoundError:
        root = None
    if root is None or not (root / "es5" / PARTS[0]).is_file():
        raise PluginError(
            "MathJax not found: the documentation serves its own copy from the "
            "'django-static-mathjax' package; install it with pip install -e '.[docs]'"
        )
    return root / "es5"


def on_post_build(config: MkDocsConfig, **kwargs: object) -> None:
    """Copy MathJax (with its licence) into the built site."""
    source = mathjax_es5()
    target = Path(config["site_dir"]) / TARGET
    shutil.rmtree(target, ignore_errors=True)
    for part in PARTS:
        origin = source / part
        if origin.is_dir():
            shutil.copytree(origin, target / part)
        else:
            (target / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target / part)
    shutil.copy2(source.parent / "LICENSE", target / "LICENSE")
