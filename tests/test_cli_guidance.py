"""What the ``scratchnn`` command tells a new user where they stumble (issue 26).

What a run kept and where, a diverged run's exit status, a second value given to an option that
takes one, and, in ``predict`` and ``evaluate``, only the fixes that can work for the model.
Every test runs the real entry point in a subprocess.
"""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

import scratchnn
from scratchnn.cli.commands import DIVERGED, _format, _restored_epoch

pytestmark = pytest.mark.slow  # each test runs the command: left out of -m "not slow"

BLOBS = ["blobs", "--n-samples", "120", "--layers", "8", "--seed", "1", "--quiet"]


def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "scratchnn.cli", *args], capture_output=True, text=True, cwd=cwd
    )


def one_line_error(result: subprocess.CompletedProcess, status: int, *parts: str) -> str:
    assert result.returncode == status, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    for part in parts:
        assert part in result.stderr, result.stderr
    return result.stderr


# -- what a run kept, and where -------------------------------------------------------------------
def test_train_without_out_says_nothing_was_saved_and_how_to_save(tmp_path):
    result = run("train", *BLOBS, "--epochs", "5", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-2].startswith("trained model (last epoch): loss=")
    assert lines[-1] == "model not saved: nothing was written (give --out MODEL.npz to keep it)"
    assert "saved model" not in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_train_with_out_names_the_saved_model_and_its_file(tmp_path):
    out = tmp_path / "m.npz"
    result = run("train", *BLOBS, "--epochs", "5", "--out", str(out))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-2].startswith("saved model (last epoch): loss=")
    assert lines[-1] == f"saved model to {out}"
    assert "not saved" not in result.stdout
    assert scratchnn.load(out).output_dim == 3


