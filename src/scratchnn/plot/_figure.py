"""What every picture shares: a pyplot-free figure, saving it, and the model's weight blocks."""

from __future__ import annotations

import os
from typing import Any

from .. import _validation as check


def _figure(figsize: tuple[float, float], dpi: int) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(
            "scratchnn.plot needs matplotlib, which is not installed; "
            "install it with: pip install scratchnn[plot]"
        ) from error
    return Figure(figsize=figsize, dpi=dpi)


def _finish(fig: Any, path: str | os.PathLike | None) -> Any:
    if path is not None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a file path or None, got {check.describe(path)}")
        fig.savefig(path, format="png", dpi=fig.dpi)
    return fig


def _epoch_axis(ax: Any) -> None:
    """Label the x axis "epoch" with whole-number ticks only: matplotlib's usual steps less 2.5,
    which put ticks at epoch 2.5 and 7.5."""
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(nbins="auto", steps=[1, 2, 5, 10], integer=True))


def _blocks(model: Any) -> list[list[Any]]:
    """Group layers into blocks, each starting at a layer with a kernel ``W`` (one that says its
    ``kernel_layout``: a dense layer or a convolution). In a stack a block holds the layers up to
    the next kernel (its activation, dropout...); in a graph the layers after a kernel in
    ``model.layers`` need not take its output, so each block is the kernel layer alone."""
    if model.is_graph:
        return [[layer] for layer in model.layers if layer.kernel_layout is not None]
    blocks: list[list[Any]] = []
    for layer in model.layers:
        if layer.kernel_layout is not None or not blocks:
            blocks.append([layer])
        else:
            blocks[-1].append(layer)
    return [block for block in blocks if block[0].kernel_layout is not None]


def _check_built(model: Any) -> None:
    if not getattr(model, "built", False):
        raise ValueError("model must be built (fitted or loaded) before it can be plotted")
