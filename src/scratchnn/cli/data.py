"""What ``train``, ``evaluate`` and ``predict`` read: a data set name, a CSV file or IDX files.

Class labels of any kind (``setosa``, ``class_0``, ``3``) are encoded here as indices
``0..K-1`` into the sorted list of the classes; the model file keeps that list
(``model.classes``) so ``predict`` and ``evaluate`` speak the user's labels.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path
from shlex import quote
from typing import Any

import numpy as np

from .. import datasets
from ..datasets.tables import TextColumnError


class UsageError(Exception):
    """A command-line argument that makes no sense (exit status 2)."""


@dataclass
class Data:
    """Features, targets, the name shown in messages and, from a CSV header, column names."""

    X: np.ndarray
    y: np.ndarray
    name: str
    features: list[str] | None = None


def csv_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``load_csv`` keywords shared by every command that reads a CSV."""
    return {
        "header": args.header,
        "delimiter": args.delimiter,
        "skip_rows": args.skip_rows,
        "encoding": args.encoding,
        "drop": [*(args.drop or []), *(args.drop_index or [])],
        "one_hot": list(getattr(args, "one_hot", None) or []),
    }


def trained_categories(feature_names: list[str] | None, columns: list[str]) -> dict[str, list]:
    """``{column: categories}`` for ``--one-hot`` columns, as a model's column names record them
    (``"color=red"``, ``"color=blue"``): evaluate and predict encode with the training ones."""
    found: dict[str, list[str]] = {}
    # A column's name may hold "=" itself ("a=b=red"): each name goes to the longest column
    # asked for that prefixes it, so only categories, never column names, are split off.
    longest_first = sorted(set(columns), key=len, reverse=True)
    for name in feature_names or []:
        column = next((c for c in longest_first if name.startswith(f"{c}=")), None)
        if column is not None:
            found.setdefault(column, []).append(name[len(column) + 1 :])
    unknown = [column for column in columns if column not in found]
    if unknown:
        one_hot = dict.fromkeys(n.partition("=")[0] for n in feature_names or [] if "=" in n)
        known = ", ".join(one_hot) or "none"
        raise UsageError(
            f"--one-hot {unknown[0]}: the model was not trained with that column one-hot "
            f"encoded (its one-hot columns: {known})"
        )
    return {column: found[column] for column in columns}


def _target(args: argparse.Namespace) -> str | int | None:
    if args.target is not None and args.target_index is not None:
        raise UsageError("give --target or --target-index, not both")
    return args.target_index if args.target_index is not None else args.target


def load_data(args: argparse.Namespace, one_hot: dict[str, list] | None = None) -> Data:
    """The data the options name: a data set, ``--csv`` (with ``--target``) or ``--mnist``."""
    _check_data_set_name(args)
    sources = [args.dataset is not None, args.csv is not None, args.mnist is not None]
    if sum(sources) > 1:
        raise UsageError("give one of a data set name, --csv or --mnist")
    generated = [args.n_samples, args.noise, args.n_arms]
    if args.dataset not in datasets.GENERATED and any(v is not None for v in generated):
        raise UsageError("--n-samples, --noise and --n-arms are for generated data sets only")
    if args.mnist is not None:
        X, y = datasets.load_mnist(args.mnist, kind=args.mnist_kind)
        return Data(X, y, f"mnist-{args.mnist_kind}")
    if args.csv is not None:
        return _load_csv(args, one_hot)
    if args.dataset is None:
        raise UsageError(
            "give a data set name (e.g. iris, spirals; for evaluate also --data NAME) "
            "or --csv PATH --target COLUMN"
        )
    options: dict[str, Any] = {}
    if args.dataset in datasets.GENERATED:
        if args.n_samples is not None:
            options["n_samples"] = args.n_samples
        if args.noise is not None:
            options["noise"] = args.noise
        if args.n_arms is not None and args.dataset == "spirals":
            options["n_arms"] = args.n_arms
        if args.dataset == "xor" and args.n_samples is None:
            options["n_samples"] = 4
    X, y = datasets.load(args.dataset, seed=args.seed, **options)
    return Data(X, y, args.dataset)


