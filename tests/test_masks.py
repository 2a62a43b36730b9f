"""Padded sequences: Embedding(mask_zero=True) masks id 0, recurrent layers skip padded steps,
and padding adds nothing to the loss or the gradients."""

from __future__ import annotations

import numpy as np
import pytest

from scratchnn import Dense, Input, Model, gradcheck
from scratchnn.layers import GRU, LSTM, Bidirectional, Embedding, SimpleRNN
from scratchnn.losses import get_loss
from scratchnn.training import TrainingStep

PADDED = np.array([[3, 1, 4, 1, 5], [2, 7, 2, 0, 0], [9, 0, 0, 0, 0]])  # lengths 5, 3, 1


def _model(recurrent, return_sequences=False, dtype="float64", seed=0):
    ids = Input(shape=(None,), dtype="int64")
    h = Embedding(10, 4, mask_zero=True)(ids)
    h = recurrent(6, return_sequences=return_sequences)(h)
    return Model(ids, Dense(3, "softmax")(h), seed=seed, dtype=dtype)


@pytest.mark.parametrize("recurrent", [SimpleRNN, LSTM, GRU])
def test_a_padded_sequence_gives_what_it_gives_alone(recurrent):
    model = _model(recurrent)
    together = model.predict(PADDED)
    for index, length in enumerate((5, 3, 1)):
        alone = model.predict(PADDED[index : index + 1, :length])
        np.testing.assert_allclose(together[index], alone[0], rtol=1e-12)


@pytest.mark.parametrize("recurrent", [SimpleRNN, LSTM, GRU])
def test_a_returned_sequence_repeats_the_last_real_output_over_the_padding(recurrent):
    model = _model(recurrent, return_sequences=True)
    out = model.predict(PADDED)
    alone = model.predict(PADDED[1:2, :3])[0]
    np.testing.assert_allclose(out[1, :3], alone, rtol=1e-12)
    np.testing.assert_allclose(out[1, 3], out[1, 2], rtol=1e-12)
    np.testing.assert_allclose(out[1, 4], out[1, 2], rtol=1e-12)


@pytest.mark.parametrize("recurrent", [SimpleRNN, LSTM, GRU])
def test_masked_gradients_match_finite_differences(recurrent):
    model = _model(recurrent, return_sequences=True)
    targets = np.random.default_rng(0).integers(0, 3, PADDED.shape)
    report = gradcheck(model, PADDED, targets, loss="categorical_crossentropy", check_input=False)
    assert report.worst < 1e-6, report.errors


def test_padding_adds_nothing_to_the_loss_or_the_gradients():
    """The loss is the mean over the real steps; what the targets say at padded steps changes
    neither it nor any gradient."""
    model = _model(LSTM, return_sequences=True)
    rng = np.random.default_rng(1)
    targets = rng.integers(0, 3, PADDED.shape)
    step = TrainingStep(model, get_loss("categorical_crossentropy"))
    first = step.loss_and_gradients(PADDED, targets)
    grads = model.grads.copy()
    probabilities = model.predict(PADDED)
    real = PADDED != 0
    picked = probabilities[np.arange(3)[:, None], np.arange(5), targets][real]
    assert first.loss == pytest.approx(-np.mean(np.log(picked)), rel=1e-10)
    other = np.where(real, targets, (targets + 1) % 3)  # other labels at the padded steps only
    second = step.loss_and_gradients(PADDED, other)
    assert second.loss == pytest.approx(first.loss, rel=1e-12)
    np.testing.assert_array_equal(model.grads, grads)


def test_a_masked_model_trains_and_evaluates_on_real_steps():
    rng = np.random.default_rng(2)
    lengths = rng.integers(2, 8, 64)
    ids = np.zeros((64, 8), dtype=int)
    for row, length in enumerate(lengths):
        ids[row, :length] = rng.integers(1, 10, length)
    y = (ids[np.arange(64), lengths - 1] > 5).astype(int)  # the last real id decides
    model = _model(GRU, dtype="float32", seed=3)
    history = model.fit(ids, y, epochs=40, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0] * 0.5
    assert model.evaluate(ids, y, metrics=["accuracy"])["accuracy"] > 0.9


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
def test_bidirectional_layers_take_masks_a_padded_row_equals_itself_alone(merge_mode):
    ids = Input(shape=(None,), dtype="int64")
    h = Bidirectional(LSTM(4, return_sequences=True), merge_mode=merge_mode)(
        Embedding(10, 4, mask_zero=True)(ids)
    )
    model = Model(ids, Dense(2, "softmax")(GRU(3)(h)), seed=0, dtype="float64")
    together = model.predict(PADDED)
    for index, length in enumerate((5, 3, 1)):
        alone = model.predict(PADDED[index : index + 1, :length])
        np.testing.assert_allclose(together[index], alone[0], rtol=1e-12)
    # This net's gradients reach the backward pass tiny (norms ~1e-3 after the GRU), so central
    # differences carry round-off ~1e-16 / eps relative to them: a larger step, and a bound that
    # a wrong gradient (relative error near 1) is nowhere near.
    report = gradcheck(model, PADDED, np.array([0, 1, 1]), loss="categorical_crossentropy",
                       check_input=False, eps=1e-4)  # fmt: skip
    assert report.worst < 1e-5, report.errors
