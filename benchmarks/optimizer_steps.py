"""Microseconds of one optimizer step on bench.py case 1's 235,146 float32 parameters.

Run from the repository root (``OPENBLAS_NUM_THREADS=1`` recommended)::

    python benchmarks/optimizer_steps.py [--backend numba|numpy]

Prints one JSON line: the median step of Adam, SGD with momentum, RMSprop and Adagrad on a state
without subnormal numbers, and of Adam and SGD with momentum when 55% of the first moment (the
velocity) is subnormal with zero gradients there, as for the weights of dead ReLU units before
the optimizers flushed such slots to zero.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import scratchnn

SIZE = 235_146
MAKERS = {
    "adam": lambda: scratchnn.Adam(1e-3),
    "momentum": lambda: scratchnn.SGD(0.01, momentum=0.9),
    "rmsprop": lambda: scratchnn.RMSprop(1e-3),
    "adagrad": lambda: scratchnn.Adagrad(0.01),
}


def step_time(make, subnormal: bool, repeats: int = 40, seed: int = 0) -> float:
    """Median microseconds of one step after six warm-up steps."""
    rng = np.random.default_rng(seed)
    optimizer = make()
    params = rng.normal(size=SIZE).astype(np.float32)
    grads = (rng.normal(size=SIZE) * 1e-2).astype(np.float32)
    for _ in range(6):
        optimizer.step(params, grads.copy())
    if subnormal:
        dead = rng.random(SIZE) < 0.55
        state = optimizer.get_state()
        for name in ("m", "velocity"):
            if name in state["slots"]:
                signs = np.where(rng.random(int(dead.sum())) < 0.5, -1, 1)
                state["slots"][name][dead] = (1e-40 * signs).astype(np.float32)
        optimizer.set_state(state)
        grads[dead] = 0
    times = []
    for _ in range(repeats):
        g = grads.copy()
        start = time.perf_counter()
        optimizer.step(params, g)
        times.append(time.perf_counter() - start)
    return round(1e6 * float(np.median(times)), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("numba", "numpy"))
    args = parser.parse_args()
    if args.backend:
        scratchnn.set_backend(args.backend)
    result: dict[str, object] = {"backend": scratchnn.get_backend()}
    for name, make in MAKERS.items():
        result[name] = step_time(make, subnormal=False)
    for name in ("adam", "momentum"):
        result[f"{name}_subnormal"] = step_time(MAKERS[name], subnormal=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
