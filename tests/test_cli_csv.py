"""The ``scratchnn`` command on CSV files nobody here wrote, and on hand-made ones for each trap.

Every test runs the real entry point in a subprocess. scikit-learn's bundled CSV files are the
"real" files: iris and wine start with a line of metadata, diabetes is space-separated, gzipped,
with its targets in a second file.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import scratchnn
from scratchnn.metrics import r2_score

pytest.importorskip("pandas")
sklearn_datasets = pytest.importorskip("sklearn.datasets")
from scratchnn.datasets import load_csv, load_csv_column  # noqa: E402

DATA = Path(sklearn_datasets.__file__).parent / "data"
pytestmark = pytest.mark.slow  # each test runs the command: left out of -m "not slow"


def run(*args: str, cwd=None, code: str | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "scratchnn.cli"] if code is None else [sys.executable, "-c"]
    command += [code] if code is not None else []
    return subprocess.run([*command, *args], capture_output=True, text=True, cwd=cwd)


def numbers(line: str) -> dict[str, float]:
    """``key=value`` pairs of a printed line."""
    return {k: float(v) for k, v in (item.split("=") for item in line.split() if "=" in item)}


def saved_line(stdout: str) -> dict[str, float]:
    """The kept model's numbers: "saved model (...)" with --out, "trained model (...)" without."""
    kept = ("saved model (", "trained model (")
    return numbers(next(line for line in stdout.splitlines() if line.startswith(kept)))


def one_line_error(result: subprocess.CompletedProcess, status: int, *parts: str) -> str:
    assert result.returncode == status, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    for part in parts:
        assert part in result.stderr
    return result.stderr


# -- scikit-learn's own files ---------------------------------------------------------------------
@pytest.mark.parametrize("name", ["iris.csv", "wine_data.csv", "breast_cancer.csv"])
def test_sklearn_classification_files_train_and_evaluate_with_skip_rows(tmp_path, name):
    out = tmp_path / "m.npz"
    options = ["--csv", str(DATA / name), "--skip-rows", "1", "--target", "-1"]
    trained = run("train", *options, "--quiet", "--out", str(out))
    assert trained.returncode == 0, trained.stderr
    assert saved_line(trained.stdout)["val_accuracy"] >= 0.9  # held out, never trained on
    evaluated = run("evaluate", str(out), *options)
    assert evaluated.returncode == 0, evaluated.stderr
    accuracy = numbers(evaluated.stdout.splitlines()[1])["accuracy"]
    X, y = load_csv(DATA / name, skip_rows=1, target=-1)  # the oracle: our own arithmetic
    outputs = scratchnn.load(out).predict(X)
    predicted = outputs.argmax(axis=1) if outputs.shape[1] > 1 else outputs[:, 0] > 0.5
    assert accuracy == pytest.approx(np.mean(predicted == y), abs=1e-4) and accuracy >= 0.9


def test_sklearn_iris_header_is_metadata_so_target_4_is_ambiguous():
    result = run("train", "--csv", str(DATA / "iris.csv"), "--target", "4")
    one_line_error(result, 1, "cannot tell what line 1 is", "('150', '4') and text ('setosa', ",
                   "--skip-rows", "--header")  # fmt: skip
    result = run("train", "--csv", str(DATA / "iris.csv"), "--header", "--target", "4")
    one_line_error(result, 2, "target '4' is ambiguous", "the column named '4' is at index 1",
                   "index 4 is the column 'virginica'", "--target-index")  # fmt: skip
    missing = run("train", "--csv", str(DATA / "iris.csv"), "--header", "--target", "species")
    one_line_error(missing, 2, "target 'species' is not a column (columns: '150', '4', ")
    wine = run("train", "--csv", str(DATA / "wine_data.csv"), "--target", "-1")
    one_line_error(wine, 1, "line 2 has 14 fields, expected 5 like line 1", "--skip-rows N")


