"""Model files: exact round trips and atomic saves (unsound files: test_io_rejected_files.py)."""

from __future__ import annotations

import errno
import json
import os
import sys
import zipfile

import numpy as np
import pytest
from fuzz_model_files import edit_header

from scratchnn import (
    GRU,
    LSTM,
    Add,
    Average,
    Bidirectional,
    Concatenate,
    Embedding,
    Input,
    LayerNormalization,
    Maximum,
    Model,
    Multiply,
    NeuralNetwork,
    Sequential,
    SimpleRNN,
    Subtract,
    load,
)
from scratchnn import io as model_io
from scratchnn.initializers import VarianceScaling
from scratchnn.layers import (
    ELU,
    GELU,
    LAYERS,
    ActivationLayer,
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool2D,
    LeakyReLU,
    Linear,
    MaxPool2D,
    ReLU,
    Reshape,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)
from scratchnn.layers.attention import MultiHeadAttention
from scratchnn.losses import get_loss
from scratchnn.training import TrainingStep

ACTIVATIONS = ["linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "softplus"]
ACTIVATIONS += ["softmax"]
PARAMETER_FREE_LAYERS = [
    ReLU(), Sigmoid(), Tanh(), GELU(), Softplus(), Softmax(), Linear(), LeakyReLU(0.2), ELU(0.7),
    ActivationLayer("elu"), Dropout(0.4),
]  # fmt: skip


def _data(n: int = 24, features: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, features))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int)


def _assert_same_model(a: Sequential, b: Sequential, X: np.ndarray) -> None:
    assert a.get_config() == b.get_config()
    assert a.params.dtype == b.params.dtype
    np.testing.assert_array_equal(a.params, b.params)
    for layer_a, layer_b in zip(a.layers, b.layers, strict=True):
        assert layer_a.state.keys() == layer_b.state.keys()
        for key in layer_a.state:
            np.testing.assert_array_equal(layer_a.state[key], layer_b.state[key])
    assert a.rng.bit_generator.state == b.rng.bit_generator.state
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


def _round_trip(model, tmp_path, name: str = "model.npz"):
    path = tmp_path / name
    model.save(path)
    return load(path)


def _trained(layers, dtype: str = "float32", epochs: int = 2) -> tuple[Sequential, np.ndarray]:
    X, y = _data()
    model = Sequential(layers, seed=3, dtype=dtype)
    model.fit(X, y, loss="mse", optimizer="adam", epochs=epochs, batch_size=8, verbose=0)
    return model, X


# -- round trips ----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense_with_each_activation_round_trips_bit_identically(tmp_path, activation, dtype):
    model, X = _trained([Dense(4, activation), Dense(1, activation)], dtype)
    _assert_same_model(model, _round_trip(model, tmp_path), X)


@pytest.mark.parametrize(
    "options",
    [
        {"kernel_regularizer": "l1"},
        {"kernel_regularizer": "l2", "bias_regularizer": "l1_l2"},
        {"kernel_regularizer": {"l1": 0.003, "l2": 0.0007}},
        {"use_bias": False},
        {"kernel_initializer": "he_normal", "bias_initializer": "ones"},
        {"kernel_initializer": "lecun_uniform"},
        {"kernel_initializer": VarianceScaling(scale=0.3, mode="fan_in", distribution="normal")},
    ],
    ids=repr,
)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dense_with_regularizers_and_initializers_round_trips(tmp_path, options, dtype):
    model, X = _trained([Dense(5, "tanh", **options), Dense(1)], dtype)
    loaded = _round_trip(model, tmp_path)
    _assert_same_model(model, loaded, X)
    # The penalty is part of the loss: the loaded model must score the same loss too.
    loss = get_loss("mse")
    assert TrainingStep(loaded, loss).penalty() == TrainingStep(model, loss).penalty()


@pytest.mark.parametrize("layer", PARAMETER_FREE_LAYERS, ids=repr)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_parameter_free_layers_round_trip(tmp_path, layer, dtype):
    model, X = _trained([Dense(4), type(layer).from_config(layer.get_config()), Dense(1)], dtype)
    _assert_same_model(model, _round_trip(model, tmp_path), X)


