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


# The layer kernels live in their own module; the backend is this one module for its callers.
from .numba_layers import (  # noqa: E402, F401
    avg_pool_backward,
    bias_relu,
    bias_sigmoid,
    bias_tanh,
    col2im,
    im2col,
    max_pool_blocks,
    max_pool_blocks_backward,
    max_pool_offsets,
    max_pool_offsets_backward,
    relu_backward,
    sigmoid_backward,
    softmax_cross_entropy,
    tanh_backward,
)
