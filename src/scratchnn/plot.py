"""Pictures of data, training and networks, drawn with matplotlib (``pip install scratchnn[plot]``).

Each function returns a :class:`matplotlib.figure.Figure` and, given ``path``, also saves it as a
PNG of ``figsize * dpi`` pixels. Figures are built without ``pyplot``, so no window opens and no
global figure state is kept; matplotlib is imported only when a function here is called.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from . import _validation as check

POSITIVE, NEGATIVE = "#c0392b", "#2471a3"  # red for w > 0, blue for w < 0, as in the RdBu colormap


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


def _classes_of(outputs: np.ndarray) -> np.ndarray:
    """Predicted class per row: arg-max of several outputs, ``> 0.5`` of a single one."""
    if outputs.ndim == 1:
        return outputs.astype(np.int64)
    if outputs.shape[1] == 1:
        return (outputs[:, 0] > 0.5).astype(np.int64)
    return np.argmax(outputs, axis=1)


def _blocks(model: Any) -> list[list[Any]]:
    """Group layers into blocks, each starting at a layer with a weight matrix ``W``."""
    blocks: list[list[Any]] = []
    for layer in model.layers:
        if "W" in getattr(layer, "params", {}) or not blocks:
            blocks.append([layer])
        else:
            blocks[-1].append(layer)
    return [block for block in blocks if "W" in getattr(block[0], "params", {})]


def _block_label(index: int, block: list[Any]) -> str:
    head = block[0]
    units = head.params["W"].shape[1]
    activation = getattr(getattr(head, "activation", None), "name", "linear")
    extras = [type(layer).__name__ for layer in block[1:]]
    name = f"{type(head).__name__} {index + 1}"
    text = f"{name}\n{units} units\n{activation}"
    return text + ("\n+ " + ", ".join(extras) if extras else "")


def _check_built(model: Any) -> None:
    if not getattr(model, "built", False):
        raise ValueError("model must be built (fitted or loaded) before it can be plotted")


# -- learning curves ------------------------------------------------------------------------------
def plot_learning_curves(
    history: Any,
    path: str | os.PathLike | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: int = 100,
) -> Any:
    """Loss and each metric per epoch, training (solid) and validation (dashed), one panel each.

    ``history`` is the :class:`~scratchnn.callbacks.History` returned by ``fit`` or its
    ``.history`` dict.
    """
    logs = getattr(history, "history", history)
    if not isinstance(logs, Mapping) or not logs:
        raise ValueError(
            f"history must be a History or a non-empty dict of lists, got {check.describe(logs)}"
        )
    names = [key for key in logs if not key.startswith("val_")]
    names += [key[4:] for key in logs if key.startswith("val_") and key[4:] not in names]
    fig = _figure(figsize or (4.5 * len(names), 3.6), dpi)
    for index, name in enumerate(names):
        ax = fig.add_subplot(1, len(names), index + 1)
        for key, style, label in ((name, "-", "training"), (f"val_{name}", "--", "validation")):
            if key in logs:
                values = np.asarray(logs[key], dtype=float)
                ax.plot(np.arange(1, len(values) + 1), values, style, label=label, marker=".")
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return _finish(fig, path)


# -- decision boundary ----------------------------------------------------------------------------
def decision_grid(
    model: Any, X: Any, resolution: int = 200, margin: float = 0.1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The grid a decision-boundary plot colours: ``(xs, ys, classes)``.

    ``xs`` and ``ys`` (``resolution`` values each) span ``X``'s two columns plus ``margin`` of
    their range; ``classes[i, j]`` is the model's class at the point ``(xs[j], ys[i])``.
    """
    X = check.check_array(X, "X", ndim=2)
    if X.shape[1] != 2:
        raise ValueError(f"X must have 2 features to draw a decision boundary, got {X.shape[1]}")
    resolution = check.check_positive_int(resolution, "resolution")
    low, high = X.min(axis=0), X.max(axis=0)
    pad = margin * np.where(high > low, high - low, 1.0)
    xs = np.linspace(low[0] - pad[0], high[0] + pad[0], resolution)
    ys = np.linspace(low[1] - pad[1], high[1] + pad[1], resolution)
    grid_x, grid_y = np.meshgrid(xs, ys)
    points = np.column_stack([grid_x.ravel(), grid_y.ravel()])
    classes = _classes_of(model.predict(points)).reshape(resolution, resolution)
    return xs, ys, classes


