"""CSV tables into ``(X, y)``: pandas splits the fields, the rules below decide what they mean.

pandas (``pip install scratchnn[data]``) handles quoting, long fields and line endings; it is
imported only when a CSV file is read, so ``import scratchnn`` stays NumPy-only. Every ambiguity
is an error that says what to do, never a guess:

* a first line of numbers is data; a first line with text where the other lines have numbers
  is the header; when only text columns hold text there, the caller must say (``header=None``);
* a column given as text that is both a column's name and another column's index is refused;
* text in a feature column, a missing value, or a line that is not valid text is refused with
  its line and column, both counted from 1 as an editor counts them.
"""

from __future__ import annotations

import difflib
import gzip
import io
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import describe

# Fields that mean "no value" in the files people have (compared lower-cased and stripped).
MISSING = frozenset({"", "na", "n/a", "nan", "-nan", "null", "none", "?", "#n/a", "<na>"})
WHITESPACE = "whitespace"  # delimiter meaning "one or more spaces or tabs"
MAX_CATEGORIES = 1000  # distinct values a one-hot column may hold: more is not a category


class ColumnError(ValueError):
    """A column an argument names (target, drop) that the file lacks, or that could be two."""


class TextColumnError(ValueError):
    """Feature columns of text, not numbers: ``columns`` names them (a header's names, or their
    indices as text, as ``drop`` takes them) and ``values`` holds each one's distinct values, so
    a caller that knows more (a model's columns and classes) can say which fix works."""

    def __init__(self, message: str, columns: list[str], values: list[set[str]]) -> None:
        super().__init__(message)
        self.columns, self.values = columns, values


def _pandas() -> Any:
    try:
        import pandas
    except ImportError as error:
        raise ImportError(
            "reading CSV files needs pandas, which is not installed; "
            "install it with: pip install scratchnn[data]"
        ) from error
    return pandas


def _check_path(path: Any, name: str = "path") -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a file path, got {describe(path)}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{name}: no such file {str(path)!r}")
    return path


def _read_text(path: Path, encoding: str) -> str:
    """The file's text (``.gz`` decompressed), refusing binary data and undecodable bytes."""
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as error:
        if path.suffix != ".gz" or isinstance(error, PermissionError):  # /proc/self/mem: EIO
            raise ValueError(f"{path}: cannot be read ({error.strerror or error})") from None
        raise ValueError(f"{path}: not a readable gzip file ({error})") from None
    if b"\x00" in data[:65536] and not encoding.lower().startswith("utf-16"):
        raise ValueError(f"{path}: holds NUL bytes, so it is a binary file, not a CSV text file")
    try:
        text = data.decode(encoding)
    except LookupError:
        raise ValueError(f"encoding {encoding!r} is not a known text encoding") from None
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        byte = data[error.start : error.start + 1].hex()
        raise ValueError(
            f"{path}: line {line} is not valid {encoding} text (byte 0x{byte}); give the "
            "file's encoding, e.g. encoding='latin-1' (--encoding latin-1)"
        ) from None
    return text.removeprefix("\ufeff")  # a byte-order mark is not part of the first name


def _start(text: str, skip_rows: int) -> tuple[int, int]:
    """``(offset, lines)``: where the table starts once ``skip_rows`` lines and the blank lines
    after them are skipped, and how many lines that skips."""
    offset, skipped = 0, 0
    while offset < len(text):
        end = text.find("\n", offset)
        end = len(text) if end < 0 else end + 1
        if skipped >= skip_rows and text[offset:end].strip():
            break
        offset, skipped = end, skipped + 1
    return offset, skipped


