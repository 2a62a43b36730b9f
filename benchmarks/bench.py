"""scratchnn against PyTorch (CPU, eager) and scikit-learn's MLPClassifier, on one machine.

Run from the repository root (the ``bench`` extra installs PyTorch, scikit-learn, threadpoolctl,
onnx and ONNX Runtime)::

    python benchmarks/bench.py [--quick] [--json results.json] [--contenders scratchnn,torch]

Cases: (1) one epoch of a 784-256-128-10 ReLU MLP, softmax cross-entropy, Adam, batch 128,
shuffled, on 60,000 MNIST-shaped samples, beside the GEMM lower bound; (2) 5,000 SGD steps of the
tutorial's 2-16-1 sigmoid XOR net on its full batch of 4, beside a bare NumPy loop; (3) predict on
60,000 rows through the case-1 net, also in ONNX Runtime (the net exported by ``to_onnx``);
(4) case 1 for scratchnn at 6,000 / 60,000 / 600,000 samples, each size in its own process: time
per sample and peak memory above the loaded data.

Contenders run interleaved, one warm-up round, then ``--rounds`` timed rounds, the order turned
by one each round (A B C, B C A, ...);
the table gives medians and the median of the per-round ratios to PyTorch's time (a load change
mid-run skews a ratio of medians). ``scratchnn`` runs on the process's kernel backend (numba
when installed, else NumPy; ``SCRATCHNN_BACKEND`` chooses), ``scratchnn-numpy`` on the NumPy
reference kernels, in cases 1, 2 and 3. Every contender uses float32 and
the same number of threads (PyTorch's ``set_num_threads`` and ONNX Runtime's intra-op threads are
set to NumPy's BLAS threads).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import contenders as c  # noqa: E402

ALL_CONTENDERS = ("scratchnn", "scratchnn-numpy", "torch", "sklearn", "onnxruntime")
_thread_limits = None


def available(names: list[str]) -> list[str]:
    """The contenders asked for whose package imports (PyTorch is not installed in CI)."""
    modules = {"scratchnn": "scratchnn", "scratchnn-numpy": "scratchnn", "torch": "torch",
               "sklearn": "sklearn.neural_network", "onnxruntime": "onnx,onnxruntime"}  # fmt: skip
    found = []
    for name in names:
        try:
            for module in modules[name].split(","):
                __import__(module)
            found.append(name)
        except ImportError:
            print(f"# {name} is not installed: skipped", file=sys.stderr)
    return found


def blas_threads() -> int:
    try:
        from threadpoolctl import threadpool_info

        counts = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
        return counts[0] if counts else os.cpu_count() or 1
    except ImportError:
        return os.cpu_count() or 1


def machine_info() -> dict:
    info = {"python": platform.python_version(), "numpy": np.__version__, "cores": os.cpu_count()}
    try:
        import scratchnn

        info["scratchnn"] = scratchnn.info()  # the kernel backend in use and its versions
    except ImportError:
        pass
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            models = [line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line]
        info["cpu"] = models[0] if models else platform.processor()
    except OSError:
        info["cpu"] = platform.processor()
    for module in ("torch", "sklearn", "onnxruntime"):
        try:
            info[module] = __import__(module).__version__
        except ImportError:
            pass
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [
            f"{p['internal_api']} {p.get('version')} {p.get('architecture')} "
            f"threads={p['num_threads']} ({os.path.basename(p['filepath'])})"
            for p in threadpool_info()
            if p["user_api"] == "blas"
        ]
    except ImportError:
        info["blas"] = "threadpoolctl not installed"
    info["env"] = {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS")}
    return info


def interleaved(runs: dict[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    """Seconds of each run, round by round after one untimed warm-up round.

    The order turns by one each round (A B C, B C A, C A B, ...): the run after PyTorch's was
    measured 20-50% slower than the same run elsewhere in the round (the allocator's state after
    PyTorch frees its buffers), so no contender may always take that seat.
    """
    for run in runs.values():
        run()
    names = list(runs)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            runs[name]()
            times[name].append(time.perf_counter() - start)
    return times


def summarise(times: dict[str, list[float]], per: float = 1.0) -> dict[str, dict]:
    """Median (times ``per``) for each contender, and the median of its per-round ratios to
    PyTorch's time (rounds are interleaved, so a ratio compares runs under the same load)."""

    def ratio(values: list[float], reference: list[float] | None) -> float | None:
        if not reference:
            return None
        return statistics.median(a / b for a, b in zip(values, reference, strict=True))

    return {
        name: {
            "median": statistics.median(values) * per,
            "all": [value * per for value in values],
            "ratio_to_torch": ratio(values, times.get("torch")),
            # the backends against each other, round by round as well
            "ratio_to_scratchnn_numpy": ratio(values, times.get("scratchnn-numpy")),
        }
        for name, values in times.items()
    }


