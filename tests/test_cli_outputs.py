"""The command line's outputs never replace its inputs; standard input is named as such."""

from __future__ import annotations

import io
import os
import sys

import numpy as np
import pytest

import scratchnn
from scratchnn.cli import main


@pytest.fixture
def trained(tmp_path, capsys):
    data = tmp_path / "d.csv"
    rng = np.random.default_rng(0)
    rows = [f"{a:.3f},{b:.3f},{'x' if a > b else 'y'}" for a, b in rng.normal(size=(20, 2))]
    data.write_text("a,b,label\n" + "\n".join(rows) + "\n")
    model = tmp_path / "m.npz"
    status = main(["train", "--csv", str(data), "--target", "label", "--epochs", "2", "--quiet",
                   "--out", str(model)])  # fmt: skip
    assert status == 0
    capsys.readouterr()
    return data, model


def _error(capsys, status: int, argv: list[str]) -> str:
    assert main(argv) == status
    return capsys.readouterr().err


def test_export_refuses_to_write_over_the_model_it_exports(trained, capsys):
    _, model = trained
    before = model.read_bytes()
    error = _error(capsys, 2, ["export", str(model), str(model)])
    assert f"OUT {str(model)!r} is the model file being exported: writing there would" in error
    link = model.parent / "link.npz"
    os.symlink(model, link)
    error = _error(capsys, 2, ["export", str(link), str(model)])  # the same file through a link
    assert f"is the model file being exported ({str(link)!r})" in error
    assert model.read_bytes() == before


def test_predict_and_train_refuse_an_output_that_is_an_input(trained, capsys):
    data, model = trained
    before = data.read_bytes(), model.read_bytes()
    error = _error(capsys, 2, ["predict", str(model), str(data), "--out", str(data)])
    assert "is the input CSV: writing there would replace it" in error
    error = _error(capsys, 2, ["predict", str(model), str(data), "--out", str(model)])
    assert "is the model file: writing there" in error
    error = _error(
        capsys, 2, ["train", "--csv", str(data), "--target", "label", "--out", str(data)]
    )
    assert "is the --csv data file" in error
    assert (data.read_bytes(), model.read_bytes()) == before


@pytest.mark.parametrize(
    "text,status,message",
    [
        ("a,b\n1,zz\n", 1, "standard input: column 'b' holds text ('zz')"),
        ("a,c\n1,2\n", 2, "standard input: its columns lack 'b'"),
    ],
)
def test_predict_from_standard_input_names_standard_input(trained, capsys, monkeypatch, text,
                                                          status, message):  # fmt: skip
    _, model = trained
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    error = _error(capsys, status, ["predict", str(model), "-"])
    assert message in error
    assert "stdin.csv" not in error and "tmp" not in error


def test_a_one_hot_column_whose_name_holds_equals_trains_then_predicts(tmp_path, capsys):
    # Issue 27: the stored names "size=big=small" were split at the first "=".
    rng = np.random.default_rng(0)
    rows = [
        f"{x:.3f},{['s', 'm=l', 'xl'][i % 3]},{'yes' if x > 0 else 'no'}"
        for i, x in enumerate(rng.normal(size=24))
    ]
    data = tmp_path / "d.csv"
    data.write_text("x,size=cut,label\n" + "\n".join(rows) + "\n")
    model = tmp_path / "m.npz"
    common = ["--one-hot", "size=cut"]
    train = ["train", "--csv", str(data), "--target", "label", "--epochs", "2", "--quiet"]
    assert main([*train, *common, "--out", str(model)]) == 0
    names = scratchnn.load(model).feature_names
    assert names == ["x", "size=cut=m=l", "size=cut=s", "size=cut=xl"]
    capsys.readouterr()
    assert main(["evaluate", str(model), "--csv", str(data), "--target", "label", *common]) == 0
    assert "d.csv: 24 samples" in capsys.readouterr().out
    assert main(["predict", str(model), str(data), "--drop", "label", *common]) == 0
    assert capsys.readouterr().out.count("\n") == 25  # the header and one line per row
