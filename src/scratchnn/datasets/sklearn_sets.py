"""scikit-learn's bundled data sets (no download: they ship inside scikit-learn).

Needs the optional extra: ``pip install scratchnn[datasets]``. Each loader returns ``(X, y)`` as
float64 arrays; class labels are whole numbers stored as floats.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _sklearn_datasets() -> Any:
    try:
        from sklearn import datasets
    except ImportError as error:
        raise ImportError(
            "this data set ships with scikit-learn, which is not installed; "
            "install it with: pip install scratchnn[datasets]"
        ) from error
    return datasets


def _load(name: str) -> tuple[np.ndarray, np.ndarray]:
    bunch = getattr(_sklearn_datasets(), f"load_{name}")()
    return np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target, dtype=np.float64)


def load_digits(as_images: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """1797 handwritten digits, 8x8 pixels of intensity 0..16: ``X (1797, 64)``, ``y`` in 0..9.

    ``as_images=True`` gives ``X`` as images for a convolutional network, ``(1797, 8, 8, 1)``
    (batch, height, width, channels), the same pixels in the same row-major order.
    """
    if not isinstance(as_images, bool):
        raise TypeError(f"as_images must be True or False, got {as_images!r}")
    X, y = _load("digits")
    return (X.reshape(-1, 8, 8, 1) if as_images else X), y


def load_iris() -> tuple[np.ndarray, np.ndarray]:
    """Fisher's 150 irises, 4 measurements: ``X (150, 4)``, ``y`` in 0..2."""
    return _load("iris")


def load_wine() -> tuple[np.ndarray, np.ndarray]:
    """178 wines, 13 chemical measurements: ``X (178, 13)``, ``y`` in 0..2 (cultivar)."""
    return _load("wine")


def load_breast_cancer() -> tuple[np.ndarray, np.ndarray]:
    """569 breast tumours, 30 features: ``X (569, 30)``, ``y`` 0 (malignant) or 1 (benign)."""
    return _load("breast_cancer")


def load_diabetes() -> tuple[np.ndarray, np.ndarray]:
    """442 diabetes patients, 10 scaled features: ``X (442, 10)``, ``y`` a disease score."""
    return _load("diabetes")
