"""The reference kernels: each optimizer's update as in-place NumPy passes over flat buffers.

Every function updates ``params`` (1-D) and its slots in place from ``grads``; ``scratch`` is a
buffer of the same size the caller reuses. Scalars come already cast to the buffers' dtype, so
each pass rounds exactly as written (the compiled kernels in :mod:`scratchnn.kernels.numba`
repeat these operations, in this order, element by element). With ``rescale`` the gradient is
first multiplied by ``grad_scale`` in place (clipping by global norm: the norm is the caller's).

Every slot (moment, velocity, sum of squares) whose entries fall below ``tiny``, the dtype's
smallest normal number, has them set to +0 once updated and before it is used: a moment whose
gradient stays zero (a dead ReLU unit) would otherwise decay into subnormal numbers, on which
x86 CPUs take a slow microcode path for every later pass (an Adam step tens of times slower).
The flush is three comparisons into ``scratch`` (viewed as booleans; two for a slot of squares,
never negative) and, only when an entry is hit, a masked write. NaN, zeros and -0 are kept. The
parameters do not move differently: a subnormal moment changes a weight by less than 1e-30,
far below its last bit.
"""

from __future__ import annotations

import numpy as np


def _flush(slot, scratch, tiny, signed: bool = True) -> None:
    """Set the nonzero entries of ``slot`` in ``(-tiny, tiny)`` to +0 (``(0, tiny)`` unsigned).

    ``scratch`` (same size, a float dtype: at least 2 bytes an entry) holds two boolean masks.
    Zeros are left out of the mask: a flushed slot stays zero while its gradient does, so the
    mask is empty on most steps and the masked write (slow when dense) is skipped.
    """
    size = slot.size
    masks = scratch.view(np.bool_)
    hit, other = masks[:size], masks[size : 2 * size]
    np.less(slot, tiny, out=hit)
    if signed:
        np.greater(slot, -tiny, out=other)
        np.logical_and(hit, other, out=hit)
        np.not_equal(slot, 0, out=other)
    else:
        np.greater(slot, 0, out=other)
    np.logical_and(hit, other, out=hit)
    if hit.any():
        np.copyto(slot, 0, where=hit)


def sgd(params, grads, scratch, lr, grad_scale, rescale) -> None:
    """``p -= lr g``."""
    if rescale:
        grads *= grad_scale
    np.multiply(grads, lr, out=scratch)
    params -= scratch


def sgd_momentum(params, grads, velocity, scratch, lr, momentum, nesterov, grad_scale, rescale,
                 tiny):  # fmt: skip
    """``v = momentum v + g``; ``p -= lr v``, or with Nesterov ``p -= lr (g + momentum v)``."""
    if rescale:
        grads *= grad_scale
    velocity *= momentum
    velocity += grads
    _flush(velocity, scratch, tiny)
    if nesterov:
        np.multiply(velocity, momentum, out=scratch)
        scratch += grads
    else:
        scratch[...] = velocity
    scratch *= lr
    params -= scratch


def rmsprop(params, grads, square_avg, scratch, lr, rho, one_minus_rho, eps, grad_scale, rescale,
            tiny):  # fmt: skip
    """``s = rho s + (1 - rho) g^2``; ``p -= lr g / (sqrt(s) + eps)``."""
    if rescale:
        grads *= grad_scale
    square_avg *= rho
    np.multiply(grads, grads, out=scratch)
    scratch *= one_minus_rho
    square_avg += scratch
    _flush(square_avg, scratch, tiny, signed=False)
    np.sqrt(square_avg, out=scratch)
    scratch += eps
    np.divide(grads, scratch, out=scratch)
    scratch *= lr
    params -= scratch


def adagrad(params, grads, sum_squares, scratch, lr, eps, grad_scale, rescale, tiny) -> None:
    """``s += g^2``; ``p -= lr g / (sqrt(s) + eps)``."""
    if rescale:
        grads *= grad_scale
    np.multiply(grads, grads, out=scratch)
    sum_squares += scratch
    _flush(sum_squares, scratch, tiny, signed=False)
    np.sqrt(sum_squares, out=scratch)
    scratch += eps
    np.divide(grads, scratch, out=scratch)
    scratch *= lr
    params -= scratch


