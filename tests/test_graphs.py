"""Networks as graphs: the functional API, merges, shared layers, several inputs and outputs."""

from __future__ import annotations

import importlib
import re
import sys
import threading
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from fuzz_model_files import edit_header

import scratchnn
from scratchnn import (
    Add,
    Average,
    BatchNorm,
    Concatenate,
    Dense,
    Dropout,
    Flatten,
    Input,
    LayerNormalization,
    Maximum,
    Model,
    ModelCheckpoint,
    ModelFileError,
    Multiply,
    Sequential,
    Subtract,
    gradcheck,
)
from scratchnn.losses import get_loss
from scratchnn.training import TrainingStep

TOLERANCE = 1e-6
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _residual_mlp(seed: int = 0, dtype: str = "float32") -> Model:
    x = Input(shape=(4,), name="x")
    h = Dense(4, "tanh")(x)
    h = Add()([h, x])  # a skip connection: x feeds two layers
    out = Dense(3, "softmax", name="out")(h)
    return Model(x, out, seed=seed, dtype=dtype)


def _two_in_two_out(seed: int = 0, dtype: str = "float32") -> Model:
    table = Input(shape=(4,), name="table")
    extra = Input(shape=(3,), name="extra")
    shared = Dense(4, "tanh", name="shared")
    joined = Dense(6, "relu")(Concatenate()([table, extra]))
    first, second = shared(table), shared(Dense(4)(extra))  # one layer, two calls
    mixed = Concatenate()([first, second])
    cls = Dense(3, "softmax", name="cls")(Add()([joined, Dense(6)(mixed)]))
    reg = Dense(1, name="reg")(joined)
    return Model([table, extra], [cls, reg], seed=seed, dtype=dtype)


def _data(rng, n=40):
    A, B = rng.normal(size=(n, 4)), rng.normal(size=(n, 3))
    return A, B, rng.integers(0, 3, n), A.sum(axis=1)


# -- building ------------------------------------------------------------------------------------
def test_a_skip_connection_builds_predicts_and_describes_itself():
    model = _residual_mlp()
    assert model.predict(np.ones((5, 4))).shape == (5, 3)
    text = model.summary(print_fn=None)
    add = next(layer for layer in model.layers if isinstance(layer, Add))
    assert re.search(rf"{add.name} \(Add\)\s+\(None, 4\)\s+0\s+dense_\d+, x", text), text
    assert "Total params: 35" in text  # 4*4 + 4 and 4*3 + 3
    assert model.get_layer("out").units == 3
    with pytest.raises(ValueError, match=r"no layer named 'nope'; it has \["):
        model.get_layer("nope")


def test_layers_get_unique_generated_names_and_duplicates_are_refused():
    first, second = Dense(2), Dense(2)
    assert re.fullmatch(r"dense_\d+", first.name) and first.name != second.name
    x = Input(shape=(3,))
    with pytest.raises(ValueError, match=r"layer names must be unique in a model, got \['same'\]"):
        Model(x, Dense(2, name="same")(Dense(3, name="same")(x)))
    with pytest.raises(TypeError, match="name must be a non-empty string, got 3"):
        Dense(2, name=3)