def _split_fields(
    text: str, path: Path, delimiter: str, skipped: int
) -> tuple[list[np.ndarray], np.ndarray]:
    """The table's columns of text fields (blank lines left out) and each row's line number;
    pandas checks every row's width.

    ``text`` starts at line ``skipped + 1`` of the file: messages count from there."""
    pandas = _pandas()
    options: dict[str, Any] = {"sep": r"\s+"} if delimiter == WHITESPACE else {"sep": delimiter}
    try:
        frame = pandas.read_csv(
            io.StringIO(text),
            header=None,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,
            engine="c" if len(delimiter) == 1 or delimiter == WHITESPACE else "python",
            **options,
        )
    except pandas.errors.EmptyDataError:
        raise ValueError(f"{path}: no rows after skipping {skipped} line(s)") from None
    except pandas.errors.ParserError as error:
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(error))
        if found is None:
            raise ValueError(f"{path}: cannot split into fields ({error})".strip()) from None
        expected, line, got = found.groups()
        raise ValueError(
            f"{path}: line {skipped + int(line)} has {got} fields, expected {expected} like line "
            f"{skipped + 1}; if the file starts with a title or other lines before the "
            "table, skip them with skip_rows (--skip-rows N)"
        ) from None
    columns = [frame[name].to_numpy(dtype=object) for name in frame.columns]
    # A blank line is one empty field (spaces at most); ",," is a line of empty fields.
    blank = frame[frame.columns[0]].str.strip().to_numpy() == ""
    for column in columns[1:]:
        blank &= column == ""
    kept = ~blank
    lines = skipped + 1 + np.flatnonzero(kept)
    return [column[kept] for column in columns], lines


def _is_missing(field: str) -> bool:
    return field.strip().lower() in MISSING


def _is_number(field: str) -> bool:
    if "_" in field:  # Python reads 1_000 as 1000; in a CSV file it is text (18_25: an age band)
        return False
    try:
        float(field)
    except ValueError:
        return False
    return not _is_missing(field)


def _as_floats(fields: np.ndarray) -> np.ndarray:
    """``fields`` as float64, or ``ValueError``: NumPy, like Python, reads ``1_000`` as 1000."""
    values = fields.astype(np.float64)
    if fields.dtype.kind in "UO" and np.any(np.char.find(fields.astype(str), "_") >= 0):
        raise ValueError("a field holds an underscore")
    return values


def _all_numbers(fields: np.ndarray) -> bool:
    """Whether every field that is not missing is a number (and at least one is)."""
    try:
        values = _as_floats(fields)  # fast: most columns are plain numbers
        return len(values) > 0 and not np.all(np.isnan(values))  # all "nan": all missing
    except ValueError:
        values = [field for field in fields if not _is_missing(field)]
        return bool(values) and all(_is_number(value) for value in values)


def _resolve(column: str | int, names: list[str] | None, width: int, what: str, path: Path) -> int:
    """The index of ``column``: an int is an index (negative from the end); a str is a name,
    or an index written in digits when no column has that name; both at once is refused."""
    if isinstance(column, (bool, np.bool_)) or not isinstance(column, (str, int, np.integer)):
        raise TypeError(f"{what} must be a column name or index, got {describe(column)}")
    if not isinstance(column, str):
        if not -width <= column < width:
            raise ColumnError(f"{path}: {what} index {column} is out of range for {width} columns")
        return int(column) % width
    named = [i for i, name in enumerate(names or []) if name == column.strip()]
    if len(named) > 1:
        raise ColumnError(
            f"{path}: {what} {column!r} names {len(named)} columns, at indices "
            f"{', '.join(map(str, named))}; give the one you mean by index (Python: an int; "
            f"command line: --{what}-index {named[0]})"
        )
    index = int(column) if re.fullmatch(r"\s*-?\d+\s*", column) else None
    if index is not None and -width <= index < width:
        index %= width
        if named and named[0] != index:
            raise ColumnError(
                f"{path}: {what} {column!r} is ambiguous: the column named {column!r} is at "
                f"index {named[0]}, but index {index} is the column {_label(names, index)}; "
                f"give the index as a number (Python: an int; command line: "
                f"--{what}-index {named[0]} or --{what}-index {index})"
            )
        return index
    if named:
        return named[0]
    if names is None:
        if index is not None:
            raise ColumnError(f"{path}: {what} index {index} is out of range for {width} columns")
        raise ColumnError(
            f"{path}: {what} {column!r} is a column name, but the file is read without a "
            "header (its first line is numbers, or header=False, --no-header, says so); give a "
            "column index, or header=True (--header) if the first line names the columns"
        )
    closest = _closest(column, names)
    if _likeness(column, closest[0]) < 0.6:  # nothing alike: the file's order reads best
        raise ColumnError(f"{path}: {what} {column!r} is not a column (columns: {_names(names)})")
    raise ColumnError(
        f"{path}: {what} {column!r} is not a column; did you mean {closest[0]!r}? (columns, "
        f"closest first: {_names(closest)})"
    )


