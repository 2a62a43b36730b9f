"""``OnnxGraph``: the small builder every converter writes its operators into.

A converter receives the graph, the layer (or activation) and the name of its input tensor, adds
nodes with :meth:`OnnxGraph.node` and constants with :meth:`OnnxGraph.constant`, and returns the
name of its output tensor. The graph knows the model's dtype, so constants come out as float32 or
float64 to match. The ``onnx`` package is imported only when a graph is turned into a model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

ONNX_DTYPES = {"float32": 1, "float64": 11}  # onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE


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
        self.shape: tuple[int, ...] = ()  # the current layer's input shape, without the batch axis
        self._counter = 0

    def fresh_name(self, stem: str) -> str:
        """A tensor name not used before in this graph: ``stem_0``, ``stem_1``, ..."""
        name = f"{stem}_{self._counter}"
        self._counter += 1
        return name

    def constant(self, value: Any, stem: str = "const", dtype: Any = None) -> str:
        """Add ``value`` as an initializer (in the graph's dtype unless ``dtype`` is given).

        Returns the initializer's name. Integer constants (shapes, axes) pass ``dtype=np.int64``.
        """
        array = np.array(value, dtype=self.dtype if dtype is None else dtype)
        name = self.fresh_name(stem)
        self.constants[name] = array
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
        input_name: str,
        input_shape: tuple[Any, ...],
        output_name: str,
        output_shape: tuple[Any, ...],
        name: str = "scratchnn",
    ) -> Any:
        """The ``onnx.GraphProto``; a shape may hold a string: a dynamic axis (``"batch"``)."""
        import_onnx()
        from onnx import helper, numpy_helper

        elem_type = ONNX_DTYPES[self.dtype.name]
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
            [helper.make_tensor_value_info(input_name, elem_type, list(input_shape))],
            [helper.make_tensor_value_info(output_name, elem_type, list(output_shape))],
            initializer=initializers,
        )
