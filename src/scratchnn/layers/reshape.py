"""Layers that only change an array's shape: Flatten and Reshape."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._validation import describe
from .base import Layer, format_shape


class Flatten(Layer):
    """Flatten each sample to one row: ``(batch, d1, d2, ...) -> (batch, d1 d2 ...)``.

    Row-major order (the last axis varies fastest), as NumPy and Keras flatten. Backward
    reshapes ``dL/dy`` back to the input's shape. No parameters.

    Examples
    --------
    >>> import numpy as np
    >>> from scratchnn.layers import Flatten
    >>> Flatten().forward(np.zeros((2, 4, 4, 3))).shape
    (2, 48)
    """

    def __init__(self, input_shape: Any = None) -> None:
        super().__init__(None, input_shape)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        _require_known(self, input_shape)
        return (math.prod(input_shape),)

    def compute_mask(self, inputs: Any, mask: Any) -> None:
        return None  # the steps are gone

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if training:
            self._cache = (x.shape,)
        return x.reshape(len(x), -1)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        (x_shape,) = self._recorded()
        return grad_output.reshape(x_shape)


class Reshape(Layer):
    """Give each sample the shape ``target_shape``: ``(batch, ...) -> (batch, *target_shape)``.

    One entry of ``target_shape`` may be ``-1``: it is inferred from the input's size. The
    number of values per sample must not change. Backward reshapes ``dL/dy`` back. Use it as a
    first layer to feed flat rows to a convolution: ``Reshape((28, 28, 1))`` on ``(N, 784)``.

    Examples
    --------
    >>> import numpy as np
    >>> from scratchnn.layers import Reshape
    >>> layer = Reshape((4, 4, 1))
    >>> layer.build((16,))
    >>> layer.forward(np.zeros((3, 16))).shape
    (3, 4, 4, 1)
    """

    def __init__(self, target_shape: Sequence[int], input_shape: Any = None) -> None:
        super().__init__(None, input_shape)
        if isinstance(target_shape, (int, np.integer)) and not isinstance(target_shape, bool):
            target_shape = (target_shape,)
        if isinstance(target_shape, (str, bytes)) or not isinstance(
            target_shape, Sequence | np.ndarray
        ):
            raise TypeError(
                f"target_shape must be a tuple of positive ints (one may be -1), got "
                f"{describe(target_shape)}"
            )
        entries = []
        for i, size in enumerate(target_shape):
            if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
                raise TypeError(f"target_shape[{i}] must be an int, got {describe(size)}")
            if size < 1 and size != -1:
                raise ValueError(f"target_shape[{i}] must be a positive int or -1, got {int(size)}")
            entries.append(int(size))
        if not entries:
            raise ValueError("target_shape must have at least one axis, got ()")
        if entries.count(-1) > 1:
            raise ValueError(f"target_shape may hold one -1 at most, got {tuple(entries)}")
        self.target_shape = tuple(entries)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        _require_known(self, input_shape)
        size = math.prod(input_shape)
        known = math.prod(s for s in self.target_shape if s != -1)
        shape = self.target_shape
        if -1 in shape and size % known == 0:
            shape = tuple(size // known if s == -1 else s for s in shape)
        if math.prod(shape) != size or -1 in shape:
            raise ValueError(
                f"Reshape cannot turn inputs of shape {format_shape(tuple(input_shape))} "
                f"({size} values each) into target_shape {self.target_shape}"
            )
        return shape

    def compute_mask(self, inputs: Any, mask: Any) -> None:
        return None  # the steps are rearranged

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        shape = self.output_shape(x.shape[1:])
        if training:
            self._cache = (x.shape,)
        return x.reshape(len(x), *shape)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        (x_shape,) = self._recorded()
        return grad_output.reshape(x_shape)

    def get_config(self) -> dict[str, Any]:
        return {"target_shape": list(self.target_shape), **super().get_config()}


def _require_known(layer: Layer, input_shape: tuple) -> None:
    """Refuse an open axis (``Input(shape=(None, 16))``): a reshape needs every size."""
    if None in input_shape:
        raise ValueError(
            f"{type(layer).__name__} needs every axis's size, got inputs of shape "
            f"{format_shape(tuple(input_shape))} with an open axis (None); give Input that "
            "axis's size, or pool over it first"
        )
