"""Row sources: data sliced by rows without loading it whole (HDF5, Zarr, Dask, memmaps).

``fit``, ``evaluate`` and ``predict`` take, besides NumPy arrays (and ``numpy.memmap``, which
NumPy already reads page by page), any array-like that can be sliced by rows: an ``h5py`` or
``zarr`` dataset, or a ``dask`` array. Such data are wrapped in a :class:`RowSource`, which reads
one batch at a time and returns it as a NumPy array, checked as it is read. Nothing here imports
h5py, zarr or dask: they are recognised by their types' modules and used through slicing
(``data[a:b]``), ``.compute()`` (dask) and ``.oindex`` (zarr).

Shuffling by blocks
-------------------
Row-level shuffling reads rows in random order: free in memory, slow on a disk or a network
store. A source that shuffles by blocks (the default for HDF5, Zarr and Dask; asked for with
``RowSource(data, shuffle="blocks")`` for a memmap) cuts the rows into blocks of ``block_rows``
contiguous rows (the storage's chunks where it has them), shuffles the order of the blocks, and
shuffles the rows within a buffer of ``buffer_blocks`` consecutive blocks of that order. Each
block is read once per epoch and held while its buffer is in use: memory is at most
``2 * buffer_blocks`` blocks. Batches mix rows from ``buffer_blocks`` blocks, not from the whole
data: the further apart related rows lie on disk, the larger the buffer should be.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import numpy as np

from ._validation import all_finite, describe

__all__ = [
    "ArrayGroup",
    "RowSource",
    "as_source",
    "block_batches",
    "is_source",
    "row_range",
    "scan",
]

# Modules whose arrays are read by slicing, batch by batch: never converted whole.
_LAZY_MODULES = ("h5py", "zarr", "dask")
_BLOCK_BYTES = 4 * 2**20  # a block's size when the storage has no chunks (or larger ones)


def _lazy_kind(data: Any) -> str | None:
    module = type(data).__module__.split(".")[0]
    if module in _LAZY_MODULES and hasattr(data, "shape") and hasattr(data, "dtype"):
        return module
    return None


def is_source(data: Any) -> bool:
    """Whether ``data`` is read batch by batch: a :class:`RowSource`, h5py, zarr or dask array."""
    return isinstance(data, RowSource) or _lazy_kind(data) is not None


class RowSource:
    """Rows of an array-like read one batch at a time, as checked NumPy arrays.

    ``source[rows]`` (``rows`` a slice or an array of row numbers, in any order) returns those
    rows as a NumPy array, after checking that they are finite (and, for a wider float than the
    model's, within its range); a bad row raises a ``ValueError`` naming it. ``len``, ``shape``,
    ``ndim`` and ``dtype`` are those of the rows in view.

    Parameters
    ----------
    data : array-like
        A ``numpy.ndarray`` or ``numpy.memmap``, an ``h5py.Dataset``, a ``zarr.Array`` or a
        ``dask.array.Array`` with the samples along the first axis.
    shuffle : {"auto", "rows", "blocks"}
        How ``fit`` shuffles these rows: ``"rows"`` (a permutation of all rows, as for NumPy
        arrays), ``"blocks"`` (see the module's description), or ``"auto"``: blocks for h5py,
        zarr and dask, rows for NumPy arrays and memmaps.
    block_rows : int, optional
        Rows per block; default: the storage's chunk rows, capped at about 4 MiB a block.
    buffer_blocks : int
        Blocks whose rows are shuffled together.

    Examples
    --------
    >>> import numpy as np
    >>> source = RowSource(np.arange(12.0).reshape(6, 2), shuffle="blocks", block_rows=2)
    >>> source.shape, source[[4, 0]].tolist()
    ((6, 2), [[8.0, 9.0], [0.0, 1.0]])
    """

    def __init__(
        self,
        data: Any,
        shuffle: str = "auto",
        block_rows: int | None = None,
        buffer_blocks: int = 4,
    ) -> None:
        rows_in_view = None
        if isinstance(data, RowSource):  # re-wrapped with other settings: keep its view
            rows_in_view = (data._start, data._stop)
            data = data._data
        kind = _lazy_kind(data) or ("numpy" if isinstance(data, np.ndarray) else None)
        if kind is None:
            raise TypeError(
                "data must be a NumPy array, memmap, h5py dataset, zarr array or dask array, "
                f"got {describe(data)}"
            )
        if shuffle not in ("auto", "rows", "blocks"):
            raise ValueError(f"shuffle must be 'auto', 'rows' or 'blocks', got {shuffle!r}")
        for name, value in (("block_rows", block_rows), ("buffer_blocks", buffer_blocks)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise TypeError(f"{name} must be a positive integer, got {describe(value)}")
            if value is not None and value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value}")
        self._data, self.kind = data, kind
        self.dtype = np.dtype(data.dtype)
        if any(isinstance(n, float) and math.isnan(n) for n in data.shape):
            raise ValueError(
                f"data must have known sizes, got a dask array of shape {data.shape}; call "
                "its compute_chunk_sizes() first"
            )
        self._full_shape = tuple(int(n) for n in data.shape)
        if not self._full_shape:
            raise ValueError(f"data must have a samples axis, got a scalar of dtype {self.dtype}")
        self._start, self._stop = rows_in_view or (0, self._full_shape[0])
        if shuffle == "auto":
            shuffle = "rows" if kind == "numpy" else "blocks"
        self.shuffle = shuffle
        self.block_rows = block_rows or self._default_block_rows()
        self.buffer_blocks = buffer_blocks
        self.name = "X"
        self._limit: float | None = None  # the model dtype's largest value, for wider floats
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()

    def _default_block_rows(self) -> int:
        row_bytes = max(1, self.dtype.itemsize * math.prod(self._full_shape[1:]))
        cap = max(1, _BLOCK_BYTES // row_bytes)
        chunks = getattr(self._data, "chunks", None)
        if self.kind == "dask":
            chunk_rows = max(self._data.chunks[0]) if self._data.chunks[0] else cap
        elif isinstance(chunks, tuple) and chunks and isinstance(chunks[0], int):
            chunk_rows = chunks[0]  # h5py, zarr
        else:
            chunk_rows = cap
        return int(max(1, min(chunk_rows, cap)))

    # -- what it looks like -------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of the rows in view, samples first."""
        return (self._stop - self._start, *self._full_shape[1:])

    @property
    def ndim(self) -> int:
        """The number of axes, the samples' included."""
        return len(self._full_shape)

    def __len__(self) -> int:
        return self._stop - self._start

    def __repr__(self) -> str:
        return (
            f"RowSource({self.kind}, shape={self.shape}, dtype={self.dtype}, "
            f"shuffle={self.shuffle!r}, block_rows={self.block_rows})"
        )

    def checked_as(self, name: str, dtype: Any) -> RowSource:
        """A view that names itself ``name`` in errors and checks values fit ``dtype``."""
        view = self.view(0, len(self))
        view.name = name
        target = np.dtype(dtype)
        if self.dtype.kind == "f" and self.dtype.itemsize > target.itemsize:
            view._limit = float(np.finfo(target).max)
        return view

    def view(self, start: int, stop: int) -> RowSource:
        """Rows ``start:stop`` of this view, without reading or copying them."""
        start, stop, _ = slice(start, stop).indices(len(self))
        view = object.__new__(RowSource)
        view.__dict__.update(self.__dict__)
        view._start, view._stop = self._start + start, self._start + max(start, stop)
        view._cache = OrderedDict()
        return view

    # -- reading ------------------------------------------------------------------------------
    def __getitem__(self, rows: Any) -> np.ndarray:
        if isinstance(rows, slice):
            start, stop, step = rows.indices(len(self))
            if step != 1:
                return self[np.arange(start, stop, step)]
            batch = self._read(self._start + start, self._start + max(start, stop))
            return self._checked(batch, np.arange(start, max(start, stop)))
        index = np.asarray(rows)
        if index.ndim != 1 or index.dtype.kind not in "iu":
            raise TypeError(f"rows must be a slice or 1-D integer array, got {describe(rows)}")
        if index.size and (index.min() < 0 or index.max() >= len(self)):
            raise IndexError(f"rows must lie in [0, {len(self)}), got {index.min()}..{index.max()}")
        if self.shuffle == "blocks":
            batch = self._gather_blocks(index)
        else:
            batch = self._gather(index)
        return self._checked(batch, index)

    def _read(self, start: int, stop: int) -> np.ndarray:
        """Absolute rows ``start:stop`` as a NumPy array."""
        part = self._data[start:stop]
        if self.kind == "dask":
            part = part.compute()
        return np.asarray(part)

    def _gather(self, index: np.ndarray) -> np.ndarray:
        """Rows at ``index`` (relative, any order) read in increasing order, then put back."""
        if self.kind == "numpy":
            return self._data[self._start + index]
        order = np.argsort(index, kind="stable")
        wanted = index[order] + self._start
        unique, inverse = np.unique(wanted, return_inverse=True)
        if unique.size and unique[-1] - unique[0] < 4 * unique.size:
            part = self._read(int(unique[0]), int(unique[-1]) + 1)[unique - unique[0]]
        elif self.kind == "zarr":
            part = np.asarray(self._data.oindex[unique])
        elif self.kind == "dask":
            part = np.asarray(self._data[unique].compute())
        else:
            part = np.asarray(self._data[unique])  # h5py: increasing indices
        batch = np.empty((len(index), *part.shape[1:]), part.dtype)
        batch[order] = part[inverse]
        return batch

    def _gather_blocks(self, index: np.ndarray) -> np.ndarray:
        """Rows at ``index`` from whole blocks, each read once and held while it is in use."""
        absolute = index + self._start
        blocks = absolute // self.block_rows
        capacity = 2 * self.buffer_blocks
        for block in np.unique(blocks):
            block = int(block)
            if block in self._cache:
                self._cache.move_to_end(block)
                continue
            start = block * self.block_rows
            self._cache[block] = self._read(
                start, min(start + self.block_rows, self._full_shape[0])
            )
            while len(self._cache) > max(capacity, 1):
                self._cache.popitem(last=False)
        first = self._cache[int(blocks[0])] if len(index) else self._read(0, 0)
        batch = np.empty((len(index), *first.shape[1:]), first.dtype)
        offsets = absolute - blocks * self.block_rows
        for block in np.unique(blocks):
            where = blocks == block
            batch[where] = self._cache[int(block)][offsets[where]]
        return batch

    def _checked(self, batch: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """``batch`` after the checks fit and predict make; ``rows`` are its row numbers."""
        if batch.dtype.kind != "f":
            return batch
        if all_finite(batch) and (
            self._limit is None or not batch.size or np.max(np.abs(batch)) <= self._limit
        ):
            return batch
        flat = batch.reshape(len(batch), -1)
        with np.errstate(over="ignore", invalid="ignore"):
            bad = ~np.isfinite(flat).all(axis=1)
            if self._limit is not None:
                bad |= np.abs(flat).max(axis=1) > self._limit
        where = np.asarray(rows)[bad][:5].tolist()
        what = "NaN or infinite values" if not all_finite(batch) else "values too large"
        raise ValueError(
            f"{self.name} must be finite and within the model's dtype, got {what} in "
            f"{int(bad.sum())} row(s) of this batch, first at row(s) {where}"
        )


def as_source(data: Any, name: str, dtype: Any, ndim: tuple[int, ...]) -> RowSource:
    """``data`` as a :class:`RowSource` checked for ``fit``/``predict`` (type, axes, emptiness)."""
    source = data if isinstance(data, RowSource) else RowSource(data)
    if source.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must hold numbers, got an array of dtype {source.dtype} "
            "(convert strings or objects to numbers first)"
        )
    if source.ndim not in ndim:
        wanted = " or ".join(f"{n}-D" for n in ndim)
        raise ValueError(f"{name} must be {wanted}, got an array of shape {source.shape}")
    if len(source) == 0 or 0 in source.shape:
        raise ValueError(f"{name} must not be empty, got an array of shape {source.shape}")
    return source.checked_as(name, dtype)


class SelectedRows:
    """Some rows of an array, by index, read only when a batch asks: a split without a copy.

    ``SelectedRows(X, index)[rows]`` is ``X[index[rows]]``, gathered then; ``len`` is
    ``len(index)``. What a held-out split needs so that the training part is never copied whole.
    """

    def __init__(self, data: Any, index: np.ndarray) -> None:
        self.data = data
        self.index = np.asarray(index, dtype=np.intp)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.index), *self.data.shape[1:])

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> Any:
        return self.data.dtype

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, rows: Any) -> np.ndarray:
        return self.data[self.index[rows]]


