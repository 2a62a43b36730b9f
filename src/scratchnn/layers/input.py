"""``Input``: where a graph starts, a symbolic tensor of a given shape."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import describe
from .base import Layer, as_shape
from .symbolic import Node, SymbolicTensor


class InputLayer(Layer):
    """The source of one model input; it computes nothing (``forward`` is the identity).

    Made by :func:`Input`; a model file names it so that the graph's inputs keep their names,
    shapes and dtypes.
    """

    def __init__(self, shape: Any, dtype: str | None = None) -> None:
        super().__init__()
        self.shape = as_shape(shape, "shape", open_axes=True)
        if dtype is not None:
            try:
                kind = np.dtype(dtype).kind
            except TypeError:
                kind = None
            if kind not in ("f", "i", "u"):
                raise TypeError(
                    f"dtype must name a float or integer type ('float32', 'int64'), got "
                    f"{describe(dtype)}"
                )
            dtype = np.dtype(dtype).name
        self.dtype_name = dtype
        node = Node(self, [], self.shape, 0)
        node.outputs[0].dtype = dtype
        self.calls.append(node)

    @property
    def output(self) -> SymbolicTensor:
        return self.calls[0].outputs[0]

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        return x

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        return grad_output

    def get_config(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "dtype": self.dtype_name}

    def __repr__(self) -> str:
        return f"InputLayer(shape={self.shape})"


def Input(shape: Any, dtype: str | None = None, name: str | None = None) -> SymbolicTensor:  # noqa: N802
    """A model input: a symbolic tensor of ``shape`` (no batch axis) to call layers on.

    An axis may be ``None`` (``Input(shape=(None, 16))``: sequences of any length). ``dtype``
    defaults to the model's float type; integer ids (``"int64"``) stay integers.

    Examples
    --------
    >>> from scratchnn import Input
    >>> from scratchnn.layers import Dense
    >>> x = Input(shape=(4,), name="features")
    >>> Dense(3)(x).shape
    (3,)
    """
    return InputLayer(shape, dtype, name=name).output
