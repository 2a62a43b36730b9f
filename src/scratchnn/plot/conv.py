"""Pictures of image networks: a convolution's filters, and the feature maps of one image."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .. import _validation as check
from ._figure import _check_built, _figure, _finish


def _conv_layers(model: Any) -> list[tuple[int, Any]]:
    """``(index, layer)`` of every convolution (a layer whose ``kernel_layout`` is "conv2d")."""
    return [
        (index, layer)
        for index, layer in enumerate(model.layers)
        if layer.kernel_layout == "conv2d"
    ]


def filter_images(model: Any, layer: int | None = None, channel: int | None = None) -> np.ndarray:
    """The filters of a convolution as images: ``(filters, kh, kw)``, or ``(filters, kh, kw, 3)``.

    ``layer`` is the index in ``model.layers`` of a convolution (default: the first one).
    ``channel`` picks one input channel; by default a one-channel kernel shows its only channel,
    a three-channel one (RGB input) its three as colours, and any other the mean over channels.
    """
    _check_built(model)
    convolutions = dict(_conv_layers(model))
    if not convolutions:
        raise ValueError("the model has no convolution layer (Conv2D) whose filters to plot")
    if layer is None:
        layer = min(convolutions)
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)):
        raise TypeError(f"layer must be a layer index, got {check.describe(layer)}")
    if layer not in convolutions:
        raise ValueError(
            f"layer must be the index of a convolution layer, one of {sorted(convolutions)}, "
            f"got {layer}"
        )
    kernel = np.asarray(convolutions[layer].params["W"], dtype=np.float64)  # (kh, kw, C, F)
    channels = kernel.shape[2]
    if channel is not None:
        if isinstance(channel, bool) or not isinstance(channel, (int, np.integer)):
            raise TypeError(f"channel must be an int or None, got {check.describe(channel)}")
        if not 0 <= channel < channels:
            raise ValueError(f"channel must be in 0..{channels - 1}, got {channel}")
        return kernel[:, :, channel, :].transpose(2, 0, 1)
    if channels == 3:
        return kernel.transpose(3, 0, 1, 2)
    return kernel.mean(axis=2).transpose(2, 0, 1)


def plot_filters(
    model: Any,
    path: str | os.PathLike | None = None,
    layer: int | None = None,
    channel: int | None = None,
    columns: int = 8,
    figsize: tuple[float, float] | None = None,
    dpi: int = 100,
) -> Any:
    """A convolution's filters as a grid of small images (see :func:`filter_images`).

    Single-channel filters share one diverging colour scale centred on zero (red positive,
    blue negative), so their strengths compare across the grid; RGB filters are each stretched
    to [0, 1]. Returns the figure; ``docs/guides/digits-cnn.md`` adds a colour bar for the
    shared scale with ``figure.colorbar``.
    """
    images = filter_images(model, layer, channel)
    columns = min(check.check_positive_int(columns, "columns"), len(images))
    rows = -(-len(images) // columns)
    fig = _figure(figsize or (1.2 * columns, 1.2 * rows + 0.4), dpi)
    limit = float(np.abs(images).max()) or 1.0
    for index, image in enumerate(images):
        ax = fig.add_subplot(rows, columns, index + 1)
        if image.ndim == 3:
            low, high = image.min(), image.max()
            ax.imshow((image - low) / ((high - low) or 1.0), interpolation="nearest")
        else:
            ax.imshow(image, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
        ax.set_title(f"{index}", fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"filters ({images.shape[1]}x{images.shape[2]})", fontsize=9)
    fig.tight_layout()
    return _finish(fig, path)


def feature_maps(model: Any, image: Any) -> list[tuple[str, np.ndarray]]:
    """Every image-shaped output for one input image, inference mode, with a label each.

    ``image`` is ``(height, width, channels)`` or a batch of one (or one flat row, for a model that
    starts with ``Reshape``). Returns ``[("input", x), ("0: Conv2D", a0), ...]``, each array
    ``(height, width, channels)``, the input only when it is an image; the first layer whose
    output is flat again (``Flatten``) ends the list.
    """
    _check_built(model)
    array = np.asarray(image)
    if array.ndim == len(model.input_shape):
        array = array[None]
    X = model.check_inputs(array, "image")
    if len(X) != 1:
        raise ValueError(f"image must be one image, got a batch of {len(X)}")
    X = X.astype(model.dtype, copy=False)
    maps = [("input", X[0])] if X.ndim == 4 else []
    for index, layer in enumerate(model.layers):
        X = layer.forward(X, training=False)
        if X.ndim == 4:
            maps.append((f"{index}: {type(layer).__name__}", X[0]))
        elif maps:
            break
    if not maps:
        raise ValueError(
            f"feature maps need a model with image-shaped outputs (N, height, width, channels); "
            f"this one's input shape is {model.input_shape} and no layer outputs images"
        )
    return maps


def plot_feature_maps(
    model: Any,
    image: Any,
    path: str | os.PathLike | None = None,
    max_channels: int = 8,
    figsize: tuple[float, float] | None = None,
    dpi: int = 100,
) -> Any:
    """The feature maps of one image, layer by layer: one row per layer, one column per channel.

    Rows follow :func:`feature_maps` (the input first); each shows its first ``max_channels``
    channels, each channel on its own grey scale (brighter is larger). Returns the figure; to
    compare channels, ``docs/guides/digits-cnn.md`` gives each row one scale and a colour bar.
    """
    max_channels = check.check_positive_int(max_channels, "max_channels")
    maps = feature_maps(model, image)
    columns = min(max(m.shape[-1] for _, m in maps), max_channels)
    fig = _figure(figsize or (1.3 * columns + 1.2, 1.3 * len(maps) + 0.2), dpi)
    for row, (label, values) in enumerate(maps):
        for channel in range(min(values.shape[-1], columns)):
            ax = fig.add_subplot(len(maps), columns, row * columns + channel + 1)
            ax.imshow(values[:, :, channel], cmap="gray", interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if channel == 0:
                ax.set_ylabel(f"{label}\n{values.shape[0]}x{values.shape[1]}", fontsize=7)
            if row == 0 or channel >= maps[row - 1][1].shape[-1]:
                ax.set_title(f"channel {channel}", fontsize=7)
    fig.tight_layout()
    return _finish(fig, path)
