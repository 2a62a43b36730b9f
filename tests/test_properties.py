"""Property-based checks (hypothesis): shapes and invariants over random sizes and inputs."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchnn import Dense, Sequential
from scratchnn.activations import ACTIVATIONS, get_activation, softmax

sizes = st.integers(min_value=1, max_value=7)


@settings(max_examples=40, deadline=None)
@given(batch=sizes, features=sizes, hidden=sizes, outputs=sizes, seed=st.integers(0, 2**16))
def test_forward_and_backward_shapes_follow_the_layer_widths(
    batch, features, hidden, outputs, seed
):
    model = Sequential(
        [Dense(hidden, "tanh"), Dense(outputs)], seed=seed, dtype="float64", input_gradient=True
    )
    X = np.random.default_rng(seed).normal(size=(batch, features))
    out = model.forward(X, training=True)
    grad_input = model.backward(np.ones_like(out))
    assert out.shape == (batch, outputs)
    assert grad_input.shape == X.shape
    n_params = features * hidden + hidden + hidden * outputs + outputs
    assert model.grads.shape == model.params.shape == (n_params,)


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 30),
    batch_size=st.integers(1, 40),
    seed=st.integers(0, 2**16),
)
def test_predict_does_not_depend_on_its_batch_size(rows, batch_size, seed):
    model = Sequential([Dense(5, "relu", input_dim=3), Dense(2, "softmax")], seed=seed)
    X = np.random.default_rng(seed).normal(size=(rows, 3))
    np.testing.assert_allclose(model.predict(X, batch_size=batch_size), model.predict(X), rtol=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.floats(-1e4, 1e4), min_size=1, max_size=12),
    shift=st.floats(-100, 100),
)
def test_softmax_is_a_distribution_and_shift_invariant(values, shift):
    z = np.array([values])
    p = softmax(z)
    assert np.all(p >= 0) and abs(p.sum() - 1.0) < 1e-12
    np.testing.assert_allclose(softmax(z + shift), p, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(sorted(set(ACTIVATIONS) - {"softmax"})),
    values=st.lists(st.floats(-50, 50), min_size=1, max_size=12),
)
def test_elementwise_activations_act_on_each_entry_alone(name, values):
    activation = get_activation(name)
    z = np.array([values])
    together = activation.forward(z.copy())
    one_by_one = np.array([[activation.forward(np.array([[v]]))[0, 0] for v in values]])
    np.testing.assert_allclose(together, one_by_one, rtol=1e-12, atol=1e-300)
