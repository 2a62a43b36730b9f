"""How many of Adam's moments turn subnormal in ``bench.py`` case 1, and what a step costs then.

Run from the repository root (``OPENBLAS_NUM_THREADS=1`` recommended)::

    python benchmarks/adam_subnormals.py [--epochs 3] [--n 60000]

Trains case 1's MLP epoch by epoch and counts the Adam slot entries below float32's smallest
normal number; then times one Adam step (zero gradients) on that state, as it is and with those
entries set to zero, on the current kernel backend.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import contenders as c  # noqa: E402

import scratchnn  # noqa: E402

TINY = np.finfo(np.float32).tiny


def step_time(slots: dict, repeats: int = 20) -> float:
    """Microseconds of one Adam step from ``slots`` (zero gradients keep them as they are)."""
    size = len(next(iter(slots.values())))
    params, grads = np.ones(size, np.float32), np.zeros(size, np.float32)
    optimizer = scratchnn.Adam(1e-3)
    optimizer.step(params.copy(), grads.copy())
    state = optimizer.get_state()
    state["slots"] = {name: value.copy() for name, value in slots.items()}
    optimizer.set_state(state)
    start = time.perf_counter()
    for _ in range(repeats):
        optimizer.step(params, grads)
    return 1e6 * (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--n", type=int, default=60_000)
    args = parser.parse_args()
    X, y = c.mnist_like(args.n)
    model, optimizer = c.scratchnn_mlp()
    for epoch in range(args.epochs):
        start = time.perf_counter()
        model.fit(X, y, loss="categorical_crossentropy", optimizer=optimizer, epochs=1,
                  batch_size=c.BATCH, shuffle=True, verbose=0)  # fmt: skip
        slots = optimizer.get_state()["slots"]
        counts = {k: int(np.sum((v != 0) & (np.abs(v) < TINY))) for k, v in slots.items()}
        size = len(next(iter(slots.values())))
        print(f"epoch {epoch + 1}: {time.perf_counter() - start:.2f} s, subnormal slot entries "
              f"{counts} of {size}")  # fmt: skip
    flushed = {k: np.where(np.abs(v) < TINY, 0, v).astype(v.dtype) for k, v in slots.items()}
    backend = scratchnn.get_backend()
    print(
        f"one Adam step on {backend}: {step_time(slots):.0f} us as trained, "
        f"{step_time(flushed):.0f} us with the subnormals set to zero"
    )


if __name__ == "__main__":
    main()
