"""``scratchnn playground``: the page that trains a network in the browser, served locally."""

from __future__ import annotations

import argparse

from .data import UsageError


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535, got {text!r}")
    return value


def add_playground(commands: argparse._SubParsersAction) -> None:
    """Register the ``playground`` subcommand on the subparsers of the ``scratchnn`` parser."""
    playground = commands.add_parser(
        "playground",
        help="train networks in the browser and watch them learn",
        description=(
            "Serve the playground page on 127.0.0.1 (this machine only) until Ctrl-C: pick a "
            "data set, build a network, press play, and watch the decision boundary, neurons, "
            "weights, curves and diagnostics; download the model and its Python code. Needs "
            "pip install 'scratchnn[playground]'."
        ),
    )
    playground.add_argument(
        "--port", type=_port, default=0, help="the port to listen on (default: a free one)"
    )
    playground.add_argument("--open", action="store_true", help="open the page in a browser")
    playground.set_defaults(handler=cmd_playground)


def cmd_playground(args: argparse.Namespace) -> int:
    """Serve until interrupted; 0 when stopped with Ctrl-C."""
    try:
        from ..playground.server import serve
    except ImportError as error:
        raise UsageError(
            f"the playground needs its web server ({error.name} is missing): "
            "pip install 'scratchnn[playground]'"
        ) from None
    return serve(port=args.port, open_browser=args.open)
