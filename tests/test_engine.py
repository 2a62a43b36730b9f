"""The engine's promises: thread-safe inference, one owner per layer, one divergence rule."""

from __future__ import annotations

import gc
import os
import sys
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import scratchnn
from scratchnn import SGD, BatchNorm, Callback, Dense, DivergenceWarning, Dropout, Sequential
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


@pytest.mark.slow
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


@pytest.mark.slow
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

    class Interleave(Callback):
        """Each of the first batches waits (up to a second) for a prediction to run beside it."""

        def on_batch_begin(self, batch, logs=None):
            seen = len(calls)
            deadline = time.monotonic() + 1.0
            while len(calls) == seen and len(calls) < 30 and time.monotonic() < deadline:
                time.sleep(0.0005)

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        disturbed.fit(X, y, loss="categorical_crossentropy", epochs=6, batch_size=16, verbose=0,
                      callbacks=[Interleave()])  # fmt: skip
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
    first = Sequential([shared, Dense(1)])
    with pytest.raises(ValueError, match=r"layers\[0\] \(Dense.*\) already belongs to another"):
        Sequential([shared])
    first.fit(np.ones((4, 2)), np.ones(4), "mse", epochs=1, verbose=0)
    del first  # a model that is gone owns nothing: its layer may serve again
    gc.collect()
    assert Sequential([shared]).layers == [shared]
    twice = Dense(2)
    with pytest.raises(ValueError, match=r"layers\[1\] .* already belongs to this model"):
        Sequential([twice, twice])
    fresh = Dense(2)
    with pytest.raises(ValueError):
        Sequential([fresh, fresh])
    assert fresh.owner is None  # a rejected model claims nothing


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
def test_one_training_step_runs_through_six_files_and_the_kernels(hidden, head, loss, optimizer):
    """fit's step, forward -> loss -> backward -> update, as docs/architecture.md draws it: the
    step, the one traversal of the graph (graph.py), the layers' math, the loss, the update (its
    kernel in the backend in use)."""
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
    backend = scratchnn.get_backend()
    expected = {
        "training.py", "graph.py", "layers/dense.py", "activations.py", "losses.py",
        "optimizers.py", "kernels/__init__.py", f"kernels/{backend}.py",
    }  # fmt: skip
    if hidden in ("relu", "tanh"):  # bias + activation and its backward with the bias sum
        expected.add(f"kernels/{backend}_layers.py")
    assert files == expected


def _bn_model():
    model = Sequential([Dense(4, "relu", input_dim=3), BatchNorm(), Dense(2, "softmax")], seed=0)
    model.build(3)
    return model


@pytest.mark.parametrize(
    ("edit", "error", "message"),
    [
        (lambda s: {"params": s["params"]}, TypeError, "a dict with 'params', 'layers'"),
        (lambda s: dict(s, params="abc"), TypeError, r"state\['params'\] must be an array"),
        (lambda s: dict(s, params=s["params"][:-1]), ValueError, "this architecture"),
        (lambda s: dict(s, params=s["params"] * np.nan), ValueError, "NaN or infinite"),
        (lambda s: dict(s, layers=s["layers"][:2]), ValueError, "3 layers"),
        (lambda s: dict(s, layers="abc"), TypeError, r"state\['layers'\] must be a list"),
        (
            lambda s: dict(s, layers=[{}, {}, {}]),
            ValueError,
            r"state\['layers'\]\[1\] must hold \['running_mean', 'running_var'\]",
        ),
        (
            lambda s: dict(s, layers=[{}, dict(s["layers"][1], running_var=-np.ones(4)), {}]),
            ValueError,
            r"\['running_var'\] a variance must be non-negative",
        ),
        (
            lambda s: dict(s, layers=[{}, dict(s["layers"][1], running_mean=np.ones(5)), {}]),
            ValueError,
            r"must have shape \(4,\), got \(5,\)",
        ),
        (lambda s: dict(s, rng={"state": 1}), ValueError, r"state\['rng'\] is not a generator"),
    ],
)
def test_set_state_checks_everything_before_changing_anything(edit, error, message):
    model = _bn_model()
    good = model.get_state()
    before = model.get_state()
    with pytest.raises(error, match=message):
        model.set_state(edit(good))
    after = model.get_state()
    np.testing.assert_array_equal(after["params"], before["params"])
    for mine, theirs in zip(after["layers"], before["layers"], strict=True):
        assert mine.keys() == theirs.keys()
        for key in mine:
            np.testing.assert_array_equal(mine[key], theirs[key])
    assert after["rng"] == before["rng"]


def test_a_diverged_network_copies_as_it_is():
    model = _bn_model()
    model.params[0] = np.nan
    twin = model.copy()
    assert np.isnan(twin.params[0]) and np.array_equal(twin.params[1:], model.params[1:])


def test_layers_before_the_first_weights_run_no_backward_and_change_no_result():
    from scratchnn import Conv2D, Flatten, MaxPool2D, Reshape

    rng = np.random.default_rng(0)
    images = rng.normal(size=(40, 6, 6, 1)).astype(np.float32)
    y = rng.integers(0, 3, 40)

    def convolutional(first):
        return Sequential(
            [*first, Conv2D(4, 3, activation="relu"), MaxPool2D(2), Flatten(),
             Dense(3, "softmax")], seed=2,
        )  # fmt: skip

    flat = convolutional([Reshape((6, 6, 1), input_shape=(36,))])  # built: it knows its input
    direct = convolutional([])
    direct.build((6, 6, 1))
    assert [layer.needs_input_grad for layer in flat.layers] == [False, False, True, True, True]
    calls = []
    flat.layers[0].backward = lambda grad: calls.append(grad)  # would be called in vain
    for model, X in ((flat, images.reshape(40, 36)), (direct, images)):
        model.fit(X, y, loss="categorical_crossentropy", epochs=2, batch_size=8, verbose=0)
    assert calls == []
    np.testing.assert_array_equal(flat.params, direct.params)
    flat.set_input_gradient(True)
    assert all(layer.needs_input_grad for layer in flat.layers)


def test_copy_copy_is_a_full_copy_and_steals_no_layer():
    import copy

    model = _bn_model()
    twin = copy.copy(model)
    assert all(a is not b for a, b in zip(model.layers, twin.layers, strict=True))
    np.testing.assert_array_equal(twin.params, model.params)
    del twin
    gc.collect()
    with pytest.raises(ValueError, match="already belongs to another model"):
        Sequential([model.layers[0]])  # still the original's


def test_set_state_refuses_values_too_large_for_the_dtype_and_text():
    model = _bn_model()
    state = model.get_state()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="too large for float32"):
            model.set_state(dict(state, params=np.full(model.params.shape, 1e39)))
    with pytest.raises(TypeError, match="must be an array of real numbers"):
        model.set_state(dict(state, params=model.params.astype(str)))
    layers = [{}, {k: v.astype(complex) for k, v in state["layers"][1].items()}, {}]
    with pytest.raises(ValueError, match="must hold real numbers, got complex128"):
        model.set_state(dict(state, layers=layers))
