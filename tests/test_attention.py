"""MultiHeadAttention: gradients against finite differences, masks that give exactly zero weight,
causality, a closed form, files, summaries, the key/value cache and bad input."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from fuzz_model_files import edit_header

from scratchnn import Input, Model, ModelFileError, MultiHeadAttention, gradcheck, load
from scratchnn.layers import Embedding
from scratchnn.layers.masked_softmax import masked_softmax

RNG = np.random.default_rng(0)


def _self_attention(steps=5, width=6, dtype="float64", seed=0, **settings):
    causal = settings.pop("use_causal_mask", False)
    x = Input(shape=(steps, width))
    layer = MultiHeadAttention(**settings)
    return Model(x, layer(x, x, use_causal_mask=causal), seed=seed, dtype=dtype), layer


def _with_bias(model, layer, seed=1):
    """Non-zero biases, so a wrong bias gradient shows."""
    rng = np.random.default_rng(seed)
    for name, value in layer.params.items():
        if name.startswith("b"):
            value[...] = rng.normal(scale=0.3, size=value.shape)
    return model


# Each case: (settings, query steps, value steps, key given, attention mask given)
CASES = {
    "one head": (dict(num_heads=1, key_dim=3), 4, 4, False, False),
    "two heads, causal": (dict(num_heads=2, key_dim=3, use_causal_mask=True), 4, 4, False, False),
    "three heads, d_k != d_v": (dict(num_heads=3, key_dim=2, value_dim=4), 4, 4, False, False),
    "four heads, Tq != Tk": (dict(num_heads=4, key_dim=2), 3, 5, False, False),
    "causal, Tq > Tk": (dict(num_heads=2, key_dim=2, use_causal_mask=True), 5, 3, False, False),
    "cross attention with a key": (dict(num_heads=2, key_dim=3, value_dim=2), 3, 4, True, False),
    "attention mask": (dict(num_heads=2, key_dim=3), 4, 5, False, True),
    "mask, causal, key": (dict(num_heads=3, key_dim=2, use_causal_mask=True), 4, 4, True, True),
    "no bias": (dict(num_heads=2, key_dim=3, use_bias=False), 4, 4, False, False),
    "output_shape": (dict(num_heads=2, key_dim=3, output_shape=5), 3, 4, False, False),
    "dropout": (dict(num_heads=2, key_dim=3, dropout=0.3), 4, 4, False, False),
}


def _cross_model(settings, steps_q, steps_k, key, mask, scores=False, width_q=5, seed=0):
    settings = dict(settings)
    causal = settings.pop("use_causal_mask", False)
    q = Input(shape=(steps_q, width_q), name="q")
    v = Input(shape=(steps_k, 4), name="v")
    inputs = [q, v]
    call: dict = {"use_causal_mask": causal, "return_attention_scores": scores}
    if key:
        call["key"] = Input(shape=(steps_k, 3), name="k")
        inputs.append(call["key"])
    if mask:
        call["attention_mask"] = Input(shape=(steps_q, steps_k), name="mask")
        inputs.append(call["attention_mask"])
    layer = MultiHeadAttention(**settings)
    out = layer(q, v, **call)
    model = Model(inputs, out, seed=seed, dtype="float64")
    return model, layer


def _arrays(model, batch=2, seed=0):
    rng = np.random.default_rng(seed)
    arrays = []
    for name, shape in zip(model.input_names, model.input_shapes, strict=True):
        if name == "mask":
            allowed = (rng.random((batch, *shape)) < 0.6).astype(float)
            allowed[0, 1] = 0.0  # one query that may attend to nothing at all
            arrays.append(allowed)
        else:
            arrays.append(rng.normal(size=(batch, *shape)))
    return arrays


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_gradients_match_finite_differences(case):
    settings, steps_q, steps_k, key, mask = case
    model, layer = _cross_model(settings, steps_q, steps_k, key, mask)
    _with_bias(model, layer)
    X = _arrays(model)
    y = np.random.default_rng(1).normal(size=(2, *model.output_shapes[0]))
    report = gradcheck(model, X, y, loss="mse")
    assert report.worst <= 1e-6, report.errors
    assert {f"{layer.name}.Wq", f"{layer.name}.Wo", "X['q']", "X['v']"} <= set(report.errors)


def test_gradients_through_the_returned_weights_match_finite_differences():
    model, layer = _cross_model(dict(num_heads=2, key_dim=3), 4, 3, False, True, scores=True)
    _with_bias(model, layer)
    rng = np.random.default_rng(2)
    targets = [rng.normal(size=(2, 4, 5)), rng.random((2, 2, 4, 3))]
    report = gradcheck(model, _arrays(model), targets, loss="mse")
    assert report.worst <= 1e-6, report.errors


def test_a_shared_layer_sums_the_gradients_of_its_calls():
    x = Input(shape=(4, 6))
    layer = MultiHeadAttention(num_heads=2, key_dim=3)
    h = layer(x, x, use_causal_mask=True)
    model = Model(x, layer(h, x), seed=0, dtype="float64")
    X, y = RNG.normal(size=(2, 4, 6)), RNG.normal(size=(2, 4, 6))
    report = gradcheck(_with_bias(model, layer), X, y, loss="mse")
    assert report.worst <= 1e-6, report.errors


def test_padding_masks_block_padded_keys_and_pass_the_query_mask_on():
    ids = Input(shape=(None,), dtype="int64")
    embedding = Embedding(10, 6, mask_zero=True)
    e = embedding(ids)
    layer = MultiHeadAttention(num_heads=2, key_dim=3)
    model = Model(ids, layer(e, e, use_causal_mask=True), seed=0, dtype="float64")
    # unit-sized embeddings (not U(-0.05, 0.05)): gradients big enough for finite differences
    embedding.params["embeddings"][...] = np.random.default_rng(3).normal(size=(10, 6))
    padded = np.array([[3, 1, 4, 1, 5], [2, 7, 2, 0, 0]])
    together = model.predict(padded)
    alone = model.predict(padded[1:, :3])
    np.testing.assert_allclose(together[1, :3], alone[0], rtol=1e-12)
    masks: list = []
    model.topology.forward([padded], training=False, output_masks=masks)
    np.testing.assert_array_equal(masks[0], padded != 0)
    y = np.random.default_rng(0).normal(size=(2, 5, 6))
    report = gradcheck(_with_bias(model, layer), padded, y, loss="mse", check_input=False)
    assert report.worst <= 1e-6, report.errors


def test_masked_entries_weigh_exactly_nothing_and_a_fully_masked_row_gives_bias_only():
    model, layer = _cross_model(dict(num_heads=2, key_dim=3), 4, 5, False, True, scores=True)
    _with_bias(model, layer)
    q, v, allowed = _arrays(model)
    with np.errstate(all="raise"), warnings.catch_warnings():
        warnings.simplefilter("error")
        y, weights = model.predict([q, v, allowed])
    blocked = np.broadcast_to((allowed == 0)[:, None], weights.shape)
    assert np.all(weights[blocked] == 0.0)
    assert np.all(weights[0, :, 1] == 0.0)  # the query that may attend to nothing
    np.testing.assert_array_equal(y[0, 1], layer.params["bo"])
    rows = weights.sum(axis=-1)
    open_rows = allowed.any(axis=-1)[:, None].repeat(2, axis=1)
    np.testing.assert_allclose(rows[open_rows], 1.0, rtol=1e-12)


def test_masked_softmax_of_a_fully_blocked_row_is_zeros_without_warnings():
    scores = np.array([[1.0, 2.0, 3.0], [5.0, -1.0, 0.0]], dtype=np.float32)
    blocked = np.array([[False, True, False], [True, True, True]])
    with np.errstate(all="raise"):
        weights = masked_softmax(scores.copy(), blocked)
    assert weights.dtype == np.float32
    np.testing.assert_array_equal(weights[1], 0.0)
    assert weights[0, 1] == 0.0
    np.testing.assert_allclose(weights[0], [1 / (1 + np.e**2), 0, np.e**2 / (1 + np.e**2)],
                               rtol=1e-6)  # fmt: skip
    huge = masked_softmax(np.array([[1000.0, 0.0]]))  # subtracting the maximum: no overflow
    np.testing.assert_allclose(huge, [[1.0, 0.0]])


def test_causal_output_at_a_position_ignores_every_later_position():
    model, _ = _self_attention(num_heads=2, key_dim=3, use_causal_mask=True)
    X = RNG.normal(size=(2, 5, 6))
    changed = X.copy()
    changed[:, 3:] = RNG.normal(size=(2, 2, 6))
    before, after = model.predict(X), model.predict(changed)
    np.testing.assert_array_equal(before[:, :3], after[:, :3])
    assert not np.allclose(before[:, 3:], after[:, 3:])


def test_one_head_with_identity_projections_is_softmax_of_q_k_over_sqrt_d_times_v():
    model, layer = _self_attention(num_heads=1, key_dim=6)
    eye = np.eye(6)
    for name in ("Wq", "Wk", "Wv"):
        layer.params[name][...] = eye[:, None, :]
    layer.params["Wo"][...] = eye[None]
    X = RNG.normal(size=(3, 5, 6))
    scores = X @ X.transpose(0, 2, 1) / np.sqrt(6)
    expected = np.exp(scores) / np.exp(scores).sum(axis=-1, keepdims=True) @ X
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-12)


def test_without_a_causal_mask_permuting_the_positions_permutes_the_output():
    model, _ = _self_attention(num_heads=3, key_dim=2)
    X = RNG.normal(size=(2, 5, 6))
    order = np.array([3, 0, 4, 1, 2])
    np.testing.assert_allclose(model.predict(X[:, order]), model.predict(X)[:, order], rtol=1e-10)


def test_open_time_axes_take_any_length_and_float32_stays_float32():
    x = Input(shape=(None, 6))
    m = Input(shape=(None, 4))
    out = MultiHeadAttention(num_heads=2, key_dim=3)(x, m, use_causal_mask=True)
    model = Model([x, m], out, seed=0)
    for steps_q, steps_k in ((3, 4), (7, 2)):
        y = model.predict([np.ones((2, steps_q, 6)), np.ones((2, steps_k, 4))])
        assert y.shape == (2, steps_q, 6) and y.dtype == np.float32


def test_inference_writes_nothing_on_the_layer():
    model, layer = _self_attention(num_heads=2, key_dim=3)
    before = dict(vars(layer))
    model.predict(RNG.normal(size=(2, 5, 6)))
    assert set(vars(layer)) == set(before) and layer._cache is None


@pytest.mark.parametrize("scores", [False, True])
def test_a_saved_model_predicts_bit_identically(tmp_path, scores):
    model, layer = _cross_model(dict(num_heads=2, key_dim=3, value_dim=2, use_causal_mask=True),
                                4, 4, True, True, scores=scores)  # fmt: skip
    _with_bias(model, layer)
    path = tmp_path / "mha.npz"
    model.save(path)
    loaded = load(path)
    X = _arrays(model)
    ours, theirs = model.predict(X), loaded.predict(X)
    for a, b in zip(ours if scores else [ours], theirs if scores else [theirs], strict=True):
        np.testing.assert_array_equal(a, b)
    twin = next(lay for lay in loaded.layers if isinstance(lay, MultiHeadAttention))
    assert twin.get_config() == layer.get_config()


def test_a_model_file_with_a_changed_key_dim_is_refused_before_building(tmp_path):
    model, _ = _self_attention(num_heads=2, key_dim=3)
    path = tmp_path / "mha.npz"
    model.save(path)

    def widen(header):
        for spec in header["model"]["graph"]["layers"]:
            if spec["class_name"] == "MultiHeadAttention":
                spec["config"]["key_dim"] = 4

    edit_header(path, widen)
    with pytest.raises(ModelFileError, match=r"Wq.*shape \(6, 2, 4\)"):
        load(path)


def test_summary_counts_parameters_as_keras_does(capsys):
    # Keras: MultiHeadAttention(num_heads=2, key_dim=2) on query (8, 16) and value (4, 16) has
    # 3 (16*2*2 + 2*2) + (2*2*16 + 16) = 284 parameters.
    q, v = Input(shape=(8, 16)), Input(shape=(4, 16))
    layer = MultiHeadAttention(num_heads=2, key_dim=2)
    model = Model([q, v], layer(q, v), seed=0)
    model.summary()
    printed = capsys.readouterr().out
    assert layer.n_params == 284
    assert "MultiHeadAttention" in printed and "284" in printed
    shapes = {name: value.shape for name, value in layer.params.items()}
    assert shapes == {"Wq": (16, 2, 2), "bq": (2, 2), "Wk": (16, 2, 2), "bk": (2, 2),
                      "Wv": (16, 2, 2), "bv": (2, 2), "Wo": (2, 2, 16), "bo": (16,)}  # fmt: skip
    assert layer.kernel_names == ("Wq", "Wk", "Wv", "Wo")


def test_kernels_start_glorot_uniform_over_the_matrix_they_act_as():
    x = Input(shape=(3, 64))
    layer = MultiHeadAttention(num_heads=4, key_dim=16)
    Model(x, layer(x, x), seed=0)
    limit = np.sqrt(6.0 / (64 + 64))
    for name in ("Wq", "Wk", "Wv", "Wo"):
        values = layer.params[name]
        assert np.abs(values).max() <= limit and np.abs(values).max() > 0.9 * limit


@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-12), ("float32", 2e-5)])
def test_stepping_with_the_cache_gives_what_predict_gives(dtype, rtol):
    model, layer = _self_attention(steps=None, width=6, dtype=dtype, num_heads=3, key_dim=2,
                                   value_dim=4, use_causal_mask=True)  # fmt: skip
    _with_bias(model, layer)
    X = RNG.normal(size=(2, 6, 6)).astype(dtype)
    full = model.predict(X)
    assert layer.steppable
    cache = None
    for t in range(6):
        position = X[:, t : t + 1]
        y, cache = layer.forward_step([position, position], cache)
        assert y.shape == (2, 1, 6) and y.dtype == np.dtype(dtype)
        assert cache["key"].shape == (2, 3, t + 1, 2) and cache["value"].shape == (2, 3, t + 1, 4)
        np.testing.assert_allclose(y[:, 0], full[:, t], rtol=rtol, atol=rtol)
    assert layer._cache is None


def test_only_causal_attention_without_masks_or_weights_out_can_be_stepped():
    _, plain = _self_attention(num_heads=2, key_dim=3)
    assert not plain.steppable
    with pytest.raises(ValueError, match="cannot be stepped"):
        plain.forward_step([np.ones((1, 1, 6))] * 2)
    _, scored = _cross_model(dict(num_heads=2, key_dim=3, use_causal_mask=True), 3, 3, False,
                             False, scores=True)  # fmt: skip
    assert not scored.steppable


@pytest.mark.parametrize(
    "settings, error, message",
    [
        (dict(num_heads=0, key_dim=2), ValueError, "num_heads must be a positive integer, got 0"),
        (dict(num_heads=2, key_dim="a"), TypeError, "key_dim must be a positive integer"),
        (dict(num_heads=2, key_dim=2, value_dim=-1), ValueError, "value_dim"),
        (dict(num_heads=2, key_dim=2, dropout=1.0), ValueError, "dropout"),
        (dict(num_heads=2, key_dim=2, use_bias="yes"), TypeError, "use_bias must be True or"),
    ],
)
def test_bad_settings_are_refused_naming_the_argument(settings, error, message):
    with pytest.raises(error, match=message):
        MultiHeadAttention(**settings)


def test_an_attention_mask_of_the_wrong_shape_is_refused_and_changes_nothing():
    q, v = Input(shape=(4, 6)), Input(shape=(5, 6))
    layer = MultiHeadAttention(num_heads=2, key_dim=3)
    with pytest.raises(ValueError, match=r"attention_mask must have shape .*\(None, 4, 5\).*got "
                                         r"\(None, 5, 4\)"):  # fmt: skip
        layer(q, v, attention_mask=Input(shape=(5, 4)), use_causal_mask=True)
    assert not layer.calls and not layer.use_causal_mask and not layer.attention_mask_input
    with pytest.raises(TypeError, match="needs value"):
        layer(q)
    with pytest.raises(TypeError, match="attention_mask must be a tensor"):
        layer(q, v, attention_mask=np.ones((4, 5)))
    with pytest.raises(ValueError, match="key and value must have the same number of steps"):
        layer(q, v, key=Input(shape=(3, 6)))
    with pytest.raises(ValueError, match="query must be sequences"):
        layer(Input(shape=(6,)), v)


def test_a_second_call_must_keep_the_first_calls_settings():
    x = Input(shape=(4, 6))
    layer = MultiHeadAttention(num_heads=2, key_dim=3)
    h = layer(x, x, use_causal_mask=True)
    with pytest.raises(ValueError, match="first called with use_causal_mask=True"):
        layer(h, h, use_causal_mask=False)
    with pytest.raises(ValueError, match="without an attention_mask"):
        layer(h, h, attention_mask=Input(shape=(4, 4)))
    assert len(layer.calls) == 1
    layer(h, h)  # a flag left out keeps the layer's
    assert len(layer.calls) == 2


def test_the_config_round_trips_through_json():
    layer = MultiHeadAttention(num_heads=2, key_dim=3, value_dim=5, dropout=0.1,
                               kernel_regularizer="l2", output_shape=7)  # fmt: skip
    config = json.loads(json.dumps(layer.get_config()))
    assert MultiHeadAttention.from_config(config).get_config() == layer.get_config()
