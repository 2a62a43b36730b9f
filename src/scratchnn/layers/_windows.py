"""Window geometry shared by the convolution and pooling layers (channels last).

A window of ``k`` pixels moved by ``s`` over an axis of ``n`` pixels, as Keras and TensorFlow
place it:

* ``"valid"``: no padding, ``out = floor((n - k) / s) + 1``; pixels past the last whole window
  are never read;
* ``"same"``: ``out = ceil(n / s)``, and the axis is padded by
  ``total = max((out - 1) s + k - n, 0)`` pixels, ``total // 2`` before and the rest (one more
  when ``total`` is odd) after.

Windows and strides are capped by the input, at build (and so when a model file is loaded):
``s <= n``, and ``k <= n`` (``"valid"``) or ``k <= n + (out - 1) s`` (``"same"``), past which
some rows of every window would read only padding. So the padded axis stays under ``3 n`` and a
window has fewer than ``2 n`` offsets, whatever a file declares.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from .._validation import check_positive_int, describe

PADDINGS = ("valid", "same")


def as_pair(value: Any, name: str) -> tuple[int, int]:
    """``value`` (a positive int or a pair of them) as ``(along height, along width)``."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
        return (
            check_positive_int(value[0], f"{name}[0]"),
            check_positive_int(value[1], f"{name}[1]"),
        )
    return (check_positive_int(value, name),) * 2


def check_padding(padding: Any) -> str:
    """``"valid"`` or ``"same"`` (any case), or a clear error."""
    if not isinstance(padding, str) or padding.lower() not in PADDINGS:
        raise ValueError(f"padding must be 'valid' or 'same', got {describe(padding)}")
    return padding.lower()


class Axis(NamedTuple):
    """Where the windows fall along one axis: output length and padding before and after."""

    out: int
    before: int
    after: int


def axis_geometry(size: int, kernel: int, stride: int, padding: str) -> Axis:
    """The :class:`Axis` of windows of ``kernel`` pixels moved by ``stride`` over ``size``."""
    if padding == "valid":
        return Axis((size - kernel) // stride + 1 if size >= kernel else 0, 0, 0)
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return Axis(out, total // 2, total - total // 2)


class Geometry(NamedTuple):
    """Windows over an image: one :class:`Axis` for the height and one for the width."""

    rows: Axis
    cols: Axis

    @property
    def padded(self) -> bool:
        return any(self.rows[1:]) or any(self.cols[1:])


def image_geometry(
    layer: str,
    input_shape: tuple[int, ...],
    kernel: tuple[int, int],
    strides: tuple[int, int],
    padding: str,
    kernel_name: str = "kernel",
) -> Geometry:
    """The :class:`Geometry` for ``(height, width, channels)`` inputs; a clear error otherwise."""
    if len(input_shape) != 3:
        shape = "(None, " + ", ".join(map(str, input_shape)) + ")"
        if len(input_shape) == 2:  # grey images without their channel axis
            hint = f"add a channel axis: input_shape={(*input_shape, 1)}, images X[..., np.newaxis]"
        else:
            hint = "e.g. put a Reshape((height, width, channels)) layer first"
        raise ValueError(
            f"{layer} takes images of shape (batch, height, width, channels), got inputs of "
            f"shape {shape}: {hint}"
        )
    height, width = input_shape[:2]
    rows = axis_geometry(height, kernel[0], strides[0], padding)
    cols = axis_geometry(width, kernel[1], strides[1], padding)
    if rows.out < 1 or cols.out < 1:
        raise ValueError(
            f"{layer}'s {kernel[0]}x{kernel[1]} {kernel_name} does not fit in a {height}x{width} "
            f"input with padding='valid': use a smaller {kernel_name} or padding='same'"
        )
    for axis, size, k, s in (("height", height, kernel[0], strides[0]),
                             ("width", width, kernel[1], strides[1])):  # fmt: skip
        _check_window(layer, kernel_name, axis, size, k, s, padding, (height, width))
    return Geometry(rows, cols)


def largest_window(size: int, stride: int, padding: str) -> int:
    """The widest window whose every row reads the input in some position (see the module)."""
    if padding == "valid":
        return size
    return size + (math.ceil(size / stride) - 1) * stride


def _check_window(
    layer: str,
    kernel_name: str,
    axis: str,
    size: int,
    kernel: int,
    stride: int,
    padding: str,
    image: tuple[int, int],
) -> None:
    """Refuse a stride or a window too large for an axis of ``size`` pixels (clear errors)."""
    where = f"{image[0]}x{image[1]} inputs"
    largest = largest_window(size, stride, padding)
    if kernel > largest:  # "valid" windows larger than the input are refused before
        raise ValueError(
            f"{layer}'s {kernel_name} of {kernel} pixels along the {axis} is too large for its "
            f"{where} with padding='same' and stride {stride}: past {largest} pixels a window "
            f"reads only padding; use a {kernel_name} of at most {largest} (or a global pooling "
            "layer)"
        )
    if stride > size:
        raise ValueError(
            f"{layer}'s stride {stride} along the {axis} is larger than its {where} ({size} "
            f"pixels along the {axis}): use strides of at most {size}"
        )


def pad_image(
    x: np.ndarray, geometry: Geometry, fill: float = 0.0, out: np.ndarray | None = None
) -> np.ndarray:
    """``x (N, H, W, C)`` with ``fill`` around it as ``geometry`` asks (``x`` itself if none).

    ``out``, when given, is a buffer of the padded shape whose border already holds ``fill``
    (a training buffer reused from batch to batch): only its interior is written.
    """
    if not geometry.padded:
        return x
    (_, top, bottom), (_, left, right) = geometry
    n, height, width, channels = x.shape
    if out is None:
        out = np.full((n, height + top + bottom, width + left + right, channels), fill, x.dtype)
    out[:, top : top + height, left : left + width, :] = x
    return out


def window_slice(offset: int, stride: int, count: int) -> slice:
    """The pixels that offset ``offset`` of each of ``count`` windows moved by ``stride`` reads."""
    return slice(offset, offset + stride * (count - 1) + 1, stride)


def offset_slices(
    geometry: Geometry, kernel: tuple[int, int], strides: tuple[int, int]
) -> list[tuple[int, int, tuple[slice, slice, slice, slice]]]:
    """For each offset ``(i, j)`` in the kernel, the strided slice of the padded input it reads.

    ``padded_x[slices]`` has shape ``(N, out_height, out_width, C)``: pixel ``(i, j)`` of every
    window at once. Looping over these ``kh * kw`` slices is how col2im and pooling avoid any
    loop over pixels.
    """
    every = slice(None)
    return [
        (
            i,
            j,
            (
                every,
                window_slice(i, strides[0], geometry.rows.out),
                window_slice(j, strides[1], geometry.cols.out),
                every,
            ),
        )
        for i in range(kernel[0])
        for j in range(kernel[1])
    ]
