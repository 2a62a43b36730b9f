"""Pooling layers: the maximum or the mean of each window, per channel (channels last)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import kernels
from ._windows import (
    Geometry,
    as_pair,
    check_padding,
    image_geometry,
    offset_slices,
    pad_image,
)
from .base import Layer


class _Pool2D(Layer):
    """What max and average pooling share: arguments, geometry and the offset loop.

    Both loop over the ``ph * pw`` offsets of the pool window, each a strided slice of the
    padded input holding that pixel of every window (no loop over pixels).
    """

    def __init__(
        self,
        pool_size: int | tuple[int, int] = 2,
        strides: int | tuple[int, int] | None = None,
        padding: str = "valid",
        input_shape: Any = None,
    ) -> None:
        super().__init__(None, input_shape)
        self.pool_size = as_pair(pool_size, "pool_size")
        self.strides = self.pool_size if strides is None else as_pair(strides, "strides")
        self.padding = check_padding(padding)

    def _geometry(self, input_shape: tuple[int, ...]) -> Geometry:
        return image_geometry(
            type(self).__name__,
            tuple(input_shape),
            self.pool_size,
            self.strides,
            self.padding,
            kernel_name="pool window",
        )

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        rows, cols = self._geometry(input_shape)
        return (rows.out, cols.out, input_shape[-1])

    def working_memory(self, input_shape: tuple[int, ...], itemsize: int) -> int:
        """Bytes per row of inference: input, padded input, output and a running result, and
        the maxima along each window's rows that non-overlapping max pooling keeps (at most an
        input's size)."""
        geometry = (out_h, top, bottom), (out_w, left, right) = self._geometry(input_shape)
        height, width, channels = input_shape
        padded = (height + top + bottom) * (width + left + right) * channels
        padded *= geometry.padded  # pad_image hands the input itself back when there is none
        return (2 * height * width * channels + padded + 2 * out_h * out_w * channels) * itemsize

    def _checked(self, x: np.ndarray) -> tuple[np.ndarray, Geometry]:
        """``x`` as floats (padding may hold -inf, a mean is a fraction) and its geometry."""
        if x.ndim != 4:
            raise ValueError(
                f"{type(self).__name__}.forward takes x of shape (batch, height, width, "
                f"channels), got an array of shape {x.shape}"
            )
        if x.dtype.kind != "f":
            x = x.astype(np.float64)
        return x, self._geometry(x.shape[1:])

    def _tiles(self, geometry: Geometry, padded_shape: tuple[int, ...]) -> bool:
        """Whether the windows cover the padded input exactly once (stride = pool, no rest)."""
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        return (ph, pw) == (sh, sw) and padded_shape[1:3] == (
            geometry.rows.out * ph,
            geometry.cols.out * pw,
        )

    def __repr__(self) -> str:
        extra = "" if self.strides == self.pool_size else f", strides={self.strides}"
        if self.padding != "valid":
            extra += f", padding={self.padding!r}"
        if self.input_shape is not None:
            extra += f", input_shape={self.input_shape}"
        return f"{type(self).__name__}({self.pool_size}{extra})"

    def get_config(self) -> dict[str, Any]:
        return {
            "pool_size": list(self.pool_size),
            "strides": list(self.strides),
            "padding": self.padding,
            **super().get_config(),
        }


class MaxPool2D(_Pool2D):
    """Maximum over each window, per channel.

    ``y[n, p, q, c] = max_{i, j} x_pad[n, p s_h + i, q s_w + j, c]``, where ``"same"`` padding
    pads with ``-inf`` (padding is never the maximum). Shapes: ``x: (batch, height, width, C)``,
    ``y: (batch, out_h, out_w, C)`` with ``out`` as for :class:`~scratchnn.layers.Conv2D`.
    ``strides=None`` means ``strides = pool_size``.

    Backward: each window's gradient goes to its maximum, ``dL/dx[winner] += dL/dy``, and to no
    other pixel. Ties have one winner: the first maximum in row-major order within the window
    (the top-most, then left-most), as PyTorch picks it. Overlapping windows add up.

    Examples
    --------
    >>> import numpy as np
    >>> from scratchnn.layers import MaxPool2D
    >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
    >>> MaxPool2D(2).forward(x)[0, :, :, 0]
    array([[ 5.,  7.],
           [13., 15.]])
    """

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x, geometry = self._checked(x)
        padded_shape = _padded_shape(x.shape, geometry)
        where = ((geometry.rows.out, geometry.cols.out), padded_shape, geometry.rows.before,
                 geometry.cols.before, training)  # fmt: skip
        kernel = kernels.current(x.dtype)
        # Windows that do not overlap (strides == pool_size, the usual case) are the blocks of
        # a reshape: a maximum along each window's rows, then down them (see the kernels).
        if self.pool_size == self.strides:
            best, *winners = kernel.max_pool_blocks(x, self.pool_size, *where)
        else:
            best, *winners = kernel.max_pool_offsets(x, self.pool_size, self.strides, *where)
        if training:
            self._cache = (tuple(winners), x.shape, padded_shape)
        return best

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        winners, x_shape, padded_shape = self._recorded()
        geometry = self._geometry(x_shape[1:])
        where = (x_shape, padded_shape, geometry.rows.before, geometry.cols.before)
        kernel = kernels.current(grad_output.dtype)
        if self.pool_size == self.strides:
            row, column = winners  # (N, out_h, out_w, C) and (N, out_h, ph, out_w, C)
            return kernel.max_pool_blocks_backward(grad_output, row, column, self.pool_size,
                                                   *where)  # fmt: skip
        (winner,) = winners
        return kernel.max_pool_offsets_backward(grad_output, winner, self.pool_size, self.strides,
                                                *where)  # fmt: skip


