"""ONNX export: every layer and activation, run in ONNX Runtime, equals ``predict``.

The oracle is our own NumPy forward pass (``predict``, ``predict_proba``); ONNX Runtime is an
independent implementation of the operators the file names, so agreement to 1e-5 (float32) and
1e-10 (float64) checks the mapping of each layer, not just that a file was written. The
tolerance is absolute and relative (``|got - expected| <= tol * (1 + |expected|)``): a float32
output near 100 has no more than 7 significant digits in either implementation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import scratchnn  # noqa: E402
from scratchnn import Sequential, load  # noqa: E402
from scratchnn.activations import Activation  # noqa: E402
from scratchnn.export import (  # noqa: E402
    CONVERTERS,
    register_onnx_converter,
    to_onnx,
)
from scratchnn.layers import (  # noqa: E402
    ELU,
    GELU,
    ActivationLayer,
    BatchNorm,
    Dense,
    Dropout,
    Layer,
    LeakyReLU,
    Linear,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = {"float32": 1e-5, "float64": 1e-10}
DTYPES = ("float32", "float64")
ACTIVATIONS = ("linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "softplus")
ACTIVATIONS_ALL = (*ACTIVATIONS, "softmax")
# The estimators are fitted for a few epochs only: their outputs, not their fit, are under test.
few_epochs = pytest.mark.filterwarnings("ignore:Stochastic optimizer")


@pytest.fixture(autouse=True)
def _registry_restored():
    """Tests that register converters leave the registry as they found it."""
    saved = dict(CONVERTERS)
    yield
    CONVERTERS.clear()
    CONVERTERS.update(saved)


def run_onnx(proto, X: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(["output"], {"input": X})[0]


def inputs(n: int, width: int, dtype: str, scale: float = 3.0, seed: int = 0) -> np.ndarray:
    """Normal inputs with a few far-out values, where unstable formulas would overflow."""
    rng = np.random.default_rng(seed)
    X = rng.normal(0.0, scale, size=(n, width))
    X.flat[:: max(1, X.size // 5)] *= 20.0
    return X.astype(dtype)


def randomise(model: Sequential, seed: int = 0) -> Sequential:
    """Non-trivial biases, scales and running statistics (fresh ones are zeros and ones)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        for name, value in layer.params.items():
            if name in ("b", "beta"):
                value[...] = rng.normal(0.0, 0.5, value.shape)
            elif name == "gamma":
                value[...] = rng.uniform(0.5, 2.0, value.shape)
        if "running_mean" in layer.state:
            mean, var = layer.state["running_mean"], layer.state["running_var"]
            mean[...] = rng.normal(0.0, 1.0, mean.shape)
            var[...] = rng.uniform(0.01, 3.0, var.shape)
    return model


def assert_matches(model: Sequential, dtype: str, width: int, sizes=(1, 257)) -> None:
    proto = to_onnx(model)
    for n in sizes:
        X = inputs(n, width, dtype, seed=n)
        got = run_onnx(proto, X)
        expected = model.predict(X)
        assert got.dtype == np.dtype(dtype)
        assert got.shape == expected.shape == (n, expected.shape[1])
        np.testing.assert_allclose(got, expected, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])


