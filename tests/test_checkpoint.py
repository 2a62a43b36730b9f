"""Checkpoints and resume: a resumed run ends bit-identical to an uninterrupted one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from scratchnn import Callback, ModelCheckpoint, ModelFileError, Sequential, load
from scratchnn.checkpoint import read_checkpoint
from scratchnn.layers import BatchNorm, Dense, Dropout
from scratchnn.schedules import CosineDecay

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
EPOCHS = 5


def make_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three Gaussian blobs, 60 samples, 4 features."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), 20)
    X = rng.normal(size=(60, 4)) + labels[:, None]
    return X, labels


def make_model(dtype: str = "float32") -> Sequential:
    """Every piece of carried state: dropout draws, running statistics, shuffling."""
    return Sequential(
        [Dense(8, "relu"), BatchNorm(momentum=0.9), Dropout(0.25), Dense(3, "softmax")],
        seed=42,
        dtype=dtype,
    )


def fit_kwargs(optimizer=None) -> dict:
    """The arguments of the run under test (validation split and a metric included)."""
    if optimizer is None:
        optimizer = {
            "name": "adam",
            "learning_rate": CosineDecay(0.05, decay_steps=20).get_config(),
        }
    return dict(
        loss="categorical_crossentropy",
        optimizer=optimizer,
        batch_size=16,
        validation_split=0.2,
        metrics=["accuracy"],
        verbose=0,
    )


def _assert_same_run(a: Sequential, b: Sequential, history_a, history_b) -> None:
    np.testing.assert_array_equal(a.params, b.params)
    for layer_a, layer_b in zip(a.layers, b.layers, strict=True):
        for key in layer_a.state:
            np.testing.assert_array_equal(layer_a.state[key], layer_b.state[key])
    assert a.rng.bit_generator.state == b.rng.bit_generator.state
    assert a.optimizer.iterations == b.optimizer.iterations
    for name in a.optimizer.slots:
        np.testing.assert_array_equal(a.optimizer.slots[name], b.optimizer.slots[name])
    assert history_a.history == history_b.history
    assert history_a.epoch == history_b.epoch


OPTIMIZERS = [
    None,  # Adam on a cosine schedule
    {"name": "sgd", "learning_rate": 0.05, "momentum": 0.9, "nesterov": True},
    {"name": "sgd", "learning_rate": 0.05},
    {"name": "rmsprop", "learning_rate": 0.01},
    {"name": "adagrad", "learning_rate": 0.05},
    {"name": "adamw", "learning_rate": 0.01, "weight_decay": 0.1},
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "optimizer", OPTIMIZERS, ids=lambda o: "adam-cosine" if o is None else o["name"]
)
def test_resumed_run_is_bit_identical_to_an_uninterrupted_one(tmp_path, optimizer, dtype):
    X, y = make_data()
    full = make_model(dtype)
    full_history = full.fit(X, y, epochs=EPOCHS, **fit_kwargs(optimizer))

    path = tmp_path / "ckpt.npz"
    interrupted = make_model(dtype)
    interrupted.fit(X, y, epochs=2, callbacks=[ModelCheckpoint(path)], **fit_kwargs(optimizer))
    resumed = make_model(dtype)
    resumed_history = resumed.fit(X, y, epochs=EPOCHS, resume_from=path, **fit_kwargs(optimizer))

    assert resumed_history.epoch == list(range(EPOCHS))
    _assert_same_run(full, resumed, full_history, resumed_history)
    # Control: without resuming, a second run of the remaining epochs does not match.
    restarted = make_model(dtype)
    restarted.fit(X, y, epochs=EPOCHS - 2, **fit_kwargs(optimizer))
    assert not np.array_equal(restarted.params, full.params)


class KillAt(Callback):
    """Kill this process with SIGKILL at a given batch of a given epoch (mid-epoch)."""

    def __init__(self, epoch: int, batch: int) -> None:
        self.epoch, self.batch, self.current = epoch, batch, -1

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_batch_end(self, batch, logs=None):
        if self.current == self.epoch and batch == self.batch:
            os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_run_killed_by_sigkill_resumes_bit_identically(tmp_path):
    path = tmp_path / "ckpt.npz"
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {TESTS_DIR!r})
        from test_checkpoint import EPOCHS, KillAt, fit_kwargs, make_data, make_model
        from scratchnn import ModelCheckpoint

        X, y = make_data()
        callbacks = [ModelCheckpoint({str(path)!r}), KillAt(epoch=3, batch=1)]
        make_model().fit(X, y, epochs=EPOCHS, callbacks=callbacks, **fit_kwargs())
        print("not killed")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert "not killed" not in result.stdout
    assert read_checkpoint(path).epoch == 3  # written after epoch 3; killed inside epoch 4

    X, y = make_data()
    full = make_model()
    full_history = full.fit(X, y, epochs=EPOCHS, **fit_kwargs())
    resumed = make_model()
    resumed_history = resumed.fit(X, y, epochs=EPOCHS, resume_from=path, **fit_kwargs())
    _assert_same_run(full, resumed, full_history, resumed_history)


def test_checkpoint_holds_optimizer_epoch_history_and_rng(tmp_path):
    X, y = make_data()
    model = make_model()
    path = tmp_path / "ckpt.npz"
    history = model.fit(X, y, epochs=3, callbacks=[ModelCheckpoint(path)], **fit_kwargs())
    checkpoint = read_checkpoint(path)
    assert checkpoint.epoch == 3
    assert checkpoint.optimizer.iterations == 3 * 3  # 48 training samples in batches of 16
    assert checkpoint.optimizer.get_config() == model.optimizer.get_config()
    np.testing.assert_array_equal(checkpoint.optimizer.slots["m"], model.optimizer.slots["m"])
    assert checkpoint.history == history.history
    assert checkpoint.history_epochs == [0, 1, 2]
    assert checkpoint.metric_names == ["accuracy"]
    assert checkpoint.model.rng.bit_generator.state == model.rng.bit_generator.state
    np.testing.assert_array_equal(checkpoint.model.params, model.params)
    # A checkpoint is also a model file.
    np.testing.assert_array_equal(load(path).predict(X), model.predict(X))


def test_every_n_epochs_with_an_epoch_placeholder(tmp_path):
    X, y = make_data()
    checkpoint = ModelCheckpoint(tmp_path / "ckpt-{epoch}.npz", every_n_epochs=2)
    make_model().fit(X, y, epochs=5, callbacks=[checkpoint], **fit_kwargs())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-2.npz", "ckpt-4.npz"]
    assert read_checkpoint(tmp_path / "ckpt-4.npz").epoch == 4


def test_monitor_saves_exactly_on_improvement(tmp_path):
    X, y = make_data()
    checkpoint = ModelCheckpoint(
        tmp_path / "best-{epoch}.npz", every_n_epochs=None, monitor="val_loss"
    )
    history = make_model().fit(X, y, epochs=6, callbacks=[checkpoint], **fit_kwargs())
    # Oracle: the epochs whose val_loss beats every earlier one.
    expected, best = [], np.inf
    for epoch, value in enumerate(history.history["val_loss"]):
        if value < best:
            best = value
            expected.append(str(tmp_path / f"best-{epoch + 1}.npz"))
    assert checkpoint.saved == expected
    assert checkpoint.mode == "min"


def test_monitor_that_is_not_logged_raises(tmp_path):
    X, y = make_data()
    checkpoint = ModelCheckpoint(tmp_path / "c.npz", monitor="val_accuracy")
    kwargs = fit_kwargs()
    kwargs.pop("validation_split")
    with pytest.raises(ValueError, match="monitors 'val_accuracy', which this fit does not log"):
        make_model().fit(X, y, epochs=1, callbacks=[checkpoint], **kwargs)


def test_resume_from_a_finished_run_trains_no_further(tmp_path):
    X, y = make_data()
    path = tmp_path / "ckpt.npz"
    done = make_model()
    done.fit(X, y, epochs=3, callbacks=[ModelCheckpoint(path)], **fit_kwargs())
    again = make_model()
    history = again.fit(X, y, epochs=3, resume_from=path, **fit_kwargs())
    np.testing.assert_array_equal(again.params, done.params)
    assert history.epoch == [0, 1, 2]


@pytest.fixture
def checkpoint_path(tmp_path):
    X, y = make_data()
    path = tmp_path / "ckpt.npz"
    make_model().fit(X, y, epochs=1, callbacks=[ModelCheckpoint(path)], **fit_kwargs())
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(model=lambda: Sequential([Dense(8, "relu"), Dense(3, "softmax")], seed=42)),
         "resume_from holds a different architecture"),
        (dict(model=lambda: make_model("float64")), "holds a float32 model, got a float64"),
        (dict(loss={"name": "categorical_crossentropy", "from_logits": True}),
         "loss must be .* as in the checkpoint"),
        (dict(optimizer="sgd"), "optimizer must be .* as in the checkpoint"),
        (dict(X=lambda X: X[:, :3]), "X must have 4 features like the checkpoint's model, got 3"),
        (dict(batch_size=7), "batch_size must be .* as in the checkpoint, got 7"),
        (dict(metrics=["accuracy", "mse"]), r"metrics must be \[.*\] as in the checkpoint"),
        (dict(shuffle=False), "shuffle must be True as in the checkpoint, got False"),
    ],
    ids=["architecture", "dtype", "loss", "optimizer", "features", "batch_size", "metrics",
         "shuffle"],
)  # fmt: skip
def test_resume_refuses_a_different_run_before_changing_anything(checkpoint_path, change, message):
    X, y = make_data()
    model = change.get("model", make_model)()
    model.build(4 if "X" not in change else 3)
    before = model.params.copy()
    kwargs = fit_kwargs()
    kwargs.update(
        {
            k: v
            for k, v in change.items()
            if k in ("loss", "optimizer", "batch_size", "metrics", "shuffle")
        }
    )
    X = change.get("X", lambda X: X)(X)
    with pytest.raises(ValueError, match=message):
        model.fit(X, y, epochs=3, resume_from=checkpoint_path, **kwargs)
    np.testing.assert_array_equal(model.params, before)
    assert model.optimizer is None


def test_resume_from_a_plain_model_file_is_refused(tmp_path):
    X, y = make_data()
    model = make_model()
    model.fit(X, y, epochs=1, **fit_kwargs())
    path = tmp_path / "model.npz"
    model.save(path)
    with pytest.raises(ModelFileError, match="is a model file, not a checkpoint"):
        make_model().fit(X, y, epochs=2, resume_from=path, **fit_kwargs())


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (dict(filepath=3), TypeError, "filepath must be a str or os.PathLike, got 3"),
        (dict(every_n_epochs=0), ValueError, "every_n_epochs must be a positive integer, got 0"),
        (dict(every_n_epochs=1.5), TypeError, "every_n_epochs must be a positive integer"),
        (dict(every_n_epochs=None), ValueError, "every_n_epochs or monitor must be given"),
        (dict(monitor=1), TypeError, "monitor must be a logged name or None"),
        (dict(monitor="val_loss", mode="up"), ValueError, "mode must be 'auto', 'min' or 'max'"),
    ],
)
def test_model_checkpoint_rejects_bad_arguments(kwargs, error, message):
    kwargs = {"filepath": "ckpt.npz", **kwargs}
    with pytest.raises(error, match=message):
        ModelCheckpoint(**kwargs)


def test_model_checkpoint_docstring_example_runs():
    import doctest

    import scratchnn.checkpoint

    result = doctest.testmod(scratchnn.checkpoint)
    assert result.attempted > 0 and result.failed == 0
