"""Prediction on a Dask cluster: the model mapped over the blocks of a dask array.

``pip install scratchnn[dask]``. The model travels to the workers as the bytes of its model file
(``docs/model-format.md``), the same bytes ``model.save`` writes, and is read back there by
:func:`scratchnn.load` with every check a file gets: no pickle of live objects, so a worker runs
only what the file format can describe. Each worker reads a given model once and keeps it
(:func:`model_from_bytes` is cached on the bytes).

Grid searches need nothing from this module: the scikit-learn estimators
(:mod:`scratchnn.sklearn`) run in ``GridSearchCV`` under ``joblib.parallel_backend("dask")``
like any scikit-learn estimator (``docs/guides/scale.md``).
"""

from __future__ import annotations

import functools
import os
import tempfile
from typing import Any

import numpy as np

from . import io
from ._validation import check_positive_int, describe
from .network import Network

__all__ = ["model_from_bytes", "model_to_bytes", "predict"]


def model_to_bytes(model: Network) -> bytes:
    """The bytes of ``model``'s model file, as ``model.save(path)`` writes them."""
    if not isinstance(model, Network) or not model.built:
        raise TypeError(f"model must be a built scratchnn model, got {describe(model)}")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.npz")
        io.save(model, path)
        with open(path, "rb") as handle:
            return handle.read()


@functools.lru_cache(maxsize=4)
def model_from_bytes(data: bytes) -> Any:
    """The model whose file holds ``data``, read with :func:`scratchnn.load` and its checks.

    Cached on the bytes: the blocks a worker predicts share one model (inference writes nothing
    on a model, so threads may share it too).
    """
    if not isinstance(data, bytes):
        raise TypeError(f"data must be the bytes of a model file, got {describe(data)}")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.npz")
        with open(path, "wb") as handle:
            handle.write(data)
        return io.load(path)


def _predict_block(block: np.ndarray, model_bytes: bytes, batch_size: int) -> np.ndarray:
    return model_from_bytes(model_bytes).predict(block, batch_size=batch_size)


def predict(model: Network, X: Any, batch_size: int = 8192) -> Any:
    """Outputs of ``model`` for a dask array ``X``, as a lazy dask array mapped over its blocks.

    ``X`` ``(N, ...input_shape)`` keeps its row chunks (the other axes are joined into one chunk
    each); the result is ``(N, ...output_shape)`` in the model's dtype, with the same row chunks.
    Nothing runs until it is computed (``.compute()``, or on a ``dask.distributed`` client).
    Each block is checked on its worker as ``model.predict`` checks its input.

    Examples
    --------
    >>> import dask.array as da
    >>> from scratchnn import Sequential
    >>> from scratchnn.layers import Dense
    >>> model = Sequential([Dense(2, input_dim=3)], seed=0)
    >>> X = da.ones((10, 3), chunks=4)
    >>> out = predict(model, X)
    >>> out.shape, out.chunks[0]
    ((10, 2), (4, 4, 2))
    """
    import dask.array as da
    from dask import delayed

    if not isinstance(X, da.Array):
        raise TypeError(f"X must be a dask array, got {describe(X)}")
    batch_size = check_positive_int(batch_size, "batch_size")
    payload = model_to_bytes(model)
    if X.ndim < 2 or X.shape[1:] != tuple(model.input_shape):
        raise ValueError(
            f"X must have shape (N, {', '.join(map(str, model.input_shape))}), got {X.shape}"
        )
    if X.dtype.kind not in "biuf":
        raise TypeError(f"X must hold numbers, got a dask array of dtype {X.dtype}")
    X = X.rechunk({axis: -1 for axis in range(1, X.ndim)})
    output_shape = tuple(model.output_shape)
    # The bytes go into the graph once, as one key every block's task refers to.
    model_key = delayed(payload, pure=True)
    axes_in = tuple(range(X.ndim))
    axes_out = (0, *range(X.ndim, X.ndim + len(output_shape)))
    return da.blockwise(
        _predict_block,
        axes_out,
        X,
        axes_in,
        model_key,
        None,
        batch_size,
        None,
        new_axes={X.ndim + i: size for i, size in enumerate(output_shape)},
        concatenate=True,
        dtype=np.dtype(model.dtype),
        meta=np.empty((0, *output_shape), dtype=model.dtype),
    )
