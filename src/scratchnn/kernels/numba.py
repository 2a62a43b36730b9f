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
