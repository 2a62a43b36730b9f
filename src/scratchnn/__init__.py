"""scratchnn: a neural-network library written from scratch on NumPy.

Every forward and backward pass is written by hand and checked against finite differences.
"""

from . import activations, callbacks, initializers, layers, losses, metrics, optimizers, schedules
from ._version import __version__
from .callbacks import Callback, EarlyStopping, History
from .checkpoint import ModelCheckpoint
from .diagnostics import Diagnostics, diagnose
from .gradcheck import GradcheckReport, gradcheck
from .io import ModelFileError, load
from .kernels import get_backend, info, set_backend
from .layers import (
    ELU,
    GELU,
    GRU,
    LSTM,
    ActivationLayer,
    Add,
    Average,
    AvgPool2D,
    BatchNorm,
    Bidirectional,
    Concatenate,
    Conv2D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GlobalAvgPool2D,
    Input,
    LayerNormalization,
    LeakyReLU,
    Masking,
    Maximum,
    MaxPool2D,
    Multiply,
    ReLU,
    Reshape,
    Sigmoid,
    SimpleRNN,
    Softmax,
    Softplus,
    Subtract,
    Tanh,
)
from .model import Model, Sequential
from .network import Network
from .optimizers import SGD, Adagrad, Adam, AdamW, RMSprop
from .training import DivergenceWarning
from .tutorial import NeuralNetwork

__all__ = [
    "__version__",
    "ELU",
    "GELU",
    "SGD",
    "ActivationLayer",
    "Add",
    "Average",
    "AvgPool2D",
    "Adagrad",
    "Adam",
    "AdamW",
    "BatchNorm",
    "Bidirectional",
    "Embedding",
    "Masking",
    "GRU",
    "LSTM",
    "SimpleRNN",
    "Concatenate",
    "Conv2D",
    "Callback",
    "Dense",
    "Diagnostics",
    "DivergenceWarning",
    "Dropout",
    "EarlyStopping",
    "Flatten",
    "GradcheckReport",
    "GlobalAvgPool2D",
    "History",
    "Input",
    "LayerNormalization",
    "LeakyReLU",
    "MaxPool2D",
    "Maximum",
    "Model",
    "Multiply",
    "ModelCheckpoint",
    "ModelFileError",
    "Network",
    "NeuralNetwork",
    "RMSprop",
    "ReLU",
    "Reshape",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Subtract",
    "Tanh",
    "activations",
    "callbacks",
    "diagnose",
    "get_backend",
    "gradcheck",
    "info",
    "initializers",
    "layers",
    "load",
    "losses",
    "metrics",
    "optimizers",
    "schedules",
    "set_backend",
]
