"""The container of model files: a ZIP (``.npz``) of ``.npy`` members with a JSON header.

This module knows bytes, not networks: it writes a header and named arrays atomically, and reads
them back checked against each other. What the header and arrays mean is :mod:`scratchnn.io`'s
business. Every problem with a file raises :class:`ModelFileError`; reading never runs code from
the file (``allow_pickle=False``).

Saving is atomic: the archive is written to a temporary file in the target's folder, flushed and
fsynced, then renamed over the target, so a crash or a full disk mid-save leaves the previous
file intact.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ._validation import describe

FORMAT_NAME = "scratchnn-model"
FORMAT_VERSION = 1
CONFIG_KEY = "__config__"
_ZIP_MAGIC = b"PK\x03\x04"


class ModelFileError(ValueError):
    """A model file that cannot be loaded: not ours, damaged, or inconsistent with its header."""


# -- writing --------------------------------------------------------------------------------------
def write_model_file(path: str | os.PathLike, header: dict[str, Any], arrays: dict) -> None:
    """Write ``header`` and ``arrays`` to ``path`` atomically (temp file, fsync, rename)."""
    path = Path(os.fspath(path))
    if not path.parent.is_dir():
        raise ValueError(f"path must be in an existing folder, got {str(path)!r}")
    header = dict(header)
    header["arrays"] = {
        name: {"shape": list(value.shape), "dtype": value.dtype.name}
        for name, value in arrays.items()
    }
    try:
        text = json.dumps(header, sort_keys=True)
    except TypeError as error:
        raise ValueError(f"the model's config must be JSON-serialisable: {error}") from error
    entries = {CONFIG_KEY: np.frombuffer(text.encode("utf-8"), dtype=np.uint8)}
    entries.update(arrays)

    handle = tempfile.NamedTemporaryFile(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    )
    try:
        with handle:
            np.savez(handle, **entries)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        # Whatever failed (full disk, interrupt), the target is untouched: drop the partial file.
        Path(handle.name).unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable where the OS allows opening a folder (POSIX)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


# -- reading --------------------------------------------------------------------------------------
def read_model_file(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read and check a model file's header and arrays, without building anything.

    Checks the archive, the header's format and version, and that the arrays present are
    exactly those the header lists, with the listed shapes and dtypes. Raises
    :class:`ModelFileError` on any problem.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {describe(path)}")
    path = os.fspath(path)
    try:
        with open(path, "rb") as file:
            magic = file.read(4)
    except FileNotFoundError:
        raise
    except OSError as error:
        raise ModelFileError(f"cannot read model file {path!r}: {error}") from error
    if magic != _ZIP_MAGIC:
        raise ModelFileError(
            f"{path!r} is not a scratchnn model file: expected an .npz (ZIP) archive, got a file "
            f"starting with {magic!r}"
        )
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = set(archive.files)
            if CONFIG_KEY not in names:
                raise ModelFileError(f"{path!r} has no {CONFIG_KEY!r} entry: not a model file")
            header = _parse_header(archive[CONFIG_KEY], path)
            listed = header["arrays"]
            missing = sorted(set(listed) - (names - {CONFIG_KEY}))
            extra = sorted((names - {CONFIG_KEY}) - set(listed))
            if missing:
                raise ModelFileError(f"{path!r} lacks the arrays {missing} its header lists")
            if extra:
                raise ModelFileError(f"{path!r} holds arrays its header does not list: {extra}")
            arrays = {name: archive[name] for name in sorted(listed)}
    except ModelFileError:
        raise
    except ValueError as error:
        # numpy refuses object (pickled) arrays with allow_pickle=False, and bad .npy headers.
        raise ModelFileError(
            f"{path!r} holds an array that cannot be read (pickled objects are refused): {error}"
        ) from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError) as error:
        raise ModelFileError(
            f"{path!r} is damaged or truncated ({type(error).__name__}: {error})"
        ) from None
    for name, spec in listed.items():
        _check_listed(name, spec, arrays[name], path)
    return header, arrays


def _parse_header(raw: np.ndarray, path: str) -> dict[str, Any]:
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise ModelFileError(
            f"{path!r}: {CONFIG_KEY} must be a 1-D uint8 array of JSON, got dtype {raw.dtype} "
            f"and shape {raw.shape}"
        )
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFileError(f"{path!r}: the header is not valid JSON ({error})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        found = header.get("format") if isinstance(header, dict) else type(header).__name__
        raise ModelFileError(f"{path!r}: format must be {FORMAT_NAME!r}, got {found!r}")
    version = header.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ModelFileError(
            f"{path!r}: format_version must be a positive integer, got {version!r}"
        )
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path!r} uses format version {version}, newer than this scratchnn reads (up to "
            f"{FORMAT_VERSION}): upgrade scratchnn to load it"
        )
    for key, kind in (("arrays", dict), ("model", dict), ("rng_state", dict), ("kind", str)):
        if not isinstance(header.get(key), kind):
            raise ModelFileError(
                f"{path!r}: header entry {key!r} must be a {kind.__name__}, "
                f"got {type(header.get(key)).__name__}"
            )
    return header


def _check_listed(name: str, spec: Any, array: np.ndarray, path: str) -> None:
    if not isinstance(spec, dict) or "shape" not in spec or "dtype" not in spec:
        raise ModelFileError(f"{path!r}: header entry for array {name!r} is malformed: {spec!r}")
    if list(array.shape) != list(spec["shape"]) or array.dtype.name != spec["dtype"]:
        raise ModelFileError(
            f"{path!r}: array {name!r} must have shape {tuple(spec['shape'])} and dtype "
            f"{spec['dtype']} as its header says, got shape {array.shape} and dtype {array.dtype}"
        )
