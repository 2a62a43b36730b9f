"""Embedding, SimpleRNN, LSTM, GRU and Bidirectional: gradients, shapes, options, errors."""

from __future__ import annotations

import numpy as np
import pytest

from scratchnn import (
    GRU,
    LSTM,
    Adam,
    Bidirectional,
    Concatenate,
    Dense,
    Embedding,
    Input,
    Model,
    Sequential,
    SimpleRNN,
    gradcheck,
)
from scratchnn.initializers import Orthogonal, get_initializer, initializer_config

TOLERANCE = 1e-6
RECURRENT = [SimpleRNN, LSTM, GRU]


def _check(model, X, y, loss="mse", **kwargs):
    report = gradcheck(model, X, y, loss=loss, **kwargs)
    assert report.worst <= TOLERANCE, report.errors
    return report


# -- gradients of every layer and option ---------------------------------------------------------
@pytest.mark.parametrize("layer_class", RECURRENT, ids=lambda c: c.__name__)
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_each_layer_matches_finite_differences(layer_class, return_sequences, go_backwards, rng):
    layer = layer_class(3, return_sequences=return_sequences, go_backwards=go_backwards)
    model = Sequential([layer, Dense(2)], seed=0, dtype="float64")
    X = rng.normal(size=(3, 4, 2))
    y = rng.normal(size=(3, 4, 2) if return_sequences else (3, 2))
    report = _check(model, X, y)
    assert {"layers[0].W", "layers[0].U", "layers[0].b", "X"} <= set(report.errors)


@pytest.mark.parametrize("layer_class", RECURRENT, ids=lambda c: c.__name__)
@pytest.mark.parametrize("return_sequences", [False, True])
def test_returned_states_carry_their_gradients(layer_class, return_sequences, rng):
    x = Input(shape=(4, 2))
    output, *states = layer_class(3, return_state=True, return_sequences=return_sequences)(x)
    assert len(states) == (2 if layer_class is LSTM else 1)
    heads = [Dense(2)(output)] + [Dense(2)(state) for state in states]
    model = Model(x, heads, seed=1)
    targets = [rng.normal(size=(3, 4, 2) if return_sequences else (3, 2))]
    targets += [rng.normal(size=(3, 2)) for _ in states]
    _check(model, rng.normal(size=(3, 4, 2)), targets)


@pytest.mark.parametrize("layer_class", RECURRENT, ids=lambda c: c.__name__)
def test_initial_states_are_inputs_with_gradients(layer_class, rng):
    x = Input(shape=(4, 2), name="x")
    n_states = 2 if layer_class is LSTM else 1
    starts = [Input(shape=(3,), name=f"s{i}") for i in range(n_states)]
    layer = layer_class(3, return_sequences=True)
    model = Model([x, *starts], Dense(2)(layer([x, *starts])), seed=2)
    assert layer.takes_list
    X = [rng.normal(size=(3, 4, 2))] + [rng.normal(size=(3, 3)) for _ in starts]
    report = _check(model, X, rng.normal(size=(3, 4, 2)))
    assert {f"X['s{i}']" for i in range(n_states)} <= set(report.errors)
    # a nonzero start changes the output: the states are used, not ignored
    zero = [X[0]] + [np.zeros_like(s) for s in X[1:]]
    assert not np.allclose(model.predict(X), model.predict(zero))


@pytest.mark.parametrize("layer_class", RECURRENT, ids=lambda c: c.__name__)
def test_dropout_masks_fixed_per_sequence_match_finite_differences(layer_class, rng):
    layer = layer_class(3, dropout=0.3, recurrent_dropout=0.4, return_sequences=True)
    model = Sequential([layer, Dense(2)], seed=3, dtype="float64")
    _check(model, rng.normal(size=(4, 5, 2)), rng.normal(size=(4, 5, 2)))


def test_dropout_acts_in_training_only_with_one_mask_per_sequence(rng):
    layer = SimpleRNN(4, dropout=0.5, return_sequences=True)
    layer.build((6, 3), np.random.default_rng(0), np.float64)
    x = rng.normal(size=(2, 6, 3))
    np.testing.assert_array_equal(layer.forward(x), layer.forward(x))
    assert not np.allclose(layer.forward(x, training=True), layer.forward(x))
    _, mask, *_ = layer.save_record()
    assert mask.shape == (2, 3) and set(np.unique(mask)) <= {0.0, 2.0}


