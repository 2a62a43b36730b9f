"""Data sets: generated toys (NumPy only), scikit-learn's bundled sets, CSV and IDX files,
text and time series.

The tables return ``(X, y)`` NumPy arrays; the text (Shakespeare, first names) comes as
strings, with a character :class:`Vocabulary` to turn it into ids, and a series into
``(X, y)`` with :func:`windows`. Nothing is ever downloaded; the scikit-learn sets need
``pip install scratchnn[datasets]``, CSV files ``pip install scratchnn[data]`` (pandas) and the
sunspot numbers ``pip install scratchnn[series]`` (statsmodels); each is imported only when it
is used.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from .._validation import lookup
from .corpora import SOURCES, load_names, load_shakespeare
from .files import load_idx, load_mnist
from .generated import make_blobs, make_circles, make_moons, make_spirals, make_xor
from .preprocessing import Standardizer, one_hot, standardize, train_test_split
from .series import load_sunspots, windows
from .sklearn_sets import load_breast_cancer, load_diabetes, load_digits, load_iris, load_wine
from .tables import load_csv, load_csv_column
from .vocabulary import Vocabulary

GENERATED = {
    "xor": make_xor,
    "moons": make_moons,
    "circles": make_circles,
    "spirals": make_spirals,
    "blobs": make_blobs,
}
BUNDLED = {
    "digits": load_digits,
    "iris": load_iris,
    "wine": load_wine,
    "breast_cancer": load_breast_cancer,
    "diabetes": load_diabetes,
}
REGRESSION = {"diabetes"}


def load(name: str, seed: int | None = 0, **options: Any) -> tuple[np.ndarray, np.ndarray]:
    """Load a data set by name: a generated or bundled one, ``options`` going to its loader.

    Examples
    --------
    >>> from scratchnn.datasets import load
    >>> X, y = load("spirals", n_samples=30, n_arms=3)
    >>> X.shape, sorted(set(y.tolist()))
    ((30, 2), [0, 1, 2])
    """
    loader = lookup(name, {**GENERATED, **BUNDLED}, "data set")
    if loader in GENERATED.values():
        return loader(seed=seed, **options)
    accepted = set(inspect.signature(loader).parameters)
    unknown = sorted(set(options) - accepted)
    if unknown:
        takes = f"takes only {sorted(accepted)}" if accepted else "takes no options"
        raise TypeError(f"data set {name!r} {takes}, got {unknown}")
    return loader(**options)


__all__ = [
    "BUNDLED",
    "GENERATED",
    "REGRESSION",
    "SOURCES",
    "Standardizer",
    "Vocabulary",
    "load",
    "load_breast_cancer",
    "load_csv",
    "load_csv_column",
    "load_diabetes",
    "load_digits",
    "load_idx",
    "load_iris",
    "load_mnist",
    "load_names",
    "load_shakespeare",
    "load_sunspots",
    "load_wine",
    "make_blobs",
    "make_circles",
    "make_moons",
    "make_spirals",
    "make_xor",
    "one_hot",
    "standardize",
    "train_test_split",
    "windows",
]
