"""The bodies of the ``scratchnn`` subcommands, and how they turn options into data and a model.

``train`` standardises inputs and then folds the scaling into layer 0
(:func:`fold_standardization`), so a saved model takes raw inputs.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from .. import datasets, plot
from ..callbacks import EarlyStopping
from ..io import load
from ..layers import Dense, Dropout, get_layer_class
from ..losses import get_loss
from ..model import Sequential
from ..optimizers import get_optimizer
from ..plot import confusion_matrix

DEMOS: dict[str, list[str]] = {
    "xor": [
        "xor",
        "--layers",
        "8",
        "--activation",
        "tanh",
        "--epochs",
        "400",
        "--batch-size",
        "4",
        "--lr",
        "0.05",
        "--validation-split",
        "0",
        "--no-standardize",
    ],
    "spirals": [
        "spirals",
        "--n-arms",
        "3",
        "--n-samples",
        "600",
        "--layers",
        "64,64",
        "--epochs",
        "300",
        "--lr",
        "0.01",
    ],
    "digits": ["digits", "--layers", "64", "--epochs", "40", "--early-stopping", "5"],
}


class UsageError(Exception):
    """A command-line argument that makes no sense (exit status 2)."""


# -- data -----------------------------------------------------------------------------------------
def _load_data(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, str]:
    """``(X, y, name)`` from a data set name, ``--csv``/``--target`` or ``--mnist DIR``."""
    if getattr(args, "mnist", None) is not None:
        if args.dataset is not None or args.csv is not None:
            raise UsageError("give one of a data set name, --csv or --mnist")
        X, y = datasets.load_mnist(args.mnist, kind=args.mnist_kind)
        return X, y, f"mnist-{args.mnist_kind}"
    if args.csv is not None:
        if args.dataset is not None:
            raise UsageError("give either a data set name or --csv, not both")
        if args.target is None:
            raise UsageError("--csv needs --target COLUMN (a name, or an index with --no-header)")
        X, y = datasets.load_csv(args.csv, target=args.target, header=not args.no_header)
        return X, y, Path(args.csv).stem
    if args.dataset is None:
        raise UsageError("give a data set name (e.g. spirals, digits) or --csv PATH --target COL")
    options: dict[str, Any] = {}
    if args.dataset in datasets.GENERATED:
        if args.n_samples is not None:
            options["n_samples"] = args.n_samples
        if args.noise is not None:
            options["noise"] = args.noise
        if args.n_arms is not None and args.dataset == "spirals":
            options["n_arms"] = args.n_arms
        if args.dataset == "xor" and args.n_samples is None:
            options["n_samples"] = 4
    elif args.dataset not in datasets.BUNDLED:
        known = ", ".join([*datasets.GENERATED, *datasets.BUNDLED])
        raise UsageError(f"unknown data set {args.dataset!r} (known: {known}; or use --csv)")
    X, y = datasets.load(args.dataset, seed=args.seed, **options)
    return X, y, args.dataset


def _is_classification(args: argparse.Namespace, y: np.ndarray) -> bool:
    task = args.task
    if task == "auto":
        if args.csv is None:
            return args.dataset not in datasets.REGRESSION
        whole = np.all(y == np.round(y))
        task = "classification" if whole and len(np.unique(y)) <= 20 else "regression"
    if task == "classification":
        if np.any(y != np.round(y)) or y.min() < 0:
            raise UsageError(
                "classification needs targets 0, 1, ..., K-1; these are not "
                "(use --task regression for numeric targets)"
            )
    return task == "classification"


# -- the model ------------------------------------------------------------------------------------
def _layer_from_spec(item: Any, index: int, source: str) -> Any:
    if isinstance(item, dict) and "class_name" in item:
        return get_layer_class(item["class_name"]).from_config(item.get("config", {}))
    if isinstance(item, dict) and "units" in item:
        return Dense(**item)
    if isinstance(item, dict) and set(item) == {"dropout"}:
        return Dropout(item["dropout"])
    raise ValueError(
        f"{source}: layers[{index}] must be {{'units': N, 'activation': ...}}, {{'dropout': p}} "
        f"or {{'class_name': ..., 'config': ...}}, got {item!r}"
    )


def _read_spec(path: Path) -> Any:
    """A layer list from JSON, or from TOML (``[[layers]]`` tables) when the name ends .toml."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ValueError(f"{path}: not valid TOML ({error})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None


