"""Fuzz the ONNX exporter's inputs: random networks, paths and opsets.

Each case builds a random network (dense, convolution, pooling, batch-norm, dropout, reshape and
activation layers; window, stride and padding values drawn from small and hostile ones, in
float32 or float64) and exports it with a random ``path`` and ``opset``. The exporter may refuse
the arguments with ``TypeError`` or ``ValueError`` (and building may refuse the network); a
network it exports must give, in ONNX Runtime, the outputs ``predict`` gives. Anything else is
an *escape*: another exception, an export that differs, or a refused export that wrote a file.

``tests/test_file_fuzzing.py`` runs a few hundred seeded cases; for a long run::

    python tests/fuzz_onnx_export.py --cases 5000 --seed 1
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scratchnn import Sequential
from scratchnn.layers import (
    ELU,
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool2D,
    LeakyReLU,
    MaxPool2D,
    ReLU,
    Reshape,
    Softmax,
)

WINDOWS = [1, 1, 2, 2, 3, 3, 4, 5, 7, 9, 15, 16, (1, 2), (3, 1), (2, 5), 100_000]
STRIDES = [None, 1, 1, 2, 3, (1, 2), (2, 1), 8, 9, 100_000]
PADDINGS = ["valid", "same"]
ACTIVATIONS = [None, "relu", "tanh", "sigmoid", "softmax", "gelu", "softplus", "elu"]
OPSETS = [None, None, None, 13, 17, 18, 12, 0, -1, 10**9, "17", 17.0, True]


def _window_layer(rng: np.random.Generator) -> Any:
    kind = rng.choice(["conv", "max", "avg"])
    window = WINDOWS[int(rng.integers(len(WINDOWS)))]
    stride = STRIDES[int(rng.integers(len(STRIDES)))]
    padding = str(rng.choice(PADDINGS))
    if kind == "conv":
        activation = ACTIVATIONS[int(rng.integers(len(ACTIVATIONS)))]
        strides = 1 if stride is None else stride
        return Conv2D(int(rng.integers(1, 4)), window, strides, padding, activation)
    pool = MaxPool2D if kind == "max" else AvgPool2D
    return pool(window, stride, padding)


def random_network(rng: np.random.Generator) -> tuple[Sequential, tuple[int, ...]]:
    """A random network and its input shape (images or flat rows)."""
    layers: list[Any] = []
    if rng.random() < 0.7:
        shape: tuple[int, ...] = (int(rng.integers(1, 10)), int(rng.integers(1, 10)), 2)
        if rng.random() < 0.2:  # flat rows reshaped into images
            layers.append(Reshape(shape))
            shape = (int(np.prod(shape)),)
        for _ in range(int(rng.integers(1, 4))):
            roll = rng.random()
            if roll < 0.75:
                layers.append(_window_layer(rng))
            elif roll < 0.85:
                layers.append(BatchNorm())
            elif roll < 0.95:
                layers.append(Dropout(0.3))
            else:
                layers.append(ReLU())
        layers.append(GlobalAvgPool2D() if rng.random() < 0.5 else Flatten())
    else:
        shape = (int(rng.integers(1, 6)),)
    for _ in range(int(rng.integers(0, 3))):
        layers.append(Dense(int(rng.integers(1, 5)), ACTIVATIONS[int(rng.integers(4))]))
        if rng.random() < 0.2:
            layers.append([LeakyReLU(0.1), ELU(), BatchNorm()][int(rng.integers(3))])
    head = rng.choice(["dense", "softmax", "none"])
    if head == "dense":
        layers.append(Dense(int(rng.integers(1, 4)), str(rng.choice(["softmax", "sigmoid"]))))
    elif head == "softmax" or not layers:
        layers.append(Softmax())
    dtype = str(rng.choice(["float32", "float64"]))
    return Sequential(layers, seed=int(rng.integers(1000)), dtype=dtype), shape


@dataclass
class Report:
    cases: int = 0
    outcomes: Counter = field(default_factory=Counter)
    escapes: list[str] = field(default_factory=list)


def _paths(rng: np.random.Generator, folder: Path) -> Any:
    roll = rng.random()
    if roll < 0.7:
        return None if rng.random() < 0.5 else folder / "out.onnx"
    return [folder, folder / "missing" / "m.onnx", "", "a\0b", 3, b"m.onnx", folder / "m.npz"][
        int(rng.integers(7))
    ]


def try_case(rng: np.random.Generator, folder: Path, report: Report) -> None:
    from scratchnn.export import to_onnx

    report.cases += 1
    model, shape = random_network(rng)
    try:
        model.build(shape)
    except ValueError:
        report.outcomes["network refused"] += 1
        return
    path, opset = _paths(rng, folder), OPSETS[int(rng.integers(len(OPSETS)))]
    written = folder / "out.onnx"
    written.unlink(missing_ok=True)
    description = f"{model!r} on {shape}, path={path!r}, opset={opset!r}"
    try:
        proto = to_onnx(model, path, opset=opset)
    except (TypeError, ValueError) as error:
        if written.exists():
            report.escapes.append(f"refused ({error}) but wrote a file: {description}")
        report.outcomes[f"export refused ({type(error).__name__})"] += 1
        return
    except Exception as error:  # noqa: BLE001 - recording every escape is the point
        report.escapes.append(f"{type(error).__name__}: {str(error)[:160]} in {description}")
        return
    X = np.random.default_rng(0).normal(size=(3, *shape)).astype(model.dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = model.predict(X)
    got = _run(proto, X)
    if got is None:
        report.outcomes["exported"] += 1
    elif np.allclose(got, expected, rtol=1e-4, atol=1e-5, equal_nan=True):
        report.outcomes["exported, same outputs"] += 1
    else:
        largest = np.nanmax(np.abs(got - expected))
        report.escapes.append(f"ONNX outputs differ by {largest:.3g}: {description}")


def _run(proto: Any, X: np.ndarray) -> np.ndarray | None:
    try:
        import onnxruntime
    except ImportError:
        return None
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(
        proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return session.run(None, {"input": X})[0]


def run(cases: int, seed: int, folder: Path) -> Report:
    rng = np.random.default_rng(seed)
    (folder / "m.npz").write_bytes(b"not a model")
    report = Report()
    for _ in range(cases):
        try_case(rng, folder, report)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        report = run(args.cases, args.seed, Path(folder))
    print(f"{report.cases} cases in {time.perf_counter() - started:.1f} s, seed {args.seed}")
    for outcome, count in sorted(report.outcomes.items()):
        print(f"  {outcome:32} {count}")
    print(f"{len(report.escapes)} escapes")
    for escape in report.escapes[:20]:
        print(f"- {escape[:400]}")
    return 1 if report.escapes else 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
