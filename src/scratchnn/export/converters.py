"""Each layer and activation as standard ONNX operators, found in one registry by exact class.

A converter is ``fn(graph, obj, x) -> y``: it adds to ``graph`` (an
:class:`~scratchnn.export.OnnxGraph`) the operators computing ``obj``'s forward pass at inference
from the tensor named ``x`` (a list of names for a layer that ``takes_list``: the merges), and
returns the name of the result. The registry is keyed by the
exact class, not by ``isinstance``: a subclass that changes ``forward`` is never exported with
its parent's formula by accident; it registers its own converter.

Where ONNX Runtime has no float64 kernel for an operator (Elu, Softplus), or the operator takes
its constant as a float32 attribute (LeakyRelu's and Elu's ``alpha``), float64 graphs use the
same formula built from primitive operators, with the constants as float64 tensors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import activations
from ..layers import (
    ELU,
    GELU,
    ActivationLayer,
    Add,
    Average,
    BatchNorm,
    Concatenate,
    Dense,
    Dropout,
    InputLayer,
    LayerNormalization,
    LeakyReLU,
    Linear,
    Maximum,
    Multiply,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Subtract,
    Tanh,
)
from ..layers.base import Layer
from .graph import OnnxGraph

Converter = Callable[[OnnxGraph, Any, str], str]

CONVERTERS: dict[type, Converter] = {}


def register_onnx_converter(cls: type, fn: Converter | None = None) -> Any:
    """Make ``fn(graph, obj, x) -> y`` the ONNX converter of layer or activation class ``cls``.

    ``cls`` is a :class:`~scratchnn.layers.Layer` subclass (for a layer in a model) or a
    :class:`~scratchnn.activations.Activation` subclass (for ``Dense(..., activation=obj)``).
    Registering again replaces the earlier converter. Without ``fn`` it returns a decorator.

    Examples
    --------
    >>> from scratchnn.export import register_onnx_converter
    >>> from scratchnn.layers import Layer
    >>> class Double(Layer):
    ...     def forward(self, x, training=False):
    ...         return 2 * x
    >>> @register_onnx_converter(Double)
    ... def double_to_onnx(graph, layer, x):
    ...     return graph.node("Mul", [x, graph.constant(2.0, "two")])
    """
    if not isinstance(cls, type) or not issubclass(cls, (Layer, activations.Activation)):
        what = repr(cls) if isinstance(cls, type) else f"an instance of {type(cls).__name__}"
        raise TypeError(f"cls must be a Layer or Activation subclass, got {what}")
    if fn is None:
        return lambda function: register_onnx_converter(cls, function)
    if not callable(fn):
        raise TypeError(f"fn must be callable as fn(graph, obj, x) -> y, got {fn!r}")
    CONVERTERS[cls] = fn
    return fn


def converter_for(obj: Any, where: str) -> Converter:
    """The converter registered for ``type(obj)``, or a ``TypeError`` naming ``where``."""
    fn = CONVERTERS.get(type(obj))
    if fn is not None:
        return fn
    name = type(obj).__name__
    parent = next((c.__name__ for c in type(obj).__mro__[1:] if c in CONVERTERS), None)
    hint = (
        f"; it subclasses {parent}, which has one: if {name} computes the same function, "
        f"register_onnx_converter({name}, converter_for_class({parent}))"
        if parent
        else ""
    )
    raise TypeError(
        f"{where} ({name}) has no ONNX converter: register one with "
        f"scratchnn.export.register_onnx_converter({name}, fn){hint}"
    )


def converter_for_class(cls: type) -> Converter:
    """The converter registered for exactly ``cls`` (``KeyError`` naming it when there is none)."""
    try:
        return CONVERTERS[cls]
    except KeyError:
        raise KeyError(f"no ONNX converter is registered for {cls.__name__}") from None


def apply_activation(graph: OnnxGraph, activation: Any, x: str, where: str) -> str:
    """Add ``activation`` applied to ``x``; ``where`` names its layer in errors."""
    return converter_for(activation, f"the activation {activation!r} of {where}")(
        graph, activation, x
    )


# -- activations ----------------------------------------------------------------------------------
def _linear(graph: OnnxGraph, activation: Any, x: str) -> str:
    return x


def _op(op: str) -> Converter:
    def convert(graph: OnnxGraph, activation: Any, x: str) -> str:
        return graph.node(op, [x])

    return convert


def _leaky_relu(graph: OnnxGraph, activation: Any, x: str) -> str:
    if graph.dtype == np.float32:
        return graph.node("LeakyRelu", [x], alpha=float(activation.alpha))
    # a = z for z > 0 else alpha z, alpha kept in float64 (the attribute is float32)
    scaled = graph.node("Mul", [x, graph.constant(activation.alpha, "alpha")])
    positive = graph.node("Greater", [x, graph.constant(0.0, "zero")])
    return graph.node("Where", [positive, x, scaled], stem="LeakyRelu")


def _elu(graph: OnnxGraph, activation: Any, x: str) -> str:
    if graph.dtype == np.float32:
        return graph.node("Elu", [x], alpha=float(activation.alpha))
    # a = z for z > 0 else alpha (exp(min(z, 0)) - 1); ONNX Runtime has no float64 Elu
    zero, one = graph.constant(0.0, "zero"), graph.constant(1.0, "one")
    negative_part = graph.node("Exp", [graph.node("Min", [x, zero])])
    negative_part = graph.node("Sub", [negative_part, one])
    negative_part = graph.node("Mul", [negative_part, graph.constant(activation.alpha, "alpha")])
    positive = graph.node("Greater", [x, zero])
    return graph.node("Where", [positive, x, negative_part], stem="Elu")


def _softplus(graph: OnnxGraph, activation: Any, x: str) -> str:
    if graph.dtype == np.float32:
        return graph.node("Softplus", [x])
    # log(1 + exp(z)) = max(z, 0) + log(1 + exp(-|z|)): no overflow; no float64 Softplus kernel
    tail = graph.node("Exp", [graph.node("Neg", [graph.node("Abs", [x])])])
    tail = graph.node("Log", [graph.node("Add", [tail, graph.constant(1.0, "one")])])
    return graph.node("Add", [graph.node("Max", [x, graph.constant(0.0, "zero")]), tail])


def _gelu(graph: OnnxGraph, activation: Any, x: str) -> str:
    # a = z/2 (1 + tanh(c (z' + k z'^3))), z' = clip(z), operation for operation as ours
    bound = activation.clip
    clipped = graph.node("Clip", [x, graph.constant(-bound, "low"), graph.constant(bound, "high")])
    cubed = graph.node("Pow", [clipped, graph.constant(3.0, "three")])
    scaled_cube = graph.node("Mul", [cubed, graph.constant(activation.k, "k")])
    inner = graph.node("Add", [clipped, scaled_cube])
    t = graph.node("Tanh", [graph.node("Mul", [inner, graph.constant(activation.c, "c")])])
    half_x = graph.node("Mul", [x, graph.constant(0.5, "half")])
    return graph.node("Mul", [half_x, graph.node("Add", [t, graph.constant(1.0, "one")])])


def _softmax(graph: OnnxGraph, activation: Any, x: str) -> str:
    return graph.node("Softmax", [x], axis=-1)


for _cls, _fn in (
    (activations.Linear, _linear),
    (activations.ReLU, _op("Relu")),
    (activations.Sigmoid, _op("Sigmoid")),
    (activations.Tanh, _op("Tanh")),
    (activations.LeakyReLU, _leaky_relu),
    (activations.ELU, _elu),
    (activations.Softplus, _softplus),
    (activations.GELU, _gelu),
    (activations.Softmax, _softmax),
):
    register_onnx_converter(_cls, _fn)


# -- layers ---------------------------------------------------------------------------------------
def _dense(graph: OnnxGraph, layer: Dense, x: str) -> str:
    """``z = x W + b`` as one Gemm (MatMul without a bias), then the activation.

    On inputs ``(batch, ..., F)`` of more than two axes, ``MatMul`` (which multiplies over the
    last axis, as ours) and ``Add``: ``Gemm`` takes matrices only.
    """
    W = graph.constant(layer.params["W"], "W")
    if not layer.use_bias:
        z = graph.node("MatMul", [x, W])
    elif len(graph.shape) == 1:
        z = graph.node("Gemm", [x, W, graph.constant(layer.params["b"], "b")])
    else:
        product = graph.node("MatMul", [x, W])
        z = graph.node("Add", [product, graph.constant(layer.params["b"], "b")])
    return apply_activation(graph, layer.activation, z, "a Dense layer")


def _activation_layer(graph: OnnxGraph, layer: ActivationLayer, x: str) -> str:
    return apply_activation(graph, layer.activation, x, f"a {type(layer).__name__} layer")


def _dropout(graph: OnnxGraph, layer: Dropout, x: str) -> str:
    return x  # the identity at inference: no operator at all


def _batch_norm(graph: OnnxGraph, layer: BatchNorm, x: str) -> str:
    """Inference form ``gamma (x - mean) / sqrt(var + eps) + beta`` as BatchNormalization.

    The operator's ``epsilon`` is a float32 attribute; what float32 rounding takes from ``eps``
    is added to the variance tensor, so float64 graphs keep ``var + eps`` to the last digit.
    """
    gamma = graph.constant(layer.params["gamma"], "gamma")
    beta = graph.constant(layer.params["beta"], "beta")
    mean = graph.constant(layer.state["running_mean"], "running_mean")
    if len(graph.shape) != 1:
        # Features on more than one axis (channels last): the same formula, broadcast over them.
        inv_std = 1.0 / np.sqrt(layer.state["running_var"].astype(np.float64) + layer.epsilon)
        centred = graph.node("Sub", [x, mean])
        x_hat = graph.node("Mul", [centred, graph.constant(inv_std, "inv_std")])
        return graph.node("Add", [graph.node("Mul", [x_hat, gamma]), beta])
    epsilon32 = float(np.float32(layer.epsilon))
    variance = layer.state["running_var"].astype(np.float64) + (layer.epsilon - epsilon32)
    inputs = [x, gamma, beta, mean, graph.constant(variance, "running_var")]
    return graph.node("BatchNormalization", inputs, epsilon=epsilon32)


def _layer_norm(graph: OnnxGraph, layer: LayerNormalization, x: str) -> str:
    """``gamma (x - mu) / sqrt(var + eps) + beta`` over the last axis.

    From opset 17 in float32, the ``LayerNormalization`` operator. Before 17 (no such operator),
    and in float64 (its ``epsilon`` is a float32 attribute, which would cost float64 models their
    last digits), the formula operation for operation as ours: ``ReduceMean``, ``Sub``,
    ``Mul``, ``Sqrt``, ``Div``.
    """
    if graph.opset >= 17 and graph.dtype == np.float32:
        scale = layer.params["gamma"] if layer.scale else np.ones(graph.shape[-1])
        inputs = [x, graph.constant(scale, "gamma")]  # the operator needs a scale
        if layer.center:
            inputs.append(graph.constant(layer.params["beta"], "beta"))
        return graph.node(
            "LayerNormalization", inputs, axis=-1, epsilon=float(np.float32(layer.epsilon))
        )
    mean = _mean_over_last_axis(graph, x)
    centred = graph.node("Sub", [x, mean])
    variance = _mean_over_last_axis(graph, graph.node("Mul", [centred, centred]))
    std = graph.node("Sqrt", [graph.node("Add", [variance, graph.constant(layer.epsilon, "eps")])])
    inv_std = graph.node("Div", [graph.constant(1.0, "one"), std])
    y = graph.node("Mul", [centred, inv_std])
    if layer.scale:
        y = graph.node("Mul", [y, graph.constant(layer.params["gamma"], "gamma")])
    if layer.center:
        y = graph.node("Add", [y, graph.constant(layer.params["beta"], "beta")])
    return y


def _mean_over_last_axis(graph: OnnxGraph, x: str) -> str:
    if graph.opset >= 18:  # the axes became an input in opset 18
        return graph.node("ReduceMean", [x, graph.constant([-1], "axes", np.int64)], keepdims=1)
    return graph.node("ReduceMean", [x], axes=[-1], keepdims=1)


def _input_layer(graph: OnnxGraph, layer: InputLayer, x: str) -> str:
    return x  # where a model starts: no operator


# -- merges: a list of input names in, one name out -----------------------------------------------
def _fold(op: str) -> Converter:
    """``op`` over two inputs, applied left to right over more (``(x_0 op x_1) op x_2 ...``)."""

    def convert(graph: OnnxGraph, layer: Any, xs: list[str]) -> str:
        result = xs[0]
        for other in xs[1:]:
            result = graph.node(op, [result, other])
        return result

    return convert


def _average(graph: OnnxGraph, layer: Average, xs: list[str]) -> str:
    """``(x_0 + ... + x_{n-1}) * (1/n)``: the sum, then the product with ``1/n``, as ours."""
    total = _fold("Add")(graph, layer, xs)
    return graph.node("Mul", [total, graph.constant(1.0 / len(xs), "1/n")])


def _maximum(graph: OnnxGraph, layer: Maximum, xs: list[str]) -> str:
    return graph.node("Max", xs)


def _concatenate(graph: OnnxGraph, layer: Concatenate, xs: list[str]) -> str:
    # Our axis counts the batch axis as NumPy does (1: the first after it; -1: the last), as ONNX.
    return graph.node("Concat", xs, axis=layer.axis)


register_onnx_converter(Dense, _dense)
register_onnx_converter(LayerNormalization, _layer_norm)
register_onnx_converter(InputLayer, _input_layer)
register_onnx_converter(Add, _fold("Add"))
register_onnx_converter(Subtract, _fold("Sub"))
register_onnx_converter(Multiply, _fold("Mul"))
register_onnx_converter(Average, _average)
register_onnx_converter(Maximum, _maximum)
register_onnx_converter(Concatenate, _concatenate)
register_onnx_converter(Dropout, _dropout)
register_onnx_converter(BatchNorm, _batch_norm)
for _cls in (ActivationLayer, Linear, ReLU, Sigmoid, Tanh, GELU, Softplus, Softmax, LeakyReLU, ELU):
    register_onnx_converter(_cls, _activation_layer)
