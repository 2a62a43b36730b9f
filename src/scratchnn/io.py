"""Model files: one versioned ``.npz`` archive holding a JSON header and the model's arrays.

A model file is a ZIP archive written by ``numpy.savez`` (entries stored, not compressed). It
holds one ``.npy`` entry per array: ``__config__``, the UTF-8 bytes of a JSON header as a
``uint8`` vector, and the weights, named ``layers.{i}.params.{name}`` (trainable) and
``layers.{i}.state.{name}`` (batch-norm running statistics); checkpoints add
``optimizer.{slot}``. Files are read with ``allow_pickle=False``: loading never runs code from the
file. Every problem with a file raises :class:`ModelFileError`. The format is described in full,
for other programs, in ``docs/model-format.md``.

The container itself (atomic writes, checked reads) is :mod:`scratchnn.archive`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from .archive import (
    CONFIG_KEY,
    FORMAT_NAME,
    FORMAT_VERSION,
    ModelFileError,
    read_model_file,
    write_model_file,
)

if TYPE_CHECKING:
    from .model import Sequential
    from .optimizers import Optimizer
    from .tutorial import NeuralNetwork

__all__ = [
    "CONFIG_KEY",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "ModelFileError",
    "load",
    "read_model_file",
    "save",
    "write_model_file",
]


# -- what goes into a file ------------------------------------------------------------------------
def model_arrays(model: Sequential) -> dict[str, np.ndarray]:
    """The arrays of a built model by their file names (views, not copies)."""
    arrays = {}
    for index, layer in enumerate(model.layers):
        for name, value in layer.params.items():
            arrays[f"layers.{index}.params.{name}"] = value
        for name, value in layer.state.items():
            arrays[f"layers.{index}.state.{name}"] = value
    return arrays


def optimizer_payload(optimizer: Optimizer) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The optimizer's JSON entry (config, update count, size) and its moment arrays."""
    state = optimizer.get_state()
    header = {
        "config": optimizer.get_config(),
        "iterations": state["iterations"],
        "size": state.get("size"),
        "dtype": state.get("dtype"),
    }
    arrays = {f"optimizer.{name}": value for name, value in state["slots"].items()}
    return header, arrays


def _sequential_of(model: Any) -> tuple[str, Sequential, dict[str, Any] | None]:
    from .model import Sequential
    from .tutorial import NeuralNetwork

    if isinstance(model, NeuralNetwork):
        wrapper = {
            "input_dim": model.input_dim,
            "hidden_dim": model.hidden_dim,
            "output_dim": model.output_dim,
            "learning_rate": model.learning_rate,
            "seed": model.model.seed,
            "dtype": np.dtype(model.model.dtype).name,
        }
        return "NeuralNetwork", model.model, wrapper
    if isinstance(model, Sequential):
        return "Sequential", model, None
    from ._validation import describe

    raise TypeError(f"model must be a Sequential or a NeuralNetwork, got {describe(model)}")


