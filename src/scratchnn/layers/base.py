"""The layer contract every layer follows.

Shapes are tuples *without* the batch axis: ``(784,)`` for a table of 784 features,
``(28, 28, 1)`` for a 28x28 grey image (channels last, as in Keras).

* ``output_shape(input_shape) -> tuple``: the shape of the output for that input;
* ``build(input_shape, rng, dtype)`` creates the parameters once the input shape is known;
* ``forward(x, training=False) -> y``. In inference (``training=False``) it writes nothing on
  the layer, so one model can answer ``predict`` from many threads at once. In training it
  records in ``self._cache`` what ``backward`` needs;
* ``backward(grad_y) -> grad_x`` uses the record of the latest training forward, *overwrites*
  the gradients of the parameters in ``grads`` and returns ``dL/dx`` (``None`` when
  ``needs_input_grad`` is False: the first layer of a model, whose input gradient nobody uses).
  Neither pass changes the array it is given: in a graph one tensor (or one gradient) can feed
  several layers;
* a layer that takes several inputs (``Add``, ``Concatenate``) sets ``takes_list = True``: it
  gets a list of shapes in ``output_shape`` and ``build``, a list of arrays in ``forward``, and
  returns a list of gradients from ``backward``;
* ``params`` and ``grads`` map a parameter name (``"W"``, ``"b"``, ...) to its array. Inside a
  :class:`~scratchnn.Sequential` these arrays are views into one flat buffer, so an optimizer
  updates every parameter of the model in one vectorised pass;
* ``state`` holds non-trainable arrays (batch-norm running statistics) that a model file keeps;
* ``get_config()`` returns the constructor arguments, so a layer can be rebuilt from JSON.

Why the training record lives on the layer: a training step is the only writer of a model (a
model refuses a second ``fit`` while one runs), so the step owns these records; keeping them on
the layer lets ``Dense`` reuse its per-batch work buffers from step to step, which a record
allocated per call could not, and keeps ``backward(grad)`` the one-argument method every layer
(and every user's layer) already has.

A layer whose output ends in an activation that a loss can fuse (softmax or sigmoid before
cross-entropy) names it in ``output_activation`` and offers ``forward_logits`` and
``backward_logits``, the same passes without that activation. The training step picks them when
fit starts; nothing else needs to know.

Calling a layer on symbolic tensors (``Dense(8)(Input(shape=(4,)))``) records a node of a graph
(:mod:`scratchnn.layers.symbolic`); :class:`scratchnn.Model` turns such a graph into a model. A
layer called twice shares its weights: the model keeps one training record per call (through
:meth:`Layer.save_record` and :meth:`Layer.load_record`) and sums the gradients of the calls.
"""

from __future__ import annotations

import inspect
import itertools
import re
import weakref
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import check_positive_int, describe, from_settings, lookup
from .symbolic import Node, SymbolicTensor

LAYERS: dict[str, type[Layer]] = {}

# What ``forward`` records for ``backward`` (and the attribute names older user layers use):
# left out when a layer is copied or pickled.
CACHE_ATTRIBUTES = frozenset(
    {"_cache", "input", "pre_activation", "output", "mask", "x_hat", "inv_std", "training"}
)


@dataclass(frozen=True)
class Weight:
    """One array a layer owns, declared once (Keras's ``add_weight``): everything else follows.

    A layer's :meth:`Layer.weights_for` returns these; from them the layer is built (each
    ``initializer(shape, rng)`` called in order), model files are checked before anything is
    allocated (the shapes, and whether an array is a parameter or state), the loss gets its
    penalties (``regularizer``) and a global weight decay finds its kernels (``kernel``).

    Attributes
    ----------
    name : str
        The array's name in ``params`` or ``state`` (``"W"``, ``"running_mean"``).
    shape : tuple of int
        Its shape.
    initializer : callable
        ``initializer(shape, rng) -> array``: its first value.
    regularizer : Regularizer, optional
        A penalty this array adds to the loss.
    trainable : bool
        ``True``: a parameter the optimizer updates; ``False``: state a model file keeps
        (batch-norm running statistics).
    kernel : bool
        Whether a global weight penalty (scikit-learn's ``alpha``) acts on it.
    """

    name: str
    shape: tuple[int, ...]
    initializer: Callable[[tuple[int, ...], np.random.Generator | None], Any]
    regularizer: Any = None
    trainable: bool = True
    kernel: bool = False


