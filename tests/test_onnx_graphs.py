"""ONNX export of graph models: merges, several inputs and outputs, shared layers, open axes.

As in ``test_onnx_export.py``, the oracle is our own ``predict`` and ONNX Runtime the
independent implementation; float64 files are also run by ``onnx.reference.ReferenceEvaluator``
(ONNX's own Python implementation of each operator), a second runtime that shares no code with
ONNX Runtime. Tolerance ``|got - expected| <= tol * (1 + |expected|)``.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx.reference import ReferenceEvaluator  # noqa: E402

from scratchnn import (  # noqa: E402
    Add,
    Average,
    Concatenate,
    Dense,
    Input,
    LayerNormalization,
    Maximum,
    Model,
    Multiply,
    Subtract,
    load,
)
from scratchnn.export import CONVERTERS, register_onnx_converter, to_onnx  # noqa: E402
from scratchnn.layers import Layer  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TOLERANCE = {"float32": 1e-5, "float64": 1e-10}
DTYPES = ("float32", "float64")


@pytest.fixture(autouse=True)
def _registry_restored():
    saved = dict(CONVERTERS)
    yield
    CONVERTERS.clear()
    CONVERTERS.update(saved)


def run_ort(proto, feeds: dict) -> list[np.ndarray]:
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def assert_close(got, expected, dtype: str) -> float:
    """Assert and return the largest absolute difference."""
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.dtype == np.dtype(dtype) and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])
    return float(np.max(np.abs(got - expected)))


def randomise(model: Model, seed: int = 0) -> Model:
    """Non-zero biases and non-unit scales: fresh ones would hide a missing bias or scale."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        for name, value in layer.params.items():
            if name in ("b", "beta"):
                value[...] = rng.normal(0.0, 0.5, value.shape)
            elif name == "gamma":
                value[...] = rng.uniform(0.5, 2.0, value.shape)
    return model


def ops(proto) -> list[str]:
    return [node.op_type for node in proto.graph.node]


def dims(value) -> list:
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


# -- models --------------------------------------------------------------------------------------
def residual_mlp(dtype: str) -> Model:
    x = Input(shape=(6,), name="features")
    h = Dense(6, "relu")(x)
    h = Add()([Dense(6, "tanh")(h), x])  # a skip connection: x feeds Dense and Add
    out = Dense(3, "softmax", name="species")(h)
    return randomise(Model(x, out, seed=0, dtype=dtype))


def two_in_two_out(dtype: str) -> Model:
    """Two inputs, two outputs, a layer called twice (shared weights), concatenations."""
    table = Input(shape=(4,), name="table")
    extra = Input(shape=(3,), name="extra")
    shared = Dense(4, "tanh", name="shared")
    joined = Dense(6, "relu", name="joined")(Concatenate()([table, extra]))
    first, second = shared(table), shared(Dense(4, name="lift")(extra))
    mixed = Dense(6, name="mixed")(Concatenate()([first, second]))
    cls = Dense(3, "softmax", name="cls")(Add()([joined, mixed]))
    reg = Dense(1, name="reg")(joined)
    return randomise(Model([table, extra], [cls, reg], seed=0, dtype=dtype))


def sequence_model(dtype: str) -> Model:
    """Tokens of 8 features, any number of positions: Dense, LayerNormalization, a softmax each."""
    x = Input(shape=(None, 8), name="tokens")
    h = Dense(8, "gelu")(x)
    h = LayerNormalization(epsilon=1e-3)(Add()([h, x]))
    h = LayerNormalization(center=False, epsilon=0.1)(Dense(8, use_bias=False)(h))
    out = Dense(5, "softmax", name="next")(h)
    return randomise(Model(x, out, seed=0, dtype=dtype))


# -- one input, one output: the names every file had ---------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_a_residual_mlp_runs_in_onnx_runtime_like_predict(dtype):
    model = residual_mlp(dtype)
    proto = to_onnx(model)
    assert [v.name for v in proto.graph.input] == ["input"]
    assert [v.name for v in proto.graph.output] == ["output"]
    assert dims(proto.graph.input[0]) == ["batch", 6]
    assert dims(proto.graph.output[0]) == ["batch", 3]
    assert ops(proto) == ["Gemm", "Relu", "Gemm", "Tanh", "Add", "Gemm", "Softmax"]
    metadata = {p.key: p.value for p in proto.metadata_props}
    assert metadata["scratchnn_model"] == "Model" and '"graph"' in metadata["scratchnn_config"]
    X = np.random.default_rng(1).normal(0, 2, size=(33, 6)).astype(dtype)
    assert_close(run_ort(proto, {"input": X})[0], model.predict(X), dtype)


def test_model_to_onnx_writes_the_same_file_for_a_graph(tmp_path):
    model = residual_mlp("float32")
    proto = model.to_onnx(tmp_path / "m.onnx")
    assert onnx.load(tmp_path / "m.onnx") == proto == to_onnx(model)


