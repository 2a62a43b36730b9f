"""What the page draws, computed from the model: one frame as JSON values.

A frame holds the decision boundary over a grid (class and confidence per cell), one picture per
hidden and output neuron (its output over a coarser grid), the weights of every Dense layer, the
loss and accuracy curves and the diagnostics' findings. Pictures are bytes, base64-encoded: a
48 x 48 field is 4.6 kB of text instead of some 30 kB of JSON numbers.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..model import Sequential

FIELD_SIZE = 48  # cells across the decision boundary
NEURON_SIZE = 20  # cells across a neuron's picture
MAX_CURVE_POINTS = 400


def bounds_of(X: np.ndarray, margin: float = 0.15) -> list[float]:
    """``[x_min, x_max, y_min, y_max]`` around the points, square and with a margin."""
    low, high = X.min(axis=0), X.max(axis=0)
    centre, half = (low + high) / 2, max(float((high - low).max()) / 2, 1e-6) * (1 + margin)
    return [centre[0] - half, centre[0] + half, centre[1] - half, centre[1] + half]


def grid(bounds: Sequence[float], size: int) -> np.ndarray:
    """Cell centres, row by row from the top (largest y), ``(size * size, 2)``."""
    x_min, x_max, y_min, y_max = bounds
    step_x, step_y = (x_max - x_min) / size, (y_max - y_min) / size
    xs = x_min + step_x * (np.arange(size) + 0.5)
    ys = y_max - step_y * (np.arange(size) + 0.5)
    column, row = np.meshgrid(xs, ys)
    return np.column_stack([column.ravel(), row.ravel()])


def _bytes(values: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(values, dtype=np.uint8).tobytes()).decode()


def boundary(model: Sequential, points: np.ndarray) -> dict[str, str]:
    """Predicted class and confidence (0-255) per cell; confidence 0 at a tie."""
    outputs = model.predict(points)
    if outputs.shape[1] == 1:
        p = outputs[:, 0]
        classes, confidence = p > 0.5, np.abs(2 * p - 1)
    else:
        classes = outputs.argmax(axis=1)
        top = outputs.max(axis=1)
        k = outputs.shape[1]
        confidence = (top - 1 / k) / (1 - 1 / k)
    confidence = np.nan_to_num(np.clip(confidence, 0, 1)) * 255
    return {"classes": _bytes(classes), "confidence": _bytes(np.round(confidence))}


def neuron_pictures(
    model: Sequential, points: np.ndarray, neurons: Sequence[int]
) -> list[list[str]]:
    """Per layer in ``neurons``, per unit: its output over the grid, scaled by its largest size.

    128 is zero; 255 the unit's largest positive output, 0 its most negative one.
    """
    wanted, pictures = set(neurons), []
    outputs = points.astype(model.dtype)
    for index, layer in enumerate(model.layers[: max(neurons, default=-1) + 1]):
        outputs = layer.forward(outputs, training=False)
        if index in wanted:
            finite = np.nan_to_num(outputs, posinf=0.0, neginf=0.0)
            scale = np.abs(finite).max(axis=0)
            scaled = finite / np.where(scale > 0, scale, 1)
            values = np.round(127.5 + 127.5 * scaled)
            pictures.append([_bytes(values[:, unit]) for unit in range(values.shape[1])])
    return pictures


def weights(model: Sequential, dense: Sequence[int]) -> list[list[list[float]]]:
    """Each Dense layer's kernel ``W`` (in, out), rounded to 4 digits."""
    kernels = [np.nan_to_num(model.layers[index].params["W"]) for index in dense]
    return [np.round(kernel.astype(np.float64), 4).tolist() for kernel in kernels]


def curves(history: dict[str, list[float]]) -> dict[str, list[float | None]]:
    """The loss and accuracy series, thinned to at most :data:`MAX_CURVE_POINTS` points."""
    thinned = {}
    for name, values in history.items():
        if len(values) > MAX_CURVE_POINTS:
            picks = np.linspace(0, len(values) - 1, MAX_CURVE_POINTS).round().astype(int)
            values = [values[i] for i in picks]
        thinned[name] = [v if np.isfinite(v) else None for v in values]
    return thinned


def render(
    model: Sequential,
    bounds: Sequence[float],
    neurons: Sequence[int],
    dense: Sequence[int],
    history: dict[str, list[float]],
) -> dict[str, Any]:
    """Everything drawn from the model's current weights."""
    with np.errstate(all="ignore"):  # a diverged network draws as NaN, not as warnings
        return {
            "field": boundary(model, grid(bounds, FIELD_SIZE)),
            "field_size": FIELD_SIZE,
            "neurons": neuron_pictures(model, grid(bounds, NEURON_SIZE), neurons),
            "neuron_size": NEURON_SIZE,
            "weights": weights(model, dense),
            "curves": curves(history),
        }
