"""The container of model files: a ZIP (``.npz``) of ``.npy`` members with a JSON header.

This module knows bytes, not networks: it writes a header and named arrays atomically, and reads
them back checked against each other. What the header and arrays mean is :mod:`scratchnn.io`'s
business. Every problem with a file raises :class:`ModelFileError`, whatever its bytes; reading
never runs code from the file (no pickle), never blocks on something that is not a regular file,
and allocates no more memory than the archive's own directory, the ``.npy`` headers and the JSON
header agree on: every declared size is checked against the others before anything is inflated.

Saving is atomic (see :mod:`scratchnn._atomic`): a crash or a full disk mid-save leaves the
previous file intact.
"""

from __future__ import annotations

import ast
import json
import os
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable
from typing import Any, BinaryIO

import numpy as np

from ._atomic import remove_temporaries_of, replace_atomically, target_of
from ._header import FORMAT_NAME, FORMAT_VERSION, parse_header
from ._header import clip as _clip
from ._header import short_repr as _short
from ._validation import describe

__all__ = [
    "CONFIG_KEY",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MAX_HEADER_BYTES",
    "MAX_MEMBERS",
    "ModelFileError",
    "read_model_file",
    "write_model_file",
]

CONFIG_KEY = "__config__"
MAX_HEADER_BYTES = 16 * 2**20  # the JSON header; a 1000-layer model needs about 300 kB
MAX_MEMBERS = 10_000  # arrays in one file: at most 4 a layer, so 2,500 layers
MAX_DIRECTORY_BYTES = 4 * 2**20  # the ZIP's central directory, which zipfile reads whole
_NPY_HEADER_BYTES = 10_000  # what numpy itself allows an .npy header
_DEFLATE_RATIO = 1032  # deflate cannot inflate more than this from one byte
_ZIP_MAGIC = b"PK\x03\x04"
_UNSUPPORTED_FLAGS = 0x1 | 0x20 | 0x40  # encrypted, patched data, strong encryption
_CHUNK = 2**20
# What zipfile and zlib raise for damaged bytes; turned into ModelFileError at one place.
_DAMAGED = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    OSError,
    ValueError,
    struct.error,
    OverflowError,
    NotImplementedError,
    RuntimeError,
    KeyError,
    IndexError,
)


class ModelFileError(ValueError):
    """A model file that cannot be loaded: not ours, damaged, or inconsistent with its header."""


def _few(names: list[str], limit: int = 5) -> str:
    """``names`` for a message: the first ``limit`` and how many there are in all."""
    shown = ", ".join(_short(name) for name in names[:limit])
    more = f", ... ({len(names)} in all)" if len(names) > limit else ""
    return f"[{shown}{more}]"


# -- writing --------------------------------------------------------------------------------------
def write_model_file(path: str | os.PathLike, header: dict[str, Any], arrays: dict) -> None:
    """Write ``header`` and ``arrays`` to ``path`` atomically (temp file, fsync, rename).

    ``path`` may be a symbolic link: its target is replaced and the link kept. A new file gets
    the permissions the umask allows; a replaced file keeps its own.
    """
    target = target_of(path)
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
    replace_atomically(target, lambda handle: np.savez(handle, **entries))