def test_a_functional_chain_equals_sequential_bit_for_bit(rng):
    X, y = rng.normal(size=(64, 5)), rng.integers(0, 3, 64)
    stack = Sequential([Dense(8, "relu"), Dropout(0.2), BatchNorm(), Dense(3, "softmax")], seed=4)
    x = Input(shape=(5,))
    out = Dense(3, "softmax")(BatchNorm()(Dropout(0.2)(Dense(8, "relu")(x))))
    graph = Model(x, out, seed=4)
    for model in (stack, graph):
        model.fit(X, y, loss="categorical_crossentropy", epochs=3, batch_size=16, verbose=0)
    np.testing.assert_array_equal(graph.params, stack.params)
    np.testing.assert_array_equal(graph.predict(X), stack.predict(X))


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda x: Add()([x, Dense(3)(x)]), ValueError,
         r"Add needs inputs of one shape: input 0 has shape \(None, 4\) and input 1 has shape "
         r"\(None, 3\)"),
        (lambda x: Concatenate(axis=1)([x, Input(shape=(5, 2))]), ValueError,
         r"Concatenate\(axis=1\) needs inputs that agree on every other axis: input 0 has shape "
         r"\(None, 4\) and input 1 has shape \(None, 5, 2\)"),
        (lambda x: Subtract()([x, x, x]), ValueError, "Subtract takes exactly 2 inputs, got 3"),
        (lambda x: Add()(x), TypeError, "Add takes a list of tensors"),
        (lambda x: Dense(2)([x, x]), TypeError, "Dense must be called on a tensor"),
        (lambda x: Dense(2)(np.ones((3, 4))), TypeError,
         r"Dense must be called on a tensor from Input or another layer, got an array"),
        (lambda x: Model(x, Dense(2)(Input(shape=(4,)))), ValueError,
         "which is not among the model's inputs"),
        (lambda x: Model(Dense(2)(x), x), ValueError, "must be a tensor made by Input"),
        (lambda x: Model(x, "out"), TypeError, "outputs must be a tensor from Input"),
    ],
    ids=["add-shapes", "concat-shapes", "subtract-count", "add-one", "dense-list", "array",
         "missing-input", "input-not-input", "output-text"],
)  # fmt: skip
def test_a_graph_that_cannot_be_built_is_refused_with_both_sides_named(build, error, message):
    x = Input(shape=(4,))
    with pytest.raises(error, match=message):
        build(x)


def test_an_open_axis_takes_sequences_of_any_length_and_flatten_says_it_cannot():
    x = Input(shape=(None, 4))
    model = Model(x, Dense(3, "softmax")(LayerNormalization()(Dense(6, "relu")(x))), seed=0)
    for length in (2, 7):
        assert model.predict(np.ones((5, length, 4))).shape == (5, length, 3)
    with pytest.raises(
        ValueError,
        match=r"Flatten needs every axis's size, got inputs of shape "
        r"\(None, None, 4\) with an open axis",
    ):
        Flatten()(x)
    with pytest.raises(ValueError, match="Dense needs the size of its inputs' last axis"):
        Dense(2)(Input(shape=(4, None)))


# -- gradients -----------------------------------------------------------------------------------
def _merge_graph(merge):
    a, b = Input(shape=(3,), name="a"), Input(shape=(3,), name="b")
    left, right = Dense(3, "tanh")(a), Dense(3, "sigmoid")(b)
    inputs = [left, right, Dense(3)(a)] if merge not in (Subtract,) else [left, right]
    return Model([a, b], Dense(2)(merge()(inputs)), seed=1, dtype="float64")


@pytest.mark.parametrize("merge", [Add, Subtract, Multiply, Average, Maximum, Concatenate])
def test_each_merge_matches_finite_differences(merge, rng):
    model = _merge_graph(merge)
    report = gradcheck(model, [rng.normal(size=(5, 3)), rng.normal(size=(5, 3))],
                       rng.normal(size=(5, 2)), loss="mse")  # fmt: skip
    assert report.worst < TOLERANCE, report.errors
    assert {"X['a']", "X['b']"} <= set(report.errors)


def test_fan_out_shared_layers_two_inputs_two_outputs_match_finite_differences(rng):
    model = _two_in_two_out(dtype="float64")
    A, B, labels, targets = _data(rng, n=6)
    report = gradcheck(model, [A, B], [labels, targets[:, None]],
                       loss=["categorical_crossentropy", "mse"])  # fmt: skip
    assert report.worst < TOLERANCE, report.errors
    assert "shared.W" in report.errors and len(report.errors) == 6 * 2 + 2  # 6 Dense, 2 X


