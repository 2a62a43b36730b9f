"""Weight initializers: functions ``(shape, rng, dtype) -> array``.

Recurrent kernels start orthogonal (:class:`Orthogonal`); embeddings ``U(-0.05, 0.05)``
(``uniform``).

For a kernel of shape ``(fan_in, fan_out)``:

* Glorot/Xavier (tanh, sigmoid, softmax): variance ``2 / (fan_in + fan_out)``;
* He (ReLU family): variance ``2 / fan_in``;
* LeCun: variance ``1 / fan_in``.

The uniform forms draw from ``U(-limit, limit)`` with ``limit = sqrt(3 variance)``; the normal
forms from ``N(0, variance)``. Every draw comes from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._validation import lookup

Initializer = Callable[[tuple[int, ...], np.random.Generator, type], np.ndarray]


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    fan_in = shape[0]
    fan_out = shape[1] if len(shape) > 1 else shape[0]
    return fan_in, fan_out


def _uniform(variance: float, shape: tuple[int, ...], rng: np.random.Generator, dtype: type):
    limit = np.sqrt(3.0 * variance)
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def _normal(variance: float, shape: tuple[int, ...], rng: np.random.Generator, dtype: type):
    return (rng.standard_normal(size=shape) * np.sqrt(variance)).astype(dtype)


def glorot_uniform(shape: tuple[int, ...], rng: np.random.Generator, dtype: type = np.float32):
    """Glorot/Xavier uniform: ``U(-l, l)``, ``l = sqrt(6 / (fan_in + fan_out))``."""
    fan_in, fan_out = _fans(shape)
    return _uniform(2.0 / (fan_in + fan_out), shape, rng, dtype)


def glorot_normal(shape: tuple[int, ...], rng: np.random.Generator, dtype: type = np.float32):
    """Glorot/Xavier normal: ``N(0, 2 / (fan_in + fan_out))``."""
    fan_in, fan_out = _fans(shape)
    return _normal(2.0 / (fan_in + fan_out), shape, rng, dtype)


def he_uniform(shape: tuple[int, ...], rng: np.random.Generator, dtype: type = np.float32):
    """He uniform: ``U(-l, l)``, ``l = sqrt(6 / fan_in)``."""
    return _uniform(2.0 / _fans(shape)[0], shape, rng, dtype)


def he_normal(shape: tuple[int, ...], rng: np.random.Generator, dtype: type = np.float32):
    """He normal: ``N(0, 2 / fan_in)``."""
    return _normal(2.0 / _fans(shape)[0], shape, rng, dtype)


def lecun_uniform(shape: tuple[int, ...], rng: np.random.Generator, dtype: type = np.float32):
    """LeCun uniform: ``U(-l, l)``, ``l = sqrt(3 / fan_in)``."""
    return _uniform(1.0 / _fans(shape)[0], shape, rng, dtype)


def lecun_normal(shape: tuple[int, ...], rng: np.random.Generator, dtype: type = np.float32):
    """LeCun normal: ``N(0, 1 / fan_in)``."""
    return _normal(1.0 / _fans(shape)[0], shape, rng, dtype)


def zeros(shape: tuple[int, ...], rng: np.random.Generator, dtype: type = np.float32):
    """All zeros (the default for biases)."""
    return np.zeros(shape, dtype=dtype)


def ones(shape: tuple[int, ...], rng: np.random.Generator, dtype: type = np.float32):
    """All ones (the default for batch-norm scales)."""
    return np.ones(shape, dtype=dtype)


class VarianceScaling:
    """Draws with variance ``scale / n``, ``n`` = fan_in, fan_out or their mean (``mode``).

    ``VarianceScaling(1.0, "fan_avg", "uniform")`` is Glorot uniform; ``scale < 1`` starts a
    sigmoid network closer to its linear regime (the tutorial network uses ``0.09``).
    """

    def __init__(self, scale: float = 1.0, mode: str = "fan_avg", distribution: str = "uniform"):
        from ._validation import check_number

        # Above 1e6 (standard deviations of a thousand) weights only overflow and saturate.
        self.scale = check_number(scale, "scale", low=0.0, low_inclusive=False, high=1e6)
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"mode must be 'fan_in', 'fan_out' or 'fan_avg', got {mode!r}")
        if distribution not in ("uniform", "normal"):
            raise ValueError(f"distribution must be 'uniform' or 'normal', got {distribution!r}")
        self.mode, self.distribution = mode, distribution

    def __call__(self, shape: tuple[int, ...], rng: np.random.Generator, dtype: type = np.float32):
        fan_in, fan_out = _fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        draw = _uniform if self.distribution == "uniform" else _normal
        return draw(self.scale / n, shape, rng, dtype)

    def get_config(self) -> dict:
        return {
            "name": "variance_scaling",
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
        }

    def __repr__(self) -> str:
        return f"VarianceScaling({self.scale}, {self.mode!r}, {self.distribution!r})"


def uniform(shape: tuple[int, ...], rng: np.random.Generator, dtype: type = np.float32):
    """``U(-0.05, 0.05)``: Keras's ``"uniform"`` (its ``RandomUniform`` default; embeddings)."""
    return rng.uniform(-0.05, 0.05, size=shape).astype(dtype)


