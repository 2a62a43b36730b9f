"""MNIST-format IDX files (``.gz`` or not); CSV tables are read in :mod:`.tables`.

Nothing is downloaded: point these loaders at files you already have. Bad files raise
``ValueError`` naming the file and what is wrong with it.
"""

from __future__ import annotations

import gzip
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import describe

# IDX type codes (third magic byte) -> big-endian NumPy dtypes.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _check_path(path: str | os.PathLike, name: str = "path") -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a file path, got {describe(path)}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{name}: no such file {str(path)!r}")
    return path


# -- IDX (MNIST) ----------------------------------------------------------------------------------
MAX_IDX_BYTES = 2**32  # 4 GiB of values: far above MNIST (47 MB), far below a bomb


def _read_exactly(handle: Any, size: int, path: Path) -> bytes:
    """Up to ``size`` bytes, read in pieces so a huge ``size`` allocates only what arrives."""
    pieces, left = [], size
    try:
        while left > 0:
            piece = handle.read(min(left, 1 << 20))
            if not piece:
                break
            pieces.append(piece)
            left -= len(piece)
    except (OSError, EOFError) as error:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"{path}: not a readable gzip file ({error})") from None
    return b"".join(pieces)


def load_idx(path: str | os.PathLike, max_bytes: int = MAX_IDX_BYTES) -> np.ndarray:
    """Parse an IDX file (the MNIST format) into an array of its native shape and type.

    Layout: two zero bytes, a type code (``0x08`` uint8, ``0x09`` int8, ``0x0B`` int16, ``0x0C``
    int32, ``0x0D`` float32, ``0x0E`` float64), the number of dimensions, then each dimension as a
    big-endian uint32, then the values in C order, big-endian. Files ending in ``.gz`` are
    decompressed, never beyond the size the header declares.

    Parameters
    ----------
    path : str or path-like
        The file.
    max_bytes : int
        The largest data the header may declare (default 4 GiB); checked before reading it.

    Raises
    ------
    ValueError
        On a bad magic number, an unknown type code, a declared size above ``max_bytes``, or a
        length that does not match the dimensions.
    """
    path = _check_path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        head = _read_exactly(handle, 4, path)
        if len(head) < 4:
            raise ValueError(
                f"{path}: too short for an IDX file ({len(head)} bytes, need at least 4)"
            )
        if head[0] != 0 or head[1] != 0:
            raise ValueError(
                f"{path}: not an IDX file: magic number starts with {head[:2].hex()}, expected 0000"
            )
        code, ndim = head[2], head[3]
        if code not in IDX_DTYPES:
            known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
            raise ValueError(f"{path}: unknown IDX type code 0x{code:02X} (known: {known})")
        if ndim == 0:
            raise ValueError(f"{path}: IDX header declares 0 dimensions")
        header_size = 4 + 4 * ndim
        dims = _read_exactly(handle, 4 * ndim, path)
        if len(dims) < 4 * ndim:
            raise ValueError(
                f"{path}: truncated IDX header: {ndim} dimensions need {header_size} bytes, "
                f"the file has {4 + len(dims)}"
            )
        shape = tuple(int.from_bytes(dims[i : i + 4], "big") for i in range(0, 4 * ndim, 4))
        dtype = IDX_DTYPES[code]
        size = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
        if size > max_bytes:
            raise ValueError(
                f"{path}: IDX header declares shape {shape} of {dtype.name}, {size} bytes, "
                f"more than max_bytes={max_bytes}; a damaged header, or raise max_bytes"
            )
        data = _read_exactly(handle, size + 1, path)  # one byte more tells a longer file
    if len(data) != size:
        got = str(header_size + len(data))
        if len(data) > size:  # the gzip stream was not read to its end
            got = "more" if path.suffix == ".gz" else str(path.stat().st_size)
        raise ValueError(
            f"{path}: IDX size mismatch: shape {shape} of {dtype.name} needs "
            f"{header_size + size} bytes, the file has {got}"
        )
    return np.frombuffer(data, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def _find_mnist_file(folder: Path, stem: str, idx: str) -> Path:
    # Both spellings exist in the wild: "train-images-idx3-ubyte" and "train-images.idx3-ubyte".
    candidates = [f"{stem}-{idx}-ubyte", f"{stem}.{idx}-ubyte"]
    for name in candidates:
        for suffix in ("", ".gz"):
            if (folder / (name + suffix)).is_file():
                return folder / (name + suffix)
    raise FileNotFoundError(
        f"{folder}: no {candidates[0]} (or .gz) file; expected the MNIST/Fashion-MNIST files there"
    )


def load_mnist(
    folder: str | os.PathLike, kind: str = "train", normalize: bool = True, as_images: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Load MNIST or Fashion-MNIST from the four IDX files in ``folder`` (``.gz`` or not).

    Parameters
    ----------
    folder : str or path-like
        Holds ``{kind}-images-idx3-ubyte[.gz]`` and ``{kind}-labels-idx1-ubyte[.gz]``.
    kind : {"train", "t10k"}
        The training or the test files.
    normalize : bool
        Scale pixels from 0..255 to 0..1.
    as_images : bool
        Return ``X`` as images ``(n_images, rows, cols, 1)`` (for a convolutional network)
        instead of rows of pixels.

    Returns
    -------
    X : ndarray of shape (n_images, rows * cols), or (n_images, rows, cols, 1); float64
    y : ndarray of shape (n_images,), int64
    """
    if not isinstance(folder, (str, os.PathLike)) or not Path(folder).is_dir():
        raise ValueError(f"folder must be an existing directory, got {describe(folder)}")
    if not isinstance(as_images, bool):
        raise TypeError(f"as_images must be True or False, got {describe(as_images)}")
    if kind not in ("train", "t10k"):
        raise ValueError(f"kind must be 'train' or 't10k', got {describe(kind)}")
    folder = Path(folder)
    images_path = _find_mnist_file(folder, f"{kind}-images", "idx3")
    labels_path = _find_mnist_file(folder, f"{kind}-labels", "idx1")
    images, labels = load_idx(images_path), load_idx(labels_path)
    if images.ndim != 3:
        raise ValueError(f"{images_path}: expected 3-D images (n, rows, cols), got {images.shape}")
    if labels.ndim != 1:
        raise ValueError(f"{labels_path}: expected 1-D labels, got shape {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels"
        )
    shape = (*images.shape, 1) if as_images else (len(images), -1)
    X = images.reshape(shape).astype(np.float64)
    if normalize:
        X /= 255.0
    return X, labels.astype(np.int64)