def test_three_dimensional_tensors_through_dense_and_layer_norm_match_finite_differences(rng):
    x = Input(shape=(5, 4))
    h = LayerNormalization()(Dense(6, "gelu")(x))
    out = Dense(3, "softmax")(Add()([h, Dense(6)(x)]))
    report = gradcheck(Model(x, out, seed=2), rng.normal(size=(3, 5, 4)),
                       rng.integers(0, 3, (3, 5)), loss="categorical_crossentropy")  # fmt: skip
    assert report.worst < TOLERANCE, report.errors


def test_a_fork_sums_the_gradients_of_both_paths():
    """y = W x + W x through a layer called twice: dL/dW is twice one call's gradient."""
    x = Input(shape=(2,))
    shared = Dense(1, use_bias=False, kernel_initializer="ones")
    model = Model(x, Add()([shared(x), shared(x)]), seed=0, dtype="float64")
    X, target = np.array([[1.0, 2.0]]), np.array([[0.0]])
    # L = (2 W.x)^2 = 36 at W = (1, 1); dL/dW = 2 (2 W.x) 2 x = 24 x
    step = TrainingStep(model, get_loss("mse"))
    result = step.loss_and_gradients(X, target)
    assert result.loss == pytest.approx(36.0)
    np.testing.assert_allclose(shared.grads["W"].ravel(), [24.0, 48.0])
    assert model.params.size == 2  # one set of weights for both calls


def test_a_layer_off_every_path_to_the_loss_gets_no_stale_gradient(rng):
    x = Input(shape=(3,))
    used, unused = Dense(2), Dense(2)
    model = Model(x, [used(x), unused(x)], seed=0, dtype="float64")
    model.grads[...] = 7.0
    step = TrainingStep(model, [get_loss("mse"), get_loss("mse")], loss_weights=[1.0, 0.0])
    step.loss_and_gradients(rng.normal(size=(4, 3)), [rng.normal(size=(4, 2))] * 2)
    assert np.all(unused.grads["W"] == 0.0) and np.any(used.grads["W"] != 0.0)


# -- fit, evaluate, predict ----------------------------------------------------------------------
def test_two_inputs_two_outputs_fit_with_dicts_and_log_per_output(rng):
    A, B, labels, targets = _data(rng, n=80)
    model = _two_in_two_out()
    history = model.fit({"table": A, "extra": B}, {"cls": labels, "reg": targets},
                        loss={"cls": "categorical_crossentropy", "reg": "mse"},
                        loss_weights={"cls": 1.0, "reg": 0.5}, metrics=["accuracy"],
                        epochs=3, batch_size=16, validation_split=0.25, verbose=0)  # fmt: skip
    assert list(history.history) == [
        "loss", "cls_loss", "reg_loss", "cls_accuracy", "reg_accuracy",
        "val_loss", "val_cls_loss", "val_reg_loss", "val_cls_accuracy", "val_reg_accuracy",
    ]  # fmt: skip
    logs = {key: values[-1] for key, values in history.history.items()}
    assert logs["val_loss"] == pytest.approx(logs["val_cls_loss"] + 0.5 * logs["val_reg_loss"])
    scores = model.evaluate([A, B], [labels, targets])
    assert scores["loss"] == pytest.approx(scores["cls_loss"] + 0.5 * scores["reg_loss"])
    probabilities, regression = model.predict([A, B])
    assert probabilities.shape == (80, 3) and regression.shape == (80, 1)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize(
    ("X", "y", "message"),
    [
        (
            lambda A, B: A,
            None,
            r"X must be a list of 2 arrays or a dict keyed by \['table', 'extra'\]",
        ),
        (lambda A, B: {"table": A}, None, r"missing \['extra'\]"),
        (lambda A, B: [A, B[:5]], None, "X must hold the same number of samples per input"),
        (lambda A, B: [A, A], None, r"X\['extra'\] must have shape \(batch, 3\), got \(40, 4\)"),
        (lambda A, B: [A, B], lambda L, T: [L], r"y must hold one array per output \(2"),
        (lambda A, B: [A, B], lambda L, T: [L + 5, T], r"y\['cls'\] does not fit the loss"),
    ],
    ids=["one-array", "missing-key", "lengths", "shape", "one-target", "bad-labels"],
)
def test_bad_inputs_to_a_graph_are_named_and_change_nothing(rng, X, y, message):
    A, B, labels, targets = _data(rng)
    model = _two_in_two_out()
    before = model.get_state()
    given_y = [labels, targets] if y is None else y(labels, targets)
    with pytest.raises((ValueError, TypeError), match=message):
        model.fit(X(A, B), given_y, epochs=1, verbose=0)
    np.testing.assert_array_equal(model.params, before["params"])
    assert model.rng.bit_generator.state == before["rng"]


