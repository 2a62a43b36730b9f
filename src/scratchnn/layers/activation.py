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

    Shapes: ``x, a: (batch, units)``. It has no parameters.

    Examples
    --------
    >>> import numpy as np
    >>> from scratchnn.layers import ActivationLayer
    >>> ActivationLayer("relu").forward(np.array([[-1.0, 2.0]]))
    array([[0., 2.]])
    """

    def __init__(
        self, activation: str | Activation | dict = "linear", input_dim: int | None = None
    ):
        super().__init__(input_dim)
        self.activation = get_activation(activation)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.pre_activation = x
        self.output = self.activation.forward(x)
        return self.output

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        return self.activation.backward(grad_output, self.pre_activation, self.output)

    def backward_pre_activation(self, grad_z: np.ndarray) -> np.ndarray:
        """The fused loss already gave ``dL/dx``: pass it through."""
        return grad_z

    def get_config(self) -> dict[str, Any]:
        return {"activation": self.activation.get_config(), "input_dim": self.input_dim}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.activation!r})"


class _Simple(ActivationLayer):
    """Shared plumbing of the parameter-free activation layers."""

    activation_name = "linear"

    def __init__(self, input_dim: int | None = None) -> None:
        super().__init__(self.activation_name, input_dim=input_dim)

    def get_config(self) -> dict[str, Any]:
        return {"input_dim": self.input_dim}

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

    def __init__(self, alpha: float = 0.01, input_dim: int | None = None) -> None:
        super().__init__(_LeakyReLU(alpha), input_dim=input_dim)

    def get_config(self) -> dict[str, Any]:
        return {"alpha": self.activation.alpha, "input_dim": self.input_dim}


class ELU(ActivationLayer):
    """``a = x`` for ``x > 0`` else ``alpha (exp(x) - 1)``."""

    def __init__(self, alpha: float = 1.0, input_dim: int | None = None) -> None:
        super().__init__(_ELU(alpha), input_dim=input_dim)

    def get_config(self) -> dict[str, Any]:
        return {"alpha": self.activation.alpha, "input_dim": self.input_dim}