# -- each layer alone, in both dtypes, batch sizes 1 and many -------------------------------------
def single_layers() -> list:
    layers = [(f"Dense-{name}", lambda name=name: Dense(5, name)) for name in ACTIVATIONS_ALL]
    layers += [(f"ActivationLayer-{n}", lambda n=n: ActivationLayer(n)) for n in ACTIVATIONS_ALL]
    for cls in (Linear, ReLU, Sigmoid, Tanh, GELU, Softplus, Softmax, LeakyReLU, ELU):
        layers.append((cls.__name__, cls))
    layers += [
        ("Dense-no-bias", lambda: Dense(5, "tanh", use_bias=False)),
        ("LeakyReLU-0.3", lambda: LeakyReLU(0.3)),
        ("ELU-0.7", lambda: ELU(0.7)),
        ("BatchNorm", lambda: BatchNorm(epsilon=1e-3)),
        ("BatchNorm-eps-0.1", lambda: BatchNorm(epsilon=0.1)),
        ("Dropout", lambda: Dropout(0.5)),
    ]
    return layers


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "make_layer", [f for _, f in single_layers()], ids=[n for n, _ in single_layers()]
)
def test_each_layer_alone_runs_in_onnx_runtime_like_predict(make_layer, dtype):
    model = randomise(Sequential([make_layer()], seed=1, dtype=dtype))
    model.build(6)
    model = randomise(model)
    assert_matches(model, dtype, width=6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_stacks_of_every_layer_type_run_like_predict(activation, dtype):
    model = Sequential(
        [
            Dense(16, activation, input_dim=7),
            BatchNorm(),
            Dropout(0.3),
            Dense(12, use_bias=False),
            BatchNorm(epsilon=1e-2),
            ActivationLayer(activation),
            Dense(9, "elu"),
            LeakyReLU(0.2),
            GELU(),
            Dense(8, "softplus"),
            Dense(4, "softmax"),
        ],
        seed=3,
        dtype=dtype,
    )
    assert_matches(randomise(model, seed=4), dtype, width=7)


@settings(max_examples=25, deadline=None)
@given(
    widths=st.lists(st.integers(1, 6), min_size=1, max_size=4),
    activations=st.lists(st.sampled_from(ACTIVATIONS_ALL), min_size=4, max_size=4),
    dtype=st.sampled_from(DTYPES),
    rows=st.integers(1, 40),
    seed=st.integers(0, 2**16),
)
def test_any_dense_stack_exports_like_predict(widths, activations, dtype, rows, seed):
    layers = [Dense(w, a) for w, a in zip(widths, activations, strict=False)]
    model = randomise(Sequential(layers, seed=seed, dtype=dtype), seed=seed)
    model.build(3)
    model = randomise(model, seed=seed)
    X = inputs(rows, 3, dtype, seed=seed)
    got = run_onnx(to_onnx(model), X)
    tol = TOLERANCE[dtype]
    np.testing.assert_allclose(got, model.predict(X), rtol=tol, atol=tol)


def test_large_inputs_stay_finite_and_equal_where_softplus_and_elu_would_overflow():
    model = Sequential([Softplus(input_dim=3)], dtype="float64")
    X = np.array([[-800.0, 0.0, 800.0], [-1e4, 1e-12, 1e4]])
    got = run_onnx(to_onnx(model), X)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, model.predict(X), rtol=1e-15, atol=1e-300)
    elu = Sequential([ELU(1.0, input_dim=3)], dtype="float64")
    np.testing.assert_allclose(run_onnx(to_onnx(elu), X), elu.predict(X), rtol=0, atol=1e-15)


# -- the graph itself ------------------------------------------------------------------------------
def test_file_names_its_input_and_output_with_a_dynamic_batch_axis_and_metadata(tmp_path):
    model = Sequential([Dense(4, "relu", input_dim=3), Dense(2, "softmax")], seed=0)
    path = tmp_path / "model.onnx"
    returned = to_onnx(model, path)
    proto = onnx.load(path)
    assert proto == returned
    onnx.checker.check_model(proto, full_check=True)
    (graph_input,) = proto.graph.input
    (graph_output,) = proto.graph.output
    assert graph_input.name == "input" and graph_output.name == "output"
    dims = [d.dim_param or d.dim_value for d in graph_input.type.tensor_type.shape.dim]
    assert dims == ["batch", 3]
    dims = [d.dim_param or d.dim_value for d in graph_output.type.tensor_type.shape.dim]
    assert dims == ["batch", 2]
    assert graph_input.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert [node.op_type for node in proto.graph.node] == ["Gemm", "Relu", "Gemm", "Softmax"]
    metadata = {p.key: p.value for p in proto.metadata_props}
    assert metadata["scratchnn_version"] == scratchnn.__version__
    assert metadata["scratchnn_model"] == "Sequential"
    assert metadata["dtype"] == "float32"
    assert json.loads(metadata["scratchnn_config"]) == json.loads(json.dumps(model.get_config()))
    assert "classes" not in metadata
    assert proto.producer_name == "scratchnn"
    assert proto.opset_import[0].version == 17


