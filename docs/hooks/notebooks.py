"""MkDocs hook: every learning-path, "how it works" and guide page, also as a Jupyter notebook.

The notebook is made from the page's own Markdown, the text that ``tests/test_docs.py`` runs:
each ```` ```python ```` block (also one folded in a ``??? note "Solution"``) becomes a code
cell, in order, and the prose between becomes Markdown cells; an ``Output`` block stays as the
output the page promises, shown in Markdown under its cell. After a build the notebooks are
written to ``site/notebooks/`` and each such page links to its own at the top.
``tests/test_notebooks.py`` builds the same notebooks and executes them with nbclient.

The notebook is plain nbformat 4 JSON, written here without nbformat, so the site builds with
only the ``docs`` extra.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,})(?P<info>[^`\n]*)$")
FOLDED = re.compile(r'^(?P<indent> *)\?\?\?\+? (?P<kind>\w+)(?: "(?P<title>[^"]*)")?\s*$')
# Pages offered as notebooks: the learning path and the guides (docs/ paths).
FOLDERS = ("how/", "guides/")
PAGES = ("foundations.md", "tutorial.md", "gradcheck.md", "mistakes.md")


def wanted(src_uri: str) -> bool:
    """Whether the page ``src_uri`` (a path under docs/) is offered as a notebook."""
    return src_uri.startswith(FOLDERS) or src_uri in PAGES


def notebook_name(src_uri: str) -> str:
    """``how/dense.md`` -> ``how-dense.ipynb``."""
    return src_uri.removesuffix(".md").replace("/", "-") + ".ipynb"


def _cell(kind: str, lines: list[str]) -> dict[str, Any]:
    source = "\n".join(lines).strip("\n")
    source_lines = [line + "\n" for line in source.split("\n")]
    source_lines[-1] = source_lines[-1].rstrip("\n")
    cell: dict[str, Any] = {"cell_type": kind, "metadata": {}, "source": source_lines}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def to_notebook(markdown: str, title: str = "") -> dict[str, Any]:
    """The notebook of one page: nbformat 4 as a JSON-ready dict."""
    cells: list[dict[str, Any]] = []
    prose: list[str] = []

    def flush() -> None:
        if any(line.strip() for line in prose):
            cells.append(_cell("markdown", prose))
        prose.clear()

    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        folded = FOLDED.match(line)
        if folded:  # a folded note: its title as a heading line, its body unindented below
            prose.append(f"**{folded['title'] or folded['kind'].capitalize()}**")
            i += 1
            continue
        opening = FENCE.match(line)
        if not opening:
            prose.append(line[4:] if line.startswith("    ") and _inside_note(lines, i) else line)
            i += 1
            continue
        indent, fence, info = len(opening["indent"]), opening["fence"], opening["info"].strip()
        body: list[str] = []
        j = i + 1
        while j < len(lines) and lines[j].strip() != fence:
            body.append(lines[j][indent:] if lines[j][:indent].strip() == "" else lines[j])
            j += 1
        if info.split(" ")[0] == "python":
            flush()
            cells.append(_cell("code", body))
        else:  # any other block, an expected output included, stays in the prose
            label = "Expected output:" if info.startswith('text title="Output') else None
            if label:
                prose += [label, ""]
            prose += [fence + info.split(" ")[0], *body, fence]
        i = j + 1
    flush()
    if title and cells and cells[0]["cell_type"] == "markdown":
        cells[0]["source"].insert(0, f"*From the scratchnn documentation: {title}.*\n\n")
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def _inside_note(lines: list[str], index: int) -> bool:
    """Whether line ``index`` is in the indented body of a ``???`` note."""
    for line in reversed(lines[:index]):
        if FOLDED.match(line):
            return True
        if line.strip() and not line.startswith("    "):
            return False
    return False


def _add_ids(notebook: dict[str, Any], stem: str) -> dict[str, Any]:
    for number, cell in enumerate(notebook["cells"]):
        cell["id"] = f"{stem[:40]}-{number}"
    return notebook


RELATIVE_LINK = re.compile(r"\]\((?!https?:|mailto:|#|/)([^)\s]+)\)")


def site_link(src_uri: str, link: str) -> str:
    """A page's relative link as seen from ``site/notebooks/``: pages by their site URL."""
    target, hash_, anchor = link.partition("#")
    parts: list[str] = []
    for part in src_uri.split("/")[:-1] + target.split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    path = "/".join(parts)
    if path.endswith(".md"):
        path = path.removesuffix(".md").removesuffix("index") + "/"
        path = path.replace("//", "/").lstrip("/")
    return "../" + path + hash_ + anchor


def notebook_json(markdown: str, src_uri: str, title: str = "") -> str:
    """The notebook file's text for the page ``src_uri``.

    Relative links and pictures are rewritten for the notebook's place in the built site,
    ``site/notebooks/``, so they work from there.
    """
    notebook = to_notebook(markdown, title)
    for cell in notebook["cells"]:
        if cell["cell_type"] == "markdown":
            cell["source"] = [
                RELATIVE_LINK.sub(lambda m: "](" + site_link(src_uri, m[1]) + ")", line)
                for line in cell["source"]
            ]
    stem = notebook_name(src_uri).removesuffix(".ipynb")
    return json.dumps(_add_ids(notebook, stem), indent=1, ensure_ascii=False)


# -- the hooks ----------------------------------------------------------------------------------

_built: dict[str, str] = {}


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    src_uri = page.file.src_uri
    if wanted(src_uri) and "```python" in markdown:
        _built[notebook_name(src_uri)] = notebook_json(markdown, src_uri, page.title or "")
    return markdown


def on_page_content(html: str, page: Any, config: Any, files: Any) -> str:
    name = notebook_name(page.file.src_uri)
    if name not in _built:
        return html
    depth = page.url.count("/")  # "how/dense/" -> 2: back to the site's root
    href = "../" * depth + "notebooks/" + name
    link = (
        f'<p class="notebook-link"><a href="{href}" download="{name}">Download this page as a '
        f"Jupyter notebook</a> (every code block, in order; the same code the tests run).</p>\n"
    )
    head, closing, rest = html.partition("</h1>")  # under the page's title
    return head + closing + "\n" + link + rest if closing else link + html


def on_post_build(config: Any) -> None:
    folder = Path(config["site_dir"]) / "notebooks"
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in _built.items():
        (folder / name).write_text(text, encoding="utf-8")
