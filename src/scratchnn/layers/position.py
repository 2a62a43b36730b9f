"""Positions for attention: a learned table or fixed sinusoids, added to the token vectors.

Attention treats its inputs as a set: permute the positions and the outputs permute with them.
Adding a vector per position, ``y[n, t] = x[n, t] + P[t]``, tells the model where each token
sits. :class:`PositionEmbedding` learns ``P`` (GPT-2, nanoGPT); :class:`SinePositionEncoding`
fixes it to sines and cosines of geometrically spaced wavelengths ("Attention is all you need").

Both *add* the positions to their input and return the sum (Keras-hub's layers of the same
names return the position vectors alone, for the user to ``Add``; one layer here saves that
node). Both also step: ``forward_step(x, position)`` adds the vector of one position to ``x
(N, 1, D)``, so generation can feed one token at a time (:class:`scratchnn.text.Stepper`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_number, check_positive_int, describe
from ..initializers import get_initializer, initializer_config
from .base import Layer, Weight, format_shape
from .dense import _named_or_object


def _check_sequence(layer: Layer, input_shape: tuple) -> tuple:
    """``(T, D)`` with ``D`` known; ``T`` may be open (``None``)."""
    if len(input_shape) != 2 or input_shape[-1] is None:
        raise ValueError(
            f"{type(layer).__name__} takes sequences of vectors (N, T, D) with D known, got "
            f"inputs of shape {format_shape(tuple(input_shape))}"
        )
    return tuple(input_shape)


def _check_position(position: Any, limit: int | None) -> int:
    """``position`` as an int in ``[0, limit)`` (any int >= 0 when ``limit`` is None)."""
    if isinstance(position, bool) or not isinstance(position, (int, np.integer)):
        raise TypeError(f"position must be a non-negative integer, got {describe(position)}")
    if position < 0 or (limit is not None and position >= limit):
        bound = "" if limit is None else f" and below sequence_length={limit}"
        raise ValueError(f"position must be >= 0{bound}, got {position}")
    return int(position)


def _check_step(layer: Layer, x: Any, width: int | None) -> None:
    """``x`` must be one position of a batch, ``(N, 1, D)`` (``D == width`` when given)."""
    shape = np.shape(x)
    if len(shape) != 3 or shape[1] != 1 or (width is not None and shape[2] != width):
        expected = f"(N, 1, {'D' if width is None else width})"
        raise ValueError(
            f"{type(layer).__name__}.forward_step takes x of shape {expected}, one position, "
            f"got {shape}"
        )


class PositionEmbedding(Layer):
    """A learned vector per position added to each token's vector: ``y[n, t] = x[n, t] + P[t]``.

    Shapes: ``x, y: (N, T, D)`` with ``T <= sequence_length``; ``P: (sequence_length, D)``. The
    time axis may be left open (``Input(shape=(None,))``): a sequence of any length up to the
    table's is taken, a longer one is a ``ValueError``.

    Backward: ``dL/dx = dL/dy``; ``dL/dP[t] = sum over the batch of dL/dy[:, t]`` for
    ``t < T``, and 0 for the rows no position of this batch used.

    Parameters
    ----------
    sequence_length : int
        How many positions the table holds: the longest sequence the layer takes.
    initializer : str or callable
        The table's first values; ``"glorot_uniform"`` (Keras-hub's default).

    Examples
    --------
    >>> import numpy as np
    >>> from scratchnn.layers import PositionEmbedding
    >>> layer = PositionEmbedding(8)
    >>> layer.build((None, 4), np.random.default_rng(0))
    >>> x = np.zeros((2, 5, 4))
    >>> bool(np.array_equal(layer.forward(x)[1], layer.params["embeddings"][:5]))
    True
    """

    def __init__(
        self,
        sequence_length: int,
        initializer: Any = "glorot_uniform",
        input_shape: Any = None,
    ) -> None:
        super().__init__(None, input_shape)
        self.sequence_length = check_positive_int(sequence_length, "sequence_length")
        self.initializer = _named_or_object(initializer)

    def output_shape(self, input_shape: tuple) -> tuple:
        steps, _ = _check_sequence(self, input_shape)
        if steps is not None and steps > self.sequence_length:
            raise ValueError(
                f"PositionEmbedding holds {self.sequence_length} positions (sequence_length), "
                f"got sequences of {steps}"
            )
        return tuple(input_shape)

    def weights_for(self, input_shape: Any) -> list[Weight]:
        """``embeddings (sequence_length, D)``."""
        shape = (self.sequence_length, input_shape[-1])
        return [Weight("embeddings", shape, get_initializer(self.initializer))]

    def _table(self, steps: int) -> np.ndarray:
        if steps > self.sequence_length:
            raise ValueError(
                f"PositionEmbedding holds {self.sequence_length} positions (sequence_length), "
                f"got sequences of {steps} steps: crop them to the last "
                f"{self.sequence_length} (as generate does)"
            )
        return self.params["embeddings"][:steps]

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """``x + P[:T]``; in training records ``T``."""
        table = self._table(x.shape[1])
        if training:
            self._cache = (x.shape[1],)
        return x + table

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """``dL/dP[:T] = sum over the batch of dL/dy``; ``dL/dx = dL/dy``."""
        (steps,) = self._recorded()
        grad = self.grads["embeddings"]
        grad[steps:] = 0
        np.add.reduce(grad_output, axis=0, out=grad[:steps])
        return grad_output

    def forward_step(self, x: np.ndarray, position: int) -> np.ndarray:
        """``x (N, 1, D) + P[position]``: what :meth:`forward` adds at that position."""
        position = _check_position(position, self.sequence_length)
        _check_step(self, x, self.params["embeddings"].shape[1])
        return x + self.params["embeddings"][position]

    def get_config(self) -> dict[str, Any]:
        return {
            "sequence_length": self.sequence_length,
            "initializer": initializer_config(self.initializer),
            **super().get_config(),
        }


class SinePositionEncoding(Layer):
    """Fixed sinusoids added to each token's vector: ``y[n, t] = x[n, t] + PE[t]``.

    With ``D`` features and ``i = 0 .. D - 1``: ``angle(t, i) = t / max_wavelength^(2 floor(i
    / 2) / D)``; ``PE[t, i] = sin(angle)`` for even ``i``, ``cos(angle)`` for odd ``i`` (Vaswani
    et al.; Keras-hub's layout). Nothing to learn and no length limit: any ``T`` is taken.

    Shapes: ``x, y: (N, T, D)``. Backward: ``dL/dx = dL/dy``.

    Parameters
    ----------
    max_wavelength : float
        The longest wavelength (10000 in the paper).

    Examples
    --------
    >>> import numpy as np
    >>> from scratchnn.layers import SinePositionEncoding
    >>> layer = SinePositionEncoding()
    >>> layer.build((None, 4))
    >>> layer.forward(np.zeros((1, 2, 4)))[0, 1].round(3)
    array([0.841, 0.54 , 0.01 , 1.   ])
    """

    def __init__(self, max_wavelength: float = 10000.0, input_shape: Any = None) -> None:
        super().__init__(None, input_shape)
        self.max_wavelength = check_number(max_wavelength, "max_wavelength", low=1.0)

    def output_shape(self, input_shape: tuple) -> tuple:
        return _check_sequence(self, input_shape)

    def encoding(self, positions: np.ndarray, features: int) -> np.ndarray:
        """``PE`` at ``positions`` (a 1-D array of ints): ``(len(positions), features)``."""
        index = np.arange(features)
        timescales = self.max_wavelength ** (-(2 * (index // 2)) / features)
        angles = positions[:, np.newaxis] * timescales
        return np.where(index % 2 == 0, np.sin(angles), np.cos(angles)).astype(self.dtype)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """``x + PE[:T]``; nothing recorded (the gradient passes straight through)."""
        if training:
            self._cache = ()
        return x + self.encoding(np.arange(x.shape[1]), x.shape[-1])

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        self._recorded()
        return grad_output

    def forward_step(self, x: np.ndarray, position: int) -> np.ndarray:
        """``x (N, 1, D) + PE[position]``: what :meth:`forward` adds at that position."""
        position = _check_position(position, None)
        _check_step(self, x, None)
        # float64 positions: an int beyond int64 would make an object array that sin refuses
        return x + self.encoding(np.array([position], dtype=np.float64), x.shape[-1])[0]

    def get_config(self) -> dict[str, Any]:
        return {"max_wavelength": self.max_wavelength, **super().get_config()}