def test_the_models_own_method_writes_the_same_file(tmp_path):
    model = randomise(Sequential([Dense(3, "elu", input_dim=2), Dense(2)], seed=0))
    model.to_onnx(tmp_path / "method.onnx", opset=15)
    proto = onnx.load(tmp_path / "method.onnx")
    assert proto.opset_import[0].version == 15
    assert proto.graph == to_onnx(model, opset=15).graph


def test_class_labels_a_model_keeps_go_into_the_metadata(tmp_path):
    model = Sequential([Dense(3, "softmax", input_dim=2)], seed=0)
    if not hasattr(model, "classes"):
        pytest.skip("this Sequential keeps no class labels")
    model.classes = ["cat", "dog", "eel"]
    model.save(tmp_path / "labelled.npz")
    proto = to_onnx(load(tmp_path / "labelled.npz"))
    metadata = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(metadata["classes"]) == ["cat", "dog", "eel"]


def test_dropout_and_float64_batch_norm_use_no_extra_operators():
    model = Sequential([Dense(3, input_dim=2), Dropout(0.5), BatchNorm()], dtype="float64")
    ops = [node.op_type for node in to_onnx(model).graph.node]
    assert ops == ["Gemm", "BatchNormalization"]


def test_a_model_of_identities_exports_an_identity():
    model = Sequential([Dropout(0.1, input_dim=3), Linear()], dtype="float64")
    proto = to_onnx(model)
    X = inputs(4, 3, "float64")
    np.testing.assert_array_equal(run_onnx(proto, X), X)


@pytest.mark.parametrize("opset", [13, 15, 21])
def test_other_opsets_export_the_same_function(opset):
    model = randomise(Sequential([Dense(5, "gelu", input_dim=4), BatchNorm(), Dense(3, "softmax")]))
    proto = to_onnx(model, opset=opset)
    assert proto.opset_import[0].version == opset
    X = inputs(10, 4, "float32")
    np.testing.assert_allclose(run_onnx(proto, X), model.predict(X), rtol=0, atol=1e-5)


# -- a model from a file, and real data ----------------------------------------------------------
@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_model_trained_on_digits_and_loaded_from_its_file_exports_faithfully(
    digits, dtype, tmp_path
):
    X, y = digits
    model = Sequential(
        [Dense(32, "relu", input_dim=64), BatchNorm(), Dropout(0.2), Dense(10, "softmax")],
        seed=0,
        dtype=dtype,
    )
    model.fit(X[:1000], y[:1000], loss="categorical_crossentropy", optimizer="adam", epochs=15,
              batch_size=64, verbose=0)  # fmt: skip
    model.save(tmp_path / "digits.npz")
    loaded = load(tmp_path / "digits.npz")
    proto = to_onnx(loaded, tmp_path / "digits.onnx")
    X_test = X[1000:].astype(dtype)
    tol = TOLERANCE[dtype]
    got = run_onnx(proto, X_test)
    np.testing.assert_allclose(got, model.predict(X_test), rtol=tol, atol=tol)
    one = run_onnx(proto, X_test[:1])
    np.testing.assert_allclose(one, model.predict(X_test[:1]), rtol=tol, atol=tol)
    assert (got.argmax(axis=1) == y[1000:]).mean() > 0.8  # it learnt: real inputs, real outputs


