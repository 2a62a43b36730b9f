"""Where one epoch of ``bench.py`` case 1 spends its time, per backend (the per-kernel profile).

Run from the repository root::

    python benchmarks/profile_epoch.py [--n 60000] [--backends numpy,numba] [--top 12]

One warm-up epoch, then one epoch under ``cProfile`` per backend; the table lists the functions
with the most time spent in themselves (``tottime``), so the NumPy passes of an optimizer show
under ``scratchnn/kernels/numpy.py:adam`` and the compiled pass under ``numba.py:adam``'s
dispatcher. cProfile adds a little per call; the epoch's total is also timed without it.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import contenders as c  # noqa: E402


def profile(backend: str, n: int, top: int) -> None:
    import scratchnn

    X, y = c.mnist_like(n)
    epoch = c.scratchnn_epoch(X, y, backend)
    epoch()  # warm-up: buffers, compiled kernels
    start = time.perf_counter()
    epoch()
    plain = time.perf_counter() - start
    profiler = cProfile.Profile()
    profiler.runcall(epoch)
    stats = pstats.Stats(profiler)
    rows = sorted(stats.stats.items(), key=lambda item: -item[1][2])[:top]
    print(f"backend {scratchnn.get_backend()}: epoch {plain:.3f} s without the profiler")
    for (filename, _line, name), (_, calls, tottime, _, _) in rows:
        where = f"{os.path.basename(filename)}:{name}" if filename != "~" else name
        print(f"  {tottime:7.3f} s  {calls:7d} calls  {where}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60_000)
    parser.add_argument("--backends", default="numpy,numba")
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    for backend in args.backends.split(","):
        profile(backend, args.n, args.top)


if __name__ == "__main__":
    main()