def adam(params, grads, m_sum, v_sum, scratch, beta_1, beta_2, eps_k, step_scale, decay,
         decoupled, grad_scale, rescale, tiny) -> None:  # fmt: skip
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
    _flush(m_sum, scratch, tiny)  # while m~ is still in the cache
    v_sum *= beta_2
    np.multiply(grads, grads, out=scratch)
    v_sum += scratch
    _flush(v_sum, scratch, tiny, signed=False)
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


def lstm_forward(xw, t, bias, hu, c_prev, gates, c, phi_c, h):
    """One LSTM step with sigmoid gates and a tanh cell (see ``LSTMCell``), into buffers.

    ``z = (xw_t + bias) + hu``: ``xw (N, T, 4u)`` at step ``t``, ``bias (4u,)`` (or None) and
    ``hu (N, 4u)``; ``gates (N, 4u)`` gets ``[i, f, g, o]``, ``c``, ``phi_c = tanh(c)`` and
    ``h = o phi_c`` (``(N, u)``) the rest.
    """
    u = c.shape[1]
    if bias is None:
        np.add(xw[:, t], hu, out=gates)
    else:
        np.add(xw[:, t], bias, out=gates)
        gates += hu
    sigmoid_blocks = (gates[:, : 2 * u], gates[:, 3 * u :])  # i, f and o: (1 + tanh(z / 2)) / 2
    for block in sigmoid_blocks:
        block *= 0.5
    np.tanh(gates, out=gates)
    for block in sigmoid_blocks:
        block *= 0.5
        block += 0.5
    np.multiply(gates[:, u : 2 * u], c_prev, out=c)
    c += gates[:, :u] * gates[:, 2 * u : 3 * u]
    np.tanh(c, out=phi_c)
    np.multiply(gates[:, 3 * u :], phi_c, out=h)


def lstm_step(xw, hu, c_prev, units):
    """One LSTM step on fresh arrays: ``h``, ``c`` and the record
    ``(z, i, f, g, o, c_prev, c, tanh(c))``; ``xw (N, 4u)``."""
    u = units
    gates = np.empty(xw.shape, dtype=xw.dtype)
    c, phi_c, h = (np.empty_like(c_prev) for _ in range(3))
    lstm_forward(xw[:, None], 0, None, hu, c_prev, gates, c, phi_c, h)
    z = xw + hu
    return h, c, (z, gates[:, :u], gates[:, u : 2 * u], gates[:, 2 * u : 3 * u], gates[:, 3 * u :],
                  c_prev, c, phi_c)  # fmt: skip


def lstm_backward(dh, dc_next, gates, c_prev, phi_c, d_xw, t, d_hu, dc_prev):
    """:func:`lstm_forward`'s backward (``LSTMCell``'s formulas): ``dz`` into ``d_hu (N, 4u)``
    and ``d_xw[:, t]`` (``d_xw (N, T, 4u)``), ``dc_{t-1}`` into ``dc_prev``; ``dc_next`` may be
    None."""
    u = dh.shape[1]
    i, f, g, o = (gates[:, k * u : (k + 1) * u] for k in range(4))
    dc = np.multiply(phi_c, phi_c)  # tanh' = 1 - tanh^2
    np.subtract(1.0, dc, out=dc)
    dc *= dh * o
    if dc_next is not None:
        dc += dc_next
    for block, (gate, grad_gate) in enumerate(
        ((i, g * dc), (f, c_prev * dc), (None, i * dc), (o, phi_c * dh))
    ):
        out = d_hu[:, block * u : (block + 1) * u]
        if gate is None:  # the tanh candidate g
            np.multiply(g, g, out=out)
            np.subtract(1.0, out, out=out)
        else:  # sigmoid' = (1 - a) a
            np.subtract(1.0, gate, out=out)
            out *= gate
        out *= grad_gate
    d_xw[:, t] = d_hu
    np.multiply(f, dc, out=dc_prev)


def lstm_step_backward(dh, dc_next, record, units):
    """``(dz, dc_prev)`` of :func:`lstm_step`; ``dc_next`` may be None."""
    z, i, f, g, o, c_prev, c, phi_c = record
    gates = i.base if i.base is not None and i.base.shape == z.shape else np.hstack([i, f, g, o])
    dz, dc_prev = np.empty_like(z), np.empty_like(dh)
    lstm_backward(dh, dc_next, gates, c_prev, phi_c, dz[:, None], 0, dz, dc_prev)
    return dz, dc_prev


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