def test_sklearn_diabetes_regression_with_defaults(tmp_path):
    out = tmp_path / "d.npz"
    options = ["--csv", str(DATA / "diabetes_data_raw.csv.gz"), "--delimiter", " ",
               "--target-csv", str(DATA / "diabetes_target.csv.gz")]  # fmt: skip
    trained = run("train", *options, "--quiet", "--out", str(out))
    assert trained.returncode == 0, trained.stderr
    assert saved_line(trained.stdout)["val_r2"] >= 0.35  # 89 held-out patients: a noisy number
    stop_line = next(line for line in trained.stdout.splitlines() if "stopped early" in line)
    assert stop_line.endswith("training saw standardised targets, the numbers below are in the "
                              "targets' units")  # fmt: skip
    evaluated = run("evaluate", str(out), *options)
    assert evaluated.returncode == 0, evaluated.stderr
    r2 = numbers(evaluated.stdout.splitlines()[1])["r2"]
    X, _ = load_csv(DATA / "diabetes_data_raw.csv.gz", delimiter=" ", target=None)
    y = load_csv_column(DATA / "diabetes_target.csv.gz", 0)
    predicted = scratchnn.load(out).predict(X)[:, 0]  # in the targets' units: scaling folded
    assert r2 == pytest.approx(
        1 - np.sum((predicted - y) ** 2) / np.sum((y - y.mean()) ** 2), abs=1e-3
    )
    assert r2 >= 0.4
    (tmp_path / "named.csv").write_text(
        "".join(f"{i},{i % 3},1,2,3,4,5,6,7,8,low\n" for i in range(5))
    )
    wrong = run("evaluate", str(out), "--csv", str(tmp_path / "named.csv"), "--target", "-1")
    one_line_error(wrong, 1, "d.npz predicts numbers (regression), but the targets are text")
    assert wrong.stdout == ""


def test_bundled_diabetes_with_defaults_reaches_r2_04(tmp_path):
    trained = run("train", "diabetes", "--quiet", "--out", str(tmp_path / "d.npz"))
    assert trained.returncode == 0, trained.stderr
    X, y = scratchnn.datasets.load_diabetes()
    predicted = scratchnn.load(tmp_path / "d.npz").predict(X)[:, 0]
    assert r2_score(y, predicted) >= 0.4


# -- hand-made files, one per trap ----------------------------------------------------------------
def three_classes(tmp_path, n=90, labels=("bird", "cat", "dog"), encoding="utf-8", bom=""):
    """A separable table: ``id`` (noise), ``x1``, ``x2`` and a text ``animal`` column."""
    rng = np.random.default_rng(0)
    k = np.arange(n) % 3
    centres = np.array([[0.0, 4.0], [4.0, 0.0], [-4.0, -4.0]])
    X = centres[k] + rng.normal(0, 0.5, size=(n, 2))
    text = (
        bom
        + "id,x1,x2,animal\n"
        + "".join(
            f"{1000 + i},{a:.4f},{b:.4f},{labels[c]}\n"
            for i, ((a, b), c) in enumerate(zip(X, k, strict=True))
        )
    )
    path = tmp_path / "animals.csv"
    path.write_bytes(text.encode(encoding))
    return path, X, np.array(labels)[k]


def test_text_labels_train_and_evaluate_with_per_class_counts(tmp_path):
    path, X, labels = three_classes(tmp_path)
    out = tmp_path / "m.npz"
    trained = run("train", "--csv", str(path), "--target", "animal", "--drop", "id", "--quiet",
                  "--out", str(out))  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert "trained on animals.csv: 90 samples" in trained.stdout
    model = scratchnn.load(out)
    assert model.input_dim == 2  # id dropped, target out
    predicted = model.predict(X).argmax(axis=1)
    np.testing.assert_array_equal(predicted, np.unique(labels, return_inverse=True)[1])
    assert saved_line(trained.stdout)["val_accuracy"] == 1.0


