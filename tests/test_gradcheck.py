"""Every hand-written gradient against central finite differences (float64)."""

from __future__ import annotations

import numpy as np
import pytest

from scratchnn import Sequential, gradcheck
from scratchnn.activations import ACTIVATIONS
from scratchnn.layers import (
    ELU,
    GELU,
    ActivationLayer,
    BatchNorm,
    Dense,
    Dropout,
    LeakyReLU,
    Linear,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)
from scratchnn.losses import LOSSES, get_loss
from scratchnn.regularizers import L1L2
from scratchnn.training import fuses_head

TOLERANCE = 1e-6


def regression_data(rng, n=6, features=4, outputs=3):
    return rng.normal(size=(n, features)), rng.normal(size=(n, outputs))


def labels_for(loss_name, rng, n, outputs):
    loss = get_loss(loss_name)
    if loss.name == "categorical_crossentropy":
        return rng.integers(0, outputs, size=n)
    if loss.name == "binary_crossentropy":
        return rng.uniform(0.05, 0.95, size=(n, outputs))
    return rng.normal(size=(n, outputs))


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_dense_with_each_activation_matches_finite_differences(activation, rng):
    X, y = regression_data(rng)
    model = Sequential([Dense(5, activation=activation), Dense(3)], seed=0)
    report = gradcheck(model, X, y, loss="mse")
    assert report.worst < TOLERANCE, report.errors
    assert set(report.errors) == {"layers[0].W", "layers[0].b", "layers[1].W", "layers[1].b", "X"}


@pytest.mark.parametrize(
    "layer",
    [Linear(), Sigmoid(), Tanh(), ReLU(), LeakyReLU(0.1), ELU(0.7), GELU(), Softplus(), Softmax()],
    ids=repr,
)
def test_activation_layer_matches_finite_differences(layer, rng):
    X, y = regression_data(rng)
    model = Sequential([Dense(5), layer, Dense(3)], seed=0)
    assert gradcheck(model, X, y, loss="mse").worst < TOLERANCE


def probability_head(loss_name):
    """An output in the loss's domain; the trailing Linear() keeps the loss's own gradient
    (not the fused one) in use, so the loss formula itself is checked."""
    name = get_loss(loss_name).name
    if name == "binary_crossentropy":
        return [Dense(3, "sigmoid"), Linear()]
    if name == "categorical_crossentropy":
        return [Dense(3, "softmax"), Linear()]
    return [Dense(3)]


@pytest.mark.parametrize("loss_name", sorted(LOSSES))
def test_each_loss_gradient_matches_finite_differences(loss_name, rng):
    X = rng.normal(size=(6, 4))
    y = labels_for(loss_name, rng, 6, 3)
    model = Sequential([Dense(5, "tanh"), *probability_head(loss_name)], seed=0)
    assert not fuses_head(model, get_loss(loss_name))
    assert gradcheck(model, X, y, loss=loss_name).worst < TOLERANCE


@pytest.mark.parametrize("loss_name", ["binary_crossentropy", "categorical_crossentropy"])
def test_cross_entropy_from_logits_matches_finite_differences(loss_name, rng):
    X = rng.normal(size=(6, 4))
    y = labels_for(loss_name, rng, 6, 3)
    loss = get_loss({"name": loss_name, "from_logits": True})
    model = Sequential([Dense(5, "tanh"), Dense(3)], seed=0)
    assert gradcheck(model, X, y, loss=loss).worst < TOLERANCE


@pytest.mark.parametrize(
    ("head", "loss_name"),
    [
        (lambda: [Dense(3, "softmax")], "categorical_crossentropy"),
        (lambda: [Dense(3), Softmax()], "categorical_crossentropy"),
        (lambda: [Dense(3, "sigmoid")], "binary_crossentropy"),
        (lambda: [Dense(3), Sigmoid()], "binary_crossentropy"),
    ],
)
def test_fused_heads_match_finite_differences(head, loss_name, rng):
    X = rng.normal(size=(6, 4))
    y = labels_for(loss_name, rng, 6, 3)
    model = Sequential([Dense(5, "relu"), *head()], seed=0)
    assert fuses_head(model, get_loss(loss_name))
    assert gradcheck(model, X, y, loss=loss_name).worst < TOLERANCE


