"""The compiled layer kernels (numba): Dense's bias and activation, pooling and col2im backward.

Twins of :mod:`scratchnn.kernels.numpy_layers`, bit for bit, under the rules of
:mod:`scratchnn.kernels.numba` (no fast-math, no fused multiply-add; ``exp``, ``log`` and
``tanh`` stay NumPy's ufuncs). :mod:`scratchnn.kernels.numba` re-exports them, so a backend is
one module.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from . import numpy_layers as reference

_jit = njit(cache=True, nogil=True, fastmath=False, error_model="numpy")  # as in kernels.numba


# -- Dense: bias plus activation, and the activation's backward with the bias gradient ----------
# One loop where NumPy makes two to five passes. tanh stays NumPy's ufunc (see the LSTM note),
# so sigmoid and tanh keep a NumPy pass for it. Column sums add the rows in order, as NumPy's
# add.reduce over axis 0 of a C-ordered array does, so the bias gradient is bit-identical too.


def _bias_or_empty(bias, z):
    return (bias, True) if bias is not None else (z.reshape(-1)[:0], False)


@_jit
def _bias_relu(z, bias, has_bias, out, zero):
    for row in range(z.shape[0]):
        for k in range(z.shape[1]):
            value = z[row, k] + bias[k] if has_bias else z[row, k]
            z[row, k] = value
            # as np.maximum(z, 0): NaN propagates, and -0.0 gives 0.0
            out[row, k] = value if (value > zero or value != value) else zero


def bias_relu(z, bias, out):
    if out is None:
        out = np.empty_like(z)
    bias, has_bias = _bias_or_empty(bias, z)
    _bias_relu(z, bias, has_bias, out, z.dtype.type(0))
    return out


@_jit
def _bias_half(z, bias, has_bias, out, half):
    for row in range(z.shape[0]):
        for k in range(z.shape[1]):
            value = z[row, k] + bias[k] if has_bias else z[row, k]
            z[row, k] = value
            out[row, k] = value * half


@_jit
def _half_plus_half(out, half):
    for row in range(out.shape[0]):
        for k in range(out.shape[1]):
            out[row, k] = out[row, k] * half + half


def bias_sigmoid(z, bias, out):
    if out is None:
        out = np.empty_like(z)
    bias, has_bias = _bias_or_empty(bias, z)
    half = z.dtype.type(0.5)
    _bias_half(z, bias, has_bias, out, half)
    np.tanh(out, out=out)
    _half_plus_half(out, half)
    return out


def bias_tanh(z, bias, out):
    # bias add then tanh: nothing left to fuse while tanh stays NumPy's
    if bias is not None:
        z += bias
    return np.tanh(z, out=out)


@_jit
def _relu_backward(grad_a, a, out, grad_bias, has_bias, zero, one):
    for row in range(grad_a.shape[0]):
        for k in range(grad_a.shape[1]):
            value = grad_a[row, k] * (one if a[row, k] > zero else zero)
            out[row, k] = value
            if has_bias:
                grad_bias[k] = (zero + value) if row == 0 else grad_bias[k] + value


@_jit
def _sigmoid_backward(grad_a, a, out, grad_bias, has_bias, zero, one):
    for row in range(grad_a.shape[0]):
        for k in range(grad_a.shape[1]):
            value = ((one - a[row, k]) * a[row, k]) * grad_a[row, k]
            out[row, k] = value
            if has_bias:
                grad_bias[k] = (zero + value) if row == 0 else grad_bias[k] + value


@_jit
def _tanh_backward(grad_a, a, out, grad_bias, has_bias, zero, one):
    for row in range(grad_a.shape[0]):
        for k in range(grad_a.shape[1]):
            value = (one - a[row, k] * a[row, k]) * grad_a[row, k]
            out[row, k] = value
            if has_bias:
                grad_bias[k] = (zero + value) if row == 0 else grad_bias[k] + value


def _backward_arguments(grad_a, out, grad_bias):
    if out is None:
        out = np.empty_like(grad_a)
    # One unit: NumPy sums the column pairwise (it is contiguous), so that sum (and the empty
    # one) is left to it.
    has_bias = grad_bias is not None and grad_a.shape[1] > 1 and grad_a.shape[0] > 0
    return out, (grad_bias if has_bias else out.reshape(-1)[:0]), has_bias


def _single_column_bias(out, grad_bias):
    if grad_bias is not None and (out.shape[1] <= 1 or out.shape[0] == 0):
        np.add.reduce(out, axis=0, out=grad_bias)
    return out


def relu_backward(grad_a, a, out, grad_bias):
    out, bias_sum, has_bias = _backward_arguments(grad_a, out, grad_bias)
    dtype = grad_a.dtype.type
    _relu_backward(grad_a, a, out, bias_sum, has_bias, dtype(0), dtype(1))
    return _single_column_bias(out, grad_bias)


def sigmoid_backward(grad_a, a, out, grad_bias):
    out, bias_sum, has_bias = _backward_arguments(grad_a, out, grad_bias)
    dtype = grad_a.dtype.type
    _sigmoid_backward(grad_a, a, out, bias_sum, has_bias, dtype(0), dtype(1))
    return _single_column_bias(out, grad_bias)


def tanh_backward(grad_a, a, out, grad_bias):
    out, bias_sum, has_bias = _backward_arguments(grad_a, out, grad_bias)
    dtype = grad_a.dtype.type
    _tanh_backward(grad_a, a, out, bias_sum, has_bias, dtype(0), dtype(1))
    return _single_column_bias(out, grad_bias)


# -- Windows of an image: pooling backward and col2im (channels last) ----------------------------
# One loop over the gradient, writing the unpadded image directly (no padded buffer, no crop).
# Each pixel receives its windows' contributions in the same order as NumPy's offset-by-offset
# passes (row-major offsets), so sums round alike.


@_jit
def _col2im(grad_windows, grad_x, top, left, stride_h, stride_w):
    kh, kw, n, out_h, out_w, channels = grad_windows.shape
    height, width = grad_x.shape[1], grad_x.shape[2]
    for sample in range(n):
        for i in range(kh):
            for j in range(kw):
                for p in range(out_h):
                    r = p * stride_h + i - top
                    if r < 0 or r >= height:
                        continue
                    for q in range(out_w):
                        col = q * stride_w + j - left
                        if col < 0 or col >= width:
                            continue
                        for ch in range(channels):
                            grad_x[sample, r, col, ch] += grad_windows[i, j, sample, p, q, ch]


def col2im(grad_windows, x_shape, padded_shape, top, left, strides):
    grad_x = np.zeros(x_shape, grad_windows.dtype)
    _col2im(grad_windows, grad_x, top, left, strides[0], strides[1])
    return grad_x


@_jit
def _max_pool_blocks_backward(grad_output, row, column, pw, grad_x, top, left, zero, one):
    n, out_h, ph, out_w, channels = column.shape
    height, width = grad_x.shape[1], grad_x.shape[2]
    for sample in range(n):
        for p in range(out_h):
            for i in range(ph):
                r = p * ph + i - top
                if r < 0 or r >= height:
                    continue
                for q in range(out_w):
                    for j in range(pw):
                        col = q * pw + j - left
                        if col < 0 or col >= width:
                            continue
                        for ch in range(channels):
                            won = row[sample, p, q, ch] == i and column[sample, p, i, q, ch] == j
                            g = grad_output[sample, p, q, ch]
                            grad_x[sample, r, col, ch] = g * (one if won else zero)


def max_pool_blocks_backward(grad_output, row, column, pool, x_shape, padded_shape, top, left):
    n, out_h, ph, out_w, _ = column.shape
    covers = tuple(padded_shape[1:3]) == (out_h * ph, out_w * pool[1])
    grad_x = (np.empty if covers else np.zeros)(x_shape, grad_output.dtype)
    dtype = grad_output.dtype.type
    _max_pool_blocks_backward(grad_output, row, column, pool[1], grad_x, top, left, dtype(0),
                              dtype(1))  # fmt: skip
    return grad_x


@_jit
def _max_pool_offsets_backward(grad_output, winner, ph, pw, stride_h, stride_w, grad_x, top, left,
                               zero, one):  # fmt: skip
    n, out_h, out_w, channels = grad_output.shape
    height, width = grad_x.shape[1], grad_x.shape[2]
    for sample in range(n):
        for index in range(ph * pw):
            i, j = index // pw, index % pw
            for p in range(out_h):
                r = p * stride_h + i - top
                if r < 0 or r >= height:
                    continue
                for q in range(out_w):
                    col = q * stride_w + j - left
                    if col < 0 or col >= width:
                        continue
                    for ch in range(channels):
                        g = grad_output[sample, p, q, ch]
                        grad_x[sample, r, col, ch] += g * (
                            one if winner[sample, p, q, ch] == index else zero
                        )


def max_pool_offsets_backward(grad_output, winner, pool, strides, x_shape, padded_shape, top,
                              left):  # fmt: skip
    grad_x = np.zeros(x_shape, grad_output.dtype)
    dtype = grad_output.dtype.type
    _max_pool_offsets_backward(grad_output, winner, pool[0], pool[1], strides[0], strides[1],
                               grad_x, top, left, dtype(0), dtype(1))  # fmt: skip
    return grad_x


@_jit
def _avg_pool_backward(share, ph, pw, stride_h, stride_w, tiles, grad_x, top, left):
    n, out_h, out_w, channels = share.shape
    height, width = grad_x.shape[1], grad_x.shape[2]
    for sample in range(n):
        for i in range(ph):
            for j in range(pw):
                for p in range(out_h):
                    r = p * stride_h + i - top
                    if r < 0 or r >= height:
                        continue
                    for q in range(out_w):
                        col = q * stride_w + j - left
                        if col < 0 or col >= width:
                            continue
                        for ch in range(channels):
                            if tiles:
                                grad_x[sample, r, col, ch] = share[sample, p, q, ch]
                            else:
                                grad_x[sample, r, col, ch] += share[sample, p, q, ch]


def avg_pool_backward(share, pool, strides, tiles, x_shape, padded_shape, top, left):
    grad_x = (np.empty if tiles else np.zeros)(x_shape, share.dtype)
    _avg_pool_backward(share, pool[0], pool[1], strides[0], strides[1], tiles, grad_x, top, left)
    return grad_x


# -- The fused softmax / cross-entropy gradient --------------------------------------------------
# exp, log and the row sums stay NumPy's (its SIMD exp and log, its pairwise sums); the shift by
# the row maximum and everything after the sums are one loop each instead of six passes.


@_jit
def _shift_by_row_max(logits, shifted):
    for row in range(logits.shape[0]):
        peak = logits[row, 0]
        for k in range(1, logits.shape[1]):
            value = logits[row, k]
            if value > peak or value != value:  # np.max: NaN wins
                peak = value if peak == peak else peak
        for k in range(logits.shape[1]):
            shifted[row, k] = logits[row, k] - peak


@_jit
def _cross_entropy_gradient(probs, shifted, sums, losses, labels, one, scale):
    for row in range(probs.shape[0]):
        label = labels[row]
        losses[row] = losses[row] - shifted[row, label]
        total = sums[row]
        for k in range(probs.shape[1]):
            p = probs[row, k] / total
            if k == label:
                p = p - one
            probs[row, k] = p * scale


def softmax_cross_entropy(logits, labels):
    n = logits.shape[0]
    if n == 0 or logits.shape[1] == 0:
        return reference.softmax_cross_entropy(logits, labels)
    shifted = np.empty(logits.shape, logits.dtype)
    _shift_by_row_max(logits, shifted)
    probs = np.exp(shifted)
    sums = np.add.reduce(probs, axis=1)
    losses = np.log(sums)
    dtype = probs.dtype.type
    _cross_entropy_gradient(probs, shifted, sums, losses, labels, dtype(1.0), dtype(1.0 / n))
    return float(np.add.reduce(losses)) / n, probs


# -- Windows of an image, forward: im2col and max pooling (channels last) ------------------------
# One loop each that reads the unpadded image and treats pixels outside it as the padding's value
# (0 for im2col, -inf for max pooling): no padded copy. Copies and comparisons only, so the bits
# are the twins' by construction; the maximum keeps np.maximum's rule (``a`` if ``a > b`` or
# ``a`` is NaN, else ``b``: NaN wins, a tie of signed zeros gives ``b``) and the winner is the
# first strictly greater candidate, as the twins' running maximum records it.


# The copies go through 1-D views indexed from 0 by a range: an index numba cannot prove
# non-negative gets a wrap-around test per element, which keeps LLVM from vectorising (3x).


@_jit
def _im2col_rows(x, kh, kw, sh, sw, top, left, out_h, out_w, cols, zero):
    # a window's row of kw pixels is one contiguous run of x (flat indices throughout)
    n, height, width, channels = x.shape
    source, target = x.reshape(-1), cols.reshape(-1)
    span = kw * channels
    for sample in range(n):
        for p in range(out_h):
            for q in range(out_w):
                row = ((sample * out_h + p) * out_w + q) * kh * span
                first = q * sw - left  # the window's first column
                start = max(0, -first) * channels  # its pixels inside the image: [start, stop)
                stop = max(start, min(kw, width - first) * channels)
                for i in range(kh):
                    r = p * sh + i - top
                    window_row = target[row + i * span : row + (i + 1) * span]
                    if r < 0 or r >= height:
                        for k in range(span):
                            window_row[k] = zero
                        continue
                    pixel = ((sample * height + r) * width + first) * channels
                    run = source[pixel + start : pixel + stop]
                    inside = window_row[start:stop]
                    for k in range(start):
                        window_row[k] = zero
                    for k in range(stop - start):
                        inside[k] = run[k]
                    for k in range(stop, span):
                        window_row[k] = zero


def im2col(x, kernel_size, strides, out_size, padded_shape, top, left, cols, padded=None):
    # One channel (X_col^T, kh kw plain copies of shifted images) or a cast on the way: NumPy's
    # copies run at memory speed already (a compiled gather measured 1.05-1.4x their time).
    if x.shape[-1] == 1 or x.dtype != cols.dtype:
        return reference.im2col(x, kernel_size, strides, out_size, padded_shape, top, left, cols,
                                padded)  # fmt: skip
    (kh, kw), (sh, sw), (out_h, out_w) = kernel_size, strides, out_size
    x = np.ascontiguousarray(x)
    _im2col_rows(x, kh, kw, sh, sw, top, left, out_h, out_w, cols, cols.dtype.type(0))
    return cols


@_jit
def _max_pool_blocks(x, ph, pw, top, left, best, row, column, training, fill):
    # channels innermost, each channel's running maximum kept in an array, so the loops vectorise
    n, out_h, out_w, channels = best.shape
    height, width = x.shape[1], x.shape[2]
    row_peak = np.empty(channels, best.dtype)
    row_winner = np.empty(channels, np.uint8)
    for sample in range(n):
        for p in range(out_h):
            for q in range(out_w):
                for i in range(ph):
                    r = p * ph + i - top
                    for j in range(pw):
                        col = q * pw + j - left
                        inside = r >= 0 and r < height and col >= 0 and col < width
                        if j == 0:
                            for ch in range(channels):
                                row_peak[ch] = x[sample, r, col, ch] if inside else fill
                                row_winner[ch] = 0
                            continue
                        for ch in range(channels):
                            value = x[sample, r, col, ch] if inside else fill
                            peak = row_peak[ch]
                            if value > peak:
                                row_winner[ch] = j
                            if not (peak > value or peak != peak):
                                row_peak[ch] = value
                    if training:
                        for ch in range(channels):
                            column[sample, p, i, q, ch] = row_winner[ch]
                    if i == 0:
                        for ch in range(channels):
                            best[sample, p, q, ch] = row_peak[ch]
                            if training:
                                row[sample, p, q, ch] = 0
                        continue
                    for ch in range(channels):
                        value = row_peak[ch]
                        peak = best[sample, p, q, ch]
                        if training and value > peak:
                            row[sample, p, q, ch] = i
                        if not (peak > value or peak != peak):
                            best[sample, p, q, ch] = value


def max_pool_blocks(x, pool, out_size, padded_shape, top, left, training):
    n, channels = x.shape[0], x.shape[-1]
    (ph, pw), (out_h, out_w) = pool, out_size
    best = np.empty((n, out_h, out_w, channels), x.dtype)
    if training:
        row = np.empty((n, out_h, out_w, channels), np.uint8)
        column = np.empty((n, out_h, ph, out_w, channels), np.uint8)
    else:  # nothing recorded in inference
        row, column = np.empty((0, 0, 0, 0), np.uint8), np.empty((0, 0, 0, 0, 0), np.uint8)
    _max_pool_blocks(x, ph, pw, top, left, best, row, column, training, x.dtype.type(-np.inf))
    return (best, row, column) if training else (best, None, None)


@_jit
def _max_pool_offsets(x, ph, pw, sh, sw, top, left, best, winner, training, fill):
    n, out_h, out_w, channels = best.shape
    height, width = x.shape[1], x.shape[2]
    for sample in range(n):
        for p in range(out_h):
            for q in range(out_w):
                for ch in range(channels):
                    peak = fill
                    peak_index = 0
                    for index in range(ph * pw):
                        i, j = index // pw, index % pw
                        r, col = p * sh + i - top, q * sw + j - left
                        inside = r >= 0 and r < height and col >= 0 and col < width
                        value = x[sample, r, col, ch] if inside else fill
                        if index == 0:
                            peak = value
                        else:
                            if value > peak:
                                peak_index = index
                            if not (peak > value or peak != peak):
                                peak = value
                    best[sample, p, q, ch] = peak
                    if training:
                        winner[sample, p, q, ch] = peak_index


def max_pool_offsets(x, pool, strides, out_size, padded_shape, top, left, training):
    shape = (x.shape[0], *out_size, x.shape[-1])
    best = np.empty(shape, x.dtype)
    winner = np.empty(shape if training else (0, 0, 0, 0), np.uint8)
    _max_pool_offsets(x, pool[0], pool[1], strides[0], strides[1], top, left, best, winner,
                      training, x.dtype.type(-np.inf))  # fmt: skip
    return best, (winner if training else None)