def _likeness(column: str, name: str) -> float:
    """1 for the same name in another case, else difflib's similarity ratio, case ignored."""
    given, other = column.strip().casefold(), name.casefold()
    return 1.0 if given == other else difflib.SequenceMatcher(None, given, other).ratio()


def _closest(column: str, names: list[str]) -> list[str]:
    """``names``, the most like ``column`` first (ties in file order)."""
    return sorted(names, key=lambda name: -_likeness(column, name))


def _show(field: str, limit: int = 40) -> str:
    """``repr`` of a field, cut short: a message stays one readable line."""
    return repr(field) if len(field) <= limit else repr(field[:limit]) + f"... ({len(field)} chars)"


def _names(names: list[str]) -> str:
    shown = ", ".join(_show(name, 30) for name in names[:12])
    return shown + (f", ... {len(names)} in all" if len(names) > 12 else "")


def _label(names: list[str] | None, index: int) -> str:
    return _show(names[index]) if names else f"at index {index}"


def _where(path: Path, line: int, index: int, names: list[str] | None) -> str:
    name = f" ({_show(names[index])})" if names else ""
    return f"{path}: line {line}, column {index + 1}{name}"


def _numeric_column(
    fields: np.ndarray, lines: np.ndarray, index: int, names: list[str] | None, path: Path
) -> np.ndarray:
    """One feature column as float64, or the error a user can act on."""
    try:
        values = _as_floats(fields)
    except ValueError:
        values = None
    if values is not None and np.all(np.isfinite(values)):
        return values
    flag = names[index] if names else str(index)
    for field, line in zip(fields, lines, strict=True):
        if _is_missing(field):
            raise ValueError(
                f"{_where(path, line, index, names)} is a missing value ({_show(field.strip())}); "
                f"fill it in, remove the line, or drop the column (drop=[{flag!r}], --drop {flag})"
            )
    text = [
        (field, line) for field, line in zip(fields, lines, strict=True) if not _is_number(field)
    ]
    if text and len(text) == len(fields):
        raise TextColumnError(
            f"{_where(path, lines[0], index, names)} holds text ({_show(fields[0].strip())}, ...), "
            f"not numbers; drop it (drop=[{flag!r}], --drop {flag}) or encode it, one 0/1 column "
            f"per category (one_hot=[{flag!r}], --one-hot {flag})",
            [flag],
            [{field.strip() for field in fields}],
        )
    if text:
        field, line = text[0]
        where = _where(path, line, index, names)
        raise ValueError(f"{where} is not a number: {_show(field.strip())}")
    bad = int(np.flatnonzero(~np.isfinite(values))[0])
    where = _where(path, lines[bad], index, names)
    raise ValueError(f"{where} is not finite: {_show(fields[bad].strip())}")


def _refuse_text_columns(
    columns: list[np.ndarray], kept: list[int], names: list[str] | None, path: Path
) -> None:
    """Name every feature column of text at once (one alone is named by ``_numeric_column``)."""
    text = [
        i for i in kept if not _all_numbers(columns[i]) and not any(map(_is_number, columns[i]))
    ]
    if len(text) < 2:
        return
    flags = [names[i] if names else str(i) for i in text]
    where = ", ".join(f"{i + 1}" + (f" ({_show(names[i], 20)})" if names else "") for i in text)
    raise TextColumnError(
        f"{path}: columns {where} hold text, not numbers; drop them (drop={flags!r}, "
        f"{' '.join(f'--drop {flag}' for flag in flags)}) or encode them, one 0/1 column per "
        f"category (one_hot={flags!r}, {' '.join(f'--one-hot {flag}' for flag in flags)})",
        flags,
        [{field.strip() for field in columns[i]} for i in text],
    )


