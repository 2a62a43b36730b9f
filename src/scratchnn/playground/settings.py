"""What a playground run is made of, checked: the data set, the network and the training.

The page sends its whole form as one flat JSON object; :func:`parse_settings` turns it into a
frozen :class:`Settings` or raises :class:`SettingsError` naming the field, what it takes and
what came. Nothing is changed by a rejected request. :data:`LIMITS` bound the memory and time one
session can take; the page shows them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

DATA_SETS = ("xor", "moons", "circles", "spirals", "blobs", "upload")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "leaky_relu", "elu", "gelu", "softplus", "linear")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")

LIMITS: dict[str, Any] = {
    "samples": [20, 2000],
    "classes": [2, 5],
    "noise": [0.0, 1.0],
    "validation": [0.0, 0.5],
    "seed": [0, 2**31 - 1],
    "layers": [0, 6],
    "units": [1, 32],
    "dropout": [0.0, 0.9],
    "l2": [0.0, 1.0],
    "lr": [0.0, 10.0],  # lr must be above the low end
    "batch_size": [1, 2000],
    "epochs": 10_000,  # one run trains at most this many epochs
    "upload_bytes": 1_000_000,
    "upload_rows": 2000,
    "sessions": 8,  # browser tabs at once
    "idle_seconds": 300,  # a tab that stays quiet this long is freed
    "request_bytes": 1_000_000,
}


class SettingsError(ValueError):
    """A request the playground refuses; the message is shown in the page as it is."""


@dataclass(frozen=True)
class Settings:
    """One run: data set, network and training, all checked against :data:`LIMITS`."""

    data: str = "spirals"
    classes: int = 2  # arms of the spirals, centres of the blobs
    noise: float = 0.1
    samples: int = 400
    validation: float = 0.2
    seed: int = 0
    layers: tuple[tuple[int, str], ...] = ((8, "tanh"), (8, "tanh"))  # (units, activation)
    dropout: float = 0.0
    batch_norm: bool = False
    l2: float = 0.0
    optimizer: str = "adam"
    lr: float = 0.03
    batch_size: int = 16

    def to_json(self) -> dict[str, Any]:
        """The settings as the page sends them (layers as ``{"units", "activation"}``)."""
        values = asdict(self)
        values["layers"] = [{"units": u, "activation": a} for u, a in self.layers]
        return values


FIELDS = tuple(Settings.__dataclass_fields__)


def _integer(values: dict, name: str) -> int:
    value = values[name]
    low, high = LIMITS[name]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SettingsError(f"{name} must be a whole number from {low} to {high}, got {value!r}")
    return value


def _number(values: dict, name: str, low_open: bool = False) -> float:
    value = values[name]
    low, high = LIMITS[name]
    fits = isinstance(value, (int, float)) and not isinstance(value, bool)
    fits = fits and math.isfinite(value) and (low < value if low_open else low <= value)
    if not fits or value > high:
        side = f"above {low:g}" if low_open else f"from {low:g}"
        raise SettingsError(f"{name} must be a number {side} up to {high:g}, got {value!r}")
    return float(value)


def _choice(values: dict, name: str, choices: tuple[str, ...]) -> str:
    value = values[name]
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _layers(value: Any) -> tuple[tuple[int, str], ...]:
    low, high = LIMITS["layers"]
    if not isinstance(value, list) or not low <= len(value) <= high:
        count = len(value) if isinstance(value, list) else repr(value)[:40]
        raise SettingsError(f"layers must be a list of {low} to {high} hidden layers, got {count}")
    layers = []
    for number, layer in enumerate(value, 1):
        if not isinstance(layer, dict) or set(layer) != {"units", "activation"}:
            raise SettingsError(
                f"hidden layer {number} must be {{'units': N, 'activation': NAME}}, got "
                f"{repr(layer)[:80]}"
            )
        try:
            units = _integer({"units": layer["units"]}, "units")
            activation = _choice(layer, "activation", ACTIVATIONS)
        except SettingsError as error:
            raise SettingsError(f"hidden layer {number}: {error}") from None
        layers.append((units, activation))
    return tuple(layers)


def parse_settings(values: Any, base: Settings | None = None) -> Settings:
    """Check a request's fields and return new settings (fields not given keep ``base``'s)."""
    if not isinstance(values, dict):
        raise SettingsError(f"settings must be a JSON object, got {type(values).__name__}")
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise SettingsError(f"unknown field(s) {', '.join(unknown)}; known: {', '.join(FIELDS)}")
    merged = {**(base or Settings()).to_json(), **values}
    batch_norm = merged["batch_norm"]
    if not isinstance(batch_norm, bool):
        raise SettingsError(f"batch_norm must be true or false, got {batch_norm!r}")
    validation = _number(merged, "validation")
    if 0 < validation < 0.05:
        raise SettingsError(f"validation must be 0 or from 0.05 up to 0.5, got {validation!r}")
    return Settings(
        data=_choice(merged, "data", DATA_SETS),
        classes=_integer(merged, "classes"),
        noise=_number(merged, "noise"),
        samples=_integer(merged, "samples"),
        validation=validation,
        seed=_integer(merged, "seed"),
        layers=_layers(merged["layers"]),
        dropout=_number(merged, "dropout"),
        batch_norm=batch_norm,
        l2=_number(merged, "l2"),
        optimizer=_choice(merged, "optimizer", OPTIMIZERS),
        lr=_number(merged, "lr", low_open=True),
        batch_size=_integer(merged, "batch_size"),
    )