def _check_data_set_name(args: argparse.Namespace) -> None:
    """Refuse a data set name that is none, saying what it probably is: a file for ``--csv``,
    or a second value given to an option that takes one (``--layers 64 32``, ``--drop a b``)."""
    name = args.dataset
    if name is None or name in datasets.GENERATED or name in datasets.BUNDLED:
        return
    known = ", ".join([*datasets.GENERATED, *datasets.BUNDLED])
    if Path(name).is_file() or name.lower().endswith((".csv", ".csv.gz", ".txt", ".tsv")):
        target = args.target if getattr(args, "target", None) is not None else "COLUMN"
        raise UsageError(
            f"{name!r} is a file, not a data set name: read it with --csv {quote(name)} "
            f"--target {quote(str(target))}"
        )
    widths = getattr(args, "layers", None)
    if widths is not None and re.fullmatch(r"\d+(,\d+)*", name):
        raise UsageError(
            f"{name!r} is not a data set name ({known}): --layers takes all the widths as one "
            f"value, joined by commas: --layers {widths},{name}"
        )
    if args.csv is not None or args.mnist is not None:
        source = "--csv" if args.csv is not None else "--mnist"
        raise UsageError(
            f"{name!r} is not a data set name, and {source} gives the data already: is it a "
            "second value for the option before it? Each option takes one value (--layers "
            "64,32; --drop a --drop b)"
        )
    raise UsageError(f"unknown data set {name!r} (known: {known}; or use --csv)")


def _existing(path: str, option: str) -> str:
    if not Path(path).is_file():
        raise FileNotFoundError(f"{option}: no such file {path!r}")
    return path


def _load_csv(args: argparse.Namespace, one_hot: dict[str, list] | None = None) -> Data:
    target = _target(args)
    if target is None and args.target_csv is None:
        raise UsageError(
            "--csv needs --target COLUMN (a header name, or an index from 0; -1 is the last)"
        )
    _existing(args.csv, "--csv")
    if args.target_csv is not None:
        _existing(args.target_csv, "--target-csv")
    options = csv_options(args)
    if one_hot is not None:  # the categories the model was trained on
        options["one_hot"] = one_hot
    if args.target_csv is not None:
        X, _, features = datasets.load_csv(args.csv, target=None, return_names=True, **options)
        del options["drop"], options["one_hot"]
        column = -1 if target is None else target
        y = datasets.load_csv_column(args.target_csv, column, **options)
        if len(y) != len(X):
            raise ValueError(
                f"--target-csv {args.target_csv} has {len(y)} rows but --csv {args.csv} has "
                f"{len(X)}; they must match row for row"
            )
    else:
        X, y, features = datasets.load_csv(args.csv, target=target, return_names=True, **options)
    if X.shape[1] == 0:
        raise ValueError(f"{args.csv}: no feature columns are left once the target is taken out")
    return Data(X, y, Path(args.csv).name, features)


def check_columns(
    trained: list[str] | None,
    given: list[str] | None,
    source: str,
    X: np.ndarray,
    classes: list[Any] | None = None,
) -> None:
    """Refuse data whose columns are not the ones the model was trained on, by name.

    ``given`` is ``None`` for a file read without a header: then its first row is checked for
    being the model's own column names (numbers such as years, which read as data). An extra
    column that holds only the model's ``classes`` is named as the training target.
    """
    if trained is None:
        return
    if given is None:
        numeric = [_number_or_none(name) for name in trained]
        if len(X) and X.shape[1] == len(trained) and None not in numeric:
            if np.array_equal(np.sort(X[0]), np.sort(np.asarray(numeric, dtype=float))):
                raise UsageError(
                    f"{source}: its first line holds the model's column names "
                    f"({', '.join(trained[:8])}), read as numbers: give --header"
                )
        return
    if list(trained) == list(given):
        return
    missing = [name for name in trained if name not in given]
    extra = [name for name in given if name not in trained]
    problems = ([f"lack {_short(missing)}"] if missing else []) + (
        [f"include {_short(extra)}, which the model was not trained on"] if extra else []
    )
    labels = {_key(label) for label in classes or []}
    targets = [name for name in extra if labels and {_key(v) for v in X[:, given.index(name)]}
               <= labels]  # fmt: skip
    target = (
        f" ({_short(targets)} holds only the model's class labels: likely the training target)"
        if targets else ""
    )  # fmt: skip
    drop = " ".join(f"--drop {quote(n)}" for n in extra[:6]) if extra and not missing else "--drop"
    raise UsageError(
        f"{source}: its columns {' and '.join(problems) or 'are in another order'}{target}; the "
        f"model was trained on {len(trained)}: {_short(trained)}. Drop the same columns as in "
        f"training ({drop}), or read the file as data to skip this check (--skip-rows 1 "
        "--no-header, columns by index)"
    )