def test_repeated_drops_count_and_the_model_checks_its_columns_by_name(tmp_path):
    path, X, _ = three_classes(tmp_path)
    out = tmp_path / "m.npz"
    trained = run("train", "--csv", str(path), "--target", "animal", "--drop", "id",
                  "--drop", "x2", "--epochs", "3", "--quiet", "--out", str(out))  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert scratchnn.load(out).input_dim == 1  # only x1 left
    evaluated = run("evaluate", str(out), "--csv", str(path), "--target", "animal",
                    "--drop", "id")  # fmt: skip
    one_line_error(evaluated, 2, "its columns include 'x2', which the model was not trained "
                   "on; the model was trained on 1: 'x1'. Drop the same columns as in training "
                   "(--drop x2), or read the file as data")  # fmt: skip
    # The same number of columns, but not the same ones: named, not trained on silently.
    swapped = run("predict", str(out), str(path), "--drop", "animal", "--drop", "id",
                  "--drop", "x1")  # fmt: skip
    one_line_error(swapped, 2, "its columns lack 'x1' and include 'x2', which the model was "
                   "not trained on")  # fmt: skip
    right = run("predict", str(out), str(path), "--drop", "animal", "--drop", "id", "--drop", "x2")
    assert right.returncode == 0, right.stderr
    assert scratchnn.load(out).feature_names == ["x1"]


def test_text_labels_round_trip_through_the_model_file(tmp_path):
    path, X, labels = three_classes(tmp_path)
    out = tmp_path / "m.npz"
    trained = run("train", "--csv", str(path), "--target", "animal", "--drop", "id", "--quiet",
                  "--out", str(out))  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert scratchnn.load(out).classes == ["bird", "cat", "dog"]
    predicted = run("predict", str(out), str(path), "--drop", "animal", "--drop", "id")
    assert predicted.returncode == 0, predicted.stderr
    rows = list(csv.reader(io.StringIO(predicted.stdout)))
    assert rows[0] == ["class", "prob_bird", "prob_cat", "prob_dog"]
    assert [row[0] for row in rows[1:]] == labels.tolist()
    evaluated = run("evaluate", str(out), "--csv", str(path), "--target", "animal", "--drop", "id")
    assert evaluated.returncode == 0, evaluated.stderr
    lines = evaluated.stdout.splitlines()
    assert lines[3].split() == ["bird", "cat", "dog"]
    assert [line.split() for line in lines[-3:]] == [
        [name, "30", "30", "1.0000"] for name in ("bird", "cat", "dog")
    ]


def test_every_drop_is_kept_in_predict(tmp_path):
    path, X, _ = three_classes(tmp_path)
    out = tmp_path / "m.npz"
    trained = run("train", "--csv", str(path), "--target-index", "3", "--drop-index", "0",
                  "--epochs", "5", "--quiet", "--out", str(out))  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    predicted = run("predict", str(out), str(path), "--drop", "animal", "--drop", "id")
    assert predicted.returncode == 0, predicted.stderr
    rows = list(csv.reader(io.StringIO(predicted.stdout)))
    np.testing.assert_allclose(
        np.array(rows[1:])[:, 1:].astype(float), scratchnn.load(out).predict(X), rtol=1e-4
    )
    only_one = run("predict", str(out), str(path), "--drop", "animal")
    one_line_error(only_one, 2, "its columns include 'id', which the model was not trained on")
    reordered = tmp_path / "reordered.csv"
    lines = path.read_text().splitlines()
    reordered.write_text("\n".join(",".join(np.array(line.split(","))[[0, 2, 1, 3]])
                                   for line in lines) + "\n")  # fmt: skip
    swapped = run("predict", str(out), str(reordered), "--drop", "animal", "--drop", "id")
    one_line_error(swapped, 2, "its columns are in another order; the model was trained on 2")


def test_column_names_that_are_numbers_are_not_predicted_on_as_a_row(tmp_path):
    rng = np.random.default_rng(0)
    rows = "".join(f"{a:.3f},{b:.3f},{'yes' if a > b else 'no'}\n" for a, b in rng.random((40, 2)))
    years = tmp_path / "years.csv"
    years.write_text("2020,2021,label\n" + rows)
    out = tmp_path / "m.npz"
    trained = run("train", "--csv", str(years), "--header", "--target", "label", "--epochs", "2",
                  "--quiet", "--out", str(out))  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert scratchnn.load(out).feature_names == ["2020", "2021"]
    new = tmp_path / "new.csv"
    new.write_text("2020,2021\n0.5,0.7\n")
    predicted = run("predict", str(out), str(new))
    one_line_error(predicted, 2, "its first line holds the model's column names (2020, 2021), "
                   "read as numbers: give --header")  # fmt: skip
    assert run("predict", str(out), str(new), "--header").returncode == 0


