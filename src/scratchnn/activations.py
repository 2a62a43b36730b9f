"""Activation functions and their derivatives, as pure math.

Each activation is a tiny class with

* ``forward(z) -> a``: the function applied elementwise (softmax: along each row);
* ``backward(grad_a, z, a) -> grad_z``: the chain rule through it, given the cached input ``z``
  and output ``a`` (both of shape ``(batch, units)``).

Both take an optional ``out=``: a preallocated array of the result's shape that the result may be
written into (the training loop reuses such buffers across batches instead of allocating). The
result is always the return value: an activation that cannot write in place returns a new array,
and the identity returns its input.

Every formula here is stable for inputs as large as 1e4 in magnitude: no overflow, no warning.
Layers use them through :class:`scratchnn.layers.Dense` (``activation="relu"``) or the activation
layers (:class:`scratchnn.layers.ReLU`, ...).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._validation import check_number, from_settings, lookup

# The largest slope LeakyReLU and ELU take: beyond it float32 outputs overflow for inputs near 1e35.
MAX_ALPHA = 1e3


class Activation:
    """Base class: an elementwise function ``a = f(z)`` and its chain rule."""

    name = "activation"

    def forward(self, z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        raise NotImplementedError

    def backward(
        self, grad_a: np.ndarray, z: np.ndarray, a: np.ndarray, out: np.ndarray | None = None
    ) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name}

    def __repr__(self) -> str:
        extra = {k: v for k, v in self.get_config().items() if k != "name"}
        args = ", ".join(f"{k}={v!r}" for k, v in extra.items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Activation) and self.get_config() == other.get_config()

    __hash__ = None  # type: ignore[assignment]


class Linear(Activation):
    """Identity: ``a = z``, ``da/dz = 1``."""

    name = "linear"

    def forward(self, z, out=None):
        return z

    def backward(self, grad_a, z, a, out=None):
        return grad_a


def stable_sigmoid(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Logistic function ``1 / (1 + exp(-z))`` without overflow for large ``|z|``.

    Computed as ``(1 + tanh(z / 2)) / 2``, the same function: ``tanh`` saturates instead of
    overflowing, and it is one ufunc instead of the exp/where/divide of the two-branch form.
    """
    out = np.multiply(z, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


class Sigmoid(Activation):
    """Logistic sigmoid: ``a = 1 / (1 + exp(-z))``, ``da/dz = a (1 - a)``."""

    name = "sigmoid"

    def forward(self, z, out=None):
        return stable_sigmoid(z, out)

    def backward(self, grad_a, z, a, out=None):
        out = np.subtract(1.0, a, out=out)
        out *= a
        out *= grad_a
        return out


class Tanh(Activation):
    """Hyperbolic tangent: ``a = tanh(z)``, ``da/dz = 1 - a^2``."""

    name = "tanh"

    def forward(self, z, out=None):
        return np.tanh(z, out=out)

    def backward(self, grad_a, z, a, out=None):
        out = np.multiply(a, a, out=out)
        np.subtract(1.0, out, out=out)
        out *= grad_a
        return out


class ReLU(Activation):
    """Rectified linear unit: ``a = max(z, 0)``, ``da/dz = [z > 0]``."""

    name = "relu"

    def forward(self, z, out=None):
        return np.maximum(z, 0, out=out)

    def backward(self, grad_a, z, a, out=None):
        return np.multiply(grad_a, a > 0, out=out)


class LeakyReLU(Activation):
    """Leaky ReLU: ``a = z`` for ``z > 0`` else ``alpha z``; ``da/dz = 1`` or ``alpha``."""

    name = "leaky_relu"

    def __init__(self, alpha: float = 0.01) -> None:
        self.alpha = check_number(alpha, "alpha", low=0.0, high=MAX_ALPHA)

    def forward(self, z, out=None):
        return np.where(z > 0, z, self.alpha * z)

    def backward(self, grad_a, z, a, out=None):
        return grad_a * np.where(z > 0, 1.0, self.alpha).astype(grad_a.dtype)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "alpha": self.alpha}


class ELU(Activation):
    """Exponential linear unit: ``a = z`` for ``z > 0`` else ``alpha (exp(z) - 1)``.

    ``da/dz = 1`` for ``z > 0`` else ``a + alpha``. ``expm1`` of ``min(z, 0)`` never overflows.
    """

    name = "elu"

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = check_number(alpha, "alpha", low=0.0, high=MAX_ALPHA)

    def forward(self, z, out=None):
        return np.where(z > 0, z, self.alpha * np.expm1(np.minimum(z, 0)))

    def backward(self, grad_a, z, a, out=None):
        return grad_a * np.where(z > 0, 1.0, a + self.alpha).astype(grad_a.dtype)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "alpha": self.alpha}


