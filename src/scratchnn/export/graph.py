"""``OnnxGraph``: the small builder every converter writes its operators into.

A converter receives the graph, the layer (or activation) and the name of its input tensor (a
list of names for a layer that takes several, a merge), adds nodes with :meth:`OnnxGraph.node`
and constants with :meth:`OnnxGraph.constant`, and returns the name of its output tensor. The
graph knows the model's dtype, so constants come out as float32 or float64 to match, and it
stores equal constants once: a layer called twice (shared weights) puts its weights in the file
once, read by both calls. The ``onnx`` package is imported only when a graph is turned into a
model.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

# onnx.TensorProto's element types: FLOAT, DOUBLE, and the integer types an Input may take.
ONNX_DTYPES = {
    "float32": 1,
    "float64": 11,
    "uint8": 2,
    "int8": 3,
    "uint16": 4,
    "int16": 5,
    "int32": 6,
    "int64": 7,
    "uint32": 12,
    "uint64": 13,
}


def import_onnx() -> Any:
    """Return the ``onnx`` module, or raise naming the extra that installs it."""
    try:
        import onnx
    except ImportError as error:
        raise ImportError(
            "exporting to ONNX needs the onnx package: pip install scratchnn[onnx] "
            "(or pip install onnx)"
        ) from error
    return onnx


class OnnxGraph:
    """Nodes and constants of one ONNX graph under construction, in one float dtype.

    Parameters
    ----------
    dtype : {"float32", "float64"}
        Element type of every float tensor in the graph (the model's dtype).
    opset : int
        The default-domain opset the graph targets; converters may read it to choose operators.

    Examples
    --------
    >>> import numpy as np
    >>> from scratchnn.export import OnnxGraph
    >>> graph = OnnxGraph("float64", opset=17)
    >>> scaled = graph.node("Mul", ["input", graph.constant(np.array(2.0), "two")])
    >>> scaled, graph.nodes[0]["op"]
    ('Mul_1', 'Mul')
    """

    def __init__(self, dtype: str, opset: int) -> None:
        self.dtype = np.dtype(dtype)
        self.opset = opset
        self.nodes: list[dict[str, Any]] = []
        self.constants: dict[str, np.ndarray] = {}
        # The current layer's input shape, without the batch axis (a list of shapes for a layer
        # taking several inputs); an open axis is None.
        self.shape: Any = ()
        # Padded sequences: the current layer's input mask as ONNX tensors, ``(real, lengths)``
        # (``(N, T)`` booleans and ``(N,)`` int32 real steps), or None; a layer that starts a
        # mask (Embedding(mask_zero=True)) sets ``made_mask`` for its output.
        self.mask: tuple[str, str] | None = None
        self.made_mask: tuple[str, str] | None = None
        self.reserved: set[str] = set()  # the model's input and output names
        self._counter = 0
        self._by_content: dict[tuple, list[str]] = {}

    def fresh_name(self, stem: str) -> str:
        """A tensor name not used before in this graph: ``stem_0``, ``stem_1``, ...

        Never one of :attr:`reserved` (a model input or output may be named ``Add_3``).
        """
        while True:
            name = f"{stem}_{self._counter}"
            self._counter += 1
            if name not in self.reserved:
                return name

    def constant(self, value: Any, stem: str = "const", dtype: Any = None) -> str:
        """Add ``value`` as an initializer (in the graph's dtype unless ``dtype`` is given).

        Returns the initializer's name. Integer constants (shapes, axes) pass ``dtype=np.int64``.
        A constant equal to one added before (same dtype, shape and values) is not stored again:
        its name comes back, so a shared layer's weights are in the file once.
        """
        array = np.array(value, dtype=self.dtype if dtype is None else dtype)
        key = (array.dtype.str, array.shape, hashlib.blake2b(array.tobytes()).digest())
        for name in self._by_content.get(key, []):
            if np.array_equal(self.constants[name], array):
                return name
        name = self.fresh_name(stem)
        self.constants[name] = array
        self._by_content.setdefault(key, []).append(name)
        return name

    def node(self, op: str, inputs: list[str], stem: str | None = None, **attributes: Any) -> str:
        """Add one operator ``op`` reading ``inputs``; returns the name of its (single) output.

        ``attributes`` are the operator's ONNX attributes (``alpha=0.1``, ``perm=[0, 3, 1, 2]``).
        """
        output = self.fresh_name(stem or op)
        self.nodes.append(
            {"op": op, "inputs": list(inputs), "outputs": [output], "attributes": attributes}
        )
        return output

    def rename(self, old: str, new: str) -> None:
        """Rename the tensor ``old`` to ``new`` wherever a node writes or reads it."""
        for node in self.nodes:
            node["inputs"] = [new if name == old else name for name in node["inputs"]]
            node["outputs"] = [new if name == old else name for name in node["outputs"]]

    def to_proto(
        self,
        inputs: list[tuple[str, tuple[Any, ...], str]],
        outputs: list[tuple[str, tuple[Any, ...]]],
        name: str = "scratchnn",
    ) -> Any:
        """The ``onnx.GraphProto`` reading ``inputs`` and giving ``outputs``.

        Each input is ``(name, shape, dtype)``, each output ``(name, shape)`` (in the graph's
        dtype). A shape may hold a string: a dynamic axis (``"batch"``).
        """
        import_onnx()
        from onnx import helper, numpy_helper

        float_type = ONNX_DTYPES[self.dtype.name]
        nodes = [
            helper.make_node(
                node["op"],
                node["inputs"],
                node["outputs"],
                name=f"{node['outputs'][0]}_node",
                **node["attributes"],
            )
            for node in self.nodes
        ]
        initializers = [numpy_helper.from_array(v, name) for name, v in self.constants.items()]
        return helper.make_graph(
            nodes,
            name,
            [
                helper.make_tensor_value_info(tensor, ONNX_DTYPES[np.dtype(kind).name], list(shape))
                for tensor, shape, kind in inputs
            ],
            [
                helper.make_tensor_value_info(tensor, float_type, list(shape))
                for tensor, shape in outputs
            ],
            initializer=initializers,
        )