def test_stacked_layers_match_finite_differences(rng):
    model = Sequential(
        [LSTM(3, return_sequences=True), GRU(3, return_sequences=True, go_backwards=True),
         SimpleRNN(2)], seed=4, dtype="float64",
    )  # fmt: skip
    _check(model, rng.normal(size=(3, 5, 2)), rng.normal(size=(3, 2)))


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_each_merge_mode_matches_finite_differences(
    merge_mode, return_sequences, rng
):
    layer = Bidirectional(LSTM(3, return_sequences=return_sequences), merge_mode=merge_mode)
    model = Sequential([layer, Dense(2)], seed=5, dtype="float64")
    X = rng.normal(size=(3, 4, 2))
    report = _check(model, X, rng.normal(size=(3, 4, 2) if return_sequences else (3, 2)))
    assert {"layers[0].forward_W", "layers[0].backward_U", "layers[0].backward_b"} <= set(
        report.errors
    )


@pytest.mark.parametrize("layer_class", RECURRENT, ids=lambda c: c.__name__)
def test_bidirectional_with_states_matches_finite_differences(layer_class, rng):
    x = Input(shape=(4, 2))
    output, *states = Bidirectional(layer_class(3, return_state=True), merge_mode="sum")(x)
    model = Model(x, Dense(2)(Concatenate()([output, *states])), seed=6)
    _check(model, rng.normal(size=(3, 4, 2)), rng.normal(size=(3, 2)))


def test_layers_called_twice_share_weights_and_sum_their_gradients(rng):
    a, b = Input(shape=(None, 2), name="a"), Input(shape=(None, 2), name="b")
    shared, both = LSTM(3, return_sequences=True), Bidirectional(GRU(2), merge_mode="sum")
    joined = Concatenate()([both(shared(a)), both(shared(b))])
    model = Model([a, b], Dense(2)(joined), seed=8)
    X = [rng.normal(size=(3, 4, 2)), rng.normal(size=(3, 3, 2))]
    report = _check(model, X, rng.normal(size=(3, 2)))
    assert {"X['a']", "X['b']"} <= set(report.errors)


def test_bidirectional_concat_is_the_forward_pass_and_the_reversed_backward_pass(rng):
    inner = GRU(3, return_sequences=True)
    layer = Bidirectional(inner)
    layer.build((5, 2), np.random.default_rng(0), np.float64)
    x = rng.normal(size=(2, 5, 2))
    forward_copy = GRU(3, return_sequences=True)
    forward_copy.build((5, 2), np.random.default_rng(1), np.float64)
    for name in ("W", "U", "b"):
        forward_copy.params[name][...] = layer.params[f"backward_{name}"]
    reversed_run = forward_copy.forward(x[:, ::-1])[:, ::-1]
    y = layer.forward(x)
    np.testing.assert_allclose(y[..., 3:], reversed_run, rtol=1e-12)
    assert y.shape == (2, 5, 6)


def test_embedding_then_recurrent_layers_match_finite_differences(rng):
    ids = Input(shape=(5,), dtype="int64")
    h = LSTM(3, return_sequences=True)(Embedding(7, 4)(ids))
    model = Model(ids, Dense(2)(Bidirectional(SimpleRNN(2))(h)), seed=7)
    report = _check(model, rng.integers(0, 7, (4, 5)), rng.normal(size=(4, 2)), check_input=False)
    assert any(name.endswith(".embeddings") for name in report.errors)


# -- Embedding ------------------------------------------------------------------------------------
def test_embedding_looks_rows_up_and_scatters_gradients_with_repeats():
    layer = Embedding(5, 2)
    layer.build((3,), np.random.default_rng(0), np.float64)
    table = layer.params["embeddings"]
    ids = np.array([[1, 1, 4], [0, 1, 2]])
    np.testing.assert_array_equal(layer.forward(ids, training=True), table[ids])
    grad = np.arange(12, dtype=np.float64).reshape(2, 3, 2)
    assert layer.backward(grad) is None
    expected = np.zeros((5, 2))
    expected[1] = grad[0, 0] + grad[0, 1] + grad[1, 1]
    expected[4], expected[0], expected[2] = grad[0, 2], grad[1, 0], grad[1, 2]
    np.testing.assert_array_equal(layer.grads["embeddings"], expected)
    assert np.all(np.abs(table) <= 0.05)  # Keras's "uniform": U(-0.05, 0.05)


