"""The backend switch: names, errors and the NumPy fallback (runs without numba too)."""

from __future__ import annotations

import pytest

import scratchnn
from scratchnn import kernels
from scratchnn.kernels import numpy as numpy_kernels


@pytest.fixture
def restore_backend():
    before = kernels.get_backend()
    yield
    kernels.set_backend(before)


def test_a_refused_backend_changes_nothing(restore_backend):
    scratchnn.set_backend("numpy")
    expected = r"backend must be one of \[.numpy., .numba.\], got .cuda."
    with pytest.raises(ValueError, match=expected):
        scratchnn.set_backend("cuda")
    with pytest.raises(ValueError, match="got None"):
        scratchnn.set_backend(None)
    assert scratchnn.get_backend() == "numpy"


def test_numba_asked_for_without_numba_says_how_to_install(restore_backend, monkeypatch):
    scratchnn.set_backend("numpy")
    monkeypatch.setattr(kernels, "numba_installed", lambda: False)
    with pytest.raises(ImportError, match=r"numba is not installed.*scratchnn\[fast\]"):
        scratchnn.set_backend("numba")
    assert kernels.current() is numpy_kernels


def test_default_is_numpy_without_numba(restore_backend, monkeypatch):
    monkeypatch.setattr(kernels, "numba_installed", lambda: False)
    monkeypatch.delenv(kernels.ENVIRONMENT_VARIABLE, raising=False)
    monkeypatch.setattr(kernels, "_chosen", {})
    assert scratchnn.get_backend() == "numpy"
    report = scratchnn.info()
    assert report["backend"] == "numpy" and report["numba"] == "not installed"
    assert set(report) == {"backend", "python", "numpy", "blas", "numba"}
