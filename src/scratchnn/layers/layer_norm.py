"""Layer normalisation: each sample (each position of a sequence) normalised over its features."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_number
from .base import Layer, Weight, constant, format_shape


class LayerNormalization(Layer):
    """Normalise over the last axis, per sample and position: no batch statistics, no state.

    With ``F`` features: ``mu = mean(x)``, ``var = mean((x - mu)^2)`` over the last axis,
    ``x_hat = (x - mu) / sqrt(var + epsilon)``, ``y = gamma * x_hat + beta``. It behaves the
    same in training and inference (unlike :class:`BatchNorm`), which is why transformers use it.

    Backward, with ``g = dL/dy`` and the sums over the last axis::

        dL/dgamma = sum over every row of g * x_hat        dL/dbeta = sum over every row of g
        dL/dx = gamma / (F sqrt(var + eps)) * (F g' - sum g' - x_hat * sum(g' * x_hat))

    where ``g' = g`` scaled by ``gamma`` is folded in: ``dL/dx_hat = g * gamma``. Shapes:
    ``x, y: (batch, ..., F)``; ``gamma, beta: (F,)``.

    Examples
    --------
    >>> import numpy as np
    >>> from scratchnn.layers import LayerNormalization
    >>> layer = LayerNormalization()
    >>> layer.build((4,))
    >>> y = layer.forward(np.array([[1.0, 2.0, 3.0, 4.0]]))
    >>> bool(abs(y.mean()) < 1e-6)
    True
    """

    def __init__(
        self,
        axis: int = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        input_shape: Any = None,
    ) -> None:
        super().__init__(None, input_shape)
        if axis != -1 or isinstance(axis, bool):
            raise ValueError(f"axis must be -1 (the last axis), got {axis!r}")
        self.axis = -1
        self.epsilon = check_number(epsilon, "epsilon", low=1e-12, high=1.0)
        for name, value in (("center", center), ("scale", scale)):
            if not isinstance(value, bool):
                raise TypeError(f"{name} must be True or False, got {value!r}")
        self.center, self.scale = center, scale

    def output_shape(self, input_shape: tuple) -> tuple:
        if input_shape[-1] is None:
            raise ValueError(
                f"LayerNormalization needs the size of the last axis, got inputs of shape "
                f"{format_shape(tuple(input_shape))}"
            )
        return tuple(input_shape)

    def weights_for(self, input_shape: tuple) -> list[Weight]:
        """``gamma`` (ones) with ``scale``, ``beta`` (zeros) with ``center``."""
        features = (input_shape[-1],)
        weights = [Weight("gamma", features, constant(1.0))] if self.scale else []
        return weights + ([Weight("beta", features, constant(0.0))] if self.center else [])

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        mean = x.mean(axis=-1, keepdims=True)
        centred = x - mean
        var = np.mean(centred * centred, axis=-1, keepdims=True)
        inv_std = 1.0 / np.sqrt(var + x.dtype.type(self.epsilon))
        x_hat = centred * inv_std
        if training:
            self._cache = (x_hat, inv_std)
        y = x_hat * self.params["gamma"] if self.scale else x_hat.copy()
        if self.center:
            y += self.params["beta"]
        return y

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        x_hat, inv_std = self._recorded()
        rows = grad_output.reshape(-1, grad_output.shape[-1])
        if self.scale:
            np.add.reduce(rows * x_hat.reshape(rows.shape), axis=0, out=self.grads["gamma"])
            grad_x_hat = grad_output * self.params["gamma"]
        else:
            grad_x_hat = grad_output
        if self.center:
            np.add.reduce(rows, axis=0, out=self.grads["beta"])
        features = grad_output.shape[-1]
        total = grad_x_hat.sum(axis=-1, keepdims=True)
        projected = (grad_x_hat * x_hat).sum(axis=-1, keepdims=True)
        return inv_std / features * (features * grad_x_hat - total - x_hat * projected)

    def get_config(self) -> dict[str, Any]:
        return {
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            **super().get_config(),
        }