def constant(value: float) -> Callable[[tuple[int, ...], Any], np.ndarray]:
    """An initializer that fills its array with ``value`` (ones for a scale, zeros for a shift)."""
    return lambda shape, rng=None: np.full(shape, value)


def as_shape(value: Any, name: str = "input_shape", open_axes: bool = False) -> tuple:
    """``value`` (an int or a sequence of positive ints) as a shape tuple, checked.

    With ``open_axes`` an axis may be ``None``: a length left open (sequences of any length).
    """
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return (check_positive_int(value, name),)
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence | np.ndarray):
        raise TypeError(f"{name} must be a positive int or a tuple of them, got {describe(value)}")
    if len(value) == 0:
        raise ValueError(f"{name} must have at least one axis, got {tuple(value)!r}")
    return tuple(
        None if (v is None and open_axes) else check_positive_int(v, f"{name}[{i}]")
        for i, v in enumerate(value)
    )


def format_shape(shape: tuple[int, ...] | None) -> str:
    """``(None, 14, 14, 8)``: a shape with its batch axis, as ``summary`` prints it."""
    if shape is None:
        return "(None, ?)"
    if isinstance(shape, list):  # the shapes of a layer with several inputs or outputs
        return "[" + ", ".join(format_shape(s) for s in shape) + "]"
    return "(" + ", ".join(["None", *map(str, shape)]) + ")"


