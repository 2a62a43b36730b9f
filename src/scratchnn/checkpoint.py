"""Training checkpoints: the :class:`ModelCheckpoint` callback and what ``fit(resume_from=)`` reads.

A checkpoint is a model file (see :mod:`scratchnn.io`) with two more header entries,
``optimizer`` (config, update count) and ``checkpoint`` (completed epochs, history, loss and
metric names), and the optimizer's moments as ``optimizer.{slot}`` arrays. With the model's
weights, batch-norm statistics and random-generator state this is everything the fit loop
carries from one epoch to the next, so a run resumed from the checkpoint written after epoch
``k`` ends bit-identical to a run that was never interrupted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import _validation as check
from .callbacks import Callback, History
from .io import (
    ModelFileError,
    build_payload,
    check_optimizer_arrays,
    checked_classes,
    listing_fits_model,
    optimizer_payload,
    read_model_file,
    restore_network,
    restore_vocabulary,
    write_model_file,
)
from .losses import Loss
from .network import Network
from .optimizers import Optimizer


@dataclass
class Checkpoint:
    """A checkpoint read back: the model it saved and the state of the fit loop."""

    model: Network
    optimizer: Optimizer
    epoch: int
    loss: dict[str, Any]
    metric_names: list[str]
    history: dict[str, list[float]] = field(default_factory=dict)
    history_epochs: list[int] = field(default_factory=list)
    fit_settings: dict[str, Any] = field(default_factory=dict)  # batch_size, shuffle
    callbacks: list[dict[str, Any]] = field(default_factory=list)  # {"key", "state"} each
    classes: list[Any] | None = None  # the labels of a fit on text (or other) labels


def loss_config(loss: Any) -> dict[str, Any]:
    """A loss's config; several outputs' losses as ``{"outputs": [config, ...]}``."""
    if isinstance(loss, (list, tuple)):
        return {"outputs": [one.get_config() for one in loss]}
    return loss.get_config()


def save_checkpoint(
    model: Any,
    path: str | os.PathLike,
    epoch: int,
    history: History | None = None,
    fit_settings: dict[str, Any] | None = None,
    callbacks: list[Callback] = (),
) -> None:
    """Save ``model`` mid-``fit`` with its optimizer, history and ``epoch`` epochs completed.

    ``callbacks`` are the fit's callbacks: their :meth:`~scratchnn.Callback.get_state` is kept,
    so a resumed run's ``EarlyStopping`` and ``ModelCheckpoint`` go on counting from there.
    """
    if model.optimizer is None or model.loss is None:
        raise ValueError("model must be in a fit (it has no optimizer or loss yet) to checkpoint")
    header, arrays = build_payload(model)
    optimizer_header, optimizer_arrays = optimizer_payload(model.optimizer)
    header["optimizer"] = optimizer_header
    arrays.update(optimizer_arrays)
    header["checkpoint"] = {
        "epoch": int(epoch),
        "loss": loss_config(model.loss),
        "metrics": list(model.metric_names),
        "history": {}
        if history is None
        else {key: [float(v) for v in values] for key, values in history.history.items()},
        "history_epochs": [] if history is None else [int(e) for e in history.epoch],
        "fit_settings": dict(fit_settings or {}),
        "callbacks": [
            {"key": callback.state_key(), "state": callback.get_state()} for callback in callbacks
        ],
    }
    write_model_file(path, header, arrays)


def _check_slots_fit(entry: dict[str, Any], model: Network, path: str) -> None:
    """The optimizer's moments must be one per parameter of the model, in the model's dtype."""
    wanted = (model.params.size, np.dtype(model.dtype).name)
    if entry.get("size") is not None and (entry["size"], entry["dtype"]) != wanted:
        raise ModelFileError(
            f"{path!r}: the optimizer's slots must hold the model's {wanted[0]} parameters in "
            f"{wanted[1]}, got {entry['size']} in {entry['dtype']}"
        )


def read_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint written by :class:`ModelCheckpoint`; :class:`ModelFileError` if unsound."""
    header, arrays = read_model_file(path, listing_fits_model)
    path = os.fspath(path)
    entry = header.get("checkpoint")
    if header["kind"] not in ("Sequential", "Model") or not isinstance(entry, dict):
        raise ModelFileError(
            f"{path!r} is a model file, not a checkpoint: it has no training state"
        )
    model = restore_network(header, arrays, path)
    restore_vocabulary(header, model, path)
    optimizer = check_optimizer_arrays(header, arrays, path)
    if optimizer is None:
        raise ModelFileError(f"{path!r}: a checkpoint must hold its optimizer")
    _check_slots_fit(header["optimizer"], model, path)
    try:
        epoch = check.check_non_negative_int(entry["epoch"], "checkpoint epoch")
        checkpoint = Checkpoint(
            model,
            optimizer,
            epoch,
            dict(entry["loss"]),
            [str(name) for name in entry["metrics"]],
            {str(k): [float(v) for v in values] for k, values in entry["history"].items()},
            [int(e) for e in entry["history_epochs"]],
            dict(entry.get("fit_settings", {})),  # absent from checkpoints of version 0.1.0
            _callback_states(entry.get("callbacks", [])),
            checked_classes(header.get("classes"), model, path),
        )
        _check_fit_settings(checkpoint.fit_settings)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ModelFileError(f"{path!r}: the checkpoint entry is malformed: {error}") from None
    # The history holds one entry per completed epoch (older files may hold none).
    lengths = {len(values) for values in checkpoint.history.values()}
    if checkpoint.history_epochs or checkpoint.history:
        epochs = checkpoint.history_epochs  # its length first: never a range of a huge epoch
        if len(epochs) != epoch or epochs != list(range(epoch)) or lengths != {epoch}:
            raise ModelFileError(
                f"{path!r}: the checkpoint's history must hold one entry per completed epoch "
                f"({epoch}), got epochs {checkpoint.history_epochs[:5]}... and lengths "
                f"{sorted(lengths)[:5]}"
            )
    return checkpoint


