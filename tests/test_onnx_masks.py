"""ONNX export of masked models: Embedding(mask_zero=True) and Masking become sequence_lens.

The lengths are computed in the graph from the ids (``ReduceSum(Cast(Not(Equal(ids, 0))))``)
or the float steps, so padding must be at the end of each row. The oracle is ``predict`` on
padded batches, run in ONNX Runtime in float32 (it has no float64 kernels for the recurrent
operators, and ``onnx.reference`` ignores ``sequence_lens``).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from scratchnn import GRU, LSTM, Dense, Embedding, Input, Masking, Model, SimpleRNN  # noqa: E402
from scratchnn.export import to_onnx  # noqa: E402

IDS = np.array([[3, 1, 4, 1, 5, 9], [2, 7, 2, 0, 0, 0], [9, 8, 0, 0, 0, 0], [6, 0, 0, 0, 0, 0]])
OPTIONS = [
    dict(zip(("return_sequences", "return_state", "go_backwards"), flags, strict=True))
    for flags in itertools.product((False, True), repeat=3)
]


def _randomised(model: Model) -> Model:
    """Every weight drawn N(0, 0.5): biases and embeddings far from their initial values."""
    rng = np.random.default_rng(0)
    for layer in model.layers:
        for value in layer.params.values():
            value[...] = rng.normal(0.0, 0.5, value.shape)
    return model


def _run(model: Model, feeds: list[np.ndarray]) -> list[np.ndarray]:
    proto = to_onnx(model)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [tensor.name for tensor in session.get_inputs()]
    return session.run(None, dict(zip(names, feeds, strict=True)))


def _assert_equal_outputs(got: list, want) -> None:
    want = want if isinstance(want, list) else [want]
    assert len(got) == len(want)
    for out, expected in zip(got, want, strict=True):
        assert out.shape == expected.shape
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("recurrent", [SimpleRNN, LSTM, GRU])
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(k for k, v in o.items() if v))
def test_a_masked_recurrent_model_runs_in_onnx_runtime_as_predict(recurrent, options):
    ids = Input(shape=(None,), dtype="int64")
    out = recurrent(5, **options)(Embedding(10, 4, mask_zero=True)(ids))
    outputs = out if options["return_state"] else [out]
    model = _randomised(Model(ids, [Dense(3, "softmax")(outputs[0]), *outputs[1:]], seed=0))
    want = model.predict(IDS)
    _assert_equal_outputs(_run(model, [IDS]), want)
    if options["return_sequences"] and not options["go_backwards"]:
        # at padded steps the last real output repeats (where ONNX's Y holds zeros)
        sequence = want[0] if options["return_state"] else want
        np.testing.assert_allclose(sequence[1, 3:], np.repeat(sequence[1, 2:3], 3, axis=0))


def test_stacked_layers_with_initial_states_pass_the_lengths_on():
    ids, h0, c0 = Input(shape=(None,), dtype="int64"), Input(shape=(5,)), Input(shape=(5,))
    h = GRU(5, return_sequences=True)(Embedding(10, 4, mask_zero=True)(ids))
    h = LSTM(5, return_sequences=True, go_backwards=True)([h, h0, c0])
    model = _randomised(Model([ids, h0, c0], Dense(3, "softmax")(h), seed=0))
    rng = np.random.default_rng(1)
    states = [rng.normal(size=(4, 5)).astype(np.float32) for _ in range(2)]
    _assert_equal_outputs(_run(model, [IDS, *states]), model.predict([IDS, *states]))


def test_the_lengths_are_computed_in_the_graph_from_the_ids():
    ids = Input(shape=(None,), dtype="int64")
    model = Model(ids, LSTM(3)(Embedding(10, 4, mask_zero=True)(ids)), seed=0)
    ops = [node.op_type for node in to_onnx(model).graph.node]
    assert ops[:5] == ["Cast", "Equal", "Not", "Cast", "ReduceSum"]
    lstm = next(node for node in to_onnx(model).graph.node if node.op_type == "LSTM")
    assert lstm.input[4].startswith("ReduceSum")  # sequence_lens
    longer = np.array([[1, 2, 3, 0, 0, 0, 0, 0, 0, 0]])  # any length: the time axis is open
    _assert_equal_outputs(_run(model, [longer]), model.predict(longer))


@pytest.mark.parametrize("opset", [13, 17, 18, 21])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_a_masking_layer_exports_its_mask_as_lengths(opset, go_backwards):
    series = Input(shape=(None, 2))
    h = LSTM(4, return_sequences=True, go_backwards=go_backwards)(Masking(-1.0)(series))
    model = _randomised(Model(series, Dense(1)(h), seed=0))
    x = np.random.default_rng(2).normal(size=(3, 6, 2)).astype(np.float32)
    x[1, 4:], x[2, 1:] = -1.0, -1.0  # lengths 6, 4 and 1
    x[0, 2, 0] = -1.0  # one feature at the mask value: the step is still real
    proto = to_onnx(model, opset=opset)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    _assert_equal_outputs(session.run(None, {"input": x}), model.predict(x))
