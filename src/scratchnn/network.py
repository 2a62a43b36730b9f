"""``Network``: a graph of layers over one flat parameter buffer; forward, backward, state.

This is the model without its training: building, the passes, logits, the state API and the
description. The layers form a :class:`~scratchnn.graph.Topology`: a chain for a stack of
layers, any directed acyclic graph for a model made from ``Input`` tensors. :class:`scratchnn.Model`
and :class:`scratchnn.Sequential` add ``fit``, ``evaluate`` and ``save`` on top.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from . import _validation as check
from . import sources
from .graph import MAX_NODES, GraphError, Topology
from .layers.base import Layer, as_shape, format_shape, get_layer_class
from .layers.input import InputLayer
from .layers.memory import PREDICT_MEMORY, layer_working_memory, rows_within
from .layers.symbolic import Node, SymbolicTensor


class Network:
    """A feed-forward stack of layers: the output of each layer is the input of the next.

    All trainable parameters live in one flat array ``params`` (gradients in ``grads``); each
    layer's ``W``, ``b``, ... are views into it. One seed (``seed=``) drives every random draw:
    initialisation, shuffling and dropout, so the same seed and data give the same weights.

    Inference (``predict``, ``logits``, ``forward(X, training=False)``) writes nothing on the
    network or its layers: one network may answer from many threads at once.

    Parameters
    ----------
    layers : sequence of Layer
        The layers, input first; each belongs to this network alone (copy a network to use the
        same architecture twice). The first layer's ``input_shape`` (or ``input_dim``) may be
        left out: it is then taken from the first data seen.
    seed : int, optional
        Seed of the network's ``numpy.random.Generator``; ``None`` draws a fresh one.
    dtype : {"float32", "float64"}
        Precision of parameters and computation.
    input_gradient : bool
        Whether ``backward`` returns ``dL/dX``. Training never needs it, and skipping it saves a
        third of the first layer's matrix products, so it is off unless asked for.
    """

    def __init__(
        self,
        layers: Sequence[Layer],
        seed: int | None = None,
        dtype: str = "float32",
        input_gradient: bool = False,
    ) -> None:
        if isinstance(layers, Layer) or not isinstance(layers, Iterable):
            raise TypeError(f"layers must be a list of layers, got {check.describe(layers)}")
        layers = list(layers)
        if not layers:
            raise ValueError("layers must hold at least one layer, got an empty list")
        for index, layer in enumerate(layers):
            if not isinstance(layer, Layer) or isinstance(layer, InputLayer):
                raise TypeError(
                    f"layers[{index}] must be a scratchnn layer, got {check.describe(layer)}"
                )
            if layer.takes_list:
                raise TypeError(
                    f"layers[{index}] ({layer!r}) takes several inputs, which a stack cannot give "
                    "it: build a Model from Input tensors instead"
                )
        self._adopt(
            layers, seed, dtype, input_gradient, [f"layers[{i}]" for i in range(len(layers))]
        )
        self.topology = Topology.chain(layers)
        self.graph: tuple[list[SymbolicTensor], list[SymbolicTensor]] | None = None
        if layers[0].input_shape is not None:
            self.build(layers[0].input_shape)

    def _adopt(
        self, layers: list[Layer], seed: Any, dtype: str, input_gradient: Any, labels: list[str]
    ) -> None:
        """Check the settings and take the layers (each belongs to one model at a time)."""
        seen: set[int] = set()
        for label, layer in zip(labels, layers, strict=True):
            if id(layer) in seen or layer.owner is not None:
                where = "this model" if id(layer) in seen else "another model"
                raise ValueError(
                    f"{label} ({layer!r}) already belongs to {where}: a layer holds its own "
                    "weights and training record, so it can serve one place in one model (call "
                    "it twice in a graph to share its weights); build a new layer, or copy the "
                    "model (model.copy()) to reuse an architecture"
                )
            seen.add(id(layer))
        if seed is not None:
            check.check_non_negative_int(seed, "seed")
        if not isinstance(input_gradient, bool):
            raise TypeError(f"input_gradient must be True or False, got {input_gradient!r}")
        self.seed = seed
        self.dtype = check.check_dtype(dtype)
        for layer in layers:
            layer.claim(self)
        self.layers = layers
        self.input_gradient = input_gradient
        self.rng = np.random.default_rng(seed)
        self.built = False

    def _init_graph(
        self, inputs: Any, outputs: Any, seed: Any, dtype: str, input_gradient: bool
    ) -> None:
        """Make this network the graph from ``inputs`` to ``outputs`` (symbolic tensors)."""
        inputs = _tensor_list(inputs, "inputs")
        outputs = _tensor_list(outputs, "outputs")
        try:
            topology, nodes = Topology.from_tensors(inputs, outputs)
        except GraphError as error:
            raise ValueError(str(error)) from None
        if not topology.nodes:
            raise ValueError("outputs must be made by layers from the inputs, got the inputs")
        names = [t.node.layer.name for t in inputs] + [layer.name for layer in topology.layers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(
                f"layer names must be unique in a model, got {duplicates} more than once "
                "(give name=... to one of them)"
            )
        self._adopt(
            topology.layers, seed, dtype, input_gradient,
            [f"layer {layer.name!r}" for layer in topology.layers],
        )  # fmt: skip
        self.topology = topology
        self.graph = (inputs, outputs)
        self._graph_nodes = nodes
        self.input_names = [t.node.layer.name for t in inputs]
        self.output_names = [t.name for t in outputs]
        self._build_graph()

    def _build_graph(self) -> None:
        """Build every layer of the graph on its first call's input shapes, in run order."""
        inputs, outputs = self.graph
        for node in self._graph_nodes:
            if node.layer.built:
                continue
            shapes = [t.shape for t in node.inputs]
            node.layer.build(shapes if node.layer.takes_list else shapes[0], self.rng, self.dtype)
        self._gather_parameters()
        self.input_shapes = [t.shape for t in inputs]
        self.output_shapes = [t.shape for t in outputs]
        single_in, single_out = len(inputs) == 1, len(outputs) == 1
        self.input_shape = self.input_shapes[0] if single_in else self.input_shapes
        self.output_shape = self.output_shapes[0] if single_out else self.output_shapes
        # Integer ids stay integers where every layer they feed takes ids (an Embedding); an
        # integer Input feeding a Dense is cast to the model's float type as it enters.
        takers = {id(t): [] for t in inputs}
        for node in self._graph_nodes:
            for tensor in node.inputs:
                if id(tensor) in takers:
                    takers[id(tensor)].append(node.layer.takes_ids)
        self.input_dtypes = [
            t.dtype if t.dtype is not None and all(takers[id(t)]) else self.dtype for t in inputs
        ]
        self.built = True

    @property
    def is_graph(self) -> bool:
        """Whether this network was made from ``Input`` tensors (else it is a stack)."""
        return self.graph is not None

    @property
    def graph_nodes(self) -> list[Node]:
        """A graph's layer calls in run order (``node.layer``, ``node.inputs``, ``node.outputs``,
        ``node.call_index``); empty for a stack. Read-only: the model runs from its topology."""
        return list(self._graph_nodes) if self.is_graph else []

    @property
    def n_inputs(self) -> int:
        return len(self.topology.input_slots)

    @property
    def n_outputs(self) -> int:
        return len(self.topology.output_slots)

    # -- building -----------------------------------------------------------------------------
    def output_shape_for(self, input_shape: Any) -> tuple[int, ...]:
        """The output shape (no batch axis) for inputs of ``input_shape``, without building."""
        if self.is_graph:
            return self.output_shape
        shape = as_shape(input_shape, open_axes=True)
        for layer in self.layers:
            shape = layer.output_shape(shape)
        return shape

    def build(self, input_shape: Any) -> None:
        """Create every layer's parameters and gather them into one flat buffer.

        ``input_shape`` has no batch axis: ``(features,)``, or ``(height, width, channels)``; an
        int is a number of features.
        """
        if self.is_graph:
            if self.built:
                return
            raise ValueError("a graph model is built when it is made")
        input_shape = as_shape(input_shape, open_axes=True)
        self.output_shape_for(input_shape)  # every layer checks its input shape before any change
        shape = input_shape
        for layer in self.layers:
            layer.build(shape, self.rng, self.dtype)
            shape = layer.output_shape(shape)
        self._gather_parameters()
        self.input_shape, self.output_shape = input_shape, shape
        self.input_shapes, self.output_shapes = [input_shape], [shape]
        # Integer ids stay integers for a first layer that takes them (an Embedding).
        self.input_dtypes = ["int64" if self.layers[0].takes_ids else self.dtype]
        self.built = True

    def _gather_parameters(self) -> None:
        """One flat buffer for every layer's parameters (and one for their gradients)."""
        self.set_input_gradient(self.input_gradient)
        sizes = [p.size for layer in self.layers for p in layer.params.values()]
        self.params = np.empty(sum(sizes), dtype=self.dtype)
        self.grads = np.zeros(sum(sizes), dtype=self.dtype)
        self._bind_layers()

    @property
    def input_dim(self) -> int | None:
        """Number of input features of a built network taking flat rows, else ``None``."""
        shape = getattr(self, "input_shape", None)
        return shape[0] if shape is not None and len(shape) == 1 else None

    @property
    def output_dim(self) -> int | None:
        """Number of outputs of a built network with flat outputs, else ``None``."""
        shape = getattr(self, "output_shape", None)
        return shape[0] if shape is not None and len(shape) == 1 else None

    def _bind_layers(self) -> None:
        """Make each layer's parameters and gradients views into ``params`` and ``grads``."""
        offset = 0
        for layer in self.layers:
            param_views, grad_views = {}, {}
            for name, value in layer.params.items():
                end = offset + value.size
                param_views[name] = self.params[offset:end].reshape(value.shape)
                grad_views[name] = self.grads[offset:end].reshape(value.shape)
                offset = end
            layer.bind(param_views, grad_views)

    def __setstate__(self, state: dict[str, Any]) -> None:
        """After unpickling or deep-copying, the layers' arrays are views into ``params`` again.

        Pickle stores a view as a separate copy, which would leave the optimizer updating a flat
        buffer the layers no longer read.
        """
        self.__dict__.update(state)
        for layer in self.layers:
            layer.claim(self)
        if self.built:
            # Own, writeable buffers: an unpickler may hand back read-only (memory-mapped) arrays.
            self.params, self.grads = self.params.copy(), self.grads.copy()
            self._bind_layers()

    def check_inputs(self, X: Any, name: str = "X") -> Any:
        """``X`` as a finite array of this network's dtype and input shape (batch axis first).

        h5py, zarr and dask arrays come back as a :class:`~scratchnn.sources.RowSource`, whose
        values are checked batch by batch as they are read, never loaded whole. A model with
        several inputs takes a list of arrays (in the order of its inputs) or a dict keyed by
        the inputs' names, and gets back a :class:`~scratchnn.sources.ArrayGroup`.
        """
        if self.is_graph:
            return self._check_graph_inputs(X, name)
        expected = self.input_shape if self.built else self.layers[0].input_shape
        if sources.is_source(X):  # h5py, zarr, dask: read and checked batch by batch
            X = sources.as_source(X, name, self.dtype, ndim=tuple(range(1, 6)))
        else:
            X = check.check_array(X, name, ndim=tuple(range(1, 6)))
        if X.ndim < 2:
            raise ValueError(
                f"{name} must be 2-D (samples, features), or more for images (samples, height, "
                f"width, channels), got an array of shape {X.shape}"
            )
        check.check_batch_axis(X.shape, expected, name)
        try:
            self.output_shape_for(X.shape[1:])  # the layers say which shapes they take
        except ValueError as error:
            raise ValueError(f"{name} does not fit the model: {error}") from None
        # Converted to the network's dtype batch by batch, not here: no copy of the whole data.
        wider = X.dtype.itemsize > np.dtype(self.dtype).itemsize and X.dtype.kind == "f"
        if wider and isinstance(X, np.ndarray):  # a RowSource checks each batch as it reads
            limit = np.finfo(self.dtype).max
            if np.max(X) > limit or np.min(X) < -limit:
                raise ValueError(
                    f"{name} holds values too large for {np.dtype(self.dtype).name} (largest "
                    f"magnitude {max(np.max(X), -np.min(X)):g}); scale the data or use "
                    "dtype='float64'"
                )
        if expected is not None and not fits(X.shape[1:], tuple(expected)):
            if len(expected) == 1 and X.ndim == 2:
                raise ValueError(
                    f"{name} must have {expected[0]} features (columns), got {X.shape[1]}"
                )
            raise ValueError(
                f"{name} must have shape {format_shape(tuple(expected))}, got {X.shape}"
            )
        return X

    def _check_graph_inputs(self, X: Any, name: str) -> Any:
        """A graph's inputs: each checked against its ``Input`` (shape with open axes, dtype)."""
        arrays = by_position(X, self.input_names, name, "input")
        checked = []
        for position, (array, shape, dtype) in enumerate(
            zip(arrays, self.input_shapes, self.input_dtypes, strict=True)
        ):
            label = name if len(arrays) == 1 else f"{name}[{self.input_names[position]!r}]"
            integer = np.dtype(dtype).kind in "iu"
            if sources.is_source(array):
                array = sources.as_source(array, label, dtype, ndim=(len(shape) + 1,))
            else:
                array = check.check_array(array, label, ndim=len(shape) + 1)
            if integer and array.dtype.kind not in "iu":
                if array.dtype.kind != "f" or not np.all(np.asarray(array[:]) % 1 == 0):
                    raise TypeError(
                        f"{label} must hold integers (the Input's dtype is {dtype}), got an "
                        f"array of dtype {array.dtype}"
                    )
            fits = all(e is None or e == g for e, g in zip(shape, array.shape[1:], strict=True))
            if not fits:
                raise ValueError(
                    f"{label} must have shape {format_shape(shape).replace('None', 'batch', 1)}, "
                    f"got {array.shape}"
                )
            checked.append(array)
        if len(checked) == 1:
            return checked[0]
        lengths = {len(array) for array in checked}
        if len(lengths) > 1:
            detail = ", ".join(
                f"{n!r}: {len(a)}" for n, a in zip(self.input_names, checked, strict=True)
            )
            raise ValueError(f"{name} must hold the same number of samples per input, got {detail}")
        return sources.ArrayGroup(checked)

    def ensure_built(self, X: Any) -> None:
        """Build from the shape of the data ``X`` (its rows' shape), unless built already."""
        if not self.built:
            self.build(X.shape[1:])

    def _as_inputs(self, X: Any) -> list[np.ndarray]:
        """One batch of checked inputs as the list the topology takes, in each input's dtype."""
        if isinstance(X, list):
            return [np.asarray(x, dtype=d) for x, d in zip(X, self.input_dtypes, strict=True)]
        return [np.asarray(X, dtype=self.input_dtypes[0])]

    # -- the passes ---------------------------------------------------------------------------
    def forward(self, X: np.ndarray, training: bool = False) -> np.ndarray:
        """Run every layer's ``forward``; ``training=True`` enables dropout and batch statistics.

        Training records what :meth:`backward` needs; its result may live in a work buffer that
        the next training call with the same batch size overwrites: copy it to keep it.
        Inference records nothing.
        """
        if self.is_graph:
            outputs = self.topology.forward(self._as_inputs(self.check_inputs(X)), training)
            if training:
                self._training_output_shape = [out.shape for out in outputs]
            return outputs[0] if len(outputs) == 1 else outputs
        X = np.asarray(X, dtype="int64" if self.layers[0].takes_ids else self.dtype)
        # Shapes only (cheap, once per batch); fit and predict check values at their boundary.
        if X.ndim < 2 or (self.built and not fits(X.shape[1:], self.input_shape)):
            expected = format_shape(self.input_shape) if self.built else "(None, features)"
            expected = expected.replace("None", "batch", 1)
            raise ValueError(f"X must have shape {expected}, got {X.shape}")
        self.ensure_built(X)
        (X,) = self.topology.forward([X], training)
        if training:
            self._training_output_shape = X.shape  # what backward's gradient must match
        return X

    def set_input_gradient(self, wanted: bool) -> None:
        """Whether backward computes ``dL/dX``. Without it, the first layer with parameters
        skips its input gradient (for Dense a third of the products) and the layers before it
        (a ``Reshape``, a ``Dropout``) run no backward at all: nothing there needs a gradient."""
        self.input_gradient = bool(wanted)
        self.topology.prepare(self.input_gradient)

    def backward(self, grad_output: np.ndarray) -> np.ndarray | None:
        """Backpropagate ``dL/d(output)`` through the last training forward; fills ``grads``.

        Returns ``dL/dX`` when the network was made with ``input_gradient=True``, else ``None``.
        """
        expected = getattr(self, "_training_output_shape", None)
        if not self.built or expected is None:
            raise ValueError(
                "backward needs a forward pass first: call forward(X, training=True) before it"
            )
        several = isinstance(expected, list) and len(expected) > 1
        given = list(grad_output) if several else [grad_output]
        wanted = expected if isinstance(expected, list) else [expected]
        grads = [np.asarray(g, dtype=self.dtype) for g in given]
        if len(grads) != len(wanted) or any(
            g.shape != w for g, w in zip(grads, wanted, strict=False)
        ):
            shown = wanted if several else wanted[0]
            got = [g.shape for g in grads] if several else grads[0].shape
            raise ValueError(
                f"grad_output must have the shape of the last forward output {shown}, got {got}"
            )
        input_grads = self.topology.backward(grads)
        return input_grads if self.n_inputs > 1 else input_grads[0]

    def logits(self, X: Any, batch_size: int = 8192) -> np.ndarray:
        """Outputs before the last layer's activation (softmax/sigmoid scores), inference mode.

        For a last layer without an activation of its own (Dense with ``"linear"``) these are
        the outputs themselves.
        """
        X = self.check_inputs(X)
        batch_size = check.check_positive_int(batch_size, "batch_size")
        self.ensure_built(X)
        for index in self.output_nodes():
            head = self.topology.nodes[index][0]
            if head.output_activation is None:
                raise ValueError(
                    f"logits needs output layers that end in an activation, got {head!r}"
                )
        return self._batched(X, batch_size, logits=True)

    def predict_rows(self, X: Any = None) -> int:
        """The most rows an inference batch may hold to keep its working memory within
        :data:`~scratchnn.layers.memory.PREDICT_MEMORY`. An open axis counts as the longest
        length it has in ``X`` (the inputs about to be run; 1 without them)."""
        if not self.built:
            return 1 << 62
        length = self._open_length(X)

        def sized(shape: tuple) -> tuple:
            return tuple(length if n is None else n for n in shape)

        if not self.is_graph:
            return rows_within(self.layers, sized(self.input_shape), self.dtype)
        itemsize, largest = np.dtype(self.dtype).itemsize, 1
        for node in self._graph_nodes:
            shapes = [sized(t.shape) for t in node.inputs]
            if node.layer.takes_list or node.several_outputs:
                outputs = [sized(t.shape) for t in node.outputs]
                need = sum(math.prod(s) for s in shapes + outputs) * itemsize
            else:
                need = layer_working_memory(node.layer, shapes[0], itemsize)
            largest = max(largest, need)
        return max(1, PREDICT_MEMORY // largest)

    def _open_length(self, X: Any) -> int:
        """The longest length the open axes of the model's inputs have in ``X`` (at least 1)."""
        if X is None:
            return 1
        arrays = getattr(X, "arrays", X)  # several inputs: a list, or a source of several
        arrays = list(arrays) if isinstance(arrays, (list, tuple)) else [arrays]
        longest = 1
        for array, shape in zip(arrays, self.input_shapes, strict=False):
            dims = getattr(array, "shape", None) or ()
            for axis, size in enumerate(shape, start=1):
                if size is None and axis < len(dims):
                    longest = max(longest, int(dims[axis]))
        return longest

    def output_nodes(self) -> list[int]:
        """The index (in run order) of the node that makes each output."""
        makers = {}
        for index, (_, _, target) in enumerate(self.topology.nodes):
            for slot in target if isinstance(target, tuple) else (target,):
                makers[slot] = index
        return [makers[slot] for slot in self.topology.output_slots]

    def infer(self, X: Any, logits: bool = False) -> Any:
        """Inference pass over checked ``X``; ``logits=True`` stops before the last activation.

        A model with several inputs takes a list of arrays; one with several outputs returns a
        list.
        """
        fused = frozenset(self.output_nodes()) if logits else frozenset()
        outputs = self.topology.forward(self._as_inputs(X), False, fused)
        return outputs[0] if len(outputs) == 1 else outputs

    def _batched(self, X: np.ndarray, batch_size: int, logits: bool = False) -> np.ndarray:
        """``infer`` over ``X`` in chunks of ``batch_size`` rows (each cast to dtype alone).

        Overflow inside the layers is not NumPy's to report: outputs that end up non-finite get
        one warning that counts their rows and says what to do.
        """
        batch_size = min(batch_size, self.predict_rows(X))
        with np.errstate(**check.QUIET):
            if self.n_outputs > 1 or None in self.output_shapes[0]:
                return self._batched_outputs(X, batch_size, logits)
            if len(X) <= batch_size:
                batch = X if isinstance(X, (np.ndarray, list)) else X[:]  # a source reads rows
                out = self.infer(batch, logits)
                # The identity network returns its own input: never hand the caller's array back.
                out = out.copy() if _shares_memory(out, batch) else out
            else:
                out = np.empty((len(X), *self.output_shape), dtype=self.dtype)
                for start in range(0, len(X), batch_size):
                    stop = start + batch_size
                    out[start:stop] = self.infer(X[start:stop], logits)
            _warn_if_not_finite(out, self.dtype)
        return out

    def _batched_outputs(self, X: Any, batch_size: int, logits: bool) -> Any:
        """``_batched`` for several outputs, or outputs with an open axis: joined per output."""
        pieces = []
        for start in range(0, len(X), batch_size):
            batch = X[start : start + batch_size]
            outputs = self.infer(batch, logits)
            pieces.append(outputs if isinstance(outputs, list) else [outputs])
        joined = [np.concatenate(parts) for parts in zip(*pieces, strict=True)]
        for index, out in enumerate(joined):
            if len(pieces) == 1 and _shares_memory(out, batch):
                joined[index] = out.copy()
            _warn_if_not_finite(joined[index], self.dtype)
        return joined if len(joined) > 1 else joined[0]

    def predict(self, X: Any, batch_size: int = 8192) -> np.ndarray:
        """Outputs for ``X`` ``(N, ...input_shape)``: ``(N, ...output_shape)``, inference mode."""
        X = self.check_inputs(X)
        batch_size = check.check_positive_int(batch_size, "batch_size")
        self.ensure_built(X)
        return self._batched(X, batch_size)

    # -- parameters and state -----------------------------------------------------------------
    def get_flat_weights(self) -> np.ndarray:
        """A copy of all trainable parameters as one 1-D array."""
        return self.params.copy()

    def get_state(self) -> dict[str, Any]:
        """Copies of everything training changes: parameters, layer state, generator state.

        ``{"params": (P,), "layers": [{name: array} per layer], "rng": dict}``; give it back to
        :meth:`set_state` to return to this point exactly.
        """
        self._require_built("get_state")
        check.check_not_training(self, "read the state of")
        return {
            "params": self.params.copy(),
            "layers": [{k: v.copy() for k, v in layer.state.items()} for layer in self.layers],
            "rng": self.rng.bit_generator.state,
        }

    def set_state(self, state: dict[str, Any], checked: bool = True) -> None:
        """Restore what :meth:`get_state` returned (of this network or one of the same build).

        Everything is checked first (shapes, finite numbers, each layer's own rules, the
        generator state); a state that does not fit changes nothing. ``checked=False`` takes a
        network's own snapshot as it was, NaN or not (a diverged copy, diagnostics or gradcheck
        putting back what they found), without the checks.
        """
        self._require_built("set_state")
        if not checked:
            self._restore_state(state)
            return
        if not isinstance(state, dict) or not {"params", "layers"} <= set(state):
            raise TypeError(
                "state must be a dict with 'params', 'layers' (and 'rng') as get_state returns, "
                f"got {check.describe(state)}"
            )
        params, layer_states = state["params"], state["layers"]
        if not isinstance(layer_states, Sequence) or isinstance(layer_states, str):
            raise TypeError(f"state['layers'] must be a list, got {check.describe(layer_states)}")
        given = np.asarray(params)
        if given.dtype.kind not in "iuf":  # not strings, booleans, complex or objects
            raise TypeError(
                f"state['params'] must be an array of real numbers, got {check.describe(params)}"
            )
        with np.errstate(over="ignore"):  # a value too large for the dtype is refused below
            params = given.astype(self.dtype)
        if params.shape != self.params.shape or len(layer_states) != len(self.layers):
            raise ValueError(
                f"state must come from a network of this architecture ({self.params.size} "
                f"parameters, {len(self.layers)} layers), got {params.size} and "
                f"{len(layer_states)}"
            )
        if not np.isfinite(params).all():
            raise ValueError(
                f"state['params'] holds NaN or infinite values (or values too large for "
                f"{np.dtype(self.dtype).name})"
            )
        for index, (layer, saved) in enumerate(zip(self.layers, layer_states, strict=True)):
            if not isinstance(saved, dict) or set(saved) != set(layer.state):
                raise ValueError(
                    f"state['layers'][{index}] must hold {sorted(layer.state)} for "
                    f"{type(layer).__name__}, got {check.describe(saved)}"
                )
            for key, value in saved.items():
                value = np.asarray(value)
                problem = None
                if value.dtype.kind not in "iuf":
                    problem = f"must hold real numbers, got {value.dtype}"
                elif value.shape != layer.state[key].shape:
                    problem = f"must have shape {layer.state[key].shape}, got {value.shape}"
                elif not np.isfinite(value).all():
                    problem = "holds NaN or infinite values"
                else:
                    problem = layer.state_problem(key, value)
                if problem:
                    raise ValueError(f"state['layers'][{index}][{key!r}] {problem}")
        rng = state.get("rng")
        if rng is not None:
            trial = type(self.rng.bit_generator)()
            try:
                trial.state = rng
            except (TypeError, ValueError, KeyError) as error:
                raise ValueError(f"state['rng'] is not a generator state: {error}") from None
        self._restore_state(dict(state, params=params))

    def _restore_state(self, state: dict[str, Any]) -> None:
        """:meth:`set_state` without its checks: for a network's own snapshot, taken as it was
        (a diverged network's copy, or diagnostics putting back what they found, NaN or not)."""
        self.params[...] = state["params"]
        for layer, saved in zip(self.layers, state["layers"], strict=True):
            for key, value in saved.items():
                layer.state[key][...] = value
        if state.get("rng") is not None:
            # The layers (dropout) draw from this same Generator object, so this restores them.
            self.rng.bit_generator.state = state["rng"]

    def _require_built(self, what: str) -> None:
        if not self.built:
            raise ValueError(f"{what} needs a built model: fit it or call build(input_shape) first")

    # -- description --------------------------------------------------------------------------
    def summary(self, print_fn: Any = print) -> str:
        """Print (with ``print_fn``) and return a table of layers, output shapes and parameters.

        A graph's table adds what each layer call is connected to (the layers whose outputs it
        takes); a layer called twice appears once per call.
        """
        if self.is_graph:
            rows = [("Layer", "Output shape", "Params", "Connected to")]
            inputs, _ = self.graph
            for tensor in inputs:
                layer = tensor.node.layer
                rows.append((f"{layer.name} (Input)", format_shape(tensor.shape), "0", ""))
            for node in self._graph_nodes:
                layer = node.layer
                shapes = [t.shape for t in node.outputs]
                count = str(layer.n_params) if node.call_index == 0 else "(shared)"
                rows.append((
                    f"{layer.name} ({type(layer).__name__})",
                    format_shape(shapes if node.several_outputs else shapes[0]),
                    count,
                    ", ".join(t.name for t in node.inputs),
                ))  # fmt: skip
        else:
            rows = [("Layer", "Output shape", "Params")]
            shape = self.input_shape if self.built else self.layers[0].input_shape
            for index, layer in enumerate(self.layers):
                if shape is not None:
                    shape = layer.output_shape(shape)
                count = str(layer.n_params) if layer.built else "?"
                rows.append((f"{index}: {layer!r}", format_shape(shape), count))
        columns = len(rows[0])
        widths = [max(len(row[i]) for row in rows) for i in range(columns)]
        rule = "-" * (sum(widths) + 2 * (columns - 1))
        lines = [rule]
        for i, row in enumerate(rows):
            cells = [f"{row[0]:<{widths[0]}}", f"{row[1]:<{widths[1]}}", f"{row[2]:>{widths[2]}}"]
            cells += [f"{cell:<{width}}" for cell, width in zip(row[3:], widths[3:], strict=True)]
            lines.append("  ".join(cells).rstrip())
            if i == 0:
                lines.append(rule)
        lines.append(rule)
        total = self.params.size if self.built else "? (not built yet)"
        lines.append(f"Total params: {total}")
        text = "\n".join(lines)
        if print_fn is not None:
            print_fn(text)
        return text

    def get_config(self) -> dict[str, Any]:
        """The architecture as JSON-friendly values (layers, seed, dtype, input shape).

        A graph's config holds ``graph``: its inputs (name, shape, dtype), its layers (name,
        class, settings), its nodes in run order (each a layer and the tensors it takes, a tensor
        named ``[layer, call, output]``) and its outputs. A stack's holds ``layers``.
        """
        if self.is_graph:
            return {
                "graph": graph_config(*self.graph, self._graph_nodes),
                "seed": self.seed,
                "dtype": np.dtype(self.dtype).name,
            }
        return {
            "layers": [
                {"class_name": type(layer).__name__, "config": layer.get_config()}
                for layer in self.layers
            ],
            "seed": self.seed,
            "dtype": np.dtype(self.dtype).name,
            "input_shape": list(self.input_shape) if self.built else None,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], dtype: str | None = None) -> Network:
        """Rebuild an (untrained) network from :meth:`get_config`'s output.

        Configs of format version 1 name ``input_dim`` instead of ``input_shape``.
        """
        dtype = dtype or config.get("dtype", "float32")
        if "graph" in config:
            inputs, outputs = graph_from_config(config["graph"])
            model = cls.__new__(cls)
            Network._init_graph(model, inputs, outputs, config.get("seed"), dtype, False)
            model._on_create()
            return model
        layers = [
            get_layer_class(spec["class_name"]).from_config(spec["config"])
            for spec in config["layers"]
        ]
        model = cls(layers, seed=config.get("seed"), dtype=dtype)
        input_shape = config.get("input_shape") or config.get("input_dim")
        if not model.built and input_shape:
            model.build(input_shape)
        return model

    def _on_create(self) -> None:
        """What a subclass sets up beside the network (a model's loss, labels...): nothing here."""

    def __copy__(self) -> Network:
        """``copy.copy(model)`` is a full copy too: layers hold views into one buffer and belong
        to one model, so a shallow copy sharing them would steal the original's layers."""
        return self.copy()

    def copy(self, dtype: str | None = None) -> Network:
        """An independent copy with the same weights and state, optionally in another dtype."""
        self._require_built("copy")
        dtype = dtype or np.dtype(self.dtype).name
        if self.is_graph:
            # One deep copy of the whole graph keeps shared layers shared; building anew (in the
            # copy's dtype) gives fresh buffers, and the state copies the weights over.
            inputs, outputs = copy.deepcopy(self.graph)
            clone = type(self).__new__(type(self))
            for tensor in outputs:
                for layer in _layers_behind(tensor):
                    layer.built = False
            Network._init_graph(clone, inputs, outputs, self.seed, dtype, self.input_gradient)
            clone._on_create()
        else:
            # Deep copies of the layer objects, not a config round trip: a user's own layer
            # without a JSON config can be copied (and so gradient-checked) too.
            layers = [copy.deepcopy(layer) for layer in self.layers]
            clone = type(self)(
                layers, seed=self.seed, dtype=dtype, input_gradient=self.input_gradient
            )
            if not clone.built:
                clone.build(self.input_shape)
        clone._restore_state(self.get_state())
        return clone

    def __repr__(self) -> str:
        dtype = np.dtype(self.dtype).name
        if self.is_graph:
            return (
                f"{type(self).__name__}(inputs={self.input_names}, outputs={self.output_names}, "
                f"layers={len(self.layers)}, seed={self.seed}, dtype={dtype!r})"
            )
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"{type(self).__name__}([{inner}], seed={self.seed}, dtype={dtype!r})"


