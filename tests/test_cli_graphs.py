"""The command line on graph models (``Model(inputs, outputs)``): evaluate, predict, summary.

Also that the command line asks layers what they are (``kernel_layout``, the output layer's
activation) instead of guessing from parameter names or the last entry of ``model.layers``.
"""

from __future__ import annotations

import csv
import subprocess
import sys

import numpy as np
import pytest

import scratchnn
from scratchnn import Add, Concatenate, Dense, Input, Model, Sequential
from scratchnn.cli.build import can_fold_inputs, can_fold_targets, is_classifier, output_layer
from scratchnn.datasets import make_blobs
from scratchnn.layers import Conv2D, Layer


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "scratchnn.cli", *args], capture_output=True, text=True
    )


def shared_head_classifier(seed: int = 0) -> Model:
    """A classifier whose output layer is a shared softmax layer first called mid-graph, so that
    ``model.layers[-1]`` (the Add) is not the layer that makes the output."""
    x = Input(shape=(2,), name="x")
    h = Dense(3, name="project")(x)
    head = Dense(3, "softmax", name="head")
    out = head(Add(name="skip")([h, head(h)]))
    return Model(x, out, seed=seed)


@pytest.fixture(scope="module")
def graph_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("graphs")
    X, y = make_blobs(n_samples=120, seed=1)
    model = shared_head_classifier()
    model.fit(X, y, epochs=30, batch_size=16, verbose=0)
    model.save(folder / "graph.npz")
    a, b = Input(shape=(2,), name="a"), Input(shape=(1,), name="b")
    two = Model([a, b], Dense(1, name="out")(Concatenate()([a, b])), seed=0)
    two.save(folder / "two.npz")
    table = folder / "in.csv"
    table.write_text("x,y\n" + "\n".join(f"{p},{q}" for p, q in X[:5]) + "\n")
    return folder, X, y


def test_the_output_layer_of_a_graph_is_its_output_node_not_the_last_layer():
    model = shared_head_classifier()
    assert model.layers[-1].name == "skip"
    assert output_layer(model).name == "head"
    assert is_classifier(model)
    stack = Sequential([Dense(4, "relu", input_dim=2), Dense(1)])
    assert output_layer(stack) is stack.layers[-1] and not is_classifier(stack)


def test_evaluate_a_saved_graph_classifier(graph_files):
    folder, X, y = graph_files
    result = run("evaluate", str(folder / "graph.npz"), "blobs", "--n-samples", "120",
                 "--seed", "1")  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    numbers = dict(item.split("=") for item in lines[1].split())
    expected = scratchnn.load(folder / "graph.npz").evaluate(
        X, y, loss="categorical_crossentropy", metrics=["accuracy"]
    )
    assert float(numbers["loss"]) == pytest.approx(expected["loss"], abs=1e-4)
    assert float(numbers["accuracy"]) == pytest.approx(expected["accuracy"], abs=1e-4)
    assert lines[2] == "confusion matrix (rows: true class, columns: predicted class)"


def test_predict_with_a_saved_graph_classifier_writes_its_probabilities(graph_files):
    folder, X, _ = graph_files
    result = run("predict", str(folder / "graph.npz"), str(folder / "in.csv"))
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(result.stdout.splitlines()))
    assert rows[0] == ["class", "prob_0", "prob_1", "prob_2"]
    probabilities = scratchnn.load(folder / "graph.npz").predict(X[:5])
    np.testing.assert_allclose(np.array(rows[1:], float)[:, 1:], probabilities, rtol=1e-4)
    assert [int(r[0]) for r in rows[1:]] == probabilities.argmax(axis=1).tolist()


def test_summary_of_graph_models_names_the_inputs_and_the_connections(graph_files):
    folder, _, _ = graph_files
    result = run("summary", str(folder / "graph.npz"))
    assert result.returncode == 0, result.stderr
    assert "graph.npz: Model, input 2 features, dtype float32" in result.stdout
    assert "Connected to" in result.stdout and result.stdout.count("head (Dense)") == 2
    assert "skip (Add)" in result.stdout and "project, head" in result.stdout
    two = run("summary", str(folder / "two.npz"))
    assert two.returncode == 0, two.stderr
    assert "two.npz: Model, inputs a (2 features), b (1 features), dtype float32" in two.stdout


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_a_model_with_two_inputs_is_refused_with_what_the_command_line_takes(graph_files, command):
    folder, _, _ = graph_files
    data = ["blobs"] if command == "evaluate" else [str(folder / "in.csv")]
    result = run(command, str(folder / "two.npz"), *data)
    assert result.returncode == 2
    assert result.stdout == ""
    assert (
        f"{command} takes a model with one input and one output (one table in, one prediction "
        f"per row out); {folder / 'two.npz'} has 2 inputs ['a', 'b']: use model.{command}(...) "
        "from Python"
    ) in result.stderr


class _Affine(Layer):
    """A user's layer with parameters named W and b that is not dense: it scales elementwise."""

    def init_params(self, input_shape, rng):
        return {"W": np.ones(input_shape), "b": np.zeros(input_shape)}

    def forward(self, x, training=False):
        return x * self.params["W"] + self.params["b"]


def test_folding_asks_the_layer_what_it_is_not_its_parameter_names():
    assert Dense(2).kernel_layout == "dense" and Conv2D(2, 3).kernel_layout == "conv2d"
    assert Layer.kernel_layout is None
    named_alike = Sequential([_Affine(input_dim=2), Dense(1)])
    assert not can_fold_inputs(named_alike)  # its W is (2,), not (in, units)
    assert can_fold_targets(named_alike)
    no_bias = Sequential([Dense(2, use_bias=False, input_dim=2), Dense(1, use_bias=False)])
    assert not can_fold_inputs(no_bias) and not can_fold_targets(no_bias)
    assert can_fold_inputs(Sequential([Dense(2, input_dim=2), Dense(1, "sigmoid")]))
    assert not can_fold_targets(Sequential([Dense(2, input_dim=2), Dense(1, "sigmoid")]))
