"""Histograms of each layer's weights and of its outputs on some data."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .. import _validation as check
from ._figure import _blocks, _check_built, _figure, _finish


def layer_activations(model: Any, X: Any) -> list[np.ndarray]:
    """Outputs of each block (a weight layer and the layers after it) for ``X``, inference mode.

    One inference pass over the model's topology (a graph's too: ``X`` as ``predict`` takes it);
    a layer called twice shows its last call's output.
    """
    _check_built(model)
    X = model.check_inputs(X)
    inputs = X[:] if model.n_inputs > 1 else [X]  # several inputs: a group of arrays
    inputs = [
        x.astype(dtype, copy=False) for x, dtype in zip(inputs, model.input_dtypes, strict=True)
    ]
    seen: dict[int, np.ndarray] = {}
    model.topology.forward(inputs, False, observers=[lambda i, _, out: seen.__setitem__(i, out)])
    position = {id(layer): i for i, layer in enumerate(model.layers)}
    return [seen[position[id(block[-1])]].copy() for block in _blocks(model)]


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
        ax.set_title(f"{_block_name(model, block, index)} weights {W.shape[0]}x{W.shape[1]}",
                     fontsize=9)  # fmt: skip
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
            ax.set_title(f"{_block_name(model, block, index)} outputs ({activation})", fontsize=9)
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


def _block_name(model: Any, block: list[Any], index: int) -> str:
    """``Dense 2`` (the second kernel layer) in a stack; the layer's own name in a graph."""
    return block[0].name if model.is_graph else f"{type(block[0]).__name__} {index + 1}"
