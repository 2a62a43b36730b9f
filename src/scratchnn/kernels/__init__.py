"""The element-wise kernels and the switch between their two backends.

``"numpy"`` (:mod:`scratchnn.kernels.numpy`) is the reference: a handful of in-place NumPy passes
per operation. ``"numba"`` (:mod:`scratchnn.kernels.numba`, with ``pip install scratchnn[fast]``)
compiles the same operations into one loop each, with the same results bit for bit.

The backend in use is, in order: the last :func:`set_backend`, else the environment variable
``SCRATCHNN_BACKEND`` (read at the first kernel call), else ``"numba"`` when numba is installed
and imports, and ``"numpy"`` when not. numba is imported only when its backend is first used.

Example
-------
>>> import scratchnn
>>> scratchnn.get_backend() in ("numba", "numpy")
True
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import platform
from types import ModuleType

import numpy as np

BACKENDS = ("numpy", "numba")
ENVIRONMENT_VARIABLE = "SCRATCHNN_BACKEND"

_chosen: dict[str, ModuleType] = {}  # "current" -> the kernels module in use, once resolved


def numba_installed() -> bool:
    """Whether the ``numba`` backend can be used (the package is importable)."""
    return importlib.util.find_spec("numba") is not None


def _load(name: object, source: str) -> ModuleType:
    if not isinstance(name, str) or name.lower() not in BACKENDS:
        raise ValueError(f"{source} must be one of {list(BACKENDS)}, got {name!r}")
    name = name.lower()
    if name == "numba" and not numba_installed():
        raise ImportError(
            f"{source} asks for the 'numba' backend, but numba is not installed; "
            "install it with: pip install 'scratchnn[fast]'"
        )
    return importlib.import_module(f"{__name__}.{name}")


def set_backend(name: str) -> None:
    """Use ``"numba"`` (compiled loops) or ``"numpy"`` (the reference) for every kernel.

    A process-wide choice; a refused name changes nothing.
    """
    _chosen["current"] = _load(name, "backend")


COMPILED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def current(dtype: np.dtype | type | None = None) -> ModuleType:
    """The kernels module in use (resolving the default on the first call).

    Given the arrays' ``dtype``, one the compiled kernels do not take (float16, say) gets the
    NumPy kernels whatever the backend.
    """
    module = _resolve()
    if dtype is not None and np.dtype(dtype) not in COMPILED_DTYPES:
        return _load("numpy", "backend")
    return module


def _resolve() -> ModuleType:
    module = _chosen.get("current")
    if module is None:
        requested = os.environ.get(ENVIRONMENT_VARIABLE, "").strip()
        if requested:
            module = _load(requested, f"the environment variable {ENVIRONMENT_VARIABLE}")
        else:
            try:
                module = _load("numba" if numba_installed() else "numpy", "backend")
            except ImportError:  # a numba that cannot load (built for another NumPy, say)
                module = _load("numpy", "backend")
        module = _chosen.setdefault("current", module)
    return module


def get_backend() -> str:
    """The name of the backend in use: ``"numba"`` or ``"numpy"``."""
    return _resolve().__name__.rsplit(".", 1)[1]


def info() -> dict[str, str]:
    """What computes: the backend in use and the versions of Python, NumPy, its BLAS and numba."""
    report = {
        "backend": get_backend(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": _blas(),
        "numba": "not installed",
    }
    if numba_installed():
        report["numba"] = importlib.import_module("numba").__version__
    return report


def _blas() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        threadpool_info = None
    if threadpool_info is not None:
        for pool in threadpool_info():
            if pool.get("user_api") == "blas":
                return f"{pool['internal_api']} {pool['version']} ({pool['num_threads']} threads)"
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except (KeyError, TypeError, ValueError):  # the build report's layout is no promise
        return "unknown"
