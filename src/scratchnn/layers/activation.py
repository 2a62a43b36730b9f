"""Old home of the activation layers, kept so that old imports keep working.

They now live in :mod:`scratchnn.layers.activation_layers` (the math is in
:mod:`scratchnn.activations`).
"""

from .activation_layers import (
    ELU,
    GELU,
    ActivationLayer,
    LeakyReLU,
    Linear,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)

__all__ = [
    "ELU",
    "GELU",
    "ActivationLayer",
    "LeakyReLU",
    "Linear",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Tanh",
]