# -- reading --------------------------------------------------------------------------------------
def read_model_file(
    path: str | os.PathLike, check_listing: Callable[[dict[str, Any], str], None] | None = None
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read and check a model file's header and arrays, without building anything.

    Checks the archive (one ``.npy`` member per name, stored or deflated, none encrypted, sizes
    within the file), the header's format, version and structure, and that the arrays present are
    exactly those the header lists, with the listed shapes and dtypes. ``check_listing(header,
    path)``, when given, then judges the listed shapes against what the header's model needs
    (raising :class:`ModelFileError`) before any array is inflated. Raises
    :class:`ModelFileError` on any problem, ``FileNotFoundError`` when there is no file.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {describe(path)}")
    path = os.fspath(path)
    if not isinstance(path, str):
        raise TypeError(f"path must be a str or os.PathLike naming a file, got {describe(path)}")
    if "\0" in path:
        raise ValueError(f"path must name a file, got {path!r}")
    with _open_regular_file(path) as handle:
        remove_temporaries_of(path)  # a save killed mid-write (kill -9) left one: ours to drop
        size = os.fstat(handle.fileno()).st_size
        try:
            magic = handle.read(4)
        except OSError as error:  # /proc/self/mem: a "regular file" whose reads fail
            raise ModelFileError(
                f"cannot read model file {path!r}: {error.strerror or error}"
            ) from None
        if magic != _ZIP_MAGIC:
            raise ModelFileError(
                f"{path!r} is not a scratchnn model file: expected an .npz (ZIP) archive, got a "
                f"file starting with {magic!r}"
            )
        try:
            declared = _check_directory_size(handle, size, path)
            with zipfile.ZipFile(handle) as archive:
                members = _check_members(archive.infolist(), handle, size, path)
                if declared is not None and declared != len(archive.infolist()):
                    raise ModelFileError(
                        f"{path!r} is damaged or ambiguous: its directory holds "
                        f"{len(archive.infolist())} members, its end record says {declared}"
                    )
                if CONFIG_KEY not in members:
                    raise ModelFileError(f"{path!r} has no {CONFIG_KEY!r} entry: not a model file")
                header = _read_header(archive, members[CONFIG_KEY], path)
                listed = header["arrays"]
                _check_listing(members, listed, path)
                # All .npy headers are checked against the listing before any array is read.
                layouts = {
                    name: _check_layout(archive, members[name], listed[name], name, path)
                    for name in sorted(listed)
                }
                if check_listing is not None:  # a 1 kB file may declare gigabytes: judge first
                    check_listing(header, path)
                arrays = {
                    name: _read_data(archive, members[name], layouts[name], name, path)
                    for name in sorted(listed)
                }
        except ModelFileError:
            raise
        except _DAMAGED as error:
            raise ModelFileError(
                f"{path!r} is damaged or truncated ({type(error).__name__}: {_clip(str(error))})"
            ) from None
    return header, arrays


def _open_regular_file(path: str) -> BinaryIO:
    """Open ``path`` for reading, refusing anything but a regular file without blocking on it."""
    try:
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            raise ModelFileError(f"{path!r} is {_file_kind(mode)}, not a model file")
        # O_NONBLOCK: a FIFO swapped in after the stat opens at once instead of hanging.
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
        descriptor = os.open(path, flags | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        broken = " (a symbolic link to a missing file)" if os.path.islink(path) else ""
        raise FileNotFoundError(f"no model file at {path!r}{broken}") from None
    except OSError as error:
        reason = error.strerror or str(error)
        raise ModelFileError(f"cannot read model file {path!r}: {reason}") from None
    handle = os.fdopen(descriptor, "rb")
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        handle.close()
        raise ModelFileError(f"{path!r} is {_file_kind(mode)}, not a model file")
    return handle


def _file_kind(mode: int) -> str:
    kinds = [
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ]
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def _check_directory_size(handle: BinaryIO, size: int, path: str) -> int | None:
    """Refuse a central directory too large to read, before zipfile reads it whole.

    Finds the end-of-directory record the way zipfile does (at the very end, else the last one
    within a maximal comment), and its ZIP64 twin just before it.
    """
    tail_size = min(size, 22 + 0xFFFF)
    handle.seek(size - tail_size)
    tail = handle.read(tail_size)
    if tail[-22:-18] == b"PK\x05\x06" and tail[-2:] == b"\0\0":
        at = len(tail) - 22
    else:
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or at + 22 > len(tail):
            return None  # no directory at all: zipfile says so
    count, directory = struct.unpack_from("<HL", tail, at + 10)
    if at >= 76 and tail[at - 20 : at - 16] == b"PK\x06\x07":
        if tail[at - 76 : at - 72] == b"PK\x06\x06":
            count64, directory64 = struct.unpack_from("<QQ", tail, at - 76 + 32)
            count, directory = max(count, count64), max(directory, directory64)
    if count > MAX_MEMBERS or directory > MAX_DIRECTORY_BYTES:
        raise ModelFileError(
            f"{path!r} declares {count} members in a directory of {directory} bytes, more than a "
            f"model file holds (at most {MAX_MEMBERS} members, {MAX_DIRECTORY_BYTES} bytes)"
        )
    return count


def _check_members(infos: list[zipfile.ZipInfo], handle: BinaryIO, size: int, path: str) -> dict:
    """Map array names to members, refusing anything ambiguous, encrypted or oversized.

    Each member's local header is read too: it must agree with the central directory on
    encryption and compression, which other ZIP readers may take from either.
    """
    if len(infos) > MAX_MEMBERS:
        raise ModelFileError(f"{path!r} holds {len(infos)} members, more than {MAX_MEMBERS}")
    members: dict[str, zipfile.ZipInfo] = {}
    problems: list[str] = []
    spans = []
    for info in infos:
        name = info.filename
        if not name.endswith(".npy"):
            problems.append(f"member {_short(name)} is not an .npy array")
        elif name[:-4] in members:
            problems.append(f"member {_short(name)} appears twice")
        members.setdefault(name[:-4], info)
        handle.seek(info.header_offset)
        local = handle.read(30)
        if len(local) < 30 or local[:4] != _ZIP_MAGIC:
            problems.append(f"member {_short(name)} has no local header")
            continue
        flags, method = struct.unpack_from("<HH", local, 6)
        if (flags | info.flag_bits) & _UNSUPPORTED_FLAGS:
            problems.append(f"member {_short(name)} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            problems.append(f"member {_short(name)} uses compression method {info.compress_type}")
        elif method != info.compress_type:
            problems.append(f"member {_short(name)} has two compression methods")
        stored = info.compress_type == zipfile.ZIP_STORED
        if (stored and info.file_size != info.compress_size) or (
            info.file_size > _DEFLATE_RATIO * info.compress_size + 64
        ):
            problems.append(
                f"member {_short(name)} declares {info.file_size} bytes from "
                f"{info.compress_size}, more than it can hold"
            )
        data_start = info.header_offset + 30 + sum(struct.unpack_from("<HH", local, 26))
        spans.append((info.header_offset, data_start + info.compress_size))
    spans.sort()
    for (_, end), (start, _) in zip(spans, [*spans[1:], (size, size)], strict=True):
        if end > start:
            problems.append("members overlap or extend past the end of the file")
            break
    if problems:
        more = f" (and {len(problems) - 3} more problems)" if len(problems) > 3 else ""
        raise ModelFileError(f"{path!r} is damaged or ambiguous: {'; '.join(problems[:3])}{more}")
    return members


def _check_listing(members: dict, listed: dict, path: str) -> None:
    present = set(members) - {CONFIG_KEY}
    missing = sorted(set(listed) - present)
    extra = sorted(present - set(listed))
    if missing:
        raise ModelFileError(f"{path!r} lacks the arrays {_few(missing)} its header lists")
    if extra:
        raise ModelFileError(f"{path!r} holds arrays its header does not list: {_few(extra)}")


# -- .npy members ---------------------------------------------------------------------------------
def _read_npy_header(stream: BinaryIO, name: str, path: str) -> tuple[np.dtype, tuple, bool, int]:
    """Parse an ``.npy`` preamble: dtype, shape, Fortran order, and its length in bytes."""
    preamble = stream.read(10)
    if len(preamble) < 10 or preamble[:6] != b"\x93NUMPY" or preamble[6] not in (1, 2, 3):
        raise ModelFileError(f"{path!r}: member {_short(name)} is not an .npy array")
    if preamble[6] == 1:
        (length,), start = struct.unpack("<H", preamble[8:10]), 10
    else:
        preamble += stream.read(2)
        (length,), start = struct.unpack("<I", preamble[8:12]), 12
    if length > _NPY_HEADER_BYTES:
        raise ModelFileError(
            f"{path!r}: member {_short(name)} has an .npy header of {length} bytes"
        )
    text = stream.read(length)
    try:
        fields = ast.literal_eval(text.decode("utf-8" if preamble[6] == 3 else "latin1"))
        descr, shape, fortran = fields["descr"], fields["shape"], fields["fortran_order"]
        dtype = np.dtype(descr) if isinstance(descr, str) else np.dtype(object)
    except (ValueError, TypeError, SyntaxError, KeyError, RecursionError, MemoryError) as error:
        raise ModelFileError(
            f"{path!r}: member {_short(name)} has an unreadable .npy header ({_clip(str(error))})"
        ) from None
    if len(text) < length or not isinstance(fortran, bool) or not _is_shape(shape):
        raise ModelFileError(f"{path!r}: member {_short(name)} has a malformed .npy header")
    if dtype.hasobject:
        raise ModelFileError(
            f"{path!r}: member {_short(name)} holds an array that cannot be read (pickled objects "
            "are refused)"
        )
    if dtype.kind not in "biuf" or dtype.fields is not None or dtype.shape != ():
        raise ModelFileError(f"{path!r}: member {_short(name)} has unsupported dtype {dtype}")
    return dtype, tuple(shape), fortran, start + length


def _is_shape(shape: Any) -> bool:
    return (
        isinstance(shape, (tuple, list))
        and len(shape) <= 32
        and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)
    )


def _check_layout(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, spec: dict, name: str, path: str
) -> tuple[np.dtype, tuple, bool, int]:
    """Check a member's ``.npy`` header against the listing and the ZIP's declared size."""
    with archive.open(info) as stream:
        layout = dtype, shape, _, start = _read_npy_header(stream, name, path)
    if list(shape) != spec["shape"] or dtype.name != spec["dtype"]:
        raise ModelFileError(
            f"{path!r}: array {name!r} must have shape {tuple(spec['shape'])} and dtype "
            f"{spec['dtype']} as its header says, got shape {shape} and dtype {dtype}"
        )
    _check_size(info, dtype, shape, start, name, path)
    return layout


def _check_size(
    info: zipfile.ZipInfo, dtype: np.dtype, shape: tuple, start: int, name: str, path: str
) -> None:
    nbytes = dtype.itemsize * _product(shape)
    if start + nbytes != info.file_size:
        raise ModelFileError(
            f"{path!r}: member {_short(name)} is {info.file_size} bytes but its .npy header "
            f"declares {start + nbytes}: damaged or truncated"
        )


def _product(shape: tuple) -> int:
    count = 1
    for n in shape:
        count *= n
    return count


def _read_data(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, layout: tuple, name: str, path: str
) -> np.ndarray:
    """Read a member's array in chunks into a buffer of exactly its declared size."""
    dtype, shape, fortran, start = layout
    try:
        buffer = np.empty(info.file_size - start, dtype=np.uint8)
    except MemoryError:
        raise ModelFileError(
            f"{path!r}: array {_short(name)} needs {info.file_size - start} bytes, more memory "
            "than this machine can give"
        ) from None
    view = memoryview(buffer)
    with archive.open(info) as stream:
        stream.read(start)
        filled = 0
        while filled < len(buffer):
            got = stream.readinto(view[filled : filled + _CHUNK])
            if not got:
                raise ModelFileError(
                    f"{path!r}: member {_short(name)} ends after {filled} of {len(buffer)} "
                    "bytes: damaged or truncated"
                )
            filled += got
    array = buffer.view(dtype)
    return array.reshape(shape[::-1]).T if fortran else array.reshape(shape)


# -- the JSON header ------------------------------------------------------------------------------
def _read_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: str) -> dict[str, Any]:
    if info.file_size > MAX_HEADER_BYTES + _NPY_HEADER_BYTES:
        raise ModelFileError(
            f"{path!r}: the header is {info.file_size} bytes, more than the {MAX_HEADER_BYTES} "
            "a model file may have"
        )
    with archive.open(info) as stream:
        layout = dtype, shape, _, start = _read_npy_header(stream, CONFIG_KEY, path)
    if dtype != np.uint8 or len(shape) != 1:
        raise ModelFileError(
            f"{path!r}: {CONFIG_KEY} must be a 1-D uint8 array of JSON, got dtype {dtype} and "
            f"shape {shape}"
        )
    if shape[0] > MAX_HEADER_BYTES:
        raise ModelFileError(
            f"{path!r}: the header is {shape[0]} bytes, more than the {MAX_HEADER_BYTES} a model "
            "file may have"
        )
    _check_size(info, dtype, shape, start, CONFIG_KEY, path)
    raw = _read_data(archive, info, layout, CONFIG_KEY, path)
    try:
        return parse_header(raw.tobytes())
    except ValueError as error:
        raise ModelFileError(f"{path!r}: {error}") from None
