"""Every bad input to a public entry point: its exception type, its message, and no state change.

Each table below is one entry point; a row is ``(bad arguments, exception, message fragment)``.
Add a row when you find a new way to call scratchnn wrongly. The divergence tests at the end
cover the one bad input that can only be seen during training: a learning rate so large that the
loss overflows.
"""

from __future__ import annotations

import re

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
    ModelCheckpoint,
    NeuralNetwork,
    RMSprop,
    Sequential,
    load,
)
from scratchnn.activations import get_activation
from scratchnn.initializers import VarianceScaling
from scratchnn.layers import ELU, ActivationLayer, LeakyReLU, get_layer_class
from scratchnn.losses import BinaryCrossEntropy, Huber, get_loss
from scratchnn.metrics import get_metric
from scratchnn.optimizers import get_optimizer
from scratchnn.schedules import CosineDecay, ExponentialDecay, StepDecay

RNG = np.random.default_rng(0)
X = RNG.normal(size=(20, 3))
Y = (X[:, 0] > 0).astype(int)  # two classes, 0 and 1
X_NAN = X.copy()
X_NAN[3, 1] = np.nan
X_INF = X.copy()
X_INF[0, 0] = np.inf


def _fitted() -> Sequential:
    model = Sequential([Dense(4, "relu"), Dense(2, "softmax")], seed=0)
    model.fit(X, Y, loss="categorical_crossentropy", epochs=1, batch_size=8, verbose=0)
    return model


def _snapshot(model: Sequential) -> dict:
    return {
        "built": model.built,
        "params": model.params.copy() if model.built else None,
        "state": [{k: v.copy() for k, v in layer.state.items()} for layer in model.layers],
        "rng": model.rng.bit_generator.state,
        "optimizer": model.optimizer,
        "loss": model.loss,
        "metrics": list(model.metric_names),
    }


def _assert_unchanged(model: Sequential, before: dict) -> None:
    after = _snapshot(model)
    assert after["built"] == before["built"]
    if before["built"]:
        np.testing.assert_array_equal(after["params"], before["params"])
    for layer_after, layer_before in zip(after["state"], before["state"], strict=True):
        for key in layer_before:
            np.testing.assert_array_equal(layer_after[key], layer_before[key])
    assert after["rng"] == before["rng"]
    assert after["optimizer"] is before["optimizer"]
    assert after["loss"] is before["loss"]
    assert after["metrics"] == before["metrics"]


def _case(overrides, error, message, id):
    return pytest.param(overrides, error, message, id=id)