class GELU(Activation):
    """Gaussian error linear unit, tanh form (as GPT-2 and ``approximate="tanh"`` in PyTorch).

    ``a = z/2 (1 + tanh(u))`` with ``u = sqrt(2/pi) (z + 0.044715 z^3)``;
    ``da/dz = (1 + tanh u)/2 + z/2 (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 z^2)``.

    ``u`` is computed from ``z`` clipped to ``[-20, 20]``: beyond that ``tanh u`` is exactly
    ``+-1`` in float32 and float64 alike (``|u| > 300``), so nothing changes but ``z^3``, which no
    longer overflows for large inputs. The constants are public (``c = sqrt(2/pi)``, ``k``,
    ``clip``) for those who write the formula elsewhere (the ONNX exporter).
    """

    name = "gelu"
    c = float(np.sqrt(2.0 / np.pi))
    k = 0.044715
    clip = 20.0

    def _tanh_u(self, z):
        clipped = np.clip(z, -self.clip, self.clip)
        # z * z * z, not z**3: NumPy's float power is ~80x slower (a GPT's MLP spent half its
        # training step there)
        return np.tanh(self.c * (clipped + self.k * (clipped * clipped * clipped))), clipped

    def forward(self, z, out=None):
        t, _ = self._tanh_u(z)
        return 0.5 * z * (1.0 + t)

    def backward(self, grad_a, z, a, out=None):
        t, clipped = self._tanh_u(z)
        du_dz = self.c * (1.0 + 3.0 * self.k * clipped * clipped)
        return grad_a * (0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * du_dz)


class Softplus(Activation):
    """Softplus: ``a = log(1 + exp(z))`` computed as ``logaddexp(0, z)``; ``da/dz = sigmoid(z)``."""

    name = "softplus"

    def forward(self, z, out=None):
        return np.logaddexp(0, z).astype(z.dtype, copy=False)

    def backward(self, grad_a, z, a, out=None):
        return grad_a * stable_sigmoid(z)


def _shift_by_max(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``z - max z`` per row, the log-sum-exp shift, defined for infinite logits too.

    A row whose maximum is ``+inf`` gives 0 at its infinite entries and ``-inf`` elsewhere (the
    limit: all its probability on them); a row of ``-inf`` gives zeros (equal probabilities).
    NaN stays NaN. The check costs one pass over the ``(batch, 1)`` maxima.
    """
    peak = z.max(axis=-1, keepdims=True)
    if np.isfinite(peak).all():
        return np.subtract(z, peak, out=out)
    top = np.isposinf(peak[..., 0])
    limit = np.where(np.isposinf(z[top]), 0.0, -np.inf)  # before ``out``, which may be ``z``
    with np.errstate(invalid="ignore"):
        shifted = np.subtract(z, peak, out=out)
    shifted[top] = limit
    shifted[np.isneginf(peak[..., 0])] = 0.0
    return shifted


def softmax(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Row-wise softmax ``exp(z_i - max z) / sum_j exp(z_j - max z)``; rows sum to one."""
    shifted = _shift_by_max(z, out)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=-1, keepdims=True)
    return shifted


def log_softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise ``log softmax(z) = z - max z - log sum exp(z - max z)`` (log-sum-exp form)."""
    shifted = _shift_by_max(z)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


class Softmax(Activation):
    """Softmax over each row: ``a_i = exp(z_i) / sum_j exp(z_j)``.

    Backward (Jacobian-vector product): ``grad_z = a * (grad_a - sum_j grad_a_j a_j)``. Followed by
    categorical cross-entropy the model skips this and uses the fused ``(a - y) / batch``.
    """

    name = "softmax"

    def forward(self, z, out=None):
        return softmax(z, out)

    def backward(self, grad_a, z, a, out=None):
        return a * (grad_a - np.sum(grad_a * a, axis=-1, keepdims=True))


ACTIVATIONS: dict[str, type[Activation]] = {
    cls.name: cls for cls in (Linear, Sigmoid, Tanh, ReLU, LeakyReLU, ELU, GELU, Softplus, Softmax)
}


def get_activation(spec: str | Activation | None) -> Activation:
    """Return an activation from a name (``"relu"``), a config dict, an instance or ``None``."""
    if spec is None:
        return Linear()
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, dict):
        config = dict(spec)
        name = config.pop("name", None)
        cls = lookup(name, ACTIVATIONS, "activation")
        return from_settings(cls, config, f"activation {name!r}")
    return lookup(spec, ACTIVATIONS, "activation")()
