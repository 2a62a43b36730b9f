"""Batch normalisation: per feature for tables, per channel for images."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_number
from .base import Layer, Weight, constant


class BatchNorm(Layer):
    """Batch normalisation over every axis but the last (the features, or an image's channels).

    Training: ``mu, var`` are the mean and (biased) variance per feature over the batch (and,
    for images ``(batch, height, width, channels)``, over every pixel too: one statistic per
    channel), ``x_hat = (x - mu) / sqrt(var + eps)``, ``y = gamma * x_hat + beta``, and the
    running statistics move as ``running = momentum * running + (1 - momentum) * batch_stat``.
    Inference uses the running statistics instead of the batch's.

    Backward (training), with ``g = dL/dy`` and ``M`` the number of values averaged per
    feature (the batch size, times height and width for images)::

        dL/dgamma = sum g * x_hat         dL/dbeta = sum g
        dL/dx = gamma / (M sqrt(var + eps)) * (M g - sum g - x_hat * sum(g * x_hat))

    the sums running over the same axes as the statistics. Shapes: ``x, y: (batch, ...,
    features)``; ``gamma, beta, running_mean, running_var: (features,)``.
    """

    def __init__(
        self,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        input_dim: int | None = None,
        input_shape: Any = None,
    ) -> None:
        super().__init__(input_dim, input_shape)
        self.momentum = check_number(momentum, "momentum", low=0.0, high=1.0)
        self.epsilon = check_number(epsilon, "epsilon", low=1e-12, high=1.0)

    def weights_for(self, input_shape: tuple[int, ...]) -> list[Weight]:
        """``gamma`` (ones) and ``beta`` (zeros), trained; the running statistics, state."""
        features = (input_shape[-1],)
        return [
            Weight("gamma", features, constant(1.0)),
            Weight("beta", features, constant(0.0)),
            Weight("running_mean", features, constant(0.0), trainable=False),
            Weight("running_var", features, constant(1.0), trainable=False),
        ]

    def state_problem(self, name: str, value: np.ndarray) -> str | None:
        if name == "running_var" and np.any(value < 0):
            return "a variance must be non-negative"
        return None

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        gamma, beta = self.params["gamma"], self.params["beta"]
        if not training:
            inv_std = 1.0 / np.sqrt(self.state["running_var"] + self.epsilon)
            return (x - self.state["running_mean"]) * inv_std * gamma + beta
        axes = tuple(range(x.ndim - 1))
        mean = x.mean(axis=axes)
        var = x.var(axis=axes)
        for key, batch_stat in (("running_mean", mean), ("running_var", var)):
            running = self.state[key]
            running *= self.momentum
            running += (1.0 - self.momentum) * batch_stat
        inv_std = 1.0 / np.sqrt(var + self.epsilon)
        x_hat = (x - mean) * inv_std
        self._cache = (x_hat, inv_std)
        return x_hat * gamma + beta

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        x_hat, inv_std = self._recorded()
        axes = tuple(range(grad_output.ndim - 1))
        np.sum(grad_output * x_hat, axis=axes, out=self.grads["gamma"])
        np.sum(grad_output, axis=axes, out=self.grads["beta"])
        grad_x_hat = grad_output * self.params["gamma"]
        count = grad_output.size // grad_output.shape[-1]
        return (inv_std / count) * (
            count * grad_x_hat
            - grad_x_hat.sum(axis=axes)
            - x_hat * np.sum(grad_x_hat * x_hat, axis=axes)
        )

    def get_config(self) -> dict[str, Any]:
        return {"momentum": self.momentum, "epsilon": self.epsilon, **super().get_config()}
