"""Metrics of a masked model count only the real steps, as its loss does (and as Keras does)."""

from __future__ import annotations

import numpy as np
import pytest

from scratchnn import Dense, Input, Model
from scratchnn.layers import GRU, LSTM, Embedding, Masking
from scratchnn.metrics import real_positions

IDS = np.array([[3, 1, 4, 1, 5, 9], [2, 7, 2, 0, 0, 0], [9, 8, 0, 0, 0, 0], [6, 0, 0, 0, 0, 0]])
REAL = IDS != 0  # 12 real steps of 24


def _tagger(seed=0):
    """Embedding(mask_zero) -> LSTM(return_sequences) -> Dense softmax: a class per step."""
    ids = Input(shape=(None,), dtype="int64")
    h = LSTM(6, return_sequences=True)(Embedding(10, 4, mask_zero=True)(ids))
    return Model(ids, Dense(3, "softmax")(h), seed=seed, dtype="float64")


def _labels_and_hand_accuracy(model):
    """Labels right at half the real steps, and at every padded step (so counting the padding
    would raise the accuracy); the accuracy over the real steps by hand."""
    predicted = model.predict(IDS).argmax(axis=-1)
    rng = np.random.default_rng(0)
    labels = np.where(rng.random(IDS.shape) < 0.5, predicted, (predicted + 1) % 3)
    labels[~REAL] = predicted[~REAL]
    hand = float(np.mean(labels[REAL] == predicted[REAL]))
    return labels, hand


def test_evaluate_counts_only_the_real_steps():
    model = _tagger()
    labels, hand = _labels_and_hand_accuracy(model)
    everywhere = float(np.mean(labels == model.predict(IDS).argmax(axis=-1)))
    assert hand < everywhere  # the two differ, so the test can tell them apart
    logs = model.evaluate(IDS, labels, loss="categorical_crossentropy", metrics=["accuracy"])
    assert logs["accuracy"] == pytest.approx(hand, abs=1e-12)
    # what the labels say at padded steps changes nothing
    other = np.where(REAL, labels, (labels + 1) % 3)
    again = model.evaluate(IDS, other, loss="categorical_crossentropy", metrics=["accuracy"])
    assert again["accuracy"] == pytest.approx(hand, abs=1e-12)
    assert again["loss"] == pytest.approx(logs["loss"], rel=1e-12)


def test_fit_logs_the_accuracy_of_the_real_steps():
    """One full batch, one epoch: the logged accuracy is that of the outputs before the update,
    which predict gives (no dropout)."""
    model = _tagger(seed=1)
    labels, hand = _labels_and_hand_accuracy(model)
    history = model.fit(
        IDS, labels, loss="categorical_crossentropy", metrics=["accuracy"], epochs=1,
        batch_size=len(IDS), verbose=0, validation_data=(IDS, labels),
    )  # fmt: skip
    assert history.history["accuracy"][0] == pytest.approx(hand, abs=1e-12)
    after = model.predict(IDS).argmax(axis=-1)
    assert history.history["val_accuracy"][0] == pytest.approx(
        float(np.mean(labels[REAL] == after[REAL])), abs=1e-12
    )


def test_regression_metrics_of_a_masking_layer_skip_the_padding():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4, 6, 2))
    x[~REAL] = 0.0
    inputs = Input(shape=(None, 2))
    h = GRU(5, return_sequences=True)(Masking()(inputs))
    model = Model(inputs, Dense(1)(h), seed=0, dtype="float64")
    y = rng.normal(size=(4, 6, 1))
    error = model.predict(x) - y
    logs = model.evaluate(x, y, loss="mse", metrics=["mae", "mse"])
    assert logs["mae"] == pytest.approx(float(np.mean(np.abs(error[REAL]))), rel=1e-12)
    assert logs["mse"] == pytest.approx(float(np.mean(error[REAL] ** 2)), rel=1e-12)
    assert logs["loss"] == pytest.approx(logs["mse"], rel=1e-12)  # the loss agrees
    y[~REAL] = 1e6  # wild targets at padded steps change nothing
    assert model.evaluate(x, y, loss="mse", metrics=["mae"])["mae"] == pytest.approx(logs["mae"])


def test_real_positions_keeps_the_masked_rows_of_both_arrays():
    y_pred = np.arange(12.0).reshape(2, 3, 2)
    labels = np.array([[0, 1, 1], [1, 0, 0]])
    mask = np.array([[True, True, False], [True, False, False]])
    true, pred = real_positions(labels, y_pred, mask)
    np.testing.assert_array_equal(true, [0, 1, 1])
    np.testing.assert_array_equal(pred, [[0.0, 1.0], [2.0, 3.0], [6.0, 7.0]])
    assert real_positions(labels, y_pred, None)[1] is y_pred  # no mask: untouched
    flat = np.zeros((2, 4))  # an output without the steps (a last state): untouched
    assert real_positions(labels[:, 0], flat, mask)[1] is flat
