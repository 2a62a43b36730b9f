"""GRU(reset_after=False): Keras's other GRU form, the reset applied before the recurrent product.

``hh = tanh(x W_h + (r * h_prev) U_h + b_h)``, ``b (3u,)``; checked against finite differences
for every option, against the equations computed here, through files, stepping and ONNX Runtime.
"""

from __future__ import annotations

import numpy as np
import pytest

from scratchnn import (
    GRU,
    Bidirectional,
    Concatenate,
    Dense,
    Embedding,
    Input,
    Model,
    Sequential,
    gradcheck,
    load,
)

TOLERANCE = 1e-6


def _check(model, X, y, **kwargs):
    report = gradcheck(model, X, y, loss="mse", **kwargs)
    assert report.worst <= TOLERANCE, report.errors
    return report


def _randomise_bias(model, seed=0):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        for name, value in layer.params.items():
            if name.endswith("b"):
                value[...] = rng.normal(0.0, 0.5, value.shape)
    return model


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


# -- gradients of every option -------------------------------------------------------------------
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_matches_finite_differences(return_sequences, go_backwards, rng):
    layer = GRU(3, reset_after=False, return_sequences=return_sequences, go_backwards=go_backwards)
    model = _randomise_bias(Sequential([layer, Dense(2)], seed=0, dtype="float64"))
    X = rng.normal(size=(3, 4, 2))
    y = rng.normal(size=(3, 4, 2) if return_sequences else (3, 2))
    report = _check(model, X, y)
    assert {"layers[0].W", "layers[0].U", "layers[0].b", "X"} <= set(report.errors)


@pytest.mark.parametrize("return_sequences", [False, True])
def test_returned_state_and_initial_state_carry_gradients(return_sequences, rng):
    x, start = Input(shape=(4, 2), name="x"), Input(shape=(3,), name="s0")
    output, state = GRU(3, reset_after=False, return_state=True,
                        return_sequences=return_sequences)([x, start])  # fmt: skip
    model = Model([x, start], [Dense(2)(output), Dense(2)(state)], seed=1)
    X = [rng.normal(size=(3, 4, 2)), rng.normal(size=(3, 3))]
    targets = [rng.normal(size=(3, 4, 2) if return_sequences else (3, 2)), rng.normal(size=(3, 2))]
    report = _check(model, X, targets)
    assert "X['s0']" in report.errors


def test_dropout_and_recurrent_dropout_match_finite_differences(rng):
    layer = GRU(3, reset_after=False, dropout=0.3, recurrent_dropout=0.4, return_sequences=True)
    model = Sequential([layer, Dense(2)], seed=3, dtype="float64")
    _check(model, rng.normal(size=(4, 5, 2)), rng.normal(size=(4, 5, 2)))