IMAGE_LAYERS = [
    lambda: Reshape((6, 6, 1), input_shape=(36,)),
    lambda: Conv2D(4, 3, padding="same", activation="relu"),
    lambda: BatchNorm(momentum=0.5),
    lambda: MaxPool2D(2),
    lambda: Conv2D(3, (2, 1), strides=(1, 2), kernel_regularizer="l2"),
    lambda: AvgPool2D(2, strides=1, padding="same"),
    lambda: GlobalAvgPool2D(),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_image_layers_round_trip_bit_identically(tmp_path, dtype):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 36)), rng.integers(0, 2, size=20)
    flat = [Reshape((6, 6, 1)), Conv2D(2, 3), Flatten(), Dense(1)]
    for layers in ([make() for make in IMAGE_LAYERS] + [Dense(1)], flat):
        model = Sequential(layers, seed=3, dtype=dtype)
        model.fit(X, y, loss="mse", epochs=2, batch_size=8, verbose=0)
        _assert_same_model(model, _round_trip(model, tmp_path), X)


GRAPH_LAYERS = {"InputLayer", "Add", "Subtract", "Multiply", "Average", "Maximum", "Concatenate",
                "LayerNormalization"}  # fmt: skip


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_graph_layers_round_trip_bit_identically(tmp_path, dtype):
    rng = np.random.default_rng(0)
    a, b = Input(shape=(4,), name="a"), Input(shape=(4,), name="b")
    left, right = Dense(4, "tanh")(a), LayerNormalization(epsilon=1e-4)(Dense(4)(b))
    merged = [Add()([left, right]), Subtract()([left, right]), Multiply()([left, right, a]),
              Average()([left, right]), Maximum()([left, b])]  # fmt: skip
    out = Dense(1)(Concatenate(axis=-1)(merged))
    model = Model([a, b], out, seed=2, dtype=dtype)
    X = [rng.normal(size=(16, 4)), rng.normal(size=(16, 4))]
    model.fit(X, rng.normal(size=16), epochs=2, batch_size=4, verbose=0)
    loaded = _round_trip(model, tmp_path)
    assert {type(layer).__name__ for layer in loaded.layers} | {"InputLayer"} >= GRAPH_LAYERS
    np.testing.assert_array_equal(loaded.params, model.params)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


SEQUENCE_LAYERS = {"Embedding", "SimpleRNN", "LSTM", "GRU", "Bidirectional"}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sequence_layers_round_trip_bit_identically(tmp_path, dtype):
    rng = np.random.default_rng(0)
    ids, start = Input(shape=(None,), dtype="int64", name="ids"), Input(shape=(3,), name="h0")
    h = Embedding(6, 4, mask_zero=True)(ids)
    h = LSTM(3, return_sequences=True, dropout=0.2, recurrent_dropout=0.1)(h)
    h = Bidirectional(GRU(3, return_sequences=True, go_backwards=True), merge_mode="mul")(h)
    h = GRU(3, return_sequences=True, use_bias=False)(h)
    h, state = SimpleRNN(3, return_state=True, kernel_regularizer="l2")([h, start])
    model = Model([ids, start], Dense(1)(Concatenate()([h, state])), seed=2, dtype=dtype)
    X = [rng.integers(0, 6, (16, 5)), rng.normal(size=(16, 3))]
    model.fit(X, rng.normal(size=16), epochs=2, batch_size=4, verbose=0)
    loaded = _round_trip(model, tmp_path)
    assert {type(layer).__name__ for layer in loaded.layers} >= SEQUENCE_LAYERS
    assert loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(loaded.params, model.params)
    assert loaded.rng.bit_generator.state == model.rng.bit_generator.state
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    longer = [rng.integers(0, 6, (3, 9)), rng.normal(size=(3, 3))]  # the time axis stays open
    np.testing.assert_array_equal(loaded.predict(longer), model.predict(longer))


POSITION_LAYERS = {"PositionEmbedding", "SinePositionEncoding"}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_position_layers_round_trip_bit_identically(tmp_path, dtype):
    from scratchnn import PositionEmbedding, SinePositionEncoding

    rng = np.random.default_rng(0)
    ids = Input(shape=(None,), dtype="int64", name="ids")
    h = SinePositionEncoding(max_wavelength=500.0)(PositionEmbedding(6)(Embedding(6, 4)(ids)))
    model = Model(ids, Dense(6, "softmax")(h), seed=2, dtype=dtype)
    X = rng.integers(0, 6, (16, 5))
    model.fit(X, rng.integers(0, 6, (16, 5)), epochs=2, batch_size=4, verbose=0)
    loaded = _round_trip(model, tmp_path)
    assert {type(layer).__name__ for layer in loaded.layers} >= POSITION_LAYERS
    assert loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(loaded.params, model.params)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


