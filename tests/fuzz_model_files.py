"""Fuzz the model-file readers: damaged, hostile and ambiguous files must raise ModelFileError.

Every case starts from a real model file or checkpoint (made here with the public API), mutates
it (bit flips, truncations, JSON header mutations, ``.npy`` header mutations, ZIP-level attacks)
and hands it to ``scratchnn.load`` and ``scratchnn.checkpoint.read_checkpoint``. A reader may load
the file (the mutation was harmless) or raise ``ModelFileError``; anything else is an *escape*,
recorded with its input, exception and the line that raised it.

``tests/test_file_fuzzing.py`` runs a few thousand seeded cases; for a long run::

    python -m tests.fuzz_model_files --cases 100000 --seed 1
    python -m tests.fuzz_model_files --sweep     # every single header change, exhaustively
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import struct
import sys
import tempfile
import time
import traceback
import tracemalloc
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import scratchnn
from scratchnn import ModelCheckpoint, ModelFileError, Sequential
from scratchnn.checkpoint import read_checkpoint
from scratchnn.layers import (
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool2D,
    MaxPool2D,
    Reshape,
)

DEEP = "@@deep@@"  # placeholder replaced by deeply nested JSON text after dumping


# -- the corpus: real files made with the public API ----------------------------------------------
@dataclass
class Sample:
    """A sound file: its bytes, its members as arrays, its JSON header."""

    name: str
    data: bytes
    entries: dict[str, np.ndarray]
    header: dict[str, Any]


def make_corpus(folder: Path, tutorial: bool = False) -> list[Sample]:
    """A saved model, a checkpoint, an image network and a model with labels, fitted an epoch.

    ``tutorial`` adds a saved :class:`scratchnn.NeuralNetwork` (its header has more entries).
    """
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0).astype(int)

    def model() -> Sequential:
        return Sequential(
            [Dense(6, "relu"), Dropout(0.25), BatchNorm(), Dense(3, "softmax")], seed=1
        )

    fitted = model()
    fit = dict(loss="categorical_crossentropy", optimizer="adam", batch_size=8, verbose=0)
    fitted.fit(X, y, epochs=1, **fit)
    fitted.save(folder / "model.npz")
    model().fit(X, y, epochs=1, callbacks=[ModelCheckpoint(folder / "ckpt.npz")], **fit)
    image = Sequential(  # the image layers' entries: kernel sizes, strides, pools, shapes
        [Reshape((2, 2, 1), input_shape=(4,)), Conv2D(2, 2, padding="same", activation="relu"),
         MaxPool2D(2), Flatten(), Dense(3, "softmax")], seed=1,
    )  # fmt: skip
    image.fit(X, y, epochs=1, **fit)
    image.save(folder / "image.npz")
    windows = Sequential(  # every window field: kernels, pools, strides, paddings, 8x8 images
        [Conv2D(3, 3, padding="same", activation="relu", input_shape=(8, 8, 2)), MaxPool2D(2),
         AvgPool2D(2, strides=1, padding="same"), Conv2D(2, (1, 2), strides=(1, 2)),
         GlobalAvgPool2D(), Dense(3, "softmax")], seed=1,
    )  # fmt: skip
    images = rng.normal(size=(16, 8, 8, 2))
    windows.fit(images, y[:16], epochs=1, **fit)
    windows.save(folder / "windows.npz")
    labelled = model()  # class labels and column names in the header
    labelled.fit(X, np.array(["low", "mid", "high"])[y], epochs=1, **fit)
    labelled.feature_names = ["a", "b", "c", "d"]
    labelled.save(folder / "labelled.npz")
    names = ["model", "ckpt", "image", "labelled", "windows"]
    if tutorial:
        network = scratchnn.NeuralNetwork(4, 3, 1, seed=0)
        network.train(X, (y > 0).astype(float).reshape(-1, 1), epochs=2)
        network.save(folder / "tutorial.npz")
        names.append("tutorial")
    samples = []
    for name in names:
        data = (folder / f"{name}.npz").read_bytes()
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            entries = {key: archive[key] for key in archive.files}
        header = json.loads(entries["__config__"].tobytes())
        samples.append(Sample(name, data, entries, header))
    return samples


# -- building archives ----------------------------------------------------------------------------
def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def header_array(header: Any, deep: str = "") -> np.ndarray:
    text = json.dumps(header).replace(json.dumps(DEEP), deep)
    return np.frombuffer(text.encode(), dtype=np.uint8)


def build_zip(members: list[tuple[str, bytes]], method: int = zipfile.ZIP_STORED) -> bytes:
    """A ZIP of ``(name, bytes)`` members in this order, duplicates allowed."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names: we want them
        with zipfile.ZipFile(buffer, "w", compression=method) as archive:
            for name, data in members:
                archive.writestr(name, data)
    return buffer.getvalue()


