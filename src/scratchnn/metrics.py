"""Metrics: ``metric(y_true, y_pred) -> float`` over a whole data set.

``y_pred`` has shape ``(N, outputs)``, or ``(N, ..., outputs)`` for one prediction per position
(a sequence); ``y_true`` is either integer class labels (``(N,)``, or ``(N, ...)`` per position)
or an array of the same shape as ``y_pred`` (targets or one-hot rows). Every position counts
as one more row; with a mask of padded steps (:func:`real_positions`) only the real ones do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ._validation import lookup

Metric = Callable[[np.ndarray, np.ndarray], float]


def _as_columns(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    return y_true.reshape(y_pred.shape) if y_true.ndim == y_pred.ndim - 1 else y_true


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of rows whose predicted class is the true class.

    Several outputs: the class is the arg-max. One output: the class is ``y_pred > 0.5``.
    """
    if y_pred.shape[-1] == 1:
        return binary_accuracy(y_true, y_pred)
    predicted = np.argmax(y_pred, axis=-1)
    true = y_true if y_true.ndim == y_pred.ndim - 1 else np.argmax(y_true, axis=-1)
    return float(np.mean(predicted == true))


def binary_accuracy(y_true: np.ndarray, y_pred: np.ndarray, threshold: float = 0.5) -> float:
    """Fraction of entries where ``y_pred > threshold`` agrees with ``y_true > threshold``."""
    y_true = _as_columns(y_true, y_pred)
    return float(np.mean((y_pred > threshold) == (y_true > threshold)))


def mean_squared_error(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """``mean (y_pred - y_true)^2`` over all entries (in float64: no overflow for float32)."""
    residual = y_pred.astype(np.float64) - _as_columns(y_true, y_pred)
    return float(np.mean(residual * residual))


def mean_absolute_error(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """``mean |y_pred - y_true|`` over all entries."""
    return float(np.mean(np.abs(y_pred.astype(np.float64) - _as_columns(y_true, y_pred))))


def r2_score(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Coefficient of determination ``1 - SS_res / SS_tot``, averaged over outputs.

    An output whose targets are constant scores 1 when predicted exactly and 0 otherwise (as in
    scikit-learn).
    """
    y_true = _as_columns(y_true, y_pred).astype(np.float64)
    if y_pred.ndim > 2:  # every position is a row
        y_true, y_pred = y_true.reshape(-1, y_pred.shape[-1]), y_pred.reshape(-1, y_pred.shape[-1])
    ss_res = np.sum((y_true - y_pred) ** 2, axis=0)
    ss_tot = np.sum((y_true - y_true.mean(axis=0)) ** 2, axis=0)
    scores = np.where(ss_tot > 0, 1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0), 0.0)
    scores = np.where((ss_tot == 0) & (ss_res == 0), 1.0, scores)
    return float(np.mean(scores))


METRICS: dict[str, Metric] = {
    "accuracy": accuracy,
    "acc": accuracy,
    "binary_accuracy": binary_accuracy,
    "mse": mean_squared_error,
    "mean_squared_error": mean_squared_error,
    "mae": mean_absolute_error,
    "mean_absolute_error": mean_absolute_error,
    "r2": r2_score,
    "r2_score": r2_score,
}


def real_positions(
    y_true: Any, y_pred: np.ndarray, mask: np.ndarray | None
) -> tuple[Any, np.ndarray]:
    """The real positions of per-position outputs, for a metric that counts only them.

    ``mask`` ``(N, T)`` marks the real steps (``True``); ``y_pred (N, T, K)`` becomes
    ``(R, K)`` and ``y_true`` (``(N, T)`` labels or ``(N, T, K)``) ``(R,)`` or ``(R, K)``, ``R``
    the number of real steps: every metric then sees the padded steps as absent (Keras passes
    the mask as sample weights, which for these metrics is the same). Without a mask, or with
    one that does not match ``y_pred``'s leading axes, both come back unchanged.
    """
    if mask is None or y_pred.ndim <= mask.ndim or y_pred.shape[: mask.ndim] != mask.shape:
        return y_true, y_pred
    return np.asarray(y_true)[mask], y_pred[mask]


def get_metric(spec: str | Metric) -> tuple[str, Metric]:
    """Return ``(name, function)`` for a metric name or a callable ``(y_true, y_pred)``."""
    if callable(spec):
        return getattr(spec, "__name__", "metric"), spec
    function = lookup(spec, METRICS, "metric")
    return spec, function