class ArrayGroup:
    """Several arrays of one length whose rows go together: a model's inputs, or its targets.

    ``group[rows]`` is the list ``[array[rows] for array in group.arrays]``; ``len`` is the
    common length. Each array may be a NumPy array or a :class:`RowSource`.
    """

    def __init__(self, arrays: list[Any]) -> None:
        self.arrays = list(arrays)

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, rows: Any) -> list[Any]:
        return [array[rows] for array in self.arrays]


def scan(data: Any) -> None:
    """Read a :class:`RowSource` once, block by block, so that bad rows stop ``fit`` before it
    changes anything; NumPy arrays (checked whole already) pass untouched."""
    if isinstance(data, ArrayGroup):
        for array in data.arrays:
            scan(array)
        return
    if not isinstance(data, RowSource):
        return
    step = data.block_rows
    for start in range(0, len(data), step):
        data[start : start + step]  # checks as it reads


def row_range(data: Any, start: int, stop: int) -> Any:
    """Rows ``start:stop`` of an array (a view) or of a :class:`RowSource` (a lazy view)."""
    if isinstance(data, ArrayGroup):
        return ArrayGroup([row_range(array, start, stop) for array in data.arrays])
    return data.view(start, stop) if isinstance(data, RowSource) else data[start:stop]


