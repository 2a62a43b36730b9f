"""The network diagram: neurons as circles, weights as lines coloured by sign and size."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .. import _validation as check
from ._figure import _blocks, _check_built, _figure, _finish
from .graph import draw_graph, graph_figure_size

POSITIVE, NEGATIVE = "#c0392b", "#2471a3"  # red for w > 0, blue for w < 0, as in the RdBu colormap


def _block_label(index: int, block: list[Any]) -> str:
    head = block[0]
    units = head.params["W"].shape[1]
    activation = getattr(getattr(head, "activation", None), "name", "linear")
    extras = [type(layer).__name__ for layer in block[1:]]
    name = f"{type(head).__name__} {index + 1}"
    text = f"{name}\n{units} units\n{activation}"
    return text + ("\n+ " + ", ".join(extras) if extras else "")


def shown_neurons(n: int, max_neurons: int) -> tuple[list[int], int]:
    """Which of ``n`` neurons a diagram draws, and how many it elides in the middle.

    All of them when ``n <= max_neurons``; else the first and last ones around one "..." slot.
    """
    if n <= max_neurons:
        return list(range(n)), 0
    head = (max_neurons - 1) // 2 + (max_neurons - 1) % 2
    tail = max_neurons - 1 - head
    return list(range(head)) + list(range(n - tail, n)), n - head - tail


def _column_positions(n: int, max_neurons: int) -> tuple[dict[int, float], float | None]:
    shown, hidden = shown_neurons(n, max_neurons)
    slots = len(shown) + (1 if hidden else 0)
    top = (slots - 1) / 2
    positions, gap = {}, None
    for slot in range(slots):
        if hidden and slot == len(shown) - (max_neurons - 1) // 2:
            gap = top - slot
            continue
        positions[shown[len(positions)]] = top - slot
    return positions, gap


def plot_network(
    model: Any,
    path: str | os.PathLike | None = None,
    max_neurons: int = 10,
    figsize: tuple[float, float] | None = None,
    dpi: int = 100,
) -> Any:
    """Draw the trained network: a stack's neurons and weights, or a graph's layer calls.

    A graph model (``Model(inputs, outputs)``) is drawn as its graph: one box per layer call
    (name, kind, output shape), arrows along the tensors, columns by the longest path from an
    input, so branches sit side by side and a merge has an arrow from each tensor it takes. A
    shared layer's calls have the same coloured outline. ``max_neurons`` applies to stacks only.

    A stack (``Sequential``) is drawn neuron by neuron, one column per layer. Each line is a
    weight, red when positive and blue when negative, wider and darker the larger its magnitude
    relative to the largest weight of its layer. A neuron's fill is its bias on the same red-blue
    scale (white is zero). Layers wider than ``max_neurons`` show their first and last neurons
    around a "..." gap that says how many are left out.
    """
    _check_built(model)
    max_neurons = check.check_positive_int(max_neurons, "max_neurons")
    if max_neurons < 3:
        raise ValueError(f"max_neurons must be at least 3 to draw an elision, got {max_neurons}")
    if model.is_graph:
        fig = _figure(figsize or graph_figure_size(model), dpi)
        draw_graph(fig, model)
        fig.tight_layout()
        return _finish(fig, path)
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D
    from matplotlib.patches import Circle

    blocks = _blocks(model)
    if not blocks:
        raise ValueError("model has no layer with a weight matrix W to draw")
    kernels = [type(b[0]).__name__ for b in blocks if b[0].kernel_layout != "dense"]
    if kernels:
        raise ValueError(
            f"plot_network draws dense networks, and this model has {kernels[0]} layers: "
            "draw their filters with plot_filters and their outputs with plot_feature_maps"
        )
    sizes = [blocks[0][0].params["W"].shape[0]] + [b[0].params["W"].shape[1] for b in blocks]
    labels = [f"Input\n{sizes[0]}\nfeatures"] + [_block_label(i, b) for i, b in enumerate(blocks)]
    columns = [_column_positions(n, max_neurons) for n in sizes]
    spacing = 2.2
    tallest = max(len(positions) + (gap is not None) for positions, gap in columns)
    # Half an inch per unit of the equal-aspect drawing, plus room for the labels and legend.
    width, height = (len(sizes) - 1) * spacing + 1.8, tallest + 2.6
    size = (round(0.55 * width + 0.5, 1), round(0.55 * height + 0.7, 1))
    fig = _figure(figsize or size, dpi)
    ax = fig.add_subplot()
    cmap = _colormap("RdBu_r")

    for index, block in enumerate(blocks):
        W = block[0].params["W"]
        scale = float(np.abs(W).max()) or 1.0
        (left, _), (right, _) = columns[index], columns[index + 1]
        segments, colors, widths = [], [], []
        for i, y_in in left.items():
            for j, y_out in right.items():
                weight = float(W[i, j]) / scale
                segments.append([(index * spacing, y_in), ((index + 1) * spacing, y_out)])
                colors.append(
                    (*_rgb(POSITIVE if weight > 0 else NEGATIVE), 0.3 + 0.65 * abs(weight))
                )
                widths.append(0.5 + 2.7 * abs(weight))
        lines = LineCollection(segments, colors=colors, linewidths=widths, zorder=1)
        lines.set_gid(f"weights {index}")
        ax.add_collection(lines)

    radius = 0.3
    half = (tallest - 1) / 2
    for column, (positions, gap) in enumerate(columns):
        x = column * spacing
        bias = None
        if column > 0 and "b" in blocks[column - 1][0].params:
            bias = blocks[column - 1][0].params["b"]
            bias_scale = float(np.abs(bias).max()) or 1.0
        for neuron, y in positions.items():
            face = "#e8e8e8" if bias is None else cmap(0.5 + 0.5 * float(bias[neuron]) / bias_scale)
            circle = Circle(
                (x, y), radius, facecolor=face, edgecolor="#333333", linewidth=0.8, zorder=2
            )
            circle.set_gid(f"neuron {column} {neuron}")
            ax.add_patch(circle)
        if gap is not None:
            hidden = sizes[column] - len(positions)
            ax.scatter([x] * 3, [gap + 0.25, gap, gap - 0.25], s=6, color="#333333", zorder=3)
            ax.text(
                x + radius,
                gap,
                f"{hidden} more",
                va="center",
                fontsize=7,
                zorder=3,
                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none"},
            )
        ax.text(x, half + 0.55, labels[column], ha="center", va="bottom", fontsize=8)

    handles = [
        Line2D([], [], color=POSITIVE, lw=2, label="weight > 0 (width: |weight|)"),
        Line2D([], [], color=NEGATIVE, lw=2, label="weight < 0"),
        Line2D(
            [],
            [],
            marker="o",
            ls="",
            markerfacecolor=cmap(0.9),
            markeredgecolor="#333333",
            label="fill: bias (red +, blue -)",
        ),
    ]
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=1,
        fontsize=8,
        frameon=False,
    )
    ax.set_xlim(-0.9, (len(sizes) - 1) * spacing + 0.9)
    ax.set_ylim(-half - 0.5, half + 2.1)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.tight_layout()
    return _finish(fig, path)


def _colormap(name: str) -> Any:
    from matplotlib import colormaps

    return colormaps[name]


def _rgb(color: str) -> tuple[float, float, float]:
    from matplotlib.colors import to_rgb

    return to_rgb(color)
