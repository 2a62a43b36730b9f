"""The fully connected layer, and the weights, settings and penalties Conv2D shares with it.

A convolution is a dense layer applied to every patch of an image (im2col), so the two share
one base here: :class:`_WeightedLayer`. Keeping it beside ``Dense`` keeps a training step of a
dense network within this file.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_positive_int
from ..activations import Activation, get_activation
from ..initializers import default_initializer, get_initializer, initializer_config
from ..regularizers import Regularizer, get_regularizer
from .base import Layer, Weight, format_shape


def _named_or_object(spec: Any) -> Any:
    """Keep an initializer name as given; turn a config dict into its initializer object."""
    initializer = get_initializer(spec)
    return spec if isinstance(spec, str) else initializer


class _WeightedLayer(Layer):
    """A layer computing ``a = f(z)`` from ``z``, a product of its input with ``W``, plus ``b``.

    Holds the settings both kinds take (activation, bias, initializers, penalties), the penalties
    they add to the loss, and work arrays reused across training batches of the same shape.
    Private: a file never names it, only its subclasses.
    """

    MAX_WORKSPACES = 32  # more batch shapes than this: drop the old arrays and start over

    def _set_weight_settings(
        self,
        activation: str | Activation | None,
        use_bias: bool,
        kernel_initializer: Any,
        bias_initializer: Any,
        kernel_regularizer: Any,
        bias_regularizer: Any,
    ) -> None:
        """Check and keep the shared settings (an unknown name fails here, not at build)."""
        self.activation = get_activation(activation)
        if not isinstance(use_bias, bool):
            raise TypeError(f"use_bias must be True or False, got {use_bias!r}")
        self.use_bias = use_bias
        kernel_initializer = kernel_initializer or default_initializer(self.activation.name)
        self.kernel_initializer = _named_or_object(kernel_initializer)  # a dict: its object
        self.bias_initializer = _named_or_object(bias_initializer)
        self.kernel_regularizer: Regularizer | None = get_regularizer(kernel_regularizer)
        self.bias_regularizer: Regularizer | None = get_regularizer(bias_regularizer)
        self._buffers: dict[tuple, np.ndarray] = {}

    @property
    def output_activation(self) -> str:
        return self.activation.name

    @property
    def W(self) -> np.ndarray:  # noqa: N802 - the formula's name
        """The kernel: a view into the model's flat parameters (write with ``layer.W[...] =``)."""
        return self.params["W"]

    @W.setter
    def W(self, value: Any) -> None:  # noqa: N802
        self._write_param("W", value)

    @property
    def b(self) -> np.ndarray:
        """The bias (a view, like :attr:`W`); only with ``use_bias=True``."""
        if "b" not in self.params:
            raise AttributeError(
                f"{type(self).__name__} {self.name!r} has no bias (use_bias=False)"
            )
        return self.params["b"]

    @b.setter
    def b(self, value: Any) -> None:
        self._write_param("b", value)

    def __getstate__(self) -> dict[str, Any]:
        """As every layer's, and a copy starts without the reusable work arrays."""
        return {**super().__getstate__(), "_buffers": {}}

    def save_record(self) -> Any:
        """The training record and the work arrays it lives in (a graph keeps one per call)."""
        return (self._cache, self._buffers)

    def load_record(self, record: Any) -> None:
        self._cache, self._buffers = (None, {}) if record is None else record

    def _workspace(self, name: str, shape: tuple[int, ...], fill: float = 0.0) -> np.ndarray:
        """An array of ``shape``, made holding ``fill``, reused by training batches of that shape.

        A caller that writes only part of it (the interior of a padded image) may rely on the
        rest keeping ``fill``.
        """
        key = (name, shape)
        buffer = self._buffers.get(key)
        dtype = self.params["W"].dtype
        if buffer is None or buffer.dtype != dtype:
            if len(self._buffers) > self.MAX_WORKSPACES:
                self._buffers.clear()
            buffer = self._buffers[key] = np.full(shape, fill, dtype)
        return buffer

    def _kernel_and_bias(self, kernel_shape: tuple[int, ...], kernel_init: Any) -> list[Weight]:
        """The two weights both kinds declare: the kernel ``W`` and, with ``use_bias``, ``b``."""
        weights = [Weight("W", kernel_shape, kernel_init, self.kernel_regularizer, kernel=True)]
        if self.use_bias:
            bias = get_initializer(self.bias_initializer)
            weights.append(Weight("b", (kernel_shape[-1],), bias, self.bias_regularizer))
        return weights

    def _weight_config(self) -> dict[str, Any]:
        """The shared settings as JSON-friendly values, for ``get_config``."""

        def regularizer_config(reg: Regularizer | None) -> dict | None:
            return None if reg is None else reg.get_config()

        return {
            "activation": self.activation.get_config(),
            "use_bias": self.use_bias,
            "kernel_initializer": initializer_config(self.kernel_initializer),
            "bias_initializer": initializer_config(self.bias_initializer),
            "kernel_regularizer": regularizer_config(self.kernel_regularizer),
            "bias_regularizer": regularizer_config(self.bias_regularizer),
        }


