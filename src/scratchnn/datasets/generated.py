"""Toy data sets generated with NumPy alone, each drawn from a seeded ``numpy.random.Generator``.

Every function returns ``(X, y)``: ``X`` float64 of shape ``(n_samples, 2)`` (``n_features`` for
blobs) and ``y`` integer labels of shape ``(n_samples,)``. The same ``seed`` gives the same data.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_non_negative_int, check_number, check_positive_int, describe


def _generator(seed: int | np.random.Generator | None) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None:
        check_non_negative_int(seed, "seed")
    return np.random.default_rng(seed)


def _split_counts(n_samples: int, n_groups: int) -> list[int]:
    """Sizes of ``n_groups`` groups summing to ``n_samples``, the first ones one larger."""
    base, extra = divmod(n_samples, n_groups)
    return [base + (1 if i < extra else 0) for i in range(n_groups)]


def make_xor(
    n_samples: int = 4, noise: float = 0.0, seed: int | np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The XOR problem: label 1 when exactly one coordinate is 1.

    ``n_samples=4`` (the default) gives the four corners of the unit square in the order
    ``(0,0), (0,1), (1,0), (1,1)``; more samples repeat the corners cyclically, each point moved by
    Gaussian ``noise``.

    Examples
    --------
    >>> from scratchnn.datasets import make_xor
    >>> X, y = make_xor()
    >>> y.tolist()
    [0, 1, 1, 0]
    """
    n_samples = check_positive_int(n_samples, "n_samples")
    noise = check_number(noise, "noise", low=0.0)
    corners = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    index = np.arange(n_samples) % 4
    X = corners[index].copy()
    if noise > 0:
        X += _generator(seed).normal(0.0, noise, size=X.shape)
    y = (corners[index, 0] != corners[index, 1]).astype(np.int64)
    return X, y


def make_moons(
    n_samples: int = 200, noise: float = 0.1, seed: int | np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (label 0 on top, label 1 below), with Gaussian ``noise``."""
    n_samples = check_positive_int(n_samples, "n_samples")
    noise = check_number(noise, "noise", low=0.0)
    rng = _generator(seed)
    n_top, n_bottom = _split_counts(n_samples, 2)
    t_top = np.linspace(0.0, np.pi, n_top)
    t_bottom = np.linspace(0.0, np.pi, n_bottom)
    top = np.column_stack([np.cos(t_top), np.sin(t_top)])
    bottom = np.column_stack([1.0 - np.cos(t_bottom), 0.5 - np.sin(t_bottom)])
    X = np.vstack([top, bottom])
    y = np.concatenate([np.zeros(n_top, np.int64), np.ones(n_bottom, np.int64)])
    X += rng.normal(0.0, noise, size=X.shape)
    order = rng.permutation(n_samples)
    return X[order], y[order]


def make_circles(
    n_samples: int = 200,
    noise: float = 0.05,
    factor: float = 0.5,
    seed: int | np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A circle of radius 1 (label 0) around a circle of radius ``factor`` (label 1)."""
    n_samples = check_positive_int(n_samples, "n_samples")
    noise = check_number(noise, "noise", low=0.0)
    factor = check_number(
        factor, "factor", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False
    )
    rng = _generator(seed)
    n_outer, n_inner = _split_counts(n_samples, 2)
    t_outer = np.linspace(0.0, 2 * np.pi, n_outer, endpoint=False)
    t_inner = np.linspace(0.0, 2 * np.pi, n_inner, endpoint=False)
    outer = np.column_stack([np.cos(t_outer), np.sin(t_outer)])
    inner = factor * np.column_stack([np.cos(t_inner), np.sin(t_inner)])
    X = np.vstack([outer, inner]) + rng.normal(0.0, noise, size=(n_samples, 2))
    y = np.concatenate([np.zeros(n_outer, np.int64), np.ones(n_inner, np.int64)])
    order = rng.permutation(n_samples)
    return X[order], y[order]


def make_spirals(
    n_samples: int = 300,
    n_arms: int = 2,
    noise: float = 0.2,
    turns: float = 1.0,
    seed: int | np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``n_arms`` interleaved spiral arms, one class each (CS231n's classic), radius up to 1.

    Arm ``k`` follows ``r = t``, ``angle = 2 pi (turns t + k / n_arms)`` for ``t`` in ``[0, 1]``;
    ``noise`` is Gaussian noise on the angle, in radians.
    """
    n_samples = check_positive_int(n_samples, "n_samples")
    n_arms = check_positive_int(n_arms, "n_arms")
    if n_arms < 2:
        raise ValueError(f"n_arms must be at least 2, got {n_arms}")
    noise = check_number(noise, "noise", low=0.0)
    turns = check_number(turns, "turns", low=0.0, low_inclusive=False)
    rng = _generator(seed)
    points, labels = [], []
    for arm, count in enumerate(_split_counts(n_samples, n_arms)):
        t = np.linspace(0.0, 1.0, count)
        angle = 2 * np.pi * (turns * t + arm / n_arms) + rng.normal(0.0, noise, size=count)
        points.append(np.column_stack([t * np.cos(angle), t * np.sin(angle)]))
        labels.append(np.full(count, arm, dtype=np.int64))
    X, y = np.vstack(points), np.concatenate(labels)
    order = rng.permutation(n_samples)
    return X[order], y[order]


def make_blobs(
    n_samples: int = 300,
    centers: int | np.ndarray = 3,
    n_features: int = 2,
    cluster_std: float = 1.0,
    center_box: tuple[float, float] = (-10.0, 10.0),
    seed: int | np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic Gaussian clusters, one class per centre.

    ``centers`` is a count (centres drawn uniformly in ``center_box``) or an array
    ``(n_centers, n_features)`` of given centres.
    """
    n_samples = check_positive_int(n_samples, "n_samples")
    cluster_std = check_number(cluster_std, "cluster_std", low=0.0)
    rng = _generator(seed)
    if isinstance(centers, (int, np.integer)) and not isinstance(centers, bool):
        n_features = check_positive_int(n_features, "n_features")
        check_positive_int(centers, "centers")
        low, high = center_box
        centre_points = rng.uniform(low, high, size=(int(centers), n_features))
    else:
        centre_points = np.asarray(centers, dtype=np.float64)
        if centre_points.ndim != 2 or len(centre_points) == 0:
            raise ValueError(
                f"centers must be a count or an array (n_centers, n_features), got "
                f"{describe(centers)}"
            )
    counts = _split_counts(n_samples, len(centre_points))
    pairs = zip(centre_points, counts, strict=True)
    X = np.vstack(
        [centre + rng.normal(0.0, cluster_std, size=(k, len(centre))) for centre, k in pairs]
    )
    y = np.repeat(np.arange(len(centre_points)), counts)
    order = rng.permutation(n_samples)
    return X[order], y[order]