def test_per_position_cross_entropy_is_the_mean_over_positions(rng):
    logits = rng.normal(size=(4, 5, 3))
    labels = rng.integers(0, 3, (4, 5))
    weights = rng.uniform(0.5, 2.0, (4, 5))
    loss = get_loss({"name": "categorical_crossentropy", "from_logits": True})
    rows = loss(logits.reshape(-1, 3), labels.ravel(), weights.ravel())
    assert loss(logits, labels, weights) == pytest.approx(rows)
    value, grad = loss.value_and_grad(logits, labels, weights)
    _, row_grad = loss.value_and_grad(logits.reshape(-1, 3), labels.ravel(), weights.ravel())
    assert value == pytest.approx(rows)
    np.testing.assert_allclose(grad, row_grad.reshape(4, 5, 3))


def test_a_sequence_model_trains_one_classification_per_position(rng):
    X = rng.normal(size=(60, 6, 2))
    y = (X[..., 0] > 0).astype(int)  # each position's own class
    x = Input(shape=(None, 2))
    model = Model(x, Dense(2, "softmax")(Dense(16, "tanh")(x)), seed=0)
    history = model.fit(X, y, epochs=30, batch_size=10, metrics=["accuracy"], verbose=0,
                        sample_weight=np.ones((60, 6)))  # fmt: skip
    assert history.history["accuracy"][-1] > 0.95


# -- files, copies, threads ----------------------------------------------------------------------
def test_a_graph_with_a_shared_layer_saves_and_loads_to_the_same_answers(rng, tmp_path):
    A, B, labels, targets = _data(rng)
    model = _two_in_two_out()
    model.fit([A, B], [labels, targets], epochs=2, verbose=0)
    model.save(tmp_path / "graph.npz")
    again = scratchnn.load(tmp_path / "graph.npz")
    assert type(again) is Model and again.input_names == ["table", "extra"]
    for mine, theirs in zip(model.predict([A, B]), again.predict([A, B]), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    assert again.params.size == model.params.size  # the shared layer stayed shared
    copy = model.copy(dtype="float64")
    np.testing.assert_allclose(copy.predict([A, B])[1], model.predict([A, B])[1], atol=1e-5)
    copy.params[...] = 0.0
    assert np.any(model.params != 0.0)


def test_a_resumed_graph_fit_is_bit_identical_to_an_uninterrupted_one(rng, tmp_path):
    A, B, labels, targets = _data(rng)
    settings = dict(epochs=4, batch_size=8, verbose=0)
    whole = _two_in_two_out(seed=3)
    whole.fit([A, B], [labels, targets], **settings)
    first = _two_in_two_out(seed=3)
    first.fit([A, B], [labels, targets], **dict(settings, epochs=2),
              callbacks=[ModelCheckpoint(tmp_path / "checkpoint.npz")])  # fmt: skip
    resumed = _two_in_two_out(seed=3)
    resumed.fit([A, B], [labels, targets], **settings, resume_from=tmp_path / "checkpoint.npz")
    np.testing.assert_array_equal(resumed.params, whole.params)


def _saved_graph(tmp_path):
    path = tmp_path / "graph.npz"
    _residual_mlp().save(path)
    return path


def _chain(header, depth):
    """The graph's own nodes, then ``depth`` calls of its last layer, each on the one before."""
    graph = header["model"]["graph"]
    name = graph["layers"][-1]["name"]
    graph["nodes"] += [{"layer": name, "inputs": [[name, i, 0]]} for i in range(depth)]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda g: g["nodes"][0].update(inputs=[[g["nodes"][1]["layer"], 0, 0]]),
         "names a tensor no earlier node makes"),
        (lambda g: g["nodes"][0].update(inputs=[[g["nodes"][0]["layer"], 0, 0]]),
         "names a tensor no earlier node makes"),
        (lambda g: g["nodes"][0].update(inputs=[["ghost", 0, 0]]),
         "names a tensor no earlier node makes"),
        (lambda g: g["layers"][1].update(name=g["layers"][0]["name"]), "is used twice"),
        (lambda g: g["inputs"][0].update(name=g["layers"][0]["name"]), "is used twice"),
        (lambda g: g["nodes"][0].update(layer=g["inputs"][0]["name"]), "names no layer of the"),
        (lambda g: g.update(nodes="many"), "'nodes' must be a list"),
        (lambda g: g["nodes"].extend([{"layer": g["nodes"][0]["layer"], "inputs": [["x", 0, 0]]}]
                                      * 20_000), "may hold at most 10000"),
        (lambda g: g["outputs"].__setitem__(0, ["x", 0, 7]), "names a tensor no earlier node"),
    ],
    ids=["cycle", "self-loop", "missing-node", "duplicate-layer", "duplicate-input",
         "input-as-layer", "nodes-not-list", "huge-fan-out", "bad-output"],
)  # fmt: skip
def test_a_hostile_graph_in_a_file_is_a_model_file_error(tmp_path, edit, message):
    path = _saved_graph(tmp_path)
    edit_header(path, lambda header: edit(header["model"]["graph"]))
    with pytest.raises(ModelFileError, match=message):
        scratchnn.load(path)


