"""Symbolic tensors and nodes: the graph that calling layers on ``Input`` tensors records.

``x = Input(shape=(4,))`` is a :class:`SymbolicTensor`: a shape (without the batch axis) and the
:class:`Node` that makes it. ``Dense(8)(x)`` records a node (the layer, the tensors it takes)
and returns the node's output tensor. Nothing is computed and nothing is allocated: a
:class:`scratchnn.Model` later walks these nodes from its outputs back to its inputs, orders them
and builds the layers. One layer called twice makes two nodes that share its weights.
"""

from __future__ import annotations

from typing import Any


def _format(shape: Any) -> str:
    if isinstance(shape, list):
        return "[" + ", ".join(_format(s) for s in shape) + "]"
    return "(" + ", ".join(["None", *map(str, shape)]) + ")"


class SymbolicTensor:
    """A tensor of a graph under construction: no values, a shape and where it comes from.

    Attributes
    ----------
    shape : tuple
        The shape of one sample (no batch axis); an axis may be ``None`` (open length).
    node : Node
        The node whose output this is (an ``Input``'s own node for a model input).
    index : int
        Which of the node's outputs this is (0 for layers with one output).
    dtype : str or None
        Only for model inputs: integer ids stay integers (``"int64"``); ``None`` is the model's.
    """

    def __init__(self, shape: tuple, node: Node, index: int = 0, dtype: str | None = None):
        self.shape = tuple(shape)
        self.node = node
        self.index = index
        self.dtype = dtype

    @property
    def name(self) -> str:
        """The producing layer's name, with ``[call]`` for a shared layer's second or later call
        and ``:index`` for a second or later output (Keras's ``shared[1]``)."""
        name = self.node.layer.name
        if self.node.call_index:
            name = f"{name}[{self.node.call_index}]"
        return name if self.index == 0 else f"{name}:{self.index}"

    def __repr__(self) -> str:
        return f"<SymbolicTensor {self.name!r} shape={_format(self.shape)}>"


class Node:
    """One call of a layer in a graph: the tensors it takes and the tensors it makes.

    ``inputs`` is a list (one tensor for ordinary layers); ``outputs`` holds one tensor per
    output shape. ``call_index`` counts the calls of the same layer (0 for its first).
    """

    def __init__(
        self, layer: Any, inputs: list[SymbolicTensor], output_shape: Any, call_index: int
    ):
        self.layer = layer
        self.inputs = list(inputs)
        self.call_index = call_index
        shapes = output_shape if isinstance(output_shape, list) else [output_shape]
        self.outputs = [SymbolicTensor(shape, self, i) for i, shape in enumerate(shapes)]
        self.several_outputs = isinstance(output_shape, list)

    def __repr__(self) -> str:
        return f"<Node {self.layer.name!r} call {self.call_index}>"
