"""Hooks into ``Sequential.fit``: history, early stopping, progress, and your own.

Subclass :class:`Callback` and override any of its ``on_*`` methods. ``logs`` is a dict of the
epoch's numbers (``"loss"``, ``"val_loss"``, and each metric with its ``val_`` twin). Set
``self.model.stop_training = True`` to end training after the current epoch, and
``self.stop_message`` to the reason, which ``History.stop_reason`` then reports.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

from ._validation import check_non_negative_int, check_number


class Callback:
    """Base class: every hook does nothing."""

    model: Any = None
    params: dict[str, Any] = {}  # replaced per fit by set_params

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        """What this fit does: ``epochs``, ``steps`` (batches per epoch), ``batch_size``, ..."""
        self.params = params

    def get_state(self) -> dict[str, Any]:
        """What a checkpoint keeps of this callback, as JSON values (nothing by default)."""
        return {}

    def state_key(self) -> str:
        """What identifies this callback's saved state on resume: its class and settings."""
        return type(self).__name__

    def resumed_state(self) -> dict[str, Any] | None:
        """This callback's state saved in the checkpoint a fit resumes from, if any.

        Matched by :meth:`state_key` (and order, among callbacks with the same key).
        """
        key = self.state_key()
        saved = self.params.get("resumed_callbacks") or []
        mine = [c for c in self.params.get("callbacks", []) if c.state_key() == key]
        theirs = [s["state"] for s in saved if s.get("key") == key]
        index = next((i for i, c in enumerate(mine) if c is self), None)
        if index is None or index >= len(theirs) or not isinstance(theirs[index], dict):
            return None
        return theirs[index]

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None: ...

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None: ...

    def on_batch_begin(self, batch: int, logs: dict[str, float] | None = None) -> None: ...

    def on_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None: ...

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None: ...

    def on_train_end(self, logs: dict[str, float] | None = None) -> None: ...

    def after_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        """Called once every callback's ``on_epoch_end`` has run: where a checkpoint is saved."""


class History(Callback):
    """Per-epoch numbers of a ``fit`` call: ``history.history["loss"][epoch]``.

    ``stop_reason`` says why training ended early (``None`` when it ran all epochs).
    """

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.stop_reason: str | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def last_is_finite(self, key: str) -> bool:
        """Whether the latest epoch's ``key`` is finite (``True`` when it was never logged)."""
        values = self.history.get(key)
        return not values or math.isfinite(values[-1])

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, keys={sorted(self.history)})"


class EarlyStopping(Callback):
    """Stop once ``monitor`` has gone more than ``patience`` epochs without improving.

    An improvement is a change by more than ``min_delta``. ``patience=0`` stops at the first
    epoch that does not improve; ``patience=10`` tolerates ten in a row and stops at the eleventh.

    ``mode="auto"`` maximises names containing ``acc`` or ``r2`` and minimises the rest. With
    ``restore_best_weights=True`` the model ends with the weights of its best epoch.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        mode: str = "auto",
        restore_best_weights: bool = False,
    ) -> None:
        if not isinstance(monitor, str):
            raise TypeError(f"monitor must be a metric name, got {monitor!r}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor = monitor
        self.min_delta = abs(check_number(min_delta, "min_delta"))
        self.patience = check_non_negative_int(patience, "patience")
        if mode == "auto":
            mode = "max" if ("acc" in monitor or "r2" in monitor) else "min"
        self.mode = mode
        self.restore_best_weights = bool(restore_best_weights)

    def on_train_begin(self, logs=None) -> None:
        self.best = np.inf if self.mode == "min" else -np.inf
        self.best_epoch = -1
        self.best_weights: dict[str, Any] | None = None
        self.wait = 0
        self.stopped_epoch: int | None = None
        self.stop_message: str | None = None
        state = self.resumed_state()
        if state is not None:  # patience counts on from where the interrupted run was
            self.best = _float_or(state.get("best"), self.best)
            self.best_epoch = int(state.get("best_epoch", -1))
            self.wait = int(state.get("wait", 0))

    def state_key(self) -> str:
        return f"EarlyStopping(monitor={self.monitor!r})"

    def get_state(self) -> dict[str, Any]:
        """Best value, its epoch and the epochs waited since (not the best weights)."""
        best = float(self.best) if np.isfinite(self.best) else None
        return {"best": best, "best_epoch": int(self.best_epoch), "wait": int(self.wait)}

    def _improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        logs = logs or {}
        if self.monitor not in logs:
            raise ValueError(
                f"EarlyStopping monitors {self.monitor!r}, which this fit does not log "
                f"(logged: {sorted(logs)}); pass validation data or pick another monitor"
            )
        value = logs[self.monitor]
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                # Weights and batch-norm statistics; the generator runs on (rng None).
                self.best_weights = dict(self.model.get_state(), rng=None)
            return
        self.wait += 1
        if self.wait > self.patience:
            self.stopped_epoch = epoch
            self.stop_message = (
                f"{self.monitor} did not improve for {self.wait} epochs "
                f"(best {self.best:.4g}, epoch {self.best_epoch + 1})"
            )
            self.model.stop_training = True

    def on_train_end(self, logs=None) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_state(self.best_weights)


class ProgressLogger(Callback):
    """Report progress: a tqdm bar on a terminal (``verbose=1``), else one line per epoch.

    ``verbose=0`` is silent. The bar advances within each epoch and shows the running loss.
    """

    def __init__(self, verbose: int = 1, epochs: int = 1, stream: Any = None) -> None:
        self.verbose = verbose
        self.epochs = epochs
        self.stream = stream if stream is not None else sys.stdout
        self.bar = None

    def _use_bar(self) -> bool:
        if self.verbose != 1 or not getattr(self.stream, "isatty", lambda: False)():
            return False
        try:
            import tqdm  # noqa: F401
        except ImportError:
            return False
        return True

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        if self._use_bar():
            from tqdm import tqdm

            self.bar = tqdm(
                total=self.params.get("steps"),
                desc=f"epoch {epoch + 1}/{self.epochs}",
                file=self.stream,
                leave=False,
                unit="batch",
            )

    def on_batch_end(self, batch: int, logs=None) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if batch % 10 == 0 and logs:
                self.bar.set_postfix(loss=f"{logs['loss']:.4f}", refresh=False)

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.verbose:
            numbers = "  ".join(f"{k}={v:.4f}" for k, v in (logs or {}).items())
            print(f"epoch {epoch + 1}/{self.epochs}  {numbers}", file=self.stream, flush=True)


def _float_or(value: Any, default: float) -> float:
    """``value`` as a float, or ``default`` for ``None`` (how JSON keeps an infinite best)."""
    return default if value is None else float(value)
