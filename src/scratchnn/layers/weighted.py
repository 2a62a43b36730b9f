"""What Dense and Conv2D share: weights ``W`` and ``b``, their settings, an activation after."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..activations import Activation, get_activation
from ..initializers import default_initializer, get_initializer, initializer_config
from ..regularizers import Regularizer, get_regularizer
from .base import Layer


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

    kernel_names = ("W",)
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

    def penalties(self) -> list[tuple[str, Regularizer]]:
        pairs = []
        if self.kernel_regularizer is not None:
            pairs.append(("W", self.kernel_regularizer))
        if self.bias_regularizer is not None and self.use_bias:
            pairs.append(("b", self.bias_regularizer))
        return pairs

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
