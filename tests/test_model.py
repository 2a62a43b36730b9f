"""Sequential: training, inference, reproducibility, callbacks and description."""

from __future__ import annotations

import numpy as np
import pytest

from scratchnn import (
    SGD,
    Adam,
    BatchNorm,
    Callback,
    Dense,
    DivergenceWarning,
    Dropout,
    EarlyStopping,
    ReLU,
    Sequential,
)
from scratchnn.regularizers import L2

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
XOR_Y = np.array([0, 1, 1, 0])


def blobs(n=200, seed=0):
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 3.0], [3.0, 0.0], [-3.0, -3.0]])
    labels = rng.integers(0, 3, size=n)
    return centers[labels] + rng.normal(size=(n, 2)), labels


def test_fit_learns_three_blobs_and_reports_history():
    X, y = blobs()
    model = Sequential([Dense(16, "relu"), Dense(3, "softmax")], seed=0)
    history = model.fit(
        X, y, "categorical_crossentropy", Adam(0.01), epochs=20, metrics=["accuracy"], verbose=0
    )
    assert set(history.history) == {"loss", "accuracy"}
    assert len(history.history["loss"]) == 20 and history.epoch == list(range(20))
    assert history.history["loss"][-1] < history.history["loss"][0] / 3
    assert model.evaluate(X, y)["accuracy"] > 0.95
    probabilities = model.predict(X)
    assert probabilities.shape == (200, 3) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_training_accuracy_metric_matches_a_recount():
    X, y = blobs()
    model = Sequential([Dense(3, "softmax")], seed=0)
    history = model.fit(
        X, y, "categorical_crossentropy", SGD(1e-9), epochs=1, shuffle=False,
        batch_size=500, metrics=["accuracy"], verbose=0,
    )  # fmt: skip
    # One batch and a negligible step: the metric is the accuracy of the initial weights.
    assert history.history["accuracy"][0] == pytest.approx(
        np.mean(model.predict(X).argmax(axis=1) == y), abs=1e-9
    )


def test_regression_fit_reaches_the_least_squares_solution():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3))
    y = X @ np.array([1.5, -2.0, 0.5]) + 0.3
    model = Sequential([Dense(1, input_dim=3)], seed=0, dtype="float64")
    model.fit(X, y, loss="mse", optimizer=Adam(0.05), epochs=200, batch_size=100, verbose=0)
    design = np.hstack([X, np.ones((100, 1))])
    solution = np.linalg.lstsq(design, y, rcond=None)[0]
    np.testing.assert_allclose(model.layers[0].params["W"].ravel(), solution[:3], atol=1e-3)
    np.testing.assert_allclose(model.layers[0].params["b"], solution[3:], atol=1e-3)
    assert model.evaluate(X, y, metrics=["r2", "mae"])["r2"] > 0.9999


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_same_seed_gives_bit_identical_weights(dtype):
    X, y = blobs()

    def train():
        model = Sequential(
            [Dense(16, "relu"), Dropout(0.3), BatchNorm(), Dense(3, "softmax")],
            seed=42,
            dtype=dtype,
        )
        model.fit(X, y, "categorical_crossentropy", epochs=3, verbose=0)
        return model.params

    first, second = train(), train()
    assert first.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(first, second)


def test_different_seeds_give_different_weights():
    a = Sequential([Dense(4, input_dim=2)], seed=1)
    b = Sequential([Dense(4, input_dim=2)], seed=2)
    assert not np.array_equal(a.params, b.params)


def test_layers_hold_views_into_the_flat_buffer():
    model = Sequential([Dense(3, input_dim=2), Dense(1)], seed=0)
    assert model.params.size == 2 * 3 + 3 + 3 * 1 + 1
    model.params[:] = 0.5
    assert np.all(model.layers[1].params["W"] == 0.5)
    assert np.shares_memory(model.layers[0].grads["W"], model.grads)


def test_input_size_is_inferred_on_first_use():
    model = Sequential([Dense(4), Dense(2)])
    assert not model.built
    model.predict(np.ones((3, 5)))
    assert model.built and model.layers[0].params["W"].shape == (5, 4)


