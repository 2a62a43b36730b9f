"""Pictures of training diagnostics: gradient norms, update ratios, dead units, activations.

Each function takes what :class:`~scratchnn.diagnostics.Diagnostics` recorded: the callback, its
:class:`~scratchnn.diagnostics.Report`, or the History ``fit`` returned (``history.diagnostics``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import _validation as check
from ..diagnostics import THRESHOLDS, Report
from ._figure import _epoch_axis, _figure, _finish


def _report(source: Any) -> Report:
    """The report of a Diagnostics callback, a History, or a report itself."""
    candidates = (source, getattr(source, "report", None), getattr(source, "diagnostics", None))
    for candidate in candidates:
        if isinstance(candidate, Report):
            return candidate
    raise TypeError(
        "diagnostics must be a Diagnostics callback after fit, its report, or the History of a "
        f"fit with Diagnostics, got {check.describe(source)}"
    )


def _epochs(values: list[float]) -> np.ndarray:
    return np.arange(1, len(values) + 1)


def _curves(
    report: Report,
    key: Callable[[dict[str, Any]], str],
    title: str,
    ylabel: str,
    path: Any,
    figsize: Any,
    dpi: int,
    reference: tuple[tuple[float, str], ...] = (),
) -> Any:
    """One log-scale panel of ``layer{i}/{key}`` per layer that has it, over epochs."""
    fig = _figure(figsize or (6.4, 4.0), dpi)
    ax = fig.add_subplot(1, 1, 1)
    for layer in report.layers:
        values = report.series.get(f"layer{layer['index']}/{key(layer)}")
        if values is None or not any(np.isfinite(values)):
            continue
        ax.plot(_epochs(values), values, marker=".", label=f"{layer['index']}: "
                f"{layer['description']}")  # fmt: skip
    for value, label in reference:
        ax.axhline(value, color="#7f8c8d", linestyle="--", linewidth=1, label=label)
    ax.set_yscale("log")
    _epoch_axis(ax)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return _finish(fig, path)


def plot_gradient_norms(
    diagnostics: Any,
    path: str | os.PathLike | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: int = 100,
) -> Any:
    """Each layer's gradient norm ``||dL/dP||`` (all its arrays) per epoch, log scale.

    Lines far apart, falling from the last layer to the first, are vanishing gradients.
    """
    report = _report(diagnostics)
    return _curves(report, lambda layer: "grad_norm", "gradient norm per layer", "||grad||",
                   path, figsize, dpi)  # fmt: skip


def plot_update_ratios(
    diagnostics: Any,
    path: str | os.PathLike | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: int = 100,
) -> Any:
    """Each layer's ``||update|| / ||W||`` of its first kernel per epoch, with 1e-3 and the limit.

    The rule of thumb is about 1e-3; above the threshold the learning rate is too high.
    """
    report = _report(diagnostics)
    limit = report.thresholds.get("update_ratio", THRESHOLDS["update_ratio"])

    def kernel(layer: dict[str, Any]) -> str:
        return f"update_ratio/{layer['kernels'][0]}" if layer["kernels"] else "-"

    return _curves(report, kernel, "update / weight ratio per layer", "||update|| / ||W||",
                   path, figsize, dpi, ((1e-3, "rule of thumb 1e-3"),
                                        (limit, f"too high ({limit:g})")))  # fmt: skip


def plot_dead_units(
    diagnostics: Any,
    path: str | os.PathLike | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: int = 100,
) -> Any:
    """Fraction of dead units (ReLU layers) and of saturated outputs (sigmoid, tanh) per epoch.

    One panel for each of the two that some layer has (the dead units' when none has either).
    """
    report = _report(diagnostics)
    panels = [(name, title) for name, title in (
        ("dead_fraction", "dead units (ReLU)"),
        ("saturated_fraction", "saturated outputs (sigmoid, tanh)"),
    ) if any(key.endswith(f"/act/{name}") for key in report.series)] or [
        ("dead_fraction", "dead units (ReLU)")
    ]  # fmt: skip
    fig = _figure(figsize or (4.8 * len(panels), 3.8), dpi)
    for number, (name, title) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), number + 1)
        for layer in report.layers:
            values = report.series.get(f"layer{layer['index']}/act/{name}")
            if values is not None:
                ax.plot(_epochs(values), values, marker=".",
                        label=f"{layer['index']}: {layer['description']}")  # fmt: skip
        limit = report.thresholds.get(name, THRESHOLDS[name])
        ax.axhline(limit, color="#c0392b", linestyle="--", linewidth=1,
                   label=f"finding ({limit:g})")  # fmt: skip
        ax.set_ylim(-0.03, 1.03)
        _epoch_axis(ax)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return _finish(fig, path)


def plot_activation_histograms(
    diagnostics: Any,
    path: str | os.PathLike | None = None,
    bins: int = 40,
    figsize: tuple[float, float] | None = None,
    dpi: int = 100,
) -> Any:
    """Histograms of each layer's outputs in training mode, one panel per layer.

    They are the rows the report kept (``report.activations``): those sampled over the last
    epoch; a note under the panels says how many and which (``report.activations_from``).
    """
    report = _report(diagnostics)
    bins = check.check_positive_int(bins, "bins")
    shown = [(layer, report.activations[layer["index"]]) for layer in report.layers
             if layer["index"] in report.activations]  # fmt: skip
    if not shown:
        raise ValueError("diagnostics holds no activations: it has not seen a training batch")
    columns = min(4, len(shown))
    rows = -(-len(shown) // columns)
    fig = _figure(figsize or (3.2 * columns, 2.8 * rows + 0.5), dpi)
    for number, (layer, values) in enumerate(shown):
        ax = fig.add_subplot(rows, columns, number + 1)
        finite = values[np.isfinite(values)]
        ax.hist(finite.ravel(), bins=bins, color="#e67e22")
        ax.set_title(f"{layer['index']}: {layer['description']}", fontsize=8)
        ax.set_xlabel("output value", fontsize=7)
        ax.set_ylabel("count (rows x units)", fontsize=7)
        ax.tick_params(labelsize=7)
    counts = sorted({len(values) for _, values in shown})
    note = f"{' to '.join(str(n) for n in counts[:: max(1, len(counts) - 1)])} rows"
    note += f", {report.activations_from}" if report.activations_from else ""
    fig.tight_layout(rect=(0, 0.07 if rows == 1 else 0.04, 1, 1))
    fig.text(0.5, 0.01, note, ha="center", va="bottom", fontsize=8)
    return _finish(fig, path)


def plot_time_gradients(
    diagnostics: Any,
    path: str | os.PathLike | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: int = 100,
) -> Any:
    """Each recurrent layer's gradient norm ``||dL/dx_t||`` against the time step, log scale.

    The curves of ``report.time_gradients`` (the last epoch's sampled batches, steps in the
    order each layer reads them): a line falling steeply from the last step to the first is a
    gradient vanishing over time, one rising an exploding one.
    """
    report = _report(diagnostics)
    shown = [(layer, report.time_gradients[layer["index"]]) for layer in report.layers
             if layer["index"] in report.time_gradients]  # fmt: skip
    if not shown:
        raise ValueError(
            "diagnostics holds no gradient over time: the model has no recurrent layer, or "
            "diagnostics has not seen a training batch"
        )
    fig = _figure(figsize or (6.4, 4.0), dpi)
    ax = fig.add_subplot(1, 1, 1)
    for layer, curve in shown:
        ax.plot(np.arange(1, len(curve) + 1), curve, marker="." if len(curve) <= 50 else None,
                label=f"{layer['index']}: {layer['description']}")  # fmt: skip
    ax.set_yscale("log")
    ax.set_xlabel("time step (in the order the layer reads them)")
    ax.set_ylabel("||dL/dx_t||, mean over rows")
    ax.set_title("gradient over time per recurrent layer")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _finish(fig, path)
