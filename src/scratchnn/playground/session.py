"""One browser tab's run: data, network, a worker thread that trains, and the latest frame.

The worker runs one ``Sequential.fit`` for up to ``LIMITS["epochs"]`` epochs. A callback at the
end of every epoch records the curves, publishes a frame (at most :data:`FRAMES_PER_SECOND`, and
always when it stops) and, to pause, waits right there: the fit is never restarted, so the run
is one plain ``fit`` and its script reproduces it. Step lets one more epoch run. Every request
from the server takes the session's lock, and the worker holds it only between batches, so the
model is read (drawn, copied, saved) only while no update runs.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from typing import Any

import numpy as np

from ..callbacks import Callback
from ..diagnostics import Diagnostics
from ..model import Sequential
from . import frames
from .recipe import Data, Table, build_model, fit_arguments, make_data, python_script
from .settings import LIMITS, Settings, SettingsError

FRAMES_PER_SECOND = 20  # the most frames a running session publishes
MID_EPOCH_FRAME = 0.1  # seconds: a slow epoch still shows its progress this often
SERIES = ("loss", "val_loss", "accuracy", "val_accuracy")


class _Hook(Callback):
    """The worker's view into ``fit``: hands each epoch and batch end to the session."""

    def __init__(self, session: Session, run: int) -> None:
        self.session, self.run = session, run

    def on_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
        if time.monotonic() - self.session.frame_time > MID_EPOCH_FRAME:
            self.session._batch_end(self.run)

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self.session._epoch_end(self, logs or {})


