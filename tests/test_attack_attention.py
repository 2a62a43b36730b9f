"""Hostile and careless calls on attention, positions, stepping and their ONNX export.

Each test pins a failure found by attacking the code: a silent wrong answer (an ONNX file that
ignored padding, a fractional id truncated into another) or a raw NumPy error where the
standards ask for a message naming the argument, what was expected and what came.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from scratchnn import Dense, Embedding, Input, Model, MultiHeadAttention
from scratchnn.datasets import Vocabulary
from scratchnn.layers import Masking, PositionEmbedding, SinePositionEncoding
from scratchnn.plot.attention import attention_weights
from scratchnn.stepping import Stepper


def causal_model(dtype: str = "float32") -> Model:
    ids = Input(shape=(None,), dtype="int64")
    x = PositionEmbedding(6)(Embedding(7, 8)(ids))
    h = MultiHeadAttention(2, 4)(x, x, use_causal_mask=True)
    return Model(ids, Dense(7, "softmax")(h), seed=0, dtype=dtype)


# -- Stepper: ids are checked as predict checks them, before any cast ---------------------------
@pytest.mark.parametrize(
    ("ids", "error", "words"),
    [
        (np.array([1.5]), TypeError, "ids must hold integers"),
        (np.array([np.nan]), ValueError, "ids must be finite"),
        (np.array([True]), TypeError, "ids must hold integers"),
        (np.array(["a"]), TypeError, "ids must hold numbers"),
        (np.array([1e30]), ValueError, "ids must fit in int64"),
    ],
)
def test_stepper_refuses_ids_that_are_not_ids_and_changes_nothing(ids, error, words):
    model = causal_model()
    stepper = Stepper(model)
    first = stepper.step(np.array([2]))
    with pytest.raises(error, match=words):
        stepper.step(ids)
    assert (stepper.positions, stepper.rows) == (1, 1)
    second = stepper.step(np.array([3]))  # goes on as if the bad call never came
    expected = model.predict(np.array([[2, 3]]))
    np.testing.assert_allclose(first, expected[:, 0], atol=1e-6)
    np.testing.assert_allclose(second, expected[:, 1], atol=1e-6)


def test_stepper_takes_whole_floats_as_predict_does():
    model = causal_model()
    np.testing.assert_array_equal(Stepper(model).step(np.array([3.0])),
                                  Stepper(model).step(np.array([3])))  # fmt: skip


# -- MultiHeadAttention.forward_step: shapes checked, messages ours ------------------------------
@pytest.fixture
def attention():
    model = causal_model()
    return next(layer for layer in model.layers if isinstance(layer, MultiHeadAttention))


def test_forward_step_refuses_a_cache_from_another_batch(attention):
    _, cache = attention.forward_step([np.ones((2, 1, 8))] * 2)
    with pytest.raises(
        ValueError, match=r"cache\['key'\] must be .*\(3, 2, t, 4\).*got \(2, 2, 1, 4\)"
    ):
        attention.forward_step([np.ones((3, 1, 8))] * 2, cache)
    with pytest.raises(ValueError, match=r"cache\['key'\] must be .*got \(3,\)"):
        attention.forward_step([np.ones((2, 1, 8))] * 2, {"key": np.ones(3), "value": np.ones(3)})


def test_forward_step_refuses_wrong_widths_and_counts(attention):
    with pytest.raises(ValueError, match=r"query should be \(2, 1, 8\), got \(2, 1, 5\)"):
        attention.forward_step([np.ones((2, 1, 5))] * 2)
    with pytest.raises(ValueError, match=r"value should be \(2, 1, 8\), got \(3, 1, 8\)"):
        attention.forward_step([np.ones((2, 1, 8)), np.ones((3, 1, 8))])
    with pytest.raises(TypeError, match="inputs must be a list .*got a list of 1"):
        attention.forward_step([np.ones((2, 1, 8))])


# -- position layers' forward_step --------------------------------------------------------------
def test_position_embedding_step_refuses_another_width():
    layer = PositionEmbedding(4)
    layer.build((None, 8), np.random.default_rng(0))
    with pytest.raises(
        ValueError, match=r"forward_step takes x of shape \(N, 1, 8\).*got \(1, 1, 5\)"
    ):
        layer.forward_step(np.ones((1, 1, 5)), 1)


def test_sine_step_at_a_position_beyond_int64():
    layer = SinePositionEncoding()
    layer.build((None, 4))
    y = layer.forward_step(np.zeros((1, 1, 4)), 10**20)
    assert y.shape == (1, 1, 4) and np.all(np.isfinite(y))
    with pytest.raises(ValueError, match="forward_step takes x of shape"):
        layer.forward_step(np.zeros((1, 4)), 0)


# -- attention_weights: ids checked before they are read as characters --------------------------
def test_attention_weights_refuses_nan_ids_before_decoding():
    """NaN was cast to an id first (NumPy's "invalid value encountered in cast" and a message
    about id -9223372036854775808); now it is refused as predict refuses it."""
    model = causal_model()
    vocabulary = Vocabulary().fit("abcdefg")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="inputs must be finite"):
            attention_weights(model, np.array([np.nan, 2.0]), vocabulary=vocabulary)


# -- ONNX: padded steps are blocked in the file as in predict -----------------------------------
def _ort_diff(model: Model, feeds: list) -> float:
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from scratchnn.export import to_onnx

    proto = to_onnx(model)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [each.name for each in session.get_inputs()]
    got = session.run(None, dict(zip(names, feeds, strict=True)))[0]
    return float(np.abs(got - model.predict(feeds if len(feeds) > 1 else feeds[0])).max())


@pytest.mark.parametrize("causal", [False, True])
def test_onnx_attention_blocks_embedding_padding(causal):
    ids = Input(shape=(None,), dtype="int64")
    x = Embedding(7, 8, mask_zero=True)(ids)
    h = MultiHeadAttention(2, 4)(x, x, use_causal_mask=causal)
    model = Model(ids, Dense(3)(h), seed=0)
    padded = np.array([[1, 2, 3, 0, 0], [4, 5, 0, 0, 0]], dtype=np.int64)
    assert _ort_diff(model, [padded]) < 1e-5


def test_onnx_attention_blocks_masking_padding():
    x = Input(shape=(None, 4))
    masked = Masking()(x)
    model = Model(x, MultiHeadAttention(2, 4)(masked, masked), seed=0)
    data = np.random.default_rng(0).normal(size=(2, 5, 4)).astype(np.float32)
    data[0, 3:] = 0.0
    assert _ort_diff(model, [data]) < 1e-5


def test_onnx_cross_attention_masks_only_the_padded_input():
    """The query padded, the value not: only the query's rows are blocked."""
    ids = Input(shape=(None,), dtype="int64")
    other = Input(shape=(None, 6))
    query = Embedding(7, 8, mask_zero=True)(ids)
    model = Model([ids, other], MultiHeadAttention(2, 4)(query, other), seed=0)
    padded = np.array([[1, 2, 0], [3, 0, 0]], dtype=np.int64)
    values = np.random.default_rng(1).normal(size=(2, 4, 6)).astype(np.float32)
    assert _ort_diff(model, [padded, values]) < 1e-5