@pytest.mark.parametrize(
    ("ids", "error", "message"),
    [
        (np.array([[1, 5]]), ValueError, r"ids must be in \[0, 5\).*got id 5 at position \(0, 1\)"),
        (np.array([[-1, 0]]), ValueError, r"got id -1 at position \(0, 0\)"),
        (np.array([[1.0, 2.5]]), ValueError, r"integer ids, got 2\.5 at position \(0, 1\)"),
        (np.array([["a", "b"]]), TypeError, "Embedding takes an array of integer ids"),
    ],
)
def test_embedding_refuses_bad_ids_naming_the_id_and_its_position(ids, error, message):
    layer = Embedding(5, 2)
    layer.build((2,), np.random.default_rng(0))
    with pytest.raises(error, match=message):
        layer.forward(ids, training=True)
    assert layer.save_record() is None  # a refused call records nothing


def test_embedding_keeps_integer_ids_and_accepts_whole_floats():
    layer = Embedding(4, 3)
    layer.build((2,), np.random.default_rng(0))
    as_ints = layer.forward(np.array([[3, 0]], dtype=np.int32))
    np.testing.assert_array_equal(as_ints, layer.forward(np.array([[3.0, 0.0]])))
    ids = Input(shape=(None,), dtype="int64")
    embedding = Embedding(4, 3, mask_zero=True)
    model = Model(ids, Dense(1)(LSTM(2)(embedding(ids))), seed=0)
    assert model.predict(np.array([[0, 3, 1]], dtype=np.int64)).shape == (1, 1)
    assert embedding.get_config()["mask_zero"] is True


# -- shapes, settings and configs -----------------------------------------------------------------
def test_open_length_sequences_keep_the_time_axis_open():
    x = Input(shape=(None, 3))
    out = Dense(2)(LSTM(4, return_sequences=True)(x))
    assert out.shape == (None, 2)
    model = Model(x, [out, GRU(5)(x)], seed=0)
    for length in (2, 9):
        sequence, last = model.predict(np.ones((4, length, 3)))
        assert sequence.shape == (4, length, 2) and last.shape == (4, 5)


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: LSTM(0), ValueError, "units"),
        (lambda: GRU(3, dropout=1.0), ValueError, r"dropout must be in \[0, 1\)"),
        (lambda: SimpleRNN(3, return_sequences=1), TypeError, "return_sequences must be True"),
        (lambda: GRU(3, reset_after=1), TypeError, "reset_after must be True or False"),
        (lambda: Bidirectional(Dense(3)), TypeError, "wraps a recurrent layer"),
        (lambda: Bidirectional(LSTM(3), merge_mode="max"), ValueError, "merge_mode must be"),
    ],
)
def test_bad_settings_are_refused_with_the_argument_named(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_inputs_of_the_wrong_rank_or_states_of_the_wrong_shape_are_refused():
    with pytest.raises(ValueError, match=r"sequences of shape \(batch, time, features\)"):
        LSTM(3)(Input(shape=(4,)))
    x, h = Input(shape=(5, 2)), Input(shape=(4,))
    with pytest.raises(ValueError, match=r"initial state 1 must have shape \(None, 3\)"):
        GRU(3)([x, h])
    with pytest.raises(ValueError, match="takes x and 2 initial state"):
        LSTM(3)([x, Input(shape=(3,))])


def test_weights_have_keras_shapes_and_starting_values():
    for layer, gates in [(SimpleRNN(4), 1), (LSTM(4), 4), (GRU(4), 3)]:
        layer.build((6, 3), np.random.default_rng(0), np.float64)
        assert layer.params["W"].shape == (3, gates * 4)
        assert layer.params["U"].shape == (4, gates * 4)
        u = layer.params["U"]
        if gates == 1:
            np.testing.assert_allclose(u @ u.T, np.eye(4), atol=1e-6)  # orthogonal
        else:
            np.testing.assert_allclose(u @ u.T, np.eye(4), atol=1e-6)  # orthonormal rows
    lstm = LSTM(2)
    lstm.build((3, 1), np.random.default_rng(0))
    np.testing.assert_array_equal(lstm.params["b"], [0, 0, 1, 1, 0, 0, 0, 0])
    no_forget = LSTM(2, unit_forget_bias=False)
    no_forget.build((3, 1), np.random.default_rng(0))
    np.testing.assert_array_equal(no_forget.params["b"], np.zeros(8))
    gru = GRU(2)
    gru.build((3, 1), np.random.default_rng(0))
    assert gru.params["b"].shape == (2, 6)


def test_orthogonal_initializer_is_seeded_and_orthogonal_for_any_shape():
    init = get_initializer("orthogonal")
    for shape in [(5, 5), (3, 7), (7, 3), (2, 3, 4)]:
        a = init(shape, np.random.default_rng(1), np.float64)
        b = init(shape, np.random.default_rng(1), np.float64)
        np.testing.assert_array_equal(a, b)
        matrix = a.reshape(-1, shape[-1])
        small = min(matrix.shape)
        gram = matrix.T @ matrix if matrix.shape[0] >= matrix.shape[1] else matrix @ matrix.T
        np.testing.assert_allclose(gram, np.eye(small), atol=1e-12)
    doubled = Orthogonal(gain=2.0)((4, 4), np.random.default_rng(0), np.float64)
    np.testing.assert_allclose(doubled @ doubled.T, 4 * np.eye(4), atol=1e-12)
    assert initializer_config(Orthogonal(2.0)) == {"name": "orthogonal", "gain": 2.0}
    assert initializer_config(init) == "orthogonal"
    assert get_initializer({"name": "orthogonal", "gain": 2.0}).gain == 2.0
    with pytest.raises(ValueError, match="at least 2 axes"):
        init((3,), np.random.default_rng(0))


@pytest.mark.parametrize(
    "layer",
    [
        SimpleRNN(3, activation="relu", go_backwards=True, dropout=0.1),
        LSTM(3, return_sequences=True, return_state=True, unit_forget_bias=False,
             kernel_regularizer="l2", recurrent_initializer={"name": "orthogonal", "gain": 0.5}),
        GRU(3, use_bias=False, recurrent_dropout=0.2),
        Bidirectional(GRU(3, return_sequences=True), merge_mode="ave"),
        Embedding(9, 2, mask_zero=True),
    ],
    ids=repr,
)  # fmt: skip
def test_config_round_trips_and_repr_names_the_settings(layer):
    copy = type(layer).from_config(layer.get_config())
    assert copy.get_config() == layer.get_config()
    assert repr(copy) == repr(layer)
    assert repr(layer).startswith(type(layer).__name__ + "(")


def test_inference_writes_nothing_on_the_layer(rng):
    layer = LSTM(3, return_sequences=True)
    layer.build((4, 2), np.random.default_rng(0))
    x = rng.normal(size=(2, 4, 2)).astype(np.float32)
    before = x.copy()
    layer.forward(x)
    assert layer.save_record() is None
    np.testing.assert_array_equal(x, before)
    with pytest.raises(ValueError, match="needs a training forward first"):
        layer.backward(np.ones((2, 4, 3)))


# -- a task it learns -----------------------------------------------------------------------------
def test_lstm_learns_the_sign_of_a_sequence_sum():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 8, 1))
    y = (X.sum(axis=(1, 2)) > 0).astype(float)
    model = Sequential([LSTM(8), Dense(1, "sigmoid")], seed=0)
    model.fit(X[:500], y[:500], loss="binary_crossentropy", optimizer=Adam(0.02), epochs=15,
              batch_size=32, verbose=0)  # fmt: skip
    accuracy = np.mean((model.predict(X[500:])[:, 0] > 0.5) == y[500:])
    assert accuracy > 0.9, accuracy