def test_demo_without_out_says_nothing_was_saved(tmp_path):
    result = run("demo", "xor", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "model not saved: nothing was written (give --out MODEL.npz to keep it)" in (
        result.stdout
    )
    assert "xor(1, 1) = 0, network says" in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_progress_lines_and_the_final_numbers_are_told_apart():
    """An epoch line's loss is a mean over its batches as the weights moved; the final line is
    the kept weights on the whole training part, so the two differ, and the output says why."""
    result = run("train", *BLOBS[:-1], "--epochs", "3", "--early-stopping", "off")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    last_epoch = next(line for line in lines if line.startswith("epoch 3/3"))
    final = next(line for line in lines if line.startswith("trained model (last epoch)"))
    assert last_epoch.split()[2] != final.split()[3]  # loss=...: not the same number
    note = lines[lines.index(final) + 1]
    assert note.startswith("(the kept weights, evaluated on the whole training part; an epoch")
    assert "means over its batches, in training mode (dropout on)" in note
    quiet = run("train", *BLOBS, "--epochs", "3")
    assert "(the kept weights" not in quiet.stdout  # no epoch lines: nothing to tell apart


# -- a diverged run -------------------------------------------------------------------------------
def test_a_diverged_run_exits_3_and_says_what_it_saved(tmp_path):
    out = tmp_path / "m.npz"
    result = run("train", *BLOBS, "--optimizer", "sgd", "--lr", "100", "--epochs", "20",
                 "--out", str(out), "--plots", str(tmp_path))  # fmt: skip
    message = one_line_error(result, DIVERGED, "(exit status 3)")
    assert DIVERGED == 3
    best = re.fullmatch(
        rf"scratchnn train: error: training diverged: {re.escape(str(out))} holds the weights "
        r"of epoch (\d+), the best before the loss diverged, not a trained network; try a "
        r"smaller --lr \(exit status 3\)\n",
        message,
    )
    assert best is not None, message
    assert "stopped early: the loss became " in result.stdout
    saved = next(line for line in result.stdout.splitlines() if line.startswith("saved model ("))
    assert saved.startswith(f"saved model (epoch {best.group(1)}, the best): loss=")
    assert f"saved model to {out}" in result.stdout
    model = scratchnn.load(out)
    assert np.isfinite(model.predict(np.zeros((1, 2)))).all()
    assert f"wrote {tmp_path / 'learning_curves.png'}" in result.stdout  # pictures still drawn


def test_a_diverged_run_without_out_says_nothing_was_saved_and_which_weights_it_kept():
    result = run("train", *BLOBS, "--optimizer", "sgd", "--lr", "1000", "--epochs", "20",
                 "--early-stopping", "off")  # fmt: skip
    one_line_error(
        result,
        3,
        "training diverged: nothing was saved; the model kept the last finite weights, from "
        "before the update that diverged, not a trained network",
    )
    assert "trained model (the last finite weights): loss=" in result.stdout


def test_a_diverged_runs_huge_numbers_print_as_numbers_one_can_read():
    assert _format({"loss": 629195.5, "accuracy": 0.60563}) == "loss=6.292e+05  accuracy=0.6056"
    assert _format({"loss": 4.63e24, "r2": -7.5e20}) == "loss=4.63e+24  r2=-7.5e+20"
    assert _format({"loss": 0.04477, "val_loss": float("nan")}) == "loss=0.0448  val_loss=nan"


def test_the_kept_epoch_is_the_restored_one_and_the_best_before_a_divergence():
    from types import SimpleNamespace

    stopping = [SimpleNamespace(best_epoch=5, best_weights={"W": 0})]  # epoch 6, from 1
    assert _restored_epoch(stopping, 17, diverged=False) == 6
    assert _restored_epoch(stopping, 6, diverged=False) is None  # the last: nothing restored
    assert _restored_epoch(stopping, 6, diverged=True) == 6  # not the diverged update's
    assert _restored_epoch([SimpleNamespace(best_epoch=5, best_weights=None)], 17, False) is None
    assert _restored_epoch([], 17, diverged=True) is None


def test_a_run_that_trains_well_exits_0_and_writes_nothing_on_standard_error():
    result = run("train", *BLOBS, "--epochs", "3")
    assert (result.returncode, result.stderr) == (0, "")


# -- a second value for an option that takes one --------------------------------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--csv", "cancer.csv", "--target", "label", "--layers", "64", "32"],
         "'32' is not a data set name (xor, moons, circles, spirals, blobs, digits, iris, wine, "
         "breast_cancer, diabetes): --layers takes all the widths as one value, joined by "
         "commas: --layers 64,32"),
        (["train", "iris", "--layers", "64", "32", "16"],
         "unrecognized arguments: 32 16: '32' is a second value for --layers, which takes all "
         "the widths as one value, joined by commas: --layers 64,32,16"),
        (["train", "--csv", "c.csv", "--target", "y", "--layers", "64", "32", "16"],
         "--layers 64,32,16"),
        (["train", "iris", "--drop", "a", "b"],
         "unrecognized arguments: b: --drop takes one column; repeat it: --drop a --drop b"),
        (["train", "--csv", "c.csv", "--target", "y", "--drop", "a", "b"],
         "'b' is not a data set name, and --csv gives the data already: is it a second value "
         "for the option before it? Each option takes one value (--layers 64,32; --drop a "
         "--drop b)"),
        (["train", "iris", "--epochs", "5", "6"],
         "unrecognized arguments: 6: '6' follows --epochs 5, which takes one value"),
        (["predict", "m.npz", "x.csv", "--one-hot", "a", "b"],
         "--one-hot takes one column; repeat it: --one-hot a --one-hot b"),
        (["train", "irs"], "unknown data set 'irs' (known: xor, moons, "),
        (["train", "iris", "--quiet", "extra"], "unrecognized arguments: extra (see"),
        (["train", "iris", "--n-arms", "3", "--data", "x"],
         "unrecognized arguments: --data x: --data is an option of evaluate, not of train (see"),
    ],
)  # fmt: skip
def test_a_stray_value_is_named_with_the_form_the_option_takes(args, message):
    one_line_error(run(*args), 2, message)


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["predict", "m.npz", "t.csv", "--target", "label"], 2,
         "unrecognized arguments: --target label: --target is an option of train, evaluate, not "
         "of predict; predict reads features only: leave the target column out with --drop COL"),
        (["summary", "m.npz", "--quiet"], 2,
         "unrecognized arguments: --quiet: --quiet is an option of train, demo, not of summary"),
        (["train", "t.csv", "--target", "label"], 2,
         "'t.csv' is a file, not a data set name: read it with --csv t.csv --target label"),
        (["train", "data.txt"], 2,
         "'data.txt' is a file, not a data set name: read it with --csv data.txt --target COLUMN"),
        (["evaluate", "iris"], 1,
         "model file 'iris' does not exist (train --out writes one); 'iris' names a data set: "
         "the model file comes first"),
        (["summary", "spirals"], 1, "'spirals' names a data set: the model file comes first"),
        (["summary", "gone.npz"], 1, "error: model file 'gone.npz' does not exist (train --out "
         "writes one)\n"),  # no data set named: no hint
    ],
)  # fmt: skip
def test_words_in_the_wrong_place_are_named_with_where_they_belong(tmp_path, args, status, message):
    (tmp_path / "t.csv").write_text("a,label\n1,x\n2,y\n")
    one_line_error(run(*args, cwd=tmp_path), status, message)


# -- predict and evaluate suggest only what can work ----------------------------------------------
@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """A model trained on a CSV with text labels and a one-hot column, and its file."""
    pytest.importorskip("pandas")
    folder = tmp_path_factory.mktemp("labelled")
    rng = np.random.default_rng(0)
    size = rng.normal(size=60)
    color = np.array(["red", "blue"])[np.arange(60) % 2]
    label = np.where((size > 0) ^ (color == "red"), "yes", "no")
    path = folder / "pets.csv"
    path.write_text("size,color,label\n" + "".join(
        f"{s:.3f},{c},{lab}\n" for s, c, lab in zip(size, color, label, strict=True)))  # fmt: skip
    out = folder / "m.npz"
    trained = run("train", "--csv", str(path), "--target", "label", "--one-hot", "color",
                  "--quiet", "--epochs", "5", "--out", str(out))  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    return folder, path, out