# -- each merge ----------------------------------------------------------------------------------
MERGES = {
    "Add": (lambda: Add(), 3, "Add", {}),
    "Subtract": (lambda: Subtract(), 2, "Sub", {}),
    "Multiply": (lambda: Multiply(), 3, "Mul", {}),
    "Average": (lambda: Average(), 3, "Mul", {}),  # the sum times 1/n, as ours
    "Maximum": (lambda: Maximum(), 3, "Max", {}),
    "Concatenate-last": (lambda: Concatenate(), 3, "Concat", {"axis": -1}),
    "Concatenate-axis1": (lambda: Concatenate(axis=1), 2, "Concat", {"axis": 1}),
    "Concatenate-axis2": (lambda: Concatenate(axis=2), 2, "Concat", {"axis": 2}),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", list(MERGES))
def test_every_merge_runs_like_predict_with_its_operator(kind, dtype):
    make, count, op, attributes = MERGES[kind]
    inputs = [Input(shape=(4, 5), name=f"in{i}") for i in range(count)]
    branches = [Dense(5, "tanh", name=f"branch{i}")(x) for i, x in enumerate(inputs)]
    merged = make()(branches)
    model = randomise(Model(inputs, [merged, Dense(2, name="head")(merged)], seed=3, dtype=dtype))
    proto = to_onnx(model)
    assert [v.name for v in proto.graph.input] == [f"in{i}" for i in range(count)]
    assert [v.name for v in proto.graph.output] == [model.output_names[0], "head"]
    merge_node = next(n for n in proto.graph.node if n.output[0] == model.output_names[0])
    assert merge_node.op_type == op
    assert {a.name: onnx.helper.get_attribute_value(a) for a in merge_node.attribute} == attributes
    rng = np.random.default_rng(2)
    arrays = [rng.normal(0, 2, size=(17, 4, 5)).astype(dtype) for _ in range(count)]
    got = run_ort(proto, {f"in{i}": a for i, a in enumerate(arrays)})
    for out, expected in zip(got, model.predict(arrays), strict=True):
        assert_close(out, expected, dtype)


# -- several inputs and outputs, a shared layer --------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_two_inputs_and_two_outputs_with_a_shared_layer_run_like_predict(dtype):
    model = two_in_two_out(dtype)
    proto = to_onnx(model)
    assert [v.name for v in proto.graph.input] == ["table", "extra"]
    assert [v.name for v in proto.graph.output] == ["cls", "reg"]
    assert [dims(v) for v in proto.graph.output] == [["batch", 3], ["batch", 1]]
    rng = np.random.default_rng(4)
    A, B = (rng.normal(size=(25, n)).astype(dtype) for n in (4, 3))
    got = run_ort(proto, {"table": A, "extra": B})
    expected = model.predict({"table": A, "extra": B})
    for out, want in zip(got, expected, strict=True):
        assert_close(out, want, dtype)


def test_a_shared_layers_weights_are_stored_once_and_read_by_both_calls():
    model = two_in_two_out("float32")
    proto = to_onnx(model)
    shared = model.get_layer("shared")
    initializers = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
    holding_W = [n for n, v in initializers.items() if np.array_equal(v, shared.params["W"])]
    assert len(holding_W) == 1
    readers = [n for n in proto.graph.node if holding_W[0] in n.input]
    assert len(readers) == 2  # the two calls: one Gemm each
    # and no other weight is lost: each layer's arrays are among the initializers
    for layer in model.layers:
        for value in layer.params.values():
            assert any(np.array_equal(value, v) for v in initializers.values())


def test_output_names_never_clash_with_inputs_outputs_or_generated_names():
    x = Input(shape=(3,), name="x")
    h = Dense(2, "tanh", name="W_0")(x)  # the name the first generated constant would take
    y = Dense(2, name="Gemm_2")(h)
    model = randomise(Model(x, [x, h, y, h], seed=0))
    proto = to_onnx(model)
    assert [v.name for v in proto.graph.output] == ["x_1", "W_0", "Gemm_2", "W_0_1"]
    X = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    got = run_ort(proto, {"x": X})
    for out, expected in zip(got, model.predict(X), strict=True):
        assert_close(out, expected, "float32")


# -- sequences: tensors of rank 3 with an open axis ----------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("opset", [13, 17, 18])
def test_a_sequence_model_with_an_open_axis_runs_at_two_lengths(opset, dtype):
    model = sequence_model(dtype)
    proto = to_onnx(model, opset=opset)
    assert dims(proto.graph.input[0]) == ["batch", "input_dim1", 8]
    assert dims(proto.graph.output[0]) == ["batch", "output_dim1", 5]
    assert "Gemm" not in ops(proto)  # Gemm takes matrices: MatMul and Add on (batch, T, F)
    fused = "LayerNormalization" in ops(proto)
    assert fused == (opset >= 17 and dtype == "float32")
    rng = np.random.default_rng(opset)
    for length in (3, 11):
        X = rng.normal(0, 2, size=(6, length, 8)).astype(dtype)
        assert_close(run_ort(proto, {"input": X})[0], model.predict(X), dtype)


def test_layer_normalization_without_scale_or_centre_exports_like_predict():
    x = Input(shape=(7,))
    h = LayerNormalization(scale=False, center=False)(Dense(7)(x))
    model = randomise(Model(x, LayerNormalization(scale=False)(h), seed=0))
    X = np.random.default_rng(0).normal(0, 3, size=(9, 7)).astype(np.float32)
    for opset in (16, 17):
        (got,) = run_ort(to_onnx(model, opset=opset), {"input": X})
        assert_close(got, model.predict(X), "float32")


# -- a second runtime for float64: ONNX's reference implementation ------------------------------
@pytest.mark.parametrize("opset", [13, 18])
def test_float64_graphs_agree_with_onnx_reference_evaluator(opset):
    rng = np.random.default_rng(5)
    model = two_in_two_out("float64")
    A, B = rng.normal(size=(8, 4)), rng.normal(size=(8, 3))
    got = ReferenceEvaluator(to_onnx(model, opset=opset)).run(None, {"table": A, "extra": B})
    for out, expected in zip(got, model.predict([A, B]), strict=True):
        assert_close(out, expected, "float64")
    model = sequence_model("float64")
    X = rng.normal(0, 2, size=(3, 5, 8))
    (got,) = ReferenceEvaluator(to_onnx(model, opset=opset)).run(None, {"input": X})
    assert_close(got, model.predict(X), "float64")


# -- the residual CNN example --------------------------------------------------------------------
def _example(name: str):
    sys.path.insert(0, str(EXAMPLES))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(EXAMPLES))


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_residual_cnn_example_exports_like_predict(dtype):
    pytest.importorskip("sklearn")
    model = randomise(_example("residual_digits").build(seed=0).copy(dtype=dtype))
    proto = to_onnx(model)
    assert ops(proto).count("Add") >= 2  # the two skip connections
    X = np.random.default_rng(6).uniform(0, 1, size=(20, 8, 8, 1)).astype(dtype)
    assert_close(run_ort(proto, {"input": X})[0], model.predict(X), dtype)