def test_the_tutorials_network_exports_its_sigmoid_outputs(tmp_path):
    from scratchnn import NeuralNetwork

    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    nn = NeuralNetwork(input_dim=2, hidden_dim=3, output_dim=1, seed=0)
    nn.train(X, np.array([[0], [1], [1], [0]]), epochs=50)
    nn.save(tmp_path / "xor.npz")
    proto = to_onnx(load(tmp_path / "xor.npz"))
    assert {p.key: p.value for p in proto.metadata_props}["scratchnn_model"] == "NeuralNetwork"
    np.testing.assert_allclose(run_onnx(proto, X), nn.forward(X), rtol=1e-10, atol=1e-10)


# -- the scikit-learn estimators -----------------------------------------------------------------
@pytest.fixture(scope="module")
def sklearn_front():
    pytest.importorskip("sklearn")
    from scratchnn import sklearn as front

    return front


def _check_estimator_file(estimator, X, dtype, expected_fn):
    proto = to_onnx(estimator)
    for rows in (X[:1], X):
        got = run_onnx(proto, rows.astype(dtype))
        expected = expected_fn(rows)
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])
    return {p.key: p.value for p in proto.metadata_props}


@few_epochs
@pytest.mark.parametrize("dtype", DTYPES)
def test_classifier_exports_predict_proba_with_its_labels(sklearn_front, digits, dtype):
    X, y = digits
    names = np.array([f"digit {k}" for k in range(10)])[y]
    clf = sklearn_front.NeuralNetClassifier(
        (16,), activation="tanh", batch_norm=True, max_iter=5, random_state=0, dtype=dtype
    ).fit(X[:600], names[:600])
    metadata = _check_estimator_file(clf, X[600:900], dtype, clf.predict_proba)
    assert json.loads(metadata["classes"]) == clf.classes_.tolist()
    assert metadata["scratchnn_model"] == "NeuralNetClassifier"


@few_epochs
@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_classifier_exports_both_columns_of_predict_proba(sklearn_front, dtype):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4))
    y = np.where(X[:, 0] + X[:, 1] > 0, 7, 3)
    clf = sklearn_front.NeuralNetClassifier(
        (8,), activation="elu", max_iter=20, random_state=0, dtype=dtype
    ).fit(X, y)
    metadata = _check_estimator_file(clf, X, dtype, clf.predict_proba)
    assert json.loads(metadata["classes"]) == [3, 7]


@few_epochs
def test_multilabel_classifier_exports_its_sigmoids(sklearn_front):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(100, 5))
    Y = (X[:, :3] > 0).astype(int)
    clf = sklearn_front.NeuralNetClassifier((8,), max_iter=10, random_state=0).fit(X, Y)
    _check_estimator_file(clf, X, "float64", clf.predict_proba)


@few_epochs
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("outputs", [1, 2])
def test_regressor_exports_predict_in_its_shape(sklearn_front, dtype, outputs):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(150, 3))
    Y = np.column_stack([X[:, 0] - 2 * X[:, 1], X[:, 2] ** 2])[:, :outputs]
    y = Y.ravel() if outputs == 1 else Y
    reg = sklearn_front.NeuralNetRegressor(
        (8,), activation="gelu", max_iter=20, random_state=0, dtype=dtype
    ).fit(X, y)
    metadata = _check_estimator_file(reg, X, dtype, reg.predict)
    assert metadata["scratchnn_model"] == "NeuralNetRegressor"
    assert "classes" not in metadata


def test_unfitted_estimator_and_other_estimators_are_refused(sklearn_front):
    with pytest.raises(ValueError, match="unfitted NeuralNetRegressor"):
        to_onnx(sklearn_front.NeuralNetRegressor())
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipeline = make_pipeline(StandardScaler(), sklearn_front.NeuralNetRegressor())
    with pytest.raises(TypeError, match=r"model must be a Model \(Sequential\).*got .*Pipeline"):
        to_onnx(pipeline)


