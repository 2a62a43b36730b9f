"""The ``scratchnn`` command: train, evaluate, predict, summarise and demo networks from a shell.

Run ``scratchnn --help`` or ``scratchnn COMMAND --help``. Exit status: 0 on success, 2 on bad
usage (unknown options, invalid values), 1 when a file or the data is wrong. Errors are printed as
one line on standard error; ``--debug`` shows the traceback instead.

Inputs are standardised for training and the scaling is then folded into the first layer's
weights (``W / std`` and ``b - (mean / std) W``), so a saved model takes raw inputs and
``predict`` and ``evaluate`` need nothing but the model file.
"""

from __future__ import annotations

import sys
import traceback

from .commands import (
    DEMOS,
    UsageError,
    cmd_demo,
    cmd_evaluate,
    cmd_predict,
    cmd_summary,
    cmd_train,
    default_loss,
    fold_standardization,
)
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
    "main",
]


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 bad file or data, 2 bad usage)."""
    parser = build_parser()
    args = parser.parse_args(argv)  # exits with status 2 on bad usage
    try:
        return args.handler(args)
    except UsageError as error:
        if args.debug:
            traceback.print_exc()
        parser.exit(2, f"scratchnn {args.command}: error: {error} (see --help)\n")
    except (ValueError, TypeError, OSError, ImportError, KeyError) as error:
        if args.debug:
            traceback.print_exc()
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"scratchnn {args.command}: error: {message}", file=sys.stderr)
        return 1
    return 0
