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

import math
import os
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from ._header import FORMAT_NAME, FORMAT_VERSION
from ._validation import all_finite, check_not_training, describe
from ._version import __version__
from .archive import CONFIG_KEY, ModelFileError, read_model_file, write_model_file
from .datasets import Vocabulary
from .graph import GraphError, Topology
from .layers.base import as_shape, get_layer_class
from .layers.embedding import Embedding
from .network import Network, graph_from_config
from .optimizers import Optimizer, get_optimizer

__all__ = [
    "CONFIG_KEY",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "ModelFileError",
    "load",
    "read_model_file",
    "register_kind",
    "save",
    "write_model_file",
]

# kind name -> (class, rebuild a bare network of that class from its config). The classes
# register themselves (Sequential in model.py, NeuralNetwork in tutorial.py): this module knows
# the file, not the fronts above it.
_KINDS: dict[str, tuple[type, Callable[[dict[str, Any]], Any]]] = {}


def register_kind(name: str, cls: type, from_config: Callable[[dict[str, Any]], Any]) -> None:
    """Let ``save`` write ``cls`` objects as ``kind: name`` and ``load`` rebuild them.

    An object of a kind other than a network provides ``file_entries()``, returning
    ``(network, extra header entries, extra arrays)``, and ``from_config`` for it receives
    ``(header, arrays, network, path)``.
    """
    _KINDS[name] = (cls, from_config)


def _kind_of(model: Any) -> str:
    for name, (cls, _) in _KINDS.items():
        if type(model) is cls:
            return name
    for name, (cls, _) in _KINDS.items():
        if isinstance(model, cls):
            return name
    kinds = " or a ".join(cls.__name__ for cls, _ in _KINDS.values())
    raise TypeError(f"model must be a {kinds}, got {describe(model)}")


# -- what goes into a file ------------------------------------------------------------------------
def model_arrays(network: Network) -> dict[str, np.ndarray]:
    """The arrays of a built network by their file names (views, not copies)."""
    arrays = {}
    for index, layer in enumerate(network.layers):
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