ATTENTION_LAYERS = {"MultiHeadAttention"}


def test_attention_round_trips_bit_identically(tmp_path):
    rng = np.random.default_rng(0)
    x, allowed = Input(shape=(None, 4), name="x"), Input(shape=(5, 5), name="allowed")
    h, weights = MultiHeadAttention(2, 3, value_dim=2, dropout=0.1)(
        x, x, attention_mask=allowed, use_causal_mask=True, return_attention_scores=True
    )
    model = Model([x, allowed], [h, weights], seed=2)
    X = [rng.normal(size=(8, 5, 4)), (rng.random((8, 5, 5)) < 0.7).astype(float)]
    model.fit(X, [rng.normal(size=(8, 5, 4)), rng.random((8, 2, 5, 5))], epochs=1, verbose=0)
    loaded = _round_trip(model, tmp_path)
    assert {type(layer).__name__ for layer in loaded.layers} >= ATTENTION_LAYERS
    assert loaded.get_config() == model.get_config()
    for ours, theirs in zip(model.predict(X), loaded.predict(X), strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_every_registered_layer_class_has_a_round_trip_test():
    """A new layer class fails here until it is added to the round-trip tests above."""
    tested = {type(layer).__name__ for layer in PARAMETER_FREE_LAYERS} | {"Dense", "BatchNorm"}
    tested |= {type(make()).__name__ for make in IMAGE_LAYERS} | {"Flatten"}
    tested |= GRAPH_LAYERS | SEQUENCE_LAYERS | ATTENTION_LAYERS
    tested |= POSITION_LAYERS
    # Layers that tests and doc pages define for themselves register too; only ours count here.
    ours = {  # classes of scratchnn's modules; docstring examples define theirs in a copy
        name
        for name, cls in LAYERS.items()
        if cls.__module__.startswith("scratchnn.")
        and getattr(sys.modules[cls.__module__], cls.__qualname__, None) is cls
    }
    assert "Conv2D" in ours and "Dense" in ours
    assert ours - tested == set()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_batchnorm_running_statistics_round_trip(tmp_path, dtype):
    model, X = _trained([Dense(4), BatchNorm(momentum=0.8), ReLU(), Dense(1)], dtype, epochs=3)
    running_mean = model.layers[1].state["running_mean"]
    assert not np.allclose(running_mean, 0.0)  # training moved them: the test can fail
    loaded = _round_trip(model, tmp_path)
    _assert_same_model(model, loaded, X)
    assert loaded.layers[1].momentum == 0.8


def test_loaded_model_keeps_training_exactly_like_the_original(tmp_path):
    """Weights, running statistics and rng state all survive: further training agrees bit-wise."""
    model, X = _trained([Dense(6, "relu"), BatchNorm(), Dropout(0.3), Dense(1)], epochs=1)
    loaded = _round_trip(model, tmp_path)
    _, y = _data()
    for network in (model, loaded):
        network.fit(X, y, optimizer="sgd", epochs=2, batch_size=5, verbose=0)
    _assert_same_model(model, loaded, X)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_tutorial_network_round_trips_as_a_neural_network(tmp_path, dtype):
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    y = np.array([[0], [1], [1], [0]])
    network = NeuralNetwork(2, 3, 1, learning_rate=2.0, optimizer="adam", seed=1, dtype=dtype)
    network.train(X, y, epochs=50)
    loaded = _round_trip(network, tmp_path)
    assert isinstance(loaded, NeuralNetwork)
    assert loaded.learning_rate == 2.0
    np.testing.assert_array_equal(loaded.weights1, network.weights1)
    np.testing.assert_array_equal(loaded.bias2, network.bias2)
    np.testing.assert_array_equal(loaded.forward(X), network.forward(X))
    # The optimizer (Adam moments and step count) came back too: training goes on identically.
    assert loaded.optimizer.iterations == 50
    network.train(X, y, epochs=5)
    loaded.train(X, y, epochs=5)
    np.testing.assert_array_equal(loaded.weights2, network.weights2)
    # And a loaded network saves again.
    np.testing.assert_array_equal(
        _round_trip(loaded, tmp_path, "again.npz").weights1, loaded.weights1
    )


def test_file_is_readable_with_plain_zipfile_and_json(tmp_path):
    """The format as docs/model-format.md describes it, read without scratchnn."""
    model, _ = _trained([Dense(3, "relu"), BatchNorm(), Dense(1)])
    path = tmp_path / "model.npz"
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        names = sorted(archive.namelist())
        with archive.open("__config__.npy") as entry:
            raw = np.lib.format.read_array(entry, allow_pickle=False)
        header = json.loads(raw.tobytes().decode("utf-8"))
        with archive.open("layers.0.params.W.npy") as entry:
            weights = np.lib.format.read_array(entry, allow_pickle=False)
    assert header["format"] == "scratchnn-model"
    # A stack is written as version 2, which older readers take; graphs need version 3.
    assert header["format_version"] == 2 and model_io.FORMAT_VERSION == 3
    assert header["kind"] == "Sequential"
    assert header["arrays"]["layers.1.state.running_var"] == {"shape": [3], "dtype": "float32"}
    assert names == sorted(f"{name}.npy" for name in ["__config__", *header["arrays"]])
    np.testing.assert_array_equal(weights, model.layers[0].params["W"])


def test_save_refuses_an_unbuilt_model_and_other_objects(tmp_path):
    with pytest.raises(ValueError, match="must be built before saving"):
        Sequential([Dense(2)]).save(tmp_path / "m.npz")
    with pytest.raises(
        TypeError, match="model must be a Sequential or a Model or a NeuralNetwork, got"
    ):
        model_io.save({"W": 1}, tmp_path / "m.npz")
    model, _ = _trained([Dense(1)])
    with pytest.raises(ValueError, match="path must be in an existing folder"):
        model.save(tmp_path / "no" / "such" / "m.npz")
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "absent.npz")
    assert list(tmp_path.iterdir()) == []