def _target_column(
    fields: np.ndarray, lines: np.ndarray, index: int, names: list[str] | None, path: Path
) -> np.ndarray:
    """The target: float64 when every field is a number, else the labels as text."""
    try:
        values = _as_floats(fields)
        if np.all(np.isfinite(values)):
            return values
    except ValueError:
        pass
    for field, line in zip(fields, lines, strict=True):
        if _is_missing(field):
            raise ValueError(
                f"{_where(path, line, index, names)} is a missing target "
                f"({_show(field.strip())}); fill it in or remove the line"
            )
    if all(_is_number(field) for field in fields):
        return _numeric_column(fields, lines, index, names, path)  # says which is not finite
    return np.array([field.strip() for field in fields], dtype=object)


def _has_header(columns: list[np.ndarray], path: Path, line: int) -> bool:
    """Whether the first row names the columns, decided only when nothing else could be meant.

    Over the columns of numbers, the first row's fields are names (a header), or numbers (data);
    blank fields and missing-value words (``NA``, which is also sodium's symbol) count for
    neither. A mix of names and numbers is refused: a metadata line, numeric column names or
    data with a typo would all look so. A row of data is refused too when a text column's first
    field appears nowhere else in it (``2020,2021,2022,label`` over years and ``yes``/``no``:
    names that look like numbers). When every column is text, nothing tells: refused.
    """
    first = [str(column[0]).strip() for column in columns]
    if len(columns[0]) == 1:
        return not all(_is_number(field) or _is_missing(field) for field in first)
    over_numbers = [i for i, column in enumerate(columns) if _all_numbers(column[1:])]
    names = [
        first[i] for i in over_numbers if not _is_number(first[i]) and not _is_missing(first[i])
    ]
    values = [first[i] for i in over_numbers if _is_number(first[i])]
    choose = "say header=True or header=False (--header or --no-header)"
    if names and values:
        raise ValueError(
            f"{path}: cannot tell what line {line} is: over columns of numbers it holds both "
            f"numbers ({_names(values)}) and text ({_names(names)}). Skip a "
            "metadata line (skip_rows, --skip-rows); say header=True (--header) for names that "
            "include numbers, or header=False (--no-header) for data, to have the bad field named"
        )
    if names:
        return True
    if values or over_numbers:  # numbers, or only blanks and missing values: data
        fresh = [
            first[i]
            for i, column in enumerate(columns)
            if i not in over_numbers
            and not _is_number(first[i])
            and first[i] not in {str(f).strip() for f in column[1:]}
        ]
        if fresh:
            raise ValueError(
                f"{path}: cannot tell whether line {line} is a header or data: it is numbers "
                f"over the columns of numbers, but its text ({_names(fresh)}) appears nowhere "
                f"else in its column, as column names would; {choose}"
            )
        return False
    raise ValueError(
        f"{path}: cannot tell whether line {line} is a header or data (its text sits in "
        f"columns of text); {choose}"
    )


DELIMITERS = (",", ";", "\t", "|")  # what a file of one column may really be separated by


def _refuse_other_delimiter(text: str, path: Path, delimiter: str) -> None:
    """A file read as one column whose lines all split alike on another delimiter: name it."""
    sample = [line for line in text[:65536].splitlines()[:20] if line.strip()]
    for other in DELIMITERS:
        counts = {line.count(other) for line in sample}
        if other != delimiter and len(counts) == 1 and counts != {0}:
            shown = {"\t": "\\t"}.get(other, other)
            raise ValueError(
                f"{path}: every line is one field with delimiter={delimiter!r}, but each of the "
                f"first lines holds {counts.pop()} {other!r}: the file looks {other!r}-separated; "
                f"give delimiter={other!r} (--delimiter '{shown}')"
            )