def build_payload(model: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The JSON header and arrays that describe ``model`` (any registered kind)."""
    kind = _kind_of(model)
    if isinstance(model, Network):
        network, extra_header, extra_arrays = model, {}, {}
        for key in ("classes", "feature_names"):  # what Sequential keeps beside its weights
            if getattr(model, key, None) is not None:
                extra_header[key] = list(getattr(model, key))
        if getattr(model, "vocabulary", None) is not None:  # a text model's characters
            extra_header["vocabulary"] = checked_vocabulary(model.vocabulary, model).get_config()
    else:
        network, extra_header, extra_arrays = model.file_entries()
    if not network.built:
        raise ValueError(
            "model must be built before saving (fit it or call build(input_shape)), got an "
            "unbuilt model"
        )
    check_not_training(network, "save")
    if network is model:
        _check_before_saving(model)
    header: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION if network.is_graph else 2,  # readable by older ones
        "library_version": __version__,
        "kind": kind,
        "model": network.get_config(),
        "rng_state": network.rng.bit_generator.state,
        **extra_header,
    }
    return header, {**model_arrays(network), **extra_arrays}


def save(model: Any, path: str | os.PathLike) -> None:
    """Save a :class:`~scratchnn.Sequential` or :class:`~scratchnn.NeuralNetwork` to ``path``.

    The file holds the architecture, weights, batch-norm statistics and the random generator's
    state (and, for a ``NeuralNetwork``, its optimizer). ``path`` is used as given; ``.npz`` is
    the customary extension.
    """
    header, arrays = build_payload(model)
    write_model_file(path, header, arrays)


def _check_declared_shapes(config: dict[str, Any], arrays: dict, path: str) -> None:
    """Raise unless every array the config's layers would build is in ``arrays``, same shape.

    Layers are made from their configs (which allocates nothing) and asked for the shapes of
    what they would build; a layer that cannot say (``array_shapes`` is ``None``) stops the
    check there, and the arrays are compared once built. A graph is rebuilt as symbolic tensors
    (which computes shapes only) and each layer is asked about its first call's inputs.
    """
    if "graph" in config:
        inputs, outputs = graph_from_config(config["graph"])
        try:
            topology, _ = Topology.from_tensors(inputs, outputs)
        except GraphError as error:
            raise ModelFileError(f"{path!r}: the model's graph is unsound: {error}") from None
        for index, layer in enumerate(topology.layers):
            shapes = [t.shape for t in layer.calls[0].inputs]
            shape = shapes if layer.takes_list else shapes[0]
            declared = layer.array_shapes(shape)
            if declared is None:
                return
            what = f"{type(layer).__name__} {layer.name!r}"
            _compare_declared(declared, layer.array_kinds(shape), arrays, index, path, what)
        return
    layers = [
        get_layer_class(spec["class_name"]).from_config(spec["config"]) for spec in config["layers"]
    ]
    shape = config.get("input_shape") or config.get("input_dim")
    if not shape:
        return
    shape = as_shape(shape, open_axes=True)  # a sequence stack may leave its time axis open
    for index, layer in enumerate(layers):
        if layer.input_shape is not None and layer.input_shape != shape:
            raise ModelFileError(
                f"{path!r}: layer {index} ({spec_name(config, index)}) declares inputs of shape "
                f"{layer.input_shape}, but the layers before it give {shape}"
            )
        declared = layer.array_shapes(shape)
        if declared is None:
            return
        kinds = layer.array_kinds(shape)
        _compare_declared(declared, kinds, arrays, index, path, spec_name(config, index))
        shape = layer.output_shape(shape)


def _compare_declared(
    declared: dict, kinds: dict | None, arrays: dict, index: int, path: str, what: str
) -> None:
    """Raise unless layer ``index``'s arrays are in the file with the declared shapes (and, as
    the layer declares them, as parameters or state)."""
    for name, expected in declared.items():
        kind = (kinds or {}).get(name)
        if kind is None:  # a layer that does not say: whichever the file has
            kind = "state" if f"layers.{index}.state.{name}" in arrays else "params"
        key = f"layers.{index}.{kind}.{name}"
        if key not in arrays:
            raise ModelFileError(f"{path!r} lacks the array {key!r} that its model needs")
        if arrays[key].shape != tuple(expected):
            raise ModelFileError(
                f"{path!r}: array {key!r} must have shape {tuple(expected)} for this model "
                f"(layer {index}, {what}), got shape {arrays[key].shape}"
            )


def listing_fits_model(header: dict[str, Any], path: str) -> None:
    """Refuse a file whose listed array shapes its model does not take, before reading them."""
    listed = {  # shape-only stand-ins: no memory behind them
        name: np.broadcast_to(np.zeros((), np.uint8), spec["shape"])
        for name, spec in header["arrays"].items()
    }
    model = header["model"] if isinstance(header["model"], dict) else {}
    graph = model.get("graph")
    layers = graph.get("layers") if isinstance(graph, dict) else model.get("layers")
    count = len(layers) if isinstance(layers, list) else 0
    stray = [name for name in header["arrays"] if not _has_place(name, count)]
    if stray:
        raise ModelFileError(f"{path!r} holds arrays this model has no place for: {stray[:5]}")
    params = sum(math.prod(spec["shape"]) for name, spec in header["arrays"].items()
                 if name.startswith("layers.") and ".params." in name)  # fmt: skip
    for name, spec in header["arrays"].items():
        if name.startswith("optimizer.") and math.prod(spec["shape"]) > params:
            raise ModelFileError(
                f"{path!r}: array {name!r} of shape {tuple(spec['shape'])} holds more values "
                f"than the model's {params} parameters"
            )
    try:
        _check_declared_shapes(header["model"], listed, path)
    except ModelFileError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as error:
        raise ModelFileError(f"{path!r}: the model config cannot be rebuilt: {error}") from None


def _has_place(name: str, layers: int) -> bool:
    """Whether an array name can belong to a model of ``layers`` layers (or its optimizer)."""
    parts = name.split(".")
    if len(parts) == 2:
        return parts[0] == "optimizer"
    return (
        len(parts) == 4
        and parts[0] == "layers"
        and parts[1].isdigit()
        and int(parts[1]) < layers
        and parts[2] in ("params", "state")
    )


def spec_name(config: dict[str, Any], index: int) -> str:
    return str(config["layers"][index]["class_name"])


def restore_network(
    header: dict[str, Any], arrays: dict, path: str, from_config: Callable = Network.from_config
) -> Network:
    """Rebuild the network a checked header describes and fill in its arrays and rng.

    The shapes the config declares are compared with the file's arrays first, before any layer
    allocates its parameters: a 4 kB header cannot make the reader allocate gigabytes.
    """
    try:
        _check_declared_shapes(header["model"], arrays, path)
        model = from_config(header["model"])
    except ModelFileError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as error:
        raise ModelFileError(f"{path!r}: the model config cannot be rebuilt: {error}") from None
    if not model.built:
        raise ModelFileError(f"{path!r}: the model config has no input_shape: it was never built")
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
    for index, layer in enumerate(model.layers):
        for kind, values in (("params", layer.params), ("state", layer.state)):
            for name in values:
                array = arrays[f"layers.{index}.{kind}.{name}"]
                problem = None
                if array.dtype.kind == "f" and not all_finite(array):
                    problem = "it holds NaN or infinite values"
                elif kind == "state":
                    problem = layer.state_problem(name, array)
                if problem:
                    where = f"layers.{index}.{kind}.{name}"
                    raise ModelFileError(f"{path!r}: array {where!r} cannot be loaded: {problem}")
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


def wanted_classes(network: Network) -> int:
    """How many class labels a classifier with this output has: two for one sigmoid unit."""
    outputs = int(np.prod(network.output_shape))
    return 2 if outputs == 1 else outputs


def class_labels_problem(classes: Any) -> str | None:
    """What is wrong with a list of class labels (``None``: nothing): each text, a number or a
    boolean, finite, all distinct."""
    if not isinstance(classes, list):
        return f"classes must be a list of labels, got {describe(classes)[:80]}"
    for label in classes:
        if not isinstance(label, (str, int, float)) or (
            isinstance(label, float) and not math.isfinite(label)
        ):
            return f"a class label must be text, a finite number or a boolean, got {label!r:.80}"
    if len(set(classes)) != len(classes):
        return f"the class labels must be distinct, got {classes!r:.200}"
    return None


def feature_names_problem(names: Any, network: Network) -> str | None:
    """What is wrong with the names of a flat network's input columns (``None``: nothing)."""
    width = network.input_shape[0] if len(network.input_shape) == 1 else None
    if (
        width is None
        or not isinstance(names, list)
        or len(names) != width
        or not all(isinstance(name, str) for name in names)
    ):
        return (
            f"feature_names must be a list of one text per input column of a model with inputs "
            f"of shape {network.input_shape}, got {describe(names)[:80]}"
        )
    return None


