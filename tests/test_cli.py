"""Tests of the ``scratchnn`` command line, run as a real subprocess."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

import scratchnn
from scratchnn.cli import fold_standardization, fold_target_scaling
from scratchnn.datasets import make_xor


def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "scratchnn.cli", *args], capture_output=True, text=True, cwd=cwd
    )


@pytest.fixture(scope="module")
def blobs_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("blobs")
    result = run("train", "blobs", "--n-samples", "120", "--layers", "8", "--epochs", "15",
                 "--early-stopping", "off", "--seed", "1", "--quiet", "--out",
                 str(folder / "m.npz"), "--plots", str(folder / "plots"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    return folder, result


@pytest.mark.slow
@pytest.mark.parametrize(
    "command", [[], ["train"], ["evaluate"], ["predict"], ["summary"], ["demo"]]
)
def test_help_everywhere(command):
    result = run(*command, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: scratchnn")


@pytest.mark.slow
def test_help_shows_every_default_that_is_not_a_flag():
    import argparse

    from scratchnn.cli.parser import _Help, build_parser

    commands = build_parser()._subparsers._group_actions[0].choices
    checked = 0
    for name, parser in commands.items():
        formatter = _Help(prog=f"scratchnn {name}")
        for action in parser._actions:
            if action.default is None or action.default is False or not action.option_strings:
                continue
            if action.default == argparse.SUPPRESS:
                continue
            assert action.help, (name, action.option_strings)  # argparse shows none without one
            shown = formatter._expand_help(action)
            assert f"(default: {action.default})" in shown, (name, action.option_strings)
            checked += 1
    assert checked >= 15
    assert "--seed SEED           seed of data, weights and shuffling (default: 0)" in (
        run("train", "--help").stdout
    )


@pytest.mark.slow
def test_train_saves_model_and_pictures(blobs_model):
    folder, result = blobs_model
    assert "trained on blobs: 120 samples, 15 epoch(s)" in result.stdout
    assert "Total params: 51" in result.stdout  # 2*8+8 + 8*3+3
    model = scratchnn.load(folder / "m.npz")
    assert [layer.params["W"].shape for layer in model.layers] == [(2, 8), (8, 3)]
    names = sorted(p.name for p in (folder / "plots").iterdir())
    assert names == ["confusion_matrix.png", "decision_boundary.png", "learning_curves.png",
                     "network.png", "weights.png"]  # fmt: skip
    for path in (folder / "plots").iterdir():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_evaluate_prints_loss_metrics_and_confusion_matrix(blobs_model):
    folder, _ = blobs_model
    result = run("evaluate", str(folder / "m.npz"), "--data", "blobs", "--n-samples", "120",
                 "--seed", "1")  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "blobs: 120 samples"
    numbers = dict(item.split("=") for item in lines[1].split())
    X, y = scratchnn.datasets.make_blobs(n_samples=120, seed=1)
    model = scratchnn.load(folder / "m.npz")
    expected = model.evaluate(X, y, loss="categorical_crossentropy", metrics=["accuracy"])
    assert float(numbers["loss"]) == pytest.approx(expected["loss"], abs=1e-4)
    assert float(numbers["accuracy"]) == pytest.approx(expected["accuracy"], abs=1e-4)
    assert lines[2:4] == ["confusion matrix (rows: true class, columns: predicted class)",
                          "          0     1     2"]  # fmt: skip
    counts = np.array([[int(v) for v in line.split()[1:]] for line in lines[4:7]])
    predicted = model.predict(X).argmax(axis=1)
    oracle = [[int(np.sum((y == i) & (predicted == j))) for j in range(3)] for i in range(3)]
    np.testing.assert_array_equal(counts, oracle)
    assert counts.sum() == 120 and np.trace(counts) / 120 == pytest.approx(expected["accuracy"])
    per_class = [line.split() for line in lines[8:11]]
    assert per_class == [[str(k), str(sum(oracle[k])), str(oracle[k][k]),
                          f"{oracle[k][k] / sum(oracle[k]):.4f}"] for k in range(3)]  # fmt: skip
    positional = run("evaluate", str(folder / "m.npz"), "blobs", "--n-samples", "120",
                     "--seed", "1")  # fmt: skip
    assert positional.stdout == result.stdout


@pytest.mark.slow
def test_predict_writes_csv_matching_model_predict(blobs_model):
    folder, _ = blobs_model
    X = np.array([[0.0, 1.0], [-5.0, 3.0], [4.0, 4.0]])
    source = folder / "in.csv"
    source.write_text("x,y\n" + "\n".join(f"{a},{b}" for a, b in X) + "\n")
    result = run("predict", str(folder / "m.npz"), str(source), "--out", str(folder / "out.csv"))
    assert result.returncode == 0, result.stderr
    with open(folder / "out.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["class", "prob_0", "prob_1", "prob_2"]
    probabilities = scratchnn.load(folder / "m.npz").predict(X)
    np.testing.assert_allclose(np.array(rows[1:], float)[:, 1:], probabilities, rtol=1e-4)
    assert [int(r[0]) for r in rows[1:]] == probabilities.argmax(axis=1).tolist()
    to_stdout = run("predict", str(folder / "m.npz"), str(source))
    assert to_stdout.stdout.splitlines() == [",".join(r) for r in rows]


@pytest.mark.slow
def test_summary_prints_the_layer_table(blobs_model):
    folder, _ = blobs_model
    result = run("summary", str(folder / "m.npz"))
    assert result.returncode == 0
    assert "Sequential, input 2 features, dtype float32" in result.stdout
    assert "Dense(8, activation='relu'" in result.stdout and "Total params: 51" in result.stdout


@pytest.mark.slow
def test_train_on_csv_with_spec_file_regression(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    y = X @ [1.0, -2.0, 0.5] + 0.3
    table = tmp_path / "data.csv"
    table.write_text(
        "a,b,c,target\n" + "\n".join(",".join(map(str, [*x, t])) for x, t in zip(X, y, strict=True))
    )
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"layers": [{"units": 4, "activation": "tanh"}, {"units": 1}]}))
    out = tmp_path / "r.npz"
    result = run("train", "--csv", str(table), "--target", "target", "--spec", str(spec),
                 "--epochs", "200", "--lr", "0.02", "--validation-split", "0", "--quiet",
                 "--dtype", "float64", "--out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    model = scratchnn.load(out)
    assert np.dtype(model.dtype).name == "float64"
    assert float(np.mean((model.predict(X)[:, 0] - y) ** 2)) < 0.05  # raw inputs: scaling folded
    evaluated = run("evaluate", str(out), "--csv", str(table), "--target", "target")
    assert evaluated.returncode == 0 and "r2=" in evaluated.stdout


@pytest.mark.slow
def test_train_with_a_toml_spec_builds_those_layers(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(
        '[[layers]]\nunits = 6\nactivation = "tanh"\n\n[[layers]]\ndropout = 0.1\n\n'
        '[[layers]]\nunits = 2\nactivation = "softmax"\n'
    )
    out = tmp_path / "m.npz"
    result = run("train", "moons", "--spec", str(spec), "--epochs", "2", "--quiet",
                 "--out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    model = scratchnn.load(out)
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Dropout", "Dense"]
    assert model.layers[0].units == 6 and model.layers[0].activation.name == "tanh"
    bad = tmp_path / "bad.toml"
    bad.write_text("[[layers]\n")
    failed = run("train", "moons", "--spec", str(bad), "--epochs", "1", "--quiet")
    assert failed.returncode == 2 and "bad.toml: not valid TOML" in failed.stderr


@pytest.mark.slow
def test_demo_xor_learns_the_truth_table(tmp_path):
    result = run("demo", "xor", "--quiet", "--out", str(tmp_path / "xor.npz"))
    assert result.returncode == 0, result.stderr
    assert "xor(0, 1) = 1, network says" in result.stdout
    X, y = make_xor()
    outputs = scratchnn.load(tmp_path / "xor.npz").predict(X)[:, 0]
    np.testing.assert_array_equal(outputs > 0.5, y == 1)


@pytest.mark.slow
def test_early_stopping_stops_training(tmp_path):
    result = run("train", "xor", "--n-samples", "40", "--epochs", "500", "--early-stopping", "0",
                 "--lr", "0.5", "--quiet")  # fmt: skip
    assert result.returncode == 0, result.stderr
    epochs = int(result.stdout.split("samples, ")[1].split(" epoch")[0])
    assert epochs < 500 and "stopped early" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (
            ["train", "spirals", "--epochs", "0"],
            2,
            "argument --epochs: expected a whole number >= 1, got '0'",
        ),
        (
            ["train", "spirals", "--seed", "-1"],
            2,
            "argument --seed: expected a whole number >= 0, got '-1'",
        ),
        (["train", "spirals", "--lr", "-1"], 2, "--lr must be a positive number, got -1.0"),
        (["train", "spirals", "--validation-split", "1"], 2, "--validation-split must be in"),
        (["train", "spirals", "--early-stopping", "x"], 2, "argument --early-stopping: expected"),
        (["train", "spiral"], 2, "unknown data set 'spiral'"),
        (["train", "xor", "--optimizer", "adamm"], 2, "did you mean 'adam'"),
        (["train", "iris", "--loss", "msee"], 2, "unknown loss 'msee'; did you mean 'mse'"),
        (["train", "iris", "--activation", "bogus"], 2, "unknown activation 'bogus'"),
        (["train", "iris", "--noise", "0.1"], 2, "--noise and --n-arms are for generated"),
        (["train", "xor", "--layers", "8,x"], 2, "--layers must be widths like 64,32"),
        (["train", "--csv", "t.csv"], 2, "--csv needs --target COLUMN"),
        (["train", "iris", "--csv", "t.csv"], 2, "give one of a data set name, --csv or --mnist"),
        (["train", "--epochs", "x"], 2, "argument --epochs: expected a whole number >= 1, got 'x'"),
        (["frobnicate"], 2, "invalid choice: 'frobnicate'"),
        (["summary", "missing.npz"], 1, "model file 'missing.npz' does not exist"),
        (["evaluate", "missing.npz", "iris"], 1, "model file 'missing.npz' does not exist"),
        (["evaluate", "bad.npz"], 1, "bad.npz"),
        (["train", "xor", "--spec", "nowhere.json"], 2, "--spec: no such file 'nowhere.json'"),
        (["train", "xor", "--out", "no/such/dir/m.npz"], 2, "folder 'no/such/dir' does not"),
        (["summary", "bad.npz"], 1, "bad.npz"),
        (["predict", "bad.npz", "missing.csv"], 1, "bad.npz"),
        (["summary", "folder"], 1, "'folder' is a folder, not a model file"),
        (["summary", "/dev/null"], 1, "'/dev/null' is a character device, not a model file"),
    ],
)
def test_errors_are_one_clear_line(tmp_path, args, status, message):
    (tmp_path / "bad.npz").write_bytes(b"not a zip file at all")
    (tmp_path / "folder").mkdir()
    result = run(*args, cwd=tmp_path)
    assert result.returncode == status
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_debug_shows_the_traceback(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"junk")
    result = run("--debug", "summary", "bad.npz", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" in result.stderr


@pytest.mark.slow
def test_predict_rejects_a_csv_of_the_wrong_width(blobs_model):
    folder, _ = blobs_model
    (folder / "wide.csv").write_text("a,b,c\n1,2,3\n")
    result = run("predict", str(folder / "m.npz"), str(folder / "wide.csv"))
    assert result.returncode == 1
    assert "must have 2 features (columns), got 3" in result.stderr


def test_fold_standardization_makes_the_model_take_raw_inputs():
    model = scratchnn.Sequential([scratchnn.Dense(3, "tanh"), scratchnn.Dense(2)], seed=0,
                                 dtype="float64")  # fmt: skip
    model.build(4)
    X = np.random.default_rng(1).normal(3.0, 2.0, size=(10, 4))
    mean, std = X.mean(axis=0), X.std(axis=0)
    expected = model.predict((X - mean) / std)
    fold_standardization(model, mean, std)
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-10, atol=1e-12)


def test_fold_target_scaling_makes_the_model_give_targets_in_their_units():
    model = scratchnn.Sequential([scratchnn.Dense(3, "tanh"), scratchnn.Dense(2)], seed=0,
                                 dtype="float64")  # fmt: skip
    model.build(4)
    X = np.random.default_rng(2).normal(size=(10, 4))
    mean, scale = np.array([150.0, -2.0]), np.array([77.0, 0.5])
    expected = model.predict(X) * scale + mean  # what undoing (y - mean) / scale gives
    fold_target_scaling(model, mean, scale)
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-12)


def _write_idx(path, magic_type: int, array: np.ndarray) -> None:
    """An IDX file: two zero bytes, the type code, the rank, big-endian sizes, then the data."""
    header = bytes([0, 0, magic_type, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape
    )
    path.write_bytes(header + array.astype(np.uint8).tobytes())


@pytest.mark.slow
def test_train_and_evaluate_on_mnist_format_files(tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=60)
    images = np.zeros((60, 4, 4), dtype=np.uint8)
    for index, label in enumerate(labels):  # each class lights its own pixel row
        images[index, label] = 200 + rng.integers(0, 50)
    for kind in ("train", "t10k"):
        _write_idx(tmp_path / f"{kind}-images-idx3-ubyte", 0x08, images)
        _write_idx(tmp_path / f"{kind}-labels-idx1-ubyte", 0x08, labels)
    out = tmp_path / "m.npz"
    result = run("train", "--mnist", str(tmp_path), "--layers", "8", "--epochs", "60", "--lr",
                 "0.05", "--validation-split", "0", "--quiet", "--out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    model = scratchnn.load(out)
    assert model.input_dim == 16 and model.output_dim == 3
    evaluated = run("evaluate", str(out), "--mnist", str(tmp_path), "--mnist-kind", "t10k")
    assert evaluated.returncode == 0, evaluated.stderr
    assert "accuracy=1.0000" in evaluated.stdout


@pytest.mark.slow
def test_a_convolutional_spec_trains_on_mnist_format_files_and_draws_its_filters(tmp_path):
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, size=90)
    images = rng.integers(0, 30, size=(90, 6, 6)).astype(np.uint8)
    for index, label in enumerate(labels):  # each class draws its own vertical bar
        images[index, :, 2 * label] = 220
    for kind in ("train", "t10k"):
        _write_idx(tmp_path / f"{kind}-images-idx3-ubyte", 0x08, images)
        _write_idx(tmp_path / f"{kind}-labels-idx1-ubyte", 0x08, labels)
    layers = [
        {"class_name": "Reshape", "config": {"target_shape": [6, 6, 1]}},
        {"class_name": "Conv2D", "config": {"filters": 4, "kernel_size": 3, "activation": "relu"}},
        {"class_name": "MaxPool2D", "config": {"pool_size": 2}},
        {"class_name": "Flatten", "config": {}},
    ]
    spec = tmp_path / "conv.json"
    spec.write_text(json.dumps({"layers": layers}))
    result = run("train", "--mnist", str(tmp_path), "--spec", str(spec), "--quiet")
    assert result.returncode == 2
    assert "has activation 'linear', so the loss defaults to mse" in result.stderr
    assert '{"units": 3, "activation": "softmax"}' in result.stderr
    regression = tmp_path / "regression.json"  # a sigmoid output on numbers to predict
    regression.write_text(json.dumps([{"units": 4, "activation": "tanh"},
                                      {"units": 1, "activation": "sigmoid"}]))  # fmt: skip
    result = run("train", "diabetes", "--spec", str(regression), "--quiet")
    assert result.returncode == 2
    assert ("has activation 'sigmoid', so the loss defaults to binary_crossentropy, but the "
            'targets are numbers to predict (regression): end the spec with a linear output '
            'layer such as {"units": 1}') in result.stderr  # fmt: skip

    spec.write_text(json.dumps({"layers": [*layers, {"units": 3, "activation": "softmax"}]}))
    out, plots = tmp_path / "m.npz", tmp_path / "plots"
    result = run("train", "--mnist", str(tmp_path), "--spec", str(spec), "--epochs", "40",
                 "--lr", "0.02", "--quiet", "--out", str(out), "--plots", str(plots))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "(None, 2, 2, 4)" in result.stdout  # summary() shows the pooled feature maps
    model = scratchnn.load(out)
    names = [type(layer).__name__ for layer in model.layers]
    assert names[:3] == ["Reshape", "Conv2D", "MaxPool2D"]
    for name in ("filters.png", "feature_maps.png", "learning_curves.png"):
        assert (plots / name).read_bytes()[:4] == b"\x89PNG"
    assert not (plots / "network.png").exists()
    evaluated = run("evaluate", str(out), "--mnist", str(tmp_path), "--mnist-kind", "t10k")
    assert evaluated.returncode == 0, evaluated.stderr
    accuracy = float(evaluated.stdout.split("accuracy=")[1].split()[0])
    assert accuracy >= 0.9
