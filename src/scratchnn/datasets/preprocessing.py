"""The helpers every user needs: a train/test split, standardisation and one-hot encoding."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _validation as check


def train_test_split(
    X: Any,
    y: Any,
    test_size: float | int = 0.25,
    seed: int | np.random.Generator | None = None,
    stratify: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle and split into ``X_train, X_test, y_train, y_test``.

    Parameters
    ----------
    X : array of shape (n, features), or (n, height, width, channels) for images
    y : array of shape (n,) or (n, outputs)
    test_size : float or int
        Fraction in ``(0, 1)`` or a count of test samples.
    seed : int or Generator, optional
        Seed of the shuffle.
    stratify : bool
        Keep each class's share in both parts (``y`` must then hold class labels).

    Examples
    --------
    >>> import numpy as np
    >>> from scratchnn.datasets import train_test_split
    >>> X, y = np.arange(20).reshape(10, 2), np.arange(10) % 2
    >>> X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, seed=0)
    >>> X_train.shape, X_test.shape
    ((8, 2), (2, 2))
    """
    X = check.check_array(X, "X", ndim=(2, 3, 4, 5))
    y = check.check_array(y, "y", ndim=(1, 2))
    check.check_same_length(X, y)
    n = len(X)
    if isinstance(test_size, (int, np.integer)) and not isinstance(test_size, bool):
        n_test = int(test_size)
    else:
        fraction = check.check_number(
            test_size, "test_size", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False
        )
        n_test = int(round(fraction * n))
    if not 1 <= n_test <= n - 1:
        raise ValueError(
            f"test_size={test_size!r} leaves {n_test} test and {n - n_test} training samples out "
            f"of {n}; both need at least one"
        )
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if not stratify:
        order = rng.permutation(n)
        test, train = order[:n_test], order[n_test:]
    else:
        if y.ndim != 1:
            raise ValueError(f"stratify needs 1-D class labels y, got shape {y.shape}")
        test_parts, train_parts = [], []
        classes, counts = np.unique(y, return_counts=True)
        # Largest-remainder rounding so the class shares add up to exactly n_test.
        quotas = counts * n_test / n
        take = np.floor(quotas).astype(int)
        remaining = n_test - take.sum()
        take[np.argsort(-(quotas - take), kind="stable")[:remaining]] += 1
        for label, k in zip(classes, take, strict=True):
            members = rng.permutation(np.flatnonzero(y == label))
            test_parts.append(members[:k])
            train_parts.append(members[k:])
        test = rng.permutation(np.concatenate(test_parts))
        train = rng.permutation(np.concatenate(train_parts))
    return X[train], X[test], y[train], y[test]


class Standardizer:
    """Scale each feature to mean 0 and standard deviation 1: ``(x - mean_) / scale_``.

    Constant features keep ``scale_ = 1`` so they map to 0 instead of dividing by zero.

    Examples
    --------
    >>> import numpy as np
    >>> from scratchnn.datasets import Standardizer
    >>> scaler = Standardizer().fit(np.array([[0.0, 5.0], [2.0, 5.0]]))
    >>> scaler.transform(np.array([[1.0, 5.0], [2.0, 5.0]])).tolist()
    [[0.0, 0.0], [1.0, 0.0]]
    """

    def __init__(self) -> None:
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None

    def fit(self, X: Any) -> Standardizer:
        """Learn each column's mean and standard deviation from ``X`` ``(n, features)``."""
        X = check.check_array(X, "X", ndim=2)
        self.mean_ = X.mean(axis=0, dtype=np.float64)
        std = X.std(axis=0, dtype=np.float64)
        self.scale_ = np.where(std > 0, std, 1.0)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Standardise ``X`` with the statistics learned by :meth:`fit`."""
        if self.mean_ is None or self.scale_ is None:
            raise ValueError("this Standardizer is not fitted yet: call fit(X) first")
        X = check.check_array(X, "X", ndim=2)
        if X.shape[1] != len(self.mean_):
            raise ValueError(
                f"X must have {len(self.mean_)} features like the data fitted, got {X.shape[1]}"
            )
        return (X - self.mean_) / self.scale_

    def fit_transform(self, X: Any) -> np.ndarray:
        """``fit(X)`` then ``transform(X)``."""
        return self.fit(X).transform(X)

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Undo :meth:`transform`."""
        if self.mean_ is None or self.scale_ is None:
            raise ValueError("this Standardizer is not fitted yet: call fit(X) first")
        return check.check_array(X, "X", ndim=2) * self.scale_ + self.mean_


def standardize(
    X: Any, mean: np.ndarray | None = None, std: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(X_standardised, mean, std)``; pass the training ``mean``/``std`` for test data."""
    X = check.check_array(X, "X", ndim=2)
    if (mean is None) != (std is None):
        raise ValueError("mean and std must be given together (or both left out)")
    if mean is None:
        scaler = Standardizer().fit(X)
        mean, std = scaler.mean_, scaler.scale_
    return (X - mean) / std, mean, std


def one_hot(labels: Any, n_classes: int | None = None) -> np.ndarray:
    """Rows of zeros with a one at each label: ``(n,)`` integer labels to ``(n, n_classes)``.

    Examples
    --------
    >>> from scratchnn.datasets import one_hot
    >>> one_hot([0, 2, 1]).tolist()
    [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
    """
    labels = check.check_array(labels, "labels", ndim=1)
    as_int = labels.astype(np.int64)
    if np.any(as_int != labels) or np.any(as_int < 0):
        raise ValueError("labels must be non-negative whole numbers (class indices)")
    if n_classes is None:
        n_classes = int(as_int.max()) + 1
    n_classes = check.check_positive_int(n_classes, "n_classes")
    if as_int.max() >= n_classes:
        raise ValueError(f"labels must be below n_classes={n_classes}, got {int(as_int.max())}")
    encoded = np.zeros((len(as_int), n_classes), dtype=np.float64)
    encoded[np.arange(len(as_int)), as_int] = 1.0
    return encoded