def test_low_level_forward_backward_loop_trains():
    model = Sequential(
        [Dense(8, "tanh", input_dim=2), Dense(1)], seed=0, dtype="float64", input_gradient=True
    )
    optimizer = SGD(0.1)
    X = XOR_X.astype(float)
    y = XOR_Y[:, None].astype(float)
    for _ in range(2000):
        output = model.forward(X, training=True)
        grad_input = model.backward(2 * (output - y) / len(X))
        optimizer.step(model.params, model.grads)
    assert grad_input.shape == X.shape
    np.testing.assert_allclose(model.forward(X), y, atol=0.05)


def test_dropout_is_inverted_in_training_and_off_in_inference():
    model = Sequential([Dropout(0.5, input_dim=1000)], seed=0)
    X = np.ones((50, 1000))
    np.testing.assert_array_equal(model.forward(X), X)
    out = model.forward(X, training=True)
    assert set(np.unique(out)) == {0.0, 2.0}
    assert abs(np.mean(out) - 1.0) < 0.02


def test_batchnorm_normalises_in_training_and_uses_running_stats_at_inference():
    rng = np.random.default_rng(0)
    X = rng.normal(5.0, 3.0, size=(500, 4))
    layer = BatchNorm(momentum=0.0)
    model = Sequential([layer], seed=0, dtype="float64")
    out = model.forward(X, training=True)
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=0), 1.0, atol=1e-3)
    np.testing.assert_allclose(layer.state["running_mean"], X.mean(axis=0))
    np.testing.assert_allclose(layer.state["running_var"], X.var(axis=0))
    shifted = model.forward(X + 1.0, training=False)
    np.testing.assert_allclose(shifted.mean(axis=0), 1.0 / np.sqrt(X.var(axis=0) + 1e-3))


def test_validation_split_holds_out_the_last_samples():
    X, y = blobs(100)
    model = Sequential([Dense(3, "softmax")], seed=0)
    history = model.fit(
        X, y, "categorical_crossentropy", epochs=2, validation_split=0.2,
        metrics=["accuracy"], verbose=0,
    )  # fmt: skip
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    expected = model.evaluate(X[80:], y[80:])
    assert history.history["val_loss"][-1] == pytest.approx(expected["loss"], rel=1e-5)


def test_early_stopping_restores_the_best_weights():
    X, y = blobs(120)
    best = {}

    class RecordBest(Callback):
        def on_epoch_end(self, epoch, logs=None):
            if logs["val_loss"] < best.get("loss", np.inf):
                best.update(loss=logs["val_loss"], weights=self.model.params.copy())

    model = Sequential([Dense(32, "relu"), Dense(3, "softmax")], seed=0)
    stopper = EarlyStopping(patience=2, restore_best_weights=True)
    history = model.fit(
        X[:20], y[:20], "categorical_crossentropy", Adam(0.05), epochs=200,
        validation_data=(X[20:], y[20:]), callbacks=[RecordBest(), stopper], verbose=0,
    )  # fmt: skip
    assert len(history.epoch) < 200 and stopper.stopped_epoch is not None
    waited = len(history.epoch) - 1 - stopper.best_epoch
    assert waited == 3  # patience 2 tolerates two epochs without improvement
    assert history.stop_reason == (
        f"val_loss did not improve for 3 epochs (best {stopper.best:.4g}, "
        f"epoch {stopper.best_epoch + 1})"
    )
    np.testing.assert_array_equal(model.params, best["weights"])


def test_early_stopping_names_a_missing_monitor():
    model = Sequential([Dense(1)], seed=0)
    with pytest.raises(ValueError, match="monitors 'val_loss', which this fit does not log"):
        model.fit(np.ones((4, 2)), np.ones(4), epochs=2, callbacks=[EarlyStopping()], verbose=0)


