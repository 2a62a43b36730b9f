"""Class labels as targets: text (or other) labels turned into the class indices a loss takes.

``fit``, ``evaluate`` and :func:`scratchnn.diagnostics.diagnose` take the same labels the same
way: sorted, as ``np.unique`` orders them, or by a fitted model's ``classes``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .losses import Loss


def label_indices(
    y: Any, loss: Loss, classes: list[Any] | None, name: str
) -> tuple[Any, list[Any] | None]:
    """Targets that are labels (text, say) as class indices, with the labels in order.

    Numeric targets pass unchanged (``classes`` ``None``). Labels need a cross-entropy loss;
    with known ``classes`` (a fitted model's) every label must be one of them.
    """
    if isinstance(y, np.ndarray) and y.dtype.kind in "biuf":
        return y, None
    labels = np.asarray(y) if not isinstance(y, (str, bytes)) else None
    if labels is None or labels.dtype.kind in "biuf" or labels.size == 0:
        return y, None
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise ValueError(f"{name} of labels must be 1-D, got shape {labels.shape}")
    if loss.fused_activation is None:
        raise ValueError(
            f"{name} holds labels ({labels[:3].tolist()}...), which need a classification loss "
            f"(categorical_crossentropy or binary_crossentropy), got {loss.name!r}"
        )
    try:
        found = np.unique(labels)
    except TypeError as error:
        raise TypeError(f"{name} holds labels that cannot be ordered: {error}") from None
    known = found if classes is None else np.asarray(classes)
    unknown = np.setdiff1d(found, known)
    if unknown.size:
        raise ValueError(
            f"{name} holds labels the model does not know: {unknown[:5].tolist()} (it knows "
            f"{known[:10].tolist()})"
        )
    plain = [label.item() if isinstance(label, np.generic) else label for label in known.tolist()]
    odd = [label for label in plain if not isinstance(label, (str, int, float))]
    if odd:
        raise TypeError(
            f"{name} holds labels of type {type(odd[0]).__name__} ({odd[0]!r:.40}); class labels "
            "must be text, numbers or booleans (a model file keeps them as JSON)"
        )
    indices = np.searchsorted(known, labels)
    if loss.name == "binary_crossentropy":
        if len(known) != 2:
            raise ValueError(
                f"{name} must hold two labels for binary cross-entropy, got {len(known)}"
            )
        indices = indices.astype(np.float64)[:, None]
    return indices, plain