def _refuse_repeated_header(columns: list[np.ndarray], lines: np.ndarray, path: Path) -> None:
    """A first line of names that comes back further down (files joined together): name it."""
    first = [str(column[0]) for column in columns]
    if len(lines) < 3 or all(_is_number(field) or _is_missing(field) for field in first):
        return
    same = np.ones(len(lines) - 1, dtype=bool)
    for column, field in zip(columns, first, strict=True):
        same &= column[1:] == field
    if not same.any():
        return
    repeats = 1 + np.flatnonzero(same)
    rest = np.ones(len(lines), dtype=bool)
    rest[0] = False
    rest[repeats] = False
    named = [
        i
        for i, column in enumerate(columns)
        if not _is_number(first[i]) and rest.any() and _all_numbers(column[rest])
    ]
    if named:
        more = f" (and {len(repeats) - 1} more lines)" if len(repeats) > 1 else ""
        raise ValueError(
            f"{path}: line {lines[repeats[0]]}{more} repeats line {lines[0]}, the header "
            f"({_names(first)}): files joined together? remove the repeated header lines"
        )


def _read_columns(
    path: Path, header: bool | None, delimiter: str, skip_rows: int, encoding: str
) -> tuple[list[np.ndarray], np.ndarray, list[str] | None]:
    """A CSV file's ``(columns, line_numbers, names)``: columns of text fields, each row's line
    in the file (from 1), and the header's names (``None`` without one)."""
    if header not in (None, True, False):
        raise TypeError(f"header must be True, False or None (decide), got {describe(header)}")
    if not isinstance(delimiter, str) or not delimiter or "\n" in delimiter:
        raise ValueError(f"delimiter must be a non-empty string, got {describe(delimiter)}")
    if isinstance(skip_rows, bool) or not isinstance(skip_rows, (int, np.integer)) or skip_rows < 0:
        raise ValueError(f"skip_rows must be a non-negative integer, got {describe(skip_rows)}")
    if not isinstance(encoding, str):
        raise TypeError(f"encoding must be a string, got {describe(encoding)}")
    text = _read_text(path, encoding)
    offset, skipped = _start(text, int(skip_rows))
    if offset >= len(text):
        raise ValueError(f"{path}: no rows after skipping {skip_rows} line(s)")
    columns, lines = _split_fields(text[offset:], path, delimiter, skipped)
    if len(lines) == 0:
        raise ValueError(f"{path}: no rows after skipping {skip_rows} line(s)")
    if len(columns) == 1:
        _refuse_other_delimiter(text[offset:], path, delimiter)
    _refuse_repeated_header(columns, lines, path)
    if header is None:
        header = _has_header(columns, path, int(lines[0]))
    if not header:
        return columns, lines, None
    if len(lines) == 1:
        raise ValueError(f"{path}: a header but no data rows")
    names = [str(column[0]).strip() for column in columns]
    return [column[1:] for column in columns], lines[1:], names