# -- Sequential.fit -------------------------------------------------------------------------------
FIT_CASES = [
    _case(dict(X=X[:, 0]), ValueError, "X must be 2-D (samples, features), or more for images "
          "(samples, height, width, channels), got an array of shape (20,)", "X-1d"),
    _case(dict(X="data"), TypeError, "X must be a numeric array, got 'data' (str)", "X-str"),
    _case(dict(X=np.full((20, 3), "a")), TypeError,
          "X must hold numbers, got an array of dtype <U1", "X-strings"),
    _case(dict(X=[[1.0, None, 2.0]] * 20), TypeError, "X must hold numbers, got an array of dtype "
          "object", "X-objects"),
    _case(dict(X=[[1.0, 2.0], [3.0]]), TypeError, "X must be a numeric array, got", "X-ragged"),
    _case(dict(X=X_NAN), ValueError, "X must be finite, got 1 NaN or infinite value(s)", "X-nan"),
    _case(dict(X=X_INF), ValueError, "X must be finite, got 1 NaN or infinite value(s)", "X-inf"),
    _case(dict(y=np.where(Y == 1, np.nan, 0.0)), ValueError, "y must be finite, got", "y-nan"),
    _case(dict(y=np.where(Y == 1, -np.inf, 0.0)), ValueError, "y must be finite, got", "y-inf"),
    _case(dict(y=Y[:-1]), ValueError, "X and y must have the same number of samples, got 20 and 19",
          "length-mismatch"),
    _case(dict(X=np.empty((0, 3)), y=np.empty(0)), ValueError,
          "X must not be empty, got an array of shape (0, 3)", "empty-data"),
    _case(dict(X=np.empty((20, 0))), ValueError, "X must not be empty", "no-features"),
    _case(dict(y=np.full(20, 2)), ValueError,
          "y must hold class labels in [0, 1] for a model with 2 outputs, got labels from 2 to 2",
          "label-outside-classes"),
    _case(dict(y=-Y), ValueError, "y must hold class labels in [0, 1]", "negative-label"),
    _case(dict(y=Y + 0.5), ValueError, "y must hold integer class labels or one-hot rows",
          "fractional-labels"),
    _case(dict(y=np.eye(3)[Y]), ValueError,
          "y one-hot rows must have width 2 to match the model's outputs, got shape (20, 3)",
          "one-hot-too-wide"),
    _case(dict(y=["a"] * 20, loss="mse"), ValueError, "y holds labels (['a', 'a', 'a']...), "
          "which need a classification loss (categorical_crossentropy or binary_crossentropy), "
          "got 'mse'", "y-strings"),
    _case(dict(y=Y[:, None, None]), ValueError, "y must be 1-D or 2-D", "y-3d"),
    _case(dict(batch_size=0), ValueError, "batch_size must be a positive integer, got 0",
          "batch_size-0"),
    _case(dict(batch_size=-4), ValueError, "batch_size must be a positive integer, got -4",
          "batch_size-negative"),
    _case(dict(batch_size=8.0), TypeError, "batch_size must be a positive integer, got 8.0",
          "batch_size-float"),
    _case(dict(batch_size=True), TypeError, "batch_size must be a positive integer, got True",
          "batch_size-bool"),
    _case(dict(epochs=0), ValueError, "epochs must be a positive integer, got 0", "epochs-0"),
    _case(dict(epochs=2.5), TypeError, "epochs must be a positive integer, got 2.5",
          "epochs-float"),
    _case(dict(epochs="10"), TypeError, "epochs must be a positive integer, got '10'",
          "epochs-str"),
    _case(dict(validation_split=1.0), ValueError, "validation_split must be in [0, 1), got 1",
          "validation_split-1"),
    _case(dict(validation_split=-0.1), ValueError, "validation_split must be in [0, 1), got -0.1",
          "validation_split-negative"),
    _case(dict(validation_split="0.2"), TypeError, "validation_split must be a number",
          "validation_split-str"),
    _case(dict(validation_split=float("nan")), ValueError, "validation_split must be finite",
          "validation_split-nan"),
    _case(dict(validation_split=0.99), ValueError, "leaves no sample for training",
          "validation_split-leaves-nothing"),
    _case(dict(validation_data=X), TypeError, "validation_data must be a pair (X_val, y_val)",
          "validation_data-not-pair"),
    _case(dict(validation_data=(X[:, :2], Y)), ValueError,
          "validation_data[0] must have 3 features", "validation_data-features"),
    _case(dict(validation_data=(X, Y[:5])), ValueError,
          "validation_data[0] and validation_data[1] must have the same number of samples",
          "validation_data-lengths"),
    _case(dict(loss="crossentropy"), ValueError,
          "unknown loss 'crossentropy'; did you mean 'cross_entropy'", "unknown-loss"),
    _case(dict(loss=3), TypeError, "loss must be a name or an instance, got 3", "loss-int"),
    _case(dict(optimizer="adamm"), ValueError, "unknown optimizer 'adamm'; did you mean 'adam'",
          "unknown-optimizer"),
    _case(dict(optimizer={"name": "sgd", "momentum": 2.0}), ValueError,
          "momentum must be in [0, 1), got 2", "optimizer-config"),
    _case(dict(metrics=["acuracy"]), ValueError,
          "unknown metric 'acuracy'; did you mean 'accuracy'", "unknown-metric"),
    _case(dict(metrics=5), TypeError, "metrics must be a list of metric names or functions, got 5",
          "metrics-int"),
    _case(dict(callbacks=EarlyStopping()), TypeError,
          "callbacks must be a list of scratchnn Callbacks, got", "callbacks-not-list"),
    _case(dict(callbacks=[print]), TypeError, "callbacks[0] must be a scratchnn Callback",
          "callbacks-item"),
    _case(dict(shuffle="yes"), TypeError, "shuffle must be True or False, got 'yes'", "shuffle"),
    _case(dict(verbose=3), ValueError, "verbose must be 0, 1 or 2, got 3", "verbose"),
    _case(dict(sample_weight=-np.ones(20)), ValueError, "sample_weight must be non-negative",
          "sample_weight-negative"),
    _case(dict(sample_weight=np.ones(19)), ValueError,
          "X and sample_weight must have the same number of samples, got 20 and 19",
          "sample_weight-length"),
    _case(dict(resume_from="no-such-checkpoint.npz"), FileNotFoundError, "no-such-checkpoint",
          "resume_from-missing"),
    _case(dict(sample_weight=np.zeros(20)), ValueError,
          "sample_weight must hold at least one positive weight, got all zeros",
          "sample_weight-zeros"),
    _case(dict(callbacks=[EarlyStopping(monitor="val_loss")]), ValueError,
          "callbacks[0] monitors 'val_loss', which this fit does not log", "monitor-not-logged"),
    _case(dict(callbacks=[EarlyStopping(monitor="val_acc")], validation_split=0.2), ValueError,
          "callbacks[0] monitors 'val_acc', which this fit does not log", "monitor-misspelt"),
]  # fmt: skip
BUILT_ONLY_CASES = [
    _case(dict(X=X[None]), ValueError, "X must have shape (None, 3), got (1, 20, 3)", "X-3d"),
    _case(dict(X=X[:, :2]), ValueError, "X must have 3 features (columns), got 2",
          "feature-count-mismatch"),
    _case(dict(validation_data=(X[:, :2], Y)), ValueError,
          "validation_data[0] must have 3 features (columns), got 2", "validation-feature-count"),
]  # fmt: skip


