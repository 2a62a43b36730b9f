"""Convolution and pooling against PyTorch's, an independent implementation (bench extra).

PyTorch is channels-first: ``x_torch = x.transpose(0, 3, 1, 2)`` and its ``weight`` is our
``W.transpose(3, 2, 0, 1)``. Keras's "same" padding can put one more pixel at the bottom and
right, which PyTorch's symmetric ``padding=`` cannot express, so the input is padded with
``F.pad`` first and convolved with ``padding=0``.
"""

from __future__ import annotations

import numpy as np
import pytest

from scratchnn.layers import AvgPool2D, Conv2D, MaxPool2D

torch = pytest.importorskip("torch")
F = torch.nn.functional


def to_torch(array: np.ndarray, grad: bool = True):
    return torch.tensor(array.transpose(0, 3, 1, 2).copy(), dtype=torch.float64, requires_grad=grad)


def from_torch(tensor) -> np.ndarray:
    return tensor.detach().numpy().transpose(0, 2, 3, 1)


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


@pytest.mark.parametrize(
    "kernel,strides,padding,input_shape,filters",
    [
        (3, 1, "valid", (9, 8, 3), 4),
        (3, 1, "same", (8, 8, 1), 8),
        (3, 2, "same", (8, 9, 2), 5),
        (4, 2, "same", (9, 9, 3), 2),
        (5, 1, "same", (7, 7, 2), 3),
        (1, 1, "valid", (5, 5, 6), 4),
        ((2, 3), (2, 1), "valid", (9, 8, 2), 3),
    ],
)
def test_conv2d_matches_torch_forward_and_gradients(kernel, strides, padding, input_shape, filters):
    rng = np.random.default_rng(0)
    layer = Conv2D(filters, kernel, strides, padding)
    layer.build(input_shape, rng, np.float64)
    layer.params["b"][...] = rng.normal(size=filters)
    x = rng.normal(size=(4, *input_shape))
    y = layer.forward(x, training=True)
    upstream = rng.normal(size=y.shape)
    grad_x = layer.backward(upstream)

    x_t = to_torch(x)
    weight = torch.tensor(
        layer.params["W"].transpose(3, 2, 0, 1).copy(), dtype=torch.float64, requires_grad=True
    )
    bias = torch.tensor(layer.params["b"].copy(), requires_grad=True)
    padded = x_t
    if padding == "same":
        top, bottom = same_padding(input_shape[0], layer.kernel_size[0], layer.strides[0])
        left, right = same_padding(input_shape[1], layer.kernel_size[1], layer.strides[1])
        padded = F.pad(x_t, (left, right, top, bottom))
    y_t = F.conv2d(padded, weight, bias, stride=layer.strides)
    (y_t * to_torch(upstream, grad=False)).sum().backward()

    np.testing.assert_allclose(y, from_torch(y_t), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad_x, from_torch(x_t.grad), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        layer.grads["W"], weight.grad.numpy().transpose(2, 3, 1, 0), rtol=1e-10, atol=1e-12
    )
    np.testing.assert_allclose(layer.grads["b"], bias.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("pool_size,strides", [(2, None), (3, 2), (2, 1), ((2, 3), (2, 3))])
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling_matches_torch_forward_and_gradients(kind, pool_size, strides):
    rng = np.random.default_rng(1)
    layer = (MaxPool2D if kind == "max" else AvgPool2D)(pool_size, strides)
    layer.build((9, 8, 3), rng, np.float64)
    x = rng.normal(size=(2, 9, 8, 3))
    y = layer.forward(x, training=True)
    upstream = rng.normal(size=y.shape)
    grad_x = layer.backward(upstream)

    x_t = to_torch(x)
    pool = F.max_pool2d if kind == "max" else F.avg_pool2d
    y_t = pool(x_t, layer.pool_size, layer.strides)
    (y_t * to_torch(upstream, grad=False)).sum().backward()
    np.testing.assert_allclose(y, from_torch(y_t), rtol=1e-12)
    np.testing.assert_allclose(grad_x, from_torch(x_t.grad), rtol=1e-12, atol=1e-14)


def test_max_pooling_ties_route_like_torch():
    """All-zero windows (as after a ReLU): PyTorch also picks the first pixel in row-major order."""
    x = np.zeros((1, 4, 4, 2))
    x[0, 2:, 2:, 0] = 1.0  # one window holds a tie of four ones
    layer = MaxPool2D(2)
    y = layer.forward(x, training=True)
    grad_x = layer.backward(np.ones_like(y))
    x_t = to_torch(x)
    F.max_pool2d(x_t, 2).sum().backward()
    np.testing.assert_array_equal(grad_x, from_torch(x_t.grad))
