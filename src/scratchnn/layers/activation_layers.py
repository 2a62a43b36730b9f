"""Activation functions as layers: ``ReLU()``, ``Softmax()``, or ``ActivationLayer("tanh")``."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..activations import ELU as _ELU
from ..activations import Activation, get_activation
from ..activations import LeakyReLU as _LeakyReLU
from .base import Layer


class ActivationLayer(Layer):
    """Apply an activation elementwise: ``a = f(x)``, backward ``dL/dx = f'(x) * dL/da``.

    Shapes: ``x, a: (batch, ...)``, any shape (softmax: along the last axis). No parameters.

    Examples
    --------
    >>> import numpy as np
    >>> from scratchnn.layers import ActivationLayer
    >>> ActivationLayer("relu").forward(np.array([[-1.0, 2.0]]))
    array([[0., 2.]])
    """

    def __init__(
        self,
        activation: str | Activation | dict = "linear",
        input_dim: int | None = None,
        input_shape: Any = None,
    ):
        super().__init__(input_dim, input_shape)
        self.activation = get_activation(activation)

    @property
    def output_activation(self) -> str:
        return self.activation.name

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        output = self.activation.forward(x)
        if training:
            self._cache = (x, output)
        return output

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        x, output = self._recorded()
        return self.activation.backward(grad_output, x, output)

    def forward_logits(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """The activation is the whole layer: its logits are its input."""
        return x

    def backward_logits(self, grad_logits: np.ndarray) -> np.ndarray:
        """The fused loss already gave ``dL/dx``: pass it through."""
        return grad_logits

    def get_config(self) -> dict[str, Any]:
        return {"activation": self.activation.get_config(), **super().get_config()}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.activation!r})"


class _Simple(ActivationLayer):
    """Shared plumbing of the parameter-free activation layers."""

    activation_name = "linear"

    def __init__(self, input_dim: int | None = None, input_shape: Any = None) -> None:
        super().__init__(self.activation_name, input_dim, input_shape)

    def get_config(self) -> dict[str, Any]:
        return Layer.get_config(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Linear(_Simple):
    """Identity layer ``a = x``."""

    activation_name = "linear"


class Sigmoid(_Simple):
    """Stable logistic sigmoid ``a = 1 / (1 + exp(-x))``, backward ``a (1 - a) dL/da``."""

    activation_name = "sigmoid"


class Tanh(_Simple):
    """``a = tanh(x)``, backward ``(1 - a^2) dL/da``."""

    activation_name = "tanh"


class ReLU(_Simple):
    """``a = max(x, 0)``, backward ``[x > 0] dL/da``."""

    activation_name = "relu"


class GELU(_Simple):
    """Gaussian error linear unit (tanh form)."""

    activation_name = "gelu"


class Softplus(_Simple):
    """``a = log(1 + exp(x))``, backward ``sigmoid(x) dL/da``."""

    activation_name = "softplus"


class Softmax(_Simple):
    """Row-wise softmax; followed by categorical cross-entropy the fused gradient is used."""

    activation_name = "softmax"


class LeakyReLU(ActivationLayer):
    """``a = x`` for ``x > 0`` else ``alpha x``."""

    def __init__(
        self, alpha: float = 0.01, input_dim: int | None = None, input_shape: Any = None
    ) -> None:
        super().__init__(_LeakyReLU(alpha), input_dim, input_shape)

    def get_config(self) -> dict[str, Any]:
        return {"alpha": self.activation.alpha, **Layer.get_config(self)}


class ELU(ActivationLayer):
    """``a = x`` for ``x > 0`` else ``alpha (exp(x) - 1)``."""

    def __init__(
        self, alpha: float = 1.0, input_dim: int | None = None, input_shape: Any = None
    ) -> None:
        super().__init__(_ELU(alpha), input_dim, input_shape)

    def get_config(self) -> dict[str, Any]:
        return {"alpha": self.activation.alpha, **Layer.get_config(self)}
