"""Optimizers that update one flat parameter buffer in a single vectorised pass.

A :class:`~scratchnn.Sequential` keeps all its parameters in one 1-D array ``params`` and their
gradients in ``grads`` (the layers hold views into them), so ``optimizer.step(params, grads)``
updates the whole model in one call to a kernel of :mod:`scratchnn.kernels`, whatever its depth:
a handful of in-place NumPy passes, or one compiled loop with the ``numba`` backend (same bits).

Notation: ``g`` gradient, ``lr`` learning rate (a float or a :mod:`~scratchnn.schedules`
schedule evaluated at the update count ``t``), all operations elementwise.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import kernels
from ._validation import check_dtype, check_number, from_settings, lookup
from .schedules import Schedule, get_schedule


class Optimizer:
    """Base class. ``clipnorm`` rescales ``g`` to that global L2 norm when it is longer."""

    name = "optimizer"
    slot_names: tuple[str, ...] = ()
    squares_slots: tuple[str, ...] = ()  # slots of squared gradients: never negative

    def __init__(
        self, learning_rate: float | Schedule | dict = 0.01, clipnorm: float | None = None
    ):
        if isinstance(learning_rate, (Schedule, dict)):
            self.learning_rate: float | Schedule = get_schedule(learning_rate)
        else:
            self.learning_rate = check_number(
                learning_rate, "learning_rate", low=0.0, low_inclusive=False
            )
        self.clipnorm = (
            None
            if clipnorm is None
            else check_number(clipnorm, "clipnorm", low=0.0, low_inclusive=False)
        )
        self.iterations = 0
        self.slots: dict[str, np.ndarray] = {}
        self._scratch: np.ndarray | None = None

    def current_learning_rate(self) -> float:
        """The learning rate the next update uses."""
        if isinstance(self.learning_rate, Schedule):
            return float(self.learning_rate(self.iterations))
        return self.learning_rate

    def build(self, size: int, dtype: type) -> None:
        """Allocate the per-parameter state (moments) for ``size`` parameters."""
        self.slots = {name: np.zeros(size, dtype=dtype) for name in self.slot_names}
        self._scratch = np.empty(size, dtype=dtype)  # reused every step: no per-step allocation
        # slots below the smallest normal number are flushed to zero (no subnormal slow path)
        self._tiny = np.finfo(dtype).tiny

    def step(self, params: np.ndarray, grads: np.ndarray) -> None:
        """Update ``params`` in place from ``grads`` (both 1-D, same length)."""
        if self._scratch is None:
            self.build(params.size, params.dtype)
        elif self._scratch.size != params.size:
            raise ValueError(
                f"this optimizer holds state for {self._scratch.size} parameters, "
                f"got a model with {params.size}; use a new optimizer for a new model"
            )
        cast = grads.dtype.type
        grad_scale, rescale = cast(1.0), False
        if self.clipnorm is not None:
            norm = float(np.sqrt(np.dot(grads, grads)))  # BLAS, one pass; the kernel scales g
            if norm > self.clipnorm:
                grad_scale, rescale = cast(self.clipnorm / norm), True
        lr = self.current_learning_rate()
        self.iterations += 1  # Adam's bias correction counts this update as t = iterations
        self._update(kernels.current(grads.dtype), params, grads, lr, grad_scale, rescale)

    def _update(self, kernel, params, grads, lr, grad_scale, rescale) -> None:
        """Run ``kernel``'s update; scalars are cast to the buffers' dtype before the call.

        ``lr`` is the Python float: each update casts what it derives from it, as NumPy would.
        """
        raise NotImplementedError

    # -- state, for checkpoints -----------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        """Moments and the update count (the schedule position follows from the count)."""
        state: dict[str, Any] = {
            "iterations": self.iterations,
            "slots": {k: v.copy() for k, v in self.slots.items()},
        }
        if self._scratch is not None:
            state["size"] = self._scratch.size
            state["dtype"] = self._scratch.dtype.name
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        """Back to a state from :meth:`get_state`; a non-finite or impossible one is refused."""
        int(state["iterations"])  # a bad count is refused before any change
        slots = state["slots"]
        if set(slots) != set(self.slot_names):
            raise ValueError(
                f"optimizer state must hold slots {sorted(self.slot_names)}, got {sorted(slots)}"
            )
        if "size" in state:
            check_dtype(state["dtype"], "the optimizer state's dtype")
        for key, value in slots.items():  # checked before anything changes
            value = np.asarray(value)
            if value.dtype.kind != "f":  # moments are fractions: integers or booleans cannot be
                raise ValueError(
                    f"optimizer slot {key!r} must hold floats, got dtype {value.dtype}"
                )
            if value.size and not np.isfinite(value).all():
                raise ValueError(f"optimizer slot {key!r} holds NaN or infinite values")
            if key in self.squares_slots and value.size and value.min() < 0:
                raise ValueError(
                    f"optimizer slot {key!r} holds negative values, but it sums squares"
                )
        self.iterations = int(state["iterations"])
        if "size" in state:
            self.build(int(state["size"]), np.dtype(state["dtype"]).type)
            for key, value in slots.items():
                self.slots[key][...] = value

    def get_config(self) -> dict[str, Any]:
        lr = self.learning_rate
        config = {
            "name": self.name,
            "learning_rate": lr.get_config() if isinstance(lr, Schedule) else lr,
            "clipnorm": self.clipnorm,
        }
        config.update(self._hyperparameters())
        return config

    def _hyperparameters(self) -> dict[str, Any]:
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum, PyTorch's form.

    ``v = momentum v + g``; plain: ``p -= lr v``; Nesterov: ``p -= lr (g + momentum v)``.
    Without momentum: ``p -= lr g``.
    """

    name = "sgd"

    def __init__(
        self,
        learning_rate: float | Schedule | dict = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        clipnorm: float | None = None,
    ) -> None:
        super().__init__(learning_rate, clipnorm)
        self.momentum = check_number(momentum, "momentum", low=0.0, high=1.0, high_inclusive=False)
        if not isinstance(nesterov, bool):
            raise TypeError(f"nesterov must be True or False, got {nesterov!r}")
        if nesterov and not self.momentum:
            raise ValueError("nesterov=True needs momentum > 0, got momentum=0")
        self.nesterov = bool(nesterov)
        self.slot_names = ("velocity",) if self.momentum else ()

    def _update(self, kernel, params, grads, lr, grad_scale, rescale):
        if not self.momentum:
            kernel.sgd(params, grads, self._scratch, grads.dtype.type(lr), grad_scale, rescale)
            return
        momentum = grads.dtype.type(self.momentum)
        kernel.sgd_momentum(
            params,
            grads,
            self.slots["velocity"],
            self._scratch,
            grads.dtype.type(lr),
            momentum,
            self.nesterov,
            grad_scale,
            rescale,
            self._tiny,
        )

    def _hyperparameters(self):
        return {"momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    """``s = rho s + (1 - rho) g^2``; ``p -= lr g / (sqrt(s) + eps)``."""

    name = "rmsprop"
    slot_names = ("square_avg",)
    squares_slots = ("square_avg",)

    def __init__(self, learning_rate=0.001, rho: float = 0.9, epsilon: float = 1e-7, clipnorm=None):
        super().__init__(learning_rate, clipnorm)
        self.rho = check_number(rho, "rho", low=0.0, high=1.0, high_inclusive=False)
        self.epsilon = check_number(epsilon, "epsilon", low=0.0, low_inclusive=False)

    def _update(self, kernel, params, grads, lr, grad_scale, rescale):
        cast = grads.dtype.type
        kernel.rmsprop(
            params,
            grads,
            self.slots["square_avg"],
            self._scratch,
            cast(lr),
            cast(self.rho),
            cast(1.0 - self.rho),
            cast(self.epsilon),
            grad_scale,
            rescale,
            self._tiny,
        )

    def _hyperparameters(self):
        return {"rho": self.rho, "epsilon": self.epsilon}


class Adagrad(Optimizer):
    """``s += g^2``; ``p -= lr g / (sqrt(s) + eps)``."""

    name = "adagrad"
    slot_names = ("sum_squares",)
    squares_slots = ("sum_squares",)

    def __init__(self, learning_rate=0.01, epsilon: float = 1e-7, clipnorm=None):
        super().__init__(learning_rate, clipnorm)
        self.epsilon = check_number(epsilon, "epsilon", low=0.0, low_inclusive=False)

    def _update(self, kernel, params, grads, lr, grad_scale, rescale):
        kernel.adagrad(
            params,
            grads,
            self.slots["sum_squares"],
            self._scratch,
            grads.dtype.type(lr),
            grads.dtype.type(self.epsilon),
            grad_scale,
            rescale,
            self._tiny,
        )

    def _hyperparameters(self):
        return {"epsilon": self.epsilon}


class Adam(Optimizer):
    """Adam with bias correction (Kingma and Ba, 2015), PyTorch's placement of epsilon.

    ``m = b1 m + (1 - b1) g``; ``v = b2 v + (1 - b2) g^2``;
    ``p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``.

    The slots ``"m"`` and ``"v"`` store ``m / (1 - b1)`` and ``v / (1 - b2)`` (two fewer passes
    per step); ``get_state`` returns them as stored, so a checkpoint resumes bit-identically.
    """

    name = "adam"
    slot_names = ("m", "v")
    squares_slots = ("v",)

    def __init__(
        self,
        learning_rate: float | Schedule | dict = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        clipnorm: float | None = None,
    ) -> None:
        super().__init__(learning_rate, clipnorm)
        self.beta_1 = check_number(beta_1, "beta_1", low=0.0, high=1.0, high_inclusive=False)
        self.beta_2 = check_number(beta_2, "beta_2", low=0.0, high=1.0, high_inclusive=False)
        self.epsilon = check_number(epsilon, "epsilon", low=0.0, low_inclusive=False)

    def _update(self, kernel, params, grads, lr, grad_scale, rescale):
        self._adam(kernel, params, grads, lr, grad_scale, rescale, decay=None)

    def _adam(self, kernel, params, grads, lr, grad_scale, rescale, decay) -> None:
        # The slots hold the moments without their (1 - beta) factors, m~ = m / (1 - b1) and
        # v~ = v / (1 - b2), so each moment update is two passes, not three or four:
        # m~ = b1 m~ + g, v~ = b2 v~ + g^2. The factors return as scalars in the step, which is
        # then lr (1 - b1) / ((1 - b1^t) k) * m~ / (sqrt(v~) + eps / k), k = sqrt((1 - b2) /
        # (1 - b2^t)): the same update as the docstring's, with 10 passes over the buffer.
        cast, t = grads.dtype.type, self.iterations
        k = math.sqrt((1.0 - self.beta_2) / (1.0 - self.beta_2**t))
        step_scale = lr * (1.0 - self.beta_1) / ((1.0 - self.beta_1**t) * k)
        kernel.adam(
            params,
            grads,
            self.slots["m"],
            self.slots["v"],
            self._scratch,
            cast(self.beta_1),
            cast(self.beta_2),
            cast(self.epsilon / k),
            cast(step_scale),
            cast(1.0 if decay is None else decay),
            decay is not None,
            grad_scale,
            rescale,
            self._tiny,
        )

    def _hyperparameters(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter): ``p -= lr wd p`` then Adam."""

    name = "adamw"

    def __init__(
        self,
        learning_rate: float | Schedule | dict = 0.001,
        weight_decay: float = 0.01,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        clipnorm: float | None = None,
    ) -> None:
        super().__init__(learning_rate, beta_1, beta_2, epsilon, clipnorm)
        self.weight_decay = check_number(weight_decay, "weight_decay", low=0.0)

    def _update(self, kernel, params, grads, lr, grad_scale, rescale):
        decay = 1.0 - lr * self.weight_decay
        self._adam(kernel, params, grads, lr, grad_scale, rescale, decay=decay)

    def _hyperparameters(self):
        return {**super()._hyperparameters(), "weight_decay": self.weight_decay}


OPTIMIZERS: dict[str, type[Optimizer]] = {
    cls.name: cls for cls in (SGD, RMSprop, Adagrad, Adam, AdamW)
}


def get_optimizer(spec: str | dict | Optimizer, **overrides: Any) -> Optimizer:
    """Return an optimizer from a name (``"adam"``), a config dict or an instance."""
    if isinstance(spec, Optimizer):
        return spec
    if isinstance(spec, dict):
        config = dict(spec)
        name = config.pop("name", None)
    else:
        name, config = spec, {}
    config.update(overrides)
    return from_settings(lookup(name, OPTIMIZERS, "optimizer"), config, f"optimizer {name!r}")
