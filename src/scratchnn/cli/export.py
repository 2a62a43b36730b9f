"""``scratchnn export MODEL.npz OUT.onnx``: a saved model as an ONNX file for other runtimes."""

from __future__ import annotations

import argparse

from ..io import load
from .paths import check_output

MIN_OPSET = 13  # scratchnn.export.MIN_OPSET; that package is imported only when the command runs


def _opset(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"opset must be a whole number, got {text!r}") from None
    if value < MIN_OPSET:
        raise argparse.ArgumentTypeError(f"opset must be from {MIN_OPSET} up, got {value}")
    return value


def add_export(commands: argparse._SubParsersAction) -> None:
    """Register the ``export`` subcommand on the subparsers of the ``scratchnn`` parser."""
    export = commands.add_parser(
        "export",
        help="write a saved model as ONNX",
        description=(
            "Write a saved model as an ONNX file (input 'input' (batch, features), output "
            "'output'; a model with several inputs or outputs: its own names), for ONNX "
            "Runtime, OpenVINO, TensorRT or a browser. Needs the onnx package: "
            "pip install scratchnn[onnx]."
        ),
    )
    export.add_argument("model", help="a model file written by train --out or model.save")
    export.add_argument("out", help="the ONNX file to write (replaced if it exists)")
    export.add_argument("--opset", type=_opset, help="ONNX opset, 13 or newer (default: 17)")
    export.set_defaults(handler=cmd_export)


def _dims(value) -> str:
    return ", ".join(d.dim_param or str(d.dim_value) for d in value.type.tensor_type.shape.dim)


def cmd_export(args: argparse.Namespace) -> int:
    """Load ``args.model``, export it to ``args.out`` and say what the file takes and gives."""
    from ..export import to_onnx

    check_output("OUT", args.out, {"model file being exported": args.model})
    model = load(args.model)
    proto = to_onnx(model, args.out, opset=args.opset)
    dtype = next(p.value for p in proto.metadata_props if p.key == "dtype")
    inputs = ", ".join(f"input {v.name!r} ({_dims(v)})" for v in proto.graph.input)
    outputs = ", ".join(f"output {v.name!r} ({_dims(v)})" for v in proto.graph.output)
    print(f"wrote {args.out}: {inputs} {dtype}, {outputs}, opset {proto.opset_import[0].version}")
    return 0
