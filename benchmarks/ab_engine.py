"""Two versions of scratchnn side by side: the same workloads, alternating processes.

For a change to the engine (the graph rewrite of issue 21, say), check out the version before it
somewhere (``git worktree add /tmp/before <commit>``) and run, from the repository root::

    python benchmarks/ab_engine.py /tmp/before/src src --rounds 8

Workloads, each timed in a fresh process by its processor time (so other jobs on the machine
matter less than to wall time), pinned to one core with one BLAS thread:

* ``xor``: one ``fit`` step of the tutorial's 2-16-1 net (Adam, batch 4), over 3,000 steps;
* ``mlp``: one epoch of benchmark case 1's 784-256-128-10 network on 20,000 rows (Adam, 128);
* ``cnn``: one epoch of a two-convolution network on the 1,797 real 8x8 digits (Adam, 64).

Each round runs A then B for every workload; the report gives each side's median and the median
of the per-round ratios B/A (a load change mid-run skews a ratio of medians more).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

WORKLOADS = {
    "xor": """
import numpy as np, time
from scratchnn import Dense, Sequential
X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
y = np.array([[0], [1], [1], [0]], np.float32)
m = Sequential([Dense(16, "tanh", input_dim=2), Dense(1, "sigmoid")], seed=0)
fit = dict(loss="binary_crossentropy", optimizer="adam", batch_size=4, verbose=0)
m.fit(X, y, epochs=200, **fit)
t = time.process_time(); m.fit(X, y, epochs=3000, **fit)
print((time.process_time() - t) / 3000 * 1e6)
""",
    "mlp": """
import numpy as np, time
from scratchnn import Dense, Sequential
rng = np.random.default_rng(0)
X = rng.normal(size=(20000, 784)).astype(np.float32); y = rng.integers(0, 10, 20000)
m = Sequential([Dense(256, "relu", input_dim=784), Dense(128, "relu"), Dense(10, "softmax")],
               seed=0)
fit = dict(loss="categorical_crossentropy", optimizer="adam", batch_size=128, verbose=0)
m.fit(X[:1000], y[:1000], epochs=1, **fit)
t = time.process_time(); m.fit(X, y, epochs=1, **fit)
print(time.process_time() - t)
""",
    "cnn": """
import numpy as np, time
from scratchnn import Conv2D, Dense, Flatten, MaxPool2D, Sequential
from scratchnn.datasets import load_digits
X, y = load_digits(as_images=True); X = (X / 16).astype(np.float32)
m = Sequential([Conv2D(8, 3, padding="same", activation="relu"), MaxPool2D(2),
                Conv2D(16, 3, padding="same", activation="relu"), MaxPool2D(2), Flatten(),
                Dense(64, "relu"), Dense(10, "softmax")], seed=0)
fit = dict(loss="categorical_crossentropy", optimizer="adam", batch_size=64, verbose=0)
m.fit(X[:256], y[:256], epochs=1, **fit)
t = time.process_time(); m.fit(X, y, epochs=2, **fit)
print((time.process_time() - t) / 2)
""",
}
UNITS = {"xor": "us/step", "mlp": "s/epoch", "cnn": "s/epoch"}


def measure(source: str, workload: str) -> float:
    env = dict(os.environ, PYTHONPATH=os.path.abspath(source), OPENBLAS_NUM_THREADS="1",
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")  # fmt: skip
    command = [sys.executable, "-c", WORKLOADS[workload]]
    if hasattr(os, "sched_setaffinity"):
        command = ["taskset", "-c", "0", *command] if _has_taskset() else command
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return float(result.stdout.strip().splitlines()[-1])


def _has_taskset() -> bool:
    from shutil import which

    return which("taskset") is not None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", help="the src folder of version A")
    parser.add_argument("after", help="the src folder of version B")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    args = parser.parse_args(argv)
    names = args.workloads.split(",")
    times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in names}
    for _ in range(args.rounds):
        for name in names:
            times[name][0].append(measure(args.before, name))
            times[name][1].append(measure(args.after, name))
    print(f"{'workload':<8} {'A (median)':>14} {'B (median)':>14} {'B/A (median of rounds)':>24}")
    for name, (before, after) in times.items():
        ratios = sorted(b / a for a, b in zip(before, after, strict=True))
        print(
            f"{name:<8} {statistics.median(before):>10.4g} {UNITS[name]:<4}"
            f"{statistics.median(after):>10.4g} {UNITS[name]:<4}{statistics.median(ratios):>14.3f}"
            f"   (rounds: {', '.join(f'{r:.2f}' for r in ratios)})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
