"""From settings to data, network and fit arguments, and the same as a Python script.

:func:`make_data` and :func:`build_model` are what a playground session trains;
:func:`python_script` writes the scratchnn code that does the same from scratch, so the script
run for ``epochs`` epochs reaches the very weights the page shows (a test checks it, bit for
bit). Keep the two in step: a change here is a change there.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import datasets
from ..layers import ActivationLayer, BatchNorm, Dense, Dropout
from ..model import Sequential
from ..optimizers import SGD, Adagrad, Adam, AdamW, RMSprop
from .settings import LIMITS, Settings, SettingsError

OPTIMIZER_CLASSES = {
    "sgd": SGD,
    "adam": Adam,
    "adamw": AdamW,
    "rmsprop": RMSprop,
    "adagrad": Adagrad,
}


@dataclass(frozen=True)
class Table:
    """An uploaded CSV file: two features and a class label per row."""

    X: np.ndarray  # (n, 2) float64
    y: np.ndarray  # (n,) class indices into names
    names: tuple[str, ...]  # the labels as written in the file, sorted


@dataclass(frozen=True)
class Data:
    """The training and validation parts (validation empty when the split is 0)."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    names: tuple[str, ...]  # class names, index = label

    @property
    def n_classes(self) -> int:
        return len(self.names)


def parse_table(raw: bytes) -> Table:
    """Read ``x1,x2,label`` rows (a header line is skipped); errors name the line."""
    limit = LIMITS["upload_bytes"]
    if len(raw) > limit:
        raise SettingsError(f"the file has {len(raw):,} bytes; the most is {limit:,}")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise SettingsError(f"the file is not UTF-8 text (byte {error.start})") from None
    rows = [(n, row) for n, row in enumerate(csv.reader(io.StringIO(text)), 1) if row]
    if rows and not _is_number(rows[0][1][0]):
        rows = rows[1:]  # a header
    low, high = LIMITS["samples"][0], LIMITS["upload_rows"]
    if not low <= len(rows) <= high:
        raise SettingsError(f"the file must have {low} to {high} data rows, got {len(rows)}")
    points, labels = [], []
    for line, row in rows:
        if len(row) != 3:
            raise SettingsError(f"line {line}: expected 3 fields x1,x2,label, got {len(row)}")
        if not (_is_number(row[0]) and _is_number(row[1])):
            raise SettingsError(f"line {line}: x1 and x2 must be finite numbers, got {row[:2]}")
        points.append((float(row[0]), float(row[1])))
        labels.append(row[2].strip())
    names = sorted(set(labels))
    low, high = LIMITS["classes"]
    if not low <= len(names) <= high:
        raise SettingsError(f"the file must have {low} to {high} classes, got {len(names)}")
    index = {name: number for number, name in enumerate(names)}
    y = np.array([index[label] for label in labels], dtype=np.int64)
    return Table(np.array(points, dtype=np.float64), y, tuple(names))


def _is_number(field: str) -> bool:
    try:
        return math.isfinite(float(field))
    except ValueError:
        return False


