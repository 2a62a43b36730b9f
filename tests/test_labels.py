"""Classification targets may be labels (text): the model keeps them, files too."""

from __future__ import annotations

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
