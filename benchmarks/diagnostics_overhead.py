"""Overhead of the Diagnostics callback on benchmark case 1: one epoch of a 784-256-128-10 ReLU
MLP, softmax cross-entropy, Adam, batch 128, 60,000 synthetic rows.

Run: ``python benchmarks/diagnostics_overhead.py [--rounds 5] [--n 60000]``; prints the median
seconds per epoch without and with ``Diagnostics(every=1)`` (and ``every=10``) and the ratios.
Rounds alternate between the settings so that machine drift hits each alike. On a shared,
noisy machine the epoch times swing; the time spent inside the callback's hooks and observer
(also printed, as a fraction of the epoch it ran in) is the steadier measure of the overhead.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from scratchnn import Dense, Diagnostics, Sequential


class TimedDiagnostics(Diagnostics):
    """Diagnostics that adds up the seconds spent in its own hooks and observer."""

    spent = 0.0

    def _timed(self, method, *args):
        start = time.perf_counter()
        try:
            return method(*args)
        finally:
            self.spent += time.perf_counter() - start

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        observers = self.params["step"].observers
        plain = observers.pop()
        observers.append(lambda *args: self._timed(plain, *args))
        self._plain_observer = plain

    def on_train_end(self, logs=None):
        self.params["step"].observers.clear()

    def on_epoch_begin(self, epoch, logs=None):
        self._timed(super().on_epoch_begin, epoch)

    def on_batch_begin(self, batch, logs=None):
        self._timed(super().on_batch_begin, batch)

    def on_batch_end(self, batch, logs=None):
        self._timed(super().on_batch_end, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._timed(super().on_epoch_end, epoch)


def epoch_seconds(X: np.ndarray, y: np.ndarray, diagnostics: Diagnostics | None) -> float:
    model = Sequential([Dense(256, "relu"), Dense(128, "relu"), Dense(10, "softmax")], seed=0)
    callbacks = [] if diagnostics is None else [diagnostics]
    start = time.perf_counter()
    model.fit(X, y, loss="sparse_categorical_crossentropy", optimizer="adam", epochs=1,
              batch_size=128, verbose=0, callbacks=callbacks)  # fmt: skip
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--n", type=int, default=60_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    X = rng.random((args.n, 784), dtype=np.float32)
    y = rng.integers(0, 10, args.n)
    settings = {
        "off": lambda: None,
        "every=1": TimedDiagnostics,
        "every=10": lambda: TimedDiagnostics(10),
    }
    hooks: dict[str, list[float]] = {name: [] for name in settings}
    times: dict[str, list[float]] = {name: [] for name in settings}
    epoch_seconds(X[:2000], y[:2000], None)  # warm-up
    for _ in range(args.rounds):
        for name, make in settings.items():
            callback = make()
            seconds = epoch_seconds(X, y, callback)
            times[name].append(seconds)
            if callback is not None:
                hooks[name].append(callback.spent / (seconds - callback.spent))
    base = statistics.median(times["off"])
    for name, values in times.items():
        median = statistics.median(values)
        fastest = min(values) / min(times["off"])  # the least disturbed rounds
        print(f"{name:9s} {median:.3f} s/epoch  ratio {median / base:.3f}, of the fastest rounds "
              f"{fastest:.3f}  (rounds: "
              + ", ".join(f"{v:.3f}" for v in values) + ")")  # fmt: skip
        if hooks[name]:
            print(f"{'':9s} time in the callback / rest of the epoch: median "
                  f"{statistics.median(hooks[name]):.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