def test_user_callback_sees_every_hook_in_order():
    events = []

    class Recorder(Callback):
        def on_train_begin(self, logs=None):
            events.append("begin")

        def on_epoch_begin(self, epoch, logs=None):
            events.append(f"epoch{epoch}")

        def on_batch_end(self, batch, logs=None):
            events.append(f"batch{batch}")

        def on_epoch_end(self, epoch, logs=None):
            events.append(f"end{epoch}:{sorted(logs)}")

        def on_train_end(self, logs=None):
            events.append("finish")

    Sequential([Dense(1)], seed=0).fit(
        np.ones((3, 2)), np.ones(3), epochs=2, batch_size=2, callbacks=[Recorder()], verbose=0
    )
    assert events == [
        "begin", "epoch0", "batch0", "batch1", "end0:['loss']",
        "epoch1", "batch0", "batch1", "end1:['loss']", "finish",
    ]  # fmt: skip


def test_divergence_stops_at_once_and_keeps_finite_weights():
    X, y = blobs(64)
    model = Sequential([Dense(16, "relu"), Dense(1)], seed=0)
    with pytest.warns(DivergenceWarning, match="the loss became .* training stopped"):
        history = model.fit(X, y * 1e3, "mse", SGD(1e3), epochs=50, verbose=0)
    assert len(history.epoch) < 50
    assert "last finite weights" in history.stop_reason
    assert np.all(np.isfinite(model.params))


def test_l2_penalty_shrinks_weights():
    X, y = blobs(100)

    def weight_norm(regularizer):
        model = Sequential(
            [Dense(16, "relu", kernel_regularizer=regularizer), Dense(3, "softmax")], seed=0
        )
        model.fit(X, y, "categorical_crossentropy", Adam(0.01), epochs=20, verbose=0)
        return np.linalg.norm(model.layers[0].params["W"])

    assert weight_norm(L2(0.1)) < 0.8 * weight_norm(None)


def test_summary_lists_layers_shapes_and_parameter_counts():
    model = Sequential([Dense(64, "relu", input_dim=784), ReLU(), Dense(10, "softmax")])
    text = model.summary(print_fn=None)
    assert "(None, 64)" in text and "(None, 10)" in text
    assert "50240" in text and "650" in text
    assert text.strip().endswith(f"Total params: {50240 + 650}")


def test_verbose_prints_one_line_per_epoch_when_not_a_terminal(capsys):
    Sequential([Dense(1)], seed=0).fit(np.ones((4, 2)), np.ones(4), epochs=3, verbose=1)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith("epoch 1/3  loss=")


def test_copy_to_float64_predicts_the_same():
    X, y = blobs(50)
    model = Sequential([Dense(8, "tanh"), BatchNorm(), Dense(3, "softmax")], seed=0)
    model.fit(X, y, "categorical_crossentropy", epochs=2, verbose=0)
    clone = model.copy(dtype="float64")
    assert clone.params.dtype == np.float64
    np.testing.assert_allclose(clone.predict(X), model.predict(X), atol=1e-5)
    clone.params[:] = 0
    assert np.any(model.params != 0)


def test_copies_leave_out_the_last_batch_and_work_buffers():
    model = Sequential([Dense(4, "relu", input_dim=3), Dense(2)], seed=0)
    model.forward(np.ones((64, 3)), training=True)
    clone = model.copy()
    layer = clone.layers[0]
    assert not hasattr(layer, "input") and not hasattr(layer, "output")
    assert layer._buffers == {}
    np.testing.assert_array_equal(clone.predict(np.ones((2, 3))), model.predict(np.ones((2, 3))))


@pytest.mark.parametrize("duplicate", ["pickle", "deepcopy"])
def test_a_pickled_or_deep_copied_model_still_trains_through_its_flat_buffer(duplicate):
    import copy
    import pickle

    X, y = blobs(64)
    model = Sequential([Dense(8, "tanh"), Dense(3, "softmax")], seed=0)
    model.fit(X, y, "categorical_crossentropy", epochs=1, verbose=0)
    clone = pickle.loads(pickle.dumps(model)) if duplicate == "pickle" else copy.deepcopy(model)
    assert np.shares_memory(clone.layers[0].params["W"], clone.params)
    assert np.shares_memory(clone.layers[1].grads["b"], clone.grads)
    np.testing.assert_array_equal(clone.predict(X), model.predict(X))
    before = clone.evaluate(X, y)["loss"]
    clone.fit(X, y, "categorical_crossentropy", Adam(0.01), epochs=10, verbose=0)
    assert clone.evaluate(X, y)["loss"] < 0.5 * before