def entries_zip(entries: dict[str, np.ndarray], method: int = zipfile.ZIP_STORED) -> bytes:
    return build_zip([(f"{k}.npy", npy_bytes(v)) for k, v in entries.items()], method)


def edit_header(path: Path, edit: Callable[[dict], Any]) -> None:
    """Rewrite the JSON header of the model file at ``path`` in place with ``edit(header)``."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    header = json.loads(np.lib.format.read_array(io.BytesIO(members["__config__.npy"])).tobytes())
    edit(header)
    members["__config__.npy"] = npy_bytes(header_array(header))
    Path(path).write_bytes(build_zip(list(members.items())))


def central_entries(data: bytes) -> list[int]:
    """Offsets of the central-directory records of an archive without a comment."""
    count, _, start = struct.unpack_from("<HLL", data, len(data) - 12)
    offsets = []
    for _ in range(count):
        offsets.append(start)
        name, extra, comment = struct.unpack_from("<HHH", data, start + 28)
        start += 46 + name + extra + comment
    return offsets


def patch(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


# -- mutations: each returns (bytes, description) -------------------------------------------------
NASTY = [
    None, True, False, 0, -1, 1, 3, 2**31, 2**63, -(2**63) - 1, 2**64, 2**127, 2**128, 10**30,
    10**400, -(10**400), 0.5, -0.0, 1e-320, 1e308, float("nan"), float("inf"), float("-inf"),
    "", "x", "float32", "float64", "relu", "Dense", "adam", "zeros", "he_uniform", "PCG64",
    "__class__", "\x00", "é" * 3, [], {}, [1], [1, 2], {"name": "relu"}, {"name": None},
]  # fmt: skip


def _random_scalar(rng: np.random.Generator) -> Any:
    if rng.random() < 0.7:
        return NASTY[int(rng.integers(len(NASTY)))]
    return float(rng.normal() * 10.0 ** int(rng.integers(-5, 6)))


def _random_value(rng: np.random.Generator, depth: int = 0) -> Any:
    roll = rng.random()
    if depth < 3 and roll < 0.15:
        return [_random_value(rng, depth + 1) for _ in range(int(rng.integers(0, 4)))]
    if depth < 3 and roll < 0.3:
        keys = ["units", "name", "shape", "dtype", "state", "x", "config", "class_name"]
        return {
            str(rng.choice(keys)): _random_value(rng, depth + 1)
            for _ in range(int(rng.integers(0, 3)))
        }
    if roll < 0.35:
        return DEEP
    return _random_scalar(rng)


def _nodes(value: Any, path: tuple = ()) -> list[tuple]:
    """Every path into a parsed JSON value (keys and list indices)."""
    found = [path]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _nodes(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value[:8]):
            found += _nodes(child, (*path, index))
    return found


def _mutate_json(rng: np.random.Generator, header: dict) -> tuple[Any, str]:
    header = json.loads(json.dumps(header))
    # A section first, then a node in it: the big 'arrays' entry would swamp the rest.
    section = str(rng.choice(list(header)))
    paths = _nodes(header[section], (section,))
    target = paths[int(rng.integers(len(paths)))]
    parent = header
    for key in target[:-1]:
        parent = parent[key]
    last = target[-1]
    action = rng.choice(["replace", "replace", "replace", "drop", "add", "wrap"])
    if action == "drop" and isinstance(parent, dict):
        del parent[last]
    elif action == "drop":
        parent.pop(last)
    elif action == "add" and isinstance(parent[last], dict):
        parent[last][str(rng.choice(["extra", "units", "state", "W"]))] = _random_value(rng)
    elif action == "wrap":
        parent[last] = [parent[last]] if rng.random() < 0.5 else {"value": parent[last]}
    else:
        parent[last] = _random_value(rng)
    return header, f"{action} {'/'.join(map(str, target))}"


def _deep_text(rng: np.random.Generator) -> str:
    depth = int(rng.choice([20, 40, 100, 900, 3000, 100_000]))
    opener, closer = ("[", "]") if rng.random() < 0.5 else ('{"a":', "}")
    return opener * depth + "1" + closer * depth


def mutate_header(rng: np.random.Generator, sample: Sample) -> tuple[bytes, str]:
    header, what = sample.header, []
    for _ in range(int(rng.integers(1, 4))):
        header, description = _mutate_json(rng, header)
        what.append(description)
    entries = dict(sample.entries)
    entries["__config__"] = header_array(header, _deep_text(rng))
    return entries_zip(entries), "header: " + "; ".join(what)


def mutate_header_text(rng: np.random.Generator, sample: Sample) -> tuple[bytes, str]:
    text = json.dumps(sample.header)
    kind = rng.choice(["duplicate-key", "deep", "huge-int", "not-utf8", "big", "splice"])
    if kind == "duplicate-key":
        key = str(rng.choice(list(sample.header)))
        text = text[:-1] + f", {json.dumps(key)}: {json.dumps(_random_scalar(rng))}" + "}"
    elif kind == "deep":
        text = text[:-1] + ', "deep": ' + _deep_text(rng) + "}"
    elif kind == "huge-int":
        text = re.sub(r'"format_version": (\d+)', r'"format_version": \g<1>' + "0" * 5000, text)
    elif kind == "not-utf8":
        text = text.replace("relu", "r\udcffelu")
    elif kind == "big":
        text = text[:-1] + ', "pad": "' + "x" * int(rng.integers(1, 16)) * 2**16 + '"}'
    else:
        start = int(rng.integers(len(text)))
        text = text[:start] + text[start + int(rng.integers(1, 20)) :]
    entries = dict(sample.entries)
    entries["__config__"] = np.frombuffer(text.encode("utf-8", "surrogateescape"), np.uint8)
    return entries_zip(entries), f"header text: {kind}"


def flip_bits(rng: np.random.Generator, sample: Sample) -> tuple[bytes, str]:
    data = bytearray(sample.data)
    positions = rng.integers(0, len(data), size=int(rng.integers(1, 4)))
    for position in positions:
        data[position] ^= 1 << int(rng.integers(8))
    return bytes(data), f"bit flips at {sorted(positions.tolist())}"


def overwrite_bytes(rng: np.random.Generator, sample: Sample) -> tuple[bytes, str]:
    data = bytearray(sample.data)
    start = int(rng.integers(len(data)))
    value = int(rng.choice([0x00, 0xFF, 0x7F, 0x80, int(rng.integers(256))]))
    length = int(rng.integers(1, 9))
    data[start : start + length] = bytes([value]) * len(data[start : start + length])
    return bytes(data), f"bytes {start}..{start + length} set to {value:#x}"


def truncate(rng: np.random.Generator, sample: Sample) -> tuple[bytes, str]:
    cut = int(rng.integers(len(sample.data)))
    return sample.data[:cut], f"truncated to {cut} of {len(sample.data)} bytes"


def _npy_with_header(array: np.ndarray, text: str) -> bytes:
    encoded = text.encode("latin1")
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(encoded)) + encoded + array.tobytes()


NPY_DESCRS = [
    "'<f4'", "'<f8'", "'>f4'", "'|O'", "'<U3'", "[('a', '<f4')]", "('<f4', (1000, 1000))",
    "'<c8'", "'|V4'", "'<M8[s]'", "3", "'bogus'", "'|u1'",
]  # fmt: skip
NPY_SHAPES = ["(-1,)", "(12000, 12000)", "(2**62,)", "()", "(0,)", "'x'", "(3.5,)", "(True,)"]


def mutate_npy(rng: np.random.Generator, sample: Sample) -> tuple[bytes, str]:
    name = str(rng.choice(list(sample.entries)))
    array = sample.entries[name]
    descr = rng.choice(NPY_DESCRS)
    shape = rng.choice([str(array.shape), *NPY_SHAPES])
    order = rng.choice(["False", "True", "'yes'"])
    text = f"{{'descr': {descr}, 'fortran_order': {order}, 'shape': {shape}, }}"
    special = rng.random()
    if special < 0.1:
        text = "(" * 150 + ")" * 150
    elif special < 0.15:
        text = "-" * 5000 + "1"
    members = [(f"{k}.npy", npy_bytes(v)) for k, v in sample.entries.items() if k != name]
    members.append((f"{name}.npy", _npy_with_header(array, text)))
    return build_zip(members), f"npy header of {name}: {text[:80]}"


def zip_attack(rng: np.random.Generator, sample: Sample) -> tuple[bytes, str]:
    names = list(sample.entries)
    name = str(rng.choice(names))
    kind = str(rng.choice(ZIP_ATTACKS))
    members = [(f"{k}.npy", npy_bytes(v)) for k, v in sample.entries.items()]
    if kind == "duplicate":
        other = (
            np.zeros_like(sample.entries[name]) if name != "__config__" else sample.entries[name]
        )
        return build_zip([*members, (f"{name}.npy", npy_bytes(other))]), f"{kind} {name}"
    if kind == "alias":
        return build_zip([*members, (name, npy_bytes(sample.entries[name]))]), f"{kind} {name}"
    if kind == "raw-member":
        raw = rng.bytes(int(rng.integers(0, 64)))
        index = names.index(name)
        members[index] = (f"{name}.npy", raw)
        return build_zip(members), f"{kind} {name}"
    if kind == "directory-entry":
        return build_zip([*members, ("folder/", b"")]), kind
    data = build_zip(members)
    records = central_entries(data)
    index = names.index(name)
    record = records[index]
    local = struct.unpack_from("<L", data, record + 42)[0]
    if kind == "encrypted":
        where = rng.choice(["central", "local", "both"])
        if where != "local":
            data = patch(data, record + 8, "<H", 0x1)
        if where != "central":
            data = patch(data, local + 6, "<H", int(rng.choice([0x1, 0x20, 0x40])))
        return data, f"{kind} ({where}) {name}"
    if kind == "method":
        method = int(rng.choice([1, 6, 9, 12, 14, 93, 98, 99, 0xFFFF, 8]))
        data = patch(data, record + 10, "<H", method)
        if rng.random() < 0.5:
            data = patch(data, local + 8, "<H", method)
        return data, f"{kind} {method} {name}"
    if kind == "declared-size":
        size = int(rng.choice([0, 1, 2**31, 2**32 - 1, 10**9, int(rng.integers(0, 2**32))]))
        field_at = int(rng.choice([20, 24]))
        return patch(data, record + field_at, "<L", size), f"{kind} {field_at}={size} {name}"
    if kind == "offset":
        offset = int(rng.choice([0, 1, len(data) - 1, 2**32 - 1, local + 1]))
        return patch(data, record + 42, "<L", offset), f"{kind} {offset} {name}"
    if kind == "overlap":
        first_local = struct.unpack_from("<L", data, records[0] + 42)[0]
        return patch(data, record + 42, "<L", first_local), f"{kind} {name}"
    if kind == "count":
        count = int(rng.choice([0, 1, 0xFFFF, len(names) + 1]))
        data = patch(data, len(data) - 12, "<H", count)
        return patch(data, len(data) - 14, "<H", count), f"{kind} {count}"
    if kind == "directory-size":
        size = int(rng.choice([0, 2**31, 2**32 - 1, 10**6]))
        return patch(data, len(data) - 10, "<L", size), f"{kind} {size}"
    if kind == "crc":
        return patch(data, record + 16, "<L", int(rng.integers(2**32))), f"{kind} {name}"
    if kind == "deflated":
        return entries_zip(sample.entries, zipfile.ZIP_DEFLATED), kind
    if kind == "bomb":
        return _bomb(rng, sample, name), f"{kind} {name}"
    if kind == "declared-shape":
        return _declared_shape(sample, name), f"{kind} {name}"
    if kind == "garbage-prefix":
        return rng.bytes(int(rng.integers(1, 100))) + data, kind
    if kind == "comment":
        return data[:-2] + struct.pack("<H", 5) + b"hello", kind
    raise AssertionError(kind)


ZIP_ATTACKS = [
    "duplicate", "alias", "raw-member", "directory-entry", "encrypted", "method", "declared-size",
    "offset", "overlap", "count", "directory-size", "crc", "deflated", "bomb", "declared-shape",
    "garbage-prefix", "comment",
]  # fmt: skip


def _bomb(rng: np.random.Generator, sample: Sample, name: str, megabytes: int = 1) -> bytes:
    """A deflated member that inflates to far more than its ``.npy`` header declares."""
    array = sample.entries[name]
    payload = npy_bytes(array) + bytes(megabytes * 2**20)
    members = [(f"{k}.npy", npy_bytes(v)) for k, v in sample.entries.items() if k != name]
    data = build_zip([*members, (f"{name}.npy", payload)], zipfile.ZIP_DEFLATED)
    if rng.random() < 0.5:  # also lie in the directory: declare the .npy's own size
        record = central_entries(data)[-1]
        data = patch(data, record + 24, "<L", len(npy_bytes(array)))
    return data


def _declared_shape(sample: Sample, name: str, shape: tuple = (12000, 12000)) -> bytes:
    """The header and the member both declare a huge array; the data is not there."""
    header = json.loads(json.dumps(sample.header))
    key = name if name != "__config__" else next(iter(header["arrays"]))
    header["arrays"][key] = {"shape": list(shape), "dtype": "float32"}
    text = f"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}"
    preamble = _npy_with_header(np.zeros(0, np.float32), text)
    members = [
        (f"{k}.npy", npy_bytes(v))
        for k, v in {**sample.entries, "__config__": header_array(header)}.items()
        if k != key
    ]
    members.append((f"{key}.npy", preamble + bytes(1024)))
    data = build_zip(members)
    record = central_entries(data)[-1]
    declared = len(preamble) + 4 * shape[0] * shape[1]
    data = patch(data, record + 24, "<L", declared % 2**32)
    return patch(data, record + 20, "<L", declared % 2**32)


# Window fields as a careless or hostile file may hold them (the input is 8x8).
WINDOW_VALUES = [
    0, -1, 1, 2, 3, 7, 8, 9, 14, 15, 16, 17, 100, 100_000, 2**31, 2**62, 10**30, 2.5, "3",
    True, None, [], [2], [2, 2, 2], [0, 2], [1, 100_000], [100_000, 1], [8, 9], [15, 1],
    [16, 16], [2**40, 2**40], "same", "valid", "SAME", "full",
]  # fmt: skip
WINDOW_FIELDS = {
    "Conv2D": ["kernel_size", "strides", "padding", "filters"],
    "MaxPool2D": ["pool_size", "strides", "padding"],
    "AvgPool2D": ["pool_size", "strides", "padding"],
}
INPUT_SHAPES = [[8, 8, 2], [1, 1, 2], [8, 1, 2], [100_000, 100_000, 2], [2**31, 8, 2], [8, 8]]


def mutate_windows(rng: np.random.Generator, sample: Sample) -> tuple[bytes, str]:
    """Window and stride fields of the image layers, with the arrays a crafted file would fit.

    A convolution whose kernel changes gets a kernel array of the new shape (when it is small
    enough to write), so the file is consistent and the geometry itself is what is judged.
    """
    header = json.loads(json.dumps(sample.header))
    entries = dict(sample.entries)
    layers = header["model"].get("layers", [])  # a graph's file has none here: mutate the header
    image_layers = [i for i, spec in enumerate(layers) if spec["class_name"] in WINDOW_FIELDS]
    if not image_layers:
        return mutate_header(rng, sample)
    what = []
    for _ in range(int(rng.integers(1, 3))):
        if rng.random() < 0.1:
            shape = INPUT_SHAPES[int(rng.integers(len(INPUT_SHAPES)))]
            header["model"]["input_shape"] = shape
            layers[0]["config"]["input_shape"] = shape
            what.append(f"input_shape={shape}")
            continue
        index = int(rng.choice(image_layers))
        spec = layers[index]
        key = str(rng.choice(WINDOW_FIELDS[spec["class_name"]]))
        value = WINDOW_VALUES[int(rng.integers(len(WINDOW_VALUES)))]
        if rng.random() < 0.5:  # half of them plausible: small windows, a valid padding
            value = (
                ["same", "valid"][int(rng.integers(2))]
                if key == "padding"
                else int(rng.integers(1, 10))
            )
        if rng.random() < 0.3 and isinstance(value, int) and not isinstance(value, bool):
            value = [value, WINDOW_VALUES[int(rng.integers(len(WINDOW_VALUES)))]]
        spec["config"][key] = value
        what.append(f"layers[{index}] {spec['class_name']}.{key}={value!r}")
        if spec["class_name"] == "Conv2D" and key in ("kernel_size", "filters"):
            _refit_kernel(entries, header, index, spec["config"])
    entries["__config__"] = header_array(header)
    return entries_zip(entries), "windows: " + "; ".join(what)


def _refit_kernel(entries: dict, header: dict, index: int, config: dict) -> None:
    """Give layer ``index``'s kernel (and bias) the shape its new config implies, if small."""
    name = f"layers.{index}.params.W"
    kernel, filters = config["kernel_size"], config["filters"]
    pair = kernel if isinstance(kernel, list) else [kernel, kernel]
    if len(pair) != 2 or entries[name].ndim != 4:  # a kernel no layer takes: left as it was
        return
    dims = [*pair, entries[name].shape[2], filters]
    if not all(isinstance(d, int) and not isinstance(d, bool) and 0 < d <= 64 for d in dims):
        return
    entries[name] = np.full(dims, 0.1, entries[name].dtype)
    header["arrays"][name] = {"shape": dims, "dtype": entries[name].dtype.name}
    bias = f"layers.{index}.params.b"
    if bias in entries:
        entries[bias] = np.zeros(filters, entries[bias].dtype)
        header["arrays"][bias] = {"shape": [filters], "dtype": entries[bias].dtype.name}


