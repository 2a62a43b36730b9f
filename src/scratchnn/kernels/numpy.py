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