def _padded_shape(x_shape: tuple[int, ...], geometry: Geometry) -> tuple[int, ...]:
    (_, top, bottom), (_, left, right) = geometry
    n, height, width, channels = x_shape
    return (n, height + top + bottom, width + left + right, channels)


class AvgPool2D(_Pool2D):
    """Mean over each window, per channel.

    ``y[n, p, q, c] = (1 / count[p, q]) sum_{i, j} x_pad[n, p s_h + i, q s_w + j, c]``, where
    ``count`` is the number of the window's pixels inside the image: ``ph * pw`` for
    ``"valid"``; with ``"same"`` padding the padded pixels are left out of the mean, as Keras
    does. Shapes as for :class:`MaxPool2D`.

    Backward: each window's gradient is spread evenly over its pixels,
    ``dL/dx[pixel] += dL/dy / count`` for every window holding the pixel.

    Examples
    --------
    >>> import numpy as np
    >>> from scratchnn.layers import AvgPool2D
    >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
    >>> AvgPool2D(2).forward(x)[0, :, :, 0]
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
    """

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x, geometry = self._checked(x)
        padded = pad_image(x, geometry)
        slices = offset_slices(geometry, self.pool_size, self.strides)
        total = padded[slices[0][2]].copy()
        for _, _, pixels in slices[1:]:
            total += padded[pixels]
        total *= _inverse_counts(self, geometry, x.shape[1:3], total.dtype)
        if training:
            self._cache = (x.shape, padded.shape)
        return total

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        x_shape, padded_shape = self._recorded()
        geometry = self._geometry(x_shape[1:])
        share = grad_output * _inverse_counts(self, geometry, x_shape[1:3], grad_output.dtype)
        return kernels.current(share.dtype).avg_pool_backward(
            share, self.pool_size, self.strides, self._tiles(geometry, padded_shape), x_shape,
            padded_shape, geometry.rows.before, geometry.cols.before,
        )  # fmt: skip


def _inverse_counts(
    layer: AvgPool2D, geometry: Geometry, image_size: tuple[int, int], dtype: np.dtype
) -> np.ndarray | float:
    """``1 / count`` per output pixel as ``(out_h, out_w, 1)``, or one number without padding.

    ``count`` is the number of a window's pixels inside the image (padding left out).
    """
    if not geometry.padded:
        return 1.0 / (layer.pool_size[0] * layer.pool_size[1])
    counts = []
    for (out, before, _), pool, stride, size in zip(
        geometry, layer.pool_size, layer.strides, image_size, strict=True
    ):
        start = np.arange(out) * stride - before  # first pixel of each window, unpadded
        counts.append(np.minimum(start + pool, size) - np.maximum(start, 0))
    return (1.0 / np.multiply.outer(*counts)).astype(dtype)[:, :, None]


class GlobalAvgPool2D(Layer):
    """Mean over the whole image, per channel: ``y[n, c] = mean_{h, w} x[n, h, w, c]``.

    Shapes: ``x: (batch, height, width, C)``, ``y: (batch, C)``. Backward:
    ``dL/dx[n, h, w, c] = dL/dy[n, c] / (height width)``. No parameters.

    Examples
    --------
    >>> import numpy as np
    >>> from scratchnn.layers import GlobalAvgPool2D
    >>> GlobalAvgPool2D().forward(np.arange(8.0).reshape(1, 2, 2, 2))
    array([[3., 4.]])
    """

    def __init__(self, input_shape: Any = None) -> None:
        super().__init__(None, input_shape)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        image_geometry("GlobalAvgPool2D", tuple(input_shape), (1, 1), (1, 1), "valid")
        return (input_shape[-1],)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if x.ndim != 4:
            raise ValueError(
                f"GlobalAvgPool2D.forward takes x of shape (batch, height, width, channels), "
                f"got an array of shape {x.shape}"
            )
        if training:
            self._cache = (x.shape,)
        return x.mean(axis=(1, 2))

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        (x_shape,) = self._recorded()
        grad_x = np.empty(x_shape, grad_output.dtype)
        grad_x[...] = (grad_output / (x_shape[1] * x_shape[2]))[:, None, None, :]
        return grad_x
