"""The learning path holds together: one order everywhere, each page linking the next.

The order is the one of the navigation's "The learning path" section (mkdocs.yml); the home
page's table lists the same pages in the same order, each page names its step and links the
next one, every "how it works" page ends with exercises whose solutions are folded (their code
runs in tests/test_docs.py), and every figure a page shows exists and stays small.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
LINK = re.compile(r"\]\(([^)#\s]+\.md)(?:#[^)]*)?\)")
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+\.png)\)")


def path_pages() -> list[str]:
    import yaml  # installed with mkdocs (the docs and dev extras)

    config = yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
    [section] = [entry for entry in config["nav"] if "The learning path" in entry]
    return [next(iter(step.values())) for step in section["The learning path"]]


def resolve(page: str, link: str) -> str:
    """A link on ``page`` as a path under docs/."""
    parts: list[str] = []
    for part in (PurePosixPath(page).parent / link).parts:
        if part == "..":
            parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts)


def text(page: str) -> str:
    return (DOCS / page).read_text(encoding="utf-8")


def test_the_path_runs_from_foundations_to_the_cnn_guide():
    pages = path_pages()
    assert pages[0] == "foundations.md" and pages[1] == "tutorial.md"
    assert pages.index("how/dense.md") < pages.index("how/backprop.md")
    assert pages.index("how/backprop.md") < pages.index("how/activations.md")
    assert pages.index("gradcheck.md") < pages.index("guides/diagnostics.md")
    assert pages.index("how/convolution.md") > pages.index("how/optimizers.md")
    assert pages.index("guides/digits-cnn.md") == pages.index("how/convolution.md") + 1


def test_home_page_table_lists_the_path_in_navigation_order():
    table = text("index.md").split("## The learning path", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\d+) \| \[[^\]]+\]\(([^)]+)\) \|", table, re.MULTILINE)
    assert [int(step) for step, _ in rows] == list(range(1, len(rows) + 1))
    assert [page for _, page in rows] == path_pages()
    assert rows[-1][1] == "guides/gpt.md"  # the path ends at the transformer


@pytest.mark.parametrize("step", range(1, len(path_pages()) + 1))
def test_each_page_names_its_step_its_needs_and_links_the_next(step):
    pages = path_pages()
    page = pages[step - 1]
    body = text(page)
    assert f"**Step {step} of the [learning path]" in body, page
    assert "Needs:" in body.split("\n\n", 3)[1] + body.split("\n\n", 3)[2], page
    [next_line] = re.findall(r"^\*\*Next:\*\*.*(?:\n(?!\n).*)*", body, re.MULTILINE)
    targets = [resolve(page, link) for link in LINK.findall(next_line)]
    if step < len(pages):
        assert targets and targets[0] == pages[step], (page, targets)
    else:  # the last page says what comes next, even before its page exists
        assert len(next_line) > len("**Next:** "), page


HOW_PAGES = [
    "how/dense.md",
    "how/backprop.md",
    "how/activations.md",
    "how/regression-losses.md",
    "how/cross-entropy.md",
    "how/optimizers.md",
    "how/regularization.md",
    "gradcheck.md",
    "how/convolution.md",
    "how/graphs.md",
    "how/recurrent.md",
    "how/attention.md",
]


@pytest.mark.parametrize("page", HOW_PAGES)
def test_how_pages_end_with_exercises_and_folded_solutions_that_run(page):
    body = text(page)
    exercises = body.split("## Exercises", 1)[1]
    solutions = exercises.count('??? note "Solution')
    assert solutions >= 2, page
    # a folded solution's code is indented under it, and tests/test_docs.py runs it
    assert exercises.count("    ```python") >= 1, page


def test_common_mistakes_page_shows_each_mistake_failing_and_fixed():
    body = text("mistakes.md")
    headings = re.findall(r"^## \d\. (.+)$", body, re.MULTILINE)
    assert len(headings) == 6
    for wanted in ("Softmax applied twice", "from_logits", "1/N", "grads[...]", "(N,)", "Unscaled"):
        assert any(wanted in heading for heading in headings), wanted
    assert body.count("**Fixed**") == 6


def test_every_figure_exists_and_is_small():
    shown = set()
    for page in DOCS.rglob("*.md"):
        name = page.relative_to(DOCS).as_posix()
        for image in IMAGE.findall(page.read_text(encoding="utf-8")):
            target = DOCS / resolve(name, image)
            assert target.is_file(), (name, image)
            shown.add(target.name)
    for png in (DOCS / "img").glob("*.png"):
        assert png.stat().st_size < 200_000, png.name
    script = (DOCS / "scripts" / "figures.py").read_text(encoding="utf-8")
    drawn = {name + ".png" for name in re.findall(r'^@figure\("([\w-]+)"\)', script, re.MULTILINE)}
    assert len(drawn) >= 9
    assert drawn <= shown  # every figure the script draws is on a page
    assert all((DOCS / "img" / name).is_file() for name in drawn)


def test_the_figures_script_still_draws(tmp_path, monkeypatch):
    # Two cheap figures, into a temporary folder: the script keeps up with the library's API.
    pytest.importorskip("matplotlib")
    import importlib.util

    spec = importlib.util.spec_from_file_location("figures", DOCS / "scripts" / "figures.py")
    figures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(figures)
    monkeypatch.setattr(figures, "IMG", tmp_path / "docs" / "img")
    figures.IMG.mkdir(parents=True)
    figures.main(["activations", "maxpool-routing"])
    drawn = sorted(path.name for path in figures.IMG.iterdir())
    assert drawn == ["activations.png", "maxpool-routing.png"]
    assert all(0 < (figures.IMG / name).stat().st_size < 200_000 for name in drawn)
    with pytest.raises(SystemExit, match="no figure named"):
        figures.main(["no-such-figure"])
