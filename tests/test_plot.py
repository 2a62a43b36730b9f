"""Tests of scratchnn.plot: valid PNGs of the expected size showing the right data."""

from __future__ import annotations

import struct
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from scratchnn import Add, Concatenate, Dense, Dropout, Input, Model, Sequential, plot  # noqa: E402
from scratchnn.datasets import make_blobs  # noqa: E402
from scratchnn.plot.graph import GraphLayout  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(path) -> tuple[int, int]:
    """Width and height from the PNG's IHDR chunk, read by hand."""
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def trained():
    X, y = make_blobs(n_samples=90, centers=3, cluster_std=1.5, seed=0)
    model = Sequential([Dense(12, "relu"), Dropout(0.1), Dense(3, "softmax")], seed=0)
    history = model.fit(X, y, loss="categorical_crossentropy", epochs=5, metrics=["accuracy"],
                        validation_split=0.2, verbose=0)  # fmt: skip
    return model, X, y, history


@pytest.mark.slow
def test_importing_scratchnn_does_not_import_matplotlib():
    code = "import sys, scratchnn, scratchnn.plot; print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def test_learning_curves_png_and_plotted_values(trained, tmp_path):
    _, _, _, history = trained
    path = tmp_path / "curves.png"
    fig = plot.plot_learning_curves(history, path, figsize=(8, 3), dpi=50)
    assert png_size(path) == (400, 150)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    train_line, val_line = fig.axes[0].get_lines()
    np.testing.assert_allclose(train_line.get_ydata(), history.history["loss"])
    np.testing.assert_allclose(val_line.get_ydata(), history.history["val_loss"])
    np.testing.assert_array_equal(train_line.get_xdata(), [1, 2, 3, 4, 5])
    same = plot.plot_learning_curves(history.history)  # the dict works too, and saves nothing
    assert len(same.axes) == 2


@pytest.mark.parametrize("epochs", [3, 5, 11, 300])
def test_learning_curves_tick_whole_epochs_only(epochs):
    losses = list(np.linspace(1.0, 0.1, epochs))
    fig = plot.plot_learning_curves({"loss": losses, "val_loss": losses})
    for ax in fig.axes:
        ticks = ax.get_xticks()
        assert len(ticks) >= 3 and np.array_equal(ticks, np.round(ticks)), ticks
        assert ax.get_xlabel() == "epoch"


def test_learning_curves_mark_the_epoch_whose_weights_were_kept():
    logs = {"loss": [1.0, 0.5, 0.4, 0.45], "val_loss": [1.1, 0.6, 0.5, 0.7]}
    fig = plot.plot_learning_curves(logs, kept_epoch=3)
    (marker,) = [line for line in fig.axes[0].lines if line.get_label() == "kept: epoch 3"]
    assert list(marker.get_xdata()) == [3, 3]
    assert "kept: epoch 3" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    unmarked = plot.plot_learning_curves(logs)
    assert [line.get_label() for line in unmarked.axes[0].lines] == ["training", "validation"]
    with pytest.raises(ValueError, match=r"kept_epoch must be in 1..4, got 5"):
        plot.plot_learning_curves(logs, kept_epoch=5)
    with pytest.raises(ValueError, match="kept_epoch"):
        plot.plot_learning_curves(logs, kept_epoch=0)


def test_decision_boundary_grid_equals_model_predict(trained, tmp_path):
    model, X, y, _ = trained
    path = tmp_path / "boundary.png"
    fig = plot.plot_decision_boundary(model, X, y, path, resolution=30, figsize=(4, 3), dpi=60)
    assert png_size(path) == (240, 180)
    shown = np.asarray(fig.axes[0].images[0].get_array())
    xs, ys, classes = plot.decision_grid(model, X, resolution=30)
    np.testing.assert_array_equal(shown, classes)
    # Row i, column j of the image is the model's class at (xs[j], ys[i]).
    for i, j in [(0, 0), (7, 21), (29, 29), (15, 3)]:
        expected = model.predict(np.array([[xs[j], ys[i]]])).argmax()
        assert shown[i, j] == expected
    assert xs[0] < X[:, 0].min() and xs[-1] > X[:, 0].max()
    assert len(np.unique(classes)) == 3


def test_decision_boundary_needs_two_features(trained):
    model, X, y, _ = trained
    with pytest.raises(ValueError, match="X must have 2 features .*, got 3"):
        plot.plot_decision_boundary(model, np.hstack([X, X[:, :1]]), y)