class Session:
    """A tab's playground: ``apply`` settings, then ``play``, ``pause``, ``step``, ``reset``.

    ``state`` is ``ready`` (nothing trained since the last reset), ``running``, ``paused`` or
    ``finished`` (the fit ended: epoch limit or divergence). ``frame()`` gives the latest frame's
    number and JSON text.
    """

    def __init__(self) -> None:
        self.id = secrets.token_urlsafe(16)
        self.lock = threading.Condition()
        self.touched = time.monotonic()
        self.streams = 0
        self.closed = False
        self.table: Table | None = None
        self.frame_time = 0.0
        self._frame: tuple[int, str] = (0, "{}")  # replaced whole: readers need no lock
        self._run = 0
        self._thread: threading.Thread | None = None
        self._install(Settings(), make_data(Settings()))

    # -- settings -----------------------------------------------------------------------------
    def _install(self, settings: Settings, data: Data) -> None:
        """A new run (the worker, if any, has stopped): fresh model, curves and frame."""
        model, neurons, dense = build_model(settings, data.n_classes)
        self.settings, self.data, self.model = settings, data, model
        self.neurons = [*neurons, len(model.layers) - 1]  # the outputs are pictured too
        self.dense = dense
        points = np.vstack([data.X_train, data.X_val])
        self.bounds = frames.bounds_of(points)
        self.history: dict[str, list[float]] = {name: [] for name in SERIES}
        self.epochs, self.findings, self.message = 0, [], ""
        self.state = "ready"
        self._budget: int | None = None
        self._pause_wanted = self._stop_wanted = False
        self._copy_wanted, self._copy = False, None
        self._run += 1
        self._publish()

    def apply(self, settings: Settings) -> None:
        """Start over with new settings (checked: a failure changes nothing)."""
        data = make_data(settings, self.table)  # may raise SettingsError: nothing changed yet
        self._stop_worker()
        with self.lock:
            self._install(settings, data)

    def upload(self, table: Table) -> None:
        """Keep an uploaded table for ``data="upload"`` (the run changes when that is applied)."""
        with self.lock:
            self.table = table

    def reset(self) -> None:
        self.apply(self.settings)

    # -- play, pause, step --------------------------------------------------------------------
    def play(self) -> None:
        self._go(None)

    def step(self) -> None:
        """Train one more epoch, then pause."""
        self._go(1)

    def _go(self, budget: int | None) -> None:
        with self.lock:
            if self.state == "finished":
                raise SettingsError(f"this run has ended ({self.message}); press Reset")
            self._budget, self._pause_wanted = budget, False
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._train, args=(self._run,), name=f"playground-{self.id[:6]}",
                    daemon=True,
                )  # fmt: skip
                self.state = "running"
                self._thread.start()
            elif self.state == "paused":
                self.state = "running"
                self.lock.notify_all()

    def pause(self, timeout: float = 10.0) -> None:
        """Ask the worker to stop after this epoch and wait until it has."""
        with self.lock:
            if self.state == "running":
                self._pause_wanted = True
                self.lock.wait_for(lambda: self.state != "running", timeout)

    def close(self) -> None:
        """Stop the worker for good (the session is being freed)."""
        self.closed = True
        self._stop_worker()

    def _stop_worker(self) -> None:
        with self.lock:
            thread, self._stop_wanted = self._thread, True
            self.lock.notify_all()
        if thread is not None:
            thread.join(timeout=30)

    # -- the worker ---------------------------------------------------------------------------
    def _train(self, run: int) -> None:
        with self.lock:
            model, arguments = self.model, fit_arguments(self.settings, self.data)
            self._diagnostics = Diagnostics(every=4)
        callbacks = [self._diagnostics, _Hook(self, run)]
        try:
            model.fit(**arguments, epochs=LIMITS["epochs"], callbacks=callbacks)
            error = None
        except Exception as failure:  # noqa: BLE001  shown in the page; the server stays up
            error = f"training failed: {failure}"
        with self.lock:
            if run != self._run:
                return
            self.state, self._thread = "finished", None
            if error:
                self.message = error
            elif self._stop_wanted:
                self.message = "stopped"
            elif self.epochs < LIMITS["epochs"]:
                self.message = "the loss diverged (NaN or infinite): lower the learning rate"
            else:
                self.message = f"the most epochs of one run ({LIMITS['epochs']}) are done"
            self.lock.notify_all()
            self._publish()

    def _batch_end(self, run: int) -> None:
        with self.lock:
            if run == self._run:
                self._publish()

    def _epoch_end(self, hook: _Hook, logs: dict[str, float]) -> None:
        with self.lock:
            if hook.run != self._run or self._stop_wanted:
                hook.model.stop_training = True
                return
            self.epochs += 1
            for name in SERIES:
                self.history[name].append(float(logs.get(name, float("nan"))))
            report = self._diagnostics.report
            self.findings = [_finding(f, self.model) for f in report.findings] if report else []
            if self._budget is not None:
                self._budget -= 1
            if self._copy_wanted:
                self._copy, self._copy_wanted = (self.model.copy(), self.epochs), False
                self.lock.notify_all()
            pausing = self._pause_wanted or self._budget == 0
            if pausing:
                self.state, self._pause_wanted, self._budget = "paused", False, None
                self.lock.notify_all()
            if pausing or time.monotonic() - self.frame_time >= 1 / FRAMES_PER_SECOND:
                self._publish()
            while True:  # paused here, between two steps: copies are made in this thread
                self.lock.wait_for(
                    lambda: self.state == "running" or self._stop_wanted or self._copy_wanted
                )
                if not self._copy_wanted:
                    break
                self._copy, self._copy_wanted = (self.model.copy(), self.epochs), False
                self.lock.notify_all()
            if self._stop_wanted:
                hook.model.stop_training = True

    # -- what the server reads ----------------------------------------------------------------
    def _publish(self) -> None:
        """Draw a frame from the model now (the lock is held: no update runs)."""
        picture = frames.render(self.model, self.bounds, self.neurons, self.dense, self.history)
        last = {name: values[-1] for name, values in self.history.items() if values}
        picture.update(
            run=self._run,
            state=self.state,
            epochs=self.epochs,
            metrics={k: (v if v == v else None) for k, v in last.items()},
            findings=self.findings,
            message=self.message,
            time=time.time(),
        )
        self._frame = (self._frame[0] + 1, json.dumps(picture, allow_nan=False))
        self.frame_time = time.monotonic()

    def frame(self) -> tuple[int, str]:
        """The latest frame's number and JSON text."""
        return self._frame

    def touch(self) -> None:
        self.touched = time.monotonic()

    def snapshot(self, timeout: float = 10.0) -> tuple[Sequential, Settings, Data, int]:
        """A copy of the model as of an epoch's end, with what made it and its epoch count."""
        with self.lock:
            # While fit runs (or waits, paused, in its epoch-end callback) only its own thread
            # may read the model (a save from another thread is refused): it makes the copy.
            if self.model.training_thread is not None:
                self._copy_wanted, self._copy = True, None
                self.lock.notify_all()  # wakes a fit paused in its epoch-end callback
                self.lock.wait_for(lambda: self._copy is not None, timeout)
            if self._copy is not None:
                (model, epochs), self._copy = self._copy, None
            else:
                model, epochs = self.model.copy(), self.epochs
            return model, self.settings, self.data, epochs

    def script(self) -> str:
        """The Python code of this run, for as many epochs as it has trained."""
        with self.lock:
            return python_script(self.settings, self.data, self.epochs, self.table)

    def points(self) -> dict[str, Any]:
        """The data set as the page draws it."""
        with self.lock:
            data = self.data
            return {
                "run": self._run,
                "bounds": self.bounds,
                "classes": list(data.names),
                "train": {"X": data.X_train.round(4).tolist(), "y": data.y_train.tolist()},
                "validation": {"X": data.X_val.round(4).tolist(), "y": data.y_val.tolist()},
                "settings": self.settings.to_json(),
            }


def _finding(finding: Any, model: Sequential) -> dict[str, Any]:
    layer = model.layers[finding.layer]
    return {
        "kind": finding.kind,
        "layer": finding.layer,
        "layer_name": type(layer).__name__,
        "message": finding.message,
        "advice": finding.advice,
    }