def _check_fit_settings(settings: dict[str, Any]) -> None:
    """The fit settings a checkpoint keeps must be ones ``fit`` itself would accept."""
    unknown = sorted(set(settings) - {"batch_size", "shuffle"})
    if unknown:
        raise ValueError(f"fit_settings holds unknown settings {unknown}")
    if "batch_size" in settings:
        check.check_positive_int(settings["batch_size"], "fit_settings batch_size")
    if "shuffle" in settings and not isinstance(settings["shuffle"], bool):
        raise TypeError(
            f"fit_settings shuffle must be true or false, got {check.describe(settings['shuffle'])}"
        )


def _callback_states(entries: Any) -> list[dict[str, Any]]:
    """The saved callback states, checked: ``{"key": str, "state": {name: number or None}}``."""
    if not isinstance(entries, list):
        raise TypeError(f"callbacks must be a list, got {type(entries).__name__}")
    states = []
    for entry in entries:
        state = entry.get("state") if isinstance(entry, dict) else None
        if not (isinstance(entry.get("key"), str) and isinstance(state, dict)) or not all(
            value is None
            or (isinstance(value, (int, float)) and not isinstance(value, bool)
                and np.isfinite(value) and abs(value) < 2**63)
            for value in state.values()
        ):  # fmt: skip
            raise ValueError(
                f"a callback entry must hold a key and finite numbers, got {entry!r}"[:200]
            )
        states.append({"key": entry["key"], "state": dict(state)})
    return states


def _architecture(config: dict[str, Any]) -> Any:
    """Layer classes and configs without the input shape (set only once a model is built); a
    graph's whole description."""
    if "graph" in config:  # names may differ between two builds: compare by position
        graph = config["graph"]
        position = {spec["name"]: f"input {i}" for i, spec in enumerate(graph["inputs"])}
        position.update({spec["name"]: f"layer {i}" for i, spec in enumerate(graph["layers"])})

        def ref(tensor: list[Any]) -> list[Any]:
            return [position.get(tensor[0]), *tensor[1:]]

        return (
            [(spec["shape"], spec["dtype"]) for spec in graph["inputs"]],
            [(spec["class_name"], spec["config"]) for spec in graph["layers"]],
            [(position.get(n["layer"]), [ref(t) for t in n["inputs"]]) for n in graph["nodes"]],
            [ref(t) for t in graph["outputs"]],
        )
    return [
        (spec["class_name"], {k: v for k, v in spec["config"].items() if k != "input_shape"})
        for spec in config["layers"]
    ]


