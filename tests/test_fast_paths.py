"""Every speed trick of the engine gives what the plain formulas give.

The fast paths: training-mode buffers reused across batches (``out=`` in Dense and the
activations), the fused softmax and sigmoid cross-entropies on logits, Adam's rearranged
bias correction, skipping the first layer's ``dL/dX`` in ``fit``, and the unshuffled single full
batch. Each is compared here with the formula written out plainly.
"""

from __future__ import annotations

import numpy as np
import pytest

from scratchnn import SGD, Adam, Dense, Sequential
from scratchnn.activations import ACTIVATIONS, get_activation
from scratchnn.losses import BinaryCrossEntropy, CategoricalCrossEntropy, Loss
from scratchnn.training import TrainingStep


def plain_sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activation_with_out_matches_without(name, dtype, rng):
    activation = get_activation(name)
    z = rng.normal(size=(7, 5)).astype(dtype)
    grad_a = rng.normal(size=(7, 5)).astype(dtype)
    plain = activation.forward(z.copy())
    out = np.full_like(z, np.nan)
    fast = activation.forward(z.copy(), out=out)
    np.testing.assert_array_equal(fast, plain)
    assert fast.dtype == dtype
    plain_grad = activation.backward(grad_a, z, plain)
    fast_grad = activation.backward(grad_a, z, plain, out=np.full_like(z, np.nan))
    np.testing.assert_array_equal(fast_grad, plain_grad)
    assert fast_grad.dtype == dtype


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "linear", "elu"])
def test_dense_training_buffers_match_the_plain_formulas(activation, rng):
    layer = Dense(6, activation, input_dim=4)
    layer.build((4,), np.random.default_rng(0), np.float64)
    W, b = layer.params["W"], layer.params["b"]
    f = get_activation(activation)
    for rows in (5, 3, 5):  # two batch sizes, the first one twice: its buffers are reused
        x = rng.normal(size=(rows, 4))
        grad_a = rng.normal(size=(rows, 6))
        a = layer.forward(x, training=True)
        z = x @ W + b
        np.testing.assert_allclose(layer._cache[1], z, rtol=1e-12)
        np.testing.assert_allclose(a, f.forward(z), rtol=1e-12)
        grad_x = layer.backward(grad_a)
        delta = f.backward(grad_a, z, f.forward(z))
        np.testing.assert_allclose(layer.grads["W"], x.T @ delta, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(layer.grads["b"], delta.sum(axis=0), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(grad_x, delta @ W.T, rtol=1e-12, atol=1e-14)


def test_dense_reuses_its_training_buffers_but_not_in_inference(rng):
    layer = Dense(3, "relu", input_dim=2)
    layer.build((2,), np.random.default_rng(0))
    x = rng.normal(size=(4, 2)).astype(np.float32)
    first = layer.forward(x, training=True)
    assert layer.forward(x, training=True) is first
    assert layer.forward(x, training=False) is not layer.forward(x, training=False)


def test_first_layer_can_skip_its_input_gradient(rng):
    X, y = rng.normal(size=(8, 4)), rng.integers(0, 3, size=8)
    full = Sequential([Dense(5, "relu", input_dim=4), Dense(3, "softmax")], seed=0,
                      dtype="float64", input_gradient=True)  # fmt: skip
    model = Sequential(
        [Dense(5, "relu", input_dim=4), Dense(3, "softmax")], seed=0, dtype="float64"
    )
    loss = CategoricalCrossEntropy()
    value, _, _, grad_x = TrainingStep(full, loss).loss_and_gradients(X, y)
    fast_value, _, _, none = TrainingStep(model, loss).loss_and_gradients(X, y)
    assert none is None and grad_x.shape == X.shape
    assert not model.layers[0].needs_input_grad and model.layers[1].needs_input_grad
    assert fast_value == value
    np.testing.assert_array_equal(model.grads, full.grads)


def plain_value_and_grad(loss: Loss, y_pred, y_true, sample_weight=None):
    """The unfused path: ``per_sample`` and ``per_sample_grad`` of the base class."""
    return Loss.value_and_grad(loss, y_pred, y_true, sample_weight)


@pytest.mark.parametrize("labels", ["integers", "one_hot", "soft"])
@pytest.mark.parametrize("weighted", [False, True])
def test_fused_softmax_cross_entropy_matches_the_plain_formulas(labels, weighted, rng):
    logits = rng.normal(scale=5.0, size=(9, 4))
    classes = rng.integers(0, 4, size=9)
    y = {
        "integers": classes,
        "one_hot": np.eye(4)[classes],
        "soft": rng.dirichlet(np.ones(4), size=9),
    }[labels]
    weights = rng.uniform(0, 2, size=9) if weighted else None
    loss = CategoricalCrossEntropy(from_logits=True)
    value, grad = loss.value_and_grad(logits, y, weights)
    plain_value, plain_grad = plain_value_and_grad(loss, logits, y, weights)
    assert value == pytest.approx(plain_value, rel=1e-12)
    np.testing.assert_allclose(grad, plain_grad, rtol=1e-10, atol=1e-15)
    # and against the textbook form: softmax then -sum y log p
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    one_hot = np.eye(4)[y] if labels == "integers" else y
    w = np.ones(9) if weights is None else weights
    assert value == pytest.approx(np.mean(w * -(one_hot * np.log(p)).sum(axis=1)), rel=1e-10)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_sigmoid_cross_entropy_matches_the_plain_formulas(weighted, dtype, rng):
    logits = rng.normal(scale=4.0, size=(6, 3)).astype(dtype)
    y = rng.uniform(0, 1, size=(6, 3)).astype(dtype)
    weights = rng.uniform(0, 2, size=6).astype(dtype) if weighted else None
    loss = BinaryCrossEntropy(from_logits=True)
    value, grad = loss.value_and_grad(logits, y, weights)
    plain_value, plain_grad = plain_value_and_grad(loss, logits, y, weights)
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    assert grad.dtype == dtype
    assert value == pytest.approx(plain_value, rel=tolerance)
    np.testing.assert_allclose(grad, plain_grad, rtol=tolerance, atol=tolerance * 1e-3)
    p = plain_sigmoid(logits.astype(np.float64))
    w = np.ones(6) if weights is None else weights
    textbook = np.mean(w * -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(axis=1))
    assert value == pytest.approx(textbook, rel=tolerance)


def test_fused_sigmoid_cross_entropy_is_finite_for_huge_logits():
    logits = np.array([[1e4, -1e4]], dtype=np.float32)
    value, grad = BinaryCrossEntropy(from_logits=True).value_and_grad(logits, np.array([[0, 1.0]]))
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    assert value == pytest.approx(1e4)


def test_adam_matches_the_textbook_update(rng):
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    params = rng.normal(size=50)
    expected = params.copy()
    m, v = np.zeros(50), np.zeros(50)
    adam = Adam(lr, beta_1=b1, beta_2=b2, epsilon=eps)
    for t in range(1, 30):
        g = rng.normal(size=50)
        adam.step(params, g.copy())
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        expected -= lr * m_hat / (np.sqrt(v_hat) + eps)
    np.testing.assert_allclose(params, expected, rtol=1e-12, atol=1e-14)


def test_single_full_batch_fit_is_plain_gradient_descent(rng):
    """One batch holding all the data: fit is exactly full-batch GD, shuffled or not."""
    X = rng.normal(size=(6, 2))
    y = rng.uniform(0.1, 0.9, size=(6, 1))
    weights = []
    for shuffle in (True, False):
        model = Sequential([Dense(4, "tanh"), Dense(1, "sigmoid")], seed=3, dtype="float64")
        model.build(2)
        start = model.params.copy()
        model.fit(X, y, loss="binary_crossentropy", optimizer=SGD(0.3), epochs=25,
                  batch_size=8, shuffle=shuffle, verbose=0)  # fmt: skip
        weights.append(model.params.copy())
    np.testing.assert_array_equal(weights[0], weights[1])

    model.params[...] = start
    W1, b1 = (model.layers[0].params[key].copy() for key in ("W", "b"))
    W2, b2 = (model.layers[1].params[key].copy() for key in ("W", "b"))
    for _ in range(25):
        h = np.tanh(X @ W1 + b1)
        p = plain_sigmoid(h @ W2 + b2)
        delta2 = (p - y) / len(X)
        delta1 = (delta2 @ W2.T) * (1 - h * h)
        W2, b2 = W2 - 0.3 * h.T @ delta2, b2 - 0.3 * delta2.sum(axis=0)
        W1, b1 = W1 - 0.3 * X.T @ delta1, b1 - 0.3 * delta1.sum(axis=0)
    np.testing.assert_allclose(weights[0], np.concatenate([W1.ravel(), b1, W2.ravel(), b2]),
                               rtol=1e-10, atol=1e-12)  # fmt: skip


def test_mini_batch_fit_in_float32_stays_float32(rng):
    X = rng.normal(size=(50, 3)).astype(np.float32)
    y = rng.integers(0, 3, size=50)
    model = Sequential([Dense(8, "relu"), Dense(3, "softmax")], seed=0)
    model.fit(X, y, loss="categorical_crossentropy", optimizer="adam", batch_size=16, verbose=0)
    assert model.params.dtype == np.float32
    assert all(buffer.dtype == np.float32 for buffer in model.layers[0]._buffers.values())
    assert model.optimizer.slots["m"].dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bad", [None, np.nan, np.inf, -np.inf])
def test_finiteness_check_by_sum_matches_the_elementwise_check(dtype, bad, rng):
    from scratchnn._validation import all_finite

    values = rng.normal(size=(20, 5)).astype(dtype)
    if bad is not None:
        values[7, 3] = bad
    assert all_finite(values) == bool(np.all(np.isfinite(values)))
    huge = np.full(8, np.finfo(dtype).max, dtype=dtype)  # the sum overflows, every value is finite
    assert all_finite(huge)
