"""Layers: each one class with ``forward`` and, right below it, ``backward``."""

from .activation import (
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
from .base import LAYERS, Layer, get_layer_class
from .dense import Dense
from .regularization import BatchNorm, Dropout

__all__ = [
    "ELU",
    "GELU",
    "LAYERS",
    "ActivationLayer",
    "BatchNorm",
    "Dense",
    "Dropout",
    "Layer",
    "LeakyReLU",
    "Linear",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Tanh",
    "get_layer_class",
]
