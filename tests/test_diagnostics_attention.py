"""``summary()`` and diagnostics on models with MultiHeadAttention (and other layers with
several outputs): the table's rows and counts, the statistics of the right output."""

from __future__ import annotations

import numpy as np
import pytest

from scratchnn import (
    LSTM,
    Add,
    Dense,
    Diagnostics,
    Embedding,
    Input,
    LayerNormalization,
    Model,
    MultiHeadAttention,
    diagnose,
)
from scratchnn.layers import PositionEmbedding


def block_model(scores: bool = False) -> Model:
    ids = Input(shape=(None,), dtype="int64", name="ids")
    x = PositionEmbedding(16, name="positions")(Embedding(7, 12, name="tokens")(ids))
    h = LayerNormalization(name="norm")(x)
    attention = MultiHeadAttention(3, 4, value_dim=2, name="attention")
    h = attention(h, h, use_causal_mask=True, return_attention_scores=scores)
    if scores:
        h, _ = h
    x = Add(name="residual")([x, h])
    return Model(ids, Dense(7, "softmax", name="head")(x), seed=0, dtype="float64")


def data(rows: int = 8, steps: int = 10):
    rng = np.random.default_rng(0)
    return rng.integers(0, 7, (rows, steps)), rng.integers(0, 7, (rows, steps))


def test_summary_lists_attention_with_its_parameters_and_inputs():
    text = block_model().summary(print_fn=None)
    row = next(line for line in text.splitlines() if line.startswith("attention"))
    # Wq, Wk (12 x 3 x 4) + bq, bk (3 x 4); Wv (12 x 3 x 2) + bv (3 x 2); Wo (3 x 2 x 12) + bo (12)
    expected = 2 * (144 + 12) + (72 + 6) + (72 + 12)
    assert row.split() == ["attention", "(MultiHeadAttention)", "(None,", "None,", "12)",
                           str(expected), "norm,", "norm"]  # fmt: skip
    assert f"Total params: {block_model().params.size}" in text
    with_scores = block_model(scores=True).summary(print_fn=None)
    row = next(line for line in with_scores.splitlines() if line.startswith("attention"))
    assert "[(None, None, 12), (None, 3, None, None)]" in row


@pytest.mark.parametrize("scores", [False, True], ids=["one-output", "weights-too"])
def test_diagnose_reports_attention_statistics_of_its_output(scores):
    model = block_model(scores)
    ids, targets = data()
    report = diagnose(model, ids, targets, loss="sparse_categorical_crossentropy")
    assert report.healthy, str(report)
    index = [layer.name for layer in model.layers].index("attention")
    described = report.layers[index]
    assert described["description"] == "MultiHeadAttention"
    assert described["kernels"] == ["Wq", "Wk", "Wv", "Wo"]
    for name in ("Wq", "bq", "Wk", "bk", "Wv", "bv", "Wo", "bo"):
        assert f"layer{index}/grad_norm/{name}" in report.series
    # The key's bias adds q.bk to every score of a row: the softmax does not see it, so its
    # gradient is zero (to rounding) while every other parameter's is not.
    assert report.series[f"layer{index}/grad_norm/bk"][0] < 1e-12
    assert report.series[f"layer{index}/grad_norm/bq"][0] > 1e-6
    # Statistics of the output y (N, T, D), not of the weights, for a layer that returns both.
    sampled = report.activations[index]
    assert sampled.shape == (8, 10, 12)
    assert report.series[f"layer{index}/act/mean"][0] == pytest.approx(sampled.mean(), abs=1e-12)


def test_diagnostics_callback_runs_through_training_a_layer_with_several_outputs():
    model = block_model(scores=True)
    ids, targets = data(rows=4, steps=6)
    callback = Diagnostics()
    model.fit(ids, targets, loss="sparse_categorical_crossentropy", epochs=2, verbose=0,
              callbacks=[callback])  # fmt: skip
    assert callback.report.epochs == 2
    index = [layer.name for layer in model.layers].index("attention")
    assert len(callback.report.series[f"layer{index}/act/std"]) == 2


def test_diagnose_takes_a_recurrent_layer_that_returns_its_states():
    x = Input(shape=(5, 3))
    sequence, _, _ = LSTM(4, return_sequences=True, return_state=True, name="lstm")(x)
    model = Model(x, Dense(2, "softmax")(sequence), seed=0)
    X = np.random.default_rng(0).normal(size=(6, 5, 3))
    y = np.random.default_rng(1).integers(0, 2, (6, 5))
    report = diagnose(model, X, y, loss="sparse_categorical_crossentropy")
    assert report.activations[0].shape == (6, 5, 4)  # the sequence, not the states


def test_attention_is_not_followed_over_time_as_a_recurrent_layer_is():
    from scratchnn import LSTM

    assert MultiHeadAttention(2, 3).steps_through_time is False
    assert LSTM(4).steps_through_time is True