def _fit(model: Sequential, overrides: dict) -> None:
    kwargs = dict(
        X=X, y=Y, loss="categorical_crossentropy", optimizer="adam", epochs=1, batch_size=8
    )
    kwargs["verbose"] = 0
    kwargs.update(overrides)
    model.fit(kwargs.pop("X"), kwargs.pop("y"), **kwargs)


@pytest.mark.parametrize(("overrides", "error", "message"), FIT_CASES + BUILT_ONLY_CASES)
def test_fit_on_a_built_model_rejects_bad_input_and_changes_nothing(overrides, error, message):
    model = _fitted()
    before = _snapshot(model)
    with pytest.raises(error, match=re.escape(message)):
        _fit(model, overrides)
    _assert_unchanged(model, before)


@pytest.mark.parametrize(("overrides", "error", "message"), FIT_CASES)
def test_fit_on_a_new_model_rejects_bad_input_and_leaves_it_unbuilt(overrides, error, message):
    model = Sequential([Dense(4, "relu"), Dense(2, "softmax")], seed=0)
    before = _snapshot(model)
    with pytest.raises(error, match=re.escape(message)):
        _fit(model, overrides)
    _assert_unchanged(model, before)
    assert not model.built


def test_fit_on_a_new_model_takes_a_sequence_per_sample_and_names_the_targets_it_needs():
    """Dense maps the last axis, so (N, T, F) inputs make one prediction per position: the
    targets must then be one label per position."""
    model = Sequential([Dense(4, "relu"), Dense(2, "softmax")], seed=0)
    sequences = np.broadcast_to(X[:, None], (20, 5, 3))
    with pytest.raises(
        ValueError,
        match=re.escape("y must be 2-D or 3-D, got an array of shape (20,)"),
    ):
        _fit(model, dict(X=sequences))
    assert not model.built


def test_bce_targets_outside_zero_one_are_rejected():
    model = Sequential([Dense(1, "sigmoid")], seed=0)
    with pytest.raises(ValueError, match=re.escape("y must hold targets in [0, 1] for binary")):
        model.fit(X, Y * 3, loss="binary_crossentropy", verbose=0)
    assert not model.built


# -- predict and evaluate -------------------------------------------------------------------------
PREDICT_CASES = [
    _case(dict(X=X[:, :2]), ValueError, "X must have 3 features (columns), got 2", "features"),
    _case(dict(X=X[0]), ValueError, "X must be 2-D (samples, features), or more for images "
          "(samples, height, width, channels), got an array of shape (3,)", "X-1d"),
    _case(dict(X=X_NAN), ValueError, "X must be finite", "X-nan"),
    _case(dict(X=np.empty((0, 3))), ValueError, "X must not be empty", "empty"),
    _case(dict(batch_size=0), ValueError, "batch_size must be a positive integer, got 0", "batch"),
]  # fmt: skip


@pytest.mark.parametrize(("overrides", "error", "message"), PREDICT_CASES)
def test_predict_rejects_bad_input(overrides, error, message):
    model = _fitted()
    before = _snapshot(model)
    kwargs = {"X": X, **overrides}
    with pytest.raises(error, match=re.escape(message)):
        model.predict(kwargs.pop("X"), **kwargs)
    _assert_unchanged(model, before)


