"""The network ``train`` builds, the checks that it fits the data, and the scaling folded into it.

Inputs are standardised for training and the scaling is folded into layer 0 afterwards
(:func:`fold_standardization`); regression targets are standardised too and the scaling is
folded into the linear output layer (:func:`fold_target_scaling`). The saved model thus takes
raw inputs and gives outputs in the targets' own units, with nothing but its file.
"""

from __future__ import annotations

import argparse
import json
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from ..layers import Dense, Dropout, get_layer_class
from ..losses import BinaryCrossEntropy, CategoricalCrossEntropy, get_loss
from ..model import Sequential
from .data import UsageError

MAX_SPEC_BYTES = 1 << 20  # a layer list is a few hundred bytes; refuse anything near a megabyte


def _layer_from_spec(item: Any, index: int, source: str) -> Any:
    try:
        if isinstance(item, dict) and "class_name" in item:
            return get_layer_class(item["class_name"]).from_config(item.get("config", {}))
        if isinstance(item, dict) and "units" in item:
            return Dense(**item)
        if isinstance(item, dict) and set(item) == {"dropout"}:
            return Dropout(item["dropout"])
    except (TypeError, ValueError) as error:
        raise ValueError(f"{source}: layers[{index}]: {error}") from None
    raise ValueError(
        f"{source}: layers[{index}] must be {{'units': N, 'activation': ...}}, {{'dropout': p}} "
        f"or {{'class_name': ..., 'config': ...}}, got {str(item)[:80]}"
    )


def read_spec(path: Path) -> Any:
    """A layer list from JSON, or from TOML (``[[layers]]`` tables) when the name ends .toml."""
    if not path.is_file():
        raise FileNotFoundError(f"--spec: no such file {str(path)!r}")
    if path.stat().st_size > MAX_SPEC_BYTES:
        size = path.stat().st_size
        raise ValueError(f"--spec {path}: {size} bytes, far more than a layer list needs")
    text = path.read_text(encoding="utf-8")
    kind = "TOML" if path.suffix.lower() == ".toml" else "JSON"
    try:
        return tomllib.loads(text) if kind == "TOML" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not valid {kind} ({error})") from None
    except RecursionError:
        raise ValueError(f"{path}: nested too deeply to be a list of layers") from None


def build_model(args: argparse.Namespace, n_outputs: int, classification: bool) -> Sequential:
    """The layers of ``--spec`` or of ``--layers`` plus an output layer that suits the data."""
    if args.spec is not None:
        spec = read_spec(Path(args.spec))
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


def output_layer(model: Any) -> Any:
    """The layer that makes the model's output: a stack's last, a graph's output node's."""
    if model.is_graph:
        return model.graph[1][0].node.layer
    return model.layers[-1]


def last_activation(model: Any) -> str:
    """The name of the model's output activation (``linear`` when it has none)."""
    return output_layer(model).output_activation or "linear"


def default_loss(model: Any) -> str:
    """The loss that suits the model's last activation: cross-entropy for classifiers."""
    return {"softmax": "categorical_crossentropy", "sigmoid": "binary_crossentropy"}.get(
        last_activation(model), "mse"
    )


def is_classifier(model: Any) -> bool:
    """Whether the model's output layer gives class probabilities (softmax or sigmoid)."""
    return default_loss(model) != "mse"


def check_fit(model: Any, args: argparse.Namespace, loss: str, classes: list | None, y) -> None:
    """Refuse a loss or an output layer that cannot fit these targets, naming both."""
    source = f"the last layer of --spec {args.spec}" if args.spec else "the output layer"
    cross_entropy = isinstance(get_loss(loss), (BinaryCrossEntropy, CategoricalCrossEntropy))
    if classes is not None:
        n_classes = len(classes)
        if not cross_entropy and args.loss is None:  # the loss came from the spec's last layer
            raise UsageError(
                f"{source} has activation {last_activation(model)!r}, so the loss defaults to "
                f"mse, but the data have {n_classes} classes: end the spec with an output layer "
                f'such as {{"units": {n_classes}, "activation": "softmax"}}'
            )
        if not cross_entropy:
            raise UsageError(
                f"--loss {loss} needs numeric targets, but these are {n_classes} classes "
                f"({', '.join(map(str, classes[:5]))}): leave --loss out for cross-entropy, "
                "or give --task regression to fit class numbers as values"
            )
        wanted = {1, n_classes} if n_classes == 2 else {n_classes}
        if model.output_dim not in wanted:
            raise UsageError(
                f"{source} has {model.output_dim} unit(s), but the data have {n_classes} classes: "
                f"it needs {n_classes} (softmax)" + (" or 1 (sigmoid)" if n_classes == 2 else "")
            )
        return
    n_targets = 1 if y.ndim == 1 else y.shape[1]
    if cross_entropy and args.loss is None:  # the loss came from the spec's last layer
        raise UsageError(
            f"{source} has activation {last_activation(model)!r}, so the loss defaults to "
            f"{loss}, but the targets are numbers to predict (regression): end the spec with "
            f'a linear output layer such as {{"units": {n_targets}}}, or give --task '
            "classification"
        )
    if cross_entropy:
        raise UsageError(
            f"--loss {loss} needs class labels, but the targets are numbers to predict "
            "(regression): leave --loss out for mse, or give --task classification"
        )
    if model.output_dim != n_targets:
        raise UsageError(
            f"{source} has {model.output_dim} unit(s), but there are {n_targets} target "
            f"column(s): it needs {n_targets}"
        )


def _dense_with_bias(layer: Any) -> bool:
    """Whether ``layer`` says it computes ``x W + b`` along the last axis (and has a ``b``)."""
    return layer.kernel_layout == "dense" and "b" in layer.params


def can_fold_inputs(model: Any) -> bool:
    """Whether layer 0 is dense with a bias (``x W + b``) to absorb the input scaling."""
    return _dense_with_bias(model.layers[0])


def can_fold_targets(model: Any) -> bool:
    """Whether the output layer is affine (dense, a bias, no activation) to absorb the scaling
    of the targets."""
    return _dense_with_bias(model.layers[-1]) and last_activation(model) == "linear"


def fold_standardization(model: Any, mean: np.ndarray, std: np.ndarray) -> None:
    """Make ``model`` take raw ``x`` instead of ``(x - mean) / std`` by rewriting layer 0.

    ``((x - m) / s) W + b = x (W / s) + (b - (m / s) W)``.
    """
    params = model.layers[0].params
    W = params["W"].astype(np.float64)
    params["b"][...] = params["b"] - (mean / std) @ W
    params["W"][...] = W / std[:, None]


def fold_target_scaling(model: Any, mean: np.ndarray, scale: np.ndarray) -> None:
    """Make the output layer give ``y`` instead of ``(y - mean) / scale``.

    ``(h W + b) s + m = h (W s) + (b s + m)``, column by column.
    """
    params = model.layers[-1].params
    params["W"][...] = params["W"].astype(np.float64) * scale
    params["b"][...] = params["b"].astype(np.float64) * scale + mean