def test_confusion_matrix_counts_match_a_hand_count(tmp_path):
    y_true = np.array([0, 0, 1, 1, 1, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 2])
    hand = np.array([[1, 1, 0], [0, 2, 1], [0, 0, 1]])
    np.testing.assert_array_equal(plot.confusion_matrix(y_true, y_pred), hand)
    path = tmp_path / "cm.png"
    fig = plot.plot_confusion_matrix(y_true, y_pred, path=path, figsize=(3, 3), dpi=80)
    assert png_size(path) == (240, 240)
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), hand)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["1", "1", "0", "0", "2", "1", "0", "0", "1"]


def test_confusion_matrix_normalised_rows_and_probabilities():
    y_true = np.array([0, 0, 1, 1, 1, 2])
    probabilities = np.eye(3)[[0, 1, 1, 1, 2, 2]] * 0.8 + 0.05  # arg-max gives the classes
    fig = plot.plot_confusion_matrix(y_true, probabilities, normalize=True)
    rates = np.asarray(fig.axes[0].images[0].get_array())
    np.testing.assert_allclose(rates, [[0.5, 0.5, 0], [0, 2 / 3, 1 / 3], [0, 0, 1]])
    assert fig.axes[0].texts[4].get_text() == "0.67\n(2)"
    binary = plot.confusion_matrix([0, 1, 1], np.array([[0.2], [0.7], [0.4]]))
    np.testing.assert_array_equal(binary, [[1, 0], [1, 1]])


def test_network_diagram_draws_weights_by_sign_and_magnitude(trained, tmp_path):
    model, _, _, _ = trained
    path = tmp_path / "net.png"
    fig = plot.plot_network(model, path, max_neurons=5, dpi=40)
    width, height = png_size(path)
    assert (width, height) == tuple(round(v * 40) for v in fig.get_size_inches())
    ax = fig.axes[0]
    circles = [p for p in ax.patches if (p.get_gid() or "").startswith("neuron")]
    # input 2 (all), hidden 12 (4 shown + "..."), output 3 (all)
    assert len(circles) == 2 + 4 + 3
    shown, hidden = plot.shown_neurons(12, 5)
    assert (shown, hidden) == ([0, 1, 10, 11], 8)
    assert plot.shown_neurons(3, 5) == ([0, 1, 2], 0)
    W = model.layers[0].params["W"]
    lines = next(c for c in ax.collections if c.get_gid() == "weights 0")
    expected_widths = [0.5 + 2.7 * abs(W[i, j]) / np.abs(W).max() for i in range(2) for j in shown]
    np.testing.assert_allclose(lines.get_linewidths(), expected_widths, rtol=1e-6)
    opacity = [0.3 + 0.65 * abs(W[i, j]) / np.abs(W).max() for i in range(2) for j in shown]
    np.testing.assert_allclose(lines.get_colors()[:, 3], opacity, rtol=1e-6)  # none near 0
    reds = lines.get_colors()[:, 0] > lines.get_colors()[:, 2]
    signs = np.array([W[i, j] > 0 for i in range(2) for j in shown])
    np.testing.assert_array_equal(reds, signs)
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "Input\n2\nfeatures" in texts and "12 units\nrelu" in texts
    assert "+ Dropout" in texts and "8 more" in texts


def test_network_diagram_rejects_unbuilt_models():
    with pytest.raises(ValueError, match="model must be built"):
        plot.plot_network(Sequential([Dense(2)]))
    with pytest.raises(ValueError, match="max_neurons must be at least 3"):
        plot.plot_network(Sequential([Dense(2, input_dim=2)]), max_neurons=2)


def _gids(fig, kind: str) -> list[str]:
    return [p.get_gid() for p in fig.axes[0].patches if (p.get_gid() or "").startswith(kind)]


def test_graph_diagram_draws_one_box_per_call_and_one_arrow_per_tensor_taken(tmp_path):
    left, right = Input(shape=(3,), name="left"), Input(shape=(3,), name="right")
    encoder = Dense(4, "tanh", name="encoder")
    joined = Concatenate(name="join")([encoder(left), encoder(right)])
    hidden = Dense(8, "relu", name="hidden")(joined)
    skip = Add(name="skip")([hidden, joined])
    model = Model([left, right], [Dense(1, name="same")(skip), Dense(2, name="far")(hidden)])
    path = tmp_path / "graph.png"
    fig = plot.plot_network(model, path, dpi=40)
    assert png_size(path) == tuple(round(v * 40) for v in fig.get_size_inches())
    # numbered inputs first, then the calls in run order: left 0, right 1, encoder 2 and 3,
    # join 4, hidden 5, skip 6, same 7, far 8 (run order as model.graph_nodes gives it)
    names = ["left", "right"] + [node.layer.name for node in model.graph_nodes]
    assert names == ["left", "right", "encoder", "encoder", "join", "hidden", "skip", "same", "far"]
    assert len(_gids(fig, "node")) == 9
    edges = sorted(_gids(fig, "edge"))
    assert edges == sorted(
        ["edge 0 2", "edge 1 3", "edge 2 4", "edge 3 4", "edge 4 5", "edge 5 6", "edge 4 6",
         "edge 6 7", "edge 5 8"]
    )  # fmt: skip
    into = [e.split()[2] for e in edges]
    assert into.count("4") == 2 and into.count("6") == 2  # each merge has two arrows in
    layout = GraphLayout(model)
    assert layout.column == [0, 0, 1, 1, 2, 3, 4, 5, 4]  # longest path from an input
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "encoder (call 1)\nDense 4, tanh\n(None, 4)" in texts
    assert "encoder (call 2)\nDense 4, tanh\n(None, 4)" in texts
    assert "join\nConcatenate\n(None, 8)" in texts
    boxes = {p.get_gid(): p for p in fig.axes[0].patches}
    shared = [boxes["node 2"].get_edgecolor(), boxes["node 3"].get_edgecolor()]
    assert shared[0] == shared[1] != boxes["node 5"].get_edgecolor()  # the same layer, marked