def _build_model(args: argparse.Namespace, n_outputs: int, classification: bool) -> Any:
    if args.spec is not None:
        spec = _read_spec(Path(args.spec))
        items = spec.get("layers") if isinstance(spec, dict) else spec
        if not isinstance(items, list) or not items:
            raise ValueError(f"{args.spec}: expected a list of layers or {{'layers': [...]}}")
        layers = [_layer_from_spec(item, i, args.spec) for i, item in enumerate(items)]
    else:
        try:
            widths = [int(w) for w in args.layers.split(",") if w.strip()] if args.layers else []
        except ValueError:
            raise UsageError(f"--layers must be widths like 64,32, got {args.layers!r}") from None
        layers = [Dense(width, args.activation) for width in widths]
        if classification:
            layers.append(Dense(1, "sigmoid") if n_outputs == 2 else Dense(n_outputs, "softmax"))
        else:
            layers.append(Dense(n_outputs))
    return Sequential(layers, seed=args.seed, dtype=args.dtype)


def default_loss(model: Any) -> str:
    """The loss that suits the model's last activation: cross-entropy for classifiers."""
    activation = getattr(getattr(model.layers[-1], "activation", None), "name", "linear")
    return {"softmax": "categorical_crossentropy", "sigmoid": "binary_crossentropy"}.get(
        activation, "mse"
    )


def _is_classifier(model: Any) -> bool:
    return default_loss(model) != "mse"


def fold_standardization(model: Any, mean: np.ndarray, std: np.ndarray) -> None:
    """Make ``model`` take raw ``x`` instead of ``(x - mean) / std`` by rewriting layer 0.

    ``((x - m) / s) W + b = x (W / s) + (b - (m / s) W)``.
    """
    params = model.layers[0].params
    W = params["W"].astype(np.float64)
    params["b"][...] = params["b"] - (mean / std) @ W
    params["W"][...] = W / std[:, None]


def _can_fold(model: Any) -> bool:
    first = model.layers[0]
    return "W" in getattr(first, "params", {}) and "b" in first.params


# -- commands -------------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    _train(args)
    return 0


def _train(args: argparse.Namespace) -> Any:
    """Run ``train`` and return the trained model."""
    _check_training_options(args)
    X, y, name = _load_data(args)
    classification = _is_classification(args, y)
    n_outputs = int(y.max()) + 1 if classification else (1 if y.ndim == 1 else y.shape[1])
    order = np.random.default_rng(args.seed).permutation(len(X))  # random validation split
    X, y = X[order], y[order]
    try:
        model = _build_model(args, n_outputs, classification)
        loss = args.loss or default_loss(model)
        settings = {"learning_rate": args.lr} if args.lr is not None else {}
        optimizer = get_optimizer(args.optimizer, **settings)
        get_loss(loss)
    except (ValueError, TypeError) as error:
        raise UsageError(str(error)) from error
    model.build(X.shape[1])
    standardize = not args.no_standardize
    if standardize and not _can_fold(model):
        print("note: the first layer has no W and b to fold scaling into: inputs left raw")
        standardize = False
    mean, std = X.mean(axis=0), X.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    X_fit = (X - mean) / std if standardize else X
    callbacks = []
    if args.early_stopping is not None:
        monitor = "val_loss" if args.validation_split > 0 else "loss"
        callbacks.append(
            EarlyStopping(monitor, patience=args.early_stopping, restore_best_weights=True)
        )
    metrics = ["accuracy"] if classification else ["mae"]
    history = model.fit(
        X_fit,
        y,
        loss=loss,
        optimizer=optimizer,
        epochs=args.epochs,
        batch_size=args.batch_size,
        validation_split=args.validation_split,
        metrics=metrics,
        callbacks=callbacks,
        verbose=0 if args.quiet else 1,
    )
    if standardize:
        fold_standardization(model, mean, std)
    model.summary()
    final = {key: values[-1] for key, values in history.history.items()}
    epochs = len(history.epoch)
    print(f"trained on {name}: {len(X)} samples, {epochs} epoch(s); " + _format(final))
    if history.stop_reason:
        print(f"stopped early: {history.stop_reason}")
    if args.out:
        model.save(args.out)
        print(f"saved model to {args.out}")
    if args.plots:
        n_val = len(X) - int(len(X) * (1 - args.validation_split))
        shown_X, shown_y = (X[-n_val:], y[-n_val:]) if n_val else (X, y)
        for path in _write_plots(args.plots, model, history, X, y, shown_X, shown_y):
            print(f"wrote {path}")
    return model


