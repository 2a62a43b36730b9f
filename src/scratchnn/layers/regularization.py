"""Layers that regularise training: inverted dropout and batch normalisation."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_number
from .base import Layer


class Dropout(Layer):
    """Inverted dropout: in training ``y = x * m / (1 - rate)``, ``m ~ Bernoulli(1 - rate)``.

    At inference ``y = x`` (the ``1 / (1 - rate)`` scaling in training keeps the expectation
    equal). Backward: ``dL/dx = dL/dy * m / (1 - rate)``. Shapes: ``x, y: (batch, units)``.
    The mask is drawn from the model's seeded generator.

    Examples
    --------
    >>> import numpy as np
    >>> from scratchnn.layers import Dropout
    >>> layer = Dropout(0.5)
    >>> layer.build(3, np.random.default_rng(0))
    >>> layer.forward(np.ones((1, 3)), training=False)
    array([[1., 1., 1.]])
    """

    def __init__(self, rate: float = 0.5, input_dim: int | None = None) -> None:
        super().__init__(input_dim)
        self.rate = check_number(rate, "rate", low=0.0, high=1.0, high_inclusive=False)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if not training or self.rate == 0.0:
            self.mask = None
            return x
        keep = 1.0 - self.rate
        self.mask = (self.rng.random(x.shape) < keep).astype(x.dtype) / x.dtype.type(keep)
        return x * self.mask

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        return grad_output if self.mask is None else grad_output * self.mask

    def get_config(self) -> dict[str, Any]:
        return {"rate": self.rate, "input_dim": self.input_dim}


class BatchNorm(Layer):
    """Batch normalisation over the batch axis for dense features.

    Training: ``mu, var`` are the batch mean and (biased) variance per feature,
    ``x_hat = (x - mu) / sqrt(var + eps)``, ``y = gamma * x_hat + beta``, and the running
    statistics move as ``running = momentum * running + (1 - momentum) * batch_stat``.
    Inference uses the running statistics instead of the batch's.

    Backward in training, with ``g = dL/dy`` and ``N`` the batch size::

        dL/dgamma = sum_batch g * x_hat         dL/dbeta = sum_batch g
        dL/dx = gamma / (N sqrt(var + eps)) * (N g - sum g - x_hat * sum(g * x_hat))

    At inference the map is affine: ``dL/dx = g * gamma / sqrt(running_var + eps)``.
    Shapes: ``x, y: (batch, units)``; ``gamma, beta, running_mean, running_var: (units,)``.
    """

    def __init__(
        self, momentum: float = 0.99, epsilon: float = 1e-3, input_dim: int | None = None
    ) -> None:
        super().__init__(input_dim)
        self.momentum = check_number(momentum, "momentum", low=0.0, high=1.0)
        self.epsilon = check_number(epsilon, "epsilon", low=0.0, low_inclusive=False)

    def init_params(self, input_dim: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {"gamma": np.ones(input_dim), "beta": np.zeros(input_dim)}

    def init_state(self, input_dim: int) -> dict[str, np.ndarray]:
        return {"running_mean": np.zeros(input_dim), "running_var": np.ones(input_dim)}

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        gamma, beta = self.params["gamma"], self.params["beta"]
        self.training = training
        if training:
            mean = x.mean(axis=0)
            var = x.var(axis=0)
            for key, batch_stat in (("running_mean", mean), ("running_var", var)):
                running = self.state[key]
                running *= self.momentum
                running += (1.0 - self.momentum) * batch_stat
        else:
            mean, var = self.state["running_mean"], self.state["running_var"]
        self.inv_std = 1.0 / np.sqrt(var + self.epsilon)
        self.x_hat = (x - mean) * self.inv_std
        return self.x_hat * gamma + beta

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        gamma = self.params["gamma"]
        np.sum(grad_output * self.x_hat, axis=0, out=self.grads["gamma"])
        np.sum(grad_output, axis=0, out=self.grads["beta"])
        grad_x_hat = grad_output * gamma
        if not self.training:
            return grad_x_hat * self.inv_std
        n = grad_output.shape[0]
        return (self.inv_std / n) * (
            n * grad_x_hat
            - grad_x_hat.sum(axis=0)
            - self.x_hat * np.sum(grad_x_hat * self.x_hat, axis=0)
        )

    def get_config(self) -> dict[str, Any]:
        return {"momentum": self.momentum, "epsilon": self.epsilon, "input_dim": self.input_dim}
