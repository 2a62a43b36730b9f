"""A resumed run keeps what its callbacks had counted: the best checkpoint, the patience."""

from __future__ import annotations

import numpy as np
import pytest
from fuzz_model_files import edit_header

from scratchnn import Dense, EarlyStopping, ModelCheckpoint, ModelFileError, Sequential
from scratchnn.checkpoint import read_checkpoint


def _data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 0.0]) + rng.normal(scale=0.3, size=120)
    return X[:90], y[:90], X[90:], y[90:]


def _model() -> Sequential:
    return Sequential([Dense(8, "tanh"), Dense(1)], seed=0)


def test_best_checkpoint_survives_a_resume(tmp_path):
    X, y, X_val, y_val = _data()
    run, best = tmp_path / "run.npz", tmp_path / "best.npz"
    fit = dict(loss="mse", optimizer={"name": "adam", "learning_rate": 0.05}, batch_size=16,
               validation_data=(X_val, y_val), verbose=0)  # fmt: skip

    def callbacks():
        on_best = ModelCheckpoint(best, every_n_epochs=None, monitor="val_loss")
        return [ModelCheckpoint(run), on_best]

    history = _model().fit(X, y, epochs=8, callbacks=callbacks(), **fit)
    best_value = min(history.history["val_loss"])
    assert read_checkpoint(run).callbacks[1]["state"]["best"] == best_value
    saved_best = best.read_bytes()
    # A resumed run whose first epoch is worse than the best must not overwrite best.npz.
    _model().fit(X, y, epochs=9, callbacks=callbacks(), resume_from=run, **fit)
    checkpoint = read_checkpoint(run)
    overall_best = min(checkpoint.history["val_loss"])
    assert checkpoint.callbacks[1] == {
        "key": f"ModelCheckpoint({str(best)!r}, monitor='val_loss')",
        "state": {"best": overall_best},
    }
    if overall_best == best_value:  # the resumed epoch did not beat the best: file untouched
        assert best.read_bytes() == saved_best
    else:
        assert best.read_bytes() != saved_best


def test_best_checkpoint_is_not_overwritten_by_a_worse_resumed_epoch(tmp_path):
    """The issue's case: 0.327 replaced by 0.635 after a resume. A worse epoch must not save."""
    X, y, X_val, y_val = _data()
    run, best = tmp_path / "run.npz", tmp_path / "best.npz"
    fit = dict(loss="mse", batch_size=16, validation_data=(X_val, y_val), verbose=0)
    calm = {"name": "sgd", "learning_rate": 0.05}
    _model().fit(
        X,
        y,
        epochs=6,
        optimizer=calm,
        **fit,
        callbacks=[
            ModelCheckpoint(run),
            ModelCheckpoint(best, every_n_epochs=None, monitor="val_loss"),
        ],
    )
    saved_best = best.read_bytes()
    on_best = ModelCheckpoint(best, every_n_epochs=None, monitor="val_loss")
    # The same run resumed, its weights then pushed far off: its next epoch is much worse.
    model = _model()

    class Spoil(ModelCheckpoint):
        def on_epoch_begin(self, epoch, logs=None):
            model.params[...] += 5.0

    model.fit(X, y, epochs=7, optimizer=calm, **fit, resume_from=run,
              callbacks=[on_best, Spoil(tmp_path / "other.npz")])  # fmt: skip
    assert best.read_bytes() == saved_best


@pytest.mark.slow
def test_early_stopping_patience_counts_on_across_a_resume(tmp_path):
    X, y, X_val, y_val = _data()
    run = tmp_path / "run.npz"
    fit = dict(loss="mse", optimizer={"name": "sgd", "learning_rate": 0.5}, batch_size=90,
               validation_data=(X_val, y_val), verbose=0)  # fmt: skip
    # One uninterrupted run, and the same run cut after each epoch and resumed: same stop.
    full = _model().fit(X, y, epochs=40, callbacks=[EarlyStopping(patience=3)], **fit)
    stopped_after = len(full.epoch)
    assert stopped_after < 40  # it does stop early: the test can fail
    for cut in range(1, stopped_after):
        _model().fit(X, y, epochs=cut, **fit,
                     callbacks=[EarlyStopping(patience=3), ModelCheckpoint(run)])  # fmt: skip
        resumed = _model().fit(
            X, y, epochs=40, callbacks=[EarlyStopping(patience=3)], resume_from=run, **fit
        )
        assert len(resumed.epoch) == stopped_after, f"cut after epoch {cut}"


@pytest.mark.parametrize(
    "entry",
    [
        "not a list",
        [{"key": "EarlyStopping", "state": {"wait": "7"}}],
        [{"key": "EarlyStopping", "state": {"wait": True}}],
        [{"key": 3, "state": {}}],
        [{"key": "EarlyStopping", "state": {"best": 1e400}}],
        [{"key": "EarlyStopping", "state": {"wait": 2**70}}],
    ],
)
def test_hostile_callback_states_are_refused_on_read(tmp_path, entry):
    X, y, _, _ = _data()
    path = tmp_path / "run.npz"
    _model().fit(X, y, epochs=1, callbacks=[ModelCheckpoint(path)], verbose=0)

    def plant(header):
        header["checkpoint"]["callbacks"] = entry

    edit_header(path, plant)
    with pytest.raises(ModelFileError):
        read_checkpoint(path)


def _add_history_entry(header):
    for values in header["checkpoint"]["history"].values():
        values.append(0.5)


@pytest.mark.parametrize(
    ("edit", "error", "message"),
    [
        (lambda h: h["optimizer"].update(iterations=7), ValueError, "has taken 7 steps"),
        (_add_history_entry, ModelFileError, "one entry per completed epoch"),
        (
            lambda h: h["checkpoint"].update(history_epochs=[0, 5, 1]),
            ModelFileError,
            "one entry per completed epoch",
        ),  # fmt: skip
        (lambda h: h["checkpoint"].update(epoch=9), ModelFileError, "one entry per completed"),
    ],
)
def test_inconsistent_checkpoints_are_refused_before_anything_changes(tmp_path, edit, error,
                                                                      message):  # fmt: skip
    X, y, _, _ = _data()
    path = tmp_path / "run.npz"
    _model().fit(X, y, epochs=3, batch_size=30, callbacks=[ModelCheckpoint(path)], verbose=0)
    edit_header(path, edit)
    model = _model()
    model.build((4,))
    before = model.get_state()
    with pytest.raises(error, match=message):
        model.fit(X, y, epochs=5, batch_size=30, resume_from=path, verbose=0)
    np.testing.assert_array_equal(model.params, before["params"])


def test_a_checkpoint_past_the_requested_epochs_is_refused(tmp_path):
    X, y, _, _ = _data()
    path = tmp_path / "run.npz"
    _model().fit(X, y, epochs=3, callbacks=[ModelCheckpoint(path)], verbose=0)
    model = _model()
    with pytest.raises(ValueError, match="epochs must be at least the 3 epochs resume_from has"):
        model.fit(X, y, epochs=2, resume_from=path, verbose=0)
    assert not model.built
