"""Issue 27: the cases a hostile or careless user found in the new surfaces, one test each."""

from __future__ import annotations

import math
import threading
import warnings

import numpy as np
import pytest

import scratchnn
from scratchnn import Callback, DivergenceWarning, Sequential
from scratchnn.layers import Conv2D, Dense, Flatten, MaxPool2D
from scratchnn.layers.memory import PREDICT_MEMORY, layer_working_memory, rows_within


def _data(n=32, features=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, features)), rng.normal(size=(n, 1))


# -- memory ---------------------------------------------------------------------------------------
def _cnn() -> Sequential:
    model = Sequential(
        [Conv2D(32, 3, padding="same", activation="relu"), MaxPool2D(2), Flatten(), Dense(10)],
        seed=0,
    )
    model.build((28, 28, 1))
    return model


def test_predict_batches_stay_within_the_stated_working_memory(monkeypatch):
    model = _cnn()
    rows = rows_within(model.layers, model.input_shape, model.dtype)
    conv = layer_working_memory(model.layers[0], (28, 28, 1), 4)
    # the convolution's im2col: 28*28*9 patches, the padded image, its input and 32 outputs
    assert conv == (28 * 28 + 30 * 30 + 28 * 28 * 9 + 28 * 28 * 32) * 4
    pool = layer_working_memory(model.layers[1], (28, 28, 32), 4)
    # input, the row maxima of the blocks (up to an input's size), output and a running maximum
    assert pool == (2 * 28 * 28 * 32 + 2 * 14 * 14 * 32) * 4
    per_row = max(conv, pool)
    assert rows == PREDICT_MEMORY // per_row < 8192
    sizes = []
    infer = model.infer
    monkeypatch.setattr(model, "infer", lambda X, logits=False: sizes.append(len(X)) or infer(X))
    X = np.zeros((2 * rows + 5, 28, 28, 1), np.float32)
    out = model.predict(X)  # the default batch_size, 8192, is capped by the memory per row
    assert out.shape == (len(X), 10)
    assert sizes == [rows, rows, 5]
    assert max(sizes) * per_row <= PREDICT_MEMORY


def test_predict_batches_of_a_small_dense_model_are_not_capped():
    model = Sequential([Dense(4, input_dim=3)], seed=0)
    model.build(3)
    assert rows_within(model.layers, model.input_shape, model.dtype) > 8192


# -- state and concurrency ------------------------------------------------------------------------
class _Pause(Callback):
    """Holds the fit in its second epoch until released; saves from inside the fit."""

    def __init__(self, path) -> None:
        self.path, self.inside, self.release = path, threading.Event(), threading.Event()

    def on_epoch_end(self, epoch, logs=None) -> None:
        scratchnn.io.save(self.model_ref, self.path)  # the fit's own thread: between two steps
        self.inside.set()
        self.release.wait(10)


def test_save_export_and_get_state_from_another_thread_during_fit_are_refused(tmp_path):
    pytest.importorskip("onnx")
    X, y = _data()
    model = Sequential([Dense(4, "relu"), Dense(1)], seed=0)
    pause = _Pause(tmp_path / "inside.npz")
    pause.model_ref = model
    errors = []
    thread = threading.Thread(
        target=lambda: errors.append(
            model.fit(X, y, epochs=2, verbose=0, callbacks=[pause]) and None
        )
    )
    thread.start()
    try:
        assert pause.inside.wait(10)
        for action, call in [
            ("save", lambda: model.save(tmp_path / "m.npz")),
            ("export", lambda: model.to_onnx(tmp_path / "m.onnx")),
            ("read the state of", model.get_state),
        ]:
            with pytest.raises(RuntimeError, match=f"cannot {action} this model while it is being "
                               "trained .fit runs in another thread."):  # fmt: skip
                call()
        with pytest.raises(RuntimeError, match="already being trained"):
            model.fit(X, y, verbose=0)
    finally:
        pause.release.set()
        thread.join(10)
    assert errors == [None]
    assert (tmp_path / "inside.npz").exists() and not (tmp_path / "m.npz").exists()
    model.save(tmp_path / "m.npz")  # after the fit: allowed again
    assert model.get_state()["params"].shape == model.params.shape


# -- numbers --------------------------------------------------------------------------------------
def test_sample_weight_too_large_for_the_dtype_is_refused_without_numpy_warnings():
    X, y = _data()
    model = Sequential([Dense(1)], seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"sample_weight holds 1 value\(s\) too large for "
                           r"float32 \(largest magnitude 1e\+39"):  # fmt: skip
            model.fit(X, y, sample_weight=np.r_[1e39, np.ones(len(X) - 1)], verbose=0)
    assert not model.built  # a rejected call changes nothing