def _layers_behind(tensor: SymbolicTensor) -> list[Layer]:
    """Every layer a tensor depends on (no order), found without recursion."""
    found, stack, seen = [], [tensor.node], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        found.append(node.layer)
        stack.extend(t.node for t in node.inputs)
    return found


def graph_config(
    inputs: list[SymbolicTensor], outputs: list[SymbolicTensor], nodes: list[Any]
) -> dict[str, Any]:
    """A graph as JSON-friendly values (see :meth:`Network.get_config`)."""

    def ref(tensor: SymbolicTensor) -> list[Any]:
        return [tensor.node.layer.name, tensor.node.call_index, tensor.index]

    layers, seen = [], set()
    for node in nodes:
        if id(node.layer) not in seen:
            seen.add(id(node.layer))
            layers.append({
                "name": node.layer.name,
                "class_name": type(node.layer).__name__,
                "config": node.layer.get_config(),
            })  # fmt: skip
    return {
        "inputs": [
            {"name": t.node.layer.name, "shape": list(t.shape), "dtype": t.dtype} for t in inputs
        ],
        "layers": layers,
        "nodes": [
            {"layer": node.layer.name, "inputs": [ref(t) for t in node.inputs]} for node in nodes
        ],
        "outputs": [ref(t) for t in outputs],
    }


