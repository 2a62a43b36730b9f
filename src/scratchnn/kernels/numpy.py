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
