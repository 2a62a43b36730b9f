"""Bidirectional: a recurrent layer run forwards and a copy run backwards, outputs merged."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .._validation import describe
from .base import Layer, Weight, get_layer_class
from .recurrent import _Recurrent

MERGE_MODES = ("concat", "sum", "mul", "ave")


class Bidirectional(Layer):
    """Run ``layer`` over the sequence and a copy of it over the reversed sequence; merge.

    With ``y_f`` the forward layer's output and ``y_b`` the backward copy's (a returned sequence
    flipped back, so position ``t`` of both describes step ``t``)::

        concat: y = [y_f, y_b]  (last axis 2 units)    sum: y = y_f + y_b
        mul:    y = y_f * y_b                           ave: y = (y_f + y_b) / 2

    Backward splits ``dL/dy`` by the same rule (``mul``: ``dL/dy_f = dL/dy * y_b``), runs both
    layers' backward passes and adds their ``dL/dx``. The weights of both are this layer's,
    named ``forward_W``, ``backward_W``, ...; with ``return_state`` the outputs are
    ``[y, *forward states, *backward states]``. Initial states are not taken.

    Examples
    --------
    >>> import numpy as np
    >>> from scratchnn.layers import LSTM, Bidirectional
    >>> layer = Bidirectional(LSTM(4, return_sequences=True))
    >>> layer.build((5, 3), np.random.default_rng(0))
    >>> layer.forward(np.ones((2, 5, 3))).shape
    (2, 5, 8)
    """

    def __init__(self, layer: Any, merge_mode: str = "concat", input_shape: Any = None) -> None:
        super().__init__(None, None)
        if isinstance(layer, dict):  # from a model file: {"class_name": ..., "config": ...}
            layer = get_layer_class(layer.get("class_name")).from_config(layer.get("config", {}))
        if not isinstance(layer, _Recurrent):
            raise TypeError(
                f"Bidirectional wraps a recurrent layer (SimpleRNN, LSTM, GRU), got "
                f"{describe(layer)}"
            )
        if layer.built or layer.calls:
            raise ValueError("Bidirectional needs a new recurrent layer, not one already used")
        if merge_mode not in MERGE_MODES:
            raise ValueError(f"merge_mode must be one of {MERGE_MODES}, got {merge_mode!r}")
        self.merge_mode = merge_mode
        config = layer.get_config()
        self.forward_layer = layer
        self.backward_layer = type(layer).from_config(
            dict(config, go_backwards=not layer.go_backwards)
        )
        if input_shape is not None:
            self.input_shape = tuple(None if s is None else int(s) for s in input_shape)

    def _parts(self) -> list[tuple[str, _Recurrent]]:
        return [("forward_", self.forward_layer), ("backward_", self.backward_layer)]

    def output_shape(self, input_shape: Any) -> Any:
        shape = self.forward_layer.output_shape(input_shape)
        output, states = (shape[0], shape[1:]) if self.forward_layer.return_state else (shape, [])
        if self.merge_mode == "concat":
            output = (*output[:-1], 2 * output[-1])
        return [output, *states, *states] if states else output

    def weights_for(self, input_shape: Any) -> list[Weight]:
        """Both layers' weights, their names prefixed ``forward_`` and ``backward_``."""
        return [
            dataclasses.replace(weight, name=prefix + weight.name)
            for prefix, layer in self._parts()
            for weight in layer.weights_for(input_shape)
        ]

    def build(self, input_shape: Any, rng: Any = None, dtype: type = np.float32) -> None:
        super().build(input_shape, rng, dtype)
        for _, layer in self._parts():
            layer.input_shape, layer.built, layer.dtype = self.input_shape, True, dtype
        self._share()

    def bind(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        super().bind(params, grads)
        self._share()

    def _share(self) -> None:
        """Hand each inner layer views of its arrays, where it does not hold them already.

        Called by every pass as well as by ``bind``: a copied model or a new generator rebinds
        this layer's arrays. Once they are shared, inference writes nothing on the layers.
        """
        for prefix, layer in self._parts():
            cut = len(prefix)
            params = {k[cut:]: v for k, v in self.params.items() if k.startswith(prefix)}
            grads = {k[cut:]: v for k, v in self.grads.items() if k.startswith(prefix)}
            current = all(layer.params.get(k) is v for k, v in params.items()) and all(
                layer.grads.get(k) is v for k, v in grads.items()
            )
            if not current or layer.rng is not self.rng or len(layer.params) != len(params):
                layer.params, layer.grads = params, grads
                layer.rng, layer.needs_input_grad = self.rng, True

    def save_record(self) -> Any:
        return (self._cache, self.forward_layer._cache, self.backward_layer._cache)

    def load_record(self, record: Any) -> None:
        record = record or (None, None, None)
        self._cache, self.forward_layer._cache, self.backward_layer._cache = record

    uses_mask = True

    def compute_mask(self, inputs: Any, mask: Any) -> Any:
        return None if mask is None else self.forward_layer.compute_mask(inputs, mask)

    def forward(self, x: np.ndarray, training: bool = False, mask: Any = None) -> Any:
        """Both passes, the backward one's sequence flipped back, merged by ``merge_mode``.

        A mask of padded steps goes to both passes: each keeps its state over the padding (the
        backward pass meets it first, and so starts on the last real step)."""
        self._share()
        with_states = self.forward_layer.return_state
        outputs = []
        for _, layer in self._parts():
            result = layer.forward(x, training, mask=mask)
            outputs.append(result if with_states else [result])
        (y_f, *states_f), (y_b, *states_b) = outputs
        if self.backward_layer.return_sequences:
            y_b = y_b[:, ::-1]
        if self.merge_mode == "concat":
            y = np.concatenate([y_f, y_b], axis=-1)
        elif self.merge_mode == "sum":
            y = y_f + y_b
        elif self.merge_mode == "mul":
            y = y_f * y_b
        else:
            y = (y_f + y_b) * y_f.dtype.type(0.5)
        if training:
            self._cache = (y_f, y_b) if self.merge_mode == "mul" else ()
        return [y, *states_f, *states_b] if with_states else y

    def backward(self, grad_output: Any) -> np.ndarray | None:
        record = self._recorded()
        self._share()
        with_states = self.forward_layer.return_state
        grad, grad_states = (
            (grad_output[0], list(grad_output[1:])) if with_states else (grad_output, [])
        )
        units = self.forward_layer.units
        if self.merge_mode == "concat":
            g_f, g_b = grad[..., :units], grad[..., units:]
        elif self.merge_mode == "sum":
            g_f = g_b = grad
        elif self.merge_mode == "mul":
            y_f, y_b = record
            g_f, g_b = grad * y_b, grad * y_f
        else:
            g_f = g_b = grad * grad.dtype.type(0.5)
        if self.backward_layer.return_sequences:
            g_b = g_b[:, ::-1]
        n_states = self.forward_layer.cell.n_states
        grad_x = None
        for (_, layer), g, states in [
            (self._parts()[0], g_f, grad_states[:n_states]),
            (self._parts()[1], g_b, grad_states[n_states:]),
        ]:
            part = layer.backward([g, *states] if with_states else g)
            grad_x = part if grad_x is None else grad_x + part
        return grad_x if self.needs_input_grad else None

    def get_config(self) -> dict[str, Any]:
        layer = self.forward_layer
        return {
            "layer": {"class_name": type(layer).__name__, "config": layer.get_config()},
            "merge_mode": self.merge_mode,
            "input_shape": None if self.input_shape is None else list(self.input_shape),
        }

    def __repr__(self) -> str:
        return f"Bidirectional({self.forward_layer!r}, merge_mode={self.merge_mode!r})"
