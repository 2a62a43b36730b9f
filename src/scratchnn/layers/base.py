"""The layer contract every layer follows.

* ``build(input_dim, rng, dtype)`` creates the parameters once the input width is known;
* ``forward(x, training=False) -> y`` caches what ``backward`` needs;
* ``backward(grad_y) -> grad_x`` returns the gradient with respect to the input and *overwrites*
  the gradients of the parameters in ``grads``;
* ``params`` and ``grads`` map a parameter name (``"W"``, ``"b"``, ...) to its array. Inside a
  :class:`~scratchnn.Sequential` these arrays are views into one flat buffer, so an optimizer
  updates every parameter of the model in one vectorised pass;
* ``state`` holds non-trainable arrays (batch-norm running statistics) that a model file keeps;
* ``get_config()`` returns the constructor arguments, so a layer can be rebuilt from JSON.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_positive_int

LAYERS: dict[str, type[Layer]] = {}

# What ``forward`` caches for ``backward``: left out when a layer is copied or pickled.
CACHE_ATTRIBUTES = frozenset(
    {"input", "pre_activation", "output", "mask", "x_hat", "inv_std", "training"}
)


class Layer:
    """Base class of all layers. Subclasses register themselves by class name."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):  # private helpers are not layers a file can name
            LAYERS[cls.__name__] = cls

    def __init__(self, input_dim: int | None = None) -> None:
        self.input_dim = None if input_dim is None else check_positive_int(input_dim, "input_dim")
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.state: dict[str, np.ndarray] = {}
        self.built = False
        self.rng: np.random.Generator | None = None
        self.dtype: type = np.float32

    def __getstate__(self) -> dict[str, Any]:
        """Everything but the batch caches of the last forward pass (copies stay small)."""
        state = {k: v for k, v in self.__dict__.items() if k not in CACHE_ATTRIBUTES}
        if "_buffers" in state:  # reusable work arrays (Dense): the copy starts with none
            state["_buffers"] = {}
        return state

    # -- construction -------------------------------------------------------------------------
    def output_dim(self, input_dim: int) -> int:
        """Width of the output for an input of width ``input_dim`` (same width by default)."""
        return input_dim

    def init_params(self, input_dim: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Return the initial trainable parameters (none by default)."""
        return {}

    def init_state(self, input_dim: int) -> dict[str, np.ndarray]:
        """Return the initial non-trainable state arrays (none by default)."""
        return {}

    def build(
        self,
        input_dim: int,
        rng: np.random.Generator | None = None,
        dtype: type = np.float32,
    ) -> None:
        """Create parameters for inputs of width ``input_dim``, drawing from ``rng``."""
        if self.input_dim is not None and self.input_dim != input_dim:
            raise ValueError(
                f"{type(self).__name__} expects input_dim={self.input_dim}, got inputs with "
                f"{input_dim} features"
            )
        self.input_dim = input_dim
        self.rng = rng if rng is not None else np.random.default_rng()
        self.dtype = dtype
        self.params = {k: v.astype(dtype) for k, v in self.init_params(input_dim, self.rng).items()}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.state = {k: v.astype(dtype) for k, v in self.init_state(input_dim).items()}
        self.built = True

    def bind(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """Move the parameters into the given arrays (views into a model's flat buffers)."""
        for key, view in params.items():
            view[...] = self.params[key]
        self.params = params
        self.grads = grads

    @property
    def n_params(self) -> int:
        """Number of trainable scalars."""
        return sum(p.size for p in self.params.values())

    # -- computation --------------------------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def regularization_penalty(self) -> float:
        """Penalty this layer adds to the loss (L1/L2 on weights); zero by default."""
        return 0.0

    def add_regularization_gradients(self) -> None:
        """Add the penalty's gradient to ``grads`` in place; nothing by default."""

    # -- description --------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """Constructor arguments as JSON-friendly values."""
        return {"input_dim": self.input_dim}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if v is not None)
        return f"{type(self).__name__}({args})"


def get_layer_class(name: str) -> type[Layer]:
    """Return the registered layer class called ``name``."""
    from .._validation import lookup

    return lookup(name, {k.lower(): v for k, v in LAYERS.items()}, "layer")
