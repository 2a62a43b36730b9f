"""``Sequential``: a stack of layers with ``fit``, ``predict``, ``evaluate`` and ``summary``."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from . import _validation as check
from .callbacks import Callback, History
from .layers.base import Layer, get_layer_class
from .layers.dense import Dense
from .losses import Loss, get_loss
from .optimizers import Optimizer


class Sequential:
    """A feed-forward network: the output of each layer is the input of the next.

    All trainable parameters live in one flat array ``params`` (gradients in ``grads``); each
    layer's ``W``, ``b``, ... are views into it. One seed (``seed=``) drives every random draw:
    initialisation, shuffling and dropout, so the same seed and data give the same weights.

    Parameters
    ----------
    layers : sequence of Layer
        The layers, input first. The first layer's ``input_dim`` may be left out: it is then
        taken from the first data seen.
    seed : int, optional
        Seed of the model's ``numpy.random.Generator``; ``None`` draws a fresh one.
    dtype : {"float32", "float64"}
        Precision of parameters and computation.

    Examples
    --------
    >>> import numpy as np
    >>> from scratchnn import Sequential
    >>> from scratchnn.layers import Dense
    >>> X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    >>> y = np.array([0, 1, 1, 0])
    >>> model = Sequential([Dense(8, "tanh"), Dense(1, "sigmoid")], seed=0)
    >>> history = model.fit(X, y, loss="binary_crossentropy", optimizer="adam",
    ...                     epochs=300, batch_size=4, verbose=0)
    >>> (model.predict(X) > 0.5).astype(int).ravel()
    array([0, 1, 1, 0])
    """

    def __init__(
        self, layers: Sequence[Layer], seed: int | None = None, dtype: str = "float32"
    ) -> None:
        if isinstance(layers, Layer) or not isinstance(layers, Iterable):
            raise TypeError(f"layers must be a list of layers, got {check.describe(layers)}")
        layers = list(layers)
        if not layers:
            raise ValueError("layers must hold at least one layer, got an empty list")
        for index, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(
                    f"layers[{index}] must be a scratchnn layer, got {check.describe(layer)}"
                )
        if seed is not None:
            check.check_non_negative_int(seed, "seed")
        self.layers = layers
        self.seed = seed
        self.dtype = check.check_dtype(dtype)
        self.rng = np.random.default_rng(seed)
        self.built = False
        self.loss: Loss | None = None
        self.optimizer: Optimizer | None = None
        self.metric_names: list[str] = []
        self.stop_training = False
        if layers[0].input_dim is not None:
            self.build(layers[0].input_dim)

    # -- building -----------------------------------------------------------------------------
    def _output_dim_for(self, input_dim: int) -> int:
        dim = input_dim
        for layer in self.layers:
            dim = layer.output_dim(dim)
        return dim

    def build(self, input_dim: int) -> None:
        """Create every layer's parameters and gather them into one flat buffer."""
        input_dim = check.check_positive_int(input_dim, "input_dim")
        dim = input_dim
        for layer in self.layers:
            layer.build(dim, self.rng, self.dtype)
            dim = layer.output_dim(dim)
        sizes = [p.size for layer in self.layers for p in layer.params.values()]
        self.params = np.empty(sum(sizes), dtype=self.dtype)
        self.grads = np.zeros(sum(sizes), dtype=self.dtype)
        self._bind_layers()
        self.input_dim, self.output_dim = input_dim, dim
        self._regularized = [
            layer
            for layer in self.layers
            if getattr(layer, "kernel_regularizer", None)
            or getattr(layer, "bias_regularizer", None)
        ]
        self.built = True

    def _bind_layers(self) -> None:
        """Make each layer's parameters and gradients views into ``params`` and ``grads``."""
        offset = 0
        for layer in self.layers:
            param_views, grad_views = {}, {}
            for name, value in layer.params.items():
                end = offset + value.size
                param_views[name] = self.params[offset:end].reshape(value.shape)
                grad_views[name] = self.grads[offset:end].reshape(value.shape)
                offset = end
            layer.bind(param_views, grad_views)

    def __setstate__(self, state: dict[str, Any]) -> None:
        """After unpickling or deep-copying, the layers' arrays are views into ``params`` again.

        Pickle stores a view as a separate copy, which would leave the optimizer updating a flat
        buffer the layers no longer read.
        """
        self.__dict__.update(state)
        if self.built:
            # Own, writeable buffers: an unpickler may hand back read-only (memory-mapped) arrays.
            self.params, self.grads = self.params.copy(), self.grads.copy()
            self._bind_layers()

    def _check_X(self, X: Any, name: str = "X") -> np.ndarray:
        X = check.check_array(X, name, ndim=2, dtype=self.dtype)
        expected = self.input_dim if self.built else self.layers[0].input_dim
        if expected is not None and X.shape[1] != expected:
            raise ValueError(f"{name} must have {expected} features (columns), got {X.shape[1]}")
        return X

    # -- the low-level API --------------------------------------------------------------------
    def forward(self, X: np.ndarray, training: bool = False) -> np.ndarray:
        """Run every layer's ``forward``; ``training=True`` enables dropout and batch statistics.

        In training mode the result may live in a work buffer that the next training-mode call
        with the same batch size overwrites: copy it to keep it.
        """
        X = np.asarray(X, dtype=self.dtype)
        # Shapes only (cheap, once per batch); fit and predict check values at their boundary.
        if X.ndim != 2 or (self.built and X.shape[1] != self.input_dim):
            expected = f"(batch, {self.input_dim})" if self.built else "(batch, features)"
            raise ValueError(f"X must have shape {expected}, got {X.shape}")
        if not self.built:
            self.build(X.shape[1])
        for layer in self.layers:
            X = layer.forward(X, training)
        self._output_shape = X.shape
        return X

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """Backpropagate ``dL/d(output)``; fills ``grads`` and returns ``dL/dX``."""
        grad = np.asarray(grad_output, dtype=self.dtype)
        expected = getattr(self, "_output_shape", None)
        if grad.shape != expected:
            if expected is None:
                raise ValueError("backward needs a forward pass first: call forward(X) before it")
            raise ValueError(
                f"grad_output must have the shape of the last forward output {expected}, "
                f"got {grad.shape}"
            )
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
        return grad

    def _uses_fused_head(self, loss: Loss) -> bool:
        """True when the last layer's activation is the one ``loss`` can fuse (softmax + CCE)."""
        activation = getattr(self.layers[-1], "activation", None)
        return (
            loss.fused_activation is not None
            and not loss.from_logits
            and activation is not None
            and activation.name == loss.fused_activation
        )

    def _loss_and_gradients(
        self,
        X: np.ndarray,
        y: np.ndarray,
        loss: Loss,
        sample_weight=None,
        training=True,
        input_grad=True,
    ) -> tuple[float, np.ndarray, np.ndarray | None]:
        """Forward, loss and backward for one batch; returns ``(loss, outputs, dL/dX)``.

        ``input_grad=False`` (the fit loop) lets a first ``Dense`` layer skip ``dL/dX``, a third
        of its matrix products; ``dL/dX`` is then ``None``.
        """
        outputs = self.forward(X, training)
        fused = self._uses_fused_head(loss)
        if fused:
            # Stable and exact: dL/dz = (p - y) / N from the logits, skipping softmax's Jacobian.
            logits = self.layers[-1].pre_activation
            value, grad = loss.on_logits().value_and_grad(logits, y, sample_weight)
        else:
            value, grad = loss.value_and_grad(outputs, y, sample_weight)
        last = len(self.layers) - 1
        for index in range(last, -1, -1):
            layer = self.layers[index]
            backward = layer.backward_pre_activation if fused and index == last else layer.backward
            if index == 0 and not input_grad and isinstance(layer, Dense):
                grad = backward(grad, input_grad=False)
            else:
                grad = backward(grad)
        for layer in self._regularized:
            value += layer.regularization_penalty()
            layer.add_regularization_gradients()
        return value, outputs, grad

    def get_flat_weights(self) -> np.ndarray:
        """A copy of all trainable parameters as one 1-D array."""
        return self.params.copy()

    def set_flat_weights(self, flat: np.ndarray) -> None:
        """Overwrite all trainable parameters from one 1-D array."""
        flat = np.asarray(flat)
        if flat.shape != self.params.shape:
            raise ValueError(f"flat must have shape {self.params.shape}, got {flat.shape}")
        self.params[...] = flat

    # -- training -----------------------------------------------------------------------------
    def fit(
        self,
        X: Any,
        y: Any,
        loss: str | Loss = "mse",
        optimizer: str | Optimizer = "adam",
        epochs: int = 1,
        batch_size: int = 32,
        shuffle: bool = True,
        validation_data: tuple[Any, Any] | None = None,
        validation_split: float = 0.0,
        metrics: Sequence[str] = (),
        callbacks: Sequence[Callback] = (),
        verbose: int = 1,
        sample_weight: Any = None,
        resume_from: str | os.PathLike | None = None,
    ) -> History:
        """Train on ``X`` ``(N, features)`` and ``y`` with mini-batch gradient descent.

        Returns a :class:`~scratchnn.callbacks.History` of per-epoch ``loss``, metrics and their
        ``val_`` counterparts. Everything is checked before any state changes. Training stops at
        once, with a :class:`DivergenceWarning`, if the loss becomes NaN or infinite; the model
        gets back the weights it had before the update that diverged (the optimizer's moments and
        the batch-norm statistics keep that update).

        ``resume_from`` names a checkpoint written by :class:`~scratchnn.ModelCheckpoint`:
        weights, batch-norm statistics, optimizer state, history and random-generator state are
        restored from it and training continues at the epoch after it, up to ``epochs`` in all,
        ending bit-identical to an uninterrupted run. ``loss``, ``optimizer``, ``metrics``,
        ``batch_size``, ``shuffle`` and the validation data must be those of the interrupted run
        (checked); callbacks (``EarlyStopping``) start afresh.
        """
        from .training import prepare_fit, run_fit

        plan = prepare_fit(
            self, X, y, loss, optimizer, epochs, batch_size, shuffle, validation_data,
            validation_split, metrics, callbacks, verbose, sample_weight, resume_from,
        )  # fmt: skip
        return run_fit(self, plan)

    # -- inference ----------------------------------------------------------------------------
    def predict(self, X: Any, batch_size: int = 8192) -> np.ndarray:
        """Outputs of the network for ``X`` ``(N, features)``: ``(N, outputs)``, inference mode."""
        X = self._check_X(X)
        batch_size = check.check_positive_int(batch_size, "batch_size")
        if not self.built:
            self.build(X.shape[1])
        if len(X) <= batch_size:
            return self.forward(X, training=False).copy()
        out = np.empty((len(X), self.output_dim), dtype=self.dtype)
        for start in range(0, len(X), batch_size):
            out[start : start + batch_size] = self.forward(X[start : start + batch_size])
        return out

    def evaluate(
        self,
        X: Any,
        y: Any,
        loss: str | Loss | None = None,
        metrics: Sequence[str] | None = None,
        batch_size: int = 8192,
    ) -> dict[str, float]:
        """Loss and metrics on ``(X, y)`` in inference mode (defaults: those of the last fit)."""
        from .training import evaluate_loss_and_metrics, resolve_metrics

        loss = self.loss if loss is None else get_loss(loss)
        if loss is None:
            raise ValueError("loss must be given: this model has not been fitted yet")
        names = self.metric_names if metrics is None else metrics
        metric_fns = resolve_metrics(names)
        batch_size = check.check_positive_int(batch_size, "batch_size")
        X = self._check_X(X)
        y = check.check_array(y, "y", ndim=(1, 2))
        check.check_same_length(X, y)
        if not self.built:
            self.build(X.shape[1])
        y = loss.prepare_targets(y, self.output_dim, self.dtype)
        return evaluate_loss_and_metrics(self, X, y, loss, metric_fns, batch_size)

    # -- description --------------------------------------------------------------------------
    def summary(self, print_fn: Any = print) -> str:
        """Print (with ``print_fn``) and return a table of layers, output shapes and parameters."""
        rows = [("Layer", "Output shape", "Params")]
        dim = self.input_dim if self.built else self.layers[0].input_dim
        for index, layer in enumerate(self.layers):
            if dim is not None:
                dim = layer.output_dim(dim)
            shape = f"(None, {dim if dim is not None else '?'})"
            count = str(layer.n_params) if layer.built else "?"
            rows.append((f"{index}: {layer!r}", shape, count))
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        rule = "-" * (sum(widths) + 4)
        lines = [rule]
        for i, row in enumerate(rows):
            lines.append(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}")
            if i == 0:
                lines.append(rule)
        lines.append(rule)
        total = self.params.size if self.built else "? (not built yet)"
        lines.append(f"Total params: {total}")
        text = "\n".join(lines)
        if print_fn is not None:
            print_fn(text)
        return text

    def get_config(self) -> dict[str, Any]:
        """The architecture as JSON-friendly values (layers, seed, dtype)."""
        return {
            "layers": [
                {"class_name": type(layer).__name__, "config": layer.get_config()}
                for layer in self.layers
            ],
            "seed": self.seed,
            "dtype": np.dtype(self.dtype).name,
            "input_dim": self.input_dim if self.built else None,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], dtype: str | None = None) -> Sequential:
        """Rebuild an (untrained) model from :meth:`get_config`'s output."""
        layers = [
            get_layer_class(spec["class_name"]).from_config(spec["config"])
            for spec in config["layers"]
        ]
        model = cls(layers, seed=config.get("seed"), dtype=dtype or config.get("dtype", "float32"))
        if not model.built and config.get("input_dim"):
            model.build(config["input_dim"])
        return model

    def save(self, path: str | os.PathLike) -> None:
        """Save architecture, weights, batch-norm statistics and rng state to ``path``.

        The write is atomic; read it back with :func:`scratchnn.load`. The format is in
        ``docs/model-format.md``.
        """
        from .io import save

        save(self, path)

    def copy(self, dtype: str | None = None) -> Sequential:
        """An independent copy with the same weights and state, optionally in another dtype."""
        if not self.built:
            raise ValueError("copy needs a built model: fit it or call build(input_dim) first")
        # Deep copies of the layer objects, not a config round trip: a user's own layer without a
        # JSON config can be copied (and so gradient-checked) too. Building gives fresh buffers.
        layers = [copy.deepcopy(layer) for layer in self.layers]
        clone = Sequential(layers, seed=self.seed, dtype=dtype or np.dtype(self.dtype).name)
        if not clone.built:
            clone.build(self.input_dim)
        clone.params[...] = self.params
        for source, target in zip(self.layers, clone.layers, strict=True):
            for key, value in source.state.items():
                target.state[key][...] = value
        clone.rng.bit_generator.state = self.rng.bit_generator.state
        return clone

    def __repr__(self) -> str:
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"Sequential([{inner}], seed={self.seed}, dtype={np.dtype(self.dtype).name!r})"