def generate(settings: Settings, table: Table | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The whole data set ``(X, y)`` the settings name (``table`` for ``"upload"``)."""
    s = settings
    if s.data == "upload":
        if table is None:
            raise SettingsError("data is 'upload' but no CSV file was uploaded: upload one first")
        return table.X, table.y
    if s.data == "xor":
        return datasets.make_xor(s.samples, noise=s.noise, seed=s.seed)
    if s.data == "moons":
        return datasets.make_moons(s.samples, noise=s.noise, seed=s.seed)
    if s.data == "circles":
        return datasets.make_circles(s.samples, noise=s.noise, seed=s.seed)
    if s.data == "spirals":
        return datasets.make_spirals(s.samples, n_arms=s.classes, noise=s.noise, seed=s.seed)
    return datasets.make_blobs(
        s.samples, centers=s.classes, cluster_std=s.noise, center_box=(-1.0, 1.0), seed=s.seed
    )


def make_data(settings: Settings, table: Table | None = None) -> Data:
    """Generate (or take the uploaded table) and split off the validation part, stratified."""
    X, y = generate(settings, table)
    n_classes = int(y.max()) + 1
    names = (
        table.names if settings.data == "upload" and table else tuple(map(str, range(n_classes)))
    )
    if settings.validation == 0:
        return Data(X, y, X[:0], y[:0], names)
    parts = datasets.train_test_split(
        X, y, test_size=settings.validation, seed=settings.seed, stratify=True
    )
    return Data(*parts[::2], *parts[1::2], names)


def loss_name(n_classes: int) -> str:
    return "binary_crossentropy" if n_classes == 2 else "sparse_categorical_crossentropy"


def build_model(settings: Settings, n_classes: int) -> tuple[Sequential, list[int], list[int]]:
    """The network, the indices of the layers whose outputs are the hidden neurons, and of Dense.

    A hidden layer is ``Dense(units, activation)``, or with batch norm ``Dense(units)``,
    ``BatchNorm()``, ``ActivationLayer(activation)``; then ``Dropout(rate)`` when the rate is
    above 0. L2 goes on every kernel.
    """
    regularizer = {"l2": settings.l2} if settings.l2 else None
    layers: list[Any] = []
    neurons, dense = [], []
    for units, activation in settings.layers:
        dense.append(len(layers))
        if settings.batch_norm:
            layers += [Dense(units, kernel_regularizer=regularizer), BatchNorm()]
            layers.append(ActivationLayer(activation))
        else:
            layers.append(Dense(units, activation, kernel_regularizer=regularizer))
        neurons.append(len(layers) - 1)
        if settings.dropout:
            layers.append(Dropout(settings.dropout))
    dense.append(len(layers))
    outputs = (1, "sigmoid") if n_classes == 2 else (n_classes, "softmax")
    layers.append(Dense(*outputs, kernel_regularizer=regularizer))
    model = Sequential(layers, seed=settings.seed)
    model.build((2,))  # what fit would do on its first batch: the same draws
    return model, neurons, dense


def fit_arguments(settings: Settings, data: Data) -> dict[str, Any]:
    """Everything ``fit`` takes but ``epochs`` and ``callbacks``."""
    validation = (data.X_val, data.y_val) if len(data.X_val) else None
    return {
        "X": data.X_train,
        "y": data.y_train,
        "loss": loss_name(data.n_classes),
        "optimizer": OPTIMIZER_CLASSES[settings.optimizer](learning_rate=settings.lr),
        "batch_size": settings.batch_size,
        "validation_data": validation,
        "metrics": ["accuracy"],
        "verbose": 0,
    }


# -- the same as a script -----------------------------------------------------------------------
def _data_lines(settings: Settings, table: Table | None) -> list[str]:
    s = settings
    if s.data == "upload" and table is not None:
        rows = ",\n".join(f"    [{x1!r}, {x2!r}]" for x1, x2 in table.X.tolist())
        return [
            f"# The uploaded CSV file; class k is {list(table.names)}[k].",
            f"X = np.array([\n{rows},\n])",
            f"y = np.array({table.y.tolist()})",
        ]
    calls = {
        "xor": f"make_xor({s.samples}, noise={s.noise!r}, seed={s.seed})",
        "moons": f"make_moons({s.samples}, noise={s.noise!r}, seed={s.seed})",
        "circles": f"make_circles({s.samples}, noise={s.noise!r}, seed={s.seed})",
        "spirals": f"make_spirals({s.samples}, n_arms={s.classes}, noise={s.noise!r}, "
        f"seed={s.seed})",
        "blobs": f"make_blobs({s.samples}, centers={s.classes}, cluster_std={s.noise!r}, "
        f"center_box=(-1.0, 1.0), seed={s.seed})",
    }
    return [f"X, y = datasets.{calls[s.data]}"]


def _layer_lines(settings: Settings, n_classes: int) -> list[str]:
    extra = f", kernel_regularizer={{'l2': {settings.l2!r}}}" if settings.l2 else ""
    lines = []
    for units, activation in settings.layers:
        if settings.batch_norm:
            lines.append(f"Dense({units}{extra}), BatchNorm(), ActivationLayer({activation!r}),")
        else:
            lines.append(f"Dense({units}, {activation!r}{extra}),")
        if settings.dropout:
            lines.append(f"Dropout({settings.dropout!r}),")
    outputs = "1, 'sigmoid'" if n_classes == 2 else f"{n_classes}, 'softmax'"
    lines.append(f"Dense({outputs}{extra}),")
    return [f"    {line}" for line in lines]


def python_script(settings: Settings, data: Data, epochs: int, table: Table | None = None) -> str:
    """A script that trains the same network on the same data to the same weights."""
    s = settings
    optimizer = OPTIMIZER_CLASSES[s.optimizer].__name__
    split = (
        [
            "X_train, X_val, y_train, y_val = datasets.train_test_split(",
            f"    X, y, test_size={s.validation!r}, seed={s.seed}, stratify=True",
            ")",
        ]
        if s.validation
        else ["X_train, y_train = X, y"]
    )
    validation = "validation_data=(X_val, y_val), " if s.validation else ""
    lines = [
        '"""A scratchnn playground run, as a script: same data, network, seed and weights."""',
        "",
        "import numpy as np",
        "",
        "from scratchnn import ActivationLayer, BatchNorm, Dense, Dropout, Sequential, datasets",
        f"from scratchnn.optimizers import {optimizer}",
        "",
        *_data_lines(s, table),
        *split,
        "",
        "model = Sequential([",
        *_layer_lines(s, data.n_classes),
        f"], seed={s.seed})",
        "history = model.fit(",
        f"    X_train, y_train, loss={loss_name(data.n_classes)!r}, "
        f"optimizer={optimizer}(learning_rate={s.lr!r}),",
        f"    epochs={epochs}, batch_size={s.batch_size}, {validation}metrics=['accuracy'], "
        "verbose=0,",
        ")",
        "print({name: round(values[-1], 4) for name, values in history.history.items()})",
        "model.save('playground-model.npz')",
        "",
    ]
    return "\n".join(lines)
