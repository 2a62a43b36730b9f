"""Stepping models beyond a recurrent stack: merges, layer norms, position layers, windows."""

from __future__ import annotations

import numpy as np
import pytest

from scratchnn import (
    GRU,
    Add,
    Concatenate,
    Dense,
    Dropout,
    Embedding,
    Input,
    LayerNormalization,
    Model,
    Multiply,
    PositionEmbedding,
    SinePositionEncoding,
)
from scratchnn.datasets import Vocabulary
from scratchnn.text import Stepper, generate, steppable

VOCABULARY = Vocabulary("abcdefgh ")


def residual_model(position, recurrent=False, seed=0, dtype="float64"):
    """Embedding + positions, a pre-norm residual MLP block, merges, a softmax head."""
    ids = Input(shape=(None,), dtype="int64")
    x = position(Embedding(len(VOCABULARY), 8)(ids))
    if recurrent:
        x = GRU(8, return_sequences=True)(x)
    h = Dense(8)(Dense(16, "gelu")(LayerNormalization()(x)))
    x = Add()([x, Dropout(0.2)(h)])
    x = Concatenate()([x, Multiply()([x, Dense(8, "tanh")(x)])])
    model = Model(ids, Dense(len(VOCABULARY), "softmax")(LayerNormalization()(x)), seed=seed,
                  dtype=dtype)  # fmt: skip
    model.vocabulary = VOCABULARY
    return model


POSITIONS = {"learned": lambda: PositionEmbedding(16), "sine": SinePositionEncoding}


@pytest.mark.parametrize("recurrent", [False, True])
@pytest.mark.parametrize("position", sorted(POSITIONS))
def test_each_step_gives_predicts_outputs_at_that_position(position, recurrent):
    model = residual_model(POSITIONS[position](), recurrent)
    assert steppable(model)
    sequences = np.random.default_rng(1).integers(0, len(VOCABULARY), size=(3, 12))
    expected, expected_logits = model.predict(sequences), model.logits(sequences)
    stepper, scorer = Stepper(model), Stepper(model, logits=True)
    for t in range(12):
        np.testing.assert_allclose(stepper.step(sequences[:, t]), expected[:, t], atol=1e-12)
        np.testing.assert_allclose(scorer.step(sequences[:, t]), expected_logits[:, t], atol=1e-12)
    assert stepper.positions == 12


def test_stepped_generation_writes_the_rerun_paths_text_past_the_window():
    model = residual_model(PositionEmbedding(16), dtype="float32", seed=3)
    assert Stepper(model).window == 16
    for seed in range(3):
        fast = generate(model, "abc ", 40, temperature=0.9, seed=seed)
        slow = generate(model, "abc ", 40, temperature=0.9, seed=seed, context=16)
        assert fast == slow and len(fast) == 44


def test_a_step_past_the_position_table_is_refused_and_changes_nothing():
    model = residual_model(PositionEmbedding(16))
    stepper = Stepper(model)
    for t in range(16):
        stepper.step(np.array([t % 9]))
    with pytest.raises(ValueError, match="holds 16 positions and 16 have been fed"):
        stepper.step(np.array([1]))
    assert stepper.positions == 16
    with pytest.raises(ValueError, match="holds 16 positions"):
        model.predict(np.zeros((1, 17), dtype=np.int64))


def test_a_prompt_longer_than_the_table_still_generates():
    model = residual_model(PositionEmbedding(16), dtype="float32")
    prompt = "abcdefgh abcdefgh abc"  # 21 characters: past the table from the start
    assert generate(model, prompt, 5, seed=0) == generate(model, prompt, 5, seed=0, context=16)


def test_a_concatenation_over_time_is_not_stepped():
    ids = Input(shape=(None,), dtype="int64")
    x = Embedding(9, 4)(ids)
    model = Model(ids, Dense(9, "softmax")(Concatenate(axis=1)([x, x])), seed=0)
    assert not steppable(model)
    with pytest.raises(ValueError, match="causal self-attention"):
        Stepper(model)