def block_layout(data: Any) -> tuple[int, int] | None:
    """``(block_rows, buffer_blocks)`` when ``fit`` should shuffle ``data`` by blocks, else None."""
    if isinstance(data, ArrayGroup):
        return next(filter(None, map(block_layout, data.arrays)), None)
    if isinstance(data, RowSource) and data.shuffle == "blocks":
        return data.block_rows, data.buffer_blocks
    return None


def block_batches(
    n: int, batch_size: int, block_rows: int, buffer_blocks: int, rng: np.random.Generator
) -> Iterator[np.ndarray]:
    """Row numbers of one epoch's batches, shuffled by blocks (see the module's description).

    Yields ``ceil(n / batch_size)`` arrays of ``batch_size`` rows (the last one shorter), as
    row-level shuffling does; only one buffer's rows are held at a time, never ``n``.
    """
    n_blocks = math.ceil(n / block_rows)
    block_order = rng.permutation(n_blocks)
    carry = np.empty(0, dtype=np.intp)
    for first in range(0, n_blocks, buffer_blocks):
        rows = np.concatenate(
            [
                np.arange(block * block_rows, min((block + 1) * block_rows, n), dtype=np.intp)
                for block in block_order[first : first + buffer_blocks]
            ]
        )
        carry = np.concatenate([carry, rng.permutation(rows)])
        while len(carry) >= batch_size:
            yield carry[:batch_size]
            carry = carry[batch_size:]
    if len(carry):
        yield carry
