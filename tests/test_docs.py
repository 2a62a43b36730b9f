"""Every code example in the documentation runs, and prints what the page says it prints.

Pages: ``README.md`` and every ``docs/**/*.md``. In each page the ```` ```python ```` blocks run in
order in one namespace (a later block may use names from an earlier one), in a fresh temporary
folder. A ```` ```text title="Output" ```` block right after a python block (blank lines between
allowed) is that block's expected standard output; ``...`` in it matches anything, as in doctest.
Titled ``"Output (numbers within 10%)"``, its numbers with a decimal point match any printed number
within that relative tolerance (or half a unit of the last digit written), so a page can print the
score a reader wants to see rather than a ``True`` chosen for the test; integers and the text
around them must match exactly. Blocks fenced as anything else (``bash``, ``text``, ``json``) are
not run.

Docstrings: every ``>>>`` example in ``src/scratchnn`` runs through :mod:`doctest`, one test per
module.
"""

from __future__ import annotations

import contextlib
import doctest
import importlib
import io
import math
import pkgutil
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

import scratchnn
from scratchnn.layers import base as layers_base

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,})(?P<info>[^`\n]*)$")
OUTPUT_INFO = re.compile(
    r'^text\s+title="Output(?: \(numbers within (?P<tolerance>\d+(?:\.\d+)?)%\))?"\s*$'
)
DECIMAL = re.compile(r"-?\d+\.\d+(?:[eE][-+]?\d+)?")
PRINTED_NUMBER = r"(-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|-?inf|nan)"
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@dataclass
class Block:
    """One fenced block of a page: its info string (``python``, ...), text and first line."""

    info: str
    code: str
    line: int
    expected: str | None = None
    tolerance: float | None = None  # relative, for the numbers of the expected output


def fenced_blocks(text: str) -> list[tuple[Block, int]]:
    """All fenced blocks with the number of the line after each one's closing fence."""
    lines = text.splitlines()
    blocks: list[tuple[Block, int]] = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        body: list[str] = []
        j = i + 1
        while j < len(lines) and lines[j].strip() != fence:
            body.append(lines[j][indent:] if lines[j][:indent].strip() == "" else lines[j])
            j += 1
        blocks.append((Block(opening["info"].strip(), "\n".join(body) + "\n", i + 1), j + 1))
        i = j + 1
    return blocks


def python_blocks(path: Path) -> list[Block]:
    """The page's python blocks, each with the output block that follows it, if any."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    blocks = fenced_blocks(text)
    found: list[Block] = []
    for index, (block, after) in enumerate(blocks):
        if block.info.split(" ")[0] != "python":
            continue
        if index + 1 < len(blocks):
            following, _ = blocks[index + 1]
            between = lines[after : following.line - 1]
            output = OUTPUT_INFO.match(following.info)
            if output and not any(s.strip() for s in between):
                block.expected = following.code
                if output["tolerance"]:
                    block.tolerance = float(output["tolerance"]) / 100
        found.append(block)
    return found


def page_id(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# Pages whose examples train for seconds: left out of the quick run (-m "not slow").
SLOW_PAGES = {"docs/guides/scale.md", "docs/tutorial.md", "docs/sklearn.md",
              "docs/guides/diagnostics.md", "docs/guides/text-data.md"}  # fmt: skip
SLOW_PAGES |= {"docs/guides/gpt.md"}  # trains a small GPT for 40 steps


@pytest.mark.parametrize(
    "page",
    [
        pytest.param(p, marks=pytest.mark.slow) if page_id(p) in SLOW_PAGES else p
        for p in PAGES
        if python_blocks(p)
    ],
    ids=page_id,
)
def test_page_examples_run_and_print_what_the_page_shows(page, tmp_path, monkeypatch):
    blocks = python_blocks(page)
    # A page may define layer classes (the custom-layer guide): keep them out of the registry.
    registered = dict(layers_base.LAYERS)
    try:
        run_page(page, blocks, tmp_path, monkeypatch)
    finally:
        layers_base.LAYERS.clear()
        layers_base.LAYERS.update(registered)


def run_page(page: Path, blocks: list[Block], tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict = {"__name__": "__docs__"}
    checker = doctest.OutputChecker()
    for block in blocks:
        where = f"{page_id(page)}, block at line {block.line}"
        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout):
            try:
                exec(compile(block.code, where, "exec"), namespace)
            except Exception as error:
                raise AssertionError(f"{where} raised {error!r}") from error
        if block.expected is not None and block.tolerance is not None:
            problem = numbers_mismatch(block.expected, stdout.getvalue(), block.tolerance)
            if problem:
                pytest.fail(f"{where} printed something else: {problem}")
        elif block.expected is not None:
            got = stdout.getvalue()
            if not checker.check_output(block.expected, got, FLAGS):
                example = doctest.Example(block.code, block.expected)
                diff = checker.output_difference(example, got, FLAGS)
                pytest.fail(f"{where} printed something else:\n{diff}")


def numbers_mismatch(expected: str, got: str, tolerance: float) -> str | None:
    """Why ``got`` does not match ``expected`` with its decimal numbers within ``tolerance``.

    ``None`` when it matches. Text between the numbers must match as in doctest (whitespace
    runs are equal, ``...`` matches anything); each decimal number of ``expected`` matches a
    printed number within ``tolerance`` relative, or half a unit of its last written digit.
    """
    pattern, wanted, end = [], [], 0

    def text(part: str) -> str:
        pieces = (re.escape(re.sub(r"\s+", " ", piece)) for piece in part.split("..."))
        return ".*?".join(pieces).replace(r"\ ", r"\s+")

    for number in DECIMAL.finditer(expected):
        pattern += [text(expected[end : number.start()]), PRINTED_NUMBER]
        wanted.append(number.group())
        end = number.end()
    pattern.append(text(expected[end:]))
    match = re.fullmatch(r"\s*" + "".join(pattern) + r"\s*", got, re.DOTALL)
    if match is None:
        return f"expected (numbers within {tolerance:.0%}):\n{expected}got:\n{got}"
    for want, printed in zip(wanted, match.groups(), strict=True):
        decimals = len(want.split(".")[1].split("e")[0].split("E")[0])
        if not math.isclose(
            float(printed), float(want), rel_tol=tolerance, abs_tol=0.5 * 10**-decimals
        ):
            return f"{printed} is not {want} within {tolerance:.0%}:\n{got}"
    return None


@pytest.mark.parametrize(
    ("expected", "got", "matches"),
    [
        ("R2: 0.47, RMSE: 53.0\n", "R2: 0.45, RMSE: 55.8\n", True),
        ("R2: 0.47\n", "R2: 0.41\n", False),  # 13% off
        ("R2: 0.47\n", "R2:   0.47123\n", True),
        ("loss 0.00\n", "loss 0.004\n", True),  # half a unit of the last digit
        ("(354, 10) 0.50\n", "(355, 10) 0.50\n", False),  # integers are exact
        ("best: alpha 0.1\n", "best: width 0.1\n", False),  # and so is the text
        ("fit in ... s, R2 0.5\n", "fit in 3.2 s, R2 0.52\n", True),
        ("R2 0.5\n", "R2 nan\n", False),
    ],
)
def test_numbers_match_within_the_tolerance_and_nothing_else(expected, got, matches):
    assert (numbers_mismatch(expected, got, 0.1) is None) == matches


def test_collector_reads_the_tolerance_from_the_title(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        '```python\nprint(0.5)\n```\n\n```text title="Output (numbers within 5%)"\n0.5\n```\n'
    )
    [block] = python_blocks(page)
    assert (block.expected, block.tolerance) == ("0.5\n", 0.05)


def test_collector_finds_code_and_outputs():
    blocks = [block for page in PAGES for block in python_blocks(page)]
    assert len(blocks) >= 20
    assert sum(block.expected is not None for block in blocks) >= 10


def test_collector_pairs_an_output_block_only_when_it_follows_directly(tmp_path):
    page = (
        "```python\nprint(1)\n```\n\n"
        '```text title="Output"\n1\n```\n'
        "```python\nprint(2)\n```\nwords\n"
        '```text title="Output"\n2\n```\n'
    )
    pairs = [(b.info, b.expected) for b, _ in fenced_blocks(page)]
    assert pairs[0] == ("python", None)
    path = tmp_path / "page.md"
    path.write_text(page)
    assert [block.expected for block in python_blocks(path)] == ["1\n", None]


def extras() -> dict[str, list[str]]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return pyproject["project"]["optional-dependencies"]


def requirement_name(requirement: str) -> str:
    return re.match(r"[A-Za-z0-9._-]+", requirement).group().lower()


def test_readme_extras_table_lists_every_extra_with_what_it_installs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Optional extras", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (`[^|]+`) \| ([^|]+) \|", table, re.MULTILINE)
    installs = {
        name: packages.lower() for names, packages in rows for name in re.findall(r"`(\w+)`", names)
    }
    assert set(installs) == set(extras())
    aliases = {"torch": "pytorch"}
    for extra, requirements in extras().items():
        if extra == "dev":  # described by reference to the others
            continue
        for name in map(requirement_name, requirements):
            assert aliases.get(name, name) in installs[extra], (extra, name)


def test_readme_quick_run_deselects_a_registered_marker():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert 'python -m pytest -q -m "not slow"' in readme
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    markers = settings["tool"]["pytest"]["ini_options"]["markers"]
    assert any(marker.startswith("slow:") for marker in markers)  # no PytestUnknownMarkWarning


INSTALL = re.compile(r"pip install (?:-e )?['\"]?(?:scratchnn|\.)\[([\w,]+)\]")


def test_every_install_line_in_the_docs_names_an_extra_that_exists():
    lines = [
        (page_id(page), found)
        for page in PAGES
        for found in INSTALL.findall(page.read_text(encoding="utf-8"))
    ]
    assert len(lines) >= 5
    for page, names in lines:
        assert set(names.split(",")) <= set(extras()), page


def docstring_examples(module_name: str) -> list[doctest.DocTest]:
    """The doctests defined in one module (not those of names it imports)."""
    module = importlib.import_module(module_name)
    tests = doctest.DocTestFinder(exclude_empty=True).find(module, module_name)
    return [test for test in tests if test.examples]


MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(scratchnn.__path__, prefix="scratchnn.")
    if not info.name.split(".")[-1].startswith("__")
)


def test_docstring_examples_exist_where_the_style_asks():
    with_examples = {name for name in MODULES if docstring_examples(name)}
    assert {"scratchnn.model", "scratchnn.gradcheck", "scratchnn.layers.dense"} <= with_examples


@pytest.mark.parametrize("module_name", [m for m in MODULES if docstring_examples(m)])
def test_docstring_examples_run(module_name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    tests = docstring_examples(module_name)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report = io.StringIO()
    for test in tests:
        runner.run(test, out=report.write)
    assert runner.failures == 0, report.getvalue()