@few_epochs
def test_estimator_predicting_more_than_its_network_is_refused(sklearn_front):
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(40, 2)), rng.normal(size=40)
    reg = sklearn_front.NeuralNetRegressor((4,), max_iter=2, random_state=0).fit(X, y)

    class Shifted(type(reg)):
        def predict(self, X):
            return super().predict(X) + 1.0

    reg.__class__ = Shifted
    with pytest.raises(ValueError, match=r"Shifted\) predicts more than its network"):
        to_onnx(reg)


# -- layers of one's own, and what cannot be exported ---------------------------------------------
class Doubler(Layer):
    """A user's layer: ``y = 2 x``."""

    def forward(self, x, training=False):
        return 2 * x

    def backward(self, grad_output):
        return 2 * grad_output


class Cube(Activation):
    name = "cube"

    def forward(self, z, out=None):
        return z**3

    def backward(self, grad_a, z, a, out=None):
        return 3 * z * z * grad_a


def test_a_layer_without_converter_is_named_in_the_error():
    model = Sequential([Dense(3, input_dim=2), Doubler()])
    with pytest.raises(TypeError, match=r"layers\[1\] \(Doubler\) has no ONNX converter") as error:
        to_onnx(model)
    assert "register_onnx_converter(Doubler, fn)" in str(error.value)


def test_a_users_layer_exports_once_it_registers_a_converter(tmp_path):
    @register_onnx_converter(Doubler)
    def doubler_to_onnx(graph, layer, x):
        return graph.node("Mul", [x, graph.constant(2.0, "two")])

    model = Sequential([Dense(3, "tanh", input_dim=2), Doubler()], seed=0, dtype="float64")
    X = inputs(5, 2, "float64")
    np.testing.assert_allclose(run_onnx(to_onnx(model), X), model.predict(X), rtol=0, atol=1e-12)


def test_a_custom_activation_is_named_and_can_register():
    model = Sequential([Dense(3, Cube(), input_dim=2)], seed=0, dtype="float64")
    with pytest.raises(TypeError, match=r"activation Cube\(\) of a Dense layer \(Cube\)"):
        to_onnx(model)
    register_onnx_converter(Cube, lambda g, act, x: g.node("Pow", [x, g.constant(3.0)]))
    X = inputs(5, 2, "float64")
    np.testing.assert_allclose(run_onnx(to_onnx(model), X), model.predict(X), rtol=1e-12)


def test_a_subclass_of_a_known_layer_is_not_exported_with_its_parents_formula():
    class ScaledDense(Dense):
        def forward(self, x, training=False):
            return 3 * super().forward(x, training)

    model = Sequential([ScaledDense(2, input_dim=2)])
    with pytest.raises(TypeError, match=r"ScaledDense\) has no ONNX converter.*subclasses Dense"):
        to_onnx(model)


@pytest.mark.parametrize(
    ("cls", "fn", "error", "message"),
    [
        (Doubler(), None, TypeError, "cls must be a Layer or Activation subclass, got an instance"),
        (int, None, TypeError, "cls must be a Layer or Activation subclass, got <class 'int'>"),
        (Doubler, "not callable", TypeError, "fn must be callable"),
    ],
)
def test_register_rejects_what_is_not_a_layer_class_or_function(cls, fn, error, message):
    before = dict(CONVERTERS)
    with pytest.raises(error, match=message):
        register_onnx_converter(cls, fn) if fn is not None else register_onnx_converter(cls)
    assert CONVERTERS == before


# -- careless calls ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"opset": 12}, ValueError, "opset must be from 13 to"),
        ({"opset": 10_000}, ValueError, "opset must be from 13 to"),
        ({"opset": 17.0}, TypeError, "opset must be an int"),
        ({"opset": True}, TypeError, "opset must be an int"),
        ({"path": 3}, TypeError, "path must be a str or os.PathLike, got 3"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, message):
    model = Sequential([Dense(2, input_dim=2)])
    with pytest.raises(error, match=message):
        to_onnx(model, **kwargs)


