"""Loss functions: the value and its gradient with respect to the predictions, by hand.

Every loss averages a per-sample loss ``l_n`` over the batch: ``L = (1/N) sum_n w_n l_n`` with
sample weights ``w_n`` (all ones by default). ``value_and_grad(y_pred, y_true)`` returns ``L`` and
``dL/dy_pred`` (same shape as ``y_pred``: ``(batch, outputs)``).

Predictions of higher rank, ``(N, ..., K)`` (one prediction per position of a sequence), are
``N P`` rows of ``K`` outputs (``P`` positions per sample): the loss is the mean over every
position, ``L = (1/(N P)) sum_{n,p} w_np l_np``, with sample weights per sample ``(N,)`` or per
position ``(N, ...)``; targets are ``(N, ..., K)``, or integer labels ``(N, ...)`` for
categorical cross-entropy.

The cross-entropies take ``from_logits``: with ``True`` the predictions are raw scores and the
loss applies softmax/sigmoid itself in log-sum-exp form. A model that ends in softmax (or
sigmoid) and trains on categorical (or binary) cross-entropy uses the fused gradient
``dL/dz = (p - y) / N`` whichever way it was written (see :class:`scratchnn.Sequential`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import kernels
from ._validation import check_number, from_settings, lookup
from .activations import log_softmax, softmax, stable_sigmoid

# Probabilities are clipped to [EPS, 1 - EPS] before a log, so log(0) never happens.
EPS = 1e-7


class Loss:
    """Base class: subclasses give ``per_sample`` (``(N,)``) and ``per_sample_grad``."""

    name = "loss"
    fused_activation: str | None = None  # the output activation whose gradient it can fuse
    from_logits = False

    def per_sample(self, y_pred: np.ndarray, y_true: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def per_sample_grad(self, y_pred: np.ndarray, y_true: np.ndarray) -> np.ndarray:
        """Gradient of ``l_n`` with respect to ``y_pred[n]``, stacked: ``(batch, outputs)``."""
        raise NotImplementedError

    def __call__(self, y_pred: np.ndarray, y_true: np.ndarray, sample_weight=None) -> float:
        if y_pred.ndim > 2:
            return self(*_per_position(y_pred, y_true, sample_weight))
        values = self.per_sample(y_pred, y_true)
        if sample_weight is not None:
            values = values * sample_weight
        value = float(np.mean(values))
        if not math.isfinite(value) and np.isfinite(values).all():
            value = float(np.mean(values, dtype=np.float64))  # a float32 sum that overflowed
        return value

    def value_and_grad(
        self, y_pred: np.ndarray, y_true: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> tuple[float, np.ndarray]:
        """Return ``(L, dL/dy_pred)`` for a batch."""
        if y_pred.ndim > 2:
            value, grad = self.value_and_grad(*_per_position(y_pred, y_true, sample_weight))
            return value, grad.reshape(y_pred.shape)
        n = y_pred.shape[0]
        value = self(y_pred, y_true, sample_weight)
        grad = self.per_sample_grad(y_pred, y_true)
        if sample_weight is None:
            grad *= grad.dtype.type(1.0 / n)
        else:
            grad *= (sample_weight / n).astype(grad.dtype)[:, None]
        return value, grad

    def prepare_targets(self, y: np.ndarray, n_outputs: Any, dtype: type) -> np.ndarray:
        """Check ``y`` against a model with ``n_outputs`` outputs; return it in working form.

        ``n_outputs`` may be an output shape ``(..., K)``: targets then have that shape per sample.
        """
        if not isinstance(n_outputs, (int, np.integer)):
            if len(n_outputs) == 1:
                return self.prepare_targets(y, n_outputs[0], dtype)
            return self._prepare_per_position(y, tuple(n_outputs), dtype)
        if y.ndim == 1:
            y = y.reshape(-1, 1)
        if y.shape[1] != n_outputs:
            raise ValueError(
                f"y must have {n_outputs} column(s) to match the model's outputs, "
                f"got shape {y.shape}"
            )
        return y.astype(dtype, copy=False)

    def _prepare_per_position(self, y: np.ndarray, shape: tuple, dtype: type) -> np.ndarray:
        """Targets of one prediction per position: ``(N, *shape)``, each row checked as usual."""
        if y.ndim != len(shape) + 1 or any(
            want is not None and want != got for want, got in zip(shape, y.shape[1:], strict=True)
        ):
            shown = "(batch, " + ", ".join("any" if s is None else str(s) for s in shape) + ")"
            raise ValueError(
                f"y must have shape {shown} to match the model's outputs, got {y.shape}"
            )
        rows = self.prepare_targets(y.reshape(-1, shape[-1]), shape[-1], dtype)
        return rows.reshape(y.shape)

    def on_logits(self) -> Loss:
        """The same loss taking logits (the fused form used after softmax/sigmoid)."""
        if self._logits_twin is None:
            self._logits_twin = type(self)(from_logits=True)
        return self._logits_twin

    _logits_twin: Loss | None = None

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


class MeanSquaredError(Loss):
    """``l_n = mean_k (p_nk - y_nk)^2``; ``dl_n/dp_nk = 2 (p_nk - y_nk) / K``."""

    name = "mse"

    def per_sample(self, y_pred, y_true):
        residual = y_pred - y_true
        return np.mean(residual * residual, axis=1)

    def per_sample_grad(self, y_pred, y_true):
        return (y_pred - y_true) * y_pred.dtype.type(2.0 / y_pred.shape[1])


class MeanAbsoluteError(Loss):
    """``l_n = mean_k |p_nk - y_nk|``; ``dl_n/dp_nk = sign(p_nk - y_nk) / K``."""

    name = "mae"

    def per_sample(self, y_pred, y_true):
        return np.mean(np.abs(y_pred - y_true), axis=1)

    def per_sample_grad(self, y_pred, y_true):
        return np.sign(y_pred - y_true) * y_pred.dtype.type(1.0 / y_pred.shape[1])


class Huber(Loss):
    """Quadratic near zero, linear beyond ``delta``: with ``r = p - y``,

    ``h(r) = r^2 / 2`` for ``|r| <= delta`` else ``delta (|r| - delta / 2)``;
    ``h'(r) = clip(r, -delta, delta)``; ``l_n = mean_k h(r_nk)``.
    """

    name = "huber"

    def __init__(self, delta: float = 1.0) -> None:
        self.delta = check_number(delta, "delta", low=0.0, low_inclusive=False)

    def per_sample(self, y_pred, y_true):
        abs_r = np.abs(y_pred - y_true)
        quadratic = np.minimum(abs_r, self.delta)
        return np.mean(0.5 * quadratic * quadratic + self.delta * (abs_r - quadratic), axis=1)

    def per_sample_grad(self, y_pred, y_true):
        grad = np.clip(y_pred - y_true, -self.delta, self.delta)
        return grad * y_pred.dtype.type(1.0 / y_pred.shape[1])

    def get_config(self):
        return {"name": self.name, "delta": self.delta}


class BinaryCrossEntropy(Loss):
    """``l_n = -mean_k [y log p + (1 - y) log(1 - p)]`` with ``p = sigmoid(z)`` from logits.

    From logits it is computed as ``max(z, 0) - z y + log(1 + exp(-|z|))`` (never overflows);
    ``dl_n/dz_nk = (sigmoid(z_nk) - y_nk) / K``. From probabilities
    ``dl_n/dp = (p - y) / (p (1 - p) K)`` with ``p`` clipped to ``[1e-7, 1 - 1e-7]``.
    """

    name = "binary_crossentropy"
    fused_activation = "sigmoid"

    def __init__(self, from_logits: bool = False) -> None:
        if not isinstance(from_logits, bool):
            raise TypeError(f"from_logits must be True or False, got {from_logits!r}")
        self.from_logits = from_logits

    def per_sample(self, y_pred, y_true):
        if self.from_logits:
            z = y_pred
            values = np.maximum(z, 0) - z * y_true + np.log1p(np.exp(-np.abs(z)))
        else:
            p = np.clip(y_pred, EPS, 1.0 - EPS)
            values = -(y_true * np.log(p) + (1.0 - y_true) * np.log1p(-p))
        return np.mean(values, axis=1)

    def per_sample_grad(self, y_pred, y_true):
        k = y_pred.dtype.type(1.0 / y_pred.shape[1])
        if self.from_logits:
            return (stable_sigmoid(y_pred) - y_true) * k
        p = np.clip(y_pred, EPS, 1.0 - EPS)
        return (p - y_true) / (p * (1.0 - p)) * k

    def value_and_grad(self, y_pred, y_true, sample_weight=None):
        if not self.from_logits or y_pred.ndim > 2:
            return super().value_and_grad(y_pred, y_true, sample_weight)
        # Fused on logits, a third of the ufunc calls of per_sample + per_sample_grad (tiny nets
        # are call-bound): l = softplus(z) - z y with softplus(z) = logaddexp(0, z), which equals
        # max(z, 0) + log1p(exp(-|z|)) and never overflows; dl/dz = sigmoid(z) - y.
        n, k = y_pred.shape
        elementwise = np.logaddexp(0.0, y_pred)
        elementwise -= y_pred * y_true
        grad = stable_sigmoid(y_pred)
        grad -= y_true
        if sample_weight is None:
            value = float(np.add.reduce(elementwise, axis=None)) / (n * k)
            grad *= 1.0 / (n * k)
        else:
            weights = (sample_weight / (n * k)).astype(grad.dtype)
            value = float(np.dot(np.add.reduce(elementwise, axis=1), weights))
            grad *= weights[:, None]
        return value, grad

    def prepare_targets(self, y, n_outputs, dtype):
        y = super().prepare_targets(y, n_outputs, dtype)
        if np.any((y < 0) | (y > 1)):
            raise ValueError(
                "y must hold targets in [0, 1] for binary cross-entropy, "
                f"got values from {y.min():g} to {y.max():g}"
            )
        return y

    def get_config(self):
        return {"name": self.name, "from_logits": self.from_logits}


class CategoricalCrossEntropy(Loss):
    """``l_n = -sum_k y_nk log p_nk`` with ``p = softmax(z)``; labels may be integers or one-hot.

    From logits: ``log p = z - logsumexp(z)`` and ``dl_n/dz_n = p_n - y_n``. From
    probabilities: ``dl_n/dp_nk = -y_nk / p_nk`` with ``p`` clipped to ``[1e-7, 1]``. Integer labels
    ``c_n`` stand for one-hot rows ``y_nk = [k == c_n]``.
    """

    name = "categorical_crossentropy"
    fused_activation = "softmax"

    def __init__(self, from_logits: bool = False) -> None:
        if not isinstance(from_logits, bool):
            raise TypeError(f"from_logits must be True or False, got {from_logits!r}")
        self.from_logits = from_logits

    def _log_probs(self, y_pred):
        if self.from_logits:
            return log_softmax(y_pred)
        return np.log(np.clip(y_pred, EPS, 1.0))

    def per_sample(self, y_pred, y_true):
        log_p = self._log_probs(y_pred)
        if y_true.ndim == 1:
            return -log_p[np.arange(len(y_true)), y_true]
        return -np.sum(y_true * log_p, axis=1)

    def per_sample_grad(self, y_pred, y_true):
        if self.from_logits:
            grad = softmax(y_pred)
            if y_true.ndim == 1:
                grad[np.arange(len(y_true)), y_true] -= 1.0
            else:
                # d/dz of (sum_k y_k) logsumexp(z) - y.z: rows of y need not sum to one
                grad *= np.add.reduce(y_true, axis=1)[:, None]
                grad -= y_true
            return grad
        p = np.clip(y_pred, EPS, 1.0)
        if y_true.ndim == 1:
            grad = np.zeros_like(y_pred)
            rows = np.arange(len(y_true))
            grad[rows, y_true] = -1.0 / p[rows, y_true]
            return grad
        return -y_true / p

    def value_and_grad(self, y_pred, y_true, sample_weight=None):
        if not self.from_logits or y_pred.ndim > 2:
            return super().value_and_grad(y_pred, y_true, sample_weight)
        # Fused on logits: one exp serves both l_n = logsumexp(z_n) - z_n[c_n] and
        # dl_n/dz_n = softmax(z_n) - y_n (per_sample + per_sample_grad would compute it twice).
        if y_true.ndim == 1 and sample_weight is None:  # the common case: a compiled kernel
            return kernels.current(y_pred.dtype).softmax_cross_entropy(y_pred, y_true)
        n = y_pred.shape[0]
        shifted = y_pred - y_pred.max(axis=1, keepdims=True)
        probs = np.exp(shifted)
        sums = np.add.reduce(probs, axis=1)
        losses = np.log(sums)
        if y_true.ndim == 1:
            rows = np.arange(n)
            losses -= shifted[rows, y_true]
            probs /= sums[:, None]
            probs[rows, y_true] -= 1.0
        else:
            row_sums = np.add.reduce(y_true, axis=1)  # soft rows need not sum to one
            losses *= row_sums
            losses -= np.add.reduce(y_true * shifted, axis=1)
            probs *= (row_sums / sums)[:, None]  # d l_n / d z_n = (sum_k y_nk) p_n - y_n
            probs -= y_true
        if sample_weight is None:
            value = float(np.add.reduce(losses)) / n
            probs *= 1.0 / n
        else:
            weights = (sample_weight / n).astype(probs.dtype)
            value = float(np.dot(losses, weights))
            probs *= weights[:, None]
        return value, probs

    def _prepare_per_position(self, y, shape, dtype):
        """Per position: integer labels ``(N, ...)`` or one-hot ``(N, ..., K)``."""
        if y.ndim == len(shape):  # labels: one per position
            if any(w is not None and w != g for w, g in zip(shape[:-1], y.shape[1:], strict=True)):
                raise ValueError(
                    f"y must hold one class label per position, shape (batch, "
                    f"{', '.join('any' if s is None else str(s) for s in shape[:-1])}), got "
                    f"{y.shape}"
                )
            return self.prepare_targets(y.reshape(-1), shape[-1], dtype).reshape(y.shape)
        return super()._prepare_per_position(y, shape, dtype)

    def prepare_targets(self, y, n_outputs, dtype):
        """Integer labels ``(N,)`` stay integers (checked in range); one-hot rows are checked."""
        if not isinstance(n_outputs, (int, np.integer)):
            return super().prepare_targets(y, n_outputs, dtype)
        if y.ndim == 2 and y.shape[1] == 1 and n_outputs > 1:
            y = y[:, 0]
        if y.ndim == 1:
            if y.dtype.kind == "f" and not np.all(y == np.round(y)):
                raise ValueError(
                    "y must hold integer class labels or one-hot rows for categorical "
                    "cross-entropy, got non-integer values"
                )
            if y.min() < 0 or y.max() >= n_outputs:  # checked before a cast that could overflow
                raise ValueError(
                    f"y must hold class labels in [0, {n_outputs - 1}] for a model with "
                    f"{n_outputs} outputs, got labels from {y.min():g} to {y.max():g}"
                )
            return y.astype(np.intp)
        if y.shape[1] != n_outputs:
            raise ValueError(
                f"y one-hot rows must have width {n_outputs} to match the model's outputs, "
                f"got shape {y.shape}"
            )
        return y.astype(dtype, copy=False)

    def get_config(self):
        return {"name": self.name, "from_logits": self.from_logits}


LOSSES: dict[str, type[Loss]] = {
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "mean_absolute_error": MeanAbsoluteError,
    "huber": Huber,
    "binary_crossentropy": BinaryCrossEntropy,
    "bce": BinaryCrossEntropy,
    "categorical_crossentropy": CategoricalCrossEntropy,
    "sparse_categorical_crossentropy": CategoricalCrossEntropy,
    "cross_entropy": CategoricalCrossEntropy,
}


def _per_position(
    y_pred: np.ndarray, y_true: np.ndarray, sample_weight: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(N, ..., K)`` predictions as ``(N P, K)`` rows, with their targets and weights."""
    k = y_pred.shape[-1]
    rows = y_pred.reshape(-1, k)
    positions = len(rows) // max(len(y_pred), 1)
    if y_true.ndim == y_pred.ndim - 1:  # integer labels, one per position
        targets = y_true.reshape(-1)
    else:
        targets = y_true.reshape(-1, k)
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight)
        if sample_weight.ndim == 1:
            sample_weight = np.repeat(sample_weight, positions)
        else:  # one weight per position
            sample_weight = sample_weight.reshape(-1)
    return rows, targets, sample_weight


def get_loss(spec: str | dict | Loss) -> Loss:
    """Return a loss from a name (``"mse"``), a config dict or an instance."""
    if isinstance(spec, Loss):
        return spec
    if isinstance(spec, dict):
        config = dict(spec)
        name = config.pop("name", None)
        return from_settings(lookup(name, LOSSES, "loss"), config, f"loss {name!r}")
    return lookup(spec, LOSSES, "loss")()
