"""The playground: a page in the browser that trains a real scratchnn network and shows it learn.

``scratchnn playground`` (or :func:`serve`) starts a server on ``127.0.0.1``; the page picks a
data set, builds a network and trains it with ``Sequential.fit`` in a worker thread, drawing the
decision boundary, each hidden neuron, the weights, the curves and the diagnostics' findings as
it learns. The trained model, its ONNX export and a Python script that reproduces it can be
downloaded. Needs ``pip install scratchnn[playground]``; the guide is
``docs/guides/playground.md``.
"""

from .recipe import Data, Table, build_model, make_data, parse_table, python_script
from .session import Session
from .settings import LIMITS, Settings, SettingsError, parse_settings

__all__ = [
    "LIMITS",
    "Data",
    "Session",
    "Settings",
    "SettingsError",
    "Table",
    "build_model",
    "make_data",
    "parse_settings",
    "parse_table",
    "python_script",
]