def test_predict_on_the_training_file_names_the_target_and_the_one_hot_column(labelled):
    folder, path, out = labelled
    message = one_line_error(
        run("predict", str(out), str(path)),
        2,
        f"{path}: column 'color' holds text ('blue', 'red'): the model was trained with it "
        "one-hot encoded, so give --one-hot color, as in training; column 'label' holds the "
        "model's class labels ('no', 'yes'), so it is likely the training target, not a "
        "feature: leave it out: --drop label",
    )
    assert "--one-hot label" not in message and "--drop color" not in message
    fixed = run("predict", str(out), str(path), "--one-hot", "color", "--drop", "label")
    assert fixed.returncode == 0, fixed.stderr
    assert len(fixed.stdout.splitlines()) == 61


def test_predict_after_one_hot_names_only_the_target(labelled):
    folder, path, out = labelled
    message = one_line_error(
        run("predict", str(out), str(path), "--one-hot", "color"),
        2,
        "column 'label' holds the model's class labels ('no', 'yes'), so it is likely the "
        "training target, not a feature: leave it out: --drop label",
    )
    assert "--one-hot label" not in message


def test_predict_names_a_text_column_the_model_never_saw(labelled, tmp_path):
    _, _, out = labelled
    other = tmp_path / "other.csv"
    other.write_text("size,color,owner\n0.5,red,ann\n-0.5,blue,bob\n")
    message = one_line_error(
        run("predict", str(out), str(other), "--one-hot", "color"),
        2,
        "column 'owner' holds text ('ann', 'bob'), and the model was not trained on it: "
        "leave it out, --drop owner",
    )
    assert "one-hot owner" not in message


def test_fixes_quote_names_with_spaces_and_use_indices_for_files_without_a_header(tmp_path):
    pytest.importorskip("pandas")
    named, plain = tmp_path / "named.csv", tmp_path / "plain.csv"
    named.write_text("x1,label\n" + "".join(f"{k},{'ab'[k % 2]}\n" for k in range(8)))
    plain.write_text("".join(f"{k},{'ab'[k % 2]}\n" for k in range(8)))
    for path in (named, plain):
        out = str(path.with_suffix(".npz"))
        trained = run("train", "--csv", str(path), "--target", "-1", "--quiet", "--epochs", "2",
                      "--validation-split", "0", "--out", out)  # fmt: skip
        assert trained.returncode == 0, trained.stderr
    spaced = tmp_path / "spaced.csv"
    spaced.write_text("x1,pet owner\n1,ann\n2,bob\n")
    one_line_error(run("predict", str(named.with_suffix(".npz")), str(spaced)), 2,
                   "column 'pet owner' holds text ('ann', 'bob'), and the model was not trained "
                   "on it: leave it out, --drop 'pet owner'")  # fmt: skip
    extra = tmp_path / "extra.csv"
    extra.write_text("1,zz,a\n2,yy,b\n3,zz,a\n")
    one_line_error(run("predict", str(plain.with_suffix(".npz")), str(extra), "--no-header"), 2,
                   "the column at index 1 holds text ('yy', 'zz'), and the model takes numbers "
                   "only: leave it out if it is no feature, --drop-index 1; the column at index 2 "
                   "holds the model's class labels ('a', 'b'), so it is likely the training "
                   "target, not a feature: leave it out: --drop-index 2")  # fmt: skip


def test_predict_on_text_where_the_model_took_numbers_says_so(labelled, tmp_path):
    _, _, out = labelled
    swapped = tmp_path / "swapped.csv"
    swapped.write_text("size,color\nbig,red\nsmall,blue\n")
    message = one_line_error(
        run("predict", str(out), str(swapped), "--one-hot", "color", "--header"),
        1,
        "column 'size' holds text ('big', 'small'), but the model was trained on it as numbers",
    )
    assert "--drop" not in message and "--one-hot size" not in message


def test_evaluate_with_the_wrong_target_points_at_the_right_one(labelled):
    _, path, out = labelled
    one_line_error(
        run("evaluate", str(out), "--csv", str(path), "--target", "size", "--one-hot", "color"),
        2,
        "column 'label' holds the model's class labels ('no', 'yes'), so it is likely the "
        "training target, not a feature: give it as --target label",
    )


def test_predict_names_a_numeric_target_column_left_in(tmp_path):
    pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    y = (X[:, 0] > 0).astype(int)
    path = tmp_path / "numbers.csv"
    path.write_text("a,b,label\n" + "".join(
        f"{a:.3f},{b:.3f},{t}\n" for (a, b), t in zip(X, y, strict=True)))  # fmt: skip
    out = tmp_path / "m.npz"
    trained = run("train", "--csv", str(path), "--target", "label", "--quiet", "--epochs", "3",
                  "--out", str(out))  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    one_line_error(
        run("predict", str(out), str(path)),
        2,
        "its columns include 'label', which the model was not trained on ('label' holds only "
        "the model's class labels: likely the training target)",
        "Drop the same columns as in training (--drop label)",
    )