def test_one_hot_and_integer_labels_give_the_same_checked_gradient(rng):
    X = rng.normal(size=(6, 4))
    labels = rng.integers(0, 3, size=6)
    model = Sequential([Dense(5, "tanh"), Dense(3, "softmax")], seed=0)
    assert gradcheck(model, X, labels, "categorical_crossentropy").worst < TOLERANCE
    assert gradcheck(model, X, np.eye(3)[labels], "categorical_crossentropy").worst < TOLERANCE


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_batchnorm_matches_finite_differences(momentum, rng):
    X, y = regression_data(rng)
    model = Sequential([Dense(5), BatchNorm(momentum=momentum), ReLU(), Dense(3)], seed=0)
    model.fit(X, y, epochs=3, batch_size=3, verbose=0)
    assert gradcheck(model, X, y, loss="mse").worst < TOLERANCE


def test_gradcheck_refuses_the_inference_pass(rng):
    X, y = regression_data(rng)
    model = Sequential([Dense(3)], seed=0)
    with pytest.raises(ValueError, match="training must be True: gradients are those of the"):
        gradcheck(model, X, y, training=False)


def test_dropout_in_training_matches_finite_differences_with_a_fixed_mask(rng):
    X, y = regression_data(rng)
    model = Sequential([Dense(8, "tanh"), Dropout(0.4), Dense(3)], seed=0)
    assert gradcheck(model, X, y, loss="mse", training=True).worst < TOLERANCE


def test_regularized_dense_matches_finite_differences(rng):
    X, y = regression_data(rng)
    model = Sequential(
        [Dense(5, "elu", kernel_regularizer=L1L2(0.01, 0.02), bias_regularizer="l2"), Dense(3)],
        seed=0,
    )
    assert gradcheck(model, X, y, loss="huber").worst < TOLERANCE


def test_deep_stack_of_every_layer_kind_matches_finite_differences(rng):
    X = rng.normal(size=(8, 4))
    y = rng.integers(0, 4, size=8)
    model = Sequential(
        [
            Dense(6, "gelu"),
            BatchNorm(),
            Dense(6),
            LeakyReLU(0.2),
            Dropout(0.3),
            Dense(5, "softplus"),
            ActivationLayer("tanh"),
            Dense(4, "softmax", use_bias=False),
        ],
        seed=3,
    )
    report = gradcheck(model, X, y, "categorical_crossentropy", training=True)
    assert report.worst < TOLERANCE, report.errors


def test_gradcheck_catches_a_wrong_backward(rng):
    class _WrongTanh(Tanh):  # private name: kept out of the layer registry
        def backward(self, grad_output):
            return grad_output  # forgets the factor 1 - a^2

    X, y = regression_data(rng)
    model = Sequential([Dense(5), _WrongTanh(), Dense(3)], seed=0)
    report = gradcheck(model, X, y, loss="mse")
    assert report.worst > 1e-2
    assert report.worst_name in {"layers[0].W", "layers[0].b", "X"}


def test_gradcheck_leaves_the_model_unchanged(rng):
    X, y = regression_data(rng)
    model = Sequential([Dense(5, "tanh"), Dense(3)], seed=0, dtype="float32")
    model.build(4)
    before = model.params.copy()
    gradcheck(model, X, y)
    np.testing.assert_array_equal(model.params, before)
    assert model.params.dtype == np.float32


def test_gradcheck_rejects_a_non_model():
    with pytest.raises(TypeError, match="model must be a Sequential"):
        gradcheck("not a model", np.ones((2, 2)), np.ones(2))


@pytest.mark.parametrize("from_logits", [False, True])
def test_soft_targets_whose_rows_do_not_sum_to_one_match_finite_differences(from_logits, rng):
    X = rng.normal(size=(6, 4))
    y = rng.uniform(0, 1, size=(6, 3))
    y[2] = 0.0  # an all-zero row: that sample contributes nothing
    head = Dense(3) if from_logits else Dense(3, "softmax")
    model = Sequential([Dense(5, "tanh"), head], seed=0)
    loss = get_loss({"name": "categorical_crossentropy", "from_logits": from_logits})
    assert gradcheck(model, X, y, loss=loss).worst < TOLERANCE
