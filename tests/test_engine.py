"""The engine's promises: thread-safe inference, one owner per layer, one divergence rule."""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import scratchnn
from scratchnn import SGD, BatchNorm, Dense, DivergenceWarning, Dropout, Sequential
from scratchnn.losses import get_loss
from scratchnn.sklearn.engine import TrainingState, build_network, fit_stochastic


def _fitted(seed: int = 0) -> tuple[Sequential, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(300, 6))
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int) + (X[:, 3] > 1).astype(int)
    model = Sequential(
        [Dense(16, "relu"), BatchNorm(), Dropout(0.2), Dense(8, "tanh"), Dense(3, "softmax")],
        seed=seed,
    )
    model.fit(X, y, loss="categorical_crossentropy", epochs=3, batch_size=32, verbose=0)
    return model, X, y


def test_predict_from_eight_threads_matches_one_thread_for_every_input_size():
    model, X, _ = _fitted()
    rng = np.random.default_rng(1)
    inputs = [rng.normal(size=(int(rng.integers(1, 260)), 6)) for _ in range(40)]
    expected = [model.predict(x) for x in inputs]
    logits = [model.logits(x) for x in inputs]

    def check(call: int) -> bool:
        index = call % len(inputs)
        if call % 2:
            return np.array_equal(model.logits(inputs[index]), logits[index])
        return np.array_equal(model.predict(inputs[index]), expected[index])

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(check, range(4000)))
    assert all(results), f"{results.count(False)} of {len(results)} calls differed"


def test_estimator_predict_proba_from_eight_threads_matches_one_thread():
    pytest.importorskip("sklearn")
    from scratchnn.sklearn import NeuralNetClassifier

    _, X, y = _fitted()
    clf = NeuralNetClassifier((12,), max_iter=5, random_state=0).fit(X, y)
    rng = np.random.default_rng(2)
    inputs = [rng.normal(size=(int(rng.integers(1, 230)), 6)) for _ in range(30)]
    expected = [clf.predict_proba(x) for x in inputs]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(
            pool.map(
                lambda i: np.array_equal(clf.predict_proba(inputs[i % 30]), expected[i % 30]),
                range(3000),
            )
        )
    assert all(results), f"{results.count(False)} of {len(results)} calls differed"


def test_predict_in_another_thread_leaves_fit_bit_identical():
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(400, 6)), rng.integers(0, 3, size=400)

    def make() -> Sequential:
        return Sequential(
            [Dense(16, "relu"), BatchNorm(), Dropout(0.2), Dense(3, "softmax")], seed=4
        )

    undisturbed = make()
    undisturbed.fit(X, y, loss="categorical_crossentropy", epochs=6, batch_size=16, verbose=0)

    disturbed = make()
    disturbed.build((6,))
    stop = threading.Event()
    calls = []

    def hammer() -> None:
        while not stop.is_set():
            disturbed.predict(rng.normal(size=(int(rng.integers(1, 50)), 6)))
            calls.append(1)

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        disturbed.fit(X, y, loss="categorical_crossentropy", epochs=6, batch_size=16, verbose=0)
    finally:
        stop.set()
        thread.join()
    assert len(calls) > 10  # the predictions really ran during the fit
    np.testing.assert_array_equal(disturbed.params, undisturbed.params)
    for mine, theirs in zip(disturbed.layers, undisturbed.layers, strict=True):
        for key, value in mine.state.items():
            np.testing.assert_array_equal(value, theirs.state[key])


def test_inference_writes_nothing_on_any_layer():
    model, X, _ = _fitted()
    before = [dict(vars(layer)) for layer in model.layers]
    model.predict(X[:7])
    model.logits(X[:9])
    model.evaluate(X[:5], np.zeros(5, dtype=int))
    for layer, attributes in zip(model.layers, before, strict=True):
        assert vars(layer).keys() == attributes.keys()
        for key, value in vars(layer).items():
            assert value is attributes[key], f"{type(layer).__name__}.{key} was rebound"


def test_a_layer_belongs_to_one_model():
    shared = Dense(3)
    Sequential([shared, Dense(1)])
    with pytest.raises(ValueError, match=r"layers\[0\] \(Dense.*\) already belongs to another"):
        Sequential([shared])
    twice = Dense(2)
    with pytest.raises(ValueError, match=r"layers\[1\] .* already belongs to this model"):
        Sequential([twice, twice])
    fresh = Dense(2)
    with pytest.raises(ValueError):
        Sequential([fresh, fresh])
    assert not getattr(fresh, "_owned", False)  # a rejected model claims nothing