def test_graph_diagram_of_a_chain_model_and_a_repeated_input():
    x = Input(shape=(2,), name="x")
    doubled = Add(name="twice")([x, x])
    model = Model(x, Dense(1, name="out")(doubled))
    fig = plot.plot_network(model)
    assert sorted(_gids(fig, "edge")) == ["edge 0 1", "edge 0 1", "edge 1 2"]
    assert len(_gids(fig, "node")) == 3
    assert model.graph_nodes[0].layer.name == "twice"
    assert Sequential([Dense(2, input_dim=2)]).graph_nodes == []


def test_weight_histograms_count_every_weight_and_activation(trained, tmp_path):
    model, X, _, _ = trained
    path = tmp_path / "hist.png"
    fig = plot.plot_weight_histograms(model, X, path, figsize=(6, 4), dpi=50)
    assert png_size(path) == (300, 200)
    assert len(fig.axes) == 4  # two weight layers, weights on top and outputs below
    axes = {ax.get_title(): ax for ax in fig.axes}
    assert sorted(axes) == [
        "Dense 1 outputs (relu)", "Dense 1 weights 2x12",
        "Dense 2 outputs (softmax)", "Dense 2 weights 12x3",
    ]  # fmt: skip

    def total(title):
        return sum(p.get_height() for p in axes[title].patches)

    assert total("Dense 1 weights 2x12") == 2 * 12 and total("Dense 2 weights 12x3") == 12 * 3
    assert total("Dense 1 outputs (relu)") == len(X) * 12
    outputs = plot.layer_activations(model, X)
    np.testing.assert_allclose(outputs[-1], model.predict(X), rtol=1e-6)
    heights, _ = np.histogram(outputs[0], bins=40)
    np.testing.assert_array_equal([p.get_height() for p in axes["Dense 1 outputs (relu)"].patches],
                                  heights)  # fmt: skip
    assert (axes["Dense 2 weights 12x3"].get_xlabel(), axes["Dense 2 weights 12x3"].get_ylabel()
            ) == ("weight", "count")  # fmt: skip
    relu = axes["Dense 1 outputs (relu)"]
    assert (relu.get_xlabel(), relu.get_ylabel()) == (
        f"output value ({len(X)} rows)",
        "count (rows x units)",
    )
    only_weights = plot.plot_weight_histograms(model)
    assert len(only_weights.axes) == 2


def test_weight_histograms_of_a_graph_show_each_kernel_layer_by_name():
    a, b = Input(shape=(2,), name="a"), Input(shape=(2,), name="b")
    encoder = Dense(3, "relu", name="encoder")
    joined = Add(name="sum")([encoder(a), encoder(b)])
    model = Model([a, b], Dense(1, "sigmoid", name="score")(joined), seed=0, dtype="float64")
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(20, 2)), rng.normal(size=(20, 2))
    encoded, score = plot.layer_activations(model, {"a": A, "b": B})
    W, bias = model.get_layer("encoder").W, model.get_layer("encoder").b
    np.testing.assert_allclose(encoded, np.maximum(B @ W + bias, 0))  # the last call's output
    np.testing.assert_allclose(score, model.predict([A, B]))
    fig = plot.plot_weight_histograms(model, [A, B])
    assert sorted(ax.get_title() for ax in fig.axes) == [
        "encoder outputs (relu)", "encoder weights 2x3", "score outputs (sigmoid)",
        "score weights 3x1",
    ]  # fmt: skip


def test_path_must_be_a_path(trained):
    with pytest.raises(TypeError, match="path must be a file path or None, got 3"):
        plot.plot_learning_curves(trained[3], path=3)