EVALUATE_CASES = [
    _case(dict(y=Y[:-1]), ValueError, "must have the same number of samples, got 20 and 19",
          "length"),
    _case(dict(y=Y + 1), ValueError, "y must hold class labels in [0, 1]", "labels-outside"),
    _case(dict(y=np.eye(3)[Y]), ValueError, "y one-hot rows must have width 2", "one-hot-width"),
    _case(dict(X=X[:, :1]), ValueError, "X must have 3 features (columns), got 1", "features"),
    _case(dict(metrics=["acc_"]), ValueError, "unknown metric 'acc_'; did you mean", "metric"),
    _case(dict(loss="msee"), ValueError, "unknown loss 'msee'; did you mean 'mse'", "loss"),
    _case(dict(batch_size=0), ValueError, "batch_size must be a positive integer, got 0",
          "batch_size-zero"),
    _case(dict(batch_size=2.5), TypeError, "batch_size must be a positive integer, got 2.5",
          "batch_size-float"),
]  # fmt: skip


@pytest.mark.parametrize(("overrides", "error", "message"), EVALUATE_CASES)
def test_evaluate_rejects_bad_input(overrides, error, message):
    model = _fitted()
    before = _snapshot(model)
    kwargs = {"X": X, "y": Y, **overrides}
    with pytest.raises(error, match=re.escape(message)):
        model.evaluate(kwargs.pop("X"), kwargs.pop("y"), **kwargs)
    _assert_unchanged(model, before)


def test_evaluate_without_a_loss_on_an_unfitted_model_takes_the_one_its_head_implies():
    """Softmax: categorical cross-entropy; a linear head: MSE, which then names the columns."""
    model = Sequential([Dense(2, "softmax")], seed=0)
    probabilities = model.predict(X)
    expected = -np.mean(np.log(probabilities[np.arange(len(Y)), Y]))
    assert model.evaluate(X, Y)["loss"] == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="y does not fit the loss 'mse': y must have 2 column"):
        Sequential([Dense(2)]).evaluate(X, Y)