def graph_from_config(config: Any) -> tuple[list[SymbolicTensor], list[SymbolicTensor]]:
    """The inputs and outputs of a graph rebuilt from :func:`graph_config`'s values.

    Every field is checked before it is used: a node may only take tensors made before it (so
    the graph has no cycle), names are unique, and sizes are bounded. Raises ``ValueError`` or
    ``TypeError`` naming what is wrong.
    """
    if not isinstance(config, dict) or not {"inputs", "layers", "nodes", "outputs"} <= set(config):
        raise ValueError("the graph must hold 'inputs', 'layers', 'nodes' and 'outputs'")
    entries = {key: config[key] for key in ("inputs", "layers", "nodes", "outputs")}
    for key, value in entries.items():
        if not isinstance(value, list):
            raise TypeError(f"the graph's {key!r} must be a list, got {check.describe(value)}")
        if len(value) > MAX_NODES:
            raise ValueError(f"the graph's {key!r} may hold at most {MAX_NODES} entries")
    if not entries["inputs"] or not entries["outputs"]:
        raise ValueError("the graph needs at least one input and one output")
    made: dict[tuple[str, int, int], SymbolicTensor] = {}
    names: set[str] = set()

    def checked_name(value: Any, where: str) -> str:
        if not isinstance(value, str) or not value or len(value) > 200:
            raise ValueError(f"{where} must be a name (text), got {check.describe(value)}")
        if value in names:
            raise ValueError(f"{where}: the name {value!r} is used twice")
        names.add(value)
        return value

    inputs = []
    for index, spec in enumerate(entries["inputs"]):
        if not isinstance(spec, dict):
            raise TypeError(f"graph input {index} must be a dict, got {check.describe(spec)}")
        name = checked_name(spec.get("name"), f"graph input {index}'s name")
        shape = spec.get("shape")
        tensor = InputLayer(shape, spec.get("dtype"), name=name).output
        made[(name, 0, 0)] = tensor
        inputs.append(tensor)
    layers: dict[str, Layer] = {}
    for index, spec in enumerate(entries["layers"]):
        if not isinstance(spec, dict) or not {"name", "class_name", "config"} <= set(spec):
            raise ValueError(f"graph layer {index} must hold 'name', 'class_name' and 'config'")
        name = checked_name(spec["name"], f"graph layer {index}'s name")
        cls = get_layer_class(spec["class_name"])
        if cls is InputLayer:
            raise ValueError(f"graph layer {index} must not be an InputLayer (inputs are listed)")
        layer = cls.from_config(spec["config"])
        layer.name = name
        layers[name] = layer

    def tensor_of(ref: Any, where: str) -> SymbolicTensor:
        valid = (
            isinstance(ref, list)
            and len(ref) == 3
            and isinstance(ref[0], str)
            and all(isinstance(v, int) and not isinstance(v, bool) for v in ref[1:])
        )
        if not valid:
            raise ValueError(f"{where} must be [layer name, call, output], got {ref!r:.80}")
        key = (ref[0], ref[1], ref[2])
        if key not in made:
            raise ValueError(
                f"{where} names a tensor no earlier node makes: {ref!r:.80} (a node may only "
                "take the graph's inputs and the outputs of nodes listed before it)"
            )
        return made[key]

    for index, spec in enumerate(entries["nodes"]):
        if not isinstance(spec, dict) or not isinstance(spec.get("inputs"), list):
            raise ValueError(f"graph node {index} must hold 'layer' and a list of 'inputs'")
        layer = layers.get(spec.get("layer")) if isinstance(spec.get("layer"), str) else None
        if layer is None:
            raise ValueError(
                f"graph node {index} names no layer of the graph: {spec.get('layer')!r:.80}"
            )
        tensors = [
            tensor_of(ref, f"graph node {index}'s input {i}")
            for i, ref in enumerate(spec["inputs"])
        ]
        if not tensors:
            raise ValueError(f"graph node {index} takes no input")
        result = layer(
            tensors if layer.takes_list else tensors[0] if len(tensors) == 1 else tensors
        )
        node = layer.calls[-1]
        for tensor in result if isinstance(result, list) else [result]:
            made[(layer.name, node.call_index, tensor.index)] = tensor
    outputs = [tensor_of(ref, f"graph output {i}") for i, ref in enumerate(entries["outputs"])]
    unused = [name for name, layer in layers.items() if not layer.calls]
    if unused:
        raise ValueError(f"graph layers {unused[:5]} are never called by a node")
    return inputs, outputs