def text_column_problem(
    error: TextColumnError,
    source: str,
    trained: list[str] | None,
    classes: list[Any] | None,
    evaluate: bool,
) -> Exception:
    """The error to raise for feature columns of text met by ``evaluate`` or ``predict``, with
    only the fixes that can work for this model: ``--one-hot`` for a column it was trained with
    one-hot encoded, ``--drop`` (predict) or ``--target`` (evaluate) for its training target (a
    column of its class labels), ``--drop`` for another column it was not trained on."""
    one_hot = {name.partition("=")[0] for name in trained or [] if "=" in name}
    labels = {_key(label) for label in classes or []}
    told = []
    for column, values in zip(error.columns, error.values, strict=True):
        shown = ", ".join(map(repr, sorted(values)[:3])) + (", ..." if len(values) > 3 else "")
        flag = quote(column)
        by_index = column.isdigit()  # a file without a header names its columns by index
        what = f"the column at index {column}" if by_index else f"column {column!r}"
        drop = f"--drop-index {column}" if by_index else f"--drop {flag}"
        if column in one_hot:
            told.append(f"{what} holds text ({shown}): the model was trained with it one-hot "
                        f"encoded, so give --one-hot {flag}, as in training")  # fmt: skip
        elif trained is not None and column in trained:
            return ValueError(
                f"{source}: {what} holds text ({shown}), but the model was trained on it as "
                "numbers: is this a file like the one it was trained on?"
            )
        elif labels and {_key(value) for value in values} <= labels:
            target = f"--target-index {column}" if by_index else f"--target {flag}"
            fix = f"give it as {target}" if evaluate else f"leave it out: {drop}"
            told.append(f"{what} holds the model's class labels ({shown}), so it is likely the "
                        f"training target, not a feature: {fix}")  # fmt: skip
        elif trained is None:  # trained without column names: which columns it took is unknown
            told.append(f"{what} holds text ({shown}), and the model takes numbers only: leave "
                        f"it out if it is no feature, {drop}")  # fmt: skip
        else:
            told.append(f"{what} holds text ({shown}), and the model was not trained on it: "
                        f"leave it out, {drop}")  # fmt: skip
    return UsageError(f"{source}: " + "; ".join(told))


def _short(names: list[str], shown: int = 6) -> str:
    listed = ", ".join(repr(name) for name in names[:shown])
    return listed + (f", ... {len(names)} in all" if len(names) > shown else "")


def _number_or_none(text: str) -> float | None:
    try:
        return float(text) if "_" not in text else None
    except ValueError:
        return None


# -- labels ---------------------------------------------------------------------------------------
def _label(value: Any) -> Any:
    """A JSON-friendly label: whole floats become ints, NumPy scalars Python ones."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    return value.item() if isinstance(value, np.generic) else value


def is_classification(task: str, y: np.ndarray, from_file: bool, dataset: str | None) -> bool:
    """Whether ``y`` holds classes: text always; numbers when few and whole (``task="auto"``)."""
    text = y.dtype == object
    if task == "regression" and text:
        raise UsageError(
            f"--task regression needs numeric targets, but they are text ({y[0]!r}, ...)"
        )
    if task != "auto":
        return task == "classification"
    if text:
        return True
    if not from_file:
        return dataset not in datasets.REGRESSION
    return bool(np.all(y == np.round(y))) and len(np.unique(y)) <= 20


def encode_labels(y: np.ndarray) -> tuple[np.ndarray, list[Any]]:
    """``(indices, classes)`` with ``classes[indices[i]] == y[i]`` and classes sorted."""
    if y.ndim != 1:
        raise UsageError(f"classification needs one target column, got {y.shape[1]}")
    classes, indices = np.unique(y if y.dtype != object else y.astype(str), return_inverse=True)
    if len(classes) < 2:
        only = _label(classes[0])
        raise ValueError(f"the targets hold one class only ({only!r}): nothing to learn")
    return indices.astype(np.int64), [_label(value) for value in classes]


def class_indices(y: np.ndarray, classes: list[Any] | None, n_classes: int) -> np.ndarray:
    """Map labels to the model's class indices, refusing labels it never saw."""
    if classes is None:
        whole = y.dtype != object and np.all(y == np.round(y))
        if not whole or y.min() < 0 or y.max() >= n_classes:
            raise ValueError(
                f"this model file keeps no class names, so targets must be 0..{n_classes - 1}; "
                f"got {sorted({str(_label(v)) for v in y})[:5]}"
            )
        return y.astype(np.int64)
    lookup = {_key(label): index for index, label in enumerate(classes)}
    unknown = sorted({str(_label(v)) for v in y if _key(v) not in lookup})
    if unknown:
        raise ValueError(
            f"labels the model never saw: {unknown[:5]} (it knows {classes}); evaluate needs "
            "the same target column as train"
        )
    return np.array([lookup[_key(v)] for v in y], dtype=np.int64)


def _key(value: Any) -> Any:
    """Compare labels as numbers when they are numbers (``1``, ``1.0`` and ``"1"`` alike)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)