def check_resumable(
    model: Network,
    checkpoint: Checkpoint,
    sample_shape: tuple[int, ...],
    loss: Loss,
    optimizer: Optimizer,
    settings: dict[str, Any] | None = None,
) -> None:
    """Raise ``ValueError`` unless ``fit`` on ``model`` with these arguments can resume it.

    ``settings`` holds this fit's ``batch_size``, ``shuffle``, ``metrics`` and ``logged`` (the
    history keys it will write): a resumed run is bit-identical only when they match.
    """
    settings = settings or {}
    if "metrics" in settings and settings["metrics"] != checkpoint.metric_names:
        raise ValueError(
            f"metrics must be {checkpoint.metric_names} as in the checkpoint, "
            f"got {settings['metrics']}"
        )
    for key in ("batch_size", "shuffle"):
        if key in checkpoint.fit_settings and key in settings:
            if checkpoint.fit_settings[key] != settings[key]:
                raise ValueError(
                    f"{key} must be {checkpoint.fit_settings[key]!r} as in the checkpoint, "
                    f"got {settings[key]!r}"
                )
    if checkpoint.history and "logged" in settings:
        if sorted(checkpoint.history) != sorted(settings["logged"]):
            raise ValueError(
                f"this fit logs {sorted(settings['logged'])} but the checkpoint's history holds "
                f"{sorted(checkpoint.history)}: give the same validation data and metrics"
            )
    saved = checkpoint.model
    if np.dtype(model.dtype) != np.dtype(saved.dtype):
        raise ValueError(
            f"resume_from holds a {np.dtype(saved.dtype).name} model, got a "
            f"{np.dtype(model.dtype).name} model to resume"
        )
    if _architecture(model.get_config()) != _architecture(saved.get_config()):
        raise ValueError(
            f"resume_from holds a different architecture: {saved!r}, got a model {model!r}"
        )
    if saved.is_graph:
        pass  # the architectures, Input shapes included, matched above
    elif saved.input_shape != tuple(sample_shape):
        if len(saved.input_shape) == len(sample_shape) == 1:
            raise ValueError(
                f"X must have {saved.input_shape[0]} features like the checkpoint's model, got "
                f"{sample_shape[0]}"
            )
        raise ValueError(
            f"X must have samples of shape {saved.input_shape} like the checkpoint's model, got "
            f"{tuple(sample_shape)}"
        )
    if loss_config(loss) != checkpoint.loss:
        raise ValueError(
            f"loss must be {checkpoint.loss} as in the checkpoint, got {loss_config(loss)}"
        )
    if optimizer.get_config() != checkpoint.optimizer.get_config():
        raise ValueError(
            f"optimizer must be {checkpoint.optimizer.get_config()} as in the checkpoint, got "
            f"{optimizer.get_config()}"
        )


def apply_checkpoint(model: Network, checkpoint: Checkpoint, history: History) -> int:
    """Copy weights, batch-norm state, rng state and history into ``model``; return the epoch."""
    model.set_state(checkpoint.model.get_state())
    history.history = {key: list(values) for key, values in checkpoint.history.items()}
    history.epoch = list(checkpoint.history_epochs)
    return checkpoint.epoch


