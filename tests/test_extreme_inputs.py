"""Inputs of magnitude 1e4 through every head, hidden activation, optimizer and dtype.

Every fit ends with finite weights whose loss and predictions are finite (or a
DivergenceWarning and restored weights), and NumPy never warns.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np

from scratchnn import Dense, DivergenceWarning, Sequential

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
