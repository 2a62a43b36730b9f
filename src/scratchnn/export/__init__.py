"""Export to other formats: ONNX, which ONNX Runtime, OpenVINO, TensorRT and browsers run.

``to_onnx(model, path)`` maps each layer to standard ONNX operators with our own converters; the
``onnx`` package (``pip install scratchnn[onnx]``) only assembles and checks the graph, and is
imported when ``to_onnx`` runs, not by ``import scratchnn`` nor by this package. A layer of your
own exports once you register its converter with :func:`register_onnx_converter`.
"""

from __future__ import annotations

# Imported for what they register: the convolution layers', Embedding's and the recurrent
# layers' converters, the attention and position layers' (each where its layer class exists).
from . import attention, conv, recurrent  # noqa: F401
from .converters import CONVERTERS, converter_for_class, register_onnx_converter
from .graph import OnnxGraph
from .onnx import DEFAULT_OPSET, INPUT_NAME, MIN_OPSET, OUTPUT_NAME, to_onnx

__all__ = [
    "CONVERTERS",
    "DEFAULT_OPSET",
    "INPUT_NAME",
    "MIN_OPSET",
    "OUTPUT_NAME",
    "OnnxGraph",
    "converter_for_class",
    "register_onnx_converter",
    "to_onnx",
]