def case_epoch(names: list[str], n: int, rounds: int, gemm_repeats: int = 100) -> dict:
    X, y = c.mnist_like(n)
    makers = {"scratchnn": c.scratchnn_epoch, "torch": c.torch_epoch, "sklearn": c.sklearn_epoch,
              "scratchnn-numpy": lambda X, y: c.scratchnn_epoch(X, y, "numpy")}  # fmt: skip
    runs = {name: makers[name](X, y) for name in names if name in makers}
    result = {"unit": "s/epoch", "n": n, "contenders": summarise(interleaved(runs, rounds))}
    bound = c.gemm_bound(n, gemm_repeats)
    result["gemm_bound"] = bound
    if "scratchnn" in result["contenders"]:
        ours = result["contenders"]["scratchnn"]["median"]
        result["scratchnn_over_gemm_bound"] = ours / bound["seconds"]
    return result


def case_xor(names: list[str], steps: int, rounds: int) -> dict:
    makers = {"scratchnn": c.scratchnn_xor, "torch": c.torch_xor, "numpy_loop": c.numpy_xor,
              "scratchnn-numpy": lambda steps: c.scratchnn_xor(steps, "numpy")}  # fmt: skip
    runs = {name: makers[name](steps) for name in [*names, "numpy_loop"] if name in makers}
    return {
        "unit": "us/step",
        "steps": steps,
        "contenders": summarise(interleaved(runs, rounds), per=1e6 / steps),
    }


def case_predict(names: list[str], n: int, rounds: int) -> dict:
    X, y = c.mnist_like(n)
    makers = {
        "scratchnn": c.scratchnn_predict,
        "scratchnn-numpy": lambda X, y: c.on_backend("numpy", c.scratchnn_predict(X, y)),
        "torch": c.torch_predict,
        "sklearn": c.sklearn_predict,
        "onnxruntime": lambda X, y: c.onnxruntime_predict(X, y, blas_threads()),
    }
    runs = {name: makers[name](X, y) for name in names if name in makers}
    summary = summarise(interleaved(runs, rounds))
    for entry in summary.values():
        entry["rows_per_s"] = n / entry["median"]
    return {"unit": "s/pass", "n": n, "contenders": summary}


def scaling_worker(n: int, epochs: int) -> dict:
    """One size of case 4, run in a fresh process: seconds per sample and peak memory."""
    import tracemalloc

    X, y = c.mnist_like(n)
    model, optimizer = c.scratchnn_mlp()

    def epoch() -> None:
        model.fit(X, y, loss="categorical_crossentropy", optimizer=optimizer, epochs=1,
                  batch_size=c.BATCH, verbose=0)  # fmt: skip

    epoch()  # warm-up: builds the optimizer state and buffers, which the data does not scale
    rss_before = _rss_bytes("VmRSS")
    reset = _reset_peak_rss()
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        epoch()
        times.append(time.perf_counter() - start)
    peak_rss = _rss_bytes("VmHWM") - rss_before if reset else None
    tracemalloc.start()
    epoch()
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "n": n,
        "s_per_epoch": statistics.median(times),
        "us_per_sample": statistics.median(times) / n * 1e6,
        "peak_rss_above_data_mb": None if peak_rss is None else peak_rss / 2**20,
        "peak_traced_above_data_mb": traced_peak / 2**20,
        "data_mb": (X.nbytes + y.nbytes) / 2**20,
    }