def test_early_stopping_restores_batchnorm_statistics_with_the_weights():
    X, y = blobs(120)
    best = {}

    class RecordBest(Callback):
        def on_epoch_end(self, epoch, logs=None):
            if logs["val_loss"] < best.get("loss", np.inf):
                best.update(loss=logs["val_loss"])

    model = Sequential([Dense(16), BatchNorm(), ReLU(), Dense(3, "softmax")], seed=0)
    model.fit(
        X[:20], y[:20], "categorical_crossentropy", Adam(0.05), epochs=100, batch_size=8,
        validation_data=(X[20:], y[20:]), verbose=0,
        callbacks=[RecordBest(), EarlyStopping(patience=2, restore_best_weights=True)],
    )  # fmt: skip
    assert model.evaluate(X[20:], y[20:])["loss"] == pytest.approx(best["loss"], rel=1e-6)


def test_low_level_calls_name_wrong_shapes():
    model = Sequential([Dense(3, input_dim=2), Dropout(0.5)], seed=0, input_gradient=True)
    with pytest.raises(ValueError, match="backward needs a forward pass first"):
        model.backward(np.ones((4, 3)))
    model.forward(np.ones((4, 2)))  # inference records nothing to go back through
    with pytest.raises(ValueError, match=r"forward\(X, training=True\) before it"):
        model.backward(np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"X must have shape \(batch, 2\), got \(4,\)"):
        model.forward(np.ones(4))
    with pytest.raises(ValueError, match=r"X must have shape \(batch, 2\), got \(4, 5\)"):
        model.forward(np.ones((4, 5)))
    model.forward(np.ones((4, 2)), training=True)
    with pytest.raises(
        ValueError, match=r"grad_output must have the shape .* \(4, 3\), got \(4, 2\)"
    ):
        model.backward(np.ones((4, 2)))
    assert model.backward(np.ones((4, 3))).shape == (4, 2)  # a model may end in dropout


@pytest.mark.parametrize(
    ("activation", "loss", "targets"),
    [
        ("sigmoid", "binary_crossentropy", "binary"),
        ("softmax", "categorical_crossentropy", "labels"),
        (None, "mse", "values"),
        (None, "huber", "values"),
        ("softplus", "mae", "values"),
        ("tanh", {"name": "binary_crossentropy", "from_logits": True}, "binary"),
    ],
)
@pytest.mark.parametrize("hidden", ["relu", "elu", "gelu", "sigmoid", "tanh", "softplus"])
def test_inputs_of_magnitude_1e4_raise_no_numpy_warning(activation, loss, targets, hidden):
    import warnings

    rng = np.random.default_rng(0)
    X = rng.choice([-1e4, 1e4], size=(16, 3)) * rng.uniform(0.5, 1, size=(16, 3))
    y = {
        "binary": rng.integers(0, 2, size=16),
        "labels": rng.integers(0, 3, size=16),
        "values": rng.normal(size=16) * 1e4,
    }[targets]
    units = 3 if targets == "labels" else 1
    model = Sequential([Dense(8, hidden), Dense(units, activation)], seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any NumPy overflow/divide/invalid warning fails
        # Our own report of a diverging fit is allowed: unscaled 1e4 inputs may well diverge.
        warnings.filterwarnings("ignore", category=DivergenceWarning)
        model.fit(X, y, loss=loss, optimizer=SGD(1e-3), epochs=2, batch_size=8, verbose=0)
        outputs = model.predict(X)
        result = model.evaluate(X, y)
    assert np.all(np.isfinite(outputs)) and np.isfinite(result["loss"])


def test_a_callback_that_stops_training_without_a_message_is_named_generically():
    class StopAtTwo(Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.stop_training = epoch == 1

    model = Sequential([Dense(1, input_dim=2)], seed=0)
    history = model.fit(np.ones((4, 2)), np.ones(4), "mse", epochs=9, callbacks=[StopAtTwo()],
                        verbose=0)  # fmt: skip
    assert history.epoch == [0, 1]
    assert history.stop_reason == "stopped by a callback after epoch 2"
