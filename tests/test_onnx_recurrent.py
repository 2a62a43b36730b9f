"""ONNX export of embeddings and recurrent layers: Gather, RNN, LSTM and GRU, both directions.

The oracle is our own ``predict``. Float32 files run in ONNX Runtime; ONNX Runtime has no
float64 kernels for RNN, LSTM and GRU on CPU (a test below holds that claim, which the docs
make), so float64 files run in ``onnx.reference.ReferenceEvaluator``, ONNX's own Python
implementation of each operator. Every model takes sequences with an open time axis and runs on
two lengths. Tolerance ``|got - expected| <= tol * (1 + |expected|)``.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx.reference import ReferenceEvaluator  # noqa: E402

from scratchnn import (  # noqa: E402
    GRU,
    LSTM,
    Bidirectional,
    Dense,
    Embedding,
    Input,
    Model,
    Sequential,
    SimpleRNN,
)
from scratchnn.export import to_onnx  # noqa: E402

TOLERANCE = {"float32": 1e-5, "float64": 1e-10}
LENGTHS = (3, 11)
RECURRENT = {"SimpleRNN": SimpleRNN, "LSTM": LSTM, "GRU": GRU}
OPERATOR = {"SimpleRNN": "RNN", "LSTM": "LSTM", "GRU": "GRU"}
OPTIONS = [
    dict(zip(("return_sequences", "return_state", "go_backwards"), flags, strict=True))
    for flags in itertools.product((False, True), repeat=3)
]


def option_id(options: dict) -> str:
    return "-".join(k for k, v in options.items() if v) or "defaults"


def randomise(model: Model, seed: int = 0) -> Model:
    """Non-zero biases (fresh ones are zero, or one for the LSTM's forget gate: a misplaced
    bias block would go unseen) and embeddings wider than their initial +-0.05."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        for name, value in layer.params.items():
            if name.endswith("b"):
                value[...] = rng.normal(0.0, 0.5, value.shape)
            elif name == "embeddings":
                value[...] = rng.normal(0.0, 1.0, value.shape)
    return model


def run_ort(proto, feeds: dict) -> list[np.ndarray]:
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def run_reference(proto, feeds: dict) -> list[np.ndarray]:
    return ReferenceEvaluator(proto).run(None, feeds)


def assert_all_close(got: list, expected, dtype: str) -> float:
    """Assert each output equals ``expected``'s; return the largest absolute difference."""
    expected = expected if isinstance(expected, list) else [expected]
    assert len(got) == len(expected)
    worst = 0.0
    for out, want in zip(got, expected, strict=True):
        out, want = np.asarray(out), np.asarray(want)
        assert out.dtype == np.dtype(dtype) and out.shape == want.shape
        np.testing.assert_allclose(out, want, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])
        worst = max(worst, float(np.max(np.abs(out - want))))
    return worst


def check_lengths(model: Model, proto, dtype: str, features: int = 3) -> float:
    """Run the file on sequences of each of LENGTHS steps against ``predict``."""
    run = run_ort if dtype == "float32" else run_reference
    name, worst = proto.graph.input[0].name, 0.0  # "input", or the model's name for it
    for steps in LENGTHS:
        x = np.random.default_rng(steps).normal(size=(4, steps, features)).astype(dtype)
        worst = max(worst, assert_all_close(run(proto, {name: x}), model.predict(x), dtype))
    return worst


def ops(proto) -> list[str]:
    return [node.op_type for node in proto.graph.node]


def attributes(proto, op: str) -> dict:
    node = next(n for n in proto.graph.node if n.op_type == op)
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def one_layer(layer, dtype: str = "float32", features: int = 3) -> Model:
    x = Input(shape=(None, features))
    return randomise(Model(x, layer(x), seed=0, dtype=dtype))


# -- each layer, each option ---------------------------------------------------------------------
@pytest.mark.parametrize("options", OPTIONS, ids=option_id)
@pytest.mark.parametrize("kind", list(RECURRENT))
def test_each_recurrent_layer_and_option_runs_in_onnx_runtime_like_predict(kind, options):
    model = one_layer(RECURRENT[kind](5, **options))
    proto = to_onnx(model)
    assert ops(proto).count(OPERATOR[kind]) == 1  # the operator, not an unrolled loop
    found = attributes(proto, OPERATOR[kind])
    assert found["direction"] == (b"reverse" if options["go_backwards"] else b"forward")
    assert found["hidden_size"] == 5
    if kind == "GRU":
        assert found["linear_before_reset"] == 1
    n_outputs = (3 if kind == "LSTM" else 2) if options["return_state"] else 1
    assert len(proto.graph.output) == n_outputs
    (x_info,) = proto.graph.input
    time_axis = x_info.type.tensor_type.shape.dim[1]
    assert time_axis.dim_param == f"{x_info.name}_dim1"  # the open time axis is dynamic
    check_lengths(model, proto, "float32")


@pytest.mark.parametrize("options", OPTIONS[::3], ids=option_id)
@pytest.mark.parametrize("kind", list(RECURRENT))
def test_float64_files_run_in_the_reference_evaluator_like_predict(kind, options):
    model = one_layer(RECURRENT[kind](5, **options), dtype="float64")
    check_lengths(model, to_onnx(model), "float64")


