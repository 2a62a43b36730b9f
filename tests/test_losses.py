"""Loss values against closed forms; the fused heads against the plain formulas."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from scratchnn import Dense, Sequential, Softmax
from scratchnn.losses import (
    BinaryCrossEntropy,
    CategoricalCrossEntropy,
    Huber,
    MeanAbsoluteError,
    MeanSquaredError,
    get_loss,
)
from scratchnn.training import TrainingStep

PRED = np.array([[0.2, -1.0], [1.5, 0.3], [0.0, 2.0]])
TRUE = np.array([[0.0, -0.5], [1.0, 1.0], [0.5, 1.0]])


def test_mse_mae_huber_match_hand_computation():
    r = (PRED - TRUE).ravel()
    assert MeanSquaredError()(PRED, TRUE) == pytest.approx(sum(v * v for v in r) / 6)
    assert MeanAbsoluteError()(PRED, TRUE) == pytest.approx(sum(abs(v) for v in r) / 6)
    huber = [0.5 * v * v if abs(v) <= 0.6 else 0.6 * (abs(v) - 0.3) for v in r]
    assert Huber(delta=0.6)(PRED, TRUE) == pytest.approx(sum(huber) / 6)


def test_binary_cross_entropy_from_logits_equals_the_probability_form():
    y = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    p = 1 / (1 + np.exp(-PRED))
    expected = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert BinaryCrossEntropy(from_logits=True)(PRED, y) == pytest.approx(expected)
    assert BinaryCrossEntropy()(p, y) == pytest.approx(expected)


def test_categorical_cross_entropy_integer_and_one_hot_labels_agree():
    labels = np.array([1, 0, 1])
    one_hot = np.eye(2)[labels]
    expected = -np.mean(
        [z[c] - math.log(sum(math.exp(v) for v in z)) for z, c in zip(PRED, labels, strict=True)]
    )
    loss = CategoricalCrossEntropy(from_logits=True)
    assert loss(PRED, labels) == pytest.approx(expected)
    assert loss(PRED, one_hot) == pytest.approx(expected)
    _, grad_labels = loss.value_and_grad(PRED, labels)
    _, grad_one_hot = loss.value_and_grad(PRED, one_hot)
    np.testing.assert_allclose(grad_labels, grad_one_hot)


def test_fused_softmax_gradient_is_p_minus_y_over_n():
    logits = np.array([[2.0, -1.0, 0.5], [0.1, 0.2, 0.3]])
    labels = np.array([0, 2])
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    _, grad = CategoricalCrossEntropy(from_logits=True).value_and_grad(logits, labels)
    np.testing.assert_allclose(grad, (p - np.eye(3)[labels]) / 2)


@pytest.mark.parametrize("split_softmax", [False, True])
def test_softmax_model_with_huge_logits_stays_finite(split_softmax):
    head = [Dense(3), Softmax()] if split_softmax else [Dense(3, "softmax")]
    model = Sequential([Dense(4, input_dim=2), *head], seed=0, input_gradient=True)
    model.params[...] *= 1e4  # logits of order 1e8: probabilities of exactly 0 and 1
    X = np.array([[1.0, -1.0], [3.0, 2.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        step = TrainingStep(model, get_loss("categorical_crossentropy"))
        value, _, _, grad_input = step.loss_and_gradients(X.astype(np.float32), np.array([0, 1]))
    assert math.isfinite(value) and np.all(np.isfinite(grad_input))
    assert np.all(np.isfinite(model.grads))


def test_fused_and_unfused_heads_give_the_same_gradients():
    rng = np.random.default_rng(0)
    X, labels = rng.normal(size=(5, 3)), rng.integers(0, 4, size=5)
    fused = Sequential(
        [Dense(6, "tanh", input_dim=3), Dense(4, "softmax")], seed=1, dtype="float64"
    )
    logits_model = Sequential([Dense(6, "tanh", input_dim=3), Dense(4)], seed=1, dtype="float64")
    TrainingStep(fused, get_loss("categorical_crossentropy")).loss_and_gradients(X, labels)
    logits_loss = CategoricalCrossEntropy(from_logits=True)
    TrainingStep(logits_model, logits_loss).loss_and_gradients(X, labels)
    np.testing.assert_allclose(fused.grads, logits_model.grads, rtol=1e-12)


def test_sample_weights_scale_each_sample():
    weights = np.array([1.0, 0.0, 2.0])
    per_sample = np.mean((PRED - TRUE) ** 2, axis=1)
    value = MeanSquaredError()(PRED, TRUE, weights)
    assert value == pytest.approx(np.mean(per_sample * weights))


def test_targets_are_checked_against_the_loss():
    with pytest.raises(ValueError, match=r"class labels in \[0, 2\].*got labels from 0 to 3"):
        CategoricalCrossEntropy().prepare_targets(np.array([0, 3]), 3, np.float32)
    with pytest.raises(ValueError, match="one-hot rows must have width 3"):
        CategoricalCrossEntropy().prepare_targets(np.eye(4), 3, np.float32)
    with pytest.raises(ValueError, match=r"targets in \[0, 1\]"):
        BinaryCrossEntropy().prepare_targets(np.array([0.0, 2.0]), 1, np.float32)
    with pytest.raises(ValueError, match="non-integer"):
        CategoricalCrossEntropy().prepare_targets(np.array([0.5, 1.0]), 3, np.float32)


def test_unknown_loss_suggests_a_name():
    with pytest.raises(ValueError, match="did you mean 'mse'"):
        get_loss("mes")