def test_fit_on_sequences_longer_than_the_table_says_so_and_changes_nothing():
    """The message spoke of generation during fit; now it names the table and the length."""
    model = causal_model()
    before = [p.copy() for layer in model.layers for p in layer.params.values()]
    ids = np.random.default_rng(0).integers(0, 7, (4, 7))
    with pytest.raises(
        ValueError, match=r"holds 6 positions \(sequence_length\), got sequences of 7"
    ) as error:
        model.fit(ids, ids, loss="sparse_categorical_crossentropy", epochs=1, verbose=0)
    assert "generation" not in str(error.value)
    after = [p for layer in model.layers for p in layer.params.values()]
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))


# -- overflow is reported, never a silent row of zeros ------------------------------------------
def test_masked_softmax_tells_an_overflowed_row_from_a_blocked_one():
    from scratchnn.layers.masked_softmax import masked_softmax

    scores = np.array([[-np.inf, -np.inf, -np.inf], [1.0, 2.0, 3.0], [0.0, 0.0, 5.0]])
    blocked = np.array([[False, False, True], [True, True, True], [False, False, False]])
    with np.errstate(invalid="ignore"):
        weights = masked_softmax(scores, blocked)
    assert np.isnan(weights[0]).all()  # overflowed, not blocked: NaN, not zeros
    np.testing.assert_array_equal(weights[1], 0.0)  # blocked everywhere: zeros
    np.testing.assert_allclose(weights[2].sum(), 1.0)


def test_attention_on_inputs_too_large_for_float32_warns_instead_of_giving_zeros():
    x = Input(shape=(None, 4))
    model = Model(x, MultiHeadAttention(2, 4)(x, x, use_causal_mask=True), seed=0)
    huge = np.full((1, 3, 4), 1e25) * np.array([1.0, -1.0, 1.0, -1.0])
    with pytest.warns(RuntimeWarning, match="too large for the weights in float32"):
        y = model.predict(huge)
    assert not np.isfinite(y).any()


def test_onnx_attention_overflow_gives_nan_as_predict_not_zeros():
    """With blocked scores set to the dtype's lowest value, a row whose open scores overflowed
    to -inf put its weight on the blocked entries, then zeroed: the file gave ``bo``."""
    x = Input(shape=(None, 4))
    model = Model(x, MultiHeadAttention(2, 4)(x, x, use_causal_mask=True), seed=0)
    huge = (np.full((1, 3, 4), 1e25) * np.array([1.0, -1.0, 1.0, -1.0])).astype(np.float32)
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from scratchnn.export import to_onnx

    session = ort.InferenceSession(
        to_onnx(model).SerializeToString(), providers=["CPUExecutionProvider"]
    )
    got = session.run(None, {session.get_inputs()[0].name: huge})[0]
    with pytest.warns(RuntimeWarning, match="too large"):
        expected = model.predict(huge)
    assert np.isnan(got).all() and np.isnan(expected).all()
