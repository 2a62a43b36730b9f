"""The reference layer kernels: Dense's bias and activation, pooling and col2im backward.

The NumPy passes the layers made before the compiled kernels, moved here unchanged; their twins
in :mod:`scratchnn.kernels.numba_layers` give the same bits. :mod:`scratchnn.kernels.numpy`
re-exports them, so a backend is one module.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

# -- Dense: bias plus activation, and the activation's backward with the bias gradient ----------
# ``z (rows, units)`` is the product ``x W``; ``bias`` is None without one. ``out`` may be ``z``
# itself (inference overwrites its own ``z``). ``grad_bias`` None: no bias gradient to fill.


def bias_relu(z, bias, out):
    """``z += b``; ``a = max(z, 0)`` into ``out``."""
    if bias is not None:
        z += bias
    return np.maximum(z, 0, out=out)


def bias_sigmoid(z, bias, out):
    """``z += b``; ``a = (1 + tanh(z / 2)) / 2`` into ``out`` (``stable_sigmoid``'s passes)."""
    if bias is not None:
        z += bias
    out = np.multiply(z, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


def bias_tanh(z, bias, out):
    """``z += b``; ``a = tanh(z)`` into ``out``."""
    if bias is not None:
        z += bias
    return np.tanh(z, out=out)


def relu_backward(grad_a, a, out, grad_bias):
    """``dz = g [a > 0]`` into ``out``; ``db = sum_rows dz`` into ``grad_bias``."""
    out = np.multiply(grad_a, a > 0, out=out)
    if grad_bias is not None:
        np.add.reduce(out, axis=0, out=grad_bias)
    return out


def sigmoid_backward(grad_a, a, out, grad_bias):
    """``dz = (1 - a) a g``; ``db = sum_rows dz``."""
    out = np.subtract(1.0, a, out=out)
    out *= a
    out *= grad_a
    if grad_bias is not None:
        np.add.reduce(out, axis=0, out=grad_bias)
    return out


def tanh_backward(grad_a, a, out, grad_bias):
    """``dz = (1 - a^2) g``; ``db = sum_rows dz``."""
    out = np.multiply(a, a, out=out)
    np.subtract(1.0, out, out=out)
    out *= grad_a
    if grad_bias is not None:
        np.add.reduce(out, axis=0, out=grad_bias)
    return out


# -- Windows of an image: pooling backward and col2im (channels last) ----------------------------
# ``top, left``: the padding before the image; ``padded_shape``: ``(N, H_pad, W_pad, C)``.


def _offset(i, stride, count):
    return slice(i, i + stride * (count - 1) + 1, stride)


def _crop(padded, x_shape, top, left):
    if padded.shape == tuple(x_shape):
        return padded
    height, width = x_shape[1], x_shape[2]
    return np.ascontiguousarray(padded[:, top : top + height, left : left + width, :])


def col2im(grad_windows, x_shape, padded_shape, top, left, strides):
    """``dL/dx`` from ``grad_windows (kh, kw, N, out_h, out_w, C)``: each added onto its pixels.

    Offsets are added in row-major order, so every pixel sums its windows in the same order.
    """
    kh, kw, _, out_h, out_w, _ = grad_windows.shape
    grad_padded = np.zeros(padded_shape, grad_windows.dtype)
    for i in range(kh):
        for j in range(kw):
            pixels = (slice(None), _offset(i, strides[0], out_h), _offset(j, strides[1], out_w))
            grad_padded[pixels] += grad_windows[i, j]
    return _crop(grad_padded, x_shape, top, left)


def max_pool_blocks_backward(grad_output, row, column, pool, x_shape, padded_shape, top, left):
    """Max-pool backward for windows that tile (``strides == pool``): ``dy`` to each winner.

    ``row (N, out_h, out_w, C)`` is the winning row of each window, ``column (N, out_h, ph,
    out_w, C)`` the winning column of each of its rows; the others get ``dy * 0``.
    """
    n, out_h, ph, out_w, channels = column.shape
    pw = pool[1]
    grad_blocks = np.empty((n, out_h, ph, out_w, pw, channels), grad_output.dtype)
    for i in range(ph):
        in_row = row == i
        for j in range(pw):
            won = np.logical_and(in_row, column[:, :, i] == j)
            np.multiply(grad_output, won, out=grad_blocks[:, :, i, :, j])
    if tuple(padded_shape[1:3]) == (out_h * ph, out_w * pw):
        grad_padded = grad_blocks.reshape(padded_shape)
    else:
        grad_padded = np.zeros(padded_shape, grad_output.dtype)  # pixels no window reads: 0
        grad_padded[:, : out_h * ph, : out_w * pw] = grad_blocks.reshape(
            n, out_h * ph, out_w * pw, channels
        )
    return _crop(grad_padded, x_shape, top, left)


def max_pool_offsets_backward(grad_output, winner, pool, strides, x_shape, padded_shape, top,
                              left):  # fmt: skip
    """Max-pool backward for overlapping windows: ``winner`` is each window's offset index."""
    _, out_h, out_w, _ = grad_output.shape
    grad_padded = np.zeros(padded_shape, grad_output.dtype)
    for index in range(pool[0] * pool[1]):
        i, j = divmod(index, pool[1])
        pixels = (slice(None), _offset(i, strides[0], out_h), _offset(j, strides[1], out_w))
        grad_padded[pixels] += grad_output * (winner == index)
    return _crop(grad_padded, x_shape, top, left)


def avg_pool_backward(share, pool, strides, tiles, x_shape, padded_shape, top, left):
    """Average-pool backward: ``share = dy / count`` onto every pixel of its window.

    ``tiles``: the windows cover the padded image once each, so the shares are written, not
    added (an addition onto zero would turn a ``-0.0`` share into ``0.0``).
    """
    _, out_h, out_w, _ = share.shape
    grad_padded = (np.empty if tiles else np.zeros)(padded_shape, share.dtype)
    for i in range(pool[0]):
        for j in range(pool[1]):
            pixels = (slice(None), _offset(i, strides[0], out_h), _offset(j, strides[1], out_w))
            if tiles:
                grad_padded[pixels] = share
            else:
                grad_padded[pixels] += share
    return _crop(grad_padded, x_shape, top, left)


# -- The fused softmax / cross-entropy gradient --------------------------------------------------


def softmax_cross_entropy(logits, labels):
    """Mean ``l_n = logsumexp(z_n) - z_n[c_n]`` and its gradient ``(softmax(z_n) - y_n) / N``.

    ``logits (N, K)``, ``labels (N,)`` integer classes. One ``exp`` serves both.
    """
    n = logits.shape[0]
    shifted = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted)
    sums = np.add.reduce(probs, axis=1)
    losses = np.log(sums)
    rows = np.arange(n)
    losses -= shifted[rows, labels]
    probs /= sums[:, None]
    probs[rows, labels] -= 1.0
    value = float(np.add.reduce(losses)) / n
    probs *= 1.0 / n
    return value, probs


# -- Windows of an image, forward: im2col and max pooling (channels last) ------------------------
# ``top, left``: the padding before the image; ``padded_shape``: ``(N, H_pad, W_pad, C)``;
# ``out_size``: ``(out_h, out_w)``. The padded image is made only where padding is asked for.


def _pad(x, padded_shape, top, left, fill, padded=None):
    """``x`` inside a ``padded_shape`` image of ``fill`` (``padded``: a reused buffer whose border
    already holds ``fill``); ``x`` itself when nothing pads it."""
    if tuple(padded_shape) == x.shape:
        return x
    if padded is None:
        padded = np.full(padded_shape, fill, x.dtype)
    padded[:, top : top + x.shape[1], left : left + x.shape[2], :] = x
    return padded


def im2col(x, kernel_size, strides, out_size, padded_shape, top, left, cols, padded=None):
    """Every window of the zero-padded ``x (N, H, W, C)`` as a row of ``cols``; returns ``X_col``.

    ``X_col (N out_h out_w, kh kw C)``, each row ordered ``(i, j, c)`` as ``W_mat``'s rows.
    ``cols`` is that matrix, or for one channel its transpose ``(kh kw, N out_h out_w)`` (then
    ``cols.T`` is returned: ``kh kw`` plain copies of shifted images, 3x faster than the strided
    gather). ``padded``: a buffer for the padded image, its border zero (training reuses one).
    """
    (kh, kw), (sh, sw), (out_h, out_w) = kernel_size, strides, out_size
    n, channels = x.shape[0], x.shape[-1]
    padded = _pad(x, padded_shape, top, left, 0.0, padded)
    if channels == 1:
        shifted = cols.reshape(kh, kw, n, out_h, out_w)
        for i in range(kh):
            for j in range(kw):
                shifted[i, j] = padded[:, _offset(i, sh, out_h), _offset(j, sw, out_w), 0]
        return cols.T
    # (N, H', W', C, kh, kw) view of every window, strided and reordered to (N, out_h, out_w,
    # kh, kw, C): one copy.
    windows = sliding_window_view(padded, (kh, kw), axis=(1, 2))
    windows = windows[:, : sh * (out_h - 1) + 1 : sh, : sw * (out_w - 1) + 1 : sw]
    np.copyto(cols.reshape(n, out_h, out_w, kh, kw, channels), windows.transpose(0, 1, 2, 4, 5, 3))
    return cols


def _running_max(candidates, training):
    """Elementwise maximum of ``candidates`` and (training) the index of the first one to hold it.

    Strictly greater replaces: on a tie the earlier candidate keeps the win, so each window
    has exactly one winner, the first maximum in row-major order.
    """
    if len(candidates) == 1:
        best = candidates[0].copy()
        return best, np.zeros(best.shape, np.uint8) if training else None
    best = np.maximum(candidates[0], candidates[1])
    index = np.greater(candidates[1], candidates[0]).view(np.uint8) if training else None
    for k, candidate in enumerate(candidates[2:], start=2):
        if training:
            np.copyto(index, k, where=candidate > best)
        np.maximum(best, candidate, out=best)
    return best, index


def max_pool_blocks(x, pool, out_size, padded_shape, top, left, training):
    """Max pooling over windows that do not overlap (``strides == pool``): ``(best, row, column)``.

    The windows are the blocks of a reshape, ``(N, out_h, ph, out_w, pw, C)``: a running maximum
    along each window's rows, then down them (``ph + pw`` passes over whole arrays). ``row (N,
    out_h, out_w, C)`` and ``column (N, out_h, ph, out_w, C)`` record the winners (training;
    else None). ``-inf`` pads.
    """
    (ph, pw), (out_h, out_w) = pool, out_size
    padded = _pad(x, padded_shape, top, left, -np.inf)
    n, channels = padded.shape[0], padded.shape[-1]
    blocks = padded[:, : out_h * ph, : out_w * pw].reshape(n, out_h, ph, out_w, pw, channels)
    row_best, column = _running_max([blocks[:, :, :, :, j] for j in range(pw)], training)
    best, row = _running_max([row_best[:, :, i] for i in range(ph)], training)
    return best, row, column


def max_pool_offsets(x, pool, strides, out_size, padded_shape, top, left, training):
    """Max pooling over overlapping windows, one pass per offset: ``(best, winner)``.

    ``winner (N, out_h, out_w, C)``: each window's winning offset ``i pw + j`` (training; else
    None).
    """
    (out_h, out_w) = out_size
    padded = _pad(x, padded_shape, top, left, -np.inf)
    candidates = [
        padded[:, _offset(i, strides[0], out_h), _offset(j, strides[1], out_w)]
        for i in range(pool[0])
        for j in range(pool[1])
    ]
    return _running_max(candidates, training)
