"""Layers: each one class with ``forward`` and, right below it, ``backward``."""

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
from .attention import MultiHeadAttention
from .base import LAYERS, Layer, Weight, as_shape, constant, format_shape, get_layer_class
from .batch_norm import BatchNorm
from .bidirectional import Bidirectional
from .conv import Conv2D
from .dense import Dense
from .dropout import Dropout
from .embedding import Embedding
from .input import Input, InputLayer
from .layer_norm import LayerNormalization
from .merge import Add, Average, Concatenate, Maximum, Multiply, Subtract
from .pooling import AvgPool2D, GlobalAvgPool2D, MaxPool2D
from .position import PositionEmbedding, SinePositionEncoding
from .recurrent import GRU, LSTM, SimpleRNN
from .reshape import Flatten, Reshape

__all__ = [
    "Bidirectional",
    "Embedding",
    "GRU",
    "LSTM",
    "SimpleRNN",
    "Add",
    "Average",
    "Concatenate",
    "Input",
    "InputLayer",
    "LayerNormalization",
    "Maximum",
    "MultiHeadAttention",
    "Multiply",
    "Subtract",
    "as_shape",
    "format_shape",
    "ELU",
    "GELU",
    "LAYERS",
    "ActivationLayer",
    "AvgPool2D",
    "BatchNorm",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "GlobalAvgPool2D",
    "Layer",
    "LeakyReLU",
    "MaxPool2D",
    "Linear",
    "ReLU",
    "Reshape",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Tanh",
    "PositionEmbedding",
    "SinePositionEncoding",
    "Weight",
    "constant",
    "get_layer_class",
]