def fits(shape: tuple, expected: tuple) -> bool:
    """Whether a sample's ``shape`` is ``expected``, where an axis of ``None`` takes any length."""
    return len(shape) == len(expected) and all(
        want is None or want == got for got, want in zip(shape, expected, strict=True)
    )


def _shares_memory(out: Any, batch: Any) -> bool:
    batches = batch if isinstance(batch, list) else [batch]
    return any(np.shares_memory(out, b) for b in batches if isinstance(b, np.ndarray))


def _warn_if_not_finite(out: np.ndarray, dtype: Any) -> None:
    """Overflow inside the layers is not NumPy's to report: outputs that end up non-finite get
    one warning that counts their rows and says what to do."""
    if not np.isfinite(out).all():  # each value: a sum of huge ones may overflow
        bad = int(np.count_nonzero((~np.isfinite(out.reshape(len(out), -1))).any(axis=1)))
        warnings.warn(
            f"{bad} of {len(out)} rows gave non-finite outputs: these inputs are too large for "
            f"the weights in {np.dtype(dtype).name} (scale the inputs, or use dtype='float64')",
            RuntimeWarning,
            stacklevel=4,
        )


def _tensor_list(value: Any, name: str) -> list[SymbolicTensor]:
    """One symbolic tensor or a list of them, as a non-empty list (checked)."""
    tensors = list(value) if isinstance(value, (list, tuple)) else [value]
    if not tensors:
        raise ValueError(f"{name} must name at least one tensor, got an empty list")
    for position, tensor in enumerate(tensors):
        if not isinstance(tensor, SymbolicTensor):
            where = name if len(tensors) == 1 else f"{name}[{position}]"
            raise TypeError(
                f"{where} must be a tensor from Input(...) or a layer call, got "
                f"{check.describe(tensor)}"
            )
    return tensors


def by_position(value: Any, names: list[str], name: str, what: str) -> list[Any]:
    """Data for each of ``names``: from a list (in order), a dict (by name), or one array."""
    if isinstance(value, dict):
        unknown = sorted(set(map(str, value)) - set(names))
        missing = [n for n in names if n not in value]
        if unknown or missing:
            raise ValueError(
                f"{name} must be keyed by the model's {what} names {names}, got "
                f"{sorted(map(str, value))}" + (f" (missing {missing})" if missing else "")
            )
        return [value[n] for n in names]
    if isinstance(value, (list, tuple)) and len(names) > 1:
        if len(value) != len(names):
            raise ValueError(
                f"{name} must hold one array per {what} ({len(names)}: {names}), got {len(value)}"
            )
        return list(value)
    if len(names) > 1:
        raise TypeError(
            f"{name} must be a list of {len(names)} arrays or a dict keyed by {names}: the model "
            f"has {len(names)} {what}s, got {check.describe(value)}"
        )
    return [value]
