"""The fully connected layer."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_positive_int
from ..activations import Activation, get_activation
from ..initializers import default_initializer, get_initializer, initializer_config
from ..regularizers import Regularizer, get_regularizer
from .base import Layer


def _named_or_object(spec: Any) -> Any:
    """Keep an initializer name as given; turn a config dict into its initializer object."""
    initializer = get_initializer(spec)
    return spec if isinstance(spec, str) else initializer


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
        kernel_initializer = kernel_initializer or default_initializer(self.activation.name)
        # Checked now (an unknown name fails here, not at build); a config dict becomes its object.
        self.kernel_initializer = _named_or_object(kernel_initializer)
        self.bias_initializer = _named_or_object(bias_initializer)
        self.kernel_regularizer: Regularizer | None = get_regularizer(kernel_regularizer)
        self.bias_regularizer: Regularizer | None = get_regularizer(bias_regularizer)
        self._buffers: dict[tuple[str, int], np.ndarray] = {}
        self._training = False

    def output_dim(self, input_dim: int) -> int:
        return self.units

    def init_params(self, input_dim: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        params = {"W": get_initializer(self.kernel_initializer)((input_dim, self.units), rng)}
        if self.use_bias:
            params["b"] = get_initializer(self.bias_initializer)((self.units,), rng)
        return params

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """``z = x W + b``, ``a = f(z)``; caches ``x``, ``z`` and ``a`` for ``backward``.

        In training mode ``z`` and ``a`` live in buffers kept per batch size and reused by the
        next training pass of that size (no per-batch allocation); copy ``a`` to keep it.
        """
        self.input = x
        self._training = training
        rows = x.shape[0]
        z = self._workspace("z", rows) if training else None
        self.pre_activation = np.matmul(x, self.params["W"], out=z)
        if self.use_bias:
            self.pre_activation += self.params["b"]  # in place: no second (batch, units) array
        a = self._workspace("a", rows) if training else None
        self.output = self.activation.forward(self.pre_activation, out=a)
        return self.output

    def backward(self, grad_output: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """Fill ``grads`` from ``dL/da``; return ``dL/dx`` (``None`` when ``input_grad=False``)."""
        out = self._workspace("grad_z", grad_output.shape[0]) if self._training else None
        grad_z = self.activation.backward(grad_output, self.pre_activation, self.output, out=out)
        return self.backward_pre_activation(grad_z, input_grad)

    def backward_pre_activation(
        self, grad_z: np.ndarray, input_grad: bool = True
    ) -> np.ndarray | None:
        """Backward from ``dL/dz`` (used when the loss fuses the final activation's gradient).

        ``input_grad=False`` skips ``dL/dx = delta W^T``, which the first layer of a network does
        not need: that saves a third of its matrix products.
        """
        np.matmul(self.input.T, grad_z, out=self.grads["W"])
        if self.use_bias:
            np.add.reduce(grad_z, axis=0, out=self.grads["b"])  # np.sum's wrapper costs ~2 us
        if not input_grad:
            return None
        return grad_z @ self.params["W"].T  # a new array: callers such as gradcheck keep it

    def _workspace(self, name: str, rows: int) -> np.ndarray:
        """A ``(rows, units)`` buffer reused across batches of the same size."""
        key = (name, rows)
        buffer = self._buffers.get(key)
        if buffer is None or buffer.dtype != self.params["W"].dtype:
            if len(self._buffers) > 16:  # many batch sizes seen (e.g. predict chunks): start over
                self._buffers.clear()
            buffer = self._buffers[key] = np.empty((rows, self.units), self.params["W"].dtype)
        return buffer

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