def load_csv(
    path: str | os.PathLike,
    target: str | int | None = -1,
    header: bool | None = None,
    delimiter: str = ",",
    skip_rows: int = 0,
    drop: Sequence[str | int] = (),
    encoding: str = "utf-8",
    return_names: bool = False,
    one_hot: Sequence[str | int] | Mapping[str | int, Sequence[str]] = (),
) -> tuple[np.ndarray, np.ndarray | None] | tuple[np.ndarray, np.ndarray | None, list | None]:
    """Read a CSV table into features ``X`` and the ``target`` column ``y``.

    Parameters
    ----------
    path : str or path-like
        The file; ``.gz`` files are decompressed.
    target : str, int or None
        The target column: an int is an index (from 0; negative counts from the end); a str
        is a header name, or an index written in digits when no column has that name. Text
        that names one column and indexes another is refused. ``None``: no target.
    header : bool or None
        Whether the first line (after ``skip_rows``) holds column names. ``None`` decides from
        the fields over the columns of numbers (blanks and missing-value words count for
        neither): names make a header, numbers make data; a mix of both, numbers beside a text
        field that appears nowhere below it, or text only in columns of text is refused as
        ambiguous, with the ways out.
    delimiter : str
        The field separator, or ``"whitespace"`` for runs of spaces and tabs.
    skip_rows : int
        Lines to skip first (a title, or a line of metadata such as scikit-learn's files have).
    drop : sequence of str or int
        Columns to leave out, each given like ``target``.
    encoding : str
        The text encoding; a UTF-8 byte-order mark is removed.
    return_names : bool
        Also return the names of ``X``'s columns (what a model trained on them can check later).
    one_hot : sequence of str or int, or mapping to categories
        Text columns to encode as one 0/1 column per category, in place, named
        ``"column=category"``: the categories found (sorted), or, as a mapping
        ``{column: categories}``, those given (a model's), where any other value is an error.
        A column with more than 1000 distinct values (``MAX_CATEGORIES``) is refused: that is
        an identifier or free text, and its 0/1 columns would fill memory.
        With ``one_hot`` a file without a header names its columns by index (``"2=red"``).

    Returns
    -------
    X : ndarray of shape (n_rows, n_features), float64
    y : ndarray of shape (n_rows,) or None
        float64 when every target field is a number, else the labels as an object array of str.
    names : list of str or None
        Only with ``return_names=True``: the header's names of ``X``'s columns, in order
        (``None`` for a file read without a header).

    Raises
    ------
    ValueError
        Naming the line and column (both from 1) of a missing value or text in a feature
        column, and any ambiguous or unknown column.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from scratchnn.datasets import load_csv
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = path.write_text("a,b,label\\n1,2,cat\\n3,4,dog\\n")
    >>> X, y = load_csv(path, target="label")
    >>> X.tolist(), y.tolist()
    ([[1.0, 2.0], [3.0, 4.0]], ['cat', 'dog'])
    """
    if isinstance(drop, (str, int)) or not isinstance(drop, Sequence):
        raise TypeError(f"drop must be a list of column names or indices, got {describe(drop)}")
    path = _check_path(path)
    columns, lines, names = _read_columns(path, header, delimiter, skip_rows, encoding)
    width = len(columns)
    dropped = {_resolve(column, names, width, "drop", path) for column in drop}
    target_index = None if target is None else _resolve(target, names, width, "target", path)
    if target_index is not None and target_index in dropped:
        raise ValueError(f"{path}: target {target!r} is also in drop={list(drop)!r}")
    kept = [i for i in range(width) if i != target_index and i not in dropped]
    unnamed = [i for i in kept if names is not None and not names[i]]
    if unnamed:
        i = unnamed[0]
        raise ValueError(
            f"{path}: column {i + 1} has no name in the header (a row index, as pandas writes "
            f"one?); drop it (drop=[{i}], --drop-index {i}) or name it: a row number is no feature"
        )
    encoded = _one_hot_columns(one_hot, names, width, path)
    for index in encoded:
        if index == target_index or index in dropped:
            raise ValueError(f"{path}: one_hot column {_label(names, index)} is also the target "
                             "or dropped")  # fmt: skip
    _refuse_text_columns(columns, [i for i in kept if i not in encoded], names, path)
    # Each column as values (a number per row) or, one-hot, as category codes; X is then
    # allocated once and filled: no copy of it, whatever the number of categories.
    parts: list[tuple[np.ndarray, int | None]] = []
    labels = []
    for index in kept:
        label = names[index] if names is not None else str(index)
        if index in encoded:
            codes, categories = _category_codes(columns[index], lines, index, names, path,
                                                encoded[index])  # fmt: skip
            parts.append((codes, len(categories)))
            labels += [f"{label}={category}" for category in categories]
        else:
            parts.append((_numeric_column(columns[index], lines, index, names, path), None))
            labels.append(label)
    if not parts:
        left = "its only column is" if width == 1 else f"its {width} columns are"
        raise ValueError(
            f"{path}: no feature columns: {left} the target or dropped (target={target!r}, "
            f"drop={list(drop)!r}); a model needs at least one input column (a file of targets "
            "only is read with load_csv_column)"
        )
    X = np.zeros((len(lines), sum(1 if count is None else count for _, count in parts)))
    start, rows = 0, np.arange(len(lines))
    for values, count in parts:
        if count is None:
            X[:, start] = values
        else:
            X[rows, start + values] = 1.0  # one 1 per row, at its category's column
        start += 1 if count is None else count
    y = None
    if target_index is not None:
        y = _target_column(columns[target_index], lines, target_index, names, path)
    if return_names:
        return X, y, labels if names is not None or encoded else None
    return X, y


