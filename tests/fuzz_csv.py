"""Fuzz ``load_csv``'s one-hot and delimiter handling: random tables, written and read back.

Each case writes a random table (numbers, categories, names with ``=`` or spaces, missing
values; comma, semicolon, tab, bar or whitespace separated; a header or not, CRLF, a BOM, a
title line, a repeated header) and reads it with random ``delimiter``, ``one_hot``, ``target``,
``drop`` and ``header`` arguments. ``load_csv`` may refuse with ``ValueError`` or
``TypeError``; what it returns must hold: ``X`` finite float64 of one row per ``y``, one name
per column, each one-hot block one 1 per row. A *clean* case (the right delimiter, a header of
distinct names, every text column one-hot or the target, no missing value) must load, with the
values written. Anything else is an *escape*.

``tests/test_file_fuzzing.py`` runs a few hundred seeded cases; for a long run::

    python tests/fuzz_csv.py --cases 20000 --seed 1
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scratchnn.datasets import load_csv

SEPARATORS = [",", ",", ";", "\t", "|", " "]
NAMES = ["a", "b", "size", "colour=hue", "x y", "=", "a=b=c", "1", "", "é", "NA", "label"]
CATEGORIES = ["red", "blue", "green", "a=b", "x y", "=", "é", "NaN?", "1e5x", "N/A"]


@dataclass
class Table:
    """A table as written: its text, separator, columns, names, and what a clean read gives."""

    text: str
    separator: str
    columns: list[list[str]]  # per column, the fields as written
    kinds: list[str]  # "number" or "text"
    names: list[str] | None
    clean: bool


def random_table(rng: np.random.Generator) -> Table:
    rows, width = int(rng.integers(1, 25)), int(rng.integers(1, 6))
    separator = SEPARATORS[int(rng.integers(len(SEPARATORS)))]
    clean = True
    columns, kinds = [], []
    for _ in range(width):
        if rng.random() < 0.55:
            values = rng.normal(size=rows) * 10.0 ** int(rng.integers(-3, 4))
            fields = [repr(float(v)) for v in values]
            kinds.append("number")
        else:
            pool = CATEGORIES[: int(rng.integers(1, len(CATEGORIES) + 1))]
            if rng.random() < 0.05:  # an identifier column: as many categories as rows
                pool = [f"id{i}" for i in range(2000)]
            fields = [pool[int(rng.integers(len(pool)))] for _ in range(rows)]
            kinds.append("text")
            clean &= "N/A" not in fields  # a missing-value word, refused as one
        if rng.random() < 0.08:
            fields[int(rng.integers(rows))] = str(rng.choice(["", "NA", "?", "nan", "inf"]))
            clean = False
        if any(separator in f or (separator == " " and f != f.strip()) for f in fields):
            clean = False
        columns.append(fields)
    names = None
    if rng.random() < 0.75:
        names = [NAMES[int(rng.integers(len(NAMES)))] for _ in range(width)]
        if rng.random() < 0.5:
            names = [f"{name}{i}" for i, name in enumerate(names)]
        if len(set(names)) < width or any(
            not n or n.strip() != n or _number(n) or n in ("NA", "=") or separator in n
            for n in names
        ):
            clean = False
    lines = [separator.join(row) for row in zip(*columns, strict=True)]
    if names is not None:
        lines.insert(0, separator.join(names))
        if rows > 2 and rng.random() < 0.05:
            lines.insert(int(rng.integers(2, len(lines))), lines[0])
            clean = False
    if separator == " " and any(" " in f for column in columns for f in column):
        clean = False
    newline = "\r\n" if rng.random() < 0.2 else "\n"
    text = newline.join(lines) + newline
    if rng.random() < 0.05:
        text = "\ufeff" + text
    return Table(text, separator, columns, kinds, names, clean)


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@dataclass
class Report:
    cases: int = 0
    outcomes: Counter = field(default_factory=Counter)
    escapes: list[str] = field(default_factory=list)


def _arguments(rng: np.random.Generator, table: Table) -> tuple[dict[str, Any], bool]:
    """Random ``load_csv`` arguments, and whether they read the table cleanly."""
    width = len(table.columns)
    clean = table.clean
    right = "whitespace" if table.separator == " " else table.separator
    delimiter = right if rng.random() < 0.8 else str(rng.choice([",", ";", "\t", "|", "::"]))
    clean &= delimiter == right
    header: bool | None = None if rng.random() < 0.7 else table.names is not None
    if rng.random() < 0.05:
        header = not header if header is not None else False
        clean = False
    clean &= table.names is not None  # without names, header detection may rightly refuse
    # header=None tells a header by names over columns of numbers; with none, it must be said
    clean &= header is True or (header is None and "number" in table.kinds)

    def column(index: int) -> str | int:
        if table.names is not None and rng.random() < 0.6:
            return table.names[index]
        return index if rng.random() < 0.8 else -(width - index)

    target_index = int(rng.integers(width)) if rng.random() < 0.8 else None
    target = None if target_index is None else column(target_index)
    text_columns = [i for i, kind in enumerate(table.kinds) if kind == "text"]
    encoded = [i for i in text_columns if i != target_index and rng.random() < 0.85]
    clean &= set(encoded) | {target_index} >= set(text_columns)
    clean &= any(i != target_index for i in range(width))
    one_hot: Any = [column(i) for i in encoded]
    if one_hot and rng.random() < 0.2:  # categories given, as a model's; some may be unknown
        one_hot = {name: sorted(set(table.columns[i]))[1:] or ["?"] for name, i in
                   zip(one_hot, encoded, strict=True)}  # fmt: skip
        clean = False
    if rng.random() < 0.03:
        one_hot = [str(rng.choice(["zz", "-1", "99"]))]
        clean = False
    clean &= all(len(set(table.columns[i])) <= 1000 for i in encoded)
    return {"target": target, "header": header, "delimiter": delimiter, "one_hot": one_hot}, clean


def _check(X: Any, y: Any, names: Any, table: Table, arguments: dict, clean: bool) -> str | None:
    """What is wrong with a table ``load_csv`` returned (``None``: nothing)."""
    if not isinstance(X, np.ndarray) or X.dtype != np.float64 or X.ndim != 2:
        return f"X is {type(X).__name__} {getattr(X, 'dtype', '')} {getattr(X, 'shape', '')}"
    if not np.isfinite(X).all():
        return "X holds non-finite values"
    if y is not None and len(y) != len(X):
        return f"{len(X)} rows of X but {len(y)} of y"
    if names is not None and len(names) != X.shape[1]:
        return f"{len(names)} names for {X.shape[1]} columns"
    if not clean:
        return None
    rows = len(table.columns[0])
    if len(X) != rows:
        return f"a clean table of {rows} rows read as {len(X)}"
    target = arguments["target"]
    index = table.names.index(target) if isinstance(target, str) else target
    index = None if index is None else index % len(table.columns)
    start = 0
    for i, (fields, kind) in enumerate(zip(table.columns, table.kinds, strict=True)):
        if i == index:
            continue
        if kind == "number":
            if not np.array_equal(X[:, start], [float(f) for f in fields]):
                return f"column {i} read as other numbers"
            start += 1
        else:
            categories = sorted(set(fields))
            block = X[:, start : start + len(categories)]
            expected = np.array([[f == c for c in categories] for f in fields], float)
            if block.shape != expected.shape or not np.array_equal(block, expected):
                return f"one-hot column {i} encoded wrongly"
            start += len(categories)
    return None if start == X.shape[1] else f"{X.shape[1]} columns, {start} expected"


def _names_delimiter(table: Table, arguments: dict) -> bool:
    """Whether a refusal must name the file's delimiter: every line is one field with the one
    given, and splits alike on the file's own (no field holds it)."""
    given, own = arguments["delimiter"], table.separator
    return (
        own in (";", "\t", "|")
        and given != own
        and len(table.columns) > 1
        and given not in table.text
        and not any(own in field for column in table.columns for field in column)
        and (table.names is None or not any(own in name for name in table.names))
    )