# -- atomic saves ---------------------------------------------------------------------------------
@pytest.mark.parametrize("failure", [OSError(errno.ENOSPC, "No space left"), KeyboardInterrupt()])
def test_a_save_failing_midway_leaves_the_previous_file_intact(tmp_path, monkeypatch, failure):
    old, X = _trained([Dense(3, "relu"), Dense(1)], epochs=1)
    path = tmp_path / "model.npz"
    old.save(path)
    before = path.read_bytes()
    new, _ = _trained([Dense(3, "relu"), Dense(1)], epochs=3)
    real_savez = np.savez

    def savez_then_fail(file, **arrays):
        real_savez(file, **arrays)  # the whole archive is written...
        file.truncate(file.tell() // 2)  # ...half of it survives,
        raise failure  # and the disk fills up (or the user hits Ctrl-C)

    monkeypatch.setattr(model_io.np, "savez", savez_then_fail)
    with pytest.raises(type(failure)):
        new.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]  # no temp file left behind
    np.testing.assert_array_equal(load(path).params, old.params)
    assert not np.array_equal(new.params, old.params)


def test_save_writes_a_temp_file_in_the_same_folder_fsyncs_and_renames(tmp_path, monkeypatch):
    model, _ = _trained([Dense(1)])
    path = tmp_path / "model.npz"
    calls = []
    real_replace, real_fsync = os.replace, os.fsync
    monkeypatch.setattr(
        model_io.os, "fsync", lambda fd: (calls.append(("fsync", fd)), real_fsync(fd))[1]
    )
    monkeypatch.setattr(
        model_io.os,
        "replace",
        lambda src, dst: (calls.append(("replace", src, dst)), real_replace(src, dst))[1],
    )
    model.save(path)
    replaces = [call for call in calls if call[0] == "replace"]
    assert len(replaces) == 1
    source, target = replaces[0][1:]
    assert os.path.dirname(source) == str(tmp_path) and target == path
    assert calls[0][0] == "fsync"  # the data reached the disk before the rename
    assert not os.path.exists(source)


def _as_version_1(config: dict) -> None:
    """How format version 1 wrote a model config: flat widths as ``input_dim`` ints."""
    config["input_dim"] = config.pop("input_shape")[0]
    for spec in config["layers"]:
        shape = spec["config"].pop("input_shape")
        spec["config"]["input_dim"] = None if shape is None else shape[0]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_files_of_format_version_1_still_load(tmp_path, dtype):
    model, X = _trained([Dense(4, "relu"), BatchNorm(), Dense(1, "sigmoid")], dtype)
    path = tmp_path / "v1.npz"
    model.save(path)

    def downgrade(header):
        _as_version_1(header["model"])
        header["format_version"] = 1
        assert "input_shape" not in json.dumps(header["model"])

    edit_header(path, downgrade)
    loaded = load(path)
    assert loaded.input_shape == (3,) and loaded.layers[1].input_shape == (4,)
    np.testing.assert_array_equal(loaded.params, model.params)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