@pytest.mark.parametrize("kind", list(RECURRENT))
def test_onnx_runtime_has_no_float64_kernel_for_the_recurrent_operators(kind):
    """The docs say so, and send float64 files to the reference evaluator: this holds it."""
    proto = to_onnx(one_layer(RECURRENT[kind](4), dtype="float64"))
    x = np.zeros((2, 3, 3))
    with pytest.raises(Exception, match="double|implementation"):
        run_ort(proto, {"input": x})


def test_the_lstm_gates_are_reordered_to_onnxs_i_o_f_c():
    model = one_layer(LSTM(2))
    layer = model.layers[-1]
    proto = to_onnx(model)
    node = next(n for n in proto.graph.node if n.op_type == "LSTM")
    arrays = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
    W, B = arrays[node.input[1]], arrays[node.input[3]]
    ours = layer.params["W"]  # (in, 4u), blocks i, f, c, o
    i, f, c, o = (ours[:, k * 2 : (k + 1) * 2].T for k in range(4))
    np.testing.assert_array_equal(W[0], np.concatenate([i, o, f, c]))
    b = layer.params["b"]
    assert W.shape == (1, 8, 3) and B.shape == (1, 16)
    np.testing.assert_array_equal(B[0, :8], np.concatenate([b[0:2], b[6:8], b[2:4], b[4:6]]))
    np.testing.assert_array_equal(B[0, 8:], 0)  # our LSTM has one bias, added to x W


def test_layers_without_a_bias_export():
    for cls in RECURRENT.values():
        model = one_layer(cls(4, use_bias=False, return_sequences=True))
        check_lengths(model, to_onnx(model), "float32")


# -- activations ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "activation", ["tanh", "sigmoid", "relu", "linear", "leaky_relu", "elu", "softplus"]
)
def test_a_simple_rnn_exports_each_activation_onnx_has(activation):
    model = one_layer(SimpleRNN(4, activation=activation, return_sequences=True))
    proto = to_onnx(model)
    check_lengths(model, proto, "float32")


def test_lstm_and_gru_with_other_activations_run_in_onnx_runtime_like_predict():
    lstm = LSTM(4, activation="softplus", recurrent_activation="sigmoid", return_sequences=True)
    gru = GRU(4, activation="elu", recurrent_activation="sigmoid", return_sequences=True)
    for layer, names in (
        (lstm, [b"Sigmoid", b"Softplus", b"Softplus"]),
        (gru, [b"Sigmoid", b"Elu"]),
    ):
        model = one_layer(layer)
        proto = to_onnx(model)
        assert attributes(proto, OPERATOR[type(layer).__name__])["activations"] == names
        check_lengths(model, proto, "float32")


def test_an_activation_onnx_lacks_is_a_type_error_naming_it():
    model = one_layer(GRU(4, activation="gelu"))
    with pytest.raises(TypeError, match=r"GRU\(4\).*GELU.*ONNX's GRU operator does not have"):
        to_onnx(model)


# -- Bidirectional ---------------------------------------------------------------------------------
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
@pytest.mark.parametrize("kind", list(RECURRENT))
def test_bidirectional_is_one_bidirectional_operator_and_merges_like_predict(kind, merge_mode):
    model = one_layer(Bidirectional(RECURRENT[kind](5, return_sequences=True), merge_mode))
    proto = to_onnx(model)
    assert ops(proto).count(OPERATOR[kind]) == 1
    assert attributes(proto, OPERATOR[kind])["direction"] == b"bidirectional"
    check_lengths(model, proto, "float32")


@pytest.mark.parametrize("options", OPTIONS, ids=option_id)
@pytest.mark.parametrize("kind", list(RECURRENT))
def test_bidirectional_with_each_option_runs_like_predict(kind, options):
    model = one_layer(Bidirectional(RECURRENT[kind](4, **options), merge_mode="concat"))
    check_lengths(model, to_onnx(model), "float32")


@pytest.mark.parametrize("kind", list(RECURRENT))
def test_bidirectional_float64_runs_in_the_reference_evaluator_like_predict(kind):
    layer = Bidirectional(RECURRENT[kind](4, return_sequences=True, return_state=True), "ave")
    model = one_layer(layer, dtype="float64")
    check_lengths(model, to_onnx(model), "float64")


# -- initial states --------------------------------------------------------------------------------
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("kind", list(RECURRENT))
def test_initial_states_are_inputs_of_the_file(kind, go_backwards):
    n_states = 2 if kind == "LSTM" else 1
    x = Input(shape=(None, 3), name="x")
    states = [Input(shape=(4,), name=f"s{k}") for k in range(n_states)]
    layer = RECURRENT[kind](4, return_sequences=True, return_state=True, go_backwards=go_backwards)
    outputs = layer([x, *states])
    model = randomise(Model([x, *states], outputs, seed=0))
    proto = to_onnx(model)
    node = next(n for n in proto.graph.node if n.op_type == OPERATOR[kind])
    assert node.input[4] == "" and len(node.input) == 5 + n_states  # no sequence_lens
    rng = np.random.default_rng(7)
    for steps in LENGTHS:
        feeds = {"x": rng.normal(size=(2, steps, 3)).astype(np.float32)}
        feeds.update({f"s{k}": rng.normal(size=(2, 4)).astype(np.float32) for k in range(n_states)})
        expected = model.predict([feeds[name] for name in ("x", "s0", "s1")[: 1 + n_states]])
        assert_all_close(run_ort(proto, feeds), expected, "float32")


