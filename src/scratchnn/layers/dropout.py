"""Inverted dropout."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_number
from .base import Layer


class Dropout(Layer):
    """Inverted dropout: in training ``y = x * m / (1 - rate)``, ``m ~ Bernoulli(1 - rate)``.

    At inference ``y = x`` (the ``1 / (1 - rate)`` scaling in training keeps the expectation
    equal). Backward: ``dL/dx = dL/dy * m / (1 - rate)``. Shapes: ``x, y: (batch, ...)``, any
    shape; one mask entry per entry of ``x``. The mask is drawn from the model's seeded
    generator.

    Examples
    --------
    >>> import numpy as np
    >>> from scratchnn.layers import Dropout
    >>> layer = Dropout(0.5)
    >>> layer.build((3,), np.random.default_rng(0))
    >>> layer.forward(np.ones((1, 3)), training=False)
    array([[1., 1., 1.]])
    """

    def __init__(
        self, rate: float = 0.5, input_dim: int | None = None, input_shape: Any = None
    ) -> None:
        super().__init__(input_dim, input_shape)
        self.rate = check_number(rate, "rate", low=0.0, high=1.0, high_inclusive=False)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if not training:
            return x
        if self.rate == 0.0:
            self._cache = (None,)
            return x
        keep = 1.0 - self.rate
        mask = (self.rng.random(x.shape) < keep).astype(x.dtype) / x.dtype.type(keep)
        self._cache = (mask,)
        return x * mask

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        (mask,) = self._recorded()
        return grad_output if mask is None else grad_output * mask

    def get_config(self) -> dict[str, Any]:
        return {"rate": self.rate, **super().get_config()}
