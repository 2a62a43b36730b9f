"""The Masking layer: float steps whose features all equal mask_value are padding."""

from __future__ import annotations

import numpy as np
import pytest

from scratchnn import Dense, Input, Model, Sequential, gradcheck, load
from scratchnn.layers import GRU, LSTM, Masking, SimpleRNN

LENGTHS = (6, 4, 1)


def _padded(mask_value=0.0, seed=0):
    """Three sequences of 2 features, lengths 6, 4 and 1, padded at the end with mask_value."""
    x = np.random.default_rng(seed).normal(size=(3, 6, 2))
    for row, length in enumerate(LENGTHS):
        x[row, length:] = mask_value
    return x


def _model(recurrent, mask_value=0.0, return_sequences=False, dtype="float64"):
    inputs = Input(shape=(None, 2))
    h = Masking(mask_value)(inputs)
    h = recurrent(5, return_sequences=return_sequences)(h)
    return Model(inputs, Dense(3, "softmax")(h), seed=0, dtype=dtype)


def test_the_mask_marks_steps_whose_features_all_equal_the_value():
    x = np.array([[[1.0, 2.0], [-1.0, -1.0], [-1.0, 3.0], [-1.0, -1.0]]])
    layer = Masking(-1.0)
    np.testing.assert_array_equal(layer.compute_mask(x, None), [[True, False, True, False]])
    # as Keras: the output is the input at real steps and zero at padded ones
    np.testing.assert_array_equal(
        layer.forward(x), [[[1.0, 2.0], [0.0, 0.0], [-1.0, 3.0], [0.0, 0.0]]]
    )
    layer.forward(x, training=True)
    grad = layer.backward(np.full((1, 4, 2), 5.0))
    np.testing.assert_array_equal(grad, [[[5.0, 5.0], [0.0, 0.0], [5.0, 5.0], [0.0, 0.0]]])


@pytest.mark.parametrize("recurrent", [SimpleRNN, LSTM, GRU])
@pytest.mark.parametrize("mask_value", [0.0, -7.5])
def test_a_padded_float_sequence_gives_what_it_gives_alone(recurrent, mask_value):
    model = _model(recurrent, mask_value)
    x = _padded(mask_value)
    together = model.predict(x)
    for row, length in enumerate(LENGTHS):
        alone = model.predict(x[row : row + 1, :length])
        np.testing.assert_allclose(together[row], alone[0], rtol=1e-12)
    assert not np.allclose(together[0], together[1])  # the rows differ: a real comparison


def test_masking_starts_a_mask_in_a_sequential_stack_too():
    model = Sequential([Masking(input_shape=(None, 2)), LSTM(4), Dense(1)], seed=1, dtype="float64")
    x = _padded()
    together = model.predict(x)
    alone = model.predict(x[1:2, :4])
    np.testing.assert_allclose(together[1], alone[0], rtol=1e-12)
    unmasked = Sequential([LSTM(4, input_shape=(None, 2)), Dense(1)], seed=1, dtype="float64")
    unmasked.set_weights(model.get_weights())
    assert abs(unmasked.predict(x)[1, 0] - together[1, 0]) > 1e-6  # zeros read as data differ


@pytest.mark.parametrize("recurrent", [SimpleRNN, LSTM, GRU])
def test_masked_gradients_match_finite_differences(recurrent):
    model = _model(recurrent, mask_value=-1.0, return_sequences=True)
    targets = np.random.default_rng(1).integers(0, 3, (3, 6))
    report = gradcheck(
        model, _padded(-1.0), targets, loss="categorical_crossentropy", check_input=False
    )
    assert report.worst < 1e-6, report.errors


def test_a_saved_masking_model_loads_bit_identical(tmp_path):
    model = _model(GRU, mask_value=-2.0, dtype="float32")
    x = _padded(-2.0).astype(np.float32)
    model.fit(x, np.array([0, 1, 2]), epochs=2, verbose=0)
    path = tmp_path / "masked.npz"
    model.save(path)
    loaded = load(path)
    masking = next(layer for layer in loaded.layers if isinstance(layer, Masking))
    assert masking.mask_value == -2.0
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_bad_settings_and_inputs_are_refused_with_their_names():
    with pytest.raises(TypeError, match=r"mask_value must be a number, got .zero. \(str\)"):
        Masking("zero")
    with pytest.raises(ValueError, match="mask_value must be finite"):
        Masking(float("nan"))
    with pytest.raises(ValueError, match=r"Masking '.*': takes sequences .* shape \(None, 3\)"):
        Masking()(Input(shape=(3,)))
    with pytest.raises(ValueError, match=r"got an array of shape \(2, 3\)"):
        Masking().compute_mask(np.zeros((2, 3)), None)