# -- errors and the command line -----------------------------------------------------------------
class Doubler(Layer):
    def forward(self, x, training=False):
        return 2 * x

    def backward(self, grad_output):
        return 2 * grad_output


def test_a_graph_layer_without_converter_is_named_by_its_layer_name():
    x = Input(shape=(3,))
    model = Model(x, Dense(2)(Doubler(name="twice")(x)), seed=0)
    with pytest.raises(TypeError, match=r"layer 'twice' \(Doubler\) has no ONNX converter"):
        to_onnx(model)

    @register_onnx_converter(Doubler)
    def doubler_to_onnx(graph, layer, x):
        return graph.node("Mul", [x, graph.constant(2.0, "two")])

    X = np.ones((2, 3), dtype=np.float32)
    assert_close(run_ort(to_onnx(model), {"input": X})[0], model.predict(X), "float32")


class Halves(Layer):
    """A layer with two outputs: the first and second half of the last axis."""

    def output_shape(self, input_shape):
        half = input_shape[-1] // 2
        return [(*input_shape[:-1], half), (*input_shape[:-1], input_shape[-1] - half)]

    def forward(self, x, training=False):
        half = x.shape[-1] // 2
        return [x[..., :half], x[..., half:]]

    def backward(self, grad_output):
        return np.concatenate(grad_output, axis=-1)


def test_a_layer_with_two_outputs_returns_a_name_for_each():
    @register_onnx_converter(Halves)
    def halves_to_onnx(graph, layer, x):
        width = graph.shape[-1]
        axis = graph.constant([-1], "axis", np.int64)
        cuts = [graph.constant([c], "cut", np.int64) for c in (0, width // 2, width)]
        return [graph.node("Slice", [x, cuts[i], cuts[i + 1], axis]) for i in (0, 1)]

    x = Input(shape=(6,), name="x")
    first, second = Halves(name="halves")(x)
    model = randomise(Model(x, [Dense(2, name="mix")(Subtract()([first, second])), second]))
    proto = to_onnx(model)
    assert [v.name for v in proto.graph.output] == ["mix", "halves:1"]
    X = np.random.default_rng(8).normal(size=(5, 6)).astype(np.float32)
    got = run_ort(proto, {"x": X})
    for out, expected in zip(got, model.predict(X), strict=True):
        assert_close(out, expected, "float32")


def test_cli_exports_a_saved_graph_model_with_its_inputs_and_outputs(tmp_path, capsys):
    from scratchnn.cli import main

    model = two_in_two_out("float32")
    model.save(tmp_path / "m.npz")
    assert main(["export", str(tmp_path / "m.npz"), str(tmp_path / "m.onnx")]) == 0
    printed = capsys.readouterr().out
    assert (
        "input 'table' (batch, 4), input 'extra' (batch, 3) float32, "
        "output 'cls' (batch, 3), output 'reg' (batch, 1), opset 17"
    ) in printed
    rng = np.random.default_rng(7)
    A, B = rng.normal(size=(10, 4)).astype(np.float32), rng.normal(size=(10, 3)).astype(np.float32)
    got = run_ort(onnx.load(tmp_path / "m.onnx"), {"table": A, "extra": B})
    for out, expected in zip(got, load(tmp_path / "m.npz").predict([A, B]), strict=True):
        assert_close(out, expected, "float32")