# -- constructors and look-ups --------------------------------------------------------------------
CONSTRUCTOR_CASES = [
    _case(lambda: Sequential([]), ValueError, "layers must hold at least one layer, got an empty",
          "empty-layer-list"),
    _case(lambda: Sequential(Dense(2)), TypeError, "layers must be a list of layers, got",
          "single-layer"),
    _case(lambda: Sequential([Dense(2), "relu"]), TypeError,
          "layers[1] must be a scratchnn layer, got 'relu'", "not-a-layer"),
    _case(lambda: Sequential([Dense(2)], seed=-1), ValueError,
          "seed must be a non-negative integer, got -1", "seed-negative"),
    _case(lambda: Sequential([Dense(2)], seed=1.5), TypeError,
          "seed must be a non-negative integer", "seed-float"),
    _case(lambda: Sequential([Dense(2)], dtype="float16"), ValueError,
          "dtype must be 'float32' or 'float64', got 'float16'", "dtype"),
    _case(lambda: Dense(0), ValueError, "units must be a positive integer, got 0", "units-0"),
    _case(lambda: Dense("8"), TypeError, "units must be a positive integer, got '8'", "units-str"),
    _case(lambda: Dense(2, input_dim=0), ValueError, "input_dim must be a positive integer, got 0",
          "input_dim"),
    _case(lambda: Dense(2, activation="rleu"), ValueError,
          "unknown activation 'rleu'; did you mean 'relu'", "unknown-activation"),
    _case(lambda: Dense(2, use_bias="yes"), TypeError, "use_bias must be True or False",
          "use_bias"),
    _case(lambda: Dense(2, kernel_initializer="glorot"), ValueError,
          "unknown initializer 'glorot'; did you mean 'glorot_normal', 'glorot_uniform'",
          "unknown-initializer"),
    _case(lambda: Dense(2, kernel_regularizer="l3"), ValueError,
          "unknown regularizer 'l3'; did you mean", "unknown-regularizer"),
    _case(lambda: Dense(2, kernel_regularizer={"l1": -1}), ValueError, "l1 must be in [0, inf)",
          "negative-penalty"),
    _case(lambda: VarianceScaling(mode="fan"), ValueError,
          "mode must be 'fan_in', 'fan_out' or 'fan_avg', got 'fan'", "variance-scaling-mode"),
    _case(lambda: VarianceScaling(scale=1e300), ValueError, "scale must be in (0, 1e+06]",
          "variance-scaling-huge"),
    _case(lambda: ActivationLayer("sigmoidd"), ValueError,
          "unknown activation 'sigmoidd'; did you mean 'sigmoid'", "activation-layer"),
    _case(lambda: get_activation(3), TypeError, "activation must be a name or an instance, got 3",
          "activation-int"),
    _case(lambda: LeakyReLU("x"), TypeError, "alpha must be a number, got 'x'", "leaky-alpha"),
    _case(lambda: ELU(-1), ValueError, "alpha must be in [0, 1000], got -1", "elu-alpha"),
    _case(lambda: Dropout(1.0), ValueError, "rate must be in [0, 1), got 1", "dropout-1"),
    _case(lambda: Dropout(-0.2), ValueError, "rate must be in [0, 1), got -0.2", "dropout-neg"),
    _case(lambda: BatchNorm(momentum=1.5), ValueError, "momentum must be in [0, 1], got 1.5",
          "batchnorm-momentum"),
    _case(lambda: BatchNorm(epsilon=0), ValueError, "epsilon must be in [1e-12, 1], got 0",
          "batchnorm-epsilon"),
    _case(lambda: get_layer_class("Dens"), ValueError, "unknown layer 'Dens'; did you mean 'dense'",
          "unknown-layer"),
    _case(lambda: get_loss("msee"), ValueError, "unknown loss 'msee'; did you mean 'mse'",
          "unknown-loss"),
    _case(lambda: Huber(delta=0), ValueError, "delta must be in (0, inf), got 0", "huber"),
    _case(lambda: BinaryCrossEntropy(from_logits="yes"), TypeError,
          "from_logits must be True or False", "from_logits"),
    _case(lambda: get_metric("acuracy"), ValueError, "unknown metric 'acuracy'; did you mean",
          "unknown-metric"),
    _case(lambda: get_optimizer("sdg"), ValueError, "unknown optimizer 'sdg'; did you mean 'sgd'",
          "unknown-optimizer"),
    _case(lambda: Adam(learning_rate=0), ValueError, "learning_rate must be in (0, inf), got 0",
          "adam-lr"),
    _case(lambda: Adam(beta_1=1.0), ValueError, "beta_1 must be in [0, 1), got 1", "adam-beta"),
    _case(lambda: SGD(momentum=-0.1), ValueError, "momentum must be in [0, 1), got -0.1",
          "sgd-momentum"),
    _case(lambda: SGD(nesterov=True), ValueError, "nesterov=True needs momentum > 0",
          "sgd-nesterov"),
    _case(lambda: SGD(0.1, momentum=0.9, nesterov="no"), TypeError,
          "nesterov must be True or False, got 'no'", "sgd-nesterov-str"),
    _case(lambda: RMSprop(rho=1), ValueError, "rho must be in [0, 1), got 1", "rmsprop-rho"),
    _case(lambda: Adam(learning_rate={"name": "cosin"}), ValueError,
          "unknown schedule 'cosin'; did you mean 'cosine'", "unknown-schedule"),
    _case(lambda: CosineDecay(0, 10), ValueError, "initial must be in (0, inf), got 0", "cosine"),
    _case(lambda: StepDecay(0.1, step_size=0), ValueError,
          "step_size must be a positive integer, got 0", "step-decay"),
    _case(lambda: EarlyStopping(patience=-1), ValueError,
          "patience must be a non-negative integer, got -1", "early-stopping-patience"),
    _case(lambda: EarlyStopping(mode="down"), ValueError, "mode must be 'auto', 'min' or 'max'",
          "early-stopping-mode"),
    _case(lambda: ModelCheckpoint("c.npz", every_n_epochs=0), ValueError,
          "every_n_epochs must be a positive integer, got 0", "checkpoint-every"),
    _case(lambda: NeuralNetwork(2, 0, 1), ValueError,
          "hidden_dim must be a positive integer, got 0", "nn-hidden"),
    _case(lambda: NeuralNetwork(2, 2, 1, learning_rate=0), ValueError,
          "learning_rate must be in (0, inf), got 0", "nn-lr"),
    _case(lambda: NeuralNetwork(2, 2, 1, dtype="int"), ValueError,
          "dtype must be 'float32' or 'float64'", "nn-dtype"),
    _case(lambda: load(42), TypeError, "path must be a str or os.PathLike, got 42", "load-path"),
]  # fmt: skip


@pytest.mark.parametrize(("build", "error", "message"), CONSTRUCTOR_CASES)
def test_constructors_and_lookups_reject_bad_arguments(build, error, message):
    with pytest.raises(error, match=re.escape(message)):
        build()


