"""Input checks shared by every public entry point.

Each helper raises ``ValueError`` or ``TypeError`` whose message names the argument, what was
expected and what came, so that bad input never reaches the math as a raw NumPy traceback.
"""

from __future__ import annotations

import difflib
import inspect
import numbers
import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

# Overflow in a network is ours to detect and report (a DivergenceWarning in training, one warning
# naming the rows in inference), not NumPy's RuntimeWarnings from deep inside a layer.
QUIET = {"over": "ignore", "invalid": "ignore", "divide": "ignore", "under": "ignore"}

DTYPES = {"float32": np.float32, "float64": np.float64}


def describe(value: Any) -> str:
    """Return a short description of ``value`` for an error message."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def check_dtype(dtype: Any, name: str = "dtype") -> type:
    """Return the NumPy float type named by ``dtype`` ("float32" or "float64")."""
    try:
        key = np.dtype(dtype).name
    except TypeError:
        key = None
    if key not in DTYPES:
        raise ValueError(f"{name} must be 'float32' or 'float64', got {describe(dtype)}")
    return DTYPES[key]


def check_array(
    value: Any,
    name: str,
    *,
    ndim: int | tuple[int, ...] = 2,
    dtype: type | None = None,
    allow_empty: bool = False,
) -> np.ndarray:
    """Convert ``value`` to a finite numeric array with ``ndim`` dimensions.

    Booleans and integers are accepted and converted; strings, objects, NaN and infinity are
    rejected with a message naming ``name``.
    """
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be a numeric array, got {describe(value)}")
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as error:
        raise TypeError(f"{name} must be a numeric array, got {describe(value)}") from error
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must hold numbers, got an array of dtype {array.dtype} "
            f"(convert strings or objects to numbers first)"
        )
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if array.ndim not in allowed:
        wanted = " or ".join(f"{n}-D" for n in allowed)
        raise ValueError(f"{name} must be {wanted}, got an array of shape {array.shape}")
    if not allow_empty and array.size == 0:
        raise ValueError(f"{name} must not be empty, got an array of shape {array.shape}")
    if dtype is not None:
        _check_fits(array, np.dtype(dtype), name)
        array = array.astype(dtype, copy=False)
    if array.dtype.kind == "f" and not all_finite(array):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise ValueError(f"{name} must be finite, got {bad} NaN or infinite value(s)")
    return array


def _check_fits(array: np.ndarray, dtype: np.dtype, name: str) -> None:
    """Refuse finite values that a cast to the narrower float ``dtype`` would turn into inf."""
    if dtype.kind != "f" or array.dtype.kind != "f" or array.dtype.itemsize <= dtype.itemsize:
        return
    limit = np.finfo(dtype).max
    with np.errstate(invalid="ignore"):
        too_large = np.isfinite(array) & (np.abs(array) > limit)
    if too_large.any():
        largest = float(np.max(np.abs(array[too_large])))
        raise ValueError(
            f"{name} holds {int(np.count_nonzero(too_large))} value(s) too large for "
            f"{dtype.name} (largest magnitude {largest:g}, {dtype.name} holds up to {limit:g}); "
            "scale them, or use a model with dtype='float64'"
        )


def all_finite(array: np.ndarray) -> bool:
    """Whether every value of a float array is finite, without a temporary of its size.

    A sum is finite only if every term is (NaN and infinity propagate), so one pass of
    ``np.add.reduce`` answers for clean data; the exact elementwise check runs only when the sum
    is not finite (a bad value, or an overflowing sum). This keeps ``fit`` on a large data set
    from allocating a boolean copy of it (470 MB for 600,000 MNIST rows).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.add.reduce(array, axis=None)):
            return True
    return bool(np.all(np.isfinite(array)))


def check_same_length(X: np.ndarray, y: np.ndarray, x_name: str = "X", y_name: str = "y") -> None:
    """Raise when ``X`` and ``y`` hold different numbers of samples."""
    if len(X) != len(y):
        raise ValueError(
            f"{x_name} and {y_name} must have the same number of samples, got {len(X)} and {len(y)}"
        )


