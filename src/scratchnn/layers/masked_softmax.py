"""Softmax over the last axis with blocked entries that get exactly zero weight, and its backward.

Attention needs a softmax whose masked entries weigh nothing at all: not ``exp(-1e9)`` (which
leaves weights of about 1e-434 that are zero in float64 only by luck of underflow, and whose rows
of nothing but masked entries come out uniform), but a true zero. Blocked scores become
``-inf``, so ``exp`` gives exactly 0. A row with every entry blocked would compute
``-inf - (-inf)``; its maximum is taken as 0 instead, its sum as 1, so the row comes out all
zeros, with no NaN and no floating-point warning. A row is empty when the *mask* blocks all of
it: scores that overflowed to ``-inf`` everywhere give NaN, which ``predict`` reports as
overflow, never a silent row of zeros.
"""

from __future__ import annotations

import numpy as np


def masked_softmax(scores: np.ndarray, blocked: np.ndarray | None = None) -> np.ndarray:
    """``P = softmax(scores)`` over the last axis, in place (``scores`` becomes ``P``).

    ``P_ij = exp(s_ij - m_i) / sum_j' exp(s_ij' - m_i)`` with ``m_i = max_j s_ij`` (subtracting
    the row's maximum keeps ``exp`` from overflowing). ``blocked`` (booleans that broadcast to
    ``scores``' shape, ``True``: may not attend) gives ``P_ij = 0`` exactly; a row blocked
    everywhere gives zeros. Returns ``scores``, now holding ``P``.
    """
    empty = None
    if blocked is not None:
        np.copyto(scores, -np.inf, where=blocked)
        # Rows the mask blocks everywhere, told from the mask itself: a row whose scores merely
        # overflowed to -inf is not empty, and comes out NaN (reported as overflow), not zeros.
        empty = np.asarray(blocked).all(axis=-1, keepdims=True)
    top = scores.max(axis=-1, keepdims=True)
    if empty is not None:
        np.copyto(top, 0.0, where=empty)  # a fully blocked row: exp(-inf - 0) = 0 everywhere
    scores -= top
    np.exp(scores, out=scores)
    total = scores.sum(axis=-1, keepdims=True)
    if empty is not None:
        np.copyto(total, 1.0, where=empty)  # a fully blocked row stays all zeros
    scores /= total
    return scores


def softmax_backward(probabilities: np.ndarray, grad_probabilities: np.ndarray) -> np.ndarray:
    """``dL/ds = P * (dL/dP - sum_j(dL/dP_j * P_j))`` over the last axis, in place on the
    gradient (``grad_probabilities`` becomes ``dL/ds``).

    From ``dP_i/ds_j = P_i (delta_ij - P_j)``. A blocked entry has ``P = 0``, so its score gets
    no gradient, and a fully blocked row gets none at all.
    """
    projected = np.einsum("...j,...j->...", grad_probabilities, probabilities)[..., None]
    grad_probabilities -= projected
    grad_probabilities *= probabilities
    return grad_probabilities
