"""The backend switch: names, errors and the NumPy fallback (runs without numba too)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


def test_a_numba_that_fails_to_import_leaves_the_default_on_numpy(restore_backend, monkeypatch):
    monkeypatch.setattr(kernels, "numba_installed", lambda: True)
    monkeypatch.setitem(sys.modules, "scratchnn.kernels.numba", None)  # importing it fails
    monkeypatch.delenv(kernels.ENVIRONMENT_VARIABLE, raising=False)
    monkeypatch.setattr(kernels, "_chosen", {})
    assert scratchnn.get_backend() == "numpy"
    with pytest.raises(ImportError):
        scratchnn.set_backend("numba")  # asked for by name, it is an error


@pytest.mark.slow
def test_without_numba_everything_trains_and_the_kernel_tests_skip():
    kernel_tests = Path(__file__).parent / "test_kernels.py"
    code = (
        "import sys; sys.modules['numba'] = None\n"  # as if numba were not installed
        "import numpy as np, pytest, scratchnn\n"
        "assert scratchnn.get_backend() == 'numpy', scratchnn.get_backend()\n"
        "assert scratchnn.info()['numba'] == 'not installed'\n"
        "m = scratchnn.Sequential([scratchnn.LSTM(3), scratchnn.Dense(1)], seed=0)\n"
        "m.fit(np.ones((4, 5, 2), 'float32'), np.ones((4, 1)), loss='mse', verbose=0)\n"
        f"sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', {str(kernel_tests)!r}]))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop(kernels.ENVIRONMENT_VARIABLE, None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == pytest.ExitCode.NO_TESTS_COLLECTED, out.stdout + out.stderr
    assert "could not import 'scratchnn.kernels.numba'" in out.stdout
    assert "1 skipped" in out.stdout, out.stdout
