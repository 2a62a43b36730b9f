"""Learning curves: loss and metrics per epoch, training against validation."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from .. import _validation as check
from ._figure import _epoch_axis, _figure, _finish


def plot_learning_curves(
    history: Any,
    path: str | os.PathLike | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: int = 100,
    kept_epoch: int | None = None,
) -> Any:
    """Loss and each metric per epoch, training (solid) and validation (dashed), one panel each.

    ``history`` is the :class:`~scratchnn.callbacks.History` returned by ``fit`` or its
    ``.history`` dict. ``kept_epoch`` (from 1) marks the epoch whose weights the model kept,
    when early stopping restored an earlier one than the last.
    """
    logs = getattr(history, "history", history)
    if not isinstance(logs, Mapping) or not logs:
        raise ValueError(
            f"history must be a History or a non-empty dict of lists, got {check.describe(logs)}"
        )
    epochs = max(len(values) for values in logs.values())
    if kept_epoch is not None:
        kept_epoch = check.check_positive_int(kept_epoch, "kept_epoch")
        if kept_epoch > epochs:
            raise ValueError(f"kept_epoch must be in 1..{epochs}, got {kept_epoch}")
    names = [key for key in logs if not key.startswith("val_")]
    names += [key[4:] for key in logs if key.startswith("val_") and key[4:] not in names]
    fig = _figure(figsize or (4.5 * len(names), 3.6), dpi)
    for index, name in enumerate(names):
        ax = fig.add_subplot(1, len(names), index + 1)
        for key, style, label in ((name, "-", "training"), (f"val_{name}", "--", "validation")):
            if key in logs:
                values = np.asarray(logs[key], dtype=float)
                ax.plot(np.arange(1, len(values) + 1), values, style, label=label, marker=".")
        if kept_epoch is not None:
            ax.axvline(kept_epoch, color="#555555", linestyle=":", linewidth=1.2,
                       label=f"kept: epoch {kept_epoch}")  # fmt: skip
        ax.set_title(name)
        _epoch_axis(ax)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return _finish(fig, path)
