"""Attention maps: the drawn weights are the layer's, one panel per head, clear errors.

The oracle is the weights computed here by hand from the layer's parameters (the formula of
``docs/how/attention.md``), and the layer's own second output in a model that returns them.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from scratchnn import (  # noqa: E402
    Add,
    Dense,
    Embedding,
    Input,
    LayerNormalization,
    Model,
    MultiHeadAttention,
    plot,
)
from scratchnn.datasets import Vocabulary  # noqa: E402
from scratchnn.layers import PositionEmbedding  # noqa: E402

TEXT = "to be or not to be"


def softmax_rows(scores: np.ndarray, blocked: np.ndarray) -> np.ndarray:
    scores = np.where(blocked, -np.inf, scores)
    top = scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores - top)
    return weights / weights.sum(axis=-1, keepdims=True)


def tiny_gpt(vocabulary: Vocabulary, causal: bool = True) -> Model:
    ids = Input(shape=(None,), dtype="int64", name="ids")
    x = Embedding(len(vocabulary), 12, name="tokens")(ids)
    x = PositionEmbedding(32, name="positions")(x)
    h = LayerNormalization(name="norm")(x)
    h = MultiHeadAttention(3, 4, name="attention")(h, h, use_causal_mask=causal)
    x = Add(name="residual")([x, h])
    model = Model(ids, Dense(len(vocabulary), "softmax", name="head")(x), seed=0, dtype="float64")
    model.vocabulary = vocabulary
    return model


@pytest.fixture(scope="module")
def vocabulary() -> Vocabulary:
    return Vocabulary().fit(TEXT)


def expected_weights(model: Model, ids: np.ndarray, causal: bool) -> np.ndarray:
    """The weights by hand from the parameters: embeddings, positions, LayerNormalization,
    then ``softmax(q k^T / sqrt(key_dim))`` per head."""
    layers = {layer.name: layer for layer in model.layers}
    tokens = layers["tokens"].params["embeddings"][ids]
    x = tokens + layers["positions"].params["embeddings"][: len(ids)]
    norm = layers["norm"]
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    h = (x - mean) / np.sqrt(var + norm.epsilon) * norm.params["gamma"] + norm.params["beta"]
    p = layers["attention"].params
    q = np.einsum("tf,fhd->htd", h, p["Wq"]) + p["bq"][:, None]
    k = np.einsum("tf,fhd->htd", h, p["Wk"]) + p["bk"][:, None]
    scores = q @ k.transpose(0, 2, 1) / np.sqrt(q.shape[-1])
    steps = len(ids)
    blocked = (
        np.triu(np.ones((steps, steps), bool), 1) if causal else np.zeros((steps, steps), bool)
    )
    return softmax_rows(scores, blocked)


@pytest.mark.parametrize("causal", [True, False])
def test_attention_weights_equal_the_weights_computed_by_hand(vocabulary, causal):
    model = tiny_gpt(vocabulary, causal)
    weights = plot.attention_weights(model, TEXT)
    ids = vocabulary.encode(TEXT)
    assert weights.shape == (3, len(TEXT), len(TEXT))
    np.testing.assert_allclose(weights, expected_weights(model, ids, causal), atol=1e-12)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, atol=1e-12)
    if causal:
        assert np.all(
            weights[:, np.triu_indices(len(TEXT), 1)[0], np.triu_indices(len(TEXT), 1)[1]] == 0
        )
    # ids, with or without the batch axis, give the same weights
    np.testing.assert_array_equal(plot.attention_weights(model, ids), weights)
    np.testing.assert_array_equal(
        plot.attention_weights(model, ids[None], layer="attention"), weights
    )


def test_the_map_draws_each_heads_weights_with_titles_and_characters(vocabulary):
    model = tiny_gpt(vocabulary)
    weights = plot.attention_weights(model, TEXT)
    fig = plot.plot_attention(model, TEXT)
    panels = [ax for ax in fig.axes if ax.get_images()]
    assert [ax.get_title() for ax in panels] == ["head 0", "head 1", "head 2"]
    for head, ax in enumerate(panels):
        image = ax.get_images()[0]
        np.testing.assert_array_equal(np.asarray(image.get_array()), weights[head])
        assert image.get_clim() == (0.0, 1.0)
        shown = [t.get_text() for t in ax.get_xticklabels()]
        assert shown == [{" ": "\u00b7"}.get(c, c) for c in TEXT]
        assert [t.get_text() for t in ax.get_yticklabels()] == shown
    assert "attention" in fig._suptitle.get_text()


def test_heads_and_a_path_choose_panels_and_save_a_png(vocabulary, tmp_path):
    model = tiny_gpt(vocabulary)
    path = tmp_path / "map.png"
    fig = plot.plot_attention(model, "to be", path, heads=[2, 0], figsize=(4, 2), dpi=50)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    panels = [ax for ax in fig.axes if ax.get_images()]
    assert [ax.get_title() for ax in panels] == ["head 2", "head 0"]
    weights = plot.attention_weights(model, "to be")
    np.testing.assert_array_equal(panels[0].get_images()[0].get_array(), weights[2])
    one = plot.plot_attention(model, "to be", heads=1)
    assert [ax.get_title() for ax in one.axes if ax.get_images()] == ["head 1"]


def test_a_layer_that_returns_its_weights_gives_those_weights():
    query = Input(shape=(4, 6), name="query")
    value = Input(shape=(7, 5), name="value")
    y, scores = MultiHeadAttention(2, 3, name="cross")(query, value, return_attention_scores=True)
    model = Model([query, value], [y, scores], seed=0, dtype="float64")
    rng = np.random.default_rng(0)
    inputs = [rng.normal(size=(4, 6)), rng.normal(size=(1, 7, 5))]
    weights = plot.attention_weights(model, inputs)
    expected = model.predict([inputs[0][None], inputs[1]])[1][0]
    np.testing.assert_array_equal(weights, expected)
    fig = plot.plot_attention(model, inputs)  # no characters: positions on the axes
    assert fig.axes[0].get_ylabel() == "query position"
    assert fig.axes[0].get_xlabel() == "key position"


def test_bad_arguments_are_refused_with_clear_messages(vocabulary):
    model = tiny_gpt(vocabulary)
    with pytest.raises(
        ValueError,
        match=r"must name an attention layer of the model, one of \['attention'\], got 'nope'",
    ):
        plot.plot_attention(model, TEXT, layer="nope")
    with pytest.raises(ValueError, match="layer 'head' is a Dense, not a MultiHeadAttention"):
        plot.attention_weights(model, TEXT, layer="head")
    with pytest.raises(
        ValueError, match=r"index of a MultiHeadAttention in model.layers, one of \[3\], got 2"
    ):
        plot.attention_weights(model, TEXT, layer=2)
    with pytest.raises(TypeError, match="layer must be"):
        plot.attention_weights(model, TEXT, layer=1.5)
    with pytest.raises(ValueError, match=r"heads must be in 0..2 \(the layer has 3\), got 3"):
        plot.plot_attention(model, TEXT, heads=[0, 3])
    with pytest.raises(ValueError, match="one sequence"):
        plot.attention_weights(model, np.zeros((2, 5), np.int64))
    with pytest.raises(ValueError, match="non-empty prompt"):
        plot.attention_weights(model, "")
    no_words = tiny_gpt(vocabulary)
    with pytest.raises(TypeError, match="vocabulary="):
        plot.attention_weights(no_words, TEXT, vocabulary="abc")
    x = Input(shape=(3,))
    with pytest.raises(ValueError, match="no MultiHeadAttention layer"):
        plot.attention_weights(Model(x, Dense(2)(x)), np.zeros(3))
