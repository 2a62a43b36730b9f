"""Statistics recorded from the real training passes: :class:`Diagnostics`, :func:`diagnose`.

Activations come from the step's observers (each layer's training output, no second pass),
gradients from ``layer.grads`` after the backward, updates from a copy of the weights taken
before the step. Sums run over the sampled steps of an epoch and become one value per epoch.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from .. import _validation as check
from ..callbacks import Callback
from ..labels import label_indices
from ..losses import Loss
from ..network import Network
from ..sources import ArrayGroup
from ..training import (
    QUIET,
    TrainingStep,
    losses_per_output,
    prepare_targets,
    several_targets,
    target_ndim,
)
from .over_time import StepNormSums, first_to_last
from .report import Report, check_thresholds, describe_layers, find_problems
from .statistics import ActivationSums, MeanSeries, norm


class _EpochRecord:
    """The sums of one epoch for every layer; :meth:`values` turns them into series values."""

    def __init__(self, layers: list[Any]) -> None:
        self.activations = [
            ActivationSums(layer.output_activation, _units(layer_output_shape(layer)))
            for layer in layers
        ]
        self.steps = MeanSeries()
        self.sampled = 0  # sampled batches whose activations were added
        # Recurrent layers: dL/dx per time step (see .over_time), by layer index.
        self.time = {
            index: StepNormSums(bool(getattr(layer, "go_backwards", False)))
            for index, layer in enumerate(layers)
            if layer.steps_through_time
        }

    def add_input_gradient(self, index: int, grad_inputs: Any) -> None:
        """Add what a recurrent layer's backward returned, ``dL/dx (N, T, F)`` (first of a list)."""
        if index not in self.time:
            return
        grad = grad_inputs[0] if isinstance(grad_inputs, (list, tuple)) else grad_inputs
        if grad is not None and grad.ndim == 3:
            self.time[index].add(grad)

    def time_curves(self) -> dict[int, np.ndarray]:
        """Each recurrent layer's gradient norm per time step, over the sampled batches."""
        return {i: sums.curve() for i, sums in self.time.items() if sums.sums is not None}

    def add_gradients(self, layers: list[Any]) -> None:
        """Add the gradient norms of the latest backward (``layer.grads``)."""
        for index, layer in enumerate(layers):
            if not layer.grads:
                continue
            squares = 0.0
            for name, grad in layer.grads.items():
                value = norm(grad)
                squares += value * value
                self.steps.add(f"layer{index}/grad_norm/{name}", value)
            self.steps.add(f"layer{index}/grad_norm", math.sqrt(squares))

    def add_updates(self, layers: list[Any], before: list[dict[str, np.ndarray]]) -> None:
        """Add ``||P - P_before|| / ||P_before||`` per array (``before`` is then overwritten)."""
        for index, (layer, saved) in enumerate(zip(layers, before, strict=True)):
            for name, old in saved.items():
                weight = norm(old)
                np.subtract(layer.params[name], old, out=old)
                ratio = norm(old) / weight if weight > 0 else float("nan")
                self.steps.add(f"layer{index}/update_ratio/{name}", ratio)

    def values(self, layers: list[Any]) -> dict[str, float]:
        """This epoch's value of every series (weights and state as they are now)."""
        values = self.steps.means()
        for index, (layer, sums) in enumerate(zip(layers, self.activations, strict=True)):
            for name, value in sums.summary().items():
                values[f"layer{index}/act/{name}"] = value
            for name, param in layer.params.items():
                values[f"layer{index}/weight_norm/{name}"] = norm(param)
            for name, state in layer.state.items():
                values[f"layer{index}/state/{name}/mean"] = float(np.mean(state, dtype=float))
                values[f"layer{index}/state/{name}/min"] = float(np.min(state))
                values[f"layer{index}/state/{name}/max"] = float(np.max(state))
        _add_gradient_ratios(layers, values)
        for index, curve in self.time_curves().items():
            values[f"layer{index}/time_grad_ratio"] = first_to_last(curve)
        return values


def layer_output_shape(layer: Any) -> tuple[int, ...]:
    """A built layer's output shape (no batch axis); its first output's for a layer with
    several (``return_state``, ``return_attention_scores``), whose statistics are its first's."""
    shape = layer.output_shape(layer.input_shape)
    return tuple(shape[0] if isinstance(shape, list) else shape)


def _first(output: Any) -> np.ndarray:
    """A layer's output, or its first output when it has several."""
    return output[0] if isinstance(output, list) else output


