"""The 2-D convolution layer, as one matrix product over gathered patches (im2col)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import kernels
from .._validation import check_positive_int
from ..activations import Activation
from ..initializers import get_initializer
from ._windows import (
    Geometry,
    as_pair,
    check_padding,
    image_geometry,
)
from .base import Weight
from .dense import _WeightedLayer


class Conv2D(_WeightedLayer):
    """2-D convolution (cross-correlation, as in every framework), channels last.

    ``z[n, p, q, f] = b[f] + sum_{i, j, c} x_pad[n, p s_h + i, q s_w + j, c] W[i, j, c, f]``,
    ``a = activation(z)``.

    Shapes: ``x: (batch, height, width, channels)``, ``W: (kh, kw, channels, filters)`` (the
    Keras layout; PyTorch's ``weight`` is ``W.transpose(3, 2, 0, 1)``), ``b: (filters,)``,
    ``a: (batch, out_height, out_width, filters)``, with ``out = floor((size - k) / s) + 1`` for
    ``padding="valid"`` and ``out = ceil(size / s)`` for ``padding="same"`` (padded as Keras
    pads: the odd pixel goes to the bottom and right).

    How: im2col gathers every window into a row, ``X_col: (batch * out_h * out_w, kh kw C)``,
    (a strided view of the padded input, copied once), so that the forward pass is one product
    ``Z = X_col W_mat + b`` with ``W_mat = W.reshape(kh kw C, filters)``.

    Backward, with ``delta = dL/dz`` reshaped to ``(batch * out_h * out_w, filters)``::

        dL/dW = X_col^T delta              (kh kw C, filters), reshaped to W's shape
        dL/db = sum over rows of delta     (filters,)
        dL/dX_col = delta W_mat^T          (batch * out_h * out_w, kh kw C)

    and ``dL/dx`` is ``dL/dX_col`` scattered back onto the pixels each row was gathered from
    (col2im): one strided addition per kernel offset ``(i, j)``, ``kh * kw`` in all, then the
    padding cropped off.

    Parameters
    ----------
    filters : int
        Number of output channels.
    kernel_size : int or (int, int)
        Height and width of the kernel.
    strides : int or (int, int)
        Step between windows, along the height and the width.
    padding : {"valid", "same"}
        ``"valid"``: windows inside the image only; ``"same"``: zero padding so that
        ``out = ceil(size / stride)``.
    activation : str, Activation or None
        Applied after the convolution; ``None`` is linear.
    use_bias : bool
        Whether to add ``b``.
    kernel_initializer, bias_initializer : str or callable
        ``kernel_initializer=None`` picks He for the ReLU family and Glorot otherwise, with
        ``fan_in = kh kw C`` and ``fan_out = filters`` (the fans of ``W_mat``).
    kernel_regularizer, bias_regularizer : str, Regularizer or None
        L1/L2 penalties added to the loss.
    input_shape : (int, int, int), optional
        ``(height, width, channels)``; inferred from the first batch when not given.

    Examples
    --------
    >>> import numpy as np
    >>> from scratchnn.layers import Conv2D
    >>> layer = Conv2D(8, 3, padding="same", activation="relu")
    >>> layer.build((28, 28, 1), np.random.default_rng(0))
    >>> layer.params["W"].shape
    (3, 3, 1, 8)
    >>> layer.forward(np.ones((2, 28, 28, 1), dtype=np.float32)).shape
    (2, 28, 28, 8)
    """

    kernel_layout = "conv2d"

    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int, int],
        strides: int | tuple[int, int] = 1,
        padding: str = "valid",
        activation: str | Activation | None = None,
        use_bias: bool = True,
        kernel_initializer: Any = None,
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        input_shape: Any = None,
    ) -> None:
        super().__init__(None, input_shape)
        self.filters = check_positive_int(filters, "filters")
        self.kernel_size = as_pair(kernel_size, "kernel_size")
        self.strides = as_pair(strides, "strides")
        self.padding = check_padding(padding)
        self._set_weight_settings(
            activation, use_bias, kernel_initializer, bias_initializer,
            kernel_regularizer, bias_regularizer,
        )  # fmt: skip

    def _geometry(self, input_shape: tuple[int, ...]) -> Geometry:
        return image_geometry("Conv2D", input_shape, self.kernel_size, self.strides, self.padding)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        rows, cols = self._geometry(tuple(input_shape))
        return (rows.out, cols.out, self.filters)

    def weights_for(self, input_shape: tuple[int, ...]) -> list[Weight]:
        """``W (kh, kw, in_channels, filters)``, drawn as the ``(kh kw in_channels, filters)``
        matrix it is (so fan-in counts the whole window), and ``b (filters,)``."""
        initializer = get_initializer(self.kernel_initializer)

        def kernel(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
            return np.asarray(initializer((int(np.prod(shape[:3])), shape[3]), rng)).reshape(shape)

        return self._kernel_and_bias((*self.kernel_size, input_shape[-1], self.filters), kernel)

    def working_memory(self, input_shape: tuple[int, ...], itemsize: int) -> int:
        """Bytes per row of inference: input, padded input, im2col's patches and output."""
        (out_h, _, _), (out_w, _, _) = geometry = self._geometry(tuple(input_shape))
        padded = self._padded_shape((1, *input_shape), geometry) if geometry.padded else (0,)
        patches = out_h * out_w * self.kernel_size[0] * self.kernel_size[1] * input_shape[-1]
        values = math.prod(input_shape) + math.prod(padded) + patches + out_h * out_w * self.filters
        return values * itemsize

    # -- forward and backward ----------------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """``a = f(conv(x, W) + b)``; in training records the patches, ``z`` and ``a``.

        Training reuses work buffers kept per batch shape (copy ``a`` to keep it); inference
        allocates its own arrays and writes nothing on the layer.
        """
        chunk = 0 if training else self._inference_chunk(x)
        if chunk and len(x) > chunk:
            return self._forward_in_chunks(x, chunk)
        z = self._convolve(x, training, add_bias=False)
        rows = z.reshape(-1, self.filters)
        bias = self.params["b"] if self.use_bias else None
        out = self._workspace("a", rows.shape) if training else rows
        a = self.activation.forward_with_bias(rows, bias, out=out).reshape(z.shape)
        if training:
            self._cache = (*self._cache, z, a)
        return a

    INFERENCE_PATCHES = 8 * 2**20  # bytes of im2col's patches an inference chunk may hold

    def _inference_chunk(self, x: np.ndarray) -> int:
        """Images per inference chunk: their patches within ``INFERENCE_PATCHES`` (0: no chunks)."""
        if x.ndim != 4:
            return 0
        (out_h, _, _), (out_w, _, _) = self._geometry(x.shape[1:])
        per_image = out_h * out_w * self.params["W"].size // self.filters
        return max(1, self.INFERENCE_PATCHES // (per_image * self.params["W"].itemsize))

    def _forward_in_chunks(self, x: np.ndarray, chunk: int) -> np.ndarray:
        """Inference on a large batch ``chunk`` images at a time, into one output.

        A predict batch sized by memory (up to 256 MB of work) made one ``X_col`` of ~100 MB:
        fresh pages from the system each call, and never in cache. Chunks of ~8 MB are reused
        by the allocator and stay in cache (a digits predict pass ~2x faster); each row is the
        same product of the same numbers.
        """
        bias = self.params["b"] if self.use_bias else None
        a = None
        for start in range(0, len(x), chunk):
            z = self._convolve(x[start : start + chunk], False, add_bias=False)
            if a is None:
                a = np.empty((len(x), *z.shape[1:]), z.dtype)
            out = a[start : start + len(z)].reshape(-1, self.filters)
            result = self.activation.forward_with_bias(z.reshape(-1, self.filters), bias, out=out)
            if result is not out:  # an activation may return its own array (linear returns z)
                np.copyto(out, result)
        return a

    def backward(self, grad_output: np.ndarray) -> np.ndarray | None:
        """Fill ``grads`` from ``dL/da``; return ``dL/dx`` (``None`` for a model's first layer)."""
        *_, z, a = self._recorded()
        rows = (-1, self.filters)
        grad_z = self.activation.backward_with_bias(
            grad_output.reshape(rows),
            z.reshape(rows),
            a.reshape(rows),
            out=self._workspace("grad_z", (z.size // self.filters, self.filters)),
        )
        return self.backward_logits(grad_z)

    def forward_logits(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """``z = conv(x, W) + b`` alone: the input of the activation a fused loss takes over."""
        z = self._convolve(x, training)
        if training:
            self._cache = (*self._cache, z, None)
        return z

    def backward_logits(self, grad_logits: np.ndarray) -> np.ndarray | None:
        """Backward from ``delta = dL/dz``: the products and the col2im of the class docstring."""
        cols, x_shape = self._recorded()[:2]
        delta = grad_logits.reshape(-1, self.filters)
        grad_kernel = self.grads["W"]
        kernel_rows = grad_kernel.size // self.filters
        if grad_kernel.flags.c_contiguous:  # write the product straight into the flat buffer
            np.matmul(cols.T, delta, out=grad_kernel.reshape(kernel_rows, self.filters))
        else:
            grad_kernel[...] = (cols.T @ delta).reshape(grad_kernel.shape)
        if self.use_bias:
            # A product with a row of ones: BLAS sums the rows ~20x faster than add.reduce does
            # down a (rows, filters) array only `filters` wide.
            ones = self._workspace("ones", (len(delta),), fill=1.0)
            np.matmul(ones, delta, out=self.grads["b"])
        if not self.needs_input_grad:
            return None
        return self._col2im(delta, x_shape)

    # -- im2col and col2im -------------------------------------------------------------------
    def _convolve(self, x: np.ndarray, training: bool, add_bias: bool = True) -> np.ndarray:
        if x.ndim != 4:
            raise ValueError(
                f"Conv2D.forward takes x of shape (batch, height, width, channels), got an "
                f"array of shape {x.shape}"
            )
        geometry = self._geometry(x.shape[1:])
        kernel = self.params["W"]
        kernel_rows = kernel.size // self.filters
        if x.shape[-1] != kernel.shape[2]:
            raise ValueError(
                f"Conv2D was built for {kernel.shape[2]} input channels, got x of shape "
                f"{x.shape} ({x.shape[-1]} channels)"
            )
        cols = self._im2col(x, geometry, training)
        n, out_h, out_w = len(x), geometry.rows.out, geometry.cols.out
        z = np.matmul(
            cols,
            kernel.reshape(kernel_rows, self.filters),
            out=self._workspace("z", (n * out_h * out_w, self.filters)) if training else None,
        )
        if self.use_bias and add_bias:
            z += self.params["b"]
        if training:
            self._cache = (cols, x.shape)
        return z.reshape(n, out_h, out_w, self.filters)

    def _im2col(self, x: np.ndarray, geometry: Geometry, training: bool) -> np.ndarray:
        """Every window of the padded ``x`` as a row: ``X_col (N out_h out_w, kh kw C)``."""
        kh, kw = self.kernel_size
        n, channels = len(x), x.shape[-1]
        out_h, out_w = geometry.rows.out, geometry.cols.out
        if (kh, kw) == (1, 1) and self.strides == (1, 1) and x.flags.c_contiguous:
            return x.reshape(n * out_h * out_w, channels)  # 1x1 kernel: the pixels are the rows
        rows, width = n * out_h * out_w, kh * kw * channels
        dtype = self.params["W"].dtype
        # One channel: the kernel writes X_col^T, (kh kw, N out_h out_w), and BLAS takes its
        # transpose at no cost (see the kernels). Training reuses the buffers batch to batch.
        shape = (width, rows) if channels == 1 else (rows, width)
        cols = self._workspace("cols", shape) if training else np.empty(shape, dtype)
        padded_shape = self._padded_shape(x.shape, geometry)
        padded = None
        if training and geometry.padded:
            padded = self._workspace("padded", padded_shape)
        return kernels.current(dtype).im2col(
            x, self.kernel_size, self.strides, (out_h, out_w), padded_shape,
            geometry.rows.before, geometry.cols.before, cols, padded,
        )  # fmt: skip

    def _col2im(self, delta: np.ndarray, x_shape: tuple[int, ...]) -> np.ndarray:
        """``dL/dx``: each row of ``dL/dX_col = delta W_mat^T`` added back onto its pixels.

        ``dL/dX_col`` is computed offset by offset, as ``(kh kw, N out_h out_w, C)`` (one
        batched product), so that each of the ``kh * kw`` additions reads a contiguous block:
        2-5x faster than adding strided columns of the ``(rows, kh kw C)`` matrix.
        """
        kh, kw = self.kernel_size
        n, channels = x_shape[0], x_shape[-1]
        kernel = self.params["W"]
        if (kh, kw) == (1, 1) and self.strides == (1, 1):
            return (delta @ kernel.reshape(channels, self.filters).T).reshape(x_shape)
        geometry = self._geometry(x_shape[1:])
        out_h, out_w = geometry.rows.out, geometry.cols.out
        per_offset = kernel.reshape(kh * kw, channels, self.filters).transpose(0, 2, 1)
        grad_windows = np.matmul(
            delta, per_offset, out=self._workspace("grad_windows", (kh * kw, len(delta), channels))
        ).reshape(kh, kw, n, out_h, out_w, channels)
        padded_shape = self._padded_shape(x_shape, geometry)
        return kernels.current(delta.dtype).col2im(
            grad_windows, x_shape, padded_shape, geometry.rows.before, geometry.cols.before,
            self.strides,
        )  # fmt: skip

    @staticmethod
    def _padded_shape(x_shape: tuple[int, ...], geometry: Geometry) -> tuple[int, ...]:
        (_, top, bottom), (_, left, right) = geometry
        n, height, width, channels = x_shape
        return (n, height + top + bottom, width + left + right, channels)

    # -- description -------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        return {
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            **self._weight_config(),
            **super().get_config(),
        }

    def __repr__(self) -> str:
        extra = "" if self.strides == (1, 1) else f", strides={self.strides}"
        if self.padding != "valid":
            extra += f", padding={self.padding!r}"
        if self.activation.name != "linear":
            extra += f", activation={self.activation.name!r}"
        if self.input_shape is not None:
            extra += f", input_shape={self.input_shape}"
        return f"Conv2D({self.filters}, {self.kernel_size}{extra})"