def check_positive_int(value: Any, name: str) -> int:
    """Return ``value`` as an int, raising unless it is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive integer, got {describe(value)}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return int(value)


def check_non_negative_int(value: Any, name: str) -> int:
    """Return ``value`` as an int, raising unless it is an integer >= 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a non-negative integer, got {describe(value)}")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value}")
    return int(value)


def check_number(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """Return ``value`` as a float, raising unless it is a finite real number in range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {describe(value)}")
    number = float(value)
    if not np.isfinite(number):
        raise ValueError(f"{name} must be finite, got {number}")
    too_low = low is not None and (number < low if low_inclusive else number <= low)
    too_high = high is not None and (number > high if high_inclusive else number >= high)
    if too_low or too_high:
        left = "[" if low_inclusive and low is not None else "("
        right = "]" if high_inclusive and high is not None else ")"
        low_text = "-inf" if low is None else f"{low:g}"
        high_text = "inf" if high is None else f"{high:g}"
        raise ValueError(f"{name} must be in {left}{low_text}, {high_text}{right}, got {number:g}")
    return number


def check_positive_number(value: Any, name: str) -> float:
    """Return ``value`` as a float, raising unless it is a finite number > 0."""
    return check_number(value, name, low=0.0, low_inclusive=False)


def lookup(name: Any, registry: Mapping[str, Any], kind: str) -> Any:
    """Return ``registry[name]``, or raise naming the close matches when it is unknown."""
    if not isinstance(name, str):
        raise TypeError(f"{kind} must be a name or an instance, got {describe(name)}")
    key = name.lower().replace("-", "_")
    if key in registry:
        return registry[key]
    close = difflib.get_close_matches(key, registry.keys(), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    known = ", ".join(sorted(registry))
    raise ValueError(f"unknown {kind} {name!r}{hint} (known: {known})")


def from_settings(cls: Any, settings: Mapping[str, Any], kind: str) -> Any:
    """``cls(**settings)``, refusing settings ``cls`` does not take with a message naming them.

    ``kind`` names what is built (``"activation 'relu'"``) in the message.
    """
    if not isinstance(settings, Mapping) or not all(isinstance(k, str) for k in settings):
        raise TypeError(f"{kind} settings must be a dict of names, got {describe(settings)}")
    try:
        inspect.signature(cls).bind(**settings)
    except TypeError:
        accepted = [
            name
            for name, parameter in inspect.signature(cls).parameters.items()
            if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
        ]
        unknown = sorted(set(settings) - set(accepted))
        raise ValueError(
            f"{kind} does not take the setting(s) {unknown[:5] or sorted(settings)[:5]}; it takes "
            f"{accepted or 'none'}"
        ) from None
    return cls(**settings)


def check_not_training(model: Any, action: str) -> None:
    """Refuse ``action`` on a model that ``fit`` trains in another thread, as a second fit is.

    ``fit`` marks the model with the id of the thread that trains it; reading its weights from
    any other thread could mix one step's weights with the next step's statistics. The fit's
    own thread (a callback such as ``ModelCheckpoint``) sits between two steps, so it may.
    """
    thread = getattr(model, "training_thread", None)
    if thread and thread != threading.get_ident():
        raise RuntimeError(
            f"cannot {action} this model while it is being trained (fit runs in another "
            "thread): its weights change at every step; do it from a callback (between two "
            "steps, as ModelCheckpoint saves) or after fit returns"
        )


def check_batch_axis(shape: tuple[int, ...], expected: tuple[int, ...] | None, name: str) -> None:
    """Refuse one sample given without its batch axis (``shape`` is the model's input shape)."""
    if expected is not None and len(shape) > 1 and tuple(shape) == tuple(expected):
        raise ValueError(
            f"{name} of shape {tuple(shape)} is one sample of the model's input shape "
            f"{tuple(expected)} without its batch axis: add the batch axis, {name}[None] (or "
            f"{name}[np.newaxis]), for a batch of one"
        )