def test_unbuilt_model_and_non_models_are_refused(tmp_path):
    with pytest.raises(ValueError, match="model must be built"):
        to_onnx(Sequential([Dense(2)]))
    with pytest.raises(TypeError, match=r"model must be a Model \(Sequential\).*got .*\(list\)"):
        to_onnx([Dense(2)])
    with pytest.raises(ValueError, match=r"must be in an existing folder, got .*m\.onnx'"):
        to_onnx(Sequential([Dense(2, input_dim=2)]), tmp_path / "missing" / "m.onnx")
    with pytest.raises(ValueError, match="must name a file"):
        to_onnx(Sequential([Dense(2, input_dim=2)]), tmp_path)


def test_a_failed_export_leaves_an_existing_file_untouched(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"earlier")
    with pytest.raises(TypeError):
        to_onnx(Sequential([Doubler(input_dim=2)]), path)
    assert path.read_bytes() == b"earlier"
    assert os.listdir(tmp_path) == ["model.onnx"]


@pytest.mark.slow
def test_import_scratchnn_and_export_package_do_not_import_onnx():
    code = "import sys, scratchnn, scratchnn.export; print('onnx' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def test_missing_onnx_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"pip install scratchnn\[onnx\]"):
        to_onnx(Sequential([Dense(2, input_dim=2)]))


# -- the command line and the benchmark ----------------------------------------------------------
def test_cli_export_writes_a_file_that_predicts_like_the_model(tmp_path, capsys):
    from scratchnn.cli import main

    model = randomise(Sequential([Dense(4, "relu", input_dim=3), Dense(2, "softmax")], seed=0))
    model.save(tmp_path / "m.npz")
    assert main(["export", str(tmp_path / "m.npz"), str(tmp_path / "m.onnx")]) == 0
    assert "m.onnx" in capsys.readouterr().out
    X = inputs(6, 3, "float32")
    proto = onnx.load(tmp_path / "m.onnx")
    np.testing.assert_allclose(run_onnx(proto, X), model.predict(X), rtol=0, atol=1e-5)


def test_cli_export_reports_bad_files_and_options_in_one_line(tmp_path, capsys):
    from scratchnn.cli import main

    (tmp_path / "bad.npz").write_bytes(b"not a model")
    assert main(["export", str(tmp_path / "bad.npz"), str(tmp_path / "m.onnx")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("scratchnn export: error:") and err.count("\n") == 1
    assert not (tmp_path / "m.onnx").exists()
    Sequential([Dense(2, input_dim=2)]).save(tmp_path / "ok.npz")
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(tmp_path / "ok.npz"), str(tmp_path / "m.onnx"), "--opset", "3"])
    assert exit_info.value.code == 2
    assert "opset must be from 13 up, got 3" in capsys.readouterr().err


@pytest.mark.slow
def test_benchmark_runs_onnx_runtime_as_an_inference_contender(tmp_path):
    out = tmp_path / "results.json"
    bench = str(ROOT / "benchmarks" / "bench.py")
    command = [sys.executable, bench, "--quick", "--rounds", "1", "--cases", "3",
               "--contenders", "scratchnn,onnxruntime", "--json", str(out)]  # fmt: skip
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert completed.returncode == 0, completed.stderr
    contenders = json.loads(out.read_text())["predict"]["contenders"]
    assert set(contenders) == {"scratchnn", "onnxruntime"}
    assert contenders["onnxruntime"]["rows_per_s"] > 0
    assert "onnxruntime" in completed.stdout


# -- convolution layers (channels last), where this scratchnn has them ----------------------------
def conv_layer(name: str):
    cls = getattr(scratchnn.layers, name, None)
    if cls is None:
        pytest.skip(f"scratchnn.layers has no {name} yet")
    return cls


