"""The ``fit`` loop of :class:`~scratchnn.Sequential`: checks first, then mini-batch training."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _validation as check
from .callbacks import Callback, History, ProgressLogger
from .losses import Loss, get_loss
from .metrics import Metric, get_metric
from .optimizers import Optimizer, get_optimizer

if TYPE_CHECKING:
    from .checkpoint import Checkpoint
    from .model import Sequential


class DivergenceWarning(RuntimeWarning):
    """The loss became NaN or infinite during ``fit``; training stopped."""


@dataclass
class FitPlan:
    """Everything ``fit`` was asked to do, checked and converted."""

    X: np.ndarray
    y: np.ndarray
    sample_weight: np.ndarray | None
    loss: Loss
    optimizer: Optimizer
    epochs: int
    batch_size: int
    shuffle: bool
    validation: tuple[np.ndarray, np.ndarray] | None
    metric_names: list[str]
    metrics: list[tuple[str, Metric]]
    callbacks: list[Callback]
    verbose: int
    resume: Checkpoint | None = None


def resolve_metrics(names: Sequence[Any]) -> list[tuple[str, Metric]]:
    """``(name, function)`` pairs for metric names or functions (one alone is a list of one)."""
    if isinstance(names, str) or callable(names):
        names = [names]
    if not isinstance(names, Iterable) or isinstance(names, Mapping):
        raise TypeError(
            f"metrics must be a list of metric names or functions, got {check.describe(names)}"
        )
    return [get_metric(name) for name in names]


def prepare_fit(
    model: Sequential,
    X: Any,
    y: Any,
    loss: Any,
    optimizer: Any,
    epochs: Any,
    batch_size: Any,
    shuffle: Any,
    validation_data: Any,
    validation_split: Any,
    metrics: Any,
    callbacks: Any,
    verbose: Any,
    sample_weight: Any,
    resume_from: Any = None,
) -> FitPlan:
    """Check every argument of ``fit`` and convert the data; changes no state of ``model``."""
    X = model._check_X(X)
    y = check.check_array(y, "y", ndim=(1, 2))
    check.check_same_length(X, y)
    loss = get_loss(loss)
    optimizer = get_optimizer(optimizer)
    epochs = check.check_positive_int(epochs, "epochs")
    batch_size = check.check_positive_int(batch_size, "batch_size")
    if not isinstance(shuffle, bool):
        raise TypeError(f"shuffle must be True or False, got {check.describe(shuffle)}")
    if verbose not in (0, 1, 2) or isinstance(verbose, bool):
        raise ValueError(f"verbose must be 0, 1 or 2, got {check.describe(verbose)}")
    validation_split = check.check_number(
        validation_split, "validation_split", low=0.0, high=1.0, high_inclusive=False
    )
    metric_pairs = resolve_metrics(metrics)
    if isinstance(callbacks, (Callback, str, Mapping)) or not isinstance(callbacks, Iterable):
        raise TypeError(
            f"callbacks must be a list of scratchnn Callbacks, got {check.describe(callbacks)}"
        )
    callbacks = list(callbacks)
    for index, callback in enumerate(callbacks):
        if not isinstance(callback, Callback):
            raise TypeError(
                f"callbacks[{index}] must be a scratchnn Callback, got {check.describe(callback)}"
            )
    if sample_weight is not None:
        sample_weight = check.check_array(sample_weight, "sample_weight", ndim=1, dtype=model.dtype)
        check.check_same_length(X, sample_weight, "X", "sample_weight")
        if np.any(sample_weight < 0):
            raise ValueError("sample_weight must be non-negative, got negative weights")
        if not np.any(sample_weight > 0):
            raise ValueError("sample_weight must hold at least one positive weight, got all zeros")

    n_outputs = model.output_dim if model.built else model._output_dim_for(X.shape[1])
    with np.errstate(over="ignore"):
        y = loss.prepare_targets(y, n_outputs, model.dtype)
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError(
            f"y holds values too large for {np.dtype(model.dtype).name} (largest magnitude "
            f"{np.max(np.abs(y)):g} after conversion); scale the targets or use dtype='float64'"
        )

    validation = None
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise TypeError(
                "validation_data must be a pair (X_val, y_val), "
                f"got {check.describe(validation_data)}"
            )
        X_val = model._check_X(validation_data[0], "validation_data[0]")
        if X_val.shape[1] != X.shape[1]:
            raise ValueError(
                f"validation_data[0] must have {X.shape[1]} features like X, got {X_val.shape[1]}"
            )
        y_val = check.check_array(validation_data[1], "validation_data[1]", ndim=(1, 2))
        check.check_same_length(X_val, y_val, "validation_data[0]", "validation_data[1]")
        validation = (X_val, loss.prepare_targets(y_val, n_outputs, model.dtype))
    elif validation_split > 0:
        n_train = int(len(X) * (1.0 - validation_split))
        if n_train < 1 or n_train == len(X):
            raise ValueError(
                f"validation_split={validation_split:g} leaves no sample for training or "
                f"validation out of {len(X)}"
            )
        # As in Keras, the last samples (before any shuffling) are held out.
        validation = (X[n_train:], y[n_train:])
        X, y = X[:n_train], y[:n_train]
        if sample_weight is not None:
            sample_weight = sample_weight[:n_train]

    logged = ["loss", *(name for name, _ in metric_pairs)]
    if validation is not None:
        logged += [f"val_{name}" for name in logged]

    resume = None
    if resume_from is not None:
        from .checkpoint import check_resumable, read_checkpoint

        resume = read_checkpoint(resume_from)
        settings = {
            "batch_size": batch_size,
            "shuffle": shuffle,
            "metrics": [name for name, _ in metric_pairs],
            "logged": logged,
        }
        check_resumable(model, resume, X.shape[1], loss, optimizer, settings)
        optimizer = resume.optimizer  # carries the moments and the update count
    for index, callback in enumerate(callbacks):
        monitor = getattr(callback, "monitor", None)
        if monitor is not None and monitor not in logged:
            raise ValueError(
                f"callbacks[{index}] monitors {monitor!r}, which this fit does not log "
                f"(it logs {logged}); pass validation data or pick another monitor"
            )

    if not model.built:
        model.build(X.shape[1])
    return FitPlan(
        X, y, sample_weight, loss, optimizer, epochs, batch_size, shuffle, validation,
        [name for name, _ in metric_pairs], metric_pairs, callbacks, verbose, resume,
    )  # fmt: skip


def evaluate_loss_and_metrics(
    model: Sequential,
    X: np.ndarray,
    y: np.ndarray,
    loss: Loss,
    metrics: list[tuple[str, Metric]],
    batch_size: int = 8192,
    prefix: str = "",
) -> dict[str, float]:
    """Loss (with weight penalties) and metrics over ``(X, y)`` in inference mode."""
    fused = model._uses_fused_head(loss)
    outputs = np.empty((len(X), model.output_dim), dtype=model.dtype)
    total = 0.0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for start in range(0, len(X), batch_size):
            rows = slice(start, start + batch_size)
            outputs[rows] = model.forward(X[rows], training=False)
            if fused:
                value = loss.on_logits()(model.layers[-1].pre_activation, y[rows])
            else:
                value = loss(outputs[rows], y[rows])
            total += value * len(outputs[rows])
    result = {
        f"{prefix}loss": total / len(X) + sum(l.regularization_penalty() for l in model.layers)
    }
    for name, function in metrics:
        result[f"{prefix}{name}"] = function(y, outputs)
    return result


def run_fit(model: Sequential, plan: FitPlan) -> History:
    """Train ``model`` as ``plan`` says; returns the history."""
    history = History()
    start_epoch = 0
    if plan.resume is not None:
        from .checkpoint import apply_checkpoint

        start_epoch = apply_checkpoint(model, plan.resume, history)
    model.history = history  # what a ModelCheckpoint saves
    model._fit_settings = {"batch_size": plan.batch_size, "shuffle": plan.shuffle}
    callbacks: list[Callback] = [history, *plan.callbacks]
    if plan.verbose:
        callbacks.append(ProgressLogger(plan.verbose, plan.epochs))
    for callback in callbacks:
        callback.set_model(model)
    model.loss, model.optimizer, model.metric_names = plan.loss, plan.optimizer, plan.metric_names
    model.stop_training = False

    X, y, weights, loss, optimizer = plan.X, plan.y, plan.sample_weight, plan.loss, plan.optimizer
    n, batch_size = len(X), plan.batch_size
    model._n_batches = math.ceil(n / batch_size)
    # Outputs seen during the epoch, for the training metrics (no extra forward pass).
    seen_outputs = np.empty((n, model.output_dim), model.dtype) if plan.metrics else None

    # Only callbacks that override on_batch_end are called per batch (no per-batch dict else).
    batch_callbacks = [cb for cb in callbacks if type(cb).on_batch_end is not Callback.on_batch_end]
    # The weights before the latest update: the last ones whose loss was finite if the next one
    # is not. Refilled before every step (a copy of ~1 MB for 235k parameters, ~1% of a batch).
    last_finite_weights = model.params.copy()

    for callback in callbacks:
        callback.on_train_begin()
    for epoch in range(start_epoch, plan.epochs):
        for callback in callbacks:
            callback.on_epoch_begin(epoch)
        # One full batch holds every sample in any order: skipping its shuffle saves a permutation
        # and two gathers per step, most of the fit overhead of a tiny full-batch net.
        shuffle = plan.shuffle and model._n_batches > 1
        order = model.rng.permutation(n) if shuffle else None
        total_loss = 0.0
        for batch in range(model._n_batches):
            rows = slice(batch * batch_size, (batch + 1) * batch_size)
            if order is not None:
                rows = order[rows]  # only this batch is gathered: no copy of the whole data set
            batch_weights = None if weights is None else weights[rows]
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                value, outputs, _ = model._loss_and_gradients(
                    X[rows], y[rows], loss, batch_weights, input_grad=False
                )
            if not math.isfinite(value):
                _stop_on_divergence(model, history, value, epoch, batch, last_finite_weights)
                break
            np.copyto(last_finite_weights, model.params)
            optimizer.step(model.params, model.grads)
            total_loss += value * len(outputs)
            if seen_outputs is not None:
                seen_outputs[rows] = outputs
            for callback in batch_callbacks:
                callback.on_batch_end(batch, {"loss": value})
        if history.stop_reason is not None:
            break
        logs = {"loss": total_loss / n}
        for name, function in plan.metrics:
            logs[name] = function(y, seen_outputs)
        if plan.validation is not None:
            X_val, y_val = plan.validation
            logs.update(
                evaluate_loss_and_metrics(model, X_val, y_val, loss, plan.metrics, prefix="val_")
            )
        for callback in callbacks:
            callback.on_epoch_end(epoch, logs)
        if model.stop_training:
            history.stop_reason = (
                history.stop_reason or f"stopped by a callback after epoch {epoch + 1}"
            )
            break
    for callback in callbacks:
        callback.on_train_end()
    return history


def _stop_on_divergence(
    model: Sequential,
    history: History,
    value: float,
    epoch: int,
    batch: int,
    last_finite_weights: np.ndarray,
) -> None:
    """Stop training on a non-finite loss, restoring the weights before the last update.

    The current weights gave the non-finite loss (they may be finite yet huge, 1e130 in float64,
    so that every prediction overflows); the ones before the last update gave a finite loss.
    """
    model.params[...] = last_finite_weights
    message = (
        f"the loss became {value} at epoch {epoch + 1}, batch {batch + 1}: training stopped and "
        "the model keeps its last finite weights, those before the update that diverged (try a "
        "smaller learning rate)"
    )
    history.stop_reason = message
    model.stop_training = True
    warnings.warn(message, DivergenceWarning, stacklevel=4)