def _rss_bytes(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def _reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def case_scaling(sizes: list[int], epochs: int, threads: int | None = None) -> dict:
    rows = []
    for n in sizes:
        command = [sys.executable, os.path.abspath(__file__), "--scaling-worker", str(n),
                   "--epochs", str(epochs)]  # fmt: skip
        if threads:
            command += ["--threads", str(threads)]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        rows.append(json.loads(output.strip().splitlines()[-1]))
    per_sample = [row["us_per_sample"] for row in rows]
    return {
        "unit": "us/sample",
        "sizes": rows,
        "spread": max(per_sample) / min(per_sample) - 1.0,
    }


def print_table(results: dict) -> None:
    backend = results["machine"].get("scratchnn", {}).get("backend", "?")
    print(f"scratchnn's kernel backend: {backend} (scratchnn-numpy: the NumPy reference kernels)")

    def line(label: str, entry: dict, value: str) -> None:
        ratio = entry.get("ratio_to_torch")
        ratio_text = f"{ratio:6.2f}x" if ratio is not None else "     - "
        label = f"scratchnn[{backend}]" if label == "scratchnn" else label
        to_numpy = entry.get("ratio_to_scratchnn_numpy")
        extra = (
            f"  {to_numpy:5.2f}x scratchnn-numpy" if to_numpy and label != "scratchnn-numpy" else ""
        )
        print(f"  {label:<18} {value:>16}  {ratio_text} torch{extra}")

    if "epoch" in results:
        r = results["epoch"]
        print(f"case 1: MLP epoch, n={r['n']} (median s/epoch, ratio to PyTorch)")
        for name, entry in r["contenders"].items():
            line(name, entry, f"{entry['median']:.3f} s")
        b = r["gemm_bound"]
        print(f"  GEMM bound   {b['seconds']:.3f} s ({b['gflop']:.1f} GFLOP at "
              f"{b['gflops_per_s']:.1f} GFLOP/s)")  # fmt: skip
        if "scratchnn_over_gemm_bound" in r:
            print(f"  scratchnn = {r['scratchnn_over_gemm_bound']:.2f}x the GEMM bound")
    if "xor" in results:
        r = results["xor"]
        print(f"case 2: XOR 2-16-1, {r['steps']} full-batch SGD steps (median us/step)")
        for name, entry in r["contenders"].items():
            line(name, entry, f"{entry['median']:.1f} us")
    if "predict" in results:
        r = results["predict"]
        print(f"case 3: predict, n={r['n']} (median rows/s)")
        for name, entry in r["contenders"].items():
            line(name, entry, f"{entry['rows_per_s']:,.0f} rows/s")
    if "scaling" in results:
        r = results["scaling"]
        print("case 4: scratchnn scaling (one process per size)")
        for row in r["sizes"]:
            rss = row["peak_rss_above_data_mb"]
            rss_text = "n/a" if rss is None else f"{rss:.1f} MB"
            print(f"  n={row['n']:<8} {row['us_per_sample']:7.2f} us/sample  peak RSS above data "
                  f"{rss_text}, traced {row['peak_traced_above_data_mb']:.1f} MB")  # fmt: skip
        print(f"  spread of time per sample: {100 * r['spread']:.1f}%")
    load = results["load_average_1min"]
    print(f"threads: {results['threads']}; load average (1 min) at start {load['start']:.2f}, "
          f"at end {load['end']:.2f}")  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, 2 rounds: a smoke run")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--rounds", type=int, help="timed rounds per case (default 5)")
    parser.add_argument("--contenders", default=",".join(ALL_CONTENDERS))
    parser.add_argument("--cases", default="1,2,3,4", help="which cases, e.g. 1,3")
    parser.add_argument(
        "--threads", type=int, help="BLAS/OpenMP threads for every contender (default: NumPy's)"
    )
    parser.add_argument("--scaling-worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--epochs", type=int, default=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    names = ["scratchnn"] if args.scaling_worker else args.contenders.split(",")
    names = available([n for n in names if n])  # imported first: the limit must reach their BLAS
    if args.threads:
        from threadpoolctl import threadpool_limits

        global _thread_limits  # held for the whole run
        _thread_limits = threadpool_limits(limits=args.threads)
    if args.scaling_worker:
        print(json.dumps(scaling_worker(args.scaling_worker, args.epochs)))
        return {}
    threads = blas_threads()
    load_start = os.getloadavg()
    if "torch" in names:
        import torch

        torch.set_num_threads(threads)
    rounds = args.rounds or (2 if args.quick else 5)
    n = 2_000 if args.quick else 60_000
    cases = {int(k) for k in args.cases.split(",")}
    results: dict = {"machine": machine_info(), "threads": threads, "rounds": rounds}
    if 1 in cases:
        results["epoch"] = case_epoch(names, n, rounds, 5 if args.quick else 100)
    if 2 in cases:
        results["xor"] = case_xor(names, 200 if args.quick else 5_000, rounds)
    if 3 in cases:
        results["predict"] = case_predict(names, n, rounds)
    if 4 in cases and "scratchnn" in names:
        sizes = [600, 2_000] if args.quick else [6_000, 60_000, 600_000]
        results["scaling"] = case_scaling(sizes, 1 if args.quick else 3, args.threads)
    # Other processes on the machine slow the multithreaded GEMMs most: say how busy it was.
    results["load_average_1min"] = {"start": load_start[0], "end": os.getloadavg()[0]}
    print_table(results)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2)
    return results


if __name__ == "__main__":
    main()