class Dense(_WeightedLayer):
    """Fully connected layer with an optional activation: ``a = f(x W + b)``.

    Shapes: ``x: (batch, in)``, ``W: (in, units)``, ``b: (units,)``, ``a: (batch, units)``.
    Inputs of higher rank ``(batch, ..., in)`` are mapped along their last axis (Keras's and
    PyTorch's rule): every position gets the same ``W`` and ``b``, and in the backward pass the
    sums over the batch below run over every position too.

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
    input_shape : tuple of int, optional
        ``(input_dim,)``; the form every layer takes.
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
    >>> layer = Dense(3, activation="relu")
    >>> layer.build((2,), np.random.default_rng(0))
    >>> layer.forward(np.ones((4, 2), dtype=np.float32)).shape
    (4, 3)
    """

    kernel_layout = "dense"

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
        input_shape: Any = None,
    ) -> None:
        super().__init__(input_dim, input_shape)
        self.units = check_positive_int(units, "units")
        self._set_weight_settings(
            activation, use_bias, kernel_initializer, bias_initializer,
            kernel_regularizer, bias_regularizer,
        )  # fmt: skip

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if input_shape[-1] is None:
            raise ValueError(
                f"Dense needs the size of its inputs' last axis, got inputs of shape "
                f"{format_shape(tuple(input_shape))}: give Input that axis's size"
            )
        return (*input_shape[:-1], self.units)

    def weights_for(self, input_shape: tuple[int, ...]) -> list[Weight]:
        """``W (in, units)`` (``kernel_initializer``), ``b (units,)`` (``bias_initializer``)."""
        kernel = get_initializer(self.kernel_initializer)
        return self._kernel_and_bias((input_shape[-1], self.units), kernel)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """``z = x W + b``, ``a = f(z)``; in training records ``x``, ``z`` and ``a``.

        In training mode ``z`` and ``a`` live in buffers kept per batch size and reused by the
        next training pass of that size (no per-batch allocation); copy ``a`` to keep it.
        Inference allocates its own arrays and writes nothing on the layer.
        """
        rows = self._product(x, training)
        bias = self.params["b"] if self.use_bias else None
        shape = (*x.shape[:-1], self.units)
        if not training:  # inference owns its fresh z: the activation may overwrite it
            a = self.activation.forward_with_bias(rows, bias, out=rows)
            return a.reshape(shape) if x.ndim > 2 else a
        a = self.activation.forward_with_bias(rows, bias, out=self._workspace("a", rows.shape))
        z = rows
        if x.ndim > 2:
            z, a = rows.reshape(shape), a.reshape(shape)
        self._cache = (x, z, a)
        return a

    def backward(self, grad_output: np.ndarray) -> np.ndarray | None:
        """Fill ``grads`` from ``dL/da``; return ``dL/dx`` (``None``: see ``needs_input_grad``)."""
        _, z, a = self._cache or self._recorded()
        rows = (-1, self.units)
        grad_z = self.activation.backward_with_bias(
            grad_output.reshape(rows),
            z.reshape(rows),
            a.reshape(rows),
            out=self._workspace("grad_z", (z.size // self.units, self.units)),
            grad_bias=self.grads["b"] if self.use_bias else None,
        )
        return self._products(grad_z.reshape(grad_output.shape))

    def forward_logits(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """``z = x W + b`` alone: the input of the activation a fused loss takes over."""
        z = self._affine(x, training)
        if training:
            self._cache = (x, z, None)
        return z

    def backward_logits(self, grad_logits: np.ndarray) -> np.ndarray | None:
        """Backward from ``delta = dL/dz``: the three products of the class docstring.

        The first layer of a model (``needs_input_grad`` False) skips ``dL/dx = delta W^T``, a
        third of its matrix products.
        """
        if self.use_bias:  # np.sum's wrapper: ~2 us
            np.add.reduce(grad_logits.reshape(-1, self.units), axis=0, out=self.grads["b"])
        return self._products(grad_logits)

    def _products(self, grad_logits: np.ndarray) -> np.ndarray | None:
        """``dL/dW = x^T delta`` and ``dL/dx = delta W^T`` (the bias gradient is the caller's)."""
        x = (self._cache or self._recorded())[0]
        if x.ndim > 2:  # every position is a row of one product: (batch * positions, in)
            rows, delta = x.reshape(-1, x.shape[-1]), grad_logits.reshape(-1, self.units)
            np.matmul(rows.T, delta, out=self.grads["W"])
            if not self.needs_input_grad:
                return None
            return (delta @ self.params["W"].T).reshape(x.shape)
        np.matmul(x.T, grad_logits, out=self.grads["W"])
        if not self.needs_input_grad:
            return None
        return grad_logits @ self.params["W"].T  # a new array: callers such as gradcheck keep it

    def _affine(self, x: np.ndarray, training: bool) -> np.ndarray:
        z = self._product(x, training)
        if self.use_bias:
            z += self.params["b"]  # in place: no second (batch, units) array
        return z.reshape(*x.shape[:-1], self.units)

    def _product(self, x: np.ndarray, training: bool) -> np.ndarray:
        """``x W`` as ``(rows, units)``: every position of a ``(batch, ..., in)`` input a row."""
        rows = x.reshape(-1, x.shape[-1]) if x.ndim > 2 else x
        out = self._workspace("z", (len(rows), self.units)) if training else None
        return np.matmul(rows, self.params["W"], out=out)

    def get_config(self) -> dict[str, Any]:
        return {"units": self.units, **self._weight_config(), **super().get_config()}

    def __repr__(self) -> str:
        act = self.activation.name
        shape = "" if self.input_shape is None else f", input_shape={self.input_shape}"
        return f"Dense({self.units}, activation={act!r}{shape})"
