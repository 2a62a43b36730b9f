"""The compiled kernels: each optimizer's update in one pass over memory (numba, ``fast`` extra).

Same signatures and the same operations, in the same order and precision, as
:mod:`scratchnn.kernels.numpy`, one element at a time: each intermediate is rounded to the
buffers' dtype exactly where a NumPy pass rounds it, so results are bit-identical. That holds
because numba compiles without fast-math (``fastmath=False``, its default: no reassociation) and
emits separate multiply and add instructions that LLVM does not contract into fused
multiply-adds (checked by ``tests/test_kernels.py`` on the machine's assembly). One pass instead of
up to ten saves the memory traffic that bounds the NumPy path.

Compiled code is cached on disk (``cache=True``: ``__pycache__`` beside this file, or numba's
user cache directory when that is read-only), so only the first process pays for compiling.
``nogil=True``: a kernel touches only the arrays it is given, so threads may run it at once.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_jit = njit(cache=True, nogil=True, fastmath=False, error_model="numpy")


@_jit
def sgd(params, grads, scratch, lr, grad_scale, rescale):
    for i in range(params.size):
        g = grads[i]
        if rescale:
            g = g * grad_scale
            grads[i] = g
        params[i] = params[i] - g * lr


@_jit
def sgd_momentum(params, grads, velocity, scratch, lr, momentum, nesterov, grad_scale, rescale):
    for i in range(params.size):
        g = grads[i]
        if rescale:
            g = g * grad_scale
            grads[i] = g
        v = velocity[i] * momentum + g
        velocity[i] = v
        if nesterov:
            params[i] = params[i] - (v * momentum + g) * lr
        else:
            params[i] = params[i] - v * lr


@_jit
def rmsprop(params, grads, square_avg, scratch, lr, rho, one_minus_rho, eps, grad_scale, rescale):
    for i in range(params.size):
        g = grads[i]
        if rescale:
            g = g * grad_scale
            grads[i] = g
        s = square_avg[i] * rho + (g * g) * one_minus_rho
        square_avg[i] = s
        params[i] = params[i] - (g / (np.sqrt(s) + eps)) * lr


@_jit
def adagrad(params, grads, sum_squares, scratch, lr, eps, grad_scale, rescale):
    for i in range(params.size):
        g = grads[i]
        if rescale:
            g = g * grad_scale
            grads[i] = g
        s = sum_squares[i] + g * g
        sum_squares[i] = s
        params[i] = params[i] - (g / (np.sqrt(s) + eps)) * lr


@_jit
def adam(params, grads, m_sum, v_sum, scratch, beta_1, beta_2, eps_k, step_scale, decay,
         decoupled, grad_scale, rescale):  # fmt: skip
    for i in range(params.size):
        g = grads[i]
        if rescale:
            g = g * grad_scale
            grads[i] = g
        p = params[i]
        if decoupled:
            p = p * decay
        m = m_sum[i] * beta_1 + g
        v = v_sum[i] * beta_2 + g * g
        m_sum[i] = m
        v_sum[i] = v
        params[i] = p - (m / (np.sqrt(v) + eps_k)) * step_scale


# -- LSTM step (sigmoid gates, tanh cell) -------------------------------------------------------
# tanh itself stays NumPy's ufunc (numba's libm tanh differs from NumPy's SIMD one by up to
# 3 ulp); the arithmetic around it, 15 NumPy passes per step, is fused into two loops forward
# and one backward.


@_jit
def _lstm_inputs(xw, hu, z, pre, half):
    # z = xw + hu; pre = z / 2 on the sigmoid blocks (i, f, o), z on the candidate block
    u = z.shape[1] // 4
    for row in range(z.shape[0]):
        for k in range(z.shape[1]):
            value = xw[row, k] + hu[row, k]
            z[row, k] = value
            pre[row, k] = value if 2 * u <= k < 3 * u else value * half


@_jit
def _lstm_cell(tanh_pre, c_prev, gates, c, half):
    # sigmoid = tanh(z / 2) / 2 + 1 / 2; c = f c_prev + i g
    u = c.shape[1]
    for row in range(c.shape[0]):
        for k in range(u):
            i = tanh_pre[row, k] * half + half
            f = tanh_pre[row, u + k] * half + half
            g = tanh_pre[row, 2 * u + k]
            o = tanh_pre[row, 3 * u + k] * half + half
            gates[row, k], gates[row, u + k] = i, f
            gates[row, 2 * u + k], gates[row, 3 * u + k] = g, o
            c[row, k] = f * c_prev[row, k] + i * g


def lstm_step(xw, hu, c_prev, units):
    u, half = units, xw.dtype.type(0.5)
    z = np.empty(xw.shape, dtype=xw.dtype)
    pre = np.empty_like(z)
    _lstm_inputs(xw, hu, z, pre, half)
    np.tanh(pre, out=pre)
    gates, c = np.empty_like(z), np.empty_like(c_prev)
    _lstm_cell(pre, c_prev, gates, c, half)
    phi_c = np.tanh(c)
    o = gates[:, 3 * u :]
    h = o * phi_c
    return h, c, (z, gates[:, :u], gates[:, u : 2 * u], gates[:, 2 * u : 3 * u], o, c_prev, c,
                  phi_c)  # fmt: skip


@_jit
def _lstm_backward(dh, dc_next, has_next, gates, c_prev, phi_c, dz, dc_prev, one):
    u = dh.shape[1]
    for row in range(dh.shape[0]):
        for k in range(u):
            i, f = gates[row, k], gates[row, u + k]
            g, o = gates[row, 2 * u + k], gates[row, 3 * u + k]
            p, d = phi_c[row, k], dh[row, k]
            dc = (one - p * p) * (d * o)
            if has_next:
                dc = dc + dc_next[row, k]
            dz[row, k] = ((one - i) * i) * (g * dc)
            dz[row, u + k] = ((one - f) * f) * (c_prev[row, k] * dc)
            dz[row, 2 * u + k] = (one - g * g) * (i * dc)
            dz[row, 3 * u + k] = ((one - o) * o) * (p * d)
            dc_prev[row, k] = f * dc


def lstm_step_backward(dh, dc_next, record, units):
    z, i, f, g, o, c_prev, c, phi_c = record
    gates = i.base if i.base is not None and i.base.shape == z.shape else np.hstack([i, f, g, o])
    dz, dc_prev = np.empty_like(z), np.empty_like(dh)
    has_next = dc_next is not None
    _lstm_backward(dh, dc_next if has_next else dh, has_next, gates, c_prev, phi_c, dz, dc_prev,
                   dh.dtype.type(1.0))  # fmt: skip
    return dz, dc_prev


# -- GRU step (reset_after; sigmoid gates, tanh candidate) ----------------------------------------
# As for the LSTM, tanh stays NumPy's; the rest is three loops forward and one backward.


@_jit
def _gru_inputs(xw, hu, pre, half_pre, half):
    # pre = [pre_z, pre_r] = xw + hu on the two gate blocks; half_pre = pre / 2
    for row in range(pre.shape[0]):
        for k in range(pre.shape[1]):
            value = xw[row, k] + hu[row, k]
            pre[row, k] = value
            half_pre[row, k] = value * half


@_jit
def _gru_candidate(tanh_half, xw, hu, gates, pre_h, half):
    # z, r = tanh(pre / 2) / 2 + 1 / 2; pre_h = xw_h + r m_h
    u = pre_h.shape[1]
    for row in range(pre_h.shape[0]):
        for k in range(2 * u):
            gates[row, k] = tanh_half[row, k] * half + half
        for k in range(u):
            pre_h[row, k] = xw[row, 2 * u + k] + gates[row, u + k] * hu[row, 2 * u + k]


@_jit
def _gru_output(hh, gates, h_prev, h):
    for row in range(h.shape[0]):
        for k in range(h.shape[1]):
            h[row, k] = hh[row, k] + gates[row, k] * (h_prev[row, k] - hh[row, k])


def gru_step(xw, hu, h_prev, units):
    u, half = units, xw.dtype.type(0.5)
    pre = np.empty((xw.shape[0], 2 * u), dtype=xw.dtype)
    half_pre = np.empty_like(pre)
    _gru_inputs(xw, hu, pre, half_pre, half)
    np.tanh(half_pre, out=half_pre)
    gates, pre_h = np.empty_like(pre), np.empty_like(h_prev)
    _gru_candidate(half_pre, xw, hu, gates, pre_h, half)
    hh = np.tanh(pre_h)
    h = np.empty_like(h_prev)
    _gru_output(hh, gates, h_prev, h)
    z, r = gates[:, :u], gates[:, u:]
    return h, (pre[:, :u], pre[:, u:], pre_h, z, r, hh, hu[:, 2 * u :], h_prev)


@_jit
def _gru_backward(dh, z, r, hh, m_h, h_prev, d_xw, d_hu, dh_prev, one):
    u = dh.shape[1]
    for row in range(dh.shape[0]):
        for k in range(u):
            d, zk, rk, hk = dh[row, k], z[row, k], r[row, k], hh[row, k]
            d_z = ((one - zk) * zk) * (d * (h_prev[row, k] - hk))
            d_pre_h = (one - hk * hk) * (d * (one - zk))
            d_r = ((one - rk) * rk) * (d_pre_h * m_h[row, k])
            d_xw[row, k] = d_hu[row, k] = d_z
            d_xw[row, u + k] = d_hu[row, u + k] = d_r
            d_xw[row, 2 * u + k] = d_pre_h
            d_hu[row, 2 * u + k] = d_pre_h * rk
            dh_prev[row, k] = d * zk


def gru_step_backward(dh, record, units):
    pre_z, pre_r, pre_h, z, r, hh, m_h, h_prev = record
    d_xw = np.empty((dh.shape[0], 3 * units), dtype=dh.dtype)
    d_hu, dh_prev = np.empty_like(d_xw), np.empty_like(dh)
    _gru_backward(dh, z, r, hh, m_h, h_prev, d_xw, d_hu, dh_prev, dh.dtype.type(1.0))
    return d_xw, d_hu, dh_prev


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
        from . import numpy as reference

        return reference.softmax_cross_entropy(logits, labels)
    shifted = np.empty(logits.shape, logits.dtype)
    _shift_by_row_max(logits, shifted)
    probs = np.exp(shifted)
    sums = np.add.reduce(probs, axis=1)
    losses = np.log(sums)
    dtype = probs.dtype.type
    _cross_entropy_gradient(probs, shifted, sums, losses, labels, dtype(1.0), dtype(1.0 / n))
    return float(np.add.reduce(losses)) / n, probs