def snake_case(name: str) -> str:
    """``"MaxPool2D"`` -> ``"max_pool2d"``: the stem of a generated layer name."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


_NAME_COUNTERS: defaultdict[str, itertools.count] = defaultdict(lambda: itertools.count(1))


class _NamedOnCreation(type):
    """Every layer takes ``name=`` (checked text) or gets a unique one, ``dense_1``, ``dense_2``.

    Done once here rather than in each layer's ``__init__``: a layer's constructor arguments stay
    its own settings (what ``get_config`` returns); its name belongs to the model it serves in.
    """

    def __call__(cls, *args: Any, name: str | None = None, **kwargs: Any) -> Any:
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise TypeError(f"name must be a non-empty string, got {describe(name)}")
        layer = super().__call__(*args, **kwargs)
        stem = snake_case(cls.__name__)
        layer.name = name if name is not None else f"{stem}_{next(_NAME_COUNTERS[stem])}"
        return layer


class Layer(metaclass=_NamedOnCreation):
    """Base class of all layers. Subclasses register themselves by class name."""

    output_activation: str | None = None  # see the module docstring
    takes_list = False  # True: several inputs, as a list (see the module docstring)
    takes_ids = False  # True: integer ids in (an Embedding); a stack it starts keeps them integers
    makes_mask = False  # True: the layer starts a mask of padded steps (Embedding(mask_zero))
    uses_mask = False  # True: forward takes mask= (a recurrent layer skips the padded steps)
    # How the kernel ``W`` meets the input, for the fronts that rewrite or draw it: "dense"
    # (``x W + b`` along the last axis, W: (in, units), b: (units,) if any), "conv2d" (W: (kh, kw,
    # channels, filters) slid over images), None (no kernel).
    kernel_layout: str | None = None
    name: str = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):  # private helpers are not layers a file can name
            LAYERS[cls.__name__] = cls
        cls.__signature__ = _signature_with_name(cls)

    def __init__(self, input_dim: int | None = None, input_shape: Any = None) -> None:
        if input_dim is not None and input_shape is not None:
            raise ValueError(
                f"give input_dim or input_shape, not both (got input_dim={input_dim!r} and "
                f"input_shape={input_shape!r})"
            )
        if input_dim is not None:
            input_shape = (check_positive_int(input_dim, "input_dim"),)
        # An axis may be None (open): a graph's sequences of any length, kept by model files.
        self.input_shape = None if input_shape is None else as_shape(input_shape, open_axes=True)
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.state: dict[str, np.ndarray] = {}
        self.built = False
        self.rng: np.random.Generator | None = None
        self.dtype: type = np.float32
        self.needs_input_grad = True
        self._cache: Any = None
        self.calls: list[Node] = []  # the nodes of graphs this layer was called in

    def __call__(self, inputs: Any) -> Any:
        """Add this layer to a graph: call it on a tensor from ``Input`` or another layer.

        Returns the output tensor (a list of them for a layer with several outputs). A layer
        called on several tensors (``Add()([a, b])``) takes them as a list. Calling the same layer
        again shares its weights.
        """
        what = type(self).__name__
        if self.takes_list:
            valid = isinstance(inputs, (list, tuple)) and len(inputs) > 0
            tensors = list(inputs) if valid else []
            if not valid or not all(isinstance(t, SymbolicTensor) for t in tensors):
                raise TypeError(
                    f"{what} takes a list of tensors (from Input or other layers), got "
                    f"{describe(inputs)}"
                )
            shape: Any = [t.shape for t in tensors]
        else:
            if isinstance(inputs, (list, tuple)) and len(inputs) == 1:
                inputs = inputs[0]
            if not isinstance(inputs, SymbolicTensor):
                raise TypeError(
                    f"{what} must be called on a tensor from Input or another layer, got "
                    f"{describe(inputs)} (to run a layer on arrays, build a Model, or use "
                    "layer.forward(x))"
                )
            tensors, shape = [inputs], inputs.shape
        if self.calls:
            first = self.calls[0]
            expected = [t.shape for t in first.inputs] if self.takes_list else first.inputs[0].shape
            if expected != shape:
                raise ValueError(
                    f"{what} {self.name!r} was first called on inputs of shape "
                    f"{format_shape(expected)}; calling it again shares its weights, so it "
                    f"needs the same shape, got {format_shape(shape)}"
                )
        elif self.input_shape is not None and not self.takes_list:
            if len(self.input_shape) != len(shape) or any(
                a != b for a, b in zip(self.input_shape, shape, strict=False) if b is not None
            ):
                raise ValueError(
                    f"{what} {self.name!r} expects inputs of shape {format_shape(self.input_shape)}"
                    f", got a tensor of shape {format_shape(shape)}"
                )
        try:
            output_shape = self.output_shape(shape)
        except ValueError as error:
            raise ValueError(f"{what} {self.name!r}: {error}") from None
        node = Node(self, tensors, output_shape, len(self.calls))
        self.calls.append(node)
        return node.outputs if node.several_outputs else node.outputs[0]

    def __getattr__(self, name: str) -> Any:
        """A parameter or state array by its name (``layer.gamma``, ``layer.running_mean``)."""
        for group in ("params", "state"):
            arrays = self.__dict__.get(group)
            if arrays is not None and name in arrays:
                return arrays[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _write_param(self, name: str, value: Any) -> None:
        """``layer.W = value`` writes into the parameter's view (the model's buffer), checked."""
        if not self.built:
            raise ValueError(
                f"{type(self).__name__} {self.name!r} has no {name} before it is built"
            )
        target = self.params[name]
        array = np.asarray(value)
        if array.shape != target.shape or array.dtype.kind not in "iuf":
            raise ValueError(
                f"{name} must be a numeric array of shape {target.shape}, got {describe(value)}"
            )
        if not np.isfinite(array).all():
            raise ValueError(f"{name} must be finite, got NaN or infinite values")
        target[...] = array

    # -- masks of padded steps ---------------------------------------------------------------------
    def compute_mask(self, inputs: Any, mask: Any) -> Any:
        """The mask of this layer's output, from its input's (``(N, T)`` booleans, ``True`` for a
        real step; ``None``: no mask). By default a layer keeps its input's steps, so the mask
        passes through; several inputs' masks are combined (a step is real if it is in each);
        a layer that removes the time axis returns ``None``."""
        if isinstance(mask, list):
            given = [m for m in mask if m is not None]
            if not given:
                return None
            combined = given[0]
            for other in given[1:]:
                combined = combined & other
            return combined
        return mask

    @property
    def steps_through_time(self) -> bool:
        """Whether the layer carries a state from one time step to the next (a recurrent layer,
        ``Bidirectional``): diagnostics follow its input's gradient over the steps. Those are
        the layers that take masks."""
        return self.uses_mask

    # -- belonging to a model ---------------------------------------------------------------------
    @property
    def owner(self) -> Any:
        """The model this layer belongs to, or ``None`` (also once that model is gone)."""
        reference = self.__dict__.get("_owner")
        return None if reference is None else reference()

    def claim(self, model: Any) -> None:
        """Belong to ``model`` (held by a weak reference: a model that is gone owns nothing)."""
        self._owner = weakref.ref(model)

    # -- the training record, per call ----------------------------------------------------------
    def save_record(self) -> Any:
        """What the latest training forward recorded for backward (a graph keeps one per call)."""
        return self._cache

    def load_record(self, record: Any) -> None:
        """Put back a record :meth:`save_record` gave (``None``: start without one)."""
        self._cache = record

    @property
    def input_dim(self) -> int | None:
        """Width of a flat input (``input_shape == (width,)``); ``None`` otherwise."""
        shape = self.input_shape
        return shape[0] if shape is not None and len(shape) == 1 else None

    def __getstate__(self) -> dict[str, Any]:
        """Everything but the training record and ownership (copies start afresh)."""
        state = {k: v for k, v in self.__dict__.items() if k not in CACHE_ATTRIBUTES}
        state["_cache"] = None  # the copy has no record of its own yet
        state.pop("_owner", None)
        return state

    # -- construction -------------------------------------------------------------------------
    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of the output (no batch axis) for inputs of ``input_shape``; same by default.

        A layer written for flat inputs may instead override ``output_dim(input_dim)``.
        """
        output_dim = getattr(self, "output_dim", None)
        if output_dim is not None and len(input_shape) == 1:
            return (output_dim(input_shape[0]),)
        return tuple(input_shape)

    def weights_for(self, input_shape: Any) -> list[Weight] | None:
        """The arrays this layer owns for inputs of ``input_shape``, each declared once.

        A layer with weights overrides this (``Dense``: ``W`` and ``b``); the default, ``None``,
        means the layer uses the older hooks :meth:`init_params` and :meth:`init_state` (or owns
        nothing). Allocates nothing: model files are checked against it before any build.
        """
        return None

    def init_params(self, input_shape: tuple[int, ...], rng: np.random.Generator) -> dict:
        """The initial trainable parameters, for a layer that declares no :class:`Weight`."""
        return {}

    def init_state(self, input_shape: tuple[int, ...]) -> dict[str, np.ndarray]:
        """The initial non-trainable state, for a layer that declares no :class:`Weight`."""
        return {}

    def build(
        self,
        input_shape: Any,
        rng: np.random.Generator | None = None,
        dtype: type = np.float32,
    ) -> None:
        """Create parameters for inputs of ``input_shape`` (an int is a flat width; a list of
        shapes for a layer that ``takes_list``). An axis may be ``None``: a length left open."""
        if self.takes_list:
            input_shape = [as_shape(s, open_axes=True) for s in input_shape]
        else:
            input_shape = as_shape(input_shape, open_axes=True)
        if self.input_shape is not None and self.input_shape != input_shape:
            raise ValueError(
                f"{type(self).__name__} expects inputs of shape {self.input_shape}, got inputs "
                f"of shape {input_shape}"
            )
        self.output_shape(input_shape)  # a layer that cannot take this shape says so now
        self.input_shape = input_shape
        self.rng = rng if rng is not None else np.random.default_rng()
        self.dtype = dtype
        declared = self.weights_for(input_shape)
        if declared is None:  # a layer written with the older hooks
            params = self.init_params(input_shape, self.rng)
            state = self.init_state(input_shape)
        else:  # in declaration order: the generator's draws follow it
            params = {w.name: w.initializer(w.shape, self.rng) for w in declared if w.trainable}
            state = {w.name: w.initializer(w.shape, None) for w in declared if not w.trainable}
        self.params = {k: np.asarray(v).astype(dtype) for k, v in params.items()}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.state = {k: np.asarray(v).astype(dtype) for k, v in state.items()}
        self._cache = None
        self.built = True

    def bind(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """Move the parameters into the given arrays (views into a model's flat buffers)."""
        for key, view in params.items():
            view[...] = self.params[key]
        self.params = params
        self.grads = grads

    @property
    def n_params(self) -> int:
        """Number of trainable scalars."""
        return sum(p.size for p in self.params.values())

    # -- computation --------------------------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_output: np.ndarray) -> np.ndarray | None:
        raise NotImplementedError

    def forward_logits(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """``forward`` without ``output_activation`` (only layers that name one have it)."""
        raise NotImplementedError(f"{type(self).__name__} has no activation to split off")

    def backward_logits(self, grad_logits: np.ndarray) -> np.ndarray | None:
        """``backward`` from ``dL/d(logits)``, after :meth:`forward_logits`."""
        raise NotImplementedError(f"{type(self).__name__} has no activation to split off")

    def _recorded(self) -> Any:
        """The record of the latest training forward; a clear error when there is none."""
        if getattr(self, "_cache", None) is None:  # a copied layer has no record at all
            raise ValueError(
                f"{type(self).__name__}.backward needs a training forward first: call "
                "forward(x, training=True) before backward (inference records nothing)"
            )
        return self._cache

    def penalties(self) -> list[tuple[str, Any]]:
        """``(parameter name, Regularizer)`` pairs this layer adds to the loss (its declared
        weights' regularizers)."""
        return [(w.name, w.regularizer) for w in self._declared() if w.regularizer is not None]

    @property
    def kernel_names(self) -> tuple[str, ...]:
        """The weight matrices a global weight penalty acts on (declared with ``kernel=True``)."""
        return tuple(w.name for w in self._declared() if w.kernel)

    def _declared(self) -> list[Weight]:
        """The weights of a built layer, as it declares them (none before it is built)."""
        return (self.weights_for(self.input_shape) or []) if self.built else []

    def array_kinds(self, input_shape: Any) -> dict[str, str] | None:
        """``{name: "params" or "state"}`` for the arrays ``build`` would create; ``None``
        when the layer does not say (it uses the older hooks)."""
        declared = self.weights_for(input_shape)
        if declared is None:
            return None if self.array_shapes(input_shape) is None else {}
        return {w.name: "params" if w.trainable else "state" for w in declared}

    def array_shapes(self, input_shape: Any) -> dict[str, tuple[int, ...]] | None:
        """Shapes of the parameters and state ``build`` would create, without creating them.

        Model files are checked against these before anything is allocated. ``None`` (for a
        layer with the older hooks that does not say) means: build it to find out.
        """
        declared = self.weights_for(input_shape)
        if declared is not None:
            return {w.name: tuple(w.shape) for w in declared}
        cls = type(self)
        creates = cls.init_params is not Layer.init_params or cls.init_state is not Layer.init_state
        return None if creates else {}

    def state_problem(self, name: str, value: np.ndarray) -> str | None:
        """What is wrong with a loaded state array (``None``: nothing); files are checked so."""
        return None

    # -- description --------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """Constructor arguments as JSON-friendly values."""
        return {"input_shape": None if self.input_shape is None else list(self.input_shape)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        return from_settings(cls, config, f"layer {cls.__name__}")

    def __repr__(self) -> str:
        config = self.get_config()
        if config.get("input_shape") is not None:
            config["input_shape"] = tuple(config["input_shape"])
        args = ", ".join(f"{k}={v!r}" for k, v in config.items() if v is not None)
        return f"{type(self).__name__}({args})"


def _signature_with_name(cls: type) -> inspect.Signature:
    """``cls(...)``'s signature as help() and IDEs show it: ``__init__``'s, plus ``name=None``
    (which the metaclass takes, so inspection would otherwise show only ``*args, **kwargs``)."""
    signature = inspect.signature(cls.__init__)
    parameters = list(signature.parameters.values())[1:]  # without self
    if "name" not in signature.parameters:
        named = inspect.Parameter("name", inspect.Parameter.KEYWORD_ONLY, default=None)
        at = next((i for i, p in enumerate(parameters) if p.kind is p.VAR_KEYWORD), len(parameters))
        parameters.insert(at, named)
    return signature.replace(parameters=parameters, return_annotation=inspect.Signature.empty)


def get_layer_class(name: str) -> type[Layer]:
    """Return the registered layer class called ``name``."""
    return lookup(name, {k.lower(): v for k, v in LAYERS.items()}, "layer")
