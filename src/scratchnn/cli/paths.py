"""Output paths checked against a command's inputs: an output never replaces what is read."""

from __future__ import annotations

import os

from .data import UsageError


def _same_file(first: str, second: str) -> bool:
    """Whether two paths name one file (through links too); a missing file is only itself."""
    try:
        return os.path.samefile(first, second)
    except OSError:
        return os.path.realpath(first) == os.path.realpath(second)


def check_output(option: str, out: str | None, inputs: dict[str, str | None]) -> None:
    """Refuse an output ``out`` that is one of ``inputs`` (``{what it is: path}``).

    Writing there would replace the file the command reads (``export m.npz m.npz`` turned a
    model into ONNX bytes): a usage error naming both, before any work.
    """
    if not out:
        return
    for what, path in inputs.items():
        if path and path != "-" and _same_file(out, path):
            same = "" if os.path.normpath(out) == os.path.normpath(path) else f" ({path!r})"
            raise UsageError(
                f"{option} {out!r} is the {what}{same}: writing there would replace it; give "
                "another file name"
            )
