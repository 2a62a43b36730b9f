"""Yearly sunspot numbers forecast a year ahead with a GRU, against "next year as this year".

The series (1700-2008, public domain, shipped by statsmodels: the [series] extra) is cut into
windows of ``length`` years (``scratchnn.datasets.windows``) whose target is the next year. A
``GRU(16)`` reads the window a year at a time and a linear ``Dense(1)`` gives the forecast; the
last fifth of the windows is the test part. The first check of any forecast is the naive one,
this year's number again; the mean absolute error (MAE) of both is printed.

Run: python examples/sunspots.py   (needs the [series] extra: statsmodels)
"""

from __future__ import annotations

import time

import numpy as np

from scratchnn import GRU, Adam, Dense, Sequential
from scratchnn.datasets import load_sunspots, windows


def main(seed: int = 0, verbose: int = 1, epochs: int = 150, length: int = 12) -> dict:
    years, numbers = load_sunspots()
    X, y = windows(numbers, length=length)  # X (N, length, 1), y (N,): the year after
    split = int(0.8 * len(X))
    X_train, y_train, X_test, y_test = X[:split], y[:split], X[split:], y[split:]
    scale = float(numbers[: split + length].max())  # from the training years only
    model = Sequential([GRU(16, input_shape=(length, 1)), Dense(1)], seed=seed)
    start = time.perf_counter()
    model.fit(X_train / scale, y_train / scale, loss="mse", optimizer=Adam(1e-2),
              epochs=epochs, batch_size=32, verbose=0)  # fmt: skip
    seconds = time.perf_counter() - start
    forecast = model.predict(X_test / scale)[:, 0] * scale
    scores = {
        "naive": float(np.mean(np.abs(y_test - X_test[:, -1, 0]))),
        "gru": float(np.mean(np.abs(y_test - forecast))),
    }
    if verbose:
        print(f"{years[0]}-{years[-1]}: {len(X_train)} windows of {length} years to train on, "
              f"{len(X_test)} to test ({epochs} epochs, {seconds:.1f} s)")  # fmt: skip
        print(f"test MAE: next year as this year {scores['naive']:.1f}, GRU {scores['gru']:.1f}")
    return scores


if __name__ == "__main__":
    main()