# -- the tutorial network -------------------------------------------------------------------------
XOR = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
XOR_Y = np.array([[0], [1], [1], [0]])
NEURAL_NETWORK_CASES = [
    _case(lambda nn: nn.train(XOR, XOR_Y * 2, epochs=1), ValueError,
          "y must hold targets in [0, 1] for sigmoid outputs", "targets-outside"),
    _case(lambda nn: nn.train(XOR, XOR_Y[:3], epochs=1), ValueError,
          "y must have shape (4, 1), got (3, 1)", "y-shape"),
    _case(lambda nn: nn.train(XOR, XOR_Y, epochs=0), ValueError,
          "epochs must be a positive integer, got 0", "epochs"),
    _case(lambda nn: nn.forward(np.ones((4, 3))), ValueError,
          "X must have 2 features (columns), got 3", "features"),
    _case(lambda nn: nn.train(XOR.astype(float) * np.nan, XOR_Y, epochs=1), ValueError,
          "X must be finite", "X-nan"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "error", "message"), NEURAL_NETWORK_CASES)
def test_neural_network_rejects_bad_input_and_changes_nothing(call, error, message):
    network = NeuralNetwork(2, 3, 1, seed=0)
    before = _snapshot(network.model)
    iterations = network.optimizer.iterations
    with pytest.raises(error, match=re.escape(message)):
        call(network)
    _assert_unchanged(network.model, before)
    assert network.optimizer.iterations == iterations


def test_the_module_holds_every_case_the_issue_lists():
    """The count the issue's closing note reports; grows as rows are added."""
    total = (
        len(FIT_CASES) * 2
        + len(BUILT_ONLY_CASES)
        + len(PREDICT_CASES)
        + len(EVALUATE_CASES)
        + len(CONSTRUCTOR_CASES)
        + len(NEURAL_NETWORK_CASES)
    )
    assert total >= 150


# -- divergence -----------------------------------------------------------------------------------
class BatchCounter(Callback):
    """Counts batches and remembers the weights before and after the latest update."""

    def __init__(self) -> None:
        self.batches = 0
        self.weights: list[np.ndarray] = []

    def on_train_begin(self, logs=None):
        self.weights = [self.model.params.copy()]

    def on_batch_end(self, batch, logs=None):  # called after each update
        self.batches += 1
        self.weights = [self.weights[-1], self.model.params.copy()]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_huge_learning_rate_stops_training_at_once_with_finite_weights(dtype):
    rng = np.random.default_rng(1)
    X_reg = rng.normal(size=(64, 4))
    y_reg = X_reg @ np.array([3.0, -2.0, 1.0, 5.0]) * 10
    model = Sequential([Dense(16, "relu"), Dense(1)], seed=0, dtype=dtype)
    counter = BatchCounter()
    with pytest.warns(DivergenceWarning, match="the loss became") as caught:
        history = model.fit(
            X_reg, y_reg, optimizer=SGD(learning_rate=1e3), epochs=50, batch_size=8,
            callbacks=[counter], verbose=0,
        )  # fmt: skip
    assert len(caught) == 1
    where = re.search(r"at epoch (\d+), batch (\d+)", str(caught[0].message))
    epoch, batch = int(where.group(1)), int(where.group(2))
    # Stopped at once: no batch ran after the one whose loss was not finite.
    assert counter.batches == (epoch - 1) * 8 + (batch - 1)
    assert len(history.epoch) == epoch - 1
    assert epoch < 50
    assert history.stop_reason is not None and "training stopped" in history.stop_reason
    assert np.all(np.isfinite(model.params))
    # The weights before the update whose result gave the non-finite loss.
    np.testing.assert_array_equal(model.params, counter.weights[0])
    assert np.all(np.isfinite(model.predict(X_reg)))
    assert model.stop_training


def test_targets_too_large_for_float32_are_named_before_training():
    model = Sequential([Dense(1)], seed=0)
    with pytest.raises(ValueError, match=r"y holds values too large for float32"):
        model.fit(X, np.full(20, 1e100), verbose=0)
    assert not model.built
    # float64 holds such targets (1e100 squared is still finite): no error there
    Sequential([Dense(1)], seed=0, dtype="float64").fit(X, np.full(20, 1e100), epochs=1, verbose=0)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ExponentialDecay(0.1, 10, 2.0), r"decay_rate must be in \(0, 1\], got 2"),
        (lambda: StepDecay(0.1, 10, gamma=1.5), r"gamma must be in \(0, 1\], got 1.5"),
    ],
)
def test_schedules_must_decay(make, message):
    with pytest.raises(ValueError, match=message):
        make()