def load_csv_column(
    path: str | os.PathLike,
    column: str | int = -1,
    header: bool | None = None,
    delimiter: str = ",",
    skip_rows: int = 0,
    encoding: str = "utf-8",
) -> np.ndarray:
    """Read one column of a CSV file as :func:`load_csv` reads its target: targets kept apart.

    For a file of targets only (scikit-learn's ``diabetes_target.csv.gz``), which ``load_csv``
    refuses for having no feature column. ``column`` and the other arguments are as for
    ``load_csv``; returns ``(n_rows,)``, float64 when every field is a number, else the labels
    as an object array of str.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from scratchnn.datasets import load_csv_column
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "y.csv"
    >>> _ = path.write_text("price\\n3.5\\n4\\n")
    >>> load_csv_column(path, "price").tolist()
    [3.5, 4.0]
    """
    path = _check_path(path)
    columns, lines, names = _read_columns(path, header, delimiter, skip_rows, encoding)
    index = _resolve(column, names, len(columns), "target", path)
    return _target_column(columns[index], lines, index, names, path)


def _one_hot_columns(
    one_hot: Any, names: list[str] | None, width: int, path: Path
) -> dict[int, list[str] | None]:
    """``{column index: its given categories, or None to find them}`` for ``one_hot``."""
    if isinstance(one_hot, (str, int)) or not isinstance(one_hot, Sequence | Mapping):
        raise TypeError(
            f"one_hot must be a list of columns or a dict of columns to categories, got "
            f"{describe(one_hot)}"
        )
    given = one_hot if isinstance(one_hot, Mapping) else dict.fromkeys(one_hot)
    encoded: dict[int, list[str] | None] = {}
    for column, categories in given.items():
        index = _resolve(column, names, width, "one_hot", path)
        if categories is not None:
            if isinstance(categories, str) or not all(isinstance(c, str) for c in categories):
                raise TypeError(
                    f"one_hot[{column!r}] must be a list of category names, got "
                    f"{describe(categories)}"
                )
            categories = list(categories)
        encoded[index] = categories
    return encoded


def _category_codes(
    fields: np.ndarray,
    lines: np.ndarray,
    index: int,
    names: list[str] | None,
    path: Path,
    categories: list[str] | None,
) -> tuple[np.ndarray, list[str]]:
    """Each row's category as its index into the categories, and the categories in order."""
    values = np.array([str(field).strip() for field in fields], dtype=object)
    for value, line in zip(values, lines, strict=True):
        if _is_missing(value):
            raise ValueError(
                f"{_where(path, line, index, names)} is a missing value ({_show(value)}) in a "
                "one-hot column; fill it in or remove the line"
            )
    if categories is None:
        categories = sorted(set(values.tolist()))
        if len(categories) > MAX_CATEGORIES:
            flag = names[index] if names else str(index)
            raise ValueError(
                f"{path}: column {index + 1} ({_show(flag)}) holds {len(categories)} distinct "
                f"values, more than the {MAX_CATEGORIES} categories one_hot encodes: an "
                f"identifier or free text, not categories; drop it (drop=[{flag!r}], "
                f"--drop {flag})"
            )
    position = {category: k for k, category in enumerate(categories)}
    codes = np.fromiter((position.get(v, -1) for v in values), np.intp, len(values))
    if np.any(codes < 0):
        first = int(np.flatnonzero(codes < 0)[0])
        raise ValueError(
            f"{_where(path, lines[first], index, names)} holds {_show(values[first])}, a category "
            f"the model was not trained on (it knows {_names(categories)})"
        )
    return codes, categories
