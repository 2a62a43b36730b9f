"""Learning-rate schedules: ``lr = schedule(step)``, ``step`` counting optimizer updates from 0."""

from __future__ import annotations

import math
from typing import Any

from ._validation import check_number, check_positive_int, from_settings, lookup


class Schedule:
    """Base class: a learning rate as a function of the update count."""

    name = "schedule"

    def __call__(self, step: int) -> float:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, **{k: v for k, v in vars(self).items()}}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class StepDecay(Schedule):
    """``lr = initial * gamma ** floor(step / step_size)``."""

    name = "step"

    def __init__(self, initial: float, step_size: int, gamma: float = 0.1) -> None:
        self.initial = check_number(initial, "initial", low=0.0, low_inclusive=False)
        self.step_size = check_positive_int(step_size, "step_size")
        # A decay: factors above 1 would overflow after enough steps.
        self.gamma = check_number(gamma, "gamma", low=0.0, high=1.0, low_inclusive=False)

    def __call__(self, step: int) -> float:
        return self.initial * self.gamma ** (step // self.step_size)


class ExponentialDecay(Schedule):
    """``lr = initial * decay_rate ** (step / decay_steps)``."""

    name = "exponential"

    def __init__(self, initial: float, decay_steps: int, decay_rate: float) -> None:
        self.initial = check_number(initial, "initial", low=0.0, low_inclusive=False)
        self.decay_steps = check_positive_int(decay_steps, "decay_steps")
        self.decay_rate = check_number(
            decay_rate, "decay_rate", low=0.0, high=1.0, low_inclusive=False
        )

    def __call__(self, step: int) -> float:
        return self.initial * self.decay_rate ** (step / self.decay_steps)


class CosineDecay(Schedule):
    """``lr = initial * (alpha + (1 - alpha) (1 + cos(pi t / T)) / 2)``, ``t = min(step, T)``."""

    name = "cosine"

    def __init__(self, initial: float, decay_steps: int, alpha: float = 0.0) -> None:
        self.initial = check_number(initial, "initial", low=0.0, low_inclusive=False)
        self.decay_steps = check_positive_int(decay_steps, "decay_steps")
        self.alpha = check_number(alpha, "alpha", low=0.0, high=1.0)

    def __call__(self, step: int) -> float:
        progress = min(step, self.decay_steps) / self.decay_steps
        cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
        return self.initial * (self.alpha + (1.0 - self.alpha) * cosine)


SCHEDULES: dict[str, type[Schedule]] = {
    "step": StepDecay,
    "exponential": ExponentialDecay,
    "cosine": CosineDecay,
}


def get_schedule(spec: dict | Schedule) -> Schedule:
    """Return a schedule from a config dict (``{"name": "cosine", ...}``) or an instance."""
    if isinstance(spec, Schedule):
        return spec
    config = dict(spec)
    name = config.pop("name", None)
    return from_settings(lookup(name, SCHEDULES, "schedule"), config, f"schedule {name!r}")
