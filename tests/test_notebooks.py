"""The pages' notebooks: made from the tested Markdown, valid, and they run from top to bottom.

``docs/hooks/notebooks.py`` turns each learning-path and guide page into a notebook when the site
is built. Here the same function makes them again; each must hold exactly the python blocks that
tests/test_docs.py runs, in order, pass nbformat's schema, and execute in a fresh Jupyter kernel
(nbclient) without an error. Execution is marked ``slow`` (a kernel per page, the pages' own
training runs): ``pytest -m "not slow"`` leaves it out locally; CI runs it.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from test_docs import python_blocks

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def load_hook():
    spec = importlib.util.spec_from_file_location("notebooks_hook", DOCS / "hooks/notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HOOK = load_hook()
PAGES = sorted(
    page.relative_to(DOCS).as_posix()
    for page in DOCS.rglob("*.md")
    if HOOK.wanted(page.relative_to(DOCS).as_posix()) and python_blocks(page)
)


def notebook(page: str) -> dict:
    text = (DOCS / page).read_text(encoding="utf-8")
    return json.loads(HOOK.notebook_json(text, page, "title"))


def test_the_path_and_the_guides_are_offered_as_notebooks():
    assert {"foundations.md", "tutorial.md", "how/backprop.md", "mistakes.md"} <= set(PAGES)
    assert {"guides/digits-cnn.md", "guides/diagnostics.md", "gradcheck.md"} <= set(PAGES)
    assert not HOOK.wanted("reference/model.md") and not HOOK.wanted("index.md")


@pytest.mark.parametrize("page", PAGES)
def test_notebook_holds_the_pages_tested_code_in_order(page):
    nbformat = pytest.importorskip("nbformat")
    made = notebook(page)
    nbformat.validate(nbformat.from_dict(made))
    code = ["".join(cell["source"]) for cell in made["cells"] if cell["cell_type"] == "code"]
    assert code == [block.code.strip("\n") for block in python_blocks(DOCS / page)]


def test_a_folded_solution_becomes_a_titled_cell_with_its_code_unindented():
    made = notebook("how/backprop.md")
    sources = ["".join(cell["source"]) for cell in made["cells"]]
    solution = next(i for i, s in enumerate(sources) if s.rstrip().endswith("**Solution**"))
    assert made["cells"][solution + 1]["cell_type"] == "code"
    assert sources[solution + 1].startswith("rng = np.random.default_rng(1)")
    assert "Expected output:" in sources[solution + 2]


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_notebook_runs_from_top_to_bottom(page, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    text = HOOK.notebook_json((DOCS / page).read_text(encoding="utf-8"), page)
    made = nbformat.reads(text, as_version=4)  # as a reader would open the downloaded file
    client = nbclient.NotebookClient(
        made,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    monkeypatch.setenv("MPLBACKEND", "Agg")  # the kernel inherits it
    client.execute()
    errors = [
        output
        for cell in made.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert errors == []
    assert all(cell.execution_count for cell in made.cells if cell.cell_type == "code")


@pytest.mark.parametrize(
    ("page", "link", "expected"),
    [
        ("how/dense.md", "../img/dense-network.png", "../img/dense-network.png"),
        ("foundations.md", "img/foundations-descent.png", "../img/foundations-descent.png"),
        ("how/dense.md", "backprop.md", "../how/backprop/"),
        ("how/dense.md", "../foundations.md#4-the-chain-rule", "../foundations/#4-the-chain-rule"),
        ("guides/digits-cnn.md", "../index.md#the-learning-path", "../#the-learning-path"),
    ],
)
def test_links_point_where_the_notebook_sits_in_the_site(page, link, expected):
    assert HOOK.site_link(page, link) == expected


def test_a_notebooks_pictures_and_links_are_rewritten_for_its_folder():
    made = notebook("how/dense.md")
    prose = "".join("".join(c["source"]) for c in made["cells"] if c["cell_type"] == "markdown")
    assert "](../img/dense-network.png)" in prose
    assert "](../how/backprop/)" in prose
    assert "](backprop.md)" not in prose