def conv_stacks() -> dict:
    return {
        "same-relu-maxpool": lambda L: [
            L("Reshape")((8, 8, 1)),
            L("Conv2D")(4, 3, padding="same", activation="relu"),
            L("MaxPool2D")(2),
            L("Flatten")(),
            Dense(5, "softmax"),
        ],
        "valid-strided-avgpool-same": lambda L: [
            L("Reshape")((8, 8, 1)),
            L("Conv2D")(3, (3, 2), strides=(2, 1), activation="softmax"),  # over the channels
            L("AvgPool2D")(2, padding="same"),
            L("Flatten")(),
            Dense(4),
        ],
        "odd-same-pool-batchnorm-global": lambda L: [
            L("Reshape")((8, 8, 1)),
            L("Conv2D")(5, 2, strides=3, padding="same", use_bias=False),
            BatchNorm(),
            ELU(0.5),
            L("MaxPool2D")(3, strides=2, padding="same"),
            L("Conv2D")(4, 1, activation="gelu"),
            L("GlobalAvgPool2D")(),
            Dense(3, "sigmoid"),
        ],
        "reshape-back-to-flat": lambda L: [
            L("Reshape")((4, 4, 4)),
            L("AvgPool2D")((2, 1)),
            L("Reshape")((-1,)),
            Dense(3, "leaky_relu"),
        ],
    }


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("stack", sorted(conv_stacks()))
def test_convolution_stacks_run_in_onnx_runtime_like_predict(stack, dtype):
    model = Sequential(conv_stacks()[stack](conv_layer), seed=5, dtype=dtype)
    model.build(64)
    assert_matches(randomise(model, seed=6), dtype, width=64)


def test_convolution_uses_the_standard_operators():
    L = conv_layer
    model = Sequential(
        [L("Reshape")((6, 6, 2)), L("Conv2D")(3, 3, padding="same"), L("MaxPool2D")(2),
         L("AvgPool2D")(1), L("GlobalAvgPool2D")()],
        seed=0,
    )  # fmt: skip
    model.build(72)
    ops = [node.op_type for node in to_onnx(model).graph.node]
    for op in ("Reshape", "Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "Transpose"):
        assert op in ops
    conv = next(n for n in to_onnx(model).graph.node if n.op_type == "Conv")
    assert {a.name: list(a.ints) for a in conv.attribute}["pads"] == [1, 1, 1, 1]


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "expected"),
    [(8, 3, 1, (1, 1)), (8, 2, 1, (0, 1)), (7, 3, 2, (1, 1)), (8, 3, 2, (0, 1)), (5, 1, 3, (0, 0))],
)
def test_same_padding_is_placed_as_keras_places_it(size, kernel, stride, expected):
    """Against the definition: out = ceil(n / s) windows whose last one ends at the padded edge."""
    from scratchnn.export.conv import same_pads

    image, window, strides = (size, size, 1), (kernel, kernel), (stride, stride)
    top, left, bottom, right = same_pads(image, window, strides, "same")
    assert (top, bottom) == (left, right) == expected
    out = -(-size // stride)
    assert (out - 1) * stride + kernel <= size + top + bottom < (out - 1) * stride + kernel + stride
    assert same_pads(image, window, strides, "valid") == [0, 0, 0, 0]


@pytest.mark.parametrize("opset", [13, 21])
def test_float64_convolutions_export_at_old_and_new_opsets(opset):
    L = conv_layer
    model = Sequential(
        [L("Reshape")((5, 5, 2)), L("Conv2D")(3, 2, padding="same", activation="softplus"),
         L("AvgPool2D")(2, strides=1), L("GlobalAvgPool2D")()],
        seed=2, dtype="float64",
    )  # fmt: skip
    model.build(50)
    randomise(model)
    X = inputs(7, 50, "float64")
    got = run_onnx(to_onnx(model, opset=opset), X)
    np.testing.assert_allclose(got, model.predict(X), rtol=1e-10, atol=1e-10)
