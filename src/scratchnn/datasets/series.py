"""Time series: sliding windows for forecasting, and the yearly sunspot numbers."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from .._validation import check_array, check_positive_int


def windows(series: np.ndarray, length: int, horizon: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Every window of ``length`` steps of ``series``, each with the value ``horizon`` later.

    For a series ``s`` of ``T`` steps, window ``i`` is ``X[i] = s[i : i + length]`` and its
    target ``y[i] = s[i + length - 1 + horizon]`` (``horizon=1``: the next step), for
    ``i = 0 .. N - 1`` with ``N = T - length - horizon + 1``.

    Parameters
    ----------
    series : array ``(T,)`` or ``(T, features)``
        Finite numbers, oldest first.
    length : int
        Steps per window.
    horizon : int
        How many steps after a window's last one its target is.

    Returns
    -------
    X : ``(N, length, features)`` float64 (``features`` is 1 for a 1-D series)
    y : ``(N,)`` for a 1-D series, ``(N, features)`` otherwise

    Examples
    --------
    >>> import numpy as np
    >>> from scratchnn.datasets import windows
    >>> X, y = windows(np.arange(6), length=3)
    >>> X[..., 0].tolist(), y.tolist()
    ([[0.0, 1.0, 2.0], [1.0, 2.0, 3.0], [2.0, 3.0, 4.0]], [3.0, 4.0, 5.0])
    """
    values = check_array(series, "series", ndim=(1, 2)).astype(np.float64)
    length = check_positive_int(length, "length")
    horizon = check_positive_int(horizon, "horizon")
    steps = len(values)
    count = steps - length - horizon + 1
    if count < 1:
        raise ValueError(
            f"series has {steps} steps: windows of length {length} with horizon {horizon} need "
            f"at least {length + horizon}"
        )
    table = values.reshape(steps, -1)
    # A strided view gives every window without a loop; the copy makes X its own array.
    X = np.lib.stride_tricks.sliding_window_view(table[: count + length - 1], length, axis=0)
    X = np.ascontiguousarray(X.transpose(0, 2, 1))  # (N, features, length) -> (N, length, f)
    y = table[length - 1 + horizon :]
    return X, (y[:, 0].copy() if values.ndim == 1 else y.copy())


def load_sunspots() -> tuple[np.ndarray, np.ndarray]:
    """Yearly sunspot numbers 1700-2008: ``years (309,)`` int64 and ``numbers (309,)`` float64.

    The series statsmodels ships (``statsmodels.datasets.sunspots``, from the US National
    Geophysical Data Center; public domain), read from its CSV file without importing
    statsmodels. Needs ``pip install scratchnn[series]``.

    Examples
    --------
    >>> from scratchnn.datasets import load_sunspots
    >>> years, numbers = load_sunspots()
    >>> years[0], years[-1], numbers[:3].tolist()
    (np.int64(1700), np.int64(2008), [5.0, 11.0, 16.0])
    """
    spec = importlib.util.find_spec("statsmodels")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "the sunspot numbers ship with statsmodels, which is not installed; install it "
            "with: pip install scratchnn[series]"
        )
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "sunspots" / "sunspots.csv"
    try:
        with open(path, encoding="utf-8") as file:
            header = file.readline().strip()
            table = np.loadtxt(file, delimiter=",", ndmin=2)
    except (OSError, ValueError) as error:
        raise FileNotFoundError(
            f"statsmodels is installed but its sunspot data could not be read from {path}: {error}"
        ) from None
    if header != '"YEAR","SUNACTIVITY"' or table.shape[1] != 2:
        raise ValueError(f"{path} is not the sunspot table this loader knows (header {header!r})")
    return table[:, 0].astype(np.int64), table[:, 1].astype(np.float64)