def build_payload(model: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The JSON header and arrays that describe ``model`` (a Sequential or NeuralNetwork)."""
    kind, sequential, wrapper = _sequential_of(model)
    if not sequential.built:
        raise ValueError(
            "model must be built before saving (fit it or call build(input_dim)), got an "
            "unbuilt model"
        )
    arrays = dict(model_arrays(sequential))
    header: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "library_version": _library_version(),
        "kind": kind,
        "model": sequential.get_config(),
        "rng_state": sequential.rng.bit_generator.state,
    }
    if wrapper is not None:
        header["neural_network"] = wrapper
        optimizer_header, optimizer_arrays = optimizer_payload(model.optimizer)
        header["optimizer"] = optimizer_header
        arrays.update(optimizer_arrays)
    return header, arrays


def _library_version() -> str:
    from . import __version__

    return __version__


def save(model: Any, path: str | os.PathLike) -> None:
    """Save a :class:`~scratchnn.Sequential` or :class:`~scratchnn.NeuralNetwork` to ``path``.

    The file holds the architecture, weights, batch-norm statistics and the random generator's
    state (and, for a ``NeuralNetwork``, its optimizer). ``path`` is used as given; ``.npz`` is
    the customary extension.
    """
    header, arrays = build_payload(model)
    write_model_file(path, header, arrays)


def restore_sequential(header: dict[str, Any], arrays: dict, path: str) -> Sequential:
    """Rebuild the Sequential a checked header describes and fill in its arrays and rng."""
    from .model import Sequential

    try:
        model = Sequential.from_config(header["model"])
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise ModelFileError(f"{path!r}: the model config cannot be rebuilt: {error}") from None
    if not model.built:
        raise ModelFileError(f"{path!r}: the model config has no input_dim: it was never built")
    expected = model_arrays(model)
    for name, target in expected.items():
        if name not in arrays:
            raise ModelFileError(f"{path!r} lacks the array {name!r} that its model needs")
        source = arrays[name]
        if source.shape != target.shape or source.dtype != target.dtype:
            raise ModelFileError(
                f"{path!r}: array {name!r} must have shape {target.shape} and dtype "
                f"{target.dtype} for this model, got shape {source.shape} and dtype {source.dtype}"
            )
    unused = sorted(n for n in arrays if n.startswith("layers.") and n not in expected)
    if unused:
        raise ModelFileError(f"{path!r} holds arrays this model has no place for: {unused}")
    try:
        model.rng.bit_generator.state = header["rng_state"]
    except (ValueError, TypeError, KeyError) as error:
        raise ModelFileError(
            f"{path!r}: rng_state is not a valid generator state: {error}"
        ) from None
    for name, target in expected.items():
        target[...] = arrays[name]
    return model


def restore_optimizer(entry: Any, arrays: dict, path: str) -> Optimizer:
    """Rebuild an optimizer from its header entry and ``optimizer.*`` arrays."""
    from .optimizers import get_optimizer

    try:
        optimizer = get_optimizer(dict(entry["config"]))
        slots = {name: arrays[f"optimizer.{name}"] for name in optimizer.slot_names}
        state = {"iterations": entry["iterations"], "slots": slots}
        if entry.get("size") is not None:
            state.update(size=entry["size"], dtype=entry["dtype"])
            for name, value in slots.items():
                if value.shape != (entry["size"],) or value.dtype.name != entry["dtype"]:
                    raise ValueError(
                        f"optimizer.{name} must have shape ({entry['size']},) and dtype "
                        f"{entry['dtype']}, got {value.shape} and {value.dtype}"
                    )
        optimizer.set_state(state)
    except (ValueError, TypeError, KeyError) as error:
        raise ModelFileError(f"{path!r}: the optimizer cannot be rebuilt: {error}") from None
    return optimizer


def load(path: str | os.PathLike) -> Sequential | NeuralNetwork:
    """Load a model saved by :func:`save` (or a checkpoint): a Sequential or a NeuralNetwork.

    Raises :class:`ModelFileError` (a ``ValueError``) for anything but a sound model file, and
    ``FileNotFoundError`` when there is no file.
    """
    header, arrays = read_model_file(path)
    path = os.fspath(path)
    if header["kind"] == "NeuralNetwork":
        return _restore_neural_network(header, arrays, path)
    if header["kind"] != "Sequential":
        raise ModelFileError(
            f"{path!r}: kind must be 'Sequential' or 'NeuralNetwork', got {header['kind']!r}"
        )
    model = restore_sequential(header, arrays, path)
    check_optimizer_arrays(header, arrays, path)
    return model


def check_optimizer_arrays(header: dict, arrays: dict, path: str) -> Optimizer | None:
    """Rebuild the header's optimizer, if any; refuse arrays that neither model nor it uses."""
    optimizer = None
    if "optimizer" in header:
        optimizer = restore_optimizer(header["optimizer"], arrays, path)
    slots = () if optimizer is None else optimizer.slot_names
    stray = sorted(
        name
        for name in arrays
        if not name.startswith("layers.") and name[len("optimizer.") :] not in slots
    )
    if stray:
        raise ModelFileError(f"{path!r} holds arrays this model has no place for: {stray}")
    return optimizer


def _restore_neural_network(header: dict, arrays: dict, path: str) -> NeuralNetwork:
    from .tutorial import NeuralNetwork

    model = restore_sequential(header, arrays, path)
    try:
        wrapper = NeuralNetwork(**header["neural_network"])
    except (ValueError, TypeError, KeyError) as error:
        raise ModelFileError(f"{path!r}: the NeuralNetwork entry is invalid: {error}") from None
    if wrapper.model.get_config() != model.get_config():
        raise ModelFileError(f"{path!r}: the NeuralNetwork entry does not match its layers")
    wrapper.model = model
    if "optimizer" not in header:
        raise ModelFileError(f"{path!r}: a NeuralNetwork file must hold its optimizer")
    wrapper.optimizer = check_optimizer_arrays(header, arrays, path)
    return wrapper