def _units(shape: tuple) -> int:
    """The units of an output of ``shape``: every position, or with an axis of open length
    (``None``: sequences of any length) the features of the last axis (see :mod:`.statistics`)."""
    if None not in shape:
        return int(np.prod(shape))
    return shape[-1] if shape[-1] is not None else 1


def _add_gradient_ratios(layers: list[Any], values: dict[str, float]) -> None:
    below = None
    for index in range(len(layers)):
        current = values.get(f"layer{index}/grad_norm")
        if current is None:
            continue
        if below is not None:
            values[f"layer{index}/grad_ratio"] = current / below if below > 0 else float("nan")
        below = current


ACTIVATION_VALUES = 1 << 20  # most output values a layer keeps for histograms (4 MB float32)


def _batches(every: int) -> str:
    """``"the batches"``, or ``"every 3rd batch"`` for ``every=3``."""
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(every % 10 if every % 100 not in (11, 12, 13) else 0)
    return "the batches" if every == 1 else f"every {every}{suffix or 'th'} batch"


class Diagnostics(Callback):
    """Record per-layer statistics while ``fit`` trains, and report what is wrong.

    Every ``every``-th batch of an epoch (batch 0, ``every``, ...), it records each layer's
    activations on the batch's first ``sample`` rows (the batches are shuffled, so these are a
    random sample), the gradient norm of each parameter array and the update/weight ratio of
    the step; for each recurrent layer the norm of ``dL/dx_t`` per time step (see
    :mod:`scratchnn.diagnostics.over_time`); at the end of each epoch the weight norms and
    batch-norm statistics. The report
    keeps the sampled rows of the last epoch's outputs (up to :data:`ACTIVATION_VALUES` values a
    layer) for histograms (``report.activations``, ``report.activations_from`` says which). The
    definitions are in :mod:`scratchnn.diagnostics.statistics`, the thresholds in
    :data:`scratchnn.diagnostics.THRESHOLDS`.

    After each epoch ``report`` holds a :class:`~scratchnn.diagnostics.Report` (also set as
    ``history.diagnostics`` on the History ``fit`` returns) and ``series`` the per-epoch values.
    A checkpoint keeps the series (in this callback's saved state), so a resumed fit's report
    covers every epoch.

    Parameters
    ----------
    every : int
        Record every ``every``-th batch (1: all).
    sample : int
        Most rows of a batch whose activations are reduced. Gradients and updates are always
        those of the whole batch.
    thresholds : dict, optional
        Overrides of :data:`~scratchnn.diagnostics.THRESHOLDS`.

    Examples
    --------
    >>> import numpy as np
    >>> from scratchnn import Dense, Diagnostics, Sequential
    >>> X = np.random.default_rng(0).normal(size=(64, 3))
    >>> model = Sequential([Dense(8, "relu"), Dense(1)], seed=0)
    >>> history = model.fit(X, X.sum(axis=1), epochs=2, verbose=0, callbacks=[Diagnostics()])
    >>> history.diagnostics.healthy
    True
    """

    def __init__(self, every: int = 1, sample: int = 64, thresholds: Any = None) -> None:
        self.every = check.check_positive_int(every, "every")
        self.sample = check.check_positive_int(sample, "sample")
        self.thresholds = check_thresholds(thresholds)
        self.series: dict[str, list[float]] = {}
        self.report: Report | None = None
        self._record: _EpochRecord | None = None
        self._timed: list[Any] = []  # recurrent layers, whose input gradient is measured
        self._input_grads: list[bool] = []
        self._due = False
        self._before: list[dict[str, np.ndarray]] = []
        self._start = 0

    def state_key(self) -> str:
        return f"Diagnostics(every={self.every}, sample={self.sample})"

    # -- the fit's hooks ----------------------------------------------------------------------
    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        step = self.params.get("step")
        if not isinstance(step, TrainingStep):
            raise ValueError(
                "Diagnostics needs the fit's training step in params['step'] (Sequential.fit "
                "gives it); this training loop gives none"
            )
        self._step = step
        self._layers = list(self.model.layers)
        self._described = describe_layers(self.model)
        self._before = [{k: np.empty_like(v) for k, v in layer.params.items()} for layer in
                        self._layers]  # fmt: skip
        self._rows: dict[int, list[np.ndarray]] = {}
        history = self.params.get("history")
        done = len(history.epoch) if history is not None else 0
        self.series = _restore_series(self.resumed_state(), done)
        self._start = done  # epochs a resumed fit has done: NaN where nothing was saved
        step.observers.append(self._observe)
        self._timed = [layer for layer in self._layers if layer.steps_through_time]
        if self._timed:
            step.backward_observers.append(self._observe_backward)

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self._record = _EpochRecord(self._layers)
        self._rows = {}  # this epoch's sampled outputs, for the report's histograms

    def on_batch_begin(self, batch: int, logs: dict[str, float] | None = None) -> None:
        self._due = batch % self.every == 0
        self._batch = batch
        if self._due:
            for layer, saved in zip(self._layers, self._before, strict=True):
                for name, array in saved.items():
                    np.copyto(array, layer.params[name])
            self._input_grads = _want_input_gradients(self._timed)

    def _observe_backward(self, index: int, layer: Any, grad_inputs: Any) -> None:
        if self._due and self._record is not None:
            self._record.add_input_gradient(index, grad_inputs)

    def _observe(self, index: int, layer: Any, output: np.ndarray) -> None:
        if not self._due or self._record is None:
            return
        rows = _first(output)[: self.sample]
        self._record.activations[index].add(rows)
        if index == 0:
            self._record.sampled += 1
        kept = self._rows.setdefault(index, [])
        room = max(self.sample, ACTIVATION_VALUES // max(1, rows[0].size if len(rows) else 1))
        room -= sum(len(block) for block in kept)
        if room > 0:
            kept.append(np.array(rows[:room]))

    def on_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
        if not self._due or self._record is None:
            return
        with np.errstate(**QUIET):  # a diverging network's norms overflow: that is the finding
            self._record.add_gradients(self._layers)
            self._record.add_updates(self._layers, self._before)
        _restore_input_gradients(self._timed, self._input_grads)
        self._due = False

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self._close_epoch()

    def on_train_end(self, logs: dict[str, float] | None = None) -> None:
        if self._record is not None and self._record.sampled:  # a diverged, unfinished epoch
            self._close_epoch()
        self._record = None
        if self._observe in self._step.observers:
            self._step.observers.remove(self._observe)
        if self._observe_backward in self._step.backward_observers:
            self._step.backward_observers.remove(self._observe_backward)
        if self._due:  # a batch that diverged ends the fit before its on_batch_end
            _restore_input_gradients(self._timed, self._input_grads)
            self._due = False

    def get_state(self) -> dict[str, Any]:
        """The series, flat: ``{"layer1/act/mean@0": value}`` (NaN saved as ``None``)."""
        return {
            f"{key}@{epoch}": float(value) if math.isfinite(value) else None
            for key, values in self.series.items()
            for epoch, value in enumerate(values)
        }

    def _close_epoch(self) -> None:
        record, self._record = self._record, None
        if record is None:
            return
        with np.errstate(**QUIET):
            values = record.values(self._layers)
        epochs = max((len(v) for v in self.series.values()), default=self._start)
        for key in [*self.series, *(key for key in values if key not in self.series)]:
            column = self.series.setdefault(key, [float("nan")] * epochs)
            column.append(values.get(key, float("nan")))
        self.report = Report(
            self._described,
            {k: list(v) for k, v in self.series.items()},
            find_problems(self._described, self.series, self.thresholds),
            dict(self.thresholds),
            {i: np.concatenate(blocks) for i, blocks in self._rows.items() if blocks},
            f"sampled from {_batches(self.every)} of epoch {epochs + 1} (up to {self.sample} "
            "rows of each), in training mode",
            record.time_curves(),
        )
        history = self.params.get("history")
        if history is not None:
            history.diagnostics = self.report


def _want_input_gradients(layers: list[Any]) -> list[bool]:
    """Make ``layers`` compute ``dL/dx`` (a first layer skips it); returns what they had."""
    before = [layer.needs_input_grad for layer in layers]
    for layer in layers:
        layer.needs_input_grad = True
    return before


def _restore_input_gradients(layers: list[Any], before: list[bool]) -> None:
    for layer, wanted in zip(layers, before, strict=True):
        layer.needs_input_grad = wanted


_STATE_KEY = re.compile(r"^(layer\d+/[\w/]+)@(\d+)$")


def _restore_series(state: Mapping[str, Any] | None, epochs: int) -> dict[str, list[float]]:
    """The series a checkpoint saved (:meth:`Diagnostics.get_state`), ``epochs`` values each."""
    series: dict[str, list[float]] = {}
    if not state or not epochs:
        return series
    for name, value in state.items():
        match = _STATE_KEY.match(name)
        if match is None or int(match.group(2)) >= epochs:
            continue
        column = series.setdefault(match.group(1), [float("nan")] * epochs)
        column[int(match.group(2))] = float("nan") if value is None else float(value)
    return series


def _losses(model: Network, loss: Any) -> list[Loss]:
    """One loss per output (as ``fit`` resolves them); ``None`` is the loss of the last fit, else
    the one each output layer suits."""
    if loss is None:
        fitted = getattr(model, "loss", None)
        fitted = fitted if isinstance(fitted, list) else [fitted]
        if len(fitted) == model.n_outputs and all(isinstance(one, Loss) for one in fitted):
            return fitted
    return losses_per_output(model, loss)


def _targets(model: Network, y: Any, losses: list[Loss], rows: int, X: Any) -> list[np.ndarray]:
    """The targets of each output, checked against its shape and loss (as ``fit`` takes them),
    before the model is built (a stack's output shape then comes from ``X``)."""
    if model.n_outputs > 1:
        return several_targets(model, losses, y, "y", rows).arrays
    shape = model.output_shapes[0] if model.built else model.output_shape_for(X.shape[1:])
    target = check.check_array(y, "y", ndim=target_ndim(shape))
    if len(target) != rows:
        raise ValueError(f"y must hold one target per row of X ({rows} samples), got {len(target)}")
    return [prepare_targets(losses[0], target, shape, model.dtype, "y")]


def diagnose(
    model: Network,
    X: Any,
    y: Any,
    loss: str | Loss | None = None,
    thresholds: Any = None,
) -> Report:
    """Diagnose one batch: one training-mode forward and backward, no update, nothing changed.

    The same statistics as :class:`Diagnostics` (all rows sampled), except the update ratios,
    which need a step. The weights, batch-norm statistics, random generator and gradients are
    as before the call. ``X`` is one batch: a few hundred rows is plenty.

    Parameters
    ----------
    model : Sequential or Model
        The network (built on ``X`` if it is not yet); a graph's layers are reported by name.
    X, y : array-like
        One batch and its targets, as ``fit`` takes them (for several inputs or outputs, lists
        or dicts by name).
    loss : str, Loss, list, dict or None
        The loss whose gradients are measured; a model with several outputs takes one for all,
        a list or a dict by output name (weighted by the ``loss_weights`` of its last fit).
        ``None``: the loss the model was last fitted with, else the one each output layer suits
        (cross-entropy after softmax or sigmoid, mean squared error otherwise).
    thresholds : dict, optional
        Overrides of :data:`~scratchnn.diagnostics.THRESHOLDS`.

    Returns
    -------
    Report
        Series of one value each and the findings.
    """
    if not isinstance(model, Network):
        raise TypeError(
            f"model must be a scratchnn Sequential or Model, got {check.describe(model)}"
        )
    thresholds = check_thresholds(thresholds)
    X = model.check_inputs(X)
    losses = _losses(model, loss)
    if model.n_outputs == 1:  # text labels, as fit takes them
        y, _ = label_indices(y, losses[0], getattr(model, "classes", None), "y")
    # Everything is checked before the model is built: a refused call changes nothing.
    targets = _targets(model, y, losses, len(X), X)
    if not model.built:
        model.build(X.shape[1:])
    several = len(targets) > 1
    batch = X[:] if isinstance(X, ArrayGroup) else X  # several inputs: a list of arrays
    layers = list(model.layers)
    saved, grads = model.get_state(), model.grads.copy()
    record = _EpochRecord(layers)
    weights = getattr(model, "loss_weights", None) if several else None
    step = TrainingStep(model, losses if several else losses[0], loss_weights=weights)
    step.observers.append(
        lambda index, layer, output: record.activations[index].add(_first(output))
    )
    last: dict[int, np.ndarray] = {}
    step.observers.append(
        lambda index, layer, output: last.__setitem__(index, np.array(_first(output)))
    )
    timed = [layer for layer in layers if layer.steps_through_time]
    if timed:
        step.backward_observers.append(
            lambda index, layer, grad_inputs: record.add_input_gradient(index, grad_inputs)
        )
    input_grads = _want_input_gradients(timed)
    try:
        with np.errstate(**QUIET):
            step.loss_and_gradients(batch, targets if several else targets[0])
            record.add_gradients(layers)
    finally:
        model.set_state(saved, checked=False)  # as it was, NaN or not: diagnosing changes nothing
        model.grads[...] = grads
        _restore_input_gradients(timed, input_grads)
    with np.errstate(**QUIET):  # huge weights or statistics are findings, not NumPy warnings
        values = record.values(layers)  # weights and batch-norm statistics as the model has them
    described = describe_layers(model)
    series = {key: [value] for key, value in values.items()}
    findings = find_problems(described, series, thresholds)
    return Report(described, series, findings, thresholds, last,
                  "the batch given to diagnose, in training mode",
                  record.time_curves())  # fmt: skip