@pytest.mark.slow
def test_a_chain_100000_deep_is_refused_before_anything_is_allocated(tmp_path):
    path = _saved_graph(tmp_path)
    edit_header(path, lambda header: _chain(header, 100_000))
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match="may hold at most 10000"):
            scratchnn.load(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 96 * 2**20  # the JSON header's own objects (files cap it at 16 MB); no layer


def test_predict_from_eight_threads_equals_one_thread(rng):
    A, B, labels, targets = _data(rng, n=200)
    model = _two_in_two_out()
    model.fit([A, B], [labels, targets], epochs=1, verbose=0)
    cases = [slice(start, start + size) for start in range(0, 80, 10) for size in (1, 7, 50)]
    expected = {(c.start, c.stop): model.predict([A[c], B[c]]) for c in cases}
    results, errors = [], []

    def work(start):
        try:
            for size in (1, 7, 50):
                rows = slice(start, start + size)
                got = model.predict([A[rows], B[rows]])
                want = expected[(rows.start, rows.stop)]
                results.append(all(np.array_equal(g, e) for g, e in zip(got, want, strict=True)))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i * 10,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(results) == 24 and all(results)


# -- what Keras users type -----------------------------------------------------------------------
def test_compile_then_fit_and_weights_round_trip(rng):
    X, y = rng.normal(size=(50, 4)), rng.integers(0, 3, 50)
    model = _residual_mlp()
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(X, y, epochs=2, verbose=0)
    assert list(history.history) == ["loss", "accuracy"]
    assert model.optimizer.get_config()["name"] == "sgd"
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(4, 4), (4,), (4, 3), (3,)]
    np.testing.assert_array_equal(model(X), model.predict(X))
    model.set_weights([np.zeros_like(w) for w in weights])
    np.testing.assert_allclose(model.predict(X[:2]), 1 / 3)
    with pytest.raises(ValueError, match=r"must have shape \(4, 4\), got \(4, 5\)"):
        model.set_weights([np.zeros((4, 5)), *weights[1:]])
    with pytest.raises(ValueError, match="unknown loss 'crossentropy'"):
        model.compile(loss="crossentropy")