MUTATORS: dict[str, Callable[[np.random.Generator, Sample], tuple[bytes, str]]] = {
    "flip_bits": flip_bits,
    "overwrite_bytes": overwrite_bytes,
    "truncate": truncate,
    "header": mutate_header,
    "header_text": mutate_header_text,
    "npy_header": mutate_npy,
    "zip": zip_attack,
    "windows": mutate_windows,
}


# -- running --------------------------------------------------------------------------------------
READERS = {"load": scratchnn.load, "read_checkpoint": read_checkpoint}


@dataclass
class Escape:
    """A reader raising something other than ModelFileError."""

    family: str
    sample: str
    description: str
    reader: str
    error: str
    origin: str  # the innermost frame in scratchnn, file:line function

    def key(self) -> tuple[str, str, str]:
        return self.reader, self.error.split(":")[0], self.origin


@dataclass
class Report:
    cases: int = 0
    outcomes: Counter = field(default_factory=Counter)  # (family, outcome) -> count
    escapes: list[Escape] = field(default_factory=list)

    def distinct(self) -> dict[tuple, Escape]:
        found: dict[tuple, Escape] = {}
        for escape in self.escapes:
            found.setdefault(escape.key(), escape)
        return found


def _origin(error: BaseException) -> str:
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if f"{os.sep}scratchnn{os.sep}" in frame.filename
    ]
    if not frames:
        return "?"
    frame = frames[-1]
    return f"{Path(frame.filename).name}:{frame.lineno} {frame.name}: {frame.line}"


