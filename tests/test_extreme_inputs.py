"""Inputs of magnitude 1e4 through every head, hidden activation, optimizer and dtype.

Every fit ends with finite weights whose loss and predictions are finite (or a
DivergenceWarning and restored weights), and NumPy never warns.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

from scratchnn import SGD, BatchNorm, Dense, DivergenceWarning, Dropout, Sequential
from scratchnn.activations import log_softmax, softmax

HEADS = [
    ("linear", "mse"),
    ("linear", "mae"),
    ("linear", "huber"),
    ("sigmoid", "binary_crossentropy"),
    ("softmax", "categorical_crossentropy"),
    ("linear", {"name": "categorical_crossentropy", "from_logits": True}),
    ("linear", {"name": "binary_crossentropy", "from_logits": True}),
]
HIDDEN = ["linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "softplus"]
OPTIMIZERS = [
    "sgd",
    "adam",
    "rmsprop",
    "adagrad",
    "adamw",
    {"name": "sgd", "learning_rate": 0.01, "momentum": 0.9},
]


def _targets(loss, rng, n):
    name = loss if isinstance(loss, str) else loss["name"]
    if name == "binary_crossentropy":
        return rng.integers(0, 2, size=(n, 1)).astype(float), 1
    if name == "categorical_crossentropy":
        return rng.integers(0, 3, size=n), 3
    return rng.normal(size=(n, 1)) * 100.0, 1


@pytest.mark.slow
def test_inputs_of_1e4_give_no_warning_and_finite_results_everywhere():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 4)) * 1e4
    problems, diverged, configs = [], 0, 0
    for (head, loss), hidden, optimizer, dtype in itertools.product(
        HEADS, HIDDEN, OPTIMIZERS, ["float32", "float64"]
    ):
        configs += 1
        y, outputs = _targets(loss, rng, len(X))
        model = Sequential(
            [Dense(8, hidden), Dense(8, hidden), Dense(outputs, head)], seed=0, dtype=dtype
        )
        metrics = ["accuracy"] if outputs == 3 else ["mse", "mae", "r2"]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(X, y, loss=loss, optimizer=optimizer, epochs=3, batch_size=16,
                      verbose=0, metrics=metrics, validation_split=0.25)  # fmt: skip
            evaluated = model.evaluate(X, y)
            predicted = model.predict(X)
        others = [w for w in caught if not issubclass(w.category, DivergenceWarning)]
        diverged += len(caught) - len(others)
        config = (head, str(loss), hidden, str(optimizer), dtype)
        if others:
            problems.append((config, [str(w.message) for w in others[:2]]))
        if not (np.isfinite(evaluated["loss"]) and np.all(np.isfinite(predicted))):
            problems.append((config, "non-finite loss or prediction", evaluated["loss"]))
        if not np.all(np.isfinite(model.params)):
            problems.append((config, "non-finite weights"))
    assert configs == 672
    assert problems == []


def test_a_large_learning_rate_with_dropout_and_validation_ends_finite_everywhere():
    """SGD(0.1) on inputs of 1e4: restored weights must also be finite on the rows no batch saw."""
    problems, configs = [], 0
    rng = np.random.default_rng(1)
    X = rng.normal(size=(64, 4)) * 1e4
    for (head, loss), hidden in itertools.product(HEADS, HIDDEN):
        configs += 1
        y, outputs = _targets(loss, rng, len(X))
        model = Sequential(
            [Dense(8, hidden), Dropout(0.2), Dense(8, hidden), Dense(outputs, head)], seed=1
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(X, y, loss=loss, optimizer={"name": "sgd", "learning_rate": 0.1},
                      epochs=3, batch_size=16, verbose=0, validation_split=0.25)  # fmt: skip
            evaluated = model.evaluate(X, y)
            predicted = model.predict(X)
        others = [str(w.message) for w in caught if not issubclass(w.category, DivergenceWarning)]
        if others or not (np.isfinite(evaluated["loss"]) and np.all(np.isfinite(predicted))):
            problems.append(((head, str(loss), hidden), others[:1], evaluated["loss"]))
    assert configs == 56
    assert problems == []


def test_divergence_keeps_the_latest_weights_finite_on_every_training_row():
    from scratchnn.callbacks import History
    from scratchnn.training import _Snapshot, _stop

    model = Sequential([Dense(1, input_dim=1, use_bias=False)], seed=0)
    model.build(1)
    X = np.array([[1.0], [1e30]], np.float32)  # the second row overflows any weight above ~3e8

    def candidates(*weights):
        snapshots = []
        for weight, name in zip(weights, "ABC", strict=False):
            model.params[...] = weight
            snapshots.append(_Snapshot(model, name))
        model.params[...] = 1e20  # the weights that diverged
        return snapshots

    with pytest.warns(DivergenceWarning, match=r"^test: training stopped and the model keeps B "):
        _stop(model, History(), candidates(1e10, 2.0, 3.0), X, "test")
    assert model.params.tolist() == [2.0] and model.stop_training
    with pytest.warns(DivergenceWarning, match="keeps B, though even they overflow on some rows"):
        _stop(model, History(), candidates(1e10, 1e12), X, "test")
    assert model.params.tolist() == [np.float32(1e12)]


def test_divergence_restores_batch_norm_statistics_with_the_weights():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(64, 4)), rng.integers(0, 2, size=(64, 1)).astype(float)
    model = Sequential([Dense(8, "relu"), BatchNorm(), Dense(1, "sigmoid")], seed=0)
    with pytest.warns(DivergenceWarning):
        model.fit(X, y, loss="binary_crossentropy", optimizer=SGD(1000.0), epochs=20,
                  batch_size=16, verbose=0)  # fmt: skip
    for array in model.layers[1].state.values():
        assert np.isfinite(array).all()
    model.set_state(model.get_state())  # a state the model holds is one it accepts
    assert np.isfinite(model.predict(X)).all()


def test_a_last_update_that_makes_the_logits_overflow_is_caught():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 4)) * 10
    y = (X[:, 0] > 0).astype(int)
    model = Sequential([Dense(2, "softmax")], seed=0)
    with pytest.warns(DivergenceWarning, match="the last update made the model overflow"):
        history = model.fit(X, y, loss="categorical_crossentropy", optimizer=SGD(3e37),
                            epochs=1, batch_size=64, verbose=0)  # fmt: skip
    assert history.stop_reason is not None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isfinite(model.logits(X)).all()


def test_infinite_logits_give_the_limit_of_the_softmax_not_nan():
    z = np.array([[1, np.inf, np.inf], [1, 2, 3], [-np.inf, -np.inf, -np.inf]], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = softmax(z.copy())
        same = softmax(z.copy(), out=None)
        in_place = z.copy()
        softmax(in_place, out=in_place)  # Dense's inference writes over its own logits
    np.testing.assert_allclose(p[0], [0, 0.5, 0.5])
    np.testing.assert_allclose(p[1], np.exp([1, 2, 3]) / np.exp([1, 2, 3]).sum(), rtol=1e-6)
    np.testing.assert_allclose(p[2], [1 / 3] * 3)
    np.testing.assert_array_equal(same, p)
    np.testing.assert_array_equal(in_place, p)
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(log_softmax(z)[0], [-np.inf, -np.log(2), -np.log(2)])


def test_predict_names_rows_whose_outputs_overflow_instead_of_numpy_warnings():
    model = Sequential([Dense(2, "relu", input_dim=1), Dense(1)], seed=0)
    model.build(1)
    model.layers[0].params["W"][...] = [[1e30, 1.0]]
    model.layers[1].params["W"][...] = [[1e30], [1.0]]
    X = np.array([[1.0], [0.0], [5.0]])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = model.predict(X)
    assert [str(w.message) for w in caught] == [
        "2 of 3 rows gave non-finite outputs: these inputs are too large for the weights in "
        "float32 (scale the inputs, or use dtype='float64')"
    ]
    assert np.isfinite(out[1, 0]) and np.isinf(out[[0, 2], 0]).all()
