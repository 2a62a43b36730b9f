"""The compiled kernels: each optimizer's update in one pass over memory (numba, ``fast`` extra).

Same signatures and the same operations, in the same order and precision, as
:mod:`scratchnn.kernels.numpy`, one element at a time: each intermediate is rounded to the
buffers' dtype exactly where a NumPy pass rounds it, so results are bit-identical. That holds
because numba compiles without fast-math (``fastmath=False``, its default: no reassociation) and
emits separate multiply and add instructions that LLVM does not contract into fused
multiply-adds (checked by ``tests/test_kernels.py`` on the machine's assembly). One pass instead of
up to ten saves the memory traffic that bounds the NumPy path.

Every optimizer slot (moment, velocity, sum of squares) that falls below the dtype's smallest
normal number ``tiny`` is set to +0 before it is used or stored, as the NumPy kernels do: a moment
whose gradient stays zero (a dead ReLU unit) would otherwise decay into subnormal numbers, on which
x86 CPUs take a slow microcode path (an Adam step tens of times slower). Here that is two compares
per element inside the loop. NaN compares false and is kept, and so are zeros and -0.

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
def sgd_momentum(params, grads, velocity, scratch, lr, momentum, nesterov, grad_scale, rescale,
                 tiny):  # fmt: skip
    zero = tiny - tiny  # +0 in the buffers' dtype (a literal 0.0 would widen float32 to float64)
    for i in range(params.size):
        g = grads[i]
        if rescale:
            g = g * grad_scale
            grads[i] = g
        v = velocity[i] * momentum + g
        if -tiny < v < tiny and v != zero:  # subnormal: flushed to +0, see the module docstring
            v = zero
        velocity[i] = v
        if nesterov:
            params[i] = params[i] - (v * momentum + g) * lr
        else:
            params[i] = params[i] - v * lr


@_jit
def rmsprop(params, grads, square_avg, scratch, lr, rho, one_minus_rho, eps, grad_scale, rescale,
            tiny):  # fmt: skip
    zero = tiny - tiny
    for i in range(params.size):
        g = grads[i]
        if rescale:
            g = g * grad_scale
            grads[i] = g
        s = square_avg[i] * rho + (g * g) * one_minus_rho
        if zero < s < tiny:  # a sum of squares is never negative
            s = zero
        square_avg[i] = s
        params[i] = params[i] - (g / (np.sqrt(s) + eps)) * lr


@_jit
def adagrad(params, grads, sum_squares, scratch, lr, eps, grad_scale, rescale, tiny):
    zero = tiny - tiny
    for i in range(params.size):
        g = grads[i]
        if rescale:
            g = g * grad_scale
            grads[i] = g
        s = sum_squares[i] + g * g
        if zero < s < tiny:
            s = zero
        sum_squares[i] = s
        params[i] = params[i] - (g / (np.sqrt(s) + eps)) * lr


@_jit
def adam(params, grads, m_sum, v_sum, scratch, beta_1, beta_2, eps_k, step_scale, decay,
         decoupled, grad_scale, rescale, tiny):  # fmt: skip
    zero = tiny - tiny
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
        if -tiny < m < tiny and m != zero:
            m = zero
        if zero < v < tiny:
            v = zero
        m_sum[i] = m
        v_sum[i] = v
        params[i] = p - (m / (np.sqrt(v) + eps_k)) * step_scale


# -- LSTM step (sigmoid gates, tanh cell) -------------------------------------------------------
# tanh itself stays NumPy's ufunc (numba's libm tanh differs from NumPy's SIMD one by up to
# 3 ulp); the arithmetic around it, 15 NumPy passes per step, is fused into two loops forward
# and one backward. The loops take the whole ``(N, T, 4u)`` input product and the step ``t``
# (a C-contiguous array numba can vectorise, where a strided step view defeats it), and run
# one gate block at a time, with no branch inside a loop.


@_jit
def _lstm_pre(xw, t, bias, has_bias, hu, pre, half):
    # z = (xw_t + b) + hu (the order of x W + b, then + h U); pre = z / 2 on the sigmoid blocks
    # (i, f, o), z on the candidate block
    u = pre.shape[1] // 4
    for row in range(pre.shape[0]):
        if has_bias:
            for k in range(4 * u):
                pre[row, k] = (xw[row, t, k] + bias[k]) + hu[row, k]
        else:
            for k in range(4 * u):
                pre[row, k] = xw[row, t, k] + hu[row, k]
        for k in range(2 * u):
            pre[row, k] = pre[row, k] * half
        for k in range(3 * u, 4 * u):
            pre[row, k] = pre[row, k] * half


@_jit
def _lstm_cell(gates, c_prev, c, half):
    # in place: tanh(z / 2) / 2 + 1 / 2 on the sigmoid blocks (sigmoid); c = f c_prev + i g
    u = c.shape[1]
    for row in range(c.shape[0]):
        for k in range(2 * u):
            gates[row, k] = gates[row, k] * half + half
        for k in range(3 * u, 4 * u):
            gates[row, k] = gates[row, k] * half + half
        for k in range(u):
            c[row, k] = gates[row, u + k] * c_prev[row, k] + gates[row, k] * gates[row, 2 * u + k]


def lstm_forward(xw, t, bias, hu, c_prev, gates, c, phi_c, h):
    """One LSTM step into buffers: ``gates (N, 4u)`` gets ``[i, f, g, o]``, then ``c``,
    ``phi_c = tanh(c)`` and ``h = o phi_c`` (``(N, u)``); ``xw (N, T, 4u)`` at step ``t``, plus
    ``bias (4u,)`` unless it is None."""
    half = gates.dtype.type(0.5)
    has_bias = bias is not None
    _lstm_pre(xw, t, bias if has_bias else hu[0], has_bias, hu, gates, half)
    np.tanh(gates, out=gates)
    _lstm_cell(gates, c_prev, c, half)
    np.tanh(c, out=phi_c)
    np.multiply(gates[:, 3 * c.shape[1] :], phi_c, out=h)


def lstm_step(xw, hu, c_prev, units):
    u = units
    gates = np.empty(xw.shape, dtype=xw.dtype)
    c, phi_c, h = (np.empty_like(c_prev) for _ in range(3))
    lstm_forward(xw[:, None], 0, None, hu, c_prev, gates, c, phi_c, h)
    z = xw + hu
    return h, c, (z, gates[:, :u], gates[:, u : 2 * u], gates[:, 2 * u : 3 * u], gates[:, 3 * u :],
                  c_prev, c, phi_c)  # fmt: skip


@_jit
def _lstm_backward(dh, dc_next, has_next, gates, c_prev, phi_c, d_xw, t, d_hu, dc_prev, one):
    # one short loop per gate block (few arrays each, so LLVM vectorises them); dc_prev holds
    # the cell's total gradient dc until the last loop turns it into f dc
    u = dh.shape[1]
    for row in range(dh.shape[0]):
        for k in range(u):
            p, d, o = phi_c[row, k], dh[row, k], gates[row, 3 * u + k]
            dc_prev[row, k] = (one - p * p) * (d * o)
            d_hu[row, 3 * u + k] = ((one - o) * o) * (p * d)
        if has_next:
            for k in range(u):
                dc_prev[row, k] = dc_prev[row, k] + dc_next[row, k]
        for k in range(u):
            i = gates[row, k]
            d_hu[row, k] = ((one - i) * i) * (gates[row, 2 * u + k] * dc_prev[row, k])
        for k in range(u):
            f = gates[row, u + k]
            d_hu[row, u + k] = ((one - f) * f) * (c_prev[row, k] * dc_prev[row, k])
        for k in range(u):
            g = gates[row, 2 * u + k]
            d_hu[row, 2 * u + k] = (one - g * g) * (gates[row, k] * dc_prev[row, k])
        for k in range(u):
            dc_prev[row, k] = gates[row, u + k] * dc_prev[row, k]
        for k in range(4 * u):
            d_xw[row, t, k] = d_hu[row, k]


def lstm_backward(dh, dc_next, gates, c_prev, phi_c, d_xw, t, d_hu, dc_prev):
    """:func:`lstm_forward`'s backward: ``dz`` into ``d_hu (N, 4u)`` and ``d_xw[:, t]``
    (``d_xw (N, T, 4u)``), ``dc_{t-1}`` into ``dc_prev``; ``dc_next`` may be None."""
    has_next = dc_next is not None
    _lstm_backward(dh, dc_next if has_next else dh, has_next, gates, c_prev, phi_c, d_xw, t,
                   d_hu, dc_prev, dh.dtype.type(1.0))  # fmt: skip


def lstm_step_backward(dh, dc_next, record, units):
    z, i, f, g, o, c_prev, c, phi_c = record
    gates = i.base if i.base is not None and i.base.shape == z.shape else np.hstack([i, f, g, o])
    dz, dc_prev = np.empty_like(z), np.empty_like(dh)
    lstm_backward(dh, dc_next, gates, c_prev, phi_c, dz[:, None], 0, dz, dc_prev)
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