class ModelCheckpoint(Callback):
    """Save a checkpoint every ``every_n_epochs`` epochs and/or when ``monitor`` improves.

    A checkpoint holds the model, the optimizer's state (moments, update count, hence the
    learning-rate schedule's position), the completed epochs, the history and the model's
    random-generator state; ``fit(..., resume_from=filepath)`` continues from it exactly.
    Writes are atomic: an interrupted save leaves the previous checkpoint intact.

    Parameters
    ----------
    filepath : str or os.PathLike
        Where to save. ``"{epoch}"`` in it is replaced by the number of completed epochs.
    every_n_epochs : int or None
        Save after every this many epochs; ``None`` saves only on improvement.
    monitor : str, optional
        A logged value (``"val_loss"``, ``"val_accuracy"``, ...): also save whenever it improves.
    mode : {"auto", "min", "max"}
        Whether ``monitor`` improves downwards or upwards; ``"auto"`` maximises names holding
        ``acc`` or ``r2`` and minimises the rest.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from scratchnn import ModelCheckpoint, Sequential
    >>> from scratchnn.layers import Dense
    >>> X, y = np.arange(8.0).reshape(4, 2), np.array([0.0, 1.0, 2.0, 3.0])
    >>> path = os.path.join(tempfile.mkdtemp(), "run.npz")
    >>> model = Sequential([Dense(1)], seed=0)
    >>> _ = model.fit(X, y, epochs=2, verbose=0, callbacks=[ModelCheckpoint(path)])
    >>> resumed = Sequential([Dense(1)], seed=0)
    >>> _ = resumed.fit(X, y, epochs=3, verbose=0, resume_from=path)
    >>> full = Sequential([Dense(1)], seed=0)
    >>> _ = full.fit(X, y, epochs=3, verbose=0)  # the same run, never interrupted
    >>> bool(np.array_equal(full.params, resumed.params))
    True
    """

    def __init__(
        self,
        filepath: str | os.PathLike,
        every_n_epochs: int | None = 1,
        monitor: str | None = None,
        mode: str = "auto",
    ) -> None:
        if not isinstance(filepath, (str, os.PathLike)):
            raise TypeError(
                f"filepath must be a str or os.PathLike, got {check.describe(filepath)}"
            )
        if every_n_epochs is not None:
            every_n_epochs = check.check_positive_int(every_n_epochs, "every_n_epochs")
        if monitor is not None and not isinstance(monitor, str):
            raise TypeError(f"monitor must be a logged name or None, got {check.describe(monitor)}")
        if every_n_epochs is None and monitor is None:
            raise ValueError("every_n_epochs or monitor must be given, got neither")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {check.describe(mode)}")
        if mode == "auto" and monitor is not None:
            mode = "max" if ("acc" in monitor or "r2" in monitor) else "min"
        self.filepath = os.fspath(filepath)
        self.every_n_epochs = every_n_epochs
        self.monitor = monitor
        self.mode = mode
        self.best = -np.inf if mode == "max" else np.inf
        self.saved: list[str] = []
        self._due = False

    def state_key(self) -> str:
        return f"ModelCheckpoint({self.filepath!r}, monitor={self.monitor!r})"

    def check_before_fit(self) -> None:
        """Refuse, before any training, a path that no save could write."""
        path = Path(self.filepath.replace("{epoch}", "1"))
        if not path.parent.is_dir():
            raise ValueError(
                f"ModelCheckpoint filepath must be in an existing folder, got {self.filepath!r}"
            )
        if path.is_dir():
            raise ValueError(
                f"ModelCheckpoint filepath must name a file, got the folder {self.filepath!r}"
            )

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        self.best = -np.inf if self.mode == "max" else np.inf
        state = self.resumed_state()
        if state is not None and state.get("best") is not None:
            self.best = float(state["best"])  # a resumed run saves only what beats this

    def get_state(self) -> dict[str, Any]:
        """The best monitored value so far (``None`` while there is none)."""
        return {"best": float(self.best) if np.isfinite(self.best) else None}

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        logs = logs or {}
        due = self.every_n_epochs is not None and (epoch + 1) % self.every_n_epochs == 0
        improved = False
        if self.monitor is not None:
            if self.monitor not in logs:
                raise ValueError(
                    f"ModelCheckpoint monitors {self.monitor!r}, which this fit does not log "
                    f"(logged: {sorted(logs)}); pass validation data or pick another monitor"
                )
            value = logs[self.monitor]
            improved = value > self.best if self.mode == "max" else value < self.best
            if improved:
                self.best = value
        self._due = due or improved

    def after_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        """Save, once every callback has counted this epoch (their states go in the file)."""
        if self._due:
            self._due = False
            path = self.filepath.replace("{epoch}", str(epoch + 1))
            settings = {key: self.params[key] for key in ("batch_size", "shuffle")}
            save_checkpoint(self.model, path, epoch + 1, self.params["history"], settings,
                            self.params.get("callbacks", []))  # fmt: skip
            self.saved.append(path)
