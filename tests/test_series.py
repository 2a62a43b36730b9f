"""Time series: sliding windows, and the yearly sunspot numbers statsmodels ships."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from scratchnn.datasets import load_sunspots, series, windows

HAS_STATSMODELS = importlib.util.find_spec("statsmodels") is not None


def test_windows_of_a_1d_series_by_hand():
    X, y = windows([10, 11, 12, 13, 14, 15, 16], length=3, horizon=2)
    # N = 7 - 3 - 2 + 1 = 3; window i is s[i:i+3], its target s[i + 3 - 1 + 2].
    assert X.shape == (3, 3, 1) and y.shape == (3,)
    assert X[..., 0].tolist() == [[10, 11, 12], [11, 12, 13], [12, 13, 14]]
    assert y.tolist() == [14, 15, 16]
    assert X.dtype == np.float64 and y.dtype == np.float64


def test_windows_of_a_2d_series_keep_every_feature():
    series_ = np.arange(12.0).reshape(6, 2)  # step t is (2t, 2t + 1)
    X, y = windows(series_, length=2)
    assert X.shape == (4, 2, 2) and y.shape == (4, 2)
    assert X[1].tolist() == [[2.0, 3.0], [4.0, 5.0]]
    assert y.tolist() == [[4.0, 5.0], [6.0, 7.0], [8.0, 9.0], [10.0, 11.0]]
    for i in range(4):  # every window against the definition
        assert np.array_equal(X[i], series_[i : i + 2]) and np.array_equal(y[i], series_[i + 2])


def test_windows_are_copies_not_views_of_the_series():
    values = np.arange(5.0)
    X, y = windows(values, length=2)
    X[0, 0, 0] = 99.0
    y[0] = 99.0
    assert values.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert X.flags.c_contiguous and X[1, 0, 0] == 1.0


def test_the_shortest_series_gives_one_window():
    X, y = windows([1.0, 2.0, 3.0], length=2, horizon=1)
    assert X.shape == (1, 2, 1) and y.tolist() == [3.0]


def test_windows_refuse_bad_arguments_with_clear_messages():
    with pytest.raises(
        ValueError, match="series has 4 steps: windows of length 3 with horizon 2 need at least 5"
    ):
        windows(np.arange(4), length=3, horizon=2)
    with pytest.raises(ValueError, match="length must be a positive integer, got 0"):
        windows(np.arange(4), length=0)
    with pytest.raises(TypeError, match="horizon must be a positive integer"):
        windows(np.arange(4), length=2, horizon=1.5)
    with pytest.raises(ValueError, match="series must be 1-D or 2-D, got an array of shape"):
        windows(np.zeros((4, 2, 2)), length=2)
    with pytest.raises(ValueError, match="series must be finite, got 1 NaN"):
        windows([1.0, np.nan, 3.0, 4.0], length=2)
    with pytest.raises(TypeError, match="series must hold numbers"):
        windows(["a", "b", "c"], length=1)


@pytest.mark.skipif(not HAS_STATSMODELS, reason="statsmodels (the series extra) is not installed")
def test_sunspots_are_the_yearly_numbers_1700_to_2008():
    years, numbers = load_sunspots()
    assert years.shape == numbers.shape == (309,)
    assert years.dtype == np.int64 and numbers.dtype == np.float64
    assert np.array_equal(years, np.arange(1700, 2009))
    assert numbers[:5].tolist() == [5.0, 11.0, 16.0, 23.0, 36.0]
    assert numbers[-1] == 2.9 and numbers.min() == 0.0
    assert years[np.argmax(numbers)] == 1957  # the largest maximum of the record (190.2)
    X, y = windows(numbers, length=10)
    assert X.shape == (299, 10, 1) and y[0] == numbers[10]


def test_sunspots_without_statsmodels_name_the_extra(monkeypatch):
    monkeypatch.setattr(series.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match=r"pip install scratchnn\[series\]"):
        load_sunspots()
