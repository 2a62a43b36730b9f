"""Activation functions against their closed forms, and stability at large inputs."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from scratchnn.activations import ACTIVATIONS, get_activation, log_softmax, softmax

Z = np.array([[-3.0, -0.5, 0.0, 0.7, 2.5]])


def scalar_reference(name: str, z: float) -> float:
    """Each activation written with Python's math module: an independent oracle."""
    return {
        "linear": z,
        "sigmoid": 1.0 / (1.0 + math.exp(-z)),
        "tanh": math.tanh(z),
        "relu": max(z, 0.0),
        "leaky_relu": z if z > 0 else 0.01 * z,
        "elu": z if z > 0 else math.exp(z) - 1.0,
        "gelu": 0.5 * z * (1 + math.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z**3))),
        "softplus": math.log1p(math.exp(z)),
    }[name]


@pytest.mark.parametrize("name", sorted(set(ACTIVATIONS) - {"softmax"}))
def test_activation_matches_scalar_formula(name):
    expected = np.array([[scalar_reference(name, z) for z in Z[0]]])
    np.testing.assert_allclose(get_activation(name).forward(Z.copy()), expected, rtol=1e-12)


def test_softmax_matches_definition_and_rows_sum_to_one():
    z = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    expected = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(softmax(z), expected, rtol=1e-12)
    np.testing.assert_allclose(np.exp(log_softmax(z)), expected, rtol=1e-12)


def test_gelu_is_close_to_the_exact_erf_form():
    z = np.linspace(-4, 4, 41)[None, :]
    exact = np.array([[0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in z[0]]])
    np.testing.assert_allclose(get_activation("gelu").forward(z), exact, atol=1e-3)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_inputs_raise_no_warning_and_stay_finite(name, dtype):
    z = np.array([[-1e4, -50.0, 0.0, 50.0, 1e4]], dtype=dtype)
    activation = get_activation(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = activation.forward(z.copy())
        grad = activation.backward(np.ones_like(z), z, a)
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(grad))
    assert a.dtype == dtype


def test_sigmoid_saturates_to_exact_limits():
    a = get_activation("sigmoid").forward(np.array([[-1e4, 1e4]]))
    np.testing.assert_array_equal(a, [[0.0, 1.0]])


def test_unknown_activation_suggests_close_names():
    with pytest.raises(ValueError, match=r"unknown activation 'relu6'.*did you mean 'relu'"):
        get_activation("relu6")
    with pytest.raises(ValueError, match="did you mean 'sigmoid'"):
        get_activation("sigmod")
