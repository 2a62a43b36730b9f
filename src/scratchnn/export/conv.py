"""Convolution, pooling and reshaping layers as ONNX operators (channels last, as scratchnn).

ONNX's ``Conv`` and pooling operators take images channels first, ``(N, C, H, W)``; scratchnn's
layers take them channels last, ``(N, H, W, C)``. Each converter here wraps its operator in a
``Transpose`` in and a ``Transpose`` out, so that every tensor between layers keeps scratchnn's
layout and ``Flatten`` and ``Reshape`` keep its element order. ONNX Runtime and the other
optimisers remove the transposes that cancel. ``"same"`` padding is written as explicit pads,
placed as Keras places them (the odd pixel at the bottom and right). ONNX Runtime has no float64
``Conv``, ``AveragePool`` or ``GlobalAveragePool``: float64 graphs compute those from ``Pad``,
``Slice``, ``MatMul``, ``Sum`` and ``ReduceMean``, channels last, as our layers compute them.

The layers may be absent from an older scratchnn: each converter registers only when its class
exists in :mod:`scratchnn.layers`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import layers
from ..layers._windows import axis_geometry
from .converters import apply_activation, register_onnx_converter
from .graph import OnnxGraph

TO_CHANNELS_FIRST, TO_CHANNELS_LAST = [0, 3, 1, 2], [0, 2, 3, 1]


def same_pads(
    image: tuple[int, ...], kernel: tuple[int, int], strides: tuple[int, int], padding: str
) -> list[int]:
    """ONNX ``pads`` ``[top, left, bottom, right]`` for windows over ``image`` (H, W, C): the
    padding our layers put there (:func:`scratchnn.layers._windows.axis_geometry`, Keras's
    placement: the odd pixel at the bottom and right)."""
    axes = [
        axis_geometry(size, k, s, padding)
        for size, k, s in zip(image[:2], kernel, strides, strict=True)
    ]
    return [axis.before for axis in axes] + [axis.after for axis in axes]


def _channels_first(graph: OnnxGraph, op: str, x: str, *inputs: str, **attributes: Any) -> str:
    """``op`` applied to ``x`` in ONNX's (N, C, H, W) layout; the result back in (N, H, W, C)."""
    image = graph.node("Transpose", [x], perm=TO_CHANNELS_FIRST)
    result = graph.node(op, [image, *inputs], **attributes)
    return graph.node("Transpose", [result], perm=TO_CHANNELS_LAST)


def _conv2d(graph: OnnxGraph, layer: Any, x: str) -> str:
    """``Conv`` with ``W (kh, kw, C, F)`` as ONNX's ``(F, C, kh, kw)``, then the activation.

    ONNX Runtime has no float64 ``Conv``: float64 graphs gather the windows as ours does
    (im2col: the ``kh kw`` shifted slices side by side, ``(N, out_h, out_w, kh kw C)``) and
    multiply by ``W.reshape(kh kw C, F)``, one ``MatMul``.
    """
    pads = same_pads(graph.shape, layer.kernel_size, layer.strides, layer.padding)
    kh, kw, channels, filters = layer.params["W"].shape
    if graph.dtype.name == "float64":
        slices = _window_slices(graph, layer, x, pads, layer.kernel_size)
        columns = graph.node("Concat", slices, axis=-1) if len(slices) > 1 else slices[0]
        kernel = graph.constant(layer.params["W"].reshape(kh * kw * channels, filters), "W")
        z = graph.node("MatMul", [columns, kernel])
        if layer.use_bias:
            z = graph.node("Add", [z, graph.constant(layer.params["b"], "b")])
        return apply_activation(graph, layer.activation, z, "a Conv2D layer")
    inputs = [graph.constant(layer.params["W"].transpose(3, 2, 0, 1), "W")]
    if layer.use_bias:
        inputs.append(graph.constant(layer.params["b"], "b"))
    z = _channels_first(
        graph,
        "Conv",
        x,
        *inputs,
        kernel_shape=list(layer.kernel_size),
        strides=list(layer.strides),
        pads=pads,
    )
    return apply_activation(graph, layer.activation, z, "a Conv2D layer")


