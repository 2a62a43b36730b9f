"""Position layers: a learned table and fixed sinusoids added to token vectors."""

from __future__ import annotations

import numpy as np
import pytest

import scratchnn
from scratchnn import Dense, Embedding, Input, Model, PositionEmbedding, SinePositionEncoding
from scratchnn.gradcheck import gradcheck

TOLERANCE = 1e-6


def position_model(position, steps=None, dtype="float64", seed=0):
    ids = Input(shape=(steps,), dtype="int64")
    x = position(Embedding(7, 4)(ids))
    return Model(ids, Dense(7, "softmax")(Dense(5, "tanh")(x)), seed=seed, dtype=dtype)


@pytest.mark.parametrize("position", [lambda: PositionEmbedding(6), SinePositionEncoding])
def test_position_layers_match_finite_differences(position):
    rng = np.random.default_rng(0)
    model = position_model(position())
    ids = rng.integers(0, 7, (3, 5))
    report = gradcheck(model, ids, rng.integers(0, 7, (3, 5)), "categorical_crossentropy",
                       check_input=False)  # fmt: skip
    assert report.worst < TOLERANCE, report.errors
    if isinstance(model.layers[1], PositionEmbedding):
        assert report.errors[f"{model.layers[1].name}.embeddings"] < TOLERANCE


def test_position_embedding_adds_its_rows_and_its_unused_rows_get_no_gradient():
    layer = PositionEmbedding(5)
    layer.build((None, 3), np.random.default_rng(0), np.float64)
    x = np.random.default_rng(1).normal(size=(2, 3, 3))
    y = layer.forward(x, training=True)
    np.testing.assert_array_equal(y, x + layer.params["embeddings"][:3])
    grad = np.random.default_rng(2).normal(size=y.shape)
    assert layer.backward(grad) is grad
    np.testing.assert_allclose(layer.grads["embeddings"][:3], grad.sum(axis=0))
    np.testing.assert_array_equal(layer.grads["embeddings"][3:], 0)


def test_sinusoids_follow_the_papers_formula():
    layer = SinePositionEncoding(max_wavelength=100.0)
    layer.build((None, 6), dtype=np.float64)
    y = layer.forward(np.zeros((1, 4, 6)))[0]
    t, i = 3, 4  # even feature: sin(t / 100^(4/6)); odd feature 5: cos of the same angle
    assert y[t, i] == pytest.approx(np.sin(t / 100 ** (4 / 6)))
    assert y[t, i + 1] == pytest.approx(np.cos(t / 100 ** (4 / 6)))
    np.testing.assert_allclose(y[0], [0, 1, 0, 1, 0, 1])


def test_an_open_time_axis_takes_any_length_up_to_the_table():
    model = position_model(PositionEmbedding(6))
    rng = np.random.default_rng(0)
    for steps in (1, 4, 6):
        assert model.predict(rng.integers(0, 7, (2, steps))).shape == (2, steps, 7)
    with pytest.raises(ValueError, match=r"holds 6 positions \(sequence_length\).* 7"):
        model.predict(rng.integers(0, 7, (2, 7)))
    long_sine = position_model(SinePositionEncoding())
    assert long_sine.predict(rng.integers(0, 7, (1, 300))).shape == (1, 300, 7)


def test_a_fixed_length_longer_than_the_table_is_refused_when_the_graph_is_made():
    ids = Input(shape=(9,), dtype="int64")
    with pytest.raises(ValueError, match=r"holds 8 positions .* got sequences of 9"):
        PositionEmbedding(8)(Embedding(7, 4)(ids))
    with pytest.raises(ValueError, match=r"\(N, T, D\) with D known"):
        PositionEmbedding(8)(Input(shape=(4,)))


@pytest.mark.parametrize("position", [lambda: PositionEmbedding(6), SinePositionEncoding])
def test_a_step_adds_what_the_whole_sequence_adds_at_that_position(position):
    layer = position()
    layer.build((None, 4), np.random.default_rng(0), np.float64)
    x = np.random.default_rng(1).normal(size=(2, 6, 4))
    whole = layer.forward(x)
    for t in range(6):
        np.testing.assert_allclose(layer.forward_step(x[:, t : t + 1], t), whole[:, t : t + 1])
    with pytest.raises(ValueError, match="position must be >= 0"):
        layer.forward_step(x[:, :1], -1)
    with pytest.raises(TypeError, match="position must be a non-negative integer"):
        layer.forward_step(x[:, :1], 1.5)


def test_a_step_past_the_table_is_refused():
    layer = PositionEmbedding(3)
    layer.build((None, 2), np.random.default_rng(0))
    with pytest.raises(ValueError, match="below sequence_length=3, got 3"):
        layer.forward_step(np.zeros((1, 1, 2)), 3)


@pytest.mark.parametrize(
    "position", [lambda: PositionEmbedding(6, initializer="he_normal"), SinePositionEncoding]
)
def test_position_models_save_and_load_to_the_same_answers(position, tmp_path):
    model = position_model(position(), dtype="float32")
    model.save(tmp_path / "position.npz")
    again = scratchnn.load(tmp_path / "position.npz")
    ids = np.random.default_rng(0).integers(0, 7, (2, 5))
    np.testing.assert_array_equal(again.predict(ids), model.predict(ids))
    assert again.layers[1].get_config() == model.layers[1].get_config()


def test_bad_settings_are_refused_with_their_names():
    with pytest.raises(ValueError, match="sequence_length"):
        PositionEmbedding(0)
    with pytest.raises(ValueError, match="max_wavelength"):
        SinePositionEncoding(max_wavelength=0.5)
    with pytest.raises((ValueError, TypeError), match="initializer"):
        PositionEmbedding(4, initializer="nonsense")