def test_bidirectional_inference_writes_nothing_once_built(rng):
    model = Sequential([Bidirectional(LSTM(3)), Dense(1)], seed=0)
    X = rng.normal(size=(4, 5, 2))
    model.predict(X)
    inner = model.layers[0].forward_layer
    before = (inner.params, inner.grads, inner.rng)
    model.predict(X)
    now = (inner.params, inner.grads, inner.rng)
    assert all(a is b for a, b in zip(now, before, strict=True))
    assert np.shares_memory(inner.params["W"], model.params)  # views into the model's buffer


def test_a_stack_starting_with_an_embedding_keeps_ids_integer_and_takes_any_length():
    """Sequential hands an Embedding its ids as integers (never cast to float), and an open
    time axis in its input_shape takes sequences of any length."""
    from scratchnn import Sequential
    from scratchnn.layers import Dense, Embedding

    seen = []

    class Watched(Embedding):
        def forward(self, x, training=False):
            seen.append(np.asarray(x).dtype.kind)
            return super().forward(x, training)

    model = Sequential([Watched(10, 4, input_shape=(None,)), LSTM(8, return_sequences=True),
                        Dense(10, "softmax")], seed=0)  # fmt: skip
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 10, (32, 5))
    model.fit(ids, np.roll(ids, -1, axis=1), epochs=1, batch_size=8, verbose=0)
    assert model.input_dtypes == ["int64"] and set(seen) == {"i"}
    assert model.predict(rng.integers(0, 10, (3, 9))).shape == (3, 9, 10)
    with pytest.raises(ValueError, match=r"Embedding ids must be in \[0, 10\)"):
        model.predict(np.full((1, 4), 12))
