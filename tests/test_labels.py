"""Classification targets may be labels (text): the model keeps them, files too."""

from __future__ import annotations

import decimal

import numpy as np
import pytest

import scratchnn
from scratchnn import Dense, Sequential

NAMES = np.array(["setosa", "versicolor", "virginica"])


def _data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 2))
    index = (X[:, 0] > 0).astype(int) + (X[:, 0] > 1).astype(int)
    return X, index, NAMES[index]


def _fit(y, loss="categorical_crossentropy", outputs=3):
    X, _, _ = _data()
    model = Sequential([Dense(8, "tanh"), Dense(outputs, "softmax" if outputs > 1 else "sigmoid")],
                       seed=0)  # fmt: skip
    model.fit(X, y, loss=loss, optimizer={"name": "adam", "learning_rate": 0.05}, epochs=40,
              batch_size=16, verbose=0)  # fmt: skip
    return model


def test_text_labels_train_exactly_like_their_indices(tmp_path):
    X, index, names = _data()
    by_name, by_index = _fit(names), _fit(index)
    np.testing.assert_array_equal(by_name.params, by_index.params)
    assert by_name.classes == ["setosa", "versicolor", "virginica"] and by_index.classes is None
    np.testing.assert_array_equal(by_name.predict_labels(X), NAMES[by_index.predict_labels(X)])
    assert np.mean(by_name.predict_labels(X) == names) > 0.9
    assert by_name.evaluate(X, names) == by_index.evaluate(X, index)
    by_name.save(tmp_path / "m.npz")
    loaded = scratchnn.load(tmp_path / "m.npz")
    assert loaded.classes == by_name.classes
    np.testing.assert_array_equal(loaded.predict_labels(X), by_name.predict_labels(X))


def test_two_text_labels_train_a_sigmoid_output():
    X, index, _ = _data()
    labels = np.where(index > 0, "yes", "no")
    model = _fit(labels, loss="binary_crossentropy", outputs=1)
    assert model.classes == ["no", "yes"]
    assert np.mean(model.predict_labels(X) == labels) > 0.9


@pytest.mark.parametrize(
    ("y", "loss", "message"),
    [
        (NAMES[np.zeros(120, int)], "mse", "need a classification loss .* got 'mse'"),
        (np.array(["a", "b", "c"] * 40), "binary_crossentropy", "must hold two labels"),
    ],
)
def test_labels_with_the_wrong_loss_are_refused(y, loss, message):
    with pytest.raises(ValueError, match=message):
        _fit(y, loss=loss)


def test_labels_a_fitted_model_does_not_know_are_named():
    X, _, names = _data()
    model = _fit(names)
    with pytest.raises(ValueError, match=r"labels the model does not know: \['tulip'\]"):
        model.evaluate(X[:2], np.array(["setosa", "tulip"]))


def test_labels_must_fit_the_output_layer():
    X = np.random.default_rng(0).normal(size=(40, 3))
    model = Sequential([Dense(3, "softmax")], seed=0)
    with pytest.raises(ValueError, match=r"y holds 2 labels .* the last layer has 3 output\(s\)"):
        model.fit(X, np.array(["a", "b"] * 20), loss="categorical_crossentropy", verbose=0)
    assert not model.built  # a rejected fit changes nothing


def test_numpy_scalars_and_booleans_are_labels_a_file_keeps(tmp_path):
    X = np.random.default_rng(0).normal(size=(40, 3))
    for labels, expected in (
        (np.array([np.int64(3), np.int64(5)] * 20, dtype=object), [3, 5]),
        (np.array([True, False] * 20, dtype=object), [False, True]),
    ):
        model = Sequential([Dense(2, "softmax")], seed=0)
        model.fit(X, labels, loss="categorical_crossentropy", epochs=1, verbose=0)
        model.save(tmp_path / "m.npz")
        assert scratchnn.load(tmp_path / "m.npz").classes == expected
    odd = np.array([decimal.Decimal(1), decimal.Decimal(2)] * 20, dtype=object)
    with pytest.raises(TypeError, match="labels of type Decimal"):
        Sequential([Dense(2, "softmax")], seed=0).fit(X, odd, loss="categorical_crossentropy")


def test_a_resumed_fit_keeps_the_checkpoints_labels(tmp_path):
    from scratchnn import ModelCheckpoint

    X = np.random.default_rng(0).normal(size=(40, 3))
    path = tmp_path / "run.npz"
    first = Sequential([Dense(4, "softmax")], seed=0)
    first.fit(X, np.array(list("abcd") * 10), loss="categorical_crossentropy", epochs=1,
              verbose=0, callbacks=[ModelCheckpoint(path)])  # fmt: skip
    resumed = Sequential([Dense(4, "softmax")], seed=0)
    some = np.array(list("bcd") * 13 + ["b"])  # 'a' absent: b must stay the second unit
    resumed.fit(X, some, loss="categorical_crossentropy", epochs=2, verbose=0, resume_from=path)
    assert resumed.classes == ["a", "b", "c", "d"]
    with pytest.raises(ValueError, match=r"labels the model does not know: \['w', 'x'"):
        Sequential([Dense(4, "softmax")], seed=0).fit(
            X, np.array(list("wxyz") * 10), loss="categorical_crossentropy", epochs=2,
            verbose=0, resume_from=path,
        )  # fmt: skip
    with pytest.raises(ValueError, match="its class labels \\['a', 'b', 'c', 'd'\\], got numbers"):
        Sequential([Dense(4, "softmax")], seed=0).fit(
            X, np.arange(40) % 4, loss="categorical_crossentropy", epochs=2, verbose=0,
            resume_from=path,
        )  # fmt: skip


def test_labels_and_names_a_reader_would_refuse_are_refused_at_save(tmp_path):
    model = Sequential([Dense(2)], seed=0)
    model.build(3)
    model.classes = ["a", "b", "c"]
    with pytest.raises(ValueError, match="cannot save: the model has 2 output"):
        model.save(tmp_path / "m.npz")
    model.classes, model.feature_names = None, ["a"]
    with pytest.raises(ValueError, match="cannot save: feature_names must be a list of one text"):
        model.save(tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()
