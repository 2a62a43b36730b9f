"""Weight penalties added to the loss: L1, L2 and both.

``penalty(W) = l1 * sum |W| + l2 * sum W^2`` and ``d penalty / dW = l1 sign(W) + 2 l2 W``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._validation import check_number, from_settings, lookup


class Regularizer:
    """An L1/L2 penalty on one parameter array."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        self.l1 = check_number(l1, "l1", low=0.0)
        self.l2 = check_number(l2, "l2", low=0.0)

    def penalty(self, weights: np.ndarray) -> float:
        """``l1 * sum |W| + l2 * sum W^2``."""
        total = 0.0
        if self.l1:
            total += self.l1 * float(np.abs(weights).sum())
        if self.l2:
            total += self.l2 * float(np.vdot(weights, weights))
        return total

    def add_gradient(self, weights: np.ndarray, grad: np.ndarray, divisor: float = 1.0) -> None:
        """Add ``(l1 sign(W) + 2 l2 W) / divisor`` to ``grad`` in place.

        ``divisor`` serves a penalty averaged over a batch's weight (scikit-learn's ``alpha``).
        """
        if self.l1:
            grad += (self.l1 / divisor) * np.sign(weights)
        if self.l2:
            grad += (2.0 * self.l2 / divisor) * weights

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1, "l2": self.l2}

    def __repr__(self) -> str:
        return f"Regularizer(l1={self.l1}, l2={self.l2})"


def L1(l1: float = 0.01) -> Regularizer:  # noqa: N802 - named as the penalty is named
    """An L1 penalty ``l1 * sum |W|``."""
    return Regularizer(l1=l1)


def L2(l2: float = 0.01) -> Regularizer:  # noqa: N802
    """An L2 penalty ``l2 * sum W^2``."""
    return Regularizer(l2=l2)


def L1L2(l1: float = 0.01, l2: float = 0.01) -> Regularizer:  # noqa: N802
    """Both penalties."""
    return Regularizer(l1=l1, l2=l2)


_BY_NAME = {"l1": L1, "l2": L2, "l1_l2": L1L2, "l1l2": L1L2}


def get_regularizer(spec: str | dict | Regularizer | None) -> Regularizer | None:
    """Return a regularizer from ``None``, a name (``"l2"``), a config dict or an instance."""
    if spec is None or isinstance(spec, Regularizer):
        return spec
    if isinstance(spec, dict):
        config = dict(spec)
        config.pop("name", None)  # {"name": "l2", "l2": 0.1} reads naturally; the values decide
        return from_settings(Regularizer, config, "regularizer")
    return lookup(spec, _BY_NAME, "regularizer")()