def _window_slices(
    graph: OnnxGraph, layer: Any, x: str, pads: list[int], kernel: tuple[int, int]
) -> list[str]:
    """For each kernel offset ``(i, j)``, row-major, the pixels it meets in every window.

    ``x_pad[:, i : i + s_h (out_h - 1) + 1 : s_h, j : ... : s_w, :]``: ``(N, out_h, out_w, C)``,
    from the input zero-padded by ``pads`` (NHWC, channels last kept throughout).
    """
    top, left, bottom, right = pads
    if any(pads):
        padding = graph.constant([0, top, left, 0, 0, bottom, right, 0], "pads", dtype="int64")
        x = graph.node("Pad", [x, padding])
    out_h, out_w = layer.output_shape(graph.shape)[:2]
    (s_h, s_w), (kh, kw) = layer.strides, kernel
    axes = graph.constant([1, 2], "axes", dtype="int64")
    steps = graph.constant([s_h, s_w], "steps", dtype="int64")
    slices = []
    for i in range(kh):
        for j in range(kw):
            starts = graph.constant([i, j], "starts", dtype="int64")
            ends = [i + s_h * (out_h - 1) + 1, j + s_w * (out_w - 1) + 1]
            ends = graph.constant(ends, "ends", dtype="int64")
            slices.append(graph.node("Slice", [x, starts, ends, axes, steps]))
    return slices


def _avg_pool2d(graph: OnnxGraph, layer: Any, x: str) -> str:
    """``AveragePool`` without the padded pixels in the count (``count_include_pad=0``).

    ONNX Runtime has no float64 ``AveragePool``: float64 graphs add the shifted slices and
    multiply by ``1 / count`` per output pixel (the in-image pixels of each window).
    """
    pads = same_pads(graph.shape, layer.pool_size, layer.strides, layer.padding)
    if graph.dtype.name != "float64":
        return _pool("AveragePool", count_include_pad=0)(graph, layer, x)
    slices = _window_slices(graph, layer, x, pads, layer.pool_size)
    total = graph.node("Sum", slices) if len(slices) > 1 else slices[0]
    return graph.node("Mul", [total, graph.constant(_inverse_counts(graph, layer, pads), "1/n")])


def _inverse_counts(graph: OnnxGraph, layer: Any, pads: list[int]) -> np.ndarray:
    """``1 / count`` per output pixel, ``(out_h, out_w, 1)``: windows summed over a ones image."""
    height, width = graph.shape[:2]
    top, left, bottom, right = pads
    inside = np.zeros((height + top + bottom, width + left + right))
    inside[top : top + height, left : left + width] = 1.0
    out_h, out_w = layer.output_shape(graph.shape)[:2]
    (s_h, s_w), (kh, kw) = layer.strides, layer.pool_size
    counts = sum(
        inside[i : i + s_h * (out_h - 1) + 1 : s_h, j : j + s_w * (out_w - 1) + 1 : s_w]
        for i in range(kh)
        for j in range(kw)
    )
    return (1.0 / counts)[:, :, None]


def _pool(op: str, **extra: Any):
    def convert(graph: OnnxGraph, layer: Any, x: str) -> str:
        pads = same_pads(graph.shape, layer.pool_size, layer.strides, layer.padding)
        return _channels_first(
            graph,
            op,
            x,
            kernel_shape=list(layer.pool_size),
            strides=list(layer.strides),
            pads=pads,
            **extra,
        )

    return convert


def _global_avg_pool2d(graph: OnnxGraph, layer: Any, x: str) -> str:
    """``GlobalAveragePool``; float64 (no ONNX Runtime kernel): ``ReduceMean`` over H and W."""
    if graph.dtype.name == "float64":
        if graph.opset >= 18:  # the axes became an input in opset 18
            axes = graph.constant([1, 2], "axes", dtype="int64")
            return graph.node("ReduceMean", [x, axes], keepdims=0)
        return graph.node("ReduceMean", [x], axes=[1, 2], keepdims=0)
    image = graph.node("Transpose", [x], perm=TO_CHANNELS_FIRST)
    pooled = graph.node("GlobalAveragePool", [image])  # (N, C, 1, 1)
    return graph.node("Flatten", [pooled], axis=1)


def _flatten(graph: OnnxGraph, layer: Any, x: str) -> str:
    return graph.node("Flatten", [x], axis=1)  # row-major over (H, W, C), as NumPy's reshape


def _reshape(graph: OnnxGraph, layer: Any, x: str) -> str:
    target = [-1, *layer.output_shape(graph.shape)]  # -1: the batch axis, whatever its size
    return graph.node("Reshape", [x, graph.constant(target, "shape", dtype="int64")])


CONVERTERS_BY_NAME = {
    "Conv2D": _conv2d,
    # Padded pixels never win a max, and are left out of a mean (count_include_pad=0), as ours.
    "MaxPool2D": _pool("MaxPool"),
    "AvgPool2D": _avg_pool2d,
    "GlobalAvgPool2D": _global_avg_pool2d,
    "Flatten": _flatten,
    "Reshape": _reshape,
}

for _name, _fn in CONVERTERS_BY_NAME.items():
    _cls = getattr(layers, _name, None)
    if _cls is not None:
        register_onnx_converter(_cls, _fn)