class Orthogonal:
    """An orthogonal matrix times ``gain`` (Saxe et al. 2014), Keras's QR-based algorithm.

    The array is seen as a matrix of ``rows = prod(shape[:-1])`` by ``cols = shape[-1]``. A
    standard normal matrix of shape ``(max(rows, cols), min(rows, cols))`` is factored as
    ``Q R``; ``Q`` times the signs of ``diag(R)`` is uniformly distributed over the orthogonal
    matrices (without the signs it is not); transposed when ``rows < cols``. Recurrent kernels
    ``U (units, units)`` start so: ``h U`` keeps the norm of ``h``, so a signal neither grows nor
    fades over the first steps of backpropagation through time.
    """

    def __init__(self, gain: float = 1.0) -> None:
        from ._validation import check_number

        self.gain = check_number(gain, "gain", low=0.0, low_inclusive=False, high=1e6)

    def __call__(self, shape: tuple[int, ...], rng: np.random.Generator, dtype: type = np.float32):
        if len(shape) < 2:
            raise ValueError(f"an orthogonal initializer needs at least 2 axes, got shape {shape}")
        cols = shape[-1]
        rows = int(np.prod(shape[:-1]))
        draws = rng.standard_normal(size=(max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(draws)
        q *= np.sign(np.diag(r))  # makes the distribution uniform (Haar)
        if rows < cols:
            q = q.T
        return (self.gain * q).reshape(shape).astype(dtype)

    def get_config(self) -> dict:
        return {"name": "orthogonal", "gain": self.gain}

    def __repr__(self) -> str:
        return f"Orthogonal(gain={self.gain})"


orthogonal = Orthogonal()

INITIALIZERS: dict[str, Initializer] = {
    f.__name__: f
    for f in (
        glorot_uniform,
        glorot_normal,
        he_uniform,
        he_normal,
        lecun_uniform,
        lecun_normal,
        zeros,
        ones,
        uniform,
    )
}
INITIALIZERS["orthogonal"] = orthogonal
INITIALIZERS["xavier_uniform"] = glorot_uniform
INITIALIZERS["xavier_normal"] = glorot_normal

# He for the ReLU family (keeps the forward variance through rectifiers), Glorot otherwise.
DEFAULT_FOR_ACTIVATION = {
    "relu": "he_uniform",
    "leaky_relu": "he_uniform",
    "elu": "he_uniform",
    "gelu": "he_uniform",
}


def default_initializer(activation_name: str) -> str:
    """Return the initializer name suited to an activation (He for ReLU-like, else Glorot)."""
    return DEFAULT_FOR_ACTIVATION.get(activation_name, "glorot_uniform")


def get_initializer(spec: str | dict | Initializer) -> Initializer:
    """Return an initializer from a name, a ``VarianceScaling`` or ``Orthogonal`` config dict or
    a callable."""
    if callable(spec):
        return spec
    if isinstance(spec, dict):
        config = dict(spec)
        kinds = {"variance_scaling": VarianceScaling, "orthogonal": Orthogonal}
        kind = kinds.get(config.pop("name", None))
        if kind is None:
            raise ValueError(
                f"an initializer config must name 'variance_scaling' or 'orthogonal', got {spec!r}"
            )
        return kind(**config)
    return lookup(spec, INITIALIZERS, "initializer")


def initializer_config(spec: str | Initializer) -> str | dict:
    """The JSON form of an initializer: its name or its config dict."""
    if isinstance(spec, str):
        return spec
    for name, function in INITIALIZERS.items():
        if function is spec:
            return name
    if isinstance(spec, VarianceScaling | Orthogonal):
        return spec.get_config()
    raise TypeError(f"initializer {spec!r} has no JSON form; use a name or VarianceScaling")
