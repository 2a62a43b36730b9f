"""``Network``: a stack of layers over one flat parameter buffer; forward, backward, state.

This is the model without its training: building, the passes, logits, the state API and the
description. :class:`scratchnn.Sequential` adds ``fit``, ``evaluate`` and ``save`` on top.
"""

from __future__ import annotations

import copy
import warnings
import weakref
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from . import _validation as check
from . import sources
from .layers.base import Layer, as_shape, format_shape, get_layer_class
from .layers.memory import rows_within


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
        seen: set[int] = set()
        for index, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(
                    f"layers[{index}] must be a scratchnn layer, got {check.describe(layer)}"
                )
            owner = getattr(layer, "_owned", None)
            if id(layer) in seen or (owner is not None and owner() is not None):
                where = "this model" if id(layer) in seen else "another model"
                raise ValueError(
                    f"layers[{index}] ({layer!r}) already belongs to {where}: a layer holds its "
                    "own weights and training record, so it can serve one place in one model; "
                    "build a new layer, or copy the model (model.copy()) to reuse an architecture"
                )
            seen.add(id(layer))
        if seed is not None:
            check.check_non_negative_int(seed, "seed")
        if not isinstance(input_gradient, bool):
            raise TypeError(f"input_gradient must be True or False, got {input_gradient!r}")
        for layer in layers:  # a weak reference: a model that is gone owns nothing
            layer._owned = weakref.ref(self)
        self.layers = layers
        self.seed = seed
        self.dtype = check.check_dtype(dtype)
        self.input_gradient = input_gradient
        self.rng = np.random.default_rng(seed)
        self.built = False
        if layers[0].input_shape is not None:
            self.build(layers[0].input_shape)

    # -- building -----------------------------------------------------------------------------
    def output_shape_for(self, input_shape: Any) -> tuple[int, ...]:
        """The output shape (no batch axis) for inputs of ``input_shape``, without building."""
        shape = as_shape(input_shape)
        for layer in self.layers:
            shape = layer.output_shape(shape)
        return shape

    def build(self, input_shape: Any) -> None:
        """Create every layer's parameters and gather them into one flat buffer.

        ``input_shape`` has no batch axis: ``(features,)``, or ``(height, width, channels)``; an
        int is a number of features.
        """
        input_shape = as_shape(input_shape)
        self.output_shape_for(input_shape)  # every layer checks its input shape before any change
        shape = input_shape
        for layer in self.layers:
            layer.build(shape, self.rng, self.dtype)
            shape = layer.output_shape(shape)
        self.set_input_gradient(self.input_gradient)
        sizes = [p.size for layer in self.layers for p in layer.params.values()]
        self.params = np.empty(sum(sizes), dtype=self.dtype)
        self.grads = np.zeros(sum(sizes), dtype=self.dtype)
        self._bind_layers()
        self.input_shape, self.output_shape = input_shape, shape
        self.built = True

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
            layer._owned = weakref.ref(self)
        if self.built:
            # Own, writeable buffers: an unpickler may hand back read-only (memory-mapped) arrays.
            self.params, self.grads = self.params.copy(), self.grads.copy()
            self._bind_layers()

    def check_inputs(self, X: Any, name: str = "X") -> np.ndarray:
        """``X`` as a finite array of this network's dtype and input shape (batch axis first).

        h5py, zarr and dask arrays come back as a :class:`~scratchnn.sources.RowSource`, whose
        values are checked batch by batch as they are read, never loaded whole.
        """
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
        if expected is not None and X.shape[1:] != tuple(expected):
            if len(expected) == 1 and X.ndim == 2:
                raise ValueError(
                    f"{name} must have {expected[0]} features (columns), got {X.shape[1]}"
                )
            raise ValueError(
                f"{name} must have shape {format_shape(tuple(expected))}, got {X.shape}"
            )
        return X

    def _ensure_built(self, X: np.ndarray) -> None:
        if not self.built:
            self.build(X.shape[1:])

    # -- the passes ---------------------------------------------------------------------------
    def forward(self, X: np.ndarray, training: bool = False) -> np.ndarray:
        """Run every layer's ``forward``; ``training=True`` enables dropout and batch statistics.

        Training records what :meth:`backward` needs; its result may live in a work buffer that
        the next training call with the same batch size overwrites: copy it to keep it.
        Inference records nothing.
        """
        X = np.asarray(X, dtype=self.dtype)
        # Shapes only (cheap, once per batch); fit and predict check values at their boundary.
        if X.ndim < 2 or (self.built and X.shape[1:] != self.input_shape):
            expected = format_shape(self.input_shape) if self.built else "(None, features)"
            expected = expected.replace("None", "batch")
            raise ValueError(f"X must have shape {expected}, got {X.shape}")
        self._ensure_built(X)
        for layer in self.layers:
            X = layer.forward(X, training)
        if training:
            self._training_output_shape = X.shape  # what backward's gradient must match
        return X

    def set_input_gradient(self, wanted: bool) -> None:
        """Whether backward computes ``dL/dX``. Without it, the first layer with parameters
        skips its input gradient (for Dense a third of the products) and the layers before it
        (a ``Reshape``, a ``Dropout``) run no backward at all: nothing there needs a gradient."""
        self.input_gradient = bool(wanted)
        first = next((i for i, layer in enumerate(self.layers) if layer.params), 0)
        for index, layer in enumerate(self.layers):
            layer.needs_input_grad = self.input_gradient or index > first

    def backward(self, grad_output: np.ndarray) -> np.ndarray | None:
        """Backpropagate ``dL/d(output)`` through the last training forward; fills ``grads``.

        Returns ``dL/dX`` when the network was made with ``input_gradient=True``, else ``None``.
        """
        if not self.built or self.layers[-1]._cache is None:
            raise ValueError(
                "backward needs a forward pass first: call forward(X, training=True) before it"
            )
        grad = np.asarray(grad_output, dtype=self.dtype)
        expected = self._training_output_shape
        if grad.shape != expected:
            raise ValueError(
                f"grad_output must have the shape of the last forward output {expected}, "
                f"got {grad.shape}"
            )
        for layer in reversed(self.layers):
            if grad is None:  # below the first layer with parameters: nothing needs a gradient
                break
            grad = layer.backward(grad)
        return grad

    def logits(self, X: Any, batch_size: int = 8192) -> np.ndarray:
        """Outputs before the last layer's activation (softmax/sigmoid scores), inference mode.

        For a last layer without an activation of its own (Dense with ``"linear"``) these are
        the outputs themselves.
        """
        X = self.check_inputs(X)
        batch_size = check.check_positive_int(batch_size, "batch_size")
        self._ensure_built(X)
        head = self.layers[-1]
        if head.output_activation is None:
            raise ValueError(f"logits needs a last layer that ends in an activation, got {head!r}")
        return self._batched(X, batch_size, logits=True)

    def infer(self, X: np.ndarray, logits: bool = False) -> np.ndarray:
        """Inference pass over checked ``X``; ``logits=True`` stops before the last activation."""
        X = np.asarray(X, dtype=self.dtype)
        *body, head = self.layers
        for layer in body:
            X = layer.forward(X, False)
        return head.forward_logits(X, False) if logits else head.forward(X, False)

    def _batched(self, X: np.ndarray, batch_size: int, logits: bool = False) -> np.ndarray:
        """``infer`` over ``X`` in chunks of ``batch_size`` rows (each cast to dtype alone).

        Overflow inside the layers is not NumPy's to report: outputs that end up non-finite get
        one warning that counts their rows and says what to do.
        """
        batch_size = min(batch_size, rows_within(self.layers, self.input_shape, self.dtype))
        with np.errstate(**check.QUIET):
            if len(X) <= batch_size:
                batch = X if isinstance(X, np.ndarray) else X[:]  # a RowSource reads its rows
                out = self.infer(batch, logits)
                # The identity network returns its own input: never hand the caller's array back.
                out = out.copy() if np.shares_memory(out, batch) else out
            else:
                out = np.empty((len(X), *self.output_shape), dtype=self.dtype)
                for start in range(0, len(X), batch_size):
                    stop = start + batch_size
                    out[start:stop] = self.infer(X[start:stop], logits)
            if not np.isfinite(out).all():  # each value: a sum of huge ones may overflow
                bad = int(np.count_nonzero((~np.isfinite(out.reshape(len(out), -1))).any(axis=1)))
                warnings.warn(
                    f"{bad} of {len(out)} rows gave non-finite outputs: these inputs are too "
                    f"large for the weights in {np.dtype(self.dtype).name} (scale the inputs, "
                    "or use dtype='float64')",
                    RuntimeWarning,
                    stacklevel=3,
                )
        return out

    def predict(self, X: Any, batch_size: int = 8192) -> np.ndarray:
        """Outputs for ``X`` ``(N, ...input_shape)``: ``(N, ...output_shape)``, inference mode."""
        X = self.check_inputs(X)
        batch_size = check.check_positive_int(batch_size, "batch_size")
        self._ensure_built(X)
        return self._batched(X, batch_size)

    # -- parameters and state -----------------------------------------------------------------
    def get_flat_weights(self) -> np.ndarray:
        """A copy of all trainable parameters as one 1-D array."""
        return self.params.copy()

    def set_flat_weights(self, flat: Any) -> None:
        """Overwrite all trainable parameters from one finite 1-D array of the same length."""
        self._require_built("set_flat_weights")
        flat = check.check_array(flat, "flat", ndim=1)
        if flat.shape != self.params.shape:
            raise ValueError(f"flat must have shape {self.params.shape}, got {flat.shape}")
        self.params[...] = flat

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

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`get_state` returned (of this network or one of the same build).

        Everything is checked first (shapes, finite numbers, each layer's own rules, the
        generator state); a state that does not fit changes nothing.
        """
        self._require_built("set_state")
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
        """Print (with ``print_fn``) and return a table of layers, output shapes and parameters."""
        rows = [("Layer", "Output shape", "Params")]
        shape = self.input_shape if self.built else self.layers[0].input_shape
        for index, layer in enumerate(self.layers):
            if shape is not None:
                shape = layer.output_shape(shape)
            count = str(layer.n_params) if layer.built else "?"
            rows.append((f"{index}: {layer!r}", format_shape(shape), count))
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        rule = "-" * (sum(widths) + 4)
        lines = [rule]
        for i, row in enumerate(rows):
            lines.append(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}")
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
        """The architecture as JSON-friendly values (layers, seed, dtype, input shape)."""
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
        layers = [
            get_layer_class(spec["class_name"]).from_config(spec["config"])
            for spec in config["layers"]
        ]
        model = cls(layers, seed=config.get("seed"), dtype=dtype or config.get("dtype", "float32"))
        input_shape = config.get("input_shape") or config.get("input_dim")
        if not model.built and input_shape:
            model.build(input_shape)
        return model

    def __copy__(self) -> Network:
        """``copy.copy(model)`` is a full copy too: layers hold views into one buffer and belong
        to one model, so a shallow copy sharing them would steal the original's layers."""
        return self.copy()

    def copy(self, dtype: str | None = None) -> Network:
        """An independent copy with the same weights and state, optionally in another dtype."""
        self._require_built("copy")
        # Deep copies of the layer objects, not a config round trip: a user's own layer without a
        # JSON config can be copied (and so gradient-checked) too. Building gives fresh buffers.
        layers = [copy.deepcopy(layer) for layer in self.layers]
        clone = type(self)(
            layers,
            seed=self.seed,
            dtype=dtype or np.dtype(self.dtype).name,
            input_gradient=self.input_gradient,
        )
        if not clone.built:
            clone.build(self.input_shape)
        clone._restore_state(self.get_state())
        return clone

    def __repr__(self) -> str:
        inner = ", ".join(repr(layer) for layer in self.layers)
        dtype = np.dtype(self.dtype).name
        return f"{type(self).__name__}([{inner}], seed={self.seed}, dtype={dtype!r})"