def test_copies_and_pickles_own_their_layers():
    import pickle

    model, X, _ = _fitted()
    for other in (model.copy(), pickle.loads(pickle.dumps(model))):
        assert all(a is not b for a, b in zip(model.layers, other.layers, strict=True))
        np.testing.assert_array_equal(other.predict(X), model.predict(X))
        with pytest.raises(ValueError, match="already belongs"):
            Sequential([other.layers[0]])


def _diverging_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3))
    return X, (X @ np.array([3.0, -2.0, 1.0]))[:, None]


def test_fit_and_the_estimators_share_one_divergence_rule():
    """A diverging update in either restores the same weights: those before that update."""
    X, y = _diverging_data()
    loss = get_loss("mse")

    def network():
        return build_network(3, (8,), "tanh", 1, "linear", 0.0, False, 5, "float64")

    core = network()
    start = core.get_state()
    with pytest.warns(DivergenceWarning, match="training stopped"):
        core.fit(X, y, loss=loss, optimizer=SGD(3.0), epochs=60, batch_size=16,
                 shuffle=False, verbose=0)  # fmt: skip
    front = network()
    front.set_state(start)
    with pytest.warns(DivergenceWarning, match="training stopped"):
        fit_stochastic(
            front, SGD(3.0), loss, TrainingState(), X, y, None, epochs=60, batch_size=16,
            shuffle=False, alpha=0.0, tol=0.0, n_iter_no_change=100, adaptive=False,
        )  # fmt: skip
    assert np.all(np.isfinite(core.params))
    assert not np.array_equal(core.params, start["params"])  # it learned before it diverged
    np.testing.assert_array_equal(front.params, core.params)


def test_an_update_that_overflows_on_the_last_step_is_caught():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(8, 2)), rng.normal(size=(8, 1))
    model = Sequential([Dense(1, input_dim=2)], seed=0, dtype="float32")
    start = model.get_flat_weights()
    with pytest.warns(DivergenceWarning, match="the last update made the model overflow"):
        history = model.fit(X, y, optimizer=SGD(1e38), epochs=1, batch_size=8, verbose=0)
    np.testing.assert_array_equal(model.params, start)
    assert np.all(np.isfinite(model.predict(X)))
    assert "overflow" in history.stop_reason


@pytest.mark.parametrize(
    ("hidden", "head", "loss", "optimizer"),
    [
        ("relu", "softmax", "categorical_crossentropy", "adam"),
        ("tanh", "sigmoid", "binary_crossentropy", "sgd"),
        ("gelu", "linear", "mse", "rmsprop"),
    ],
)
def test_one_training_step_runs_through_five_source_files(hidden, head, loss, optimizer):
    """fit's step, forward -> loss -> backward -> update, as docs/architecture.md draws it."""
    from scratchnn.optimizers import get_optimizer
    from scratchnn.training import TrainingStep

    rng = np.random.default_rng(0)
    X = rng.normal(size=(32, 5)).astype(np.float32)
    outputs = 3 if head == "softmax" else 1
    y = rng.integers(0, 3, 32) if head == "softmax" else rng.integers(0, 2, (32, 1)).astype(float)
    model = Sequential([Dense(8, hidden), Dense(outputs, head)], seed=0)
    model.fit(X, y, loss=loss, optimizer=optimizer, epochs=1, verbose=0)  # buffers made
    step = TrainingStep(model, get_loss(loss), get_optimizer(optimizer))
    package = os.path.dirname(scratchnn.__file__) + os.sep
    files = set()

    def record(frame, event, arg):
        if event == "call" and frame.f_code.co_filename.startswith(package):
            files.add(frame.f_code.co_filename[len(package) :].replace(os.sep, "/"))

    sys.setprofile(record)
    try:
        step.loss_and_gradients(X, y)
        step.optimizer.step(model.params, model.grads)
    finally:
        sys.setprofile(None)
    expected = {"training.py", "layers/dense.py", "activations.py", "losses.py", "optimizers.py"}
    assert files == expected
