"""The tutorial's ``NeuralNetwork``, kept API-compatible and made to learn reliably.

"Making the neural network from scratch" builds ``NeuralNetwork(input_dim, hidden_dim,
output_dim)`` with ``forward``, ``backward`` and ``train``. This class keeps those names and the
attributes ``weights1``, ``weights2`` and ``hidden_layer``, so the tutorial's listing runs with only
its class replaced by ``from scratchnn import NeuralNetwork``. What changes underneath:

* biases ``bias1`` and ``bias2`` (the tutorial has none, so its hidden units can only draw lines
  through the origin);
* an explicit learning rate instead of the tutorial's implicit 1;
* binary cross-entropy on the sigmoid output, whose fused gradient ``(output - y) / N`` does not
  vanish when a sigmoid saturates (the tutorial's squared error multiplies by
  ``output (1 - output)``, which does);
* small uniform initial weights (Glorot's range times 0.3) instead of unit-variance normals,
  which start the sigmoids in their steep, linear middle; and a numerically stable sigmoid.

It is a thin front over :class:`~scratchnn.Sequential` with two sigmoid ``Dense`` layers.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from . import _validation as check
from . import io
from .archive import ModelFileError
from .initializers import VarianceScaling
from .layers import Dense
from .losses import BinaryCrossEntropy
from .model import Sequential
from .optimizers import SGD, Optimizer, get_optimizer
from .training import TrainingStep

# Cross-entropy on the sigmoid output: the training step fuses it into dL/dz2 = (output - y) / N,
# the gradient that does not vanish when the output saturates.
_LOSS = BinaryCrossEntropy()


def _gradient_step(step: TrainingStep, X: np.ndarray, y: np.ndarray) -> None:
    """One full-batch step: forward, the fused cross-entropy gradient, backward, update."""
    step.loss_and_gradients(X, y)
    step.optimizer.step(step.network.params, step.network.grads)


def _cross_entropy(model: Sequential, X: np.ndarray, y: np.ndarray) -> float:
    """Mean binary cross-entropy of ``model`` on ``(X, y)``, computed from the logits."""
    return BinaryCrossEntropy(from_logits=True)(model.logits(X), y)


class NeuralNetwork:
    """One hidden sigmoid layer: ``hidden = s(X W1 + b1)``, ``output = s(hidden W2 + b2)``.

    Shapes: ``X: (N, input_dim)``, ``weights1: (input_dim, hidden_dim)``,
    ``weights2: (hidden_dim, output_dim)``, ``output: (N, output_dim)``.

    Parameters
    ----------
    input_dim, hidden_dim, output_dim : int
        Layer widths, as in the tutorial.
    learning_rate : float
        Step size of plain gradient descent (the tutorial's is an implicit 1).
    optimizer : str or Optimizer, optional
        Another optimizer instead of SGD with ``learning_rate``.
    seed : int, optional
        Seed of the initialisation; ``None`` draws a fresh one each time.
    dtype : {"float64", "float32"}
        Float64 by default, like the tutorial's NumPy arrays.

    Examples
    --------
    >>> import numpy as np
    >>> from scratchnn import NeuralNetwork
    >>> X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    >>> y = np.array([[0], [1], [1], [0]])
    >>> nn = NeuralNetwork(input_dim=2, hidden_dim=3, output_dim=1, seed=0)
    >>> nn.train(X, y, epochs=10000)
    >>> (nn.forward(X) > 0.5).astype(int).ravel()
    array([0, 1, 1, 0])
    """

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int,
        output_dim: int,
        learning_rate: float = 3.0,
        optimizer: str | Optimizer | None = None,
        seed: int | None = None,
        dtype: str = "float64",
    ) -> None:
        self.input_dim = check.check_positive_int(input_dim, "input_dim")
        self.hidden_dim = check.check_positive_int(hidden_dim, "hidden_dim")
        self.output_dim = check.check_positive_int(output_dim, "output_dim")
        self.learning_rate = check.check_positive_number(learning_rate, "learning_rate")
        self.optimizer = SGD(self.learning_rate) if optimizer is None else get_optimizer(optimizer)
        # Glorot uniform at 0.3 times its range: measured best for XOR (docs/tutorial.md).
        init = VarianceScaling(scale=0.09, mode="fan_avg", distribution="uniform")
        self.model = Sequential(
            [
                Dense(
                    self.hidden_dim, "sigmoid", input_dim=self.input_dim, kernel_initializer=init
                ),
                Dense(self.output_dim, "sigmoid", kernel_initializer=init),
            ],
            seed=seed,
            dtype=dtype,
        )
        self.hidden_layer: np.ndarray | None = None

    # The tutorial's attribute names, as views of the model's parameters (assignable in place).
    @property
    def weights1(self) -> np.ndarray:
        return self.model.layers[0].params["W"]

    @weights1.setter
    def weights1(self, value: Any) -> None:
        self.model.layers[0].params["W"][...] = value

    @property
    def weights2(self) -> np.ndarray:
        return self.model.layers[1].params["W"]

    @weights2.setter
    def weights2(self, value: Any) -> None:
        self.model.layers[1].params["W"][...] = value

    @property
    def bias1(self) -> np.ndarray:
        return self.model.layers[0].params["b"]

    @property
    def bias2(self) -> np.ndarray:
        return self.model.layers[1].params["b"]

    def _check_X(self, X: Any) -> np.ndarray:
        return self.model.check_inputs(X)

    def _check_y(self, y: Any, n: int) -> np.ndarray:
        y = check.check_array(y, "y", ndim=(1, 2), dtype=self.model.dtype)
        if y.ndim == 1:
            y = y.reshape(-1, 1)
        if y.shape != (n, self.output_dim):
            raise ValueError(f"y must have shape ({n}, {self.output_dim}), got {y.shape}")
        if np.any((y < 0) | (y > 1)):
            raise ValueError("y must hold targets in [0, 1] for sigmoid outputs")
        return y

    def forward(self, X: Any) -> np.ndarray:
        """Outputs for ``X`` ``(N, input_dim)``; also sets ``hidden_layer`` ``(N, hidden_dim)``."""
        X = self._check_X(X).astype(self.model.dtype, copy=False)
        hidden, output = self.model.layers
        self.hidden_layer = hidden.forward(X)
        return output.forward(self.hidden_layer)

    def backward(self, X: Any, y: Any, output: np.ndarray) -> None:
        """One gradient-descent step on ``(X, y)``, as the tutorial's ``backward`` does.

        As in the tutorial, this both computes the gradients and updates the weights.
        ``dL/dz2 = (output - y) / N`` (cross-entropy through the sigmoid), then the chain rule
        back to ``W1, b1``; the optimizer applies the step. The step runs its own forward pass,
        so ``output`` is accepted for the tutorial's signature and not needed.
        """
        X = self._check_X(X)
        y = self._check_y(y, len(X))
        _gradient_step(TrainingStep(self.model, _LOSS, self.optimizer), X, y)

    def train(self, X: Any, y: Any, epochs: int) -> None:
        """Full-batch training: ``epochs`` rounds of ``forward`` then ``backward``.

        A second network, a *twin* drawn from the same generator, trains beside this one, and
        whichever ends with the lower cross-entropy on ``(X, y)`` is kept. A 2-3-1 sigmoid network
        stalls at the all-0.5 saddle or settles in a bad minimum from about 5 in 10,000 random
        starts (docs/tutorial.md); with a twin both must fail, about 1 in 4 million.
        """
        X = self._check_X(X)
        y = self._check_y(y, len(X))
        epochs = check.check_positive_int(epochs, "epochs")
        X = X.astype(self.model.dtype, copy=False)
        twin = self.model.copy()
        twin.build(self.input_dim)  # fresh weights from the same seeded generator
        twin_optimizer = get_optimizer(self.optimizer.get_config())
        steps = (
            TrainingStep(self.model, _LOSS, self.optimizer),
            TrainingStep(twin, _LOSS, twin_optimizer),
        )
        for _ in range(epochs):  # the checks above hold for every epoch: skip them inside
            for step in steps:
                _gradient_step(step, X, y)
        if _cross_entropy(twin, X, y) < _cross_entropy(self.model, X, y):
            self.model.params[...] = twin.params
            self.optimizer.set_state(twin_optimizer.get_state())
        self.model.rng.bit_generator.state = twin.rng.bit_generator.state
        self.forward(X)  # leave hidden_layer as after the tutorial's last step

    def predict(self, X: Any) -> np.ndarray:
        """Class predictions ``output > 0.5`` as integers."""
        return (self.forward(X) > 0.5).astype(int)

    def save(self, path: str | os.PathLike) -> None:
        """Save weights, optimizer state and rng to ``path``; read back with ``scratchnn.load``."""
        io.save(self, path)

    def file_entries(self) -> tuple[Sequential, dict[str, Any], dict[str, np.ndarray]]:
        """What a model file holds: the network, this wrapper's settings and the optimizer."""
        optimizer_header, optimizer_arrays = io.optimizer_payload(self.optimizer)
        wrapper = {
            "input_dim": self.input_dim,
            "hidden_dim": self.hidden_dim,
            "output_dim": self.output_dim,
            "learning_rate": self.learning_rate,
            "seed": self.model.seed,
            "dtype": np.dtype(self.model.dtype).name,
        }
        header = {"neural_network": wrapper, "optimizer": optimizer_header}
        return self.model, header, optimizer_arrays

    @classmethod
    def _from_file(cls, header: dict, arrays: dict, network: Any, path: str) -> NeuralNetwork:
        """Rebuild a NeuralNetwork from a checked file (see :func:`scratchnn.io.register_kind`)."""
        entry = header.get("neural_network")
        if not isinstance(entry, dict):
            raise ModelFileError(
                f"{path!r}: a NeuralNetwork file must hold a 'neural_network' object, "
                f"got {type(entry).__name__}"
            )
        if len(network.layers) != 2 or len(network.input_shape) != 1:
            raise ModelFileError(
                f"{path!r}: a NeuralNetwork file must hold two Dense layers on flat inputs"
            )
        shapes = [network.input_shape, network.layers[0].output_shape(network.input_shape)]
        shapes.append(network.output_shape)
        if any(len(shape) != 1 for shape in shapes):
            raise ModelFileError(
                f"{path!r}: a NeuralNetwork file must hold two Dense layers on flat inputs"
            )
        declared = tuple(entry.get(key) for key in ("input_dim", "hidden_dim", "output_dim"))
        if declared != tuple(shape[0] for shape in shapes):
            raise ModelFileError(
                f"{path!r}: the NeuralNetwork entry's widths {declared} do not match its layers"
            )  # checked before the constructor allocates weights of the declared widths
        try:
            wrapper = cls(**entry)
        except (ValueError, TypeError, KeyError) as error:
            raise ModelFileError(f"{path!r}: the NeuralNetwork entry is invalid: {error}") from None
        if wrapper.model.get_config() != network.get_config():
            raise ModelFileError(f"{path!r}: the NeuralNetwork entry does not match its layers")
        wrapper.model.set_state(network.get_state())
        if "optimizer" not in header:
            raise ModelFileError(f"{path!r}: a NeuralNetwork file must hold its optimizer")
        wrapper.optimizer = io.check_optimizer_arrays(header, arrays, path)
        return wrapper

    def __repr__(self) -> str:
        return (
            f"NeuralNetwork(input_dim={self.input_dim}, hidden_dim={self.hidden_dim}, "
            f"output_dim={self.output_dim}, learning_rate={self.learning_rate})"
        )


io.register_kind("NeuralNetwork", NeuralNetwork, NeuralNetwork._from_file)
