"""Embedding: integer ids in, one learned vector per id out (a lookup table that trains)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_positive_int, describe
from ..initializers import get_initializer, initializer_config
from ..regularizers import Regularizer, get_regularizer
from .base import Layer, Weight
from .dense import _named_or_object


class Embedding(Layer):
    """Row ``ids[n, t]`` of a table ``E (input_dim, output_dim)``: ``y[n, t] = E[ids[n, t]]``.

    Shapes: ``ids: (N, T)`` (any number of axes after the batch), ``E: (input_dim, output_dim)``,
    ``y: (N, T, output_dim)``. The same as a one-hot vector times ``E``, without the one-hot.

    Backward: row ``k`` of ``dL/dE`` is the sum of ``dL/dy[n, t]`` over the positions holding
    id ``k`` (``np.add.at``: an id seen twice adds twice); the ids have no gradient (``None``).

    Ids are used as integers, never cast to floats: an integer array, or a float array holding
    whole numbers (a ``Sequential`` model hands its inputs over in its float dtype; a graph's
    ``Input(shape=(None,), dtype="int64")`` keeps them integers). An id outside
    ``[0, input_dim)`` or a fractional one is a ``ValueError`` naming it and its position.

    Parameters
    ----------
    input_dim : int
        The size of the vocabulary: ids run from 0 to ``input_dim - 1``.
    output_dim : int
        The length of each vector.
    mask_zero : bool
        Whether id 0 is padding (kept as a setting; the engine's mask propagation reads it).
    embeddings_initializer : str or callable
        ``"uniform"``: ``U(-0.05, 0.05)``, as in Keras.
    embeddings_regularizer : str, Regularizer or None
        A penalty on ``E``.

    Examples
    --------
    >>> import numpy as np
    >>> from scratchnn.layers import Embedding
    >>> layer = Embedding(10, 3)
    >>> layer.build((4,), np.random.default_rng(0))
    >>> layer.forward(np.array([[1, 2, 3, 1]])).shape
    (1, 4, 3)
    """

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        mask_zero: bool = False,
        embeddings_initializer: Any = "uniform",
        embeddings_regularizer: Any = None,
        input_shape: Any = None,
    ) -> None:
        super().__init__(None, None)
        if input_shape is not None:  # the ids' shape may leave the time axis open
            self.input_shape = tuple(None if s is None else int(s) for s in input_shape)
        self.vocabulary = check_positive_int(input_dim, "input_dim")
        self.output_dim = check_positive_int(output_dim, "output_dim")
        if not isinstance(mask_zero, bool):
            raise TypeError(f"mask_zero must be True or False, got {describe(mask_zero)}")
        self.mask_zero = mask_zero
        self.embeddings_initializer = _named_or_object(embeddings_initializer)
        self.embeddings_regularizer: Regularizer | None = get_regularizer(embeddings_regularizer)

    takes_ids = True  # a stack that starts with it hands it the ids as integers

    @property
    def makes_mask(self) -> bool:
        return self.mask_zero

    def compute_mask(self, inputs: Any, mask: Any) -> Any:
        """With ``mask_zero``, id 0 is padding: ``mask = ids != 0``, ``(N, T)``."""
        if not self.mask_zero:
            return mask
        return np.asarray(inputs) != 0

    @property
    def input_dim(self) -> int:  # the base class's input_dim is a flat input's width
        return self.vocabulary

    def output_shape(self, input_shape: tuple) -> tuple:
        return (*tuple(input_shape), self.output_dim)

    def weights_for(self, input_shape: Any) -> list[Weight]:
        """``embeddings (input_dim, output_dim)``."""
        init = get_initializer(self.embeddings_initializer)
        shape = (self.vocabulary, self.output_dim)
        return [Weight("embeddings", shape, init, self.embeddings_regularizer)]

    def _ids(self, x: Any) -> np.ndarray:
        """``x`` as an integer array of valid ids, or a ``ValueError`` naming the first bad one."""
        x = np.asarray(x)
        if x.dtype.kind in "iu":
            ids = x
        elif x.dtype.kind == "f":
            whole = np.isfinite(x) & (x == np.round(x))
            if not whole.all():
                at = tuple(int(i) for i in np.argwhere(~whole)[0])
                raise ValueError(
                    f"Embedding takes integer ids, got {float(x[at])!r} at position {at} (an "
                    f"array of {x.dtype} with a fractional or non-finite value)"
                )
            ids = x.astype(np.int64)
        else:
            raise TypeError(f"Embedding takes an array of integer ids, got {describe(x)}")
        bad = (ids < 0) | (ids >= self.vocabulary)
        if bad.any():
            at = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"Embedding ids must be in [0, {self.vocabulary}) (input_dim={self.vocabulary}), "
                f"got id {int(ids[at])} at position {at}"
            )
        return ids

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """``y = E[ids]``; in training records the ids."""
        ids = self._ids(x)
        if training:
            self._cache = (ids,)
        return self.params["embeddings"][ids]  # fancy indexing: a new array

    def backward(self, grad_output: np.ndarray) -> None:
        """``dL/dE[k] = sum over positions holding id k of dL/dy``; no gradient for the ids."""
        (ids,) = self._recorded()
        grad = self.grads["embeddings"]
        grad[...] = 0
        np.add.at(grad, ids.reshape(-1), grad_output.reshape(-1, self.output_dim))
        return None

    def get_config(self) -> dict[str, Any]:
        return {
            "input_dim": self.vocabulary,
            "output_dim": self.output_dim,
            "mask_zero": self.mask_zero,
            "embeddings_initializer": initializer_config(self.embeddings_initializer),
            "embeddings_regularizer": None
            if self.embeddings_regularizer is None
            else self.embeddings_regularizer.get_config(),
            "input_shape": None if self.input_shape is None else list(self.input_shape),
        }

    def __repr__(self) -> str:
        mask = ", mask_zero=True" if self.mask_zero else ""
        return f"Embedding({self.vocabulary}, {self.output_dim}{mask})"
