"""How much working memory inference needs per input row, and so how many rows fit a budget.

``predict`` runs in batches: a batch of ``n`` rows needs about ``n`` times the largest working
memory any layer needs per row (its input, output and the arrays it builds in between: im2col's
patch matrix for a convolution, the padded image for pooling). Batches are capped so that this
stays within :data:`PREDICT_MEMORY`, whatever the network.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .base import Layer

PREDICT_MEMORY = 256 * 2**20  # bytes of working memory a predict batch may take


def layer_working_memory(layer: Layer, input_shape: tuple[int, ...], itemsize: int) -> int:
    """Bytes per row ``layer`` needs in inference: its own estimate, or input plus output."""
    estimate = getattr(type(layer), "working_memory", None)  # the layers that build more say so
    if estimate is not None:
        return int(estimate(layer, tuple(input_shape), itemsize))
    return (math.prod(input_shape) + math.prod(layer.output_shape(tuple(input_shape)))) * itemsize


def rows_within(
    layers: Sequence[Layer],
    input_shape: tuple[int, ...] | None,
    dtype: Any,
    budget: int = PREDICT_MEMORY,
) -> int:
    """The most rows an inference batch may hold to stay within ``budget`` bytes (at least 1)."""
    if input_shape is None:
        return 1 << 62
    itemsize = np.dtype(dtype).itemsize
    largest, shape = 1, tuple(input_shape)
    for layer in layers:
        largest = max(largest, layer_working_memory(layer, shape, itemsize))
        shape = tuple(layer.output_shape(shape))
    return max(1, budget // largest)
