"""The sequence examples, run short: the character LSTM, the digits read by rows, sunspots."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _example(name: str):
    sys.path.insert(0, str(EXAMPLES))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(EXAMPLES))


@pytest.mark.slow
def test_the_character_lstm_learns_and_matches_pytorch_on_the_same_steps():
    result = _example("char_lm").main(verbose=0, steps=12, length=32, units=32, validation_rows=40)
    assert 2.8 < result["loss"] < 4.1  # below uniform guessing (ln 63 = 4.14) after 12 steps
    assert result["sample"].startswith("ROMEO:\n") and len(result["sample"]) == 207
    if result["torch_loss"] is not None:  # the same weights, batches, Adam and clipping
        assert abs(result["loss"] - result["torch_loss"]) < 0.02


@pytest.mark.slow
def test_an_lstm_reading_digits_row_by_row_learns_them_as_pytorch_does():
    pytest.importorskip("sklearn")
    result = _example("digits_rows").main(verbose=0, epochs=4, units=16)
    assert result["accuracy"] > 0.8
    if result["torch_accuracy"] is not None:
        assert abs(result["accuracy"] - result["torch_accuracy"]) <= 0.01


def test_a_gru_forecasts_sunspots_better_than_next_year_as_this_year():
    pytest.importorskip("statsmodels")
    scores = _example("sunspots").main(verbose=0, epochs=40)
    assert 24 < scores["naive"] < 26  # the same test years every run
    assert scores["gru"] < 0.7 * scores["naive"]
