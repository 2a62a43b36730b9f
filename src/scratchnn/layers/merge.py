"""Merge layers: several tensors in, one out (skip connections, branches that meet).

Each takes a list of inputs, ``Add()([a, b])``, and its backward returns one gradient per input.
Where one tensor feeds several layers, the model sums the gradients that come back to it: that
is the other half of a skip connection's backward pass (``docs/how/graphs.md``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import describe
from .base import Layer, format_shape


class _Merge(Layer):
    """Shared checks of the element-wise merges: two or more inputs of one shape."""

    takes_list = True
    min_inputs = 2
    max_inputs: int | None = None

    def __init__(self, input_shape: Any = None) -> None:
        super().__init__(None, None)
        if input_shape is not None:
            self.input_shape = [tuple(s) for s in input_shape]

    def _check_count(self, shapes: Any) -> list[tuple]:
        if not isinstance(shapes, list):
            raise ValueError(
                f"{type(self).__name__} takes a list of inputs, got one of shape "
                f"{format_shape(tuple(shapes))}"
            )
        count = len(shapes)
        if count < self.min_inputs or (self.max_inputs is not None and count > self.max_inputs):
            wanted = (
                f"exactly {self.min_inputs}"
                if self.max_inputs == self.min_inputs
                else f"at least {self.min_inputs}"
            )
            raise ValueError(f"{type(self).__name__} takes {wanted} inputs, got {count}")
        return [tuple(s) for s in shapes]

    def output_shape(self, input_shape: Any) -> tuple:
        shapes = self._check_count(input_shape)
        first = shapes[0]
        for index, shape in enumerate(shapes[1:], start=1):
            if shape != first:
                raise ValueError(
                    f"{type(self).__name__} needs inputs of one shape: input 0 has shape "
                    f"{format_shape(first)} and input {index} has shape {format_shape(shape)}"
                )
        return first

    def get_config(self) -> dict[str, Any]:
        shape = None if self.input_shape is None else [list(s) for s in self.input_shape]
        return {"input_shape": shape}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Add(_Merge):
    """``y = x_0 + x_1 + ...``; backward: every input gets ``dL/dy`` itself.

    Examples
    --------
    >>> import numpy as np
    >>> from scratchnn.layers import Add
    >>> Add().forward([np.ones((2, 3)), np.ones((2, 3))])[0]
    array([2., 2., 2.])
    """

    def forward(self, x: list[np.ndarray], training: bool = False) -> np.ndarray:
        total = x[0] + x[1]
        for other in x[2:]:
            total += other
        if training:
            self._cache = (len(x),)
        return total

    def backward(self, grad_output: np.ndarray) -> list[np.ndarray]:
        (count,) = self._recorded()
        return [grad_output] * count  # one array for all: no layer changes its gradient in place


class Subtract(_Merge):
    """``y = x_0 - x_1`` (two inputs); backward: ``dL/dx_0 = g``, ``dL/dx_1 = -g``."""

    max_inputs = 2

    def forward(self, x: list[np.ndarray], training: bool = False) -> np.ndarray:
        if training:
            self._cache = ()
        return x[0] - x[1]

    def backward(self, grad_output: np.ndarray) -> list[np.ndarray]:
        self._recorded()
        return [grad_output, -grad_output]


class Multiply(_Merge):
    """``y = x_0 * x_1 * ...`` element-wise; backward: ``dL/dx_i = g * prod_{j != i} x_j``."""

    def forward(self, x: list[np.ndarray], training: bool = False) -> np.ndarray:
        product = x[0] * x[1]
        for other in x[2:]:
            product *= other
        if training:
            self._cache = (list(x),)
        return product

    def backward(self, grad_output: np.ndarray) -> list[np.ndarray]:
        (inputs,) = self._recorded()
        grads = []
        for i in range(len(inputs)):
            grad = grad_output.copy()
            for j, other in enumerate(inputs):
                if j != i:
                    grad *= other
            grads.append(grad)
        return grads


class Average(_Merge):
    """``y = (x_0 + ... + x_{n-1}) / n``; backward: every input gets ``g / n``."""

    def forward(self, x: list[np.ndarray], training: bool = False) -> np.ndarray:
        total = x[0] + x[1]
        for other in x[2:]:
            total += other
        total *= total.dtype.type(1.0 / len(x))
        if training:
            self._cache = (len(x),)
        return total

    def backward(self, grad_output: np.ndarray) -> list[np.ndarray]:
        (count,) = self._recorded()
        return [grad_output * grad_output.dtype.type(1.0 / count)] * count


class Maximum(_Merge):
    """``y = max(x_0, x_1, ...)`` element-wise; backward: ``g`` goes to the largest input of
    each element (the first of equal ones), zero to the others."""

    def forward(self, x: list[np.ndarray], training: bool = False) -> np.ndarray:
        stacked = np.stack(x)
        winner = stacked.argmax(axis=0)
        if training:
            self._cache = (winner, len(x))
        return np.take_along_axis(stacked, winner[None], axis=0)[0]

    def backward(self, grad_output: np.ndarray) -> list[np.ndarray]:
        winner, count = self._recorded()
        zero = grad_output.dtype.type(0)
        return [np.where(winner == i, grad_output, zero) for i in range(count)]


class Concatenate(_Merge):
    """Join inputs along ``axis`` (default the last); every other axis must agree.

    Backward splits ``dL/dy`` along the same axis, one piece per input. ``axis`` counts sample
    axes as NumPy does for the whole batch: ``-1`` is the last, ``1`` the first after the batch.
    """

    def __init__(self, axis: int = -1, input_shape: Any = None) -> None:
        super().__init__(input_shape)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or axis == 0:
            raise ValueError(
                f"axis must be a non-zero int (0 is the batch axis), got {describe(axis)}"
            )
        self.axis = int(axis)

    def _sample_axis(self, rank: int) -> int:
        """The axis within one sample's shape (no batch axis)."""
        axis = self.axis - 1 if self.axis > 0 else rank + self.axis
        if not 0 <= axis < rank:
            raise ValueError(
                f"Concatenate(axis={self.axis}) does not fit inputs with {rank} axes per sample"
            )
        return axis

    def output_shape(self, input_shape: Any) -> tuple:
        shapes = self._check_count(input_shape)
        rank = len(shapes[0])
        axis = self._sample_axis(rank)
        for index, shape in enumerate(shapes[1:], start=1):
            same = len(shape) == rank and all(
                a == b for i, (a, b) in enumerate(zip(shape, shapes[0], strict=True)) if i != axis
            )
            if not same:
                raise ValueError(
                    f"Concatenate(axis={self.axis}) needs inputs that agree on every other axis: "
                    f"input 0 has shape {format_shape(shapes[0])} and input {index} has shape "
                    f"{format_shape(shape)}"
                )
        sizes = [shape[axis] for shape in shapes]
        joined = None if None in sizes else sum(sizes)
        return (*shapes[0][:axis], joined, *shapes[0][axis + 1 :])

    def forward(self, x: list[np.ndarray], training: bool = False) -> np.ndarray:
        axis = self._sample_axis(x[0].ndim - 1) + 1
        if training:
            self._cache = (np.cumsum([part.shape[axis] for part in x])[:-1], axis)
        return np.concatenate(x, axis=axis)

    def backward(self, grad_output: np.ndarray) -> list[np.ndarray]:
        boundaries, axis = self._recorded()
        return np.split(grad_output, boundaries, axis=axis)

    def get_config(self) -> dict[str, Any]:
        return {"axis": self.axis, **super().get_config()}

    def __repr__(self) -> str:
        return f"Concatenate(axis={self.axis})"
