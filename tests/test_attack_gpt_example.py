"""Careless calls on examples/gpt.py: a misspelt setting or heads that do not divide the width
are refused with a message, not silently ignored or reported as ``key_dim ... got 0``."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _gpt():
    sys.path.insert(0, str(EXAMPLES))
    try:
        return importlib.import_module("gpt")
    finally:
        sys.path.remove(str(EXAMPLES))


def test_main_refuses_a_misspelt_setting_before_any_work():
    with pytest.raises(TypeError, match=r"unknown settings \['head'\]; the settings are \["):
        _gpt().main(verbose=0, head=8)


@pytest.mark.parametrize(("heads", "width"), [(16, 8), (3, 8)])
def test_build_gpt_refuses_heads_that_do_not_divide_the_width(heads, width):
    with pytest.raises(
        ValueError, match=f"width must be a multiple of heads.*width={width} and heads={heads}"
    ):
        _gpt().build_gpt(9, context=8, layers=1, heads=heads, width=width)


def test_build_gpt_still_builds_when_heads_divide_the_width():
    model = _gpt().build_gpt(9, context=8, layers=1, heads=4, width=8)
    assert model.predict([[1, 2, 3]]).shape == (1, 3, 9)