def test_headerless_numeric_file_keeps_its_first_row(tmp_path):
    rng = np.random.default_rng(1)
    table = np.column_stack([rng.normal(size=(50, 3)), np.arange(50) % 2])
    path = tmp_path / "plain.csv"
    path.write_text("\n".join(",".join(f"{v:.5f}" for v in row) for row in table) + "\n")
    out = tmp_path / "m.npz"
    result = run("train", "--csv", str(path), "--target", "-1", "--epochs", "2", "--quiet",
                 "--out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "trained on plain.csv: 50 samples" in result.stdout
    forced = run("train", "--csv", str(path), "--target", "-1", "--epochs", "1", "--header",
                 "--quiet")  # fmt: skip
    assert "trained on plain.csv: 49 samples" in forced.stdout  # only when asked


def test_text_features_missing_values_and_encodings_are_one_line_errors(tmp_path):
    (tmp_path / "text.csv").write_text("size,colour,price\n1,red,3\n2,blue,4\n")
    (tmp_path / "gap.csv").write_text("a,b,y\n1,2,0\n3,,1\n")
    path, _, _ = three_classes(tmp_path, labels=("thé", "café", "eau"), encoding="latin-1")
    (tmp_path / "blob.csv").write_bytes(b"PK\x03\x04\x00\x00binary")
    (tmp_path / "long.csv").write_text("a,b\n1," + "9" * 200_000 + "x\n")
    text = run("train", "--csv", "text.csv", "--target", "price", cwd=tmp_path)
    one_line_error(text, 1, "line 2, column 2 ('colour') holds text", "--drop colour")
    gap = run("train", "--csv", "gap.csv", "--target", "y", cwd=tmp_path)
    one_line_error(gap, 1, "gap.csv: line 3, column 2 ('b') is a missing value ('')")
    latin = run("train", "--csv", str(path), "--target", "animal", "--drop", "id")
    one_line_error(latin, 1, "line 2 is not valid utf-8 text (byte 0xe9)", "--encoding latin-1")
    blob = run("predict", "m.npz", "blob.csv", cwd=tmp_path)
    one_line_error(blob, 1)  # no model file: refused before the data, still one line
    long = run("train", "--csv", "long.csv", "--target", "a", cwd=tmp_path)
    message = one_line_error(long, 1, "line 2, column 2 ('b') holds text ('9999", "(200001 chars)")
    assert len(message) < 300


def test_latin1_and_bom_files_train_when_told_or_without_fuss(tmp_path):
    path, _, _ = three_classes(tmp_path, labels=("thé", "café", "eau"), encoding="latin-1")
    latin = run("train", "--csv", str(path), "--target", "animal", "--drop", "id",
                "--encoding", "latin-1", "--epochs", "2", "--quiet")  # fmt: skip
    assert latin.returncode == 0, latin.stderr
    path, _, _ = three_classes(tmp_path, bom="\ufeff")
    bom = run("train", "--csv", str(path), "--target", "animal", "--drop", "id", "--epochs", "2",
              "--quiet")  # fmt: skip
    assert bom.returncode == 0 and "trained on animals.csv: 90 samples" in bom.stdout, bom.stderr


def test_loss_and_output_layer_that_cannot_fit_the_classes_are_named(tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps([{"units": 8, "activation": "relu"},
                                {"units": 16, "activation": "softmax"}]))  # fmt: skip
    mse = run("train", "iris", "--loss", "mse")
    one_line_error(mse, 2, "--loss mse needs numeric targets, but these are 3 classes",
                   "--task regression")  # fmt: skip
    wide = run("train", "iris", "--spec", str(spec))
    one_line_error(wide, 2, "the last layer of --spec", "has 16 unit(s), but the data have 3 "
                   "classes: it needs 3 (softmax)")  # fmt: skip
    cross = run("train", "diabetes", "--loss", "categorical_crossentropy")
    one_line_error(cross, 2, "needs class labels, but the targets are numbers")


def test_early_stopping_reports_the_restored_best_model(tmp_path):
    result = run("train", "breast_cancer", "--epochs", "60", "--early-stopping", "3", "--lr",
                 "0.05", "--layers", "64")  # fmt: skip
    assert result.returncode == 0, result.stderr
    epochs = [numbers(line) for line in result.stdout.splitlines() if line.startswith("epoch ")]
    best = min(range(len(epochs)), key=lambda i: epochs[i]["val_loss"])
    assert best + 1 < len(epochs), "the run was meant to stop early"
    saved = saved_line(result.stdout)
    assert f"trained model (epoch {best + 1}, the best)" in result.stdout  # no --out
    assert saved["val_loss"] == pytest.approx(epochs[best]["val_loss"], abs=2e-4)
    assert saved["val_loss"] != pytest.approx(epochs[-1]["val_loss"], abs=2e-4)


def test_plots_without_matplotlib_fail_before_any_training():
    code = (
        "import sys; sys.modules['matplotlib'] = None; from scratchnn.cli import main; "
        "sys.exit(main(sys.argv[1:]))"
    )
    result = run("train", "iris", "--plots", "pictures", code=code)
    one_line_error(result, 2, "--plots needs matplotlib", "pip install scratchnn[plot]")
    assert result.stdout == ""  # nothing trained, nothing printed


def test_small_things_version_help_defaults_and_broken_pipe(tmp_path):
    version = run("--version")
    assert (
        version.returncode == 0 and version.stdout.strip() == f"scratchnn {scratchnn.__version__}"
    )
    helped = run("train", "--help")
    assert "(default: 200; 5 with --text)" in helped.stdout and "(default: 0.01)" in helped.stdout
    assert "(default: relu)" in helped.stdout
    assert "default: None" not in helped.stdout and "default: False" not in helped.stdout
    missing = run("evaluate", "nowhere.npz", cwd=tmp_path)
    one_line_error(missing, 1, "model file 'nowhere.npz' does not exist")
    out = tmp_path / "m.npz"
    assert run("train", "moons", "--epochs", "1", "--quiet", "--out", str(out)).returncode == 0
    big = tmp_path / "big.csv"
    big.write_text("a,b\n" + "0.5,0.25\n" * 30_000)
    shell = f"{sys.executable} -m scratchnn.cli predict {out} {big} 2>{tmp_path / 'err'} | head -1"
    piped = subprocess.run(["sh", "-c", shell], capture_output=True, text=True)
    assert piped.stdout == "class,prob_0,prob_1\n"
    assert (tmp_path / "err").read_text() == ""
    no_data = run("evaluate", str(out))
    one_line_error(no_data, 2, "give a data set name", "--data NAME")


def test_hostile_specs_and_model_files_give_one_line(tmp_path):
    (tmp_path / "deep.json").write_text("[" * 50_000 + "]" * 50_000)
    (tmp_path / "deep.toml").write_text("layers = " + "[" * 50_000 + "]" * 50_000 + "\n")
    (tmp_path / "huge.json").write_text("[" + ",".join(['{"units": 4}'] * 200_000) + "]")
    with zipfile.ZipFile(tmp_path / "junk.npz", "w") as archive:
        archive.writestr("model.json", "{" * 10_000)
        archive.writestr("weights.npy", b"\x93NUMPY junk")
    for spec, part in [("deep.json", "nested too deeply"), ("deep.toml", "deep.toml"),
                       ("huge.json", "far more than a layer list needs")]:  # fmt: skip
        result = run("train", "xor", "--spec", spec, "--epochs", "1", "--quiet", cwd=tmp_path)
        one_line_error(result, 2, part)  # the spec is part of the command
    for command in (["summary", "junk.npz"], ["evaluate", "junk.npz", "iris"]):
        one_line_error(run(*command, cwd=tmp_path), 1, "junk.npz")
    debug = run("--debug", "train", "xor", "--spec", "deep.json", cwd=tmp_path)
    assert debug.returncode == 2 and "Traceback" in debug.stderr


def test_weight_histograms_show_the_network_as_trained_not_folded(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from scratchnn import plot
    from scratchnn.cli import main

    seen = {}
    original = plot.plot_weight_histograms

    def spy(model, X=None, *args, **kwargs):
        seen["W"], seen["X"] = model.layers[0].params["W"].astype(np.float64), np.asarray(X)
        return original(model, X, *args, **kwargs)

    monkeypatch.setattr(plot, "plot_weight_histograms", spy)
    out = tmp_path / "m.npz"
    argv = ["train", "wine", "--epochs", "2", "--validation-split", "0", "--quiet", "--dtype",
            "float64", "--out", str(out), "--plots", str(tmp_path / "pictures")]  # fmt: skip
    assert main(argv) == 0
    X, _ = scratchnn.datasets.load_wine()
    np.testing.assert_allclose(seen["X"].mean(axis=0), 0, atol=1e-9)  # standardised inputs
    np.testing.assert_allclose(seen["X"].std(axis=0), 1, atol=1e-9)
    saved = scratchnn.load(out).layers[0].params["W"]  # folded: W / std of each input
    np.testing.assert_allclose(seen["W"], saved * X.std(axis=0)[:, None], rtol=1e-9)
    assert (tmp_path / "pictures" / "weights.png").read_bytes()[:4] == b"\x89PNG"


def test_one_hot_columns_train_and_predict_with_the_training_categories(tmp_path):
    rng = np.random.default_rng(0)
    colors = np.array(["red", "green", "blue"])[np.arange(150) % 3]
    size = rng.normal(size=150)
    labels = np.where((colors == "red") ^ (size > 0.5), "yes", "no")
    path = tmp_path / "things.csv"
    rows = zip(size, colors, labels, strict=True)
    path.write_text("size,color,label\n" + "".join(f"{s:.3f},{c},{lab}\n" for s, c, lab in rows))
    refused = run("train", "--csv", str(path), "--target", "label", "--quiet")
    one_line_error(refused, 1, "holds text", "--one-hot color")
    out = tmp_path / "m.npz"
    trained = run("train", "--csv", str(path), "--target", "label", "--one-hot", "color",
                  "--quiet", "--out", str(out))  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert saved_line(trained.stdout)["val_accuracy"] >= 0.9  # the color matters: it was used
    model = scratchnn.load(out)
    assert model.feature_names == ["size", "color=blue", "color=green", "color=red"]
    new = tmp_path / "new.csv"
    new.write_text("size,color\n0.1,red\n0.9,red\n0.1,blue\n")  # no green: still 4 columns
    predicted = run("predict", str(out), str(new), "--one-hot", "color")
    assert predicted.returncode == 0, predicted.stderr
    piped = subprocess.run([sys.executable, "-m", "scratchnn.cli", "predict", str(out), "-",
                            "--one-hot", "color"], input=new.read_text(), capture_output=True,
                           text=True)  # fmt: skip
    assert piped.returncode == 0 and piped.stdout == predicted.stdout, piped.stderr
    rows = list(csv.reader(io.StringIO(predicted.stdout)))
    assert [row[0] for row in rows[1:]] == ["yes", "no", "no"]
    purple = tmp_path / "purple.csv"
    purple.write_text("size,color\n0.1,purple\n")
    one_line_error(run("predict", str(out), str(purple), "--one-hot", "color"), 1,
                   "holds 'purple', a category the model was not trained on")  # fmt: skip
    one_line_error(run("predict", str(out), str(new), "--one-hot", "size"), 2,
                   "--one-hot size: the model was not trained with that column one-hot encoded "
                   "(its one-hot columns: color)")  # fmt: skip
