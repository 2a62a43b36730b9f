"""``to_onnx``: write a scratchnn network, or a fitted scikit-learn estimator, as an ONNX file.

The graph is built here, one node of the model's topology after the other in run order, from
standard operators (see :mod:`scratchnn.export.converters`); the ``onnx`` package only assembles
and checks it. A model with one input and one output gives a file with one input and one output,
with a dynamic batch axis:

* ``input``: ``(batch, n_features)`` (``(batch, height, width, channels)`` for a network taking
  images) in the model's dtype (float32 or float64);
* ``output``: ``(batch, n_outputs)``, what ``model.predict`` returns. For a
  ``NeuralNetClassifier`` it is ``predict_proba``: ``(batch, n_classes)`` probabilities in the
  order of ``classes_`` (two columns for a binary classifier); for a ``NeuralNetRegressor``
  fitted on a 1-D ``y`` it is ``(batch,)``, as its ``predict``.

A graph :class:`~scratchnn.Model` with several inputs or outputs names the file's inputs and
outputs as the model names them (``model.input_names``, ``model.output_names``), in that order.
(An output named as an input or an earlier output gets ``_1`` added.) An open axis of an
``Input`` (``Input(shape=(None, 16))``) is a dynamic axis of the file too, named
``<input>_dim1`` and so on (an output's as ``<output>_dim1``).

The model's metadata properties hold ``scratchnn_version``, ``scratchnn_model`` (the exported
class), ``scratchnn_config`` (the network's architecture as JSON), ``dtype``, ``output`` (what
the outputs hold) and, where the model has class labels (``classes_`` of a classifier,
``classes`` of a Sequential), ``classes`` (the labels as a JSON list).
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import _validation as check
from .._atomic import replace_atomically, target_of
from .._version import __version__
from ..network import Network
from .converters import converter_for
from .graph import OnnxGraph, import_onnx

DEFAULT_OPSET = 17  # read by ONNX Runtime, OpenVINO, TensorRT and onnxruntime-web alike
MIN_OPSET = 13  # Softmax over the last axis alone (earlier opsets flatten the trailing axes)
INPUT_NAME, OUTPUT_NAME = "input", "output"


@dataclass
class _Target:
    """What to export: the network, the head added after it, and the metadata to record."""

    network: Network
    kind: str
    head: str | None = None  # "binary_proba" or "ravel"
    metadata: dict[str, str] = field(default_factory=dict)


def to_onnx(model: Any, path: str | os.PathLike | None = None, opset: int | None = None) -> Any:
    """Export ``model`` to ONNX; write it to ``path`` and return the ``onnx.ModelProto``.

    Parameters
    ----------
    model : Model, Sequential, NeuralNetwork, NeuralNetClassifier or NeuralNetRegressor
        A built network (any graph), or a fitted scikit-learn estimator of
        :mod:`scratchnn.sklearn`.
    path : str or PathLike, optional
        Where to write the ``.onnx`` file (replaced atomically); ``None`` writes nothing.
    opset : int, optional
        ONNX opset of the default domain, from 13 to the installed ``onnx``'s newest;
        ``None`` means 17.

    Returns
    -------
    onnx.ModelProto
        The model, already checked by ``onnx.checker.check_model(..., full_check=True)``.
        Input ``"input"`` ``(batch, n_features)``, output ``"output"``; a model with several
        inputs or outputs: the model's names (see the module notes).

    Raises
    ------
    TypeError
        For a layer or activation without a converter (it is named, with how to register one).
    ImportError
        When the ``onnx`` package is missing (``pip install scratchnn[onnx]``).

    Examples
    --------
    >>> import numpy as np
    >>> from scratchnn import Dense, Sequential
    >>> from scratchnn.export import to_onnx
    >>> model = Sequential([Dense(4, "relu", input_dim=3), Dense(2, "softmax")], seed=0)
    >>> proto = to_onnx(model)
    >>> [node.op_type for node in proto.graph.node]
    ['Gemm', 'Relu', 'Gemm', 'Softmax']
    """
    onnx = import_onnx()
    opset = _check_opset(opset, onnx.defs.onnx_opset_version())
    destination = None if path is None else target_of(path)  # checked before any work
    target = _export_target(model)
    network = target.network
    check.check_not_training(network, "export")
    dtype = np.dtype(network.dtype).name

    graph = OnnxGraph(dtype, opset)
    input_names, output_names = _tensor_names(network)
    graph.reserved.update(input_names + output_names)
    tensors, shapes = _convert_nodes(graph, network, input_names)
    if target.head is not None:  # an estimator's network: one output
        tensors[0], shapes[0] = _add_head(graph, target.head, tensors[0], shapes[0])
    _name_outputs(graph, tensors, input_names, output_names)

    inputs = [
        (name, _dims(name, shape), input_dtype)
        for name, shape, input_dtype in zip(
            input_names, network.input_shapes, network.input_dtypes, strict=True
        )
    ]
    outputs = [(name, _dims(name, shape)) for name, shape in zip(output_names, shapes, strict=True)]
    proto = onnx.helper.make_model_gen_version(
        graph.to_proto(inputs, outputs),
        opset_imports=[onnx.helper.make_opsetid("", opset)],
        producer_name="scratchnn",
        producer_version=__version__,
        doc_string=(
            f"scratchnn {target.kind}: "
            + ", ".join(f"input {n!r} {_shown(d)} {np.dtype(t).name}" for n, d, t in inputs)
            + " -> "
            + ", ".join(f"output {n!r} {_shown(d)}" for n, d in outputs)
            + f" {dtype}, {target.metadata['output']}"
        ),
    )
    onnx.helper.set_model_props(
        proto,
        {
            "scratchnn_version": __version__,
            "scratchnn_model": target.kind,
            "scratchnn_config": json.dumps(network.get_config()),
            "dtype": dtype,
            **target.metadata,
        },
    )
    onnx.checker.check_model(proto, full_check=True)
    if destination is not None:
        data = proto.SerializeToString()
        replace_atomically(destination, lambda handle: handle.write(data))
    return proto


# -- what is exported -----------------------------------------------------------------------------
def _export_target(model: Any) -> _Target:
    # The fronts above (the tutorial's class, the estimators) are recognised by their module:
    # this module sits below them (docs/architecture.md) and imports none of them.
    if isinstance(model, Network):
        kind = "Model" if model.is_graph else "Sequential"
        target = _Target(model, kind, metadata={"output": "the network's outputs"})
    elif any(c.__module__ == "scratchnn.tutorial" for c in type(model).__mro__):
        target = _Target(model.model, "NeuralNetwork", metadata={"output": "the sigmoid outputs"})
    elif any(c.__module__.startswith("scratchnn.sklearn") for c in type(model).__mro__):
        target = _estimator_target(model)  # ours (or a subclass): no need to import scikit-learn
    else:
        raise TypeError(
            "model must be a Model (Sequential), a NeuralNetwork or a fitted scratchnn.sklearn "
            f"estimator, got {check.describe(model)}"
        )
    if not target.network.built:
        raise ValueError(
            "model must be built before exporting (fit it or call build(input_dim)), got an "
            "unbuilt model"
        )
    # An estimator's classes_, or the labels a Sequential keeps (its model file holds them).
    classes = getattr(model, "classes_", getattr(target.network, "classes", None))
    if classes is not None:
        target.metadata["classes"] = json.dumps(np.asarray(classes).tolist(), default=str)
    return target


def _estimator_target(estimator: Any) -> _Target:
    kind = type(estimator).__name__
    network = getattr(estimator, "model_", None)
    if not isinstance(network, Network):
        raise ValueError(
            f"model must be a fitted estimator, got an unfitted {kind} (call fit before exporting)"
        )
    if hasattr(estimator, "classes_"):  # the classifier: its output is predict_proba
        binary = estimator.n_outputs_ == 1
        target = _Target(network, kind, "binary_proba" if binary else None)
        target.metadata["output"] = "predict_proba: probabilities in the order of classes"
        reference = estimator.predict_proba
    else:
        single = estimator.y_ndim_ == 1  # predict returns (n,) for a 1-D y
        target = _Target(network, kind, "ravel" if single else None)
        target.metadata["output"] = "predict: the predicted targets"
        reference = estimator.predict
    _check_network_is_prediction(network, target.head, reference, kind)
    return target


def _check_network_is_prediction(network: Network, head: str | None, reference, kind) -> None:
    """Refuse an estimator whose prediction is more than its network and the known head.

    A transformation this exporter does not know of (a target scaling added to the estimator
    later, say) would otherwise be left out of the file without a word.
    """
    shape = network.input_shapes[0]
    probe = np.random.default_rng(0).normal(size=(4, *shape)).astype(network.dtype)
    outputs = network.predict(probe).astype(np.float64)
    if head == "binary_proba":
        outputs = np.column_stack([1.0 - outputs[:, 0], outputs[:, 0]])
    elif head == "ravel":
        outputs = outputs.ravel()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fitted on a DataFrame: the probe has no column names
        expected = np.asarray(reference(probe), dtype=np.float64)
    tolerance = 1e-4 if network.dtype == np.float32 else 1e-9
    if expected.shape != outputs.shape or not np.allclose(outputs, expected, atol=tolerance):
        raise ValueError(
            f"model ({kind}) predicts more than its network computes (a transformation of the "
            "outputs this exporter does not know), so it cannot be exported faithfully"
        )


def _add_head(graph: OnnxGraph, head: str | None, tensor: str, shape: tuple) -> tuple[str, tuple]:
    if head == "binary_proba":  # one sigmoid unit p -> the two columns [1 - p, p]
        negative = graph.node("Sub", [graph.constant(1.0, "one"), tensor])
        return graph.node("Concat", [negative, tensor], axis=1), (2,)
    if head == "ravel":  # one target fitted as a 1-D y: predict returns (batch,)
        return graph.node("Reshape", [tensor, graph.constant([-1], "shape", np.int64)]), ()
    return tensor, shape


# -- the graph ------------------------------------------------------------------------------------
def _tensor_names(network: Network) -> tuple[list[str], list[str]]:
    """The file's input and output names: ``input`` and ``output`` for a model with one of each
    (as every file before graphs), else the model's own input and output names.

    An output named as an input or an earlier output (a model that outputs its input, or one
    tensor twice) gets ``_1`` (``_2``, ...) added: an ONNX graph names each tensor once.
    """
    if network.n_inputs == 1 and network.n_outputs == 1:
        return [INPUT_NAME], [OUTPUT_NAME]
    taken = set(network.input_names)
    outputs = []
    for name in network.output_names:
        unique, count = name, 0
        while unique in taken:
            count += 1
            unique = f"{name}_{count}"
        taken.add(unique)
        outputs.append(unique)
    return list(network.input_names), outputs


def _convert_nodes(
    graph: OnnxGraph, network: Network, input_names: list[str]
) -> tuple[list[str], list[tuple]]:
    """Each node of the network's topology through its converter, in run order (one pass).

    A tensor of the model is a slot of the topology; here each slot gets the name of the ONNX
    tensor holding it and its shape (no batch axis). Returns the outputs' names and shapes.
    """
    topology = network.topology
    names: dict[int, Any] = {}
    shapes: dict[int, Any] = {}
    masks: dict[int, Any] = {}  # slot -> its mask's ONNX tensors (see OnnxGraph.mask)
    for slot, name, shape in zip(
        topology.input_slots, input_names, network.input_shapes, strict=True
    ):
        names[slot], shapes[slot] = name, tuple(shape)
    for index, (layer, source, target) in enumerate(topology.nodes):
        several = isinstance(source, tuple)  # a layer that takes a list (a merge)
        x = [names[s] for s in source] if several else names[source]
        graph.shape = [shapes[s] for s in source] if several else shapes[source]
        where = f"layer {layer.name!r}" if network.is_graph else f"layers[{index}]"
        incoming = [masks.get(s) for s in (source if several else (source,))]
        graph.mask, graph.made_mask = _one_mask(incoming, where), None
        graph.input_masks = incoming  # each input's own mask (attention: rows and columns)
        y = converter_for(layer, where)(graph, layer, x)
        shape = _output_shape(layer, graph.shape)
        targets = target if isinstance(target, tuple) else (target,)
        for slot, made in zip(targets, _masks_made(layer, graph, incoming, several, targets),
                              strict=True):  # fmt: skip
            if made is not None:
                masks[slot] = made
        if isinstance(target, tuple):  # a layer with several outputs: a name and shape each
            for slot, name, each in zip(target, y, shape, strict=True):
                names[slot], shapes[slot] = name, tuple(each)
        else:
            names[target], shapes[target] = y, shape
    return [names[s] for s in topology.output_slots], [shapes[s] for s in topology.output_slots]


_MASKED = object()  # stands for "the input's mask" when asking a layer what its output's is


def _one_mask(incoming: list[Any], where: str) -> Any:
    """The mask a layer's inputs carry (one at most: two different masks are refused)."""
    given = {id(m): m for m in incoming if m is not None}
    if len(given) > 1:
        raise TypeError(
            f"{where} meets tensors with different masks; the ONNX export carries one mask "
            "(sequence lengths) through a model"
        )
    return next(iter(given.values()), None)


