"""The tutorial's NeuralNetwork: its listing runs unchanged and learns XOR every time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scratchnn import NeuralNetwork

ROOT = Path(__file__).resolve().parents[1]
X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
Y = np.array([[0], [1], [1], [0]])


def learns_xor(nn: NeuralNetwork) -> bool:
    nn.train(X, Y, epochs=10000)
    return bool(np.all((nn.forward(X) > 0.5) == (Y == 1)))


@pytest.mark.slow
def test_tutorial_listing_runs_unchanged_and_prints_xor():
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "xor.py")],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    numbers = np.array(result.stdout.replace("[", " ").replace("]", " ").split(), dtype=float)
    assert numbers.shape == (4,)
    assert np.all((numbers > 0.5) == (Y.ravel() == 1))


@pytest.mark.slow
def test_learns_xor_for_every_seed_0_to_99():
    failures = [seed for seed in range(100) if not learns_xor(NeuralNetwork(2, 3, 1, seed=seed))]
    assert failures == []


@pytest.mark.slow
def test_learns_xor_in_100_unseeded_runs():
    networks = [NeuralNetwork(2, 3, 1) for _ in range(100)]
    # Without a seed every network starts from its own fresh initialisation.
    assert len({nn.weights1.tobytes() for nn in networks}) == 100
    assert sum(learns_xor(nn) for nn in networks) == 100


def test_tutorial_attributes_have_the_tutorial_shapes():
    nn = NeuralNetwork(input_dim=2, hidden_dim=3, output_dim=1, seed=0)
    assert nn.weights1.shape == (2, 3) and nn.weights2.shape == (3, 1)
    assert nn.bias1.shape == (3,) and nn.bias2.shape == (1,)
    output = nn.forward(X)
    assert output.shape == (4, 1) and output.dtype == np.float64
    assert nn.hidden_layer.shape == (4, 3)
    expected_hidden = 1 / (1 + np.exp(-(X @ nn.weights1 + nn.bias1)))
    np.testing.assert_allclose(nn.hidden_layer, expected_hidden, rtol=1e-12)
    np.testing.assert_allclose(
        output, 1 / (1 + np.exp(-(expected_hidden @ nn.weights2 + nn.bias2))), rtol=1e-12
    )


def test_backward_takes_one_gradient_step_like_the_formula():
    nn = NeuralNetwork(2, 3, 1, learning_rate=0.5, seed=1)
    W1, b1, W2, b2 = (a.copy() for a in (nn.weights1, nn.bias1, nn.weights2, nn.bias2))
    output = nn.forward(X)
    nn.backward(X, Y, output)
    hidden = nn.hidden_layer
    delta_out = (output - Y) / 4  # cross-entropy through the output sigmoid
    delta_hidden = delta_out @ W2.T * hidden * (1 - hidden)
    np.testing.assert_allclose(nn.weights2, W2 - 0.5 * hidden.T @ delta_out, rtol=1e-12)
    np.testing.assert_allclose(nn.bias2, b2 - 0.5 * delta_out.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(nn.weights1, W1 - 0.5 * X.T @ delta_hidden, rtol=1e-12)
    np.testing.assert_allclose(nn.bias1, b1 - 0.5 * delta_hidden.sum(axis=0), rtol=1e-12)


def test_weights_can_be_assigned_like_plain_attributes():
    nn = NeuralNetwork(2, 3, 1, seed=0)
    nn.weights1 = np.zeros((2, 3))
    assert np.all(nn.model.layers[0].params["W"] == 0)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: NeuralNetwork(0, 3, 1), ValueError, "input_dim must be a positive integer"),
        (lambda: NeuralNetwork(2, 3.5, 1), TypeError, "hidden_dim must be a positive integer"),
        (lambda: NeuralNetwork(2, 3, 1, learning_rate=0), ValueError, "learning_rate"),
        (lambda: NeuralNetwork(2, 3, 1).train(X, Y, epochs=0), ValueError, "epochs"),
        (lambda: NeuralNetwork(3, 3, 1).forward(X), ValueError, "X must have 3 features"),
        (lambda: NeuralNetwork(2, 3, 1).train(X, Y[:3], 10), ValueError, r"y must have shape"),
        (lambda: NeuralNetwork(2, 3, 1).train(X, Y * 2, 10), ValueError, r"targets in \[0, 1\]"),
    ],
)
def test_bad_input_is_named(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_backward_before_any_forward_runs_the_forward_itself():
    fresh, reference = NeuralNetwork(2, 3, 1, seed=4), NeuralNetwork(2, 3, 1, seed=4)
    fresh.backward(X, Y, np.zeros((4, 1)))
    reference.backward(X, Y, reference.forward(X))
    np.testing.assert_array_equal(fresh.weights1, reference.weights1)


def test_a_loaded_tutorial_network_can_be_saved_again(tmp_path):
    import scratchnn

    nn = NeuralNetwork(2, 3, 1, seed=0)
    nn.save(tmp_path / "a.npz")
    loaded = scratchnn.load(tmp_path / "a.npz")
    loaded.save(tmp_path / "b.npz")
    np.testing.assert_array_equal(scratchnn.load(tmp_path / "b.npz").forward(X), nn.forward(X))
