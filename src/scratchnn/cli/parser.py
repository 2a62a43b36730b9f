"""The ``scratchnn`` argument parser: one function registers each subcommand and its options."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable

from .. import __version__, datasets
from .commands import DEMOS, cmd_demo, cmd_evaluate, cmd_predict, cmd_summary, cmd_train
from .export import add_export
from .playground import add_playground
from .text import add_generate, add_text_options

Commands = argparse._SubParsersAction  # what add_subparsers returns


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (pointing at ``--help``), not the whole usage,
    and a stray word that is a second value for an option says so."""

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        self._argv = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> None:  # type: ignore[override]
        if message.startswith("unrecognized arguments: "):
            stray = message.split(": ", 1)[1].split()
            argv = getattr(self, "_argv", [])
            message += stray_value_hint(stray[0], argv, self._value_options()) or (
                _elsewhere_hint(stray[0], argv, self._commands())
            )
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def _commands(self) -> dict[str, argparse.ArgumentParser]:
        """The subcommands' parsers by name (none for a subcommand's own parser)."""
        found: dict[str, argparse.ArgumentParser] = {}
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                found.update(action.choices)
        return found

    def _value_options(self) -> set[str]:
        """The options (of this parser and its subcommands) that take exactly one value."""
        parsers = [self, *self._commands().values()]
        return {o for p in parsers for a in p._actions if a.nargs is None for o in a.option_strings}


def _elsewhere_hint(
    token: str, argv: list[str], commands: dict[str, argparse.ArgumentParser]
) -> str:
    """``": --quiet is an option of train, demo, not of summary"`` for an option the command
    lacks but another has (``--target`` in predict says how to leave the target out)."""
    command = next((word for word in argv if word in commands), None)
    if command is None or not token.startswith("--"):
        return ""
    option = token.split("=", 1)[0]
    owners = [name for name, parser in commands.items() if option in parser._option_string_actions]
    if not owners or command in owners:
        return ""
    hint = f": {option} is an option of {', '.join(owners)}, not of {command}"
    if command == "predict" and option in ("--target", "--target-index"):
        hint += "; predict reads features only: leave the target column out with --drop COL"
    return hint


REPEATABLE = ("--drop", "--drop-index", "--one-hot")  # options given once per column


def stray_value_hint(token: str, argv: list[str], value_options: set[str]) -> str:
    """Why ``token`` is left over when it follows the value of an option that takes one:
    ``--layers 64 32`` means ``--layers 64,32``, ``--drop a b`` means ``--drop a --drop b``."""
    if token.startswith("-"):  # an option, not a value
        return ""
    for end, word in enumerate(argv):
        if word != token:
            continue
        start = end
        while start > 0 and not argv[start - 1].startswith("-"):
            start -= 1
        option = argv[start - 1] if start > 0 else ""
        if option not in value_options or start == end:
            continue
        stop = end
        while stop < len(argv) and not argv[stop].startswith("-"):
            stop += 1
        run = argv[start:stop]
        if option == "--layers":
            widths = ",".join(w for w in run if re.fullmatch(r"\d+(,\d+)*", w))
            return (
                f": {token!r} is a second value for --layers, which takes all the widths as one "
                f"value, joined by commas: --layers {widths}"
            )
        if option in REPEATABLE:
            return f": {option} takes one column; repeat it: " + " ".join(
                f"{option} {word}" for word in run
            )
        return f": {token!r} follows {option} {argv[start]}, which takes one value"
    return ""


