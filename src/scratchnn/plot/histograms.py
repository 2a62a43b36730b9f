"""Histograms of each layer's weights and of its outputs on some data."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .. import _validation as check
from ._figure import _blocks, _check_built, _figure, _finish


def layer_activations(model: Any, X: Any) -> list[np.ndarray]:
    """Outputs of each block (a weight layer and the layers after it) for ``X``, inference mode."""
    _check_built(model)
    X = model.check_inputs(X).astype(model.dtype, copy=False)
    outputs, blocks = [], _blocks(model)
    ends = {id(block[-1]) for block in blocks}
    for layer in model.layers:
        X = layer.forward(X, training=False)
        if id(layer) in ends:
            outputs.append(X.copy())
    return outputs


def plot_weight_histograms(
    model: Any,
    X: Any = None,
    path: str | os.PathLike | None = None,
    bins: int = 40,
    figsize: tuple[float, float] | None = None,
    dpi: int = 100,
) -> Any:
    """Histograms of each layer's weights (top row) and, given ``X``, its outputs (bottom row)."""
    _check_built(model)
    bins = check.check_positive_int(bins, "bins")
    blocks = _blocks(model)
    activations = None if X is None else layer_activations(model, X)
    rows = 1 if activations is None else 2
    fig = _figure(figsize or (3.4 * len(blocks), 2.8 * rows + 0.3), dpi)
    for index, block in enumerate(blocks):
        W = block[0].params["W"]
        ax = fig.add_subplot(rows, len(blocks), index + 1)
        ax.hist(W.ravel(), bins=min(bins, max(10, int(np.sqrt(W.size)))), color="#7f8c8d")
        ax.set_title(
            f"{type(block[0]).__name__} {index + 1} weights {W.shape[0]}x{W.shape[1]}", fontsize=9
        )
        ax.set_xlabel("weight", fontsize=8)
        ax.set_ylabel("count", fontsize=8)
        ax.text(
            0.02,
            0.97,
            f"mean {W.mean():+.3f}\nstd {W.std():.3f}",
            transform=ax.transAxes,
            va="top",
            fontsize=7,
        )
        if activations is not None:
            values = activations[index].ravel()
            ax = fig.add_subplot(rows, len(blocks), len(blocks) + index + 1)
            ax.hist(values, bins=bins, color="#e67e22")
            activation = getattr(getattr(block[0], "activation", None), "name", "linear")
            ax.set_title(
                f"{type(block[0]).__name__} {index + 1} outputs ({activation})", fontsize=9
            )
            ax.set_xlabel(f"output value ({len(activations[index])} rows)", fontsize=8)
            ax.set_ylabel("count (rows x units)", fontsize=8)
            zero = float(np.mean(values == 0))
            ax.text(
                0.98,
                0.97,
                f"exactly 0: {zero:.0%}",
                transform=ax.transAxes,
                ha="right",
                va="top",
                fontsize=7,
            )
    fig.tight_layout()
    return _finish(fig, path)