def _check_training_options(args: argparse.Namespace) -> None:
    for option in ("epochs", "batch_size"):
        if getattr(args, option) < 1:
            flag = "--" + option.replace("_", "-")
            raise UsageError(f"{flag} must be at least 1, got {getattr(args, option)}")
    if not 0 <= args.validation_split < 1:
        raise UsageError(f"--validation-split must be in [0, 1), got {args.validation_split}")
    if args.lr is not None and not args.lr > 0:
        raise UsageError(f"--lr must be positive, got {args.lr}")
    if args.early_stopping is not None and args.early_stopping < 0:
        raise UsageError(f"--early-stopping must be 0 or more, got {args.early_stopping}")


def _format(numbers: dict[str, float]) -> str:
    return "  ".join(f"{key}={value:.4f}" for key, value in numbers.items())


def _write_plots(folder: str, model: Any, history: Any, X, y, X_check, y_check) -> list[Path]:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "learning_curves.png", out / "network.png", out / "weights.png"]
    plot.plot_learning_curves(history, written[0])
    plot.plot_network(model, written[1])
    plot.plot_weight_histograms(model, X, written[2])
    if _is_classifier(model):
        written.append(out / "confusion_matrix.png")
        plot.plot_confusion_matrix(
            y_check, model.predict(X_check), normalize=True, path=written[-1]
        )
        if X.shape[1] == 2:
            written.append(out / "decision_boundary.png")
            plot.plot_decision_boundary(model, X, y, written[-1])
    return written


def cmd_evaluate(args: argparse.Namespace) -> int:

    model = load(args.model)
    X, y, name = _load_data(args)
    loss = args.loss or default_loss(model)
    metrics = ["accuracy"] if _is_classifier(model) else ["mae", "r2"]
    print(f"{name}: {len(X)} samples")
    print(_format(model.evaluate(X, y, loss=loss, metrics=metrics)))
    if _is_classifier(model):
        counts = confusion_matrix(y, model.predict(X), n_classes=max(2, model.output_dim))
        print("confusion matrix (rows: true class, columns: predicted class)")
        width = max(3, len(str(counts.max())))
        print(" " * 4 + " ".join(f"{k:>{width}}" for k in range(len(counts))))
        for k, row in enumerate(counts):
            print(f"{k:>3} " + " ".join(f"{c:>{width}}" for c in row))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:

    model = load(args.model)
    X, _ = datasets.load_csv(args.input, target=args.drop, header=not args.no_header)
    outputs = model.predict(X)
    if _is_classifier(model):
        probabilities = outputs if outputs.shape[1] > 1 else np.hstack([1 - outputs, outputs])
        header = ["class"] + [f"prob_{k}" for k in range(probabilities.shape[1])]
        rows = [[int(np.argmax(p)), *(f"{v:.6g}" for v in p)] for p in probabilities]
    else:
        header = [f"output_{k}" for k in range(outputs.shape[1])]
        rows = [[f"{v:.6g}" for v in row] for row in outputs]
    handle = open(args.out, "w", newline="", encoding="utf-8") if args.out else sys.stdout
    try:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    finally:
        if args.out:
            handle.close()
    return 0


def cmd_summary(args: argparse.Namespace) -> int:

    model = load(args.model)
    print(
        f"{args.model}: {type(model).__name__}, input {model.input_dim} features, "
        f"dtype {np.dtype(model.dtype).name}"
    )
    model.summary()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    argv = ["train", *DEMOS[args.name], "--seed", str(args.seed)]
    argv += ["--plots", args.plots] if args.plots else []
    argv += ["--out", args.out] if args.out else []
    argv += ["--quiet"] if args.quiet else []
    model = _train(args.parse_train(argv))  # the parser hands itself in: no import cycle
    if args.name == "xor":
        X, y = datasets.make_xor()
        for point, target, output in zip(X, y, model.predict(X)[:, 0], strict=True):
            print(f"xor{tuple(int(v) for v in point)} = {target}, network says {output:.3f}")
    return 0
