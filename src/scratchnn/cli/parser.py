"""The ``scratchnn`` argument parser: each subcommand's options, help text and handler."""

from __future__ import annotations

import argparse

from .. import datasets
from .commands import DEMOS, cmd_demo, cmd_evaluate, cmd_predict, cmd_summary, cmd_train
from .export import add_export


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (pointing at ``--help``), not the whole usage."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _add_data_options(parser: argparse.ArgumentParser, required: bool = False) -> None:
    group = parser.add_argument_group("data")
    group.add_argument("--csv", metavar="PATH", help="a numeric CSV file instead of a data set")
    group.add_argument(
        "--mnist", metavar="DIR", help="MNIST-format IDX files (.gz or not) in DIR instead"
    )
    group.add_argument(
        "--mnist-kind", choices=["train", "t10k"], default="train", help="which --mnist files"
    )
    group.add_argument("--target", metavar="COL", help="the CSV's target column (name or index)")
    group.add_argument("--no-header", action="store_true", help="the CSV has no header row")
    group.add_argument(
        "--task",
        choices=["auto", "classification", "regression"],
        default="auto",
        help="for --csv: auto means classes when targets are few whole numbers",
    )
    group.add_argument("--n-samples", type=int, metavar="N", help="size of a generated set")
    group.add_argument("--noise", type=float, help="noise of a generated set")
    group.add_argument("--n-arms", type=int, metavar="K", help="arms of the spirals (classes)")
    group.add_argument("--seed", type=int, default=0, help="seed of data, weights and shuffling")


def build_parser() -> argparse.ArgumentParser:
    """The ``scratchnn`` argument parser with its subcommands."""
    parser = _Parser(prog="scratchnn", description="Train, inspect and use NumPy neural networks.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    names = ", ".join([*datasets.GENERATED, *datasets.BUNDLED])

    train = commands.add_parser(
        "train",
        help="train a network and save it",
        description="Train a network on a data set or a CSV file.",
    )
    train.add_argument("dataset", nargs="?", help=f"data set name: {names}")
    _add_data_options(train)
    model = train.add_argument_group("model")
    model.add_argument("--layers", default="32", help="hidden widths, e.g. 64,32 (default: 32)")
    model.add_argument("--activation", default="relu", help="hidden activation (default: relu)")
    model.add_argument(
        "--spec",
        metavar="FILE",
        help="layers from a JSON list or a TOML file of [[layers]] tables (overrides --layers)",
    )
    model.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    model.add_argument(
        "--no-standardize",
        action="store_true",
        help="train on raw inputs (default: standardise, folded into layer 0)",
    )
    fit = train.add_argument_group("training")
    fit.add_argument("--loss", help="default: cross-entropy for classes, mse otherwise")
    fit.add_argument("--optimizer", default="adam", help="sgd, adam, adamw, rmsprop, adagrad")
    fit.add_argument("--lr", type=float, help="learning rate (default: the optimizer's)")
    fit.add_argument("--epochs", type=int, default=50)
    fit.add_argument("--batch-size", type=int, default=32)
    fit.add_argument("--validation-split", type=float, default=0.2)
    fit.add_argument(
        "--early-stopping",
        type=int,
        metavar="PATIENCE",
        help="stop after PATIENCE epochs without improvement; keep the best weights",
    )
    train.add_argument("--out", metavar="MODEL.npz", help="save the trained model here")
    train.add_argument("--plots", metavar="DIR", help="write PNG pictures into DIR")
    train.add_argument("--quiet", action="store_true", help="no per-epoch progress")
    train.set_defaults(handler=cmd_train)

    evaluate = commands.add_parser(
        "evaluate",
        help="loss, metrics and confusion matrix",
        description="Evaluate a saved model on a data set or CSV.",
    )
    evaluate.add_argument("model", help="a model file written by train --out")
    evaluate.add_argument("--data", dest="dataset", metavar="NAME", help=f"data set: {names}")
    _add_data_options(evaluate)
    evaluate.add_argument("--loss", help="default: from the model's last activation")
    evaluate.set_defaults(handler=cmd_evaluate)

    predict = commands.add_parser(
        "predict",
        help="predictions for a CSV, as CSV",
        description="Write the model's predictions for each CSV row.",
    )
    predict.add_argument("model", help="a model file written by train --out")
    predict.add_argument("input", help="CSV of numeric features, one row per sample")
    predict.add_argument("--out", metavar="FILE", help="write here instead of standard output")
    predict.add_argument("--no-header", action="store_true", help="the CSV has no header row")
    predict.add_argument("--drop", metavar="COL", help="a column to ignore (e.g. the target)")
    predict.set_defaults(handler=cmd_predict)

    summary = commands.add_parser(
        "summary",
        help="layers and parameter counts of a model",
        description="Print a saved model's layer table.",
    )
    summary.add_argument("model", help="a model file")
    summary.set_defaults(handler=cmd_summary)

    demo = commands.add_parser(
        "demo",
        help="built-in showcases: xor, spirals, digits",
        description="Train one of the built-in showcases.",
    )
    demo.add_argument("name", nargs="?", choices=sorted(DEMOS), default="xor")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--plots", metavar="DIR", help="write PNG pictures into DIR")
    demo.add_argument("--out", metavar="MODEL.npz", help="save the trained model here")
    demo.add_argument("--quiet", action="store_true", help="no per-epoch progress")
    demo.set_defaults(handler=cmd_demo, parse_train=lambda argv: parser.parse_args(argv))
    add_export(commands)
    return parser