def test_a_fit_whose_final_weights_give_a_non_finite_validation_loss_warns():
    X, y = _data()
    X_val, y_val = np.full((4, 3), 1e30), np.full((4, 1), 3e37)
    model = Sequential([Dense(1)], seed=0)
    with pytest.warns(DivergenceWarning, match="non-finite loss on the validation data"):
        history = model.fit(X, y, epochs=2, validation_data=(X_val, y_val), verbose=0)
    assert "validation data" in history.stop_reason


# -- messages -------------------------------------------------------------------------------------
def test_one_image_without_its_batch_axis_is_told_to_add_the_batch_axis():
    model = Sequential([Conv2D(2, 3), Flatten(), Dense(2)], seed=0)
    model.build((8, 8, 2))
    with pytest.raises(ValueError, match=r"add the batch axis, X\[None\]"):
        model.predict(np.ones((8, 8, 2)))


# -- diagnostics ----------------------------------------------------------------------------------
def test_diagnose_refuses_labels_that_do_not_fit_before_building_the_model():
    from scratchnn import diagnose

    X, _ = _data()
    model = Sequential([Dense(4, "relu"), Dense(2, "softmax")], seed=0)
    state = model.rng.bit_generator.state
    with pytest.raises(ValueError, match="y does not fit the loss 'categorical_crossentropy'"):
        diagnose(model, X, np.full(len(X), 7))
    assert not model.built and model.rng.bit_generator.state == state


def test_diagnose_takes_text_labels_as_fit_does():
    from scratchnn import diagnose

    X, _ = _data()
    labels = np.where(X[:, 0] > 0, "cat", "dog")
    model = Sequential([Dense(4, "relu"), Dense(2, "softmax")], seed=0)
    report = diagnose(model, X, labels)
    by_index = diagnose(model, X, (labels == "dog").astype(int))  # sorted: cat 0, dog 1
    assert report.series == by_index.series


def test_diagnose_on_huge_weights_and_statistics_warns_nothing_and_gives_json():
    import json

    from scratchnn import BatchNorm, diagnose

    X, _ = _data()
    y = (X[:, 0] > 0).astype(int)
    model = Sequential([Dense(4, "relu"), BatchNorm(), Dense(2, "softmax")], seed=0)
    model.build(3)
    model.layers[0].params["W"][...] = 1e20
    model.layers[1].state["running_mean"][...] = 3e38
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = diagnose(model, X, y)
    assert report.series["layer0/weight_norm/W"][0] == pytest.approx(1e20 * np.sqrt(12), rel=1e-5)
    assert report.series["layer1/state/running_mean/mean"][0] == pytest.approx(3e38, rel=1e-6)
    json.dumps(report.to_dict(), allow_nan=False)


def test_report_to_dict_holds_no_infinity_from_a_diverged_finding():
    import json

    from scratchnn.diagnostics import Finding, Report

    finding = Finding("exploding_gradients", 0, math.inf, 1e3, 1, "grad ratio inf", "lower lr")
    report = Report([], {"x": [math.inf]}, [finding], {"exploding": math.inf})
    entry = report.to_dict()
    assert entry["findings"][0]["value"] is None and entry["findings"][0]["threshold"] == 1e3
    assert entry["thresholds"] == {"exploding": None} and entry["series"] == {"x": [None]}
    json.dumps(entry, allow_nan=False)


def test_a_fit_whose_final_weights_overflow_rows_outside_the_last_batch_warns():
    # Issue 27: inputs of 1e4, Huber, ELU, SGD(0.01): the last batch was finite, one other row
    # of the training data was not, and the fit ended without a word.
    from scratchnn.optimizers import SGD

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 4)) * 1e4, rng.normal(size=(60, 1))
    model = Sequential([Dense(32, "elu"), Dense(32, "elu"), Dense(1)], seed=0)
    with pytest.warns(DivergenceWarning, match="the last update made the model overflow"):
        model.fit(X, y, loss="huber", optimizer=SGD(0.01), epochs=3, batch_size=16, verbose=0,
                  validation_split=0.2)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isfinite(model.predict(X[:48])).all()  # the weights kept are finite on them


def test_evaluate_and_validation_batches_stay_within_the_working_memory_too():
    import tracemalloc

    model = _cnn()
    X = np.zeros((4000, 28, 28, 1), np.float32)
    y = np.zeros(4000, int)
    model.loss = scratchnn.losses.get_loss("categorical_crossentropy")
    tracemalloc.start()
    try:
        model.evaluate(X, y)  # one batch of 4000 images would take ~560 MB of im2col and outputs
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < PREDICT_MEMORY + 32 * 2**20
