"""Data from files: numeric CSV tables and MNIST-format IDX files (``.gz`` or not).

Nothing is downloaded: point these loaders at files you already have. Bad files raise
``ValueError`` naming the file and what is wrong with it.
"""

from __future__ import annotations

import csv
import gzip
import os
from pathlib import Path

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


# -- CSV ------------------------------------------------------------------------------------------
def load_csv(
    path: str | os.PathLike,
    target: str | int | None = -1,
    header: bool = True,
    delimiter: str = ",",
) -> tuple[np.ndarray, np.ndarray | None]:
    """Read a table of numbers; return ``(X, y)`` with ``y`` the ``target`` column.

    Parameters
    ----------
    path : str or path-like
        The CSV file. Blank lines are skipped; every other row needs the same number of fields.
    target : str, int or None
        The target column: its header name, or its index (negative counts from the end).
        ``None`` reads every column into ``X`` and returns ``y = None``.
    header : bool
        Whether the first row holds column names.
    delimiter : str
        The field separator.

    Returns
    -------
    X : ndarray of shape (n_rows, n_columns - 1)
    y : ndarray of shape (n_rows,) or None
        Both float64.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from scratchnn.datasets import load_csv
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = path.write_text("a,b,label\\n1,2,0\\n3,4,1\\n")
    >>> X, y = load_csv(path, target="label")
    >>> X.tolist(), y.tolist()
    ([[1.0, 2.0], [3.0, 4.0]], [0.0, 1.0])
    """
    path = _check_path(path)
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        rows = [(number, row) for number, row in enumerate(reader, 1) if "".join(row).strip()]
    names: list[str] | None = None
    if header:
        if not rows:
            raise ValueError(f"{path}: the file is empty, expected a header row")
        names = [name.strip() for name in rows.pop(0)[1]]
    if not rows:
        raise ValueError(f"{path}: no data rows")
    width = len(names) if names is not None else len(rows[0][1])
    values = np.empty((len(rows), width), dtype=np.float64)
    for index, (number, row) in enumerate(rows):
        if len(row) != width:
            raise ValueError(f"{path}: line {number} has {len(row)} fields, expected {width}")
        for column, field in enumerate(row):
            try:
                values[index, column] = float(field)
            except ValueError:
                label = repr(names[column]) if names else str(column)
                raise ValueError(
                    f"{path}: line {number}, column {label} is not a number: {field.strip()!r} "
                    "(only numeric CSV files are supported)"
                ) from None
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{path}: holds NaN or infinite values")
    if target is None:
        return values, None
    column = _target_column(target, names, width, path)
    return np.delete(values, column, axis=1), values[:, column]


def _target_column(target: str | int, names: list[str] | None, width: int, path: Path) -> int:
    if isinstance(target, str):
        if names is None:
            if target.lstrip("-").isdigit():
                return _target_column(int(target), names, width, path)
            raise ValueError(
                f"target {target!r} is a column name but {path} is read without a header; "
                "give a column index or header=True"
            )
        if target in names:
            return names.index(target)
        if target.lstrip("-").isdigit():
            return _target_column(int(target), names, width, path)
        raise ValueError(f"target {target!r} is not a column of {path} (columns: {names})")
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)):
        raise TypeError(f"target must be a column name or index, got {describe(target)}")
    if not -width <= target < width:
        raise ValueError(f"target index {target} is out of range for {path}'s {width} columns")
    if width < 2:
        raise ValueError(f"{path} has one column: nothing is left for the features")
    return int(target) % width


# -- IDX (MNIST) ----------------------------------------------------------------------------------
def _read_bytes(path: Path) -> bytes:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            return handle.read()
    except (OSError, EOFError) as error:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"{path}: not a readable gzip file ({error})") from None


def load_idx(path: str | os.PathLike) -> np.ndarray:
    """Parse an IDX file (the MNIST format) into an array of its native shape and type.

    Layout: two zero bytes, a type code (``0x08`` uint8, ``0x09`` int8, ``0x0B`` int16, ``0x0C``
    int32, ``0x0D`` float32, ``0x0E`` float64), the number of dimensions, then each dimension as a
    big-endian uint32, then the values in C order, big-endian. Files ending in ``.gz`` are
    decompressed first.

    Raises
    ------
    ValueError
        On a bad magic number, an unknown type code, or a length that does not match the
        dimensions.
    """
    path = _check_path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise ValueError(f"{path}: too short for an IDX file ({len(data)} bytes, need at least 4)")
    if data[0] != 0 or data[1] != 0:
        raise ValueError(
            f"{path}: not an IDX file: magic number starts with {data[:2].hex()}, expected 0000"
        )
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02X} (known: {known})")
    if ndim == 0:
        raise ValueError(f"{path}: IDX header declares 0 dimensions")
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise ValueError(
            f"{path}: truncated IDX header: {ndim} dimensions need {header_size} bytes, "
            f"the file has {len(data)}"
        )
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = header_size + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise ValueError(
            f"{path}: IDX size mismatch: shape {shape} of {dtype.name} needs {expected} bytes, "
            f"the file has {len(data)}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_size).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


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
    folder: str | os.PathLike, kind: str = "train", normalize: bool = True
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

    Returns
    -------
    X : ndarray of shape (n_images, rows * cols), float64
    y : ndarray of shape (n_images,), int64
    """
    if not isinstance(folder, (str, os.PathLike)) or not Path(folder).is_dir():
        raise ValueError(f"folder must be an existing directory, got {describe(folder)}")
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
    X = images.reshape(len(images), -1).astype(np.float64)
    if normalize:
        X /= 255.0
    return X, labels.astype(np.int64)