# -- embeddings and a whole model ------------------------------------------------------------------
def char_model(dtype: str = "float32") -> Model:
    """The character model of the issue: Embedding -> LSTM (every step) -> a softmax each."""
    ids = Input(shape=(None,), dtype="int64", name="ids")
    h = Embedding(input_dim=30, output_dim=8)(ids)
    h = LSTM(16, return_sequences=True)(h)
    return randomise(Model(ids, Dense(30, "softmax", name="next")(h), seed=0, dtype=dtype))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_character_model_runs_like_predict_on_int64_ids(dtype):
    model = char_model(dtype)
    proto = to_onnx(model)
    assert ops(proto)[:2] == ["Cast", "Gather"]
    (ids_info,) = proto.graph.input
    assert ids_info.type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert [d.dim_param or d.dim_value for d in ids_info.type.tensor_type.shape.dim] == [
        "batch",
        "input_dim1",
    ]
    run = run_ort if dtype == "float32" else run_reference
    for steps in LENGTHS:
        ids = np.random.default_rng(steps).integers(0, 30, size=(3, steps))
        (probabilities,) = run(proto, {"input": ids})
        assert probabilities.shape == (3, steps, 30)
        assert_all_close([probabilities], model.predict(ids), dtype)


def test_a_trained_character_model_still_equals_predict():
    model = char_model()
    ids = np.random.default_rng(0).integers(0, 30, size=(64, 12))
    model.fit(ids[:, :-1], ids[:, 1:], loss="sparse_categorical_crossentropy", epochs=1, verbose=0)
    proto = to_onnx(model)
    (probabilities,) = run_ort(proto, {"input": ids[:5]})
    assert_all_close([probabilities], model.predict(ids[:5]), "float32")


def test_a_sequential_starting_with_an_embedding_exports_its_ids_in_the_models_input_dtype():
    """Ids reach Gather as int64 whatever the file's input type (a Sequential's input dtype:
    float32 holding whole numbers, or int64 once a stack keeps its ids integers)."""
    model = Sequential(
        [Embedding(12, 4, input_shape=(7,)), GRU(5, return_sequences=True), Dense(2)], seed=0
    )
    randomise(model)
    proto = to_onnx(model)
    input_dtype = np.dtype(model.input_dtypes[0])
    elem_type = onnx.helper.np_dtype_to_tensor_dtype(input_dtype)
    assert proto.graph.input[0].type.tensor_type.elem_type == elem_type
    ids = np.random.default_rng(1).integers(0, 12, size=(6, 7)).astype(input_dtype)
    assert_all_close(run_ort(proto, {"input": ids}), model.predict(ids), "float32")


def test_a_masked_bidirectional_layer_is_refused_with_the_reason():
    """Masks become sequence_lens (tests/test_onnx_masks.py), but not for Bidirectional."""
    ids = Input(shape=(None,), dtype="int64")
    model = Model(ids, Bidirectional(LSTM(3))(Embedding(10, 4, mask_zero=True)(ids)), seed=0)
    with pytest.raises(TypeError, match=r"Bidirectional.*no ONNX converter for masked sequences"):
        to_onnx(model)


@pytest.mark.parametrize("opset", [13, 14, 21])
def test_the_oldest_and_newer_opsets_give_the_same_results(opset):
    if opset > onnx.defs.onnx_opset_version():
        pytest.skip(f"the installed onnx reads opsets up to {onnx.defs.onnx_opset_version()}")
    model = one_layer(Bidirectional(GRU(4, return_sequences=True, go_backwards=True), "sum"))
    proto = to_onnx(model, opset=opset)
    assert proto.opset_import[0].version == opset
    check_lengths(model, proto, "float32")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_stacked_layers_with_several_outputs_run_like_predict(dtype):
    """The model of docs/how/recurrent.md: Embedding, Bidirectional GRU, GRU with its state."""
    ids = Input(shape=(None,), dtype="int64", name="ids")
    h = Embedding(input_dim=50, output_dim=8)(ids)
    h = Bidirectional(GRU(16, return_sequences=True))(h)
    out, state = GRU(16, return_state=True, go_backwards=True)(h)
    model = randomise(Model(ids, [Dense(3, "softmax", name="classes")(out), state], seed=0,
                            dtype=dtype))  # fmt: skip
    proto = to_onnx(model)
    assert [v.name for v in proto.graph.output][0] == "classes"
    run = run_ort if dtype == "float32" else run_reference
    for steps in LENGTHS:
        batch = np.random.default_rng(steps).integers(0, 50, size=(5, steps))
        assert_all_close(run(proto, {"ids": batch}), model.predict(batch), dtype)
