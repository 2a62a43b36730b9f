"""What the documentation says the library does, checked against the library.

Each test names the page and the sentence it holds to account; when a page changes what it
claims, the test beside it changes too. Numbers printed by a page's own examples are checked by
tests/test_docs.py; these are the claims in prose: defaults, shapes, what the suite checks.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import numpy as np
import pytest

from scratchnn import (
    SGD,
    Adagrad,
    Adam,
    AdamW,
    BatchNorm,
    Dense,
    Dropout,
    NeuralNetwork,
    RMSprop,
    Sequential,
    gradcheck,
)
from scratchnn.activations import Softmax
from scratchnn.losses import BinaryCrossEntropy, CategoricalCrossEntropy, Huber

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def default(function, name: str):
    return inspect.signature(function).parameters[name].default


# docs/gradcheck.md: "training=True is the default, and the only value accepted"


def test_gradcheck_defaults_to_the_training_pass_and_refuses_inference():
    assert default(gradcheck, "training") is True
    assert default(gradcheck, "eps") == 1e-6  # "with epsilon = 10^-6"
    model = Sequential([Dense(2)], seed=0)
    X, y = np.ones((3, 2)), np.ones((3, 2))
    with pytest.raises(ValueError, match="training must be True"):
        gradcheck(model, X, y, training=False)
    assert "`training=False` raises a `ValueError`" in page("gradcheck.md")
    assert "default `training=False`" not in page("gradcheck.md")


def test_gradcheck_uses_batch_statistics_not_the_running_ones():
    # docs/gradcheck.md: batch norm "with its batch statistics"; the check passes at the default.
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(8, 3)) * 3 + 5, rng.normal(size=(8, 1))
    model = Sequential([Dense(4), BatchNorm(), Dense(1)], seed=0)
    assert gradcheck(model, X, y, loss="mse").worst < 1e-6
    # the running statistics are untouched (reset before every evaluation)
    assert np.allclose(model.layers[1].state["running_mean"], 0)


def test_the_gradcheck_suite_checks_batch_norm_in_training_mode_only():
    # docs/gradcheck.md: "batch norm in training mode (the only mode with a backward pass)"
    suite = (ROOT / "tests" / "test_gradcheck.py").read_text(encoding="utf-8")
    assert "BatchNorm(" in suite
    assert "training=False)" in suite  # only in the test that it is refused
    assert "batch norm in both modes" not in page("gradcheck.md")


# docs/how/cross-entropy.md: the two-step gradient "is multiplied by p / 10^-7"


def test_two_step_softmax_gradient_is_scaled_by_p_over_the_clip():
    z = np.array([[0.0, np.log(1e30)]])  # p = 1e-30 for class 0, the true one
    softmax = Softmax()
    p = softmax.forward(z)
    _, grad_p = CategoricalCrossEntropy().value_and_grad(p, np.array([0]))
    two_step = softmax.backward(grad_p, z, p)
    _, fused = CategoricalCrossEntropy(from_logits=True).value_and_grad(z, np.array([0]))
    assert fused[0, 0] == pytest.approx(-1.0)
    assert two_step[0, 0] == pytest.approx(fused[0, 0] * p[0, 0] / 1e-7, rel=1e-3)
    assert abs(two_step[0, 0]) == pytest.approx(1e-23, rel=1e-3)


def test_losses_clip_probabilities_at_1e_minus_7():
    # cross-entropy.md: "with p clipped to at least 10^-7" (both losses)
    _, grad = CategoricalCrossEntropy().value_and_grad(np.array([[0.0, 1.0]]), np.array([0]))
    assert grad[0, 0] == pytest.approx(-1e7)
    _, grad = BinaryCrossEntropy().value_and_grad(np.array([[0.0]]), np.array([[1.0]]))
    assert grad[0, 0] == pytest.approx(-1 / (1 - 1e-7) / 1e-7 * (1 - 1e-7), rel=1e-6)
    assert default(CategoricalCrossEntropy, "from_logits") is False
    assert default(BinaryCrossEntropy, "from_logits") is False


# docs/how/optimizers.md: the stored slots and the defaults table


def test_adam_slots_hold_the_moments_without_their_one_minus_beta_factors():
    adam = Adam(learning_rate=0.1)
    params, grads = np.array([1.0, -2.0, 3.0]), np.array([0.5, -0.25, 2.0])
    m = v = np.zeros(3)
    for step in range(3):
        g = grads * (step + 1)
        adam.step(params, g.copy())
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g**2
    np.testing.assert_allclose(adam.slots["m"], m / 0.1)
    np.testing.assert_allclose(adam.slots["v"], v / 0.001)
    assert 'slots["m"]` reads 10 times' in page("how/optimizers.md")


@pytest.mark.parametrize(
    ("optimizer", "defaults"),
    [
        (SGD, {"learning_rate": 0.01}),
        (RMSprop, {"learning_rate": 1e-3, "rho": 0.9, "epsilon": 1e-7}),
        (Adagrad, {"learning_rate": 0.01, "epsilon": 1e-7}),
        (Adam, {"learning_rate": 1e-3, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8}),
        (AdamW, {"weight_decay": 0.01}),
    ],
)
def test_optimizer_defaults_are_the_ones_the_table_gives(optimizer, defaults):
    for name, value in defaults.items():
        assert default(optimizer, name) == value, (optimizer.__name__, name)


# docs/how/regularization.md and docs/guides/digits.md: dropout's mask is per entry, any shape


@pytest.mark.parametrize("shape", [(200, 50), (20, 6, 6, 4), (400, 1, 3)])
def test_dropout_masks_each_entry_of_any_shape(shape):
    layer = Dropout(0.2)
    layer.build(shape[1:], np.random.default_rng(0), np.float64)
    y = layer.forward(np.ones(shape), training=True)
    assert y.shape == shape
    kept = y != 0
    assert set(np.unique(y)) == {0.0, 1 / 0.8}
    assert kept.mean() == pytest.approx(0.8, abs=0.03)
    # not whole units: every unit is dropped for some rows and kept for others
    per_unit = kept.reshape(shape[0], -1).mean(axis=0)
    assert 0 < per_unit.min() and per_unit.max() < 1
    grad = layer.backward(np.ones(shape))
    np.testing.assert_array_equal(grad, y)  # backward multiplies by the same mask
    assert "(N, units)`." not in page("how/regularization.md")
    assert "a fifth of the hidden units at random" not in page("guides/digits.md")


def test_batch_norm_defaults_are_the_pages():
    # regularization.md: "momentum 0.99, epsilon = 10^-3 by default"
    assert default(BatchNorm, "momentum") == 0.99
    assert default(BatchNorm, "epsilon") == 1e-3


def test_huber_and_regularizer_defaults_are_the_pages():
    assert default(Huber, "delta") == 1.0  # regression-losses.md
    # dense.md: "default lambda = 0.01" for "l2" and for "l1"
    assert Dense(3, kernel_regularizer="l2").kernel_regularizer.get_config()["l2"] == 0.01
    assert Dense(3, kernel_regularizer="l1").kernel_regularizer.get_config()["l1"] == 0.01


# docs/guides/diagnostics.md: the factor in the prose is the report's


def test_diagnostics_prose_gives_the_reports_factor():
    text = page("guides/diagnostics.md")
    [report] = re.findall(r"gradients shrink by ([\d.e-]+) from the last layer", text)
    [prose] = re.findall(r"a gradient about ([\d,]+) times smaller", text)
    assert int(prose.replace(",", "")) == pytest.approx(1 / float(report), rel=0.05)


# docs/tutorial.md: what NeuralNetwork adds; docs/how/dense.md: the default initializers


def test_tutorial_network_defaults():
    network = NeuralNetwork(input_dim=2, hidden_dim=3, output_dim=1, seed=0)
    assert network.learning_rate == 3
    assert network.bias1.shape == (3,) and network.weights1.shape == (2, 3)


@pytest.mark.parametrize(
    ("activation", "variance"), [("relu", 2 / 400), ("tanh", 2 / 500), ("sigmoid", 2 / 500)]
)
def test_dense_picks_he_for_relu_and_glorot_otherwise(activation, variance):
    model = Sequential([Dense(100, activation)], seed=0, dtype="float64")
    model.build((400,))
    W = model.layers[0].params["W"]
    assert W.var() == pytest.approx(variance, rel=0.05)
    np.testing.assert_array_equal(model.layers[0].params["b"], 0)


def test_fit_batch_size_defaults_to_32():
    # tutorial.md: "batch_size=32 by default"
    assert default(Sequential.fit, "batch_size") == 32


# docs/how/cross-entropy.md: "Sequential uses it [the fused gradient] whenever the last layer's
# activation is softmax and the loss is categorical cross-entropy with from_logits=False"


@pytest.mark.parametrize(
    ("activation", "from_logits"), [("softmax", False), ("linear", True)], ids=["fused", "logits"]
)
def test_a_confidently_wrong_softmax_head_still_gets_the_full_gradient(activation, from_logits):
    model = Sequential([Dense(2, activation, use_bias=False)], seed=0, dtype="float64")
    model.build((1,))
    model.layers[0].params["W"][...] = [[0.0, 80.0]]  # logits (0, 80): p = e^-80 for class 0
    loss = CategoricalCrossEntropy(from_logits=from_logits)
    model.fit(np.ones((1, 1)), np.array([0]), loss=loss, optimizer="sgd", epochs=1, verbose=0)
    step = (np.array([[0.0, 80.0]]) - model.layers[0].params["W"]) / 0.01
    np.testing.assert_allclose(step, [[-1.0, 1.0]])  # p - y, not 1e-28 of it


# docs/how/dense.md: "The first layer of a network skips Delta W^T during fit"


def test_the_first_layer_computes_no_input_gradient_unless_asked():
    X, Y = np.ones((3, 2)), np.zeros((3, 4))
    for wanted, shape in ((False, None), (True, (3, 2))):
        model = Sequential([Dense(4, "tanh")], seed=0, input_gradient=wanted)
        model.forward(X, training=True)
        grad_x = model.backward(Y)
        assert (grad_x is None) if shape is None else (grad_x.shape == shape)


# docs/gradcheck.md: "Gradients that are zero on both sides ... count as agreeing"


def test_gradcheck_counts_gradients_zero_on_both_sides_as_agreeing():
    model = Sequential([Dense(3, "relu"), Dense(1)], seed=0, dtype="float64")
    model.build((2,))
    model.layers[0].params["b"][...] = -100.0  # every hidden unit dead: no gradient reaches W
    X, y = np.ones((4, 2)), np.ones((4, 1))
    report = gradcheck(model, X, y, loss="mse")
    assert report.errors["layers[0].W"] == 0.0 and report.errors["layers[0].b"] == 0.0


# docs/mistakes.md: "scratchnn's losses reshape a 1-D target to one column, and refuse a target
# whose shape does not match the output"


def test_fit_takes_flat_targets_as_one_column_and_refuses_a_wrong_shape():
    X, y = np.arange(8.0).reshape(4, 2), np.array([1.0, 0.0, 1.0, 0.0])
    flat = Sequential([Dense(1)], seed=0, dtype="float64")
    column = Sequential([Dense(1)], seed=0, dtype="float64")
    flat.fit(X, y, loss="mse", optimizer="sgd", epochs=2, verbose=0)
    column.fit(X, y[:, None], loss="mse", optimizer="sgd", epochs=2, verbose=0)
    np.testing.assert_array_equal(flat.params, column.params)
    with pytest.raises(ValueError, match=r"y must have 1 column\(s\).*got shape \(4, 2\)"):
        flat.fit(X, np.ones((4, 2)), loss="mse", epochs=1, verbose=0)
