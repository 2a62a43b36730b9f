"""Masking: the time steps of a float sequence whose features all equal a value are padding."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_number, describe
from .base import Layer, format_shape


class Masking(Layer):
    """Mark as padding every time step whose features all equal ``mask_value`` (Keras's rule).

    Shapes: ``x, y: (N, T, F)`` (or more axes: the last one holds the features), mask
    ``(N, T)``::

        mask[n, t] = any_f (x[n, t, f] != mask_value)       (True: a real step)
        y[n, t]    = x[n, t] * mask[n, t]

    so ``y`` equals ``x`` at real steps and is zero at padded ones (equal to ``x`` itself with the
    default ``mask_value=0``). Backward: ``dL/dx = dL/dy * mask``. The mask starts here, as with
    ``Embedding(mask_zero=True)``: recurrent layers below keep their states over the padded
    steps, and losses and metrics count only the real ones. The layer has no weights.

    Parameters
    ----------
    mask_value : float
        The value that marks a padded step (every feature of the step must equal it).

    Examples
    --------
    >>> import numpy as np
    >>> from scratchnn.layers import Masking
    >>> x = np.array([[[1.0, 2.0], [0.0, 0.0], [0.0, 3.0]]])
    >>> Masking().compute_mask(x, None)
    array([[ True, False,  True]])
    """

    makes_mask = True

    def __init__(self, mask_value: float = 0.0, input_shape: Any = None) -> None:
        super().__init__(None, None)
        if input_shape is not None:  # the time axis may be open (None)
            self.input_shape = tuple(None if s is None else int(s) for s in input_shape)
        self.mask_value = check_number(mask_value, "mask_value")

    def output_shape(self, input_shape: tuple) -> tuple:
        shape = tuple(input_shape)
        if len(shape) < 2:
            raise ValueError(
                "takes sequences of shape (batch, time, features), got inputs of shape "
                f"{format_shape(shape)}"
            )
        return shape

    def compute_mask(self, inputs: Any, mask: Any) -> np.ndarray:
        """``(N, T)``: True where some feature of the step differs from ``mask_value``."""
        x = np.asarray(inputs)
        if x.ndim < 3:
            raise ValueError(
                f"Masking takes sequences (batch, time, features), got {describe(inputs)}"
            )
        return np.any(x != x.dtype.type(self.mask_value), axis=-1)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """``y = x * mask`` (zero at padded steps)."""
        real = self.compute_mask(x, None)[..., None]
        if training:
            self._cache = (real,)
        return np.where(real, x, x.dtype.type(0))

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """``dL/dx = dL/dy * mask``."""
        (real,) = self._recorded()
        return np.where(real, grad_output, grad_output.dtype.type(0))

    def get_config(self) -> dict[str, Any]:
        return {"mask_value": self.mask_value, **super().get_config()}

    def __repr__(self) -> str:
        return f"Masking(mask_value={self.mask_value:g})"