def try_case(rng: np.random.Generator, path: Path, report: Report) -> None:
    report.cases += 1
    table = random_table(rng)
    path.write_bytes(table.text.encode("utf-8"))
    arguments, clean = _arguments(rng, table)
    what = f"{arguments!r} on {table.text[:300]!r}"
    try:
        X, y, names = load_csv(path, return_names=True, **arguments)
    except (ValueError, TypeError) as error:
        if clean:
            report.escapes.append(f"a clean table refused: {str(error)[:200]} -- {what}")
        elif _names_delimiter(table, arguments) and f"delimiter={table.separator!r}" not in str(
            error
        ):
            report.escapes.append(f"the delimiter is not named: {str(error)[:200]} -- {what}")
        report.outcomes["refused"] += 1
        return
    except Exception as error:  # noqa: BLE001 - recording every escape is the point
        frame = traceback.extract_tb(error.__traceback__)[-1]
        where = f"{Path(frame.filename).name}:{frame.lineno}"
        report.escapes.append(f"{type(error).__name__} at {where}: {str(error)[:200]} -- {what}")
        return
    problem = _check(X, y, names, table, arguments, clean)
    if problem:
        report.escapes.append(f"{problem} -- {what}")
    report.outcomes["read (clean)" if clean else "read"] += 1


def run(cases: int, seed: int, folder: Path) -> Report:
    rng = np.random.default_rng(seed)
    report = Report()
    for _ in range(cases):
        try_case(rng, folder / "case.csv", report)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        report = run(args.cases, args.seed, Path(folder))
    print(f"{report.cases} cases in {time.perf_counter() - started:.1f} s, seed {args.seed}")
    for outcome, count in sorted(report.outcomes.items()):
        print(f"  {outcome:16} {count}")
    print(f"{len(report.escapes)} escapes")
    for escape in report.escapes[:20]:
        print(f"- {escape[:600]}")
    return 1 if report.escapes else 0


if __name__ == "__main__":
    sys.exit(main())
