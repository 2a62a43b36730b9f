"""What diagnostics measure in one layer: pure reductions over one batch, summed per epoch.

Definitions (``a`` is a layer's training output on the sampled rows, flattened to ``(rows, units)``;
a *unit* is one output position, a column of ``a``; when the output has an axis of open length
(sequences), a unit is one feature of the last axis and every position of every row is a row of
``a``):

* ``mean``, ``std``: over every finite entry of ``a``;
* ``dead_fraction`` (ReLU only, :data:`DEAD_ACTIVATIONS`): the fraction of units that are zero for
  every sampled row; over an epoch, for every sampled row of the epoch. Leaky ReLU, ELU and GELU
  pass a gradient for negative inputs, so their units cannot die;
* ``saturated_fraction`` (sigmoid and tanh, :data:`SATURATION_BOUNDS`): the fraction of entries
  outside ``(low, high)``, where the derivative is below 4% of its peak: sigmoid below 0.01 or
  above 0.99 (``sigma' < 0.0099``), tanh beyond +-0.99 (``tanh' < 0.02``);
* ``nonfinite_fraction``: the fraction of entries that are NaN or infinite;
* ``gradient norm`` ``||dL/dP||_2`` per parameter array ``P``; ``update ratio``
  ``||P_after - P_before||_2 / ||P_before||_2`` per array and step.
"""

from __future__ import annotations

import math

import numpy as np

DEAD_ACTIVATIONS = frozenset({"relu"})
SATURATION_BOUNDS = {"sigmoid": (0.01, 0.99), "tanh": (-0.99, 0.99)}


def norm(array: np.ndarray) -> float:
    """``||array||_2`` over all entries, without a temporary (a dot product of the flat view).

    Finite entries give a finite norm: when the sum of squares overflows (weights of 1e20 in
    float32), it is taken again over ``array / max|array|`` and scaled back.
    """
    flat = array.reshape(-1)
    with np.errstate(over="ignore", invalid="ignore"):
        squares = float(np.dot(flat, flat))
        if math.isfinite(squares) or flat.size == 0:
            return math.sqrt(squares)
        largest = float(np.max(np.abs(flat)))
        if not math.isfinite(largest):
            return largest  # inf, or NaN: the non-finite finding reports it
        scaled = flat / np.asarray(largest, flat.dtype)
        return largest * math.sqrt(float(np.dot(scaled, scaled)))


def activation_statistics(output: np.ndarray, activation: str | None) -> dict[str, float]:
    """Mean, std and the dead, saturated and non-finite fractions of one batch's ``output``.

    ``output`` is ``(rows, ...)``; ``activation`` the layer's final activation (its
    ``output_activation``). The dead fraction is given for ReLU layers, the saturated fraction
    for sigmoid and tanh layers, and neither for the others.
    """
    sums = ActivationSums(activation, output[0].size)
    sums.add(output)
    return sums.summary()


class ActivationSums:
    """The sums behind :func:`activation_statistics`, added batch after batch (an epoch's worth).

    Each :meth:`add` costs a few reductions over the sampled rows and one temporary of them.
    """

    def __init__(self, activation: str | None, units: int) -> None:
        self.activation = activation
        self.dead = activation in DEAD_ACTIVATIONS
        self.bounds = SATURATION_BOUNDS.get(activation or "")
        self.count = 0  # entries seen
        self.finite_count = 0
        self.mean = 0.0  # of the finite entries
        self.squares = 0.0  # sum of squared deviations from the mean (M2)
        self.saturated = 0
        self.units = units
        self.alive = np.zeros(units, dtype=bool) if self.dead else None

    def add(self, output: np.ndarray) -> None:
        """Add one batch of outputs ``(rows, ...)`` (rows: the sampled ones).

        Mean and squared deviations of the batch in its own dtype (deviations from the batch
        mean, so float32 loses nothing to cancellation), merged with Chan's formula.
        """
        rows = output.reshape(-1, self.units)
        values = rows.reshape(-1)
        self.count += values.size
        if self.alive is not None and len(rows):
            # ReLU outputs are >= 0: a unit is alive in this batch when its column max is > 0.
            self.alive |= np.maximum.reduce(rows, axis=0) > 0
        if self.bounds is not None:
            low, high = self.bounds
            self.saturated += int(np.count_nonzero(values < low) + np.count_nonzero(values > high))
        total = float(np.add.reduce(values))
        if not math.isfinite(total):  # rare: leave the non-finite entries out
            values = values[np.isfinite(values)].astype(np.float64)
            total = float(np.add.reduce(values))
        if not values.size:
            return
        mean = total / values.size
        deviations = values - values.dtype.type(mean)
        squares = float(np.dot(deviations, deviations))
        if not math.isfinite(squares):  # float32 squares beyond 3e38
            deviations = deviations.astype(np.float64)
            squares = float(np.dot(deviations, deviations))
        n, delta = self.finite_count + values.size, mean - self.mean
        self.squares += squares + delta * delta * self.finite_count * values.size / n
        self.mean += delta * values.size / n
        self.finite_count = n

    def summary(self) -> dict[str, float]:
        """The statistics of everything added so far (NaN for those with nothing to average)."""
        nan = float("nan")
        mean, variance = nan, nan
        if self.finite_count:
            mean, variance = self.mean, self.squares / self.finite_count
        result = {
            "mean": mean,
            "std": math.sqrt(max(variance, 0.0)) if math.isfinite(variance) else nan,
            "nonfinite_fraction": 1.0 - self.finite_count / self.count if self.count else nan,
        }
        if self.alive is not None:
            result["dead_fraction"] = 1.0 - float(np.mean(self.alive)) if self.count else nan
        if self.bounds is not None:
            result["saturated_fraction"] = self.saturated / self.count if self.count else nan
        return result


class MeanSeries:
    """Running means of named numbers over the sampled steps of an epoch (NaNs skipped)."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def add(self, name: str, value: float) -> None:
        self.sums.setdefault(name, 0.0)
        self.counts.setdefault(name, 0)
        if not math.isnan(value):
            self.sums[name] += value
            self.counts[name] += 1

    def means(self) -> dict[str, float]:
        return {
            name: self.sums[name] / self.counts[name] if self.counts[name] else float("nan")
            for name in self.sums
        }