class _Help(argparse.HelpFormatter):
    """Help that shows each option's default, where it has one worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        flag_or_none = action.default is None or action.default is False  # not 0: it is shown
        if flag_or_none or action.default == argparse.SUPPRESS or "%(default)" in text:
            return text
        return text + " (default: %(default)s)"


# -- option types: argparse names the option in their errors ("argument --seed: ...") ------------
def _integer(low: int, what: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    parse.__name__ = what
    return parse


def _index(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a column index (0 is the first, -1 the last), got {text!r}"
        ) from None


def _patience(text: str) -> int | str | None:
    if text.lower() in ("off", "none", "no"):
        return None
    if text.lower() == "auto":
        return "auto"
    return _integer(0, "a whole number of epochs >= 0, off or auto")(text)


POSITIVE = _integer(1, "a whole number >= 1")
NON_NEGATIVE = _integer(0, "a whole number >= 0")


def _add_csv_options(group: argparse._ArgumentGroup) -> None:
    """How a CSV file is read: the same options for train, evaluate and predict."""
    group.add_argument(
        "--header",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="whether the first line (after --skip-rows) names the columns; by default names "
        "over the columns of numbers make a header, numbers make data, anything else is refused",
    )
    group.add_argument(
        "--skip-rows", type=NON_NEGATIVE, default=0, metavar="N", help="lines to skip first"
    )
    group.add_argument(
        "--delimiter", default=",", help="field separator; 'whitespace' for spaces and tabs"
    )
    group.add_argument("--encoding", default="utf-8", help="text encoding, e.g. latin-1")
    group.add_argument(
        "--drop", action="append", metavar="COL", help="a column to leave out (repeatable)"
    )
    group.add_argument(
        "--drop-index", action="append", type=_index, metavar="I",
        help="a column to leave out, by index from 0 (repeatable)",
    )  # fmt: skip
    group.add_argument(
        "--one-hot", action="append", metavar="COL",
        help="a text column to encode as one 0/1 column per category (repeatable); evaluate and "
        "predict use the categories the model was trained on",
    )  # fmt: skip


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data")
    group.add_argument("--csv", metavar="PATH", help="a CSV file instead of a data set")
    group.add_argument(
        "--target",
        metavar="COL",
        help="the CSV's target column: a header name, or an index (0 first, -1 last); text "
        "that is one column's name and another's index is refused",
    )
    group.add_argument(
        "--target-index", type=_index, metavar="I", help="the target column by index only"
    )
    group.add_argument(
        "--target-csv",
        metavar="PATH",
        help="targets in a second CSV, row for row with --csv (its last column, or --target)",
    )
    _add_csv_options(group)
    group.add_argument(
        "--mnist", metavar="DIR", help="MNIST-format IDX files (.gz or not) in DIR instead"
    )
    group.add_argument(
        "--mnist-kind", choices=["train", "t10k"], default="train", help="which --mnist files"
    )
    group.add_argument(
        "--task",
        choices=["auto", "classification", "regression"],
        default="auto",
        help="auto: classes when targets are text, or few whole numbers",
    )
    group.add_argument("--n-samples", type=POSITIVE, metavar="N", help="size of a generated set")
    group.add_argument("--noise", type=float, help="noise of a generated set")
    group.add_argument("--n-arms", type=POSITIVE, metavar="K", help="arms of the spirals")
    group.add_argument(
        "--seed", type=NON_NEGATIVE, default=0, help="seed of data, weights and shuffling"
    )


def _data_set_names() -> str:
    return ", ".join([*datasets.GENERATED, *datasets.BUNDLED])


def add_train(commands: Commands) -> None:
    """``scratchnn train``."""
    train = commands.add_parser(
        "train",
        help="train a network and save it",
        description="Train a network on a data set or a CSV file.",
        formatter_class=_Help,
    )
    train.add_argument("dataset", nargs="?", help=f"data set name: {_data_set_names()}")
    _add_data_options(train)
    model = train.add_argument_group("model")
    model.add_argument(
        "--layers", default="32", help="hidden widths, one value joined by commas, e.g. 64,32"
    )
    model.add_argument("--activation", default="relu", help="hidden activation")
    model.add_argument(
        "--spec",
        metavar="FILE",
        help="layers from a JSON list or a TOML file of [[layers]] tables (overrides --layers)",
    )
    model.add_argument(
        "--dtype", choices=["float32", "float64"], default="float32", help="floating-point type"
    )
    model.add_argument(
        "--no-standardize",
        action="store_true",
        help="train on raw inputs and targets (else standardised, folded into the layers)",
    )
    fit = train.add_argument_group("training")
    fit.add_argument("--loss", help="cross-entropy for classes, mse otherwise (if not given)")
    fit.add_argument("--optimizer", default="adam", help="sgd, adam, adamw, rmsprop, adagrad")
    fit.add_argument("--lr", type=float, default=0.01, help="learning rate")
    fit.add_argument("--epochs", type=POSITIVE, help="most epochs (default: 200; 5 with --text)")
    fit.add_argument("--batch-size", type=POSITIVE, default=32, help="samples per update")
    fit.add_argument(
        "--validation-split", type=float, default=0.2, help="the part held out, in [0, 1)"
    )
    fit.add_argument(
        "--early-stopping",
        type=_patience,
        default="auto",
        metavar="PATIENCE",
        help="stop after PATIENCE epochs without improvement and keep the best weights; "
        "'off' to train every epoch; auto: 10 when there is a validation part",
    )
    train.add_argument(
        "--out", metavar="MODEL.npz", help="save the trained model here (without it, nothing is)"
    )
    train.add_argument("--plots", metavar="DIR", help="write PNG pictures into DIR")
    train.add_argument(
        "--diagnose",
        action="store_true",
        help="record per-layer statistics while training and print what is wrong (dead ReLUs, "
        "saturation, vanishing gradients, too large updates); pictures too with --plots",
    )
    train.add_argument("--quiet", action="store_true", help="no per-epoch progress")
    add_text_options(train)
    train.set_defaults(handler=cmd_train)


def add_evaluate(commands: Commands) -> None:
    """``scratchnn evaluate``."""
    evaluate = commands.add_parser(
        "evaluate",
        help="loss, metrics and per-class counts",
        description="Evaluate a saved model on a data set or a CSV file.",
        formatter_class=_Help,
    )
    evaluate.add_argument("model", help="a model file written by train --out")
    evaluate.add_argument("dataset", nargs="?", help=f"data set name: {_data_set_names()}")
    evaluate.add_argument("--data", metavar="NAME", help="the data set, as an option")
    _add_data_options(evaluate)
    evaluate.add_argument("--loss", help="default: from the model's last activation")
    evaluate.set_defaults(handler=cmd_evaluate)


def add_predict(commands: Commands) -> None:
    """``scratchnn predict``."""
    predict = commands.add_parser(
        "predict",
        help="predictions for a CSV, as CSV",
        description="Write the model's predictions (class names or values) for each CSV row.",
        formatter_class=_Help,
    )
    predict.add_argument("model", help="a model file written by train --out")
    predict.add_argument(
        "input", help="CSV of the features, one row per sample ('-' reads standard input)"
    )
    predict.add_argument("--out", metavar="FILE", help="write here instead of standard output")
    _add_csv_options(predict.add_argument_group("CSV"))
    predict.set_defaults(handler=cmd_predict)


def add_summary(commands: Commands) -> None:
    """``scratchnn summary``."""
    summary = commands.add_parser(
        "summary",
        help="layers and parameter counts of a model",
        description="Print a saved model's layer table.",
        formatter_class=_Help,
    )
    summary.add_argument("model", help="a model file")
    summary.set_defaults(handler=cmd_summary)


def add_demo(commands: Commands, parser: argparse.ArgumentParser) -> None:
    """``scratchnn demo``: it hands the whole parser to ``train``."""
    demo = commands.add_parser(
        "demo",
        help="built-in showcases: xor, spirals, digits",
        description="Train one of the built-in showcases.",
        formatter_class=_Help,
    )
    demo.add_argument("name", nargs="?", choices=sorted(DEMOS), default="xor")
    demo.add_argument("--seed", type=NON_NEGATIVE, default=0, help="seed of data and weights")
    demo.add_argument("--plots", metavar="DIR", help="write PNG pictures into DIR")
    demo.add_argument(
        "--out", metavar="MODEL.npz", help="save the trained model here (without it, nothing is)"
    )
    demo.add_argument("--quiet", action="store_true", help="no per-epoch progress")
    demo.set_defaults(handler=cmd_demo, parse_train=lambda argv: parser.parse_args(argv))


def build_parser() -> argparse.ArgumentParser:
    """The ``scratchnn`` argument parser with its subcommands."""
    parser = _Parser(
        prog="scratchnn",
        description="Train, inspect and use NumPy neural networks.",
        formatter_class=_Help,
    )
    parser.add_argument("--version", action="version", version=f"scratchnn {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_train(commands)
    add_evaluate(commands)
    add_predict(commands)
    add_summary(commands)
    add_demo(commands, parser)
    add_export(commands)
    add_generate(commands)
    add_playground(commands)
    return parser