def checked_classes(classes: Any, model: Network, path: str) -> list[Any] | None:
    """The class labels a file keeps: one distinct label per class the model outputs.

    A count that does not fit the outputs (files of older versions could be saved so) loads the
    model without its labels, with a warning: its weights are sound, its labels are not.
    """
    if classes is None:
        return None
    problem = class_labels_problem(classes)
    if problem:
        raise ModelFileError(f"{path!r}: {problem}")
    if len(classes) != wanted_classes(model):
        warnings.warn(
            f"{path!r} keeps {len(classes)} class labels for a model with "
            f"{int(np.prod(model.output_shape))} output(s); loaded without them (predict_labels "
            "gives class numbers)",
            stacklevel=3,
        )
        return None
    return classes


def _checked_feature_names(names: Any, model: Network, path: str) -> list[str] | None:
    """The names of a flat model's input columns a file keeps: one text per column."""
    problem = None if names is None else feature_names_problem(names, model)
    if problem:
        raise ModelFileError(f"{path!r}: {problem}")
    return names


def checked_vocabulary(vocabulary: Any, model: Network) -> Vocabulary:
    """A text model's :class:`Vocabulary` (or its config, from a file), checked against the
    model: not empty, and every id it gives within each ``Embedding``'s ``input_dim``."""
    if isinstance(vocabulary, dict):
        vocabulary = Vocabulary.from_config(vocabulary)
    if not isinstance(vocabulary, Vocabulary):
        raise TypeError(f"model.vocabulary must be a Vocabulary, got {describe(vocabulary)}")
    if not len(vocabulary):
        raise ValueError("the model's vocabulary must hold at least one character, got none")
    for layer in model.topology.layers:
        if isinstance(layer, Embedding) and len(vocabulary) > layer.input_dim:
            raise ValueError(
                f"the vocabulary's {len(vocabulary)} characters give ids up to "
                f"{len(vocabulary) - 1}, outside {layer.name!r}'s {layer.input_dim} ids"
            )
    return vocabulary


def restore_vocabulary(header: dict[str, Any], model: Network, path: str) -> None:
    """Set ``model.vocabulary`` from a file's header, if it keeps one; ModelFileError if unsound."""
    if header.get("vocabulary") is not None:
        try:
            model.vocabulary = checked_vocabulary(header["vocabulary"], model)
        except (TypeError, ValueError) as error:
            raise ModelFileError(f"{path!r}: {error}") from None


def _check_before_saving(model: Network) -> None:
    """A file is written only with labels and names its reader will accept."""
    classes, names = getattr(model, "classes", None), getattr(model, "feature_names", None)
    if classes is not None:
        problem = class_labels_problem(list(classes))
        if problem is None and len(classes) != wanted_classes(model):
            problem = (
                f"the model has {int(np.prod(model.output_shape))} output(s), which take "
                f"{wanted_classes(model)} class labels, but model.classes holds {len(classes)}"
            )
        if problem:
            raise ValueError(f"cannot save: {problem}")
    if names is not None and (problem := feature_names_problem(list(names), model)):
        raise ValueError(f"cannot save: {problem}")


def load(path: str | os.PathLike) -> Any:
    """Load a model saved by :func:`save` (or a checkpoint): a Sequential or a NeuralNetwork.

    Raises :class:`ModelFileError` (a ``ValueError``) for anything but a sound model file, and
    ``FileNotFoundError`` when there is no file.
    """
    header, arrays = read_model_file(path, listing_fits_model)
    path = os.fspath(path)
    if header["kind"] not in _KINDS:
        raise ModelFileError(
            f"{path!r}: kind must be one of {sorted(_KINDS)}, got {header['kind']!r}"
        )
    cls, from_config = _KINDS[header["kind"]]
    if issubclass(cls, Network):
        model = restore_network(header, arrays, path, from_config)
        check_optimizer_arrays(header, arrays, path)
        model.classes = checked_classes(header.get("classes"), model, path)
        model.feature_names = _checked_feature_names(header.get("feature_names"), model, path)
        restore_vocabulary(header, model, path)
        return model
    network = restore_network(header, arrays, path)
    return from_config(header, arrays, network, path)


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
