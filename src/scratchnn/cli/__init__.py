"""The ``scratchnn`` command: train, evaluate, predict, summarise and demo networks from a shell.

Run ``scratchnn --help`` or ``scratchnn COMMAND --help``. Exit status: 0 on success, 2 on bad
usage (unknown options, invalid values), 1 when a file or the data is wrong or the job fails,
3 when training diverged (the weights it kept are reported, and saved with ``--out``), 130 when
interrupted. Every error is one line on standard error, never a traceback;
``--debug`` shows the traceback too. A closed output pipe (``predict ... | head -1``) ends the
command quietly with status 141, as for other Unix tools.

Inputs are standardised for training and the scaling is then folded into the first layer's
weights (``W / std`` and ``b - (mean / std) W``), regression targets likewise into the output
layer, so a saved model takes raw inputs and ``predict`` and ``evaluate`` need nothing but the
model file.
"""

from __future__ import annotations

import os
import sys
import traceback

from ..datasets.tables import ColumnError
from .build import default_loss, fold_standardization, fold_target_scaling
from .commands import DEMOS, cmd_demo, cmd_evaluate, cmd_predict, cmd_summary, cmd_train
from .data import UsageError
from .parser import build_parser

__all__ = [
    "DEMOS",
    "UsageError",
    "build_parser",
    "cmd_demo",
    "cmd_evaluate",
    "cmd_predict",
    "cmd_summary",
    "cmd_train",
    "default_loss",
    "fold_standardization",
    "fold_target_scaling",
    "main",
]


def _one_line(error: BaseException) -> str:
    text = str(error).strip()
    if isinstance(error, KeyError) and text.startswith(("'", '"')):
        text = text[1:-1]
    first = text.splitlines()[0] if text else ""
    kinds = {RecursionError: "nested too deeply", MemoryError: "out of memory"}
    default = kinds.get(type(error), type(error).__name__)
    if isinstance(error, (RecursionError, MemoryError)) or not first:
        return f"{default}{': ' + first if first else ''}"
    return first


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 failed, 2 bad usage, 3 diverged)."""
    parser = build_parser()
    args = parser.parse_args(argv)  # exits with status 2 on bad usage
    try:
        status = args.handler(args)
        sys.stdout.flush()  # a closed pipe shows here, not as Python's shutdown complaint
        return status
    except (UsageError, ColumnError) as error:  # a column that --target/--drop cannot name: usage
        if args.debug:
            traceback.print_exc()
        print(f"scratchnn {args.command}: error: {error} (see --help)", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (| head): no message; stop Python flushing into the closed pipe.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        print(f"scratchnn {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001  one line for every failure; --debug for more
        if args.debug:
            traceback.print_exc()
        print(f"scratchnn {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return 1