@pytest.mark.parametrize(
    ("head", "loss"),
    [("softmax", "categorical_crossentropy"), ("sigmoid", "binary_crossentropy"), (None, "mse")],
)
def test_fit_without_a_loss_takes_the_one_the_output_layer_implies(rng, head, loss):
    units = 3 if head == "softmax" else 1
    X = rng.normal(size=(30, 4))
    y = rng.integers(0, units if units > 1 else 2, 30)
    model = Sequential([Dense(5, "relu"), Dense(units, head)], seed=0)
    model.fit(X, y, epochs=1, verbose=0)
    assert model.loss.name == loss


# -- the examples --------------------------------------------------------------------------------
def _example(name: str):
    sys.path.insert(0, str(EXAMPLES))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(EXAMPLES))


@pytest.mark.slow
def test_the_residual_cnn_example_reaches_the_plain_cnns_accuracy_on_the_digits():
    pytest.importorskip("sklearn")
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(1):
        accuracy = _example("residual_digits").main(seed=0, verbose=0)
    assert accuracy >= 0.985  # the plain CNN of digits_cnn.py: 0.989 on this split


def test_the_skip_mlp_example_trains_where_the_plain_stack_of_the_same_depth_does_not():
    scores = _example("skip_mlp").main(verbose=0)
    assert scores["with skips"] > 0.9 and scores["plain"] < 0.5


def test_the_two_input_example_beats_the_image_alone():
    pytest.importorskip("sklearn")
    scores = _example("two_inputs").main(verbose=0)
    assert scores["image and table"] > scores["image alone"] + 0.01


@pytest.mark.slow
def test_fuzzed_graph_files_load_or_raise_model_file_errors_only(tmp_path):
    """300 seeded cases of tests/fuzz_graph_files.py (its long run: see its docstring)."""
    import fuzz_graph_files

    report = fuzz_graph_files.run(300, seed=11, folder=tmp_path)
    assert report.cases == 300
    assert not report.escapes, [(e.family, e.what, e.error, e.origin) for e in report.escapes[:3]]
    refused = sum(n for (_, _, outcome), n in report.outcomes.items() if outcome == "refused")
    assert refused > 300  # the mutations do reach the checks (two readers per case)


def test_a_graph_with_an_open_axis_saves_and_loads(tmp_path):
    steps = Input(shape=(None, 3), name="steps")
    model = Model(steps, Dense(2, "softmax")(LayerNormalization()(Dense(4)(steps))), seed=0)
    model.save(tmp_path / "open.npz")
    again = scratchnn.load(tmp_path / "open.npz")
    assert again.input_shapes == [(None, 3)]
    sequences = np.random.default_rng(0).normal(size=(2, 7, 3))
    np.testing.assert_array_equal(again.predict(sequences), model.predict(sequences))


def test_integer_features_feeding_dense_enter_as_the_models_floats():
    counts = Input(shape=(3,), dtype="int64", name="counts")
    model = Model(counts, Dense(2)(counts), seed=0)
    assert model.input_dtypes == [np.float32]
    out = model.predict(np.array([[1, 2, 3]]))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, model.predict(np.array([[1.0, 2.0, 3.0]])))


def test_inference_batches_count_an_open_axis_at_the_length_it_has():
    """An open time axis is sized by the inputs being run, not as one step: a GPT's 64 positions
    would otherwise make batches 64 times too large for the working-memory budget."""
    from scratchnn.layers.memory import PREDICT_MEMORY

    x = Input(shape=(None, 8))
    model = Model(x, Dense(1024)(x), seed=0)
    per_step = (8 + 1024) * 4  # input and output of the Dense, float32 bytes
    assert model.predict_rows() == PREDICT_MEMORY // per_step
    assert model.predict_rows(np.zeros((2, 500, 8))) == PREDICT_MEMORY // (500 * per_step)
    stack = Sequential([Dense(1024, input_shape=(None, 8))], seed=0)
    assert stack.predict_rows(np.zeros((2, 500, 8))) == PREDICT_MEMORY // (500 * per_step)
    rows = np.random.default_rng(0).normal(size=(3, 500, 8))
    np.testing.assert_array_equal(model.predict(rows), model.predict(rows, batch_size=1))