def plot_decision_boundary(
    model: Any,
    X: Any,
    y: Any,
    path: str | os.PathLike | None = None,
    resolution: int = 200,
    figsize: tuple[float, float] = (5.0, 5.0),
    dpi: int = 100,
) -> Any:
    """Regions where the model predicts each class, over 2-D data, with the points on top.

    The coloured image is :func:`decision_grid`'s ``classes`` (``fig.axes[0].images[0]``).
    """
    X = check.check_array(X, "X", ndim=2)
    y = check.check_array(y, "y", ndim=(1, 2))
    check.check_same_length(X, y)
    labels = _classes_of(y) if y.ndim == 2 else y.astype(np.int64)
    xs, ys, classes = decision_grid(model, X, resolution)
    n_classes = int(max(classes.max(), labels.max())) + 1
    fig = _figure(figsize, dpi)
    ax = fig.add_subplot()
    from matplotlib.colors import ListedColormap

    colors = [f"C{k % 10}" for k in range(n_classes)]
    cmap = ListedColormap(colors)
    ax.imshow(
        classes,
        origin="lower",
        extent=(xs[0], xs[-1], ys[0], ys[-1]),
        cmap=cmap,
        vmin=-0.5,
        vmax=n_classes - 0.5,
        alpha=0.3,
        aspect="auto",
        interpolation="nearest",
    )
    ax.scatter(
        X[:, 0],
        X[:, 1],
        c=labels,
        cmap=cmap,
        vmin=-0.5,
        vmax=n_classes - 0.5,
        s=14,
        edgecolors="black",
        linewidths=0.4,
    )
    accuracy = float(np.mean(_classes_of(model.predict(X)) == labels))
    ax.set_title(f"decision boundary (accuracy {accuracy:.1%} on these points)", fontsize=10)
    ax.set_xlabel("feature 0")
    ax.set_ylabel("feature 1")
    fig.tight_layout()
    return _finish(fig, path)


# -- confusion matrix -----------------------------------------------------------------------------
def confusion_matrix(y_true: Any, y_pred: Any, n_classes: int | None = None) -> np.ndarray:
    """Counts ``C[i, j]`` of samples of true class ``i`` predicted as ``j``.

    ``y_pred`` may be class labels ``(n,)`` or model outputs ``(n, outputs)``.
    """
    true = check.check_array(y_true, "y_true", ndim=(1, 2))
    pred = check.check_array(y_pred, "y_pred", ndim=(1, 2))
    check.check_same_length(true, pred, "y_true", "y_pred")
    true = _classes_of(true) if true.ndim == 2 else true.astype(np.int64)
    pred = _classes_of(pred)
    if true.min() < 0 or pred.min() < 0:
        raise ValueError("y_true and y_pred must hold class indices >= 0")
    n = n_classes or int(max(true.max(), pred.max())) + 1
    counts = np.zeros((n, n), dtype=np.int64)
    np.add.at(counts, (true, pred), 1)
    return counts


def plot_confusion_matrix(
    y_true: Any,
    y_pred: Any,
    normalize: bool = False,
    path: str | os.PathLike | None = None,
    class_names: list[str] | None = None,
    figsize: tuple[float, float] = (5.5, 5.0),
    dpi: int = 100,
) -> Any:
    """Counts of true (rows) against predicted (columns) classes.

    With ``normalize=True`` each row is divided by its total (the recall of each class sits on
    the diagonal) and cells show the rate above the count.
    """
    counts = confusion_matrix(y_true, y_pred)
    totals = counts.sum(axis=1, keepdims=True)
    rates = counts / np.where(totals > 0, totals, 1)
    values = rates if normalize else counts
    n = len(counts)
    names = class_names or [str(k) for k in range(n)]
    fig = _figure(figsize, dpi)
    ax = fig.add_subplot()
    image = ax.imshow(values, cmap="Blues", vmin=0, vmax=1 if normalize else max(1, counts.max()))
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fontsize = 11 if n <= 5 else 9 if n <= 10 else 6
    for i in range(n):
        for j in range(n):
            if counts[i, j] == 0 and n > 5:
                continue  # blank zero cells keep a many-class matrix readable
            text = f"{rates[i, j]:.2f}\n({counts[i, j]})" if normalize else str(counts[i, j])
            dark = rates[i, j] > 0.5 if normalize else counts[i, j] > counts.max() / 2
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=fontsize - normalize,
                color="white" if dark else "black",
            )
    ax.set_xticks(range(n), names)
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    accuracy = np.trace(counts) / max(1, counts.sum())
    kind = "normalised by row" if normalize else "counts"
    ax.set_title(f"confusion matrix ({kind}), accuracy {accuracy:.1%}", fontsize=10)
    fig.tight_layout()
    return _finish(fig, path)


# -- network diagram ------------------------------------------------------------------------------
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
    """Draw the trained network: neurons as circles, one column per layer.

    Each line is a weight, red when positive and blue when negative, wider and darker the larger
    its magnitude relative to the largest weight of its layer. A neuron's fill is its bias on the
    same red-blue scale (white is zero). Layers wider than ``max_neurons`` show their first and last
    neurons around a "..." gap that says how many are left out.
    """
    _check_built(model)
    max_neurons = check.check_positive_int(max_neurons, "max_neurons")
    if max_neurons < 3:
        raise ValueError(f"max_neurons must be at least 3 to draw an elision, got {max_neurons}")
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D
    from matplotlib.patches import Circle

    blocks = _blocks(model)
    if not blocks:
        raise ValueError("model has no layer with a weight matrix W to draw")
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
                    (*_rgb(POSITIVE if weight > 0 else NEGATIVE), 0.15 + 0.75 * abs(weight))
                )
                widths.append(0.2 + 2.8 * abs(weight))
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


# -- histograms -----------------------------------------------------------------------------------
def layer_activations(model: Any, X: Any) -> list[np.ndarray]:
    """Outputs of each block (a weight layer and the layers after it) for ``X``, inference mode."""
    _check_built(model)
    X = model._check_X(X)
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
