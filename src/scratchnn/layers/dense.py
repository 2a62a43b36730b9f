"""The fully connected layer."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_positive_int
from ..activations import Activation, get_activation
from ..initializers import default_initializer, get_initializer, initializer_config
from ..regularizers import Regularizer, get_regularizer
from .base import Layer


class Dense(Layer):
    """Fully connected layer with an optional activation: ``a = f(x W + b)``.

    Shapes: ``x: (batch, in)``, ``W: (in, units)``, ``b: (units,)``, ``a: (batch, units)``.

    Backward, with ``g = dL/da`` and ``delta = dL/dz = f'(z) * g`` (from the activation)::

        dL/dW = x^T delta        (in, units)
        dL/db = sum_batch delta  (units,)
        dL/dx = delta W^T        (batch, in)

    Parameters
    ----------
    units : int
        Width of the output.
    activation : str, Activation or None
        Applied after the affine map (``"relu"``, ``"sigmoid"``, ...); ``None`` is linear.
    input_dim : int, optional
        Width of the input; inferred from the first batch when not given.
    use_bias : bool
        Whether to add ``b``.
    kernel_initializer, bias_initializer : str or callable
        ``kernel_initializer=None`` picks He for the ReLU family and Glorot otherwise.
    kernel_regularizer, bias_regularizer : str, Regularizer or None
        L1/L2 penalties added to the loss.

    Examples
    --------
    >>> import numpy as np
    >>> from scratchnn.layers import Dense
    >>> layer = Dense(3, activation="relu", input_dim=2)
    >>> layer.build(2, np.random.default_rng(0))
    >>> layer.forward(np.ones((4, 2), dtype=np.float32)).shape
    (4, 3)
    """

    def __init__(
        self,
        units: int,
        activation: str | Activation | None = None,
        input_dim: int | None = None,
        use_bias: bool = True,
        kernel_initializer: Any = None,
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
    ) -> None:
        super().__init__(input_dim)
        self.units = check_positive_int(units, "units")
        self.activation = get_activation(activation)
        if not isinstance(use_bias, bool):
            raise TypeError(f"use_bias must be True or False, got {use_bias!r}")
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer or default_initializer(self.activation.name)
        self.bias_initializer = bias_initializer
        get_initializer(self.kernel_initializer)  # fail now on an unknown name, not at build
        get_initializer(self.bias_initializer)
        self.kernel_regularizer: Regularizer | None = get_regularizer(kernel_regularizer)
        self.bias_regularizer: Regularizer | None = get_regularizer(bias_regularizer)

    def output_dim(self, input_dim: int) -> int:
        return self.units

    def init_params(self, input_dim: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        params = {"W": get_initializer(self.kernel_initializer)((input_dim, self.units), rng)}
        if self.use_bias:
            params["b"] = get_initializer(self.bias_initializer)((self.units,), rng)
        return params

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.input = x
        self.pre_activation = x @ self.params["W"]
        if self.use_bias:
            self.pre_activation += self.params["b"]  # in place: no second (batch, units) array
        self.output = self.activation.forward(self.pre_activation)
        return self.output

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        grad_z = self.activation.backward(grad_output, self.pre_activation, self.output)
        return self.backward_pre_activation(grad_z)

    def backward_pre_activation(self, grad_z: np.ndarray) -> np.ndarray:
        """Backward from ``dL/dz`` (used when the loss fuses the final activation's gradient)."""
        np.matmul(self.input.T, grad_z, out=self.grads["W"])
        if self.use_bias:
            np.add.reduce(grad_z, axis=0, out=self.grads["b"])  # np.sum's wrapper costs ~2 us
        return grad_z @ self.params["W"].T

    def regularization_penalty(self) -> float:
        total = 0.0
        if self.kernel_regularizer is not None:
            total += self.kernel_regularizer.penalty(self.params["W"])
        if self.bias_regularizer is not None and self.use_bias:
            total += self.bias_regularizer.penalty(self.params["b"])
        return total

    def add_regularization_gradients(self) -> None:
        if self.kernel_regularizer is not None:
            self.kernel_regularizer.add_gradient(self.params["W"], self.grads["W"])
        if self.bias_regularizer is not None and self.use_bias:
            self.bias_regularizer.add_gradient(self.params["b"], self.grads["b"])

    def get_config(self) -> dict[str, Any]:
        def regularizer_config(reg: Regularizer | None) -> dict | None:
            return None if reg is None else reg.get_config()

        return {
            "units": self.units,
            "activation": self.activation.get_config(),
            "input_dim": self.input_dim,
            "use_bias": self.use_bias,
            "kernel_initializer": initializer_config(self.kernel_initializer),
            "bias_initializer": initializer_config(self.bias_initializer),
            "kernel_regularizer": regularizer_config(self.kernel_regularizer),
            "bias_regularizer": regularizer_config(self.bias_regularizer),
        }

    def __repr__(self) -> str:
        act = self.activation.name
        return f"Dense({self.units}, activation={act!r}, input_dim={self.input_dim})"
