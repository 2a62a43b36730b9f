"""The gradient of a recurrent layer over its time steps: does it reach the first steps?

Backpropagation through time multiplies the gradient by one step's Jacobian per step it goes
back (``dL/dh_{t-1} = dL/dh_t dh_t/dh_{t-1}``). Where those factors are below 1 the gradient
that reaches the early steps vanishes and the layer cannot learn what depends on them; above 1
it explodes. What a recurrent layer's backward returns, ``dL/dx: (N, T, F)``, shows it:

* ``g_t``, the **gradient norm at step t**: ``||dL/dx_t||_2`` over the features, averaged over
  the batch's rows (a row whose gradient at ``t`` is exactly zero, a padded step, is left out;
  a step with none is NaN). Steps are in the order the layer reads them (reversed for
  ``go_backwards``); for ``Bidirectional`` ``dL/dx`` sums both directions, so a gradient
  vanishing in one is hidden by the other.
* the **first-to-last ratio** ``mean(g over the first tenth of the steps) / mean(g over the
  last tenth)`` (at least one step each). Compare it with ``THRESHOLDS["time_vanishing"]`` and
  ``["time_exploding"]``.

It measures the gradient from every loss term at once: with a loss at every step
(``return_sequences``) each step also gets its own term's gradient, so a ratio near 1 there
does not prove that long-range gradients survive. The clearest case is a loss on the last
output only.
"""

from __future__ import annotations

import numpy as np


class StepNormSums:
    """Sums of ``||dL/dx_t||`` over rows, and counts of rows, per step, over several batches."""

    def __init__(self, backwards: bool = False) -> None:
        self.backwards = backwards
        self.sums: np.ndarray | None = None
        self.counts: np.ndarray | None = None

    def add(self, grad_input: np.ndarray) -> None:
        """Add one batch's ``dL/dx (N, T, F)`` (batches of another length start the sums over)."""
        norms = np.sqrt(np.einsum("ntf,ntf->nt", grad_input, grad_input, dtype=np.float64))
        if self.backwards:
            norms = norms[:, ::-1]
        if self.sums is None or len(self.sums) != norms.shape[1]:
            self.sums = np.zeros(norms.shape[1])
            self.counts = np.zeros(norms.shape[1])
        self.sums += norms.sum(axis=0)
        self.counts += np.count_nonzero(norms, axis=0)

    def curve(self) -> np.ndarray:
        """``g_t`` per step: the mean norm over the rows with a gradient there (NaN: none)."""
        if self.sums is None:
            return np.zeros(0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.counts > 0, self.sums / np.maximum(self.counts, 1), np.nan)


def first_to_last(curve: np.ndarray) -> float:
    """``mean(g)`` over the first tenth of the steps with a value over that of the last tenth.

    0 when the gradient vanished entirely; NaN when fewer than two steps have a value.
    """
    values = curve[np.isfinite(curve)]
    if len(values) < 2:
        return float("nan")
    window = max(1, len(values) // 10)
    first, last = float(values[:window].mean()), float(values[-window:].mean())
    if last == 0.0:
        return float("nan") if first == 0.0 else float("inf")
    return first / last