@pytest.mark.parametrize("go_backwards", [False, True])
def test_masks_match_finite_differences_and_carry_the_state(go_backwards, rng):
    ids = Input(shape=(None,), dtype="int64")
    layer = GRU(3, reset_after=False, return_sequences=True, go_backwards=go_backwards)
    model = Model(ids, Dense(2)(layer(Embedding(6, 2, mask_zero=True)(ids))), seed=4,
                  dtype="float64")  # fmt: skip
    X = np.array([[1, 2, 3, 0, 0], [4, 5, 1, 2, 3], [2, 0, 0, 0, 0]])
    # eps 1e-5: at 1e-6 rounding alone reaches ~1e-6 here (reset_after=True measures the same)
    report = _check(model, X, rng.normal(size=(3, 5, 2)), check_input=False, eps=1e-5)
    assert {f"{layer.name}.U", f"{layer.name}.b"} <= set(report.errors)
    # the padded row's state at its last real step is the same row's state run cut short
    full = model.predict(X)
    cut = model.predict(X[:1, :3])
    last = 2 if not go_backwards else 4
    np.testing.assert_allclose(full[0, last], cut[0, -1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("go_backwards", [False, True])
def test_every_option_at_once_matches_finite_differences(go_backwards, rng):
    """Masks, dropout, recurrent dropout, an initial state, return_state and a returned
    sequence together, then a masked Bidirectional on top."""
    ids, start = Input(shape=(None,), dtype="int64", name="ids"), Input(shape=(3,), name="s0")
    x = Embedding(6, 2, mask_zero=True)(ids)
    sequence, state = GRU(3, reset_after=False, dropout=0.2, recurrent_dropout=0.3,
                          return_sequences=True, return_state=True,
                          go_backwards=go_backwards)([x, start])  # fmt: skip
    top = Bidirectional(GRU(2, reset_after=False), merge_mode="mul")(sequence)
    model = Model([ids, start], Dense(2)(Concatenate()([top, state])), seed=8, dtype="float64")
    X = [np.array([[1, 2, 3, 0, 0], [4, 5, 1, 2, 3], [2, 0, 0, 0, 0]]), rng.normal(size=(3, 3))]
    report = _check(model, X, rng.normal(size=(3, 2)), check_input=False, eps=1e-5)
    assert len([name for name in report.errors if name.endswith("U")]) == 3


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
def test_bidirectional_matches_finite_differences(merge_mode, rng):
    x = Input(shape=(4, 2))
    output, *states = Bidirectional(GRU(3, reset_after=False, return_state=True),
                                    merge_mode=merge_mode)(x)  # fmt: skip
    model = Model(x, Dense(2)(Concatenate()([output, *states])), seed=6)
    _check(model, rng.normal(size=(3, 4, 2)), rng.normal(size=(3, 2)))


# -- the equations, Keras's layout ---------------------------------------------------------------
def test_keras_layout_and_one_step_in_closed_form(rng):
    layer = GRU(4, reset_after=False, return_state=True)
    layer.build((1, 3), np.random.default_rng(0), np.float64)
    assert layer.params["W"].shape == (3, 12) and layer.params["U"].shape == (4, 12)
    assert layer.params["b"].shape == (12,)
    layer.params["b"][...] = rng.normal(size=12)
    W, U, b = layer.params["W"], layer.params["U"], layer.params["b"]
    x, h0 = rng.normal(size=(2, 3)), rng.normal(size=(2, 4))
    z = _sigmoid(x @ W[:, :4] + h0 @ U[:, :4] + b[:4])  # gates z, r, h in that order
    r = _sigmoid(x @ W[:, 4:8] + h0 @ U[:, 4:8] + b[4:8])
    hh = np.tanh(x @ W[:, 8:] + (r * h0) @ U[:, 8:] + b[8:])
    expected = z * h0 + (1 - z) * hh
    layer.takes_list = True
    out, h = layer.forward([x[:, None], h0])
    np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-14)
    np.testing.assert_array_equal(out, h)
    # the other form differs: reset after the product
    other = GRU(4, reset_after=True)
    other.build((1, 3), np.random.default_rng(0), np.float64)
    assert other.params["b"].shape == (2, 12)


def test_fits_are_bit_identical_on_both_backends():
    from scratchnn import kernels

    if not kernels.numba_installed():
        pytest.skip("numba is not installed")
    rng = np.random.default_rng(7)
    x = rng.normal(size=(40, 6, 3)).astype(np.float32)
    y = rng.normal(size=(40, 2)).astype(np.float32)
    before, results = kernels.get_backend(), {}
    try:
        for backend in ("numpy", "numba"):
            kernels.set_backend(backend)
            model = Sequential([GRU(5, reset_after=False, recurrent_dropout=0.2), Dense(2)],
                               seed=1)  # fmt: skip
            model.fit(x, y, loss="mse", epochs=2, batch_size=8, verbose=0, optimizer="adam")
            results[backend] = model.get_weights() + [model.predict(x)]
    finally:
        kernels.set_backend(before)
    for a, b in zip(results["numba"], results["numpy"], strict=True):
        np.testing.assert_array_equal(a, b)


# -- files, stepping, ONNX -----------------------------------------------------------------------
def test_save_load_is_bit_identical_and_keeps_the_flag(tmp_path, rng):
    model = _randomise_bias(
        Sequential([GRU(5, reset_after=False, return_sequences=True), Dense(2)], seed=0),
    )
    X = rng.normal(size=(3, 6, 2)).astype("float32")
    model.fit(X, rng.normal(size=(3, 6, 2)).astype("float32"), epochs=1, verbose=0)
    model.save(tmp_path / "m.npz")
    loaded = load(tmp_path / "m.npz")
    assert loaded.layers[0].reset_after is False and loaded.layers[0].params["b"].shape == (15,)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert model.layers[0].get_config()["reset_after"] is False


def test_stepping_equals_predict():
    from scratchnn.datasets import Vocabulary
    from scratchnn.text import Stepper

    vocabulary = Vocabulary().fit("abcdefgh")
    ids = Input(shape=(None,), dtype="int64")
    x = GRU(5, reset_after=False, return_sequences=True)(Embedding(len(vocabulary), 4)(ids))
    model = _randomise_bias(Model(ids, Dense(len(vocabulary), "softmax")(x), seed=0,
                                  dtype="float64"))  # fmt: skip
    model.vocabulary = vocabulary
    sequences = np.random.default_rng(1).integers(0, len(vocabulary), size=(3, 9))
    expected = model.predict(sequences)
    stepper = Stepper(model)
    for t in range(sequences.shape[1]):
        np.testing.assert_allclose(stepper.step(sequences[:, t]), expected[:, t], atol=1e-12)


@pytest.mark.parametrize(
    "options",
    [{}, {"return_sequences": True, "go_backwards": True}, {"return_state": True}],
    ids=["defaults", "sequences-backwards", "state"],
)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_onnx_runtime_equals_predict(options, bidirectional):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from scratchnn.export import to_onnx

    x = Input(shape=(None, 3))
    layer = GRU(4, reset_after=False, **options)
    if bidirectional:
        layer = Bidirectional(layer)
    model = _randomise_bias(Model(x, layer(x), seed=0, dtype="float32"))
    proto = to_onnx(model)
    node = next(n for n in proto.graph.node if n.op_type == "GRU")
    attributes = {a.name: a for a in node.attribute}
    assert attributes["linear_before_reset"].i == 0
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    for steps in (3, 11):
        X = np.random.default_rng(steps).normal(size=(4, steps, 3)).astype("float32")
        expected = model.predict(X)
        expected = expected if isinstance(expected, list) else [expected]
        got = session.run(None, {proto.graph.input[0].name: X})
        for out, want in zip(got, expected, strict=True):
            np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)


# -- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [None, 0, "false", 1.0])
def test_reset_after_must_be_a_bool(value):
    with pytest.raises(TypeError, match=r"reset_after must be True or False, got"):
        GRU(3, reset_after=value)


def test_a_wrong_bias_shape_in_weights_is_refused(rng):
    model = Sequential([GRU(3, reset_after=False)], seed=0)
    model.build((4, 2))
    weights = model.get_weights()
    weights[2] = np.zeros((2, 9), "float32")  # the reset_after=True shape
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match=r"\.b must be 1-D, got an array of shape \(2, 9\)"):
        model.set_weights(weights)
    for kept, was in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(kept, was)