def try_case(path: Path, data: bytes, family: str, sample: str, what: str, report: Report) -> None:
    """Hand ``data`` to both readers; count the outcomes, record any escape."""
    path.write_bytes(data)
    report.cases += 1
    for reader_name, reader in READERS.items():
        try:
            with warnings.catch_warnings():  # a file loaded without its mismatched labels warns
                warnings.simplefilter("ignore", UserWarning)
                loaded = reader(path)
            outcome = "loaded"
            if reader_name == "load":
                outcome = exercise(loaded)
        except ModelFileError:
            outcome = "refused"
        except Exception as error:  # noqa: BLE001 - recording every escape is the point
            outcome = "escaped"
            message = f"{type(error).__name__}: {str(error)[:200]}"
            escape = Escape(family, sample, what, reader_name, message, _origin(error))
            report.escapes.append(escape)
        report.outcomes[family, reader_name, outcome] += 1


PREDICT_PEAK = 64 * 2**20  # what predicting two rows of a loaded corpus model may take


class LoadedModelError(Exception):
    """A model that loaded but cannot predict, export or agree with its export."""


def exercise(model: Any) -> str:
    """Use a model that loaded: predict two rows within :data:`PREDICT_PEAK`, export it to ONNX
    and, where ONNX Runtime is installed, check that the export gives the same outputs.

    Returns the outcome: ``"used"``, or ``"loaded"`` for what cannot be exercised (the
    tutorial's network); raises :class:`LoadedModelError` for anything else.
    """
    if not isinstance(model, scratchnn.Sequential):
        return "loaded"
    X = np.random.default_rng(0).normal(size=(2, *model.input_shape)).astype(model.dtype)
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # non-finite outputs: a warning
            outputs = model.predict(X)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    if peak > PREDICT_PEAK:
        raise LoadedModelError(f"predicting 2 rows peaked at {peak / 2**20:.0f} MB")
    try:
        import onnx  # noqa: F401
    except ImportError:
        return "used"
    from scratchnn.export import to_onnx

    proto = to_onnx(model)
    try:
        import onnxruntime
    except ImportError:
        return "used"
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(
        proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    exported = session.run(None, {"input": X})[0]
    if not np.allclose(exported, outputs, rtol=1e-4, atol=1e-5, equal_nan=True):
        raise LoadedModelError(
            f"the ONNX export gives other outputs (largest difference "
            f"{np.nanmax(np.abs(exported - outputs)):.3g})"
        )
    return "used"


def run(
    cases: int,
    seed: int,
    folder: Path,
    families: list[str] | None = None,
    samples: list[Sample] | None = None,
) -> Report:
    """Try ``cases`` mutated files (round-robin over families and samples) on both readers."""
    rng = np.random.default_rng(seed)
    samples = samples or make_corpus(folder)
    families = families or list(MUTATORS)
    report = Report()
    for case in range(cases):
        family = families[case % len(families)]
        pool = [s for s in samples if s.name == "windows"] if family == "windows" else samples
        sample = pool[(case // len(families)) % len(pool)]
        data, description = MUTATORS[family](rng, sample)
        try_case(folder / "case.npz", data, family, sample.name, description, report)
    return report


def sweep(folder: Path, samples: list[Sample] | None = None) -> Report:
    """Every single header change: each node dropped, or replaced by each of :data:`NASTY`."""
    samples = samples or make_corpus(folder, tutorial=True)
    report = Report()
    for sample in samples:
        for target in _nodes(sample.header):
            if not target:
                continue
            for value in [_DROP, *NASTY]:
                header = json.loads(json.dumps(sample.header))
                parent = header
                for key in target[:-1]:
                    parent = parent[key]
                if value is _DROP:
                    del parent[target[-1]]
                else:
                    parent[target[-1]] = value
                data = entries_zip({**sample.entries, "__config__": header_array(header)})
                what = (
                    f"{'/'.join(map(str, target))} = {'(dropped)' if value is _DROP else value!r}"
                )
                try_case(folder / "case.npz", data, "sweep", sample.name, what[:200], report)
    return report


_DROP = object()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--family", action="append", choices=list(MUTATORS))
    parser.add_argument(
        "--sweep", action="store_true", help="every single header change instead of random cases"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        if args.sweep:
            report = sweep(Path(folder))
        else:
            report = run(args.cases, args.seed, Path(folder), args.family)
    elapsed = time.perf_counter() - started
    print(f"{report.cases} cases in {elapsed:.1f} s, seed {args.seed}")
    for (family, reader, outcome), count in sorted(report.outcomes.items()):
        print(f"  {family:16} {reader:16} {outcome:8} {count}")
    distinct = report.distinct()
    print(f"{len(report.escapes)} escapes, {len(distinct)} distinct (reader, error, origin):")
    for escape in distinct.values():
        count = sum(1 for e in report.escapes if e.key() == escape.key())
        print(f"- {count}x {escape.reader} {escape.error[:160]}")
        print(f"    at {escape.origin}")
        print(f"    e.g. {escape.family} on {escape.sample}: {escape.description[:160]}")
    return 1 if report.escapes else 0


if __name__ == "__main__":
    sys.exit(main())
