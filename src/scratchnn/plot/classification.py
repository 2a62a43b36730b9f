"""A classifier's results: its decision regions over 2-D data, and its confusion matrix."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .. import _validation as check
from ._figure import _figure, _finish


def _classes_of(outputs: np.ndarray) -> np.ndarray:
    """Predicted class per row: arg-max of several outputs, ``> 0.5`` of a single one."""
    if outputs.ndim == 1:
        return outputs.astype(np.int64)
    if outputs.shape[1] == 1:
        return (outputs[:, 0] > 0.5).astype(np.int64)
    return np.argmax(outputs, axis=1)


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