def _masks_made(
    layer: Any, graph: OnnxGraph, incoming: list[Any], several: bool, targets: tuple
) -> list[Any]:
    """The mask of each of a layer's outputs: the one its converter made, or, asked of the
    layer itself (``compute_mask``), its input's where the layer keeps the steps."""
    if layer.makes_mask:
        return [graph.made_mask] * len(targets)
    if graph.mask is None:
        return [None] * len(targets)
    stand_ins = [None if m is None else _MASKED for m in incoming]
    kept = layer.compute_mask(None, stand_ins if several else stand_ins[0])
    kept = kept if isinstance(kept, list) else [kept] * len(targets)
    return [graph.mask if k is _MASKED else None for k in kept]


def _name_outputs(
    graph: OnnxGraph, tensors: list[str], input_names: list[str], output_names: list[str]
) -> None:
    """Give each output tensor its output name; an ``Identity`` where a tensor is already a
    model input, a constant or another output (a layer's output read twice, say)."""
    renamed: dict[str, str] = {}
    for tensor, name in zip(tensors, output_names, strict=True):
        if tensor in renamed:
            graph.rename(graph.node("Identity", [renamed[tensor]]), name)
            continue
        made = tensor
        if tensor in input_names or tensor in graph.constants:
            made = graph.node("Identity", [tensor])  # every layer was the identity
        graph.rename(made, name)
        renamed[tensor] = name


def _dims(name: str, shape: tuple) -> tuple:
    """The ONNX shape: a dynamic ``batch`` axis first, an open axis (``None``) as ``name_dimI``."""
    return ("batch", *(f"{name}_dim{i}" if d is None else d for i, d in enumerate(shape, 1)))


def _shown(dims: tuple) -> str:
    return f"({', '.join(map(str, dims))})"


def _output_shape(layer: Any, shape: Any) -> Any:
    """The layer's output shape (without the batch axis) for inputs of ``shape``."""
    if hasattr(layer, "output_shape"):
        shape = layer.output_shape(shape)
        return [tuple(s) for s in shape] if isinstance(shape, list) else tuple(shape)
    return (layer.output_dim(shape[0]),)


# -- arguments and files --------------------------------------------------------------------------
def _check_opset(opset: Any, newest: int) -> int:
    if opset is None:
        return DEFAULT_OPSET
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)):
        raise TypeError(f"opset must be an int from {MIN_OPSET} to {newest}, got {opset!r}")
    if not MIN_OPSET <= opset <= newest:
        raise ValueError(
            f"opset must be from {MIN_OPSET} to {newest} (the installed onnx's newest), got {opset}"
        )
    return int(opset)
