"""The reference kernels: each optimizer's update as in-place NumPy passes over flat buffers.

Every function updates ``params`` (1-D) and its slots in place from ``grads``; ``scratch`` is a
buffer of the same size the caller reuses. Scalars come already cast to the buffers' dtype, so
each pass rounds exactly as written (the compiled kernels in :mod:`scratchnn.kernels.numba`
repeat these operations, in this order, element by element). With ``rescale`` the gradient is
first multiplied by ``grad_scale`` in place (clipping by global norm: the norm is the caller's).
"""

from __future__ import annotations

import numpy as np


def sgd(params, grads, scratch, lr, grad_scale, rescale) -> None:
    """``p -= lr g``."""
    if rescale:
        grads *= grad_scale
    np.multiply(grads, lr, out=scratch)
    params -= scratch


def sgd_momentum(params, grads, velocity, scratch, lr, momentum, nesterov, grad_scale, rescale):
    """``v = momentum v + g``; ``p -= lr v``, or with Nesterov ``p -= lr (g + momentum v)``."""
    if rescale:
        grads *= grad_scale
    velocity *= momentum
    velocity += grads
    if nesterov:
        np.multiply(velocity, momentum, out=scratch)
        scratch += grads
    else:
        scratch[...] = velocity
    scratch *= lr
    params -= scratch


def rmsprop(params, grads, square_avg, scratch, lr, rho, one_minus_rho, eps, grad_scale, rescale):
    """``s = rho s + (1 - rho) g^2``; ``p -= lr g / (sqrt(s) + eps)``."""
    if rescale:
        grads *= grad_scale
    square_avg *= rho
    np.multiply(grads, grads, out=scratch)
    scratch *= one_minus_rho
    square_avg += scratch
    np.sqrt(square_avg, out=scratch)
    scratch += eps
    np.divide(grads, scratch, out=scratch)
    scratch *= lr
    params -= scratch


def adagrad(params, grads, sum_squares, scratch, lr, eps, grad_scale, rescale) -> None:
    """``s += g^2``; ``p -= lr g / (sqrt(s) + eps)``."""
    if rescale:
        grads *= grad_scale
    np.multiply(grads, grads, out=scratch)
    sum_squares += scratch
    np.sqrt(sum_squares, out=scratch)
    scratch += eps
    np.divide(grads, scratch, out=scratch)
    scratch *= lr
    params -= scratch


def adam(params, grads, m_sum, v_sum, scratch, beta_1, beta_2, eps_k, step_scale, decay,
         decoupled, grad_scale, rescale) -> None:  # fmt: skip
    """Adam on the scaled moments ``m~ = b1 m~ + g``, ``v~ = b2 v~ + g^2`` (see ``Adam``).

    ``p *= decay`` first when ``decoupled`` (AdamW), then
    ``p -= step_scale * m~ / (sqrt(v~) + eps_k)``.
    """
    if rescale:
        grads *= grad_scale
    if decoupled:
        params *= decay
    m_sum *= beta_1
    m_sum += grads
    v_sum *= beta_2
    np.multiply(grads, grads, out=scratch)
    v_sum += scratch
    np.sqrt(v_sum, out=scratch)
    scratch += eps_k
    np.divide(m_sum, scratch, out=scratch)
    scratch *= step_scale
    params -= scratch


def _sigmoid(z):
    """``(1 + tanh(z / 2)) / 2``: :func:`scratchnn.activations.stable_sigmoid`'s passes."""
    out = np.multiply(z, 0.5)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


def lstm_step(xw, hu, c_prev, units):
    """One LSTM step with sigmoid gates and a tanh cell (see ``LSTMCell``), ``(N, 4u)`` in.

    Returns ``h``, ``c`` and the record ``(z, i, f, g, o, c_prev, c, tanh(c))``.
    """
    u = units
    z = xw + hu
    i, f = _sigmoid(z[:, :u]), _sigmoid(z[:, u : 2 * u])
    g, o = np.tanh(z[:, 2 * u : 3 * u]), _sigmoid(z[:, 3 * u :])
    c = f * c_prev + i * g
    phi_c = np.tanh(c)
    h = o * phi_c
    return h, c, (z, i, f, g, o, c_prev, c, phi_c)


def lstm_step_backward(dh, dc_next, record, units):
    """``(dz, dc_prev)`` of :func:`lstm_step` (``LSTMCell``'s formulas); ``dc_next`` may be None."""
    z, i, f, g, o, c_prev, c, phi_c = record
    u = units
    dc = np.multiply(phi_c, phi_c)  # tanh' = 1 - tanh^2
    np.subtract(1.0, dc, out=dc)
    dc *= dh * o
    if dc_next is not None:
        dc += dc_next
    dz = np.empty_like(z)
    for block, (gate, grad_gate) in enumerate(
        ((i, g * dc), (f, c_prev * dc), (None, i * dc), (o, phi_c * dh))
    ):
        out = dz[:, block * u : (block + 1) * u]
        if gate is None:  # the tanh candidate g
            np.multiply(g, g, out=out)
            np.subtract(1.0, out, out=out)
        else:  # sigmoid' = (1 - a) a
            np.subtract(1.0, gate, out=out)
            out *= gate
        out *= grad_gate
    return dz, f * dc


def gru_step(xw, hu, h_prev, units):
    """One GRU step (``reset_after``) with sigmoid gates and a tanh candidate (see ``GRUCell``).

    Returns ``h`` and the record ``(pre_z, pre_r, pre_h, z, r, hh, m_h, h_prev)``.
    """
    u = units
    pre_z = xw[:, :u] + hu[:, :u]
    pre_r = xw[:, u : 2 * u] + hu[:, u : 2 * u]
    z, r = _sigmoid(pre_z), _sigmoid(pre_r)
    m_h = hu[:, 2 * u :]
    pre_h = xw[:, 2 * u :] + r * m_h
    hh = np.tanh(pre_h)
    h = hh + z * (h_prev - hh)  # z h_prev + (1 - z) hh
    return h, (pre_z, pre_r, pre_h, z, r, hh, m_h, h_prev)


def gru_step_backward(dh, record, units):
    """``(d_xw, d_hu, dh_prev)`` of :func:`gru_step` (``GRUCell``'s formulas)."""
    pre_z, pre_r, pre_h, z, r, hh, m_h, h_prev = record
    u = units
    d_xw = np.empty((len(dh), 3 * u), dtype=dh.dtype)
    out = np.subtract(1.0, z, out=d_xw[:, :u])  # sigmoid' = (1 - a) a
    out *= z
    out *= dh * (h_prev - hh)
    d_pre_h = np.multiply(hh, hh)  # tanh' = 1 - tanh^2
    np.subtract(1.0, d_pre_h, out=d_pre_h)
    d_pre_h *= dh * (1 - z)
    out = np.subtract(1.0, r, out=d_xw[:, u : 2 * u])
    out *= r
    out *= d_pre_h * m_h
    d_xw[:, 2 * u :] = d_pre_h
    d_hu = d_xw.copy()
    d_hu[:, 2 * u :] *= r
    return d_xw, d_hu, dh * z


# The layer kernels live in their own module; the backend is this one module for its callers.
from .numpy_layers import (  # noqa: E402, F401
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
