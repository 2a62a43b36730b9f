"""The kernels alone, per backend: one optimizer step, and what the compiled ones cost at start-up.

Run from the repository root (numba from the ``fast`` extra)::

    python benchmarks/bench_kernels.py [--size 235146] [--rounds 15] [--json out.json]

(1) One ``step`` of each optimizer over a flat float32 buffer of ``--size`` parameters (the
MLP of ``bench.py`` case 1 has 235,146), on the two backends interleaved round by round; the
ratio is the median of the per-round ratios numba / numpy. (2) Start-up: a fresh process that
imports scratchnn and takes one Adam step, with numba's disk cache empty (first process: it
compiles) and then warm (later processes: it loads), beside the NumPy backend. (3) One epoch
of a recurrent regression (2,000 sequences of 30 steps x 8 features, LSTM or GRU of 64 units,
then Dense(1), Adam, batch 64) per backend, interleaved, median of per-round ratios. (4) Each
layer kernel (Dense's bias and activation forward, the activation's backward with the bias sum,
the softmax/cross-entropy gradient, col2im, pooling backward) on the shapes ``bench.py`` and
``bench_cnn.py`` give it, per backend, interleaved. ``--parts layers`` runs (4) alone.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import scratchnn
from scratchnn.optimizers import SGD, Adagrad, Adam, AdamW, RMSprop

MAKERS = {
    "sgd": lambda: SGD(0.01),
    "sgd_nesterov": lambda: SGD(0.01, momentum=0.9, nesterov=True),
    "rmsprop": lambda: RMSprop(0.001),
    "adagrad": lambda: Adagrad(0.01),
    "adam": lambda: Adam(0.001),
    "adamw": lambda: AdamW(0.001),
    "adam_clipnorm": lambda: Adam(0.001, clipnorm=1.0),
}
STARTUP = (
    "import time; t = time.perf_counter(); import numpy as np, scratchnn; "
    "p = np.zeros(1000, np.float32); g = np.ones(1000, np.float32); "
    "scratchnn.Adam().step(p, g); print(time.perf_counter() - t)"
)


def step_times(size: int, rounds: int, repeats: int = 20) -> dict:
    rng = np.random.default_rng(0)
    grads = rng.normal(size=size).astype(np.float32)
    results = {}
    for name, make in MAKERS.items():
        runs = {}
        for backend in ("numpy", "numba"):
            scratchnn.set_backend(backend)
            optimizer, params = make(), rng.normal(size=size).astype(np.float32)
            optimizer.step(params, grads.copy())  # builds the slots; compiles on first use
            runs[backend] = (optimizer, params)
        times = {backend: [] for backend in runs}
        for _ in range(rounds):
            for backend, (optimizer, params) in runs.items():
                scratchnn.set_backend(backend)
                start = time.perf_counter()
                for _ in range(repeats):
                    optimizer.step(params, grads)
                times[backend].append((time.perf_counter() - start) / repeats)
        ratios = [a / b for a, b in zip(times["numba"], times["numpy"], strict=True)]
        results[name] = {
            "numpy_us": 1e6 * statistics.median(times["numpy"]),
            "numba_us": 1e6 * statistics.median(times["numba"]),
            "numba_over_numpy": statistics.median(ratios),
        }
    return results


def startup_times(repeats: int = 3) -> dict:
    def run(backend: str, cache_dir: str) -> float:
        env = {**os.environ, "SCRATCHNN_BACKEND": backend, "NUMBA_CACHE_DIR": cache_dir}
        out = subprocess.run([sys.executable, "-c", STARTUP], env=env, capture_output=True,
                             text=True, check=True)  # fmt: skip
        return float(out.stdout)

    cold, warm, numpy_only = [], [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as cache_dir:
            cold.append(run("numba", cache_dir))
            warm.append(run("numba", cache_dir))
            numpy_only.append(run("numpy", cache_dir))
    return {
        "numba_first_process_s": statistics.median(cold),
        "numba_cached_s": statistics.median(warm),
        "numpy_s": statistics.median(numpy_only),
    }


def recurrent_epochs(rounds: int) -> dict:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2_000, 30, 8)).astype(np.float32)
    y = rng.normal(size=(2_000, 1)).astype(np.float32)
    results = {}
    for layer in ("LSTM", "GRU"):
        runs = {}
        for backend in ("numpy", "numba"):
            recurrent = getattr(scratchnn, layer)(64)
            model = scratchnn.Sequential([recurrent, scratchnn.Dense(1)], seed=0)
            optimizer = scratchnn.Adam(1e-3)

            def epoch(model=model, optimizer=optimizer, backend=backend) -> None:
                scratchnn.set_backend(backend)
                model.fit(x, y, loss="mse", optimizer=optimizer, epochs=1, batch_size=64, verbose=0)

            epoch()
            runs[backend] = epoch
        times = {backend: [] for backend in runs}
        for _ in range(rounds):
            for backend, epoch in runs.items():
                start = time.perf_counter()
                epoch()
                times[backend].append(time.perf_counter() - start)
        ratios = [a / b for a, b in zip(times["numba"], times["numpy"], strict=True)]
        results[layer] = {
            "numpy_s": statistics.median(times["numpy"]),
            "numba_s": statistics.median(times["numba"]),
            "numba_over_numpy": statistics.median(ratios),
        }
    return results


def layer_kernel_calls(rng: np.random.Generator) -> dict:
    """Each layer kernel on the shapes the benchmarks give it: name -> (function name, args)."""
    f32 = np.float32

    def normal(*shape):
        return rng.normal(size=shape).astype(f32)

    calls = {}
    for units in (256, 128):  # bench.py case 1's hidden layers, batch 128
        z, bias, grad, a = normal(128, units), normal(units), normal(128, units), normal(128, units)
        out, grad_bias = np.empty_like(z), np.empty(units, f32)
        for act in ("relu", "sigmoid", "tanh"):
            calls[f"bias_{act} (128, {units})"] = (f"bias_{act}", (z, bias, out))
            calls[f"{act}_backward+bias (128, {units})"] = (
                f"{act}_backward",
                (grad, a, out, grad_bias),
            )
    labels = rng.integers(0, 10, 128)
    calls["softmax_cross_entropy (128, 10)"] = ("softmax_cross_entropy", (normal(128, 10), labels))
    # bench_cnn.py's second convolution (3x3 same over 14x14x8, batch 64) and its pools
    calls["col2im 3x3 same (64, 14, 14, 8)"] = (
        "col2im",
        (normal(3, 3, 64, 14, 14, 8), (64, 14, 14, 8), (64, 16, 16, 8), 1, 1, (1, 1)),
    )
    where = ((64, 28, 28, 8), (64, 28, 28, 8), 0, 0)
    pooled = normal(64, 14, 14, 8)
    row = rng.integers(0, 2, (64, 14, 14, 8)).astype(np.uint8)
    column = rng.integers(0, 2, (64, 14, 2, 14, 8)).astype(np.uint8)
    calls["max_pool 2x2 backward (64, 28, 28, 8)"] = (
        "max_pool_blocks_backward",
        (pooled, row, column, (2, 2), *where),
    )
    calls["avg_pool 2x2 backward (64, 28, 28, 8)"] = (
        "avg_pool_backward",
        (pooled, (2, 2), (2, 2), True, *where),
    )
    winner = rng.integers(0, 9, (64, 14, 14, 8)).astype(np.uint8)
    calls["max_pool 3x3/2 same backward (64, 28, 28, 8)"] = (
        "max_pool_offsets_backward",
        (pooled, winner, (3, 3), (2, 2), (64, 28, 28, 8), (64, 29, 29, 8), 0, 0),
    )
    return calls


def layer_kernel_times(rounds: int, repeats: int = 50) -> dict:
    """Each layer kernel per backend, interleaved round by round; median of per-round ratios."""
    from scratchnn.kernels import numba as numba_kernels
    from scratchnn.kernels import numpy as numpy_kernels

    modules = {"numpy": numpy_kernels, "numba": numba_kernels}
    results = {}
    for label, (name, args) in layer_kernel_calls(np.random.default_rng(0)).items():
        copies = {b: [a.copy() if isinstance(a, np.ndarray) else a for a in args] for b in modules}
        functions = {b: getattr(module, name) for b, module in modules.items()}
        for backend, function in functions.items():
            function(*copies[backend])  # compiles on first use
        times = {backend: [] for backend in modules}
        for _ in range(rounds):
            for backend, function in functions.items():
                arguments = copies[backend]
                start = time.perf_counter()
                for _ in range(repeats):
                    function(*arguments)
                times[backend].append((time.perf_counter() - start) / repeats)
        ratios = [a / b for a, b in zip(times["numba"], times["numpy"], strict=True)]
        results[label] = {
            "numpy_us": 1e6 * statistics.median(times["numpy"]),
            "numba_us": 1e6 * statistics.median(times["numba"]),
            "numba_over_numpy": statistics.median(ratios),
        }
    return results


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=235_146)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--recurrent-rounds", type=int, default=5)
    parser.add_argument("--json")
    parser.add_argument(
        "--parts", default="steps,layers,startup,recurrent", help="which parts to run"
    )
    args = parser.parse_args(argv)
    parts = set(args.parts.split(","))
    results = {
        "info": scratchnn.info(),
        "load_average_1min": os.getloadavg()[0],
        "steps": step_times(args.size, args.rounds) if "steps" in parts else {},
        "layers": layer_kernel_times(args.rounds) if "layers" in parts else {},
        "startup": startup_times() if "startup" in parts else {},
        "recurrent": recurrent_epochs(args.recurrent_rounds) if "recurrent" in parts else {},
    }
    if results["steps"]:
        print(f"one step over {args.size:,} float32 parameters (median us; numba/numpy per "
              "round)")  # fmt: skip
    for name, row in results["steps"].items():
        print(f"  {name:<14} numpy {row['numpy_us']:8.1f}  numba {row['numba_us']:8.1f}  "
              f"{row['numba_over_numpy']:.2f}x")  # fmt: skip
    if results["layers"]:
        print("layer kernels, float32 (median us per call; numba/numpy per round)")
    for name, row in results["layers"].items():
        print(f"  {name:<44} numpy {row['numpy_us']:8.1f}  numba {row['numba_us']:8.1f}  "
              f"{row['numba_over_numpy']:.2f}x")  # fmt: skip
    s = results["startup"]
    if s:
        cold, warm = s["numba_first_process_s"], s["numba_cached_s"]
        print(f"start-up (import + one Adam step): numpy {s['numpy_s']:.2f} s, numba first "
              f"process {cold:.2f} s, numba cached {warm:.2f} s")  # fmt: skip
    for layer, row in results["recurrent"].items():
        print(f"{layer} epoch (2,000 x 30 x 8, 64 units): numpy {row['numpy_s']:.3f} s, numba "
              f"{row['numba_s']:.3f} s, {row['numba_over_numpy']:.2f}x")  # fmt: skip
    print(f"backend info: {results['info']}; load average {results['load_average_1min']:.2f}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2)
    return results


if __name__ == "__main__":
    main()
