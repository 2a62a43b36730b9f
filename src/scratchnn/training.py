"""One training step and one epoch loop, shared by ``Sequential.fit`` and the scikit-learn front.

A step is forward -> loss -> backward -> (weight penalties) -> optimizer update, for one batch:
:class:`TrainingStep`. The epoch loop, :func:`run_epochs`, shuffles, cuts batches, runs steps,
applies the divergence rule and calls the callbacks. Whether the loss takes the last layer's
logits (softmax or sigmoid before cross-entropy: the fused gradient ``(p - y) / N``) is decided
once, when the step is made.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from . import sources
from ._validation import QUIET
from .activations import get_activation
from .callbacks import Callback, History
from .layers.memory import rows_within
from .losses import Loss
from .metrics import Metric
from .network import Network
from .optimizers import Optimizer
from .regularizers import Regularizer


class DivergenceWarning(RuntimeWarning):
    """The loss became NaN or infinite during ``fit``; training stopped."""


def fuses_head(network: Network, loss: Loss) -> bool:
    """Whether ``loss`` takes the last layer's logits: its activation is the one it fuses."""
    return (
        loss.fused_activation is not None
        and not loss.from_logits
        and network.layers[-1].output_activation == loss.fused_activation
    )


class StepResult(NamedTuple):
    """What one step computed: the loss and what it counts for, outputs, ``dL/dX``."""

    loss: float
    weight: float  # the batch size, or its total sample weight when normalising; 0: skipped
    outputs: np.ndarray | None  # the network's outputs (its logits when the head is fused)
    input_gradient: np.ndarray | None  # dL/dX, for a network made with input_gradient=True


class TrainingStep:
    """Loss and gradients of one batch, and the update: the whole of a training step.

    Besides ``weight_decay``, each layer's own penalties (``Dense(kernel_regularizer=...)``) are
    added to the loss and its gradients.

    Parameters
    ----------
    network : Network
        The network to train (built).
    loss : Loss
        The loss on the network's outputs; when it can take the last layer's logits instead
        (see :func:`fuses_head`) the step does so, with the exact gradient ``(p - y) / N``.
    optimizer : Optimizer, optional
        What :meth:`update` applies; ``None`` for a driver of its own (L-BFGS).
    weight_decay : float
        scikit-learn's ``alpha``: adds ``alpha / (2 s) * sum ||W||^2`` over the kernels, with
        ``s`` the batch's total sample weight (its size without weights).
    normalize_weights : bool
        Average the loss as ``sum w l / sum w`` per batch (scikit-learn's MLP) instead of
        ``sum w l / N``; a batch whose weights are all zero is skipped.
    """

    def __init__(
        self,
        network: Network,
        loss: Loss,
        optimizer: Optimizer | None = None,
        weight_decay: float = 0.0,
        normalize_weights: bool = False,
    ) -> None:
        if not network.built:
            raise ValueError(
                "network must be built before a training step (call build(input_shape))"
            )
        self.network = network
        self.fused = fuses_head(network, loss)
        self.loss = loss.on_logits() if self.fused else loss
        self._loss_of_probabilities = loss
        self._head_activation = get_activation(loss.fused_activation) if self.fused else None
        self.optimizer = optimizer
        self.normalize_weights = normalize_weights
        # One penalty implementation: every penalty is a Regularizer on a parameter view.
        self.penalties: list[tuple[np.ndarray, np.ndarray, Regularizer, bool]] = [
            (layer.params[name], layer.grads[name], regularizer, False)
            for layer in network.layers
            for name, regularizer in layer.penalties()
        ]
        if weight_decay:
            decay = Regularizer(l2=weight_decay / 2.0)
            self.penalties += [
                (layer.params[name], layer.grads[name], decay, True)
                for layer in network.layers
                for name in layer.kernel_names
            ]
        *self._body, self._head = network.layers
        # Functions called as (index, layer, output) after each layer's training forward: how
        # diagnostics see activations without a second pass. Empty, they cost nothing.
        self.observers: list[Callable[[int, Any, np.ndarray], None]] = []

    def forward(self, X: np.ndarray, training: bool) -> np.ndarray:
        """The network's outputs, or its logits when the loss takes them."""
        X = X.astype(self.network.dtype, copy=False)  # one batch converted at a time
        observers = self.observers if training else ()
        for index, layer in enumerate(self._body):
            X = layer.forward(X, training)
            for observe in observers:
                observe(index, layer, X)
        if self.fused:
            X = self._head.forward_logits(X, training)
            for observe in observers:  # they see the head's output, as inference gives it
                observe(len(self._body), self._head, self.probabilities(X))
            return X
        X = self._head.forward(X, training)
        for observe in observers:
            observe(len(self._body), self._head, X)
        return X

    def loss_and_gradients(
        self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> StepResult:
        """Forward, loss, backward and penalties for one batch; fills ``network.grads``."""
        weight_sum = float(len(X)) if sample_weight is None else float(sample_weight.sum())
        if self.normalize_weights and sample_weight is not None:
            if weight_sum == 0.0:
                return StepResult(0.0, 0.0, None, None)  # nothing to learn from this batch
            # The core loss averages over N; this rescaling makes it sum w l / sum w.
            sample_weight = sample_weight * (len(X) / weight_sum)
        outputs = self.forward(X, training=True)
        value, grad = self.loss.value_and_grad(outputs, y, sample_weight)
        grad = self._head.backward_logits(grad) if self.fused else self._head.backward(grad)
        for layer in reversed(self._body):
            if grad is None:  # below the first layer with parameters (see set_input_gradient)
                break
            grad = layer.backward(grad)
        for weights, grads, regularizer, per_sample in self.penalties:
            divisor = weight_sum if per_sample else 1.0
            value += regularizer.penalty(weights) / divisor
            regularizer.add_gradient(weights, grads, divisor)
        batch_weight = weight_sum if self.normalize_weights else float(len(X))
        return StepResult(value, batch_weight, outputs, grad)

    def evaluate(self, X: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """Mean loss (penalties excluded) and outputs of one batch in inference mode."""
        outputs = self.forward(X, training=False)
        value = self.loss(outputs, y)
        if self.fused and not math.isfinite(value):
            # Logits that overflowed to inf: the loss of the probabilities, as predict gives them
            # (clipped like every loss on probabilities), which is finite.
            value = self._loss_of_probabilities(self.probabilities(outputs), y)
        return value, outputs

    def penalty(self) -> float:
        """The layers' own penalties (not the per-batch weight decay) at the current weights."""
        return sum(reg.penalty(w) for w, _, reg, per_sample in self.penalties if not per_sample)

    def probabilities(self, outputs: np.ndarray) -> np.ndarray:
        """What the network outputs, from what :meth:`forward` returned (logits if fused)."""
        if not self.fused:
            return outputs
        return self._head_activation.forward(outputs)


class Batches:
    """The batches of one epoch: row indices in shuffled (or natural) order.

    Only the rows of one batch are gathered at a time (never a shuffled copy of the data), and
    converted to the network's dtype there, so memory stays a few batches above the data.
    """

    def __init__(self, n: int, batch_size: int, blocks: tuple[int, int] | None = None) -> None:
        self.n, self.batch_size = n, batch_size
        self.count = math.ceil(n / batch_size)
        self.blocks = blocks  # (block_rows, buffer_blocks): shuffle by blocks (sources.py)

    def epoch(self, rng: np.random.Generator, shuffle: bool):
        if shuffle and self.count > 1 and self.blocks is not None:
            yield from enumerate(sources.block_batches(self.n, self.batch_size, *self.blocks, rng))
            return
        # One batch holding every sample needs no shuffle: saving a permutation and two gathers
        # per step is most of the fit overhead of a tiny full-batch net.
        order = rng.permutation(self.n) if shuffle and self.count > 1 else None
        for index in range(self.count):
            rows = slice(index * self.batch_size, (index + 1) * self.batch_size)
            yield index, (rows if order is None else order[rows])


def run_epochs(
    step: TrainingStep,
    X: Any,
    y: np.ndarray,
    sample_weight: np.ndarray | None,
    *,
    epochs: int,
    batch_size: int,
    shuffle: bool,
    history: History,
    callbacks: Sequence[Callback] = (),
    start_epoch: int = 0,
    end_of_epoch: Callable[[dict[str, float]], None] | None = None,
    metrics: Sequence[tuple[str, Metric]] = (),
) -> None:
    """Train for ``epochs - start_epoch`` epochs: the one epoch loop of scratchnn.

    Logs per epoch: ``loss`` (the mean of the batch losses, weighted by batch size or sample
    weight) and each metric on the outputs seen during the epoch; ``end_of_epoch(logs)`` may add
    more (validation) before the callbacks see them. A callback stops training by setting
    ``network.stop_training``.

    The divergence rule: when a batch's loss is NaN or infinite, or the weights after the last
    update are not finite, training stops with a :class:`DivergenceWarning` and the network
    gets back the weights it had before the update that diverged.
    """
    network = step.network
    batches = Batches(len(X), batch_size, sources.block_layout(X))
    seen_outputs = np.empty((len(X), *network.output_shape), network.dtype) if metrics else None
    # Only callbacks that override the batch hooks are called per batch (no per-batch dict else).
    batch_callbacks = [cb for cb in callbacks if type(cb).on_batch_end is not Callback.on_batch_end]
    begin_callbacks = [
        cb for cb in callbacks if type(cb).on_batch_begin is not Callback.on_batch_begin
    ]
    # The weights (and batch-norm statistics) before the latest update: the last ones whose loss
    # was finite if the next one is not. Refilled before every step (a copy of ~1 MB for 235k
    # parameters, ~1% of a batch); the epoch's and the fit's first ones are older fallbacks.
    before_update = _Snapshot(
        network, "its last finite weights, those before the update that diverged"
    )
    epoch_start = _Snapshot(network, "the weights it had when the epoch began")
    fit_start = _Snapshot(network, "the weights it started with")
    updates_this_epoch = 0

    def fallbacks() -> list[_Snapshot]:
        # The epoch's start is older than the weights before the update only after two updates.
        return [before_update, *([epoch_start] if updates_this_epoch > 1 else []), fit_start]

    network.stop_training = False
    rows: Any = None
    for callback in callbacks:
        callback.on_train_begin()
    for epoch in range(start_epoch, epochs):
        if batches.count > 1:  # with one batch an epoch, its start is never a fallback
            epoch_start.take(network)
        updates_this_epoch = 0
        for callback in callbacks:
            callback.on_epoch_begin(epoch)
        total, total_weight = 0.0, 0.0
        for index, rows in batches.epoch(network.rng, shuffle):
            for callback in begin_callbacks:
                callback.on_batch_begin(index)
            batch_weights = None if sample_weight is None else sample_weight[rows]
            with np.errstate(**QUIET):  # overflow is the divergence rule's to report
                value, weight, outputs, _ = step.loss_and_gradients(X[rows], y[rows], batch_weights)
                finite = math.isfinite(value)
                if finite and outputs is not None:  # None: a batch of zero total weight
                    before_update.take(network)
                    step.optimizer.step(network.params, network.grads)
                    updates_this_epoch += 1
            if not finite:
                _stop(network, history, fallbacks(), X, f"the loss became {value} at epoch "
                      f"{epoch + 1}, batch {index + 1}")  # fmt: skip
                break
            if outputs is None:
                continue
            total += value * weight
            total_weight += weight
            if seen_outputs is not None:
                with np.errstate(**QUIET):
                    seen_outputs[rows] = step.probabilities(outputs)
            for callback in batch_callbacks:
                callback.on_batch_end(index, {"loss": value})
        if history.stop_reason is not None:
            break
        logs = {"loss": total / total_weight if total_weight else float("nan")}
        with np.errstate(**QUIET):
            for name, function in metrics:
                logs[name] = function(y, seen_outputs)
        if end_of_epoch is not None:
            end_of_epoch(logs)
        for callback in callbacks:
            callback.on_epoch_end(epoch, logs)
        for callback in callbacks:
            callback.after_epoch_end(epoch, logs)
        if network.stop_training:
            told = [c.stop_message for c in callbacks if getattr(c, "stop_message", None)]
            reason = told[0] if told else f"stopped by a callback after epoch {epoch + 1}"
            history.stop_reason = history.stop_reason or reason
            break
    if (
        rows is not None
        and history.stop_reason is None
        and not _last_update_is_finite(step, X, y, rows)
    ):
        _stop(network, history, fallbacks(), X, "the last update made the model overflow")
    elif rows is not None and not (history.stop_reason or history.last_is_finite("val_loss")):
        _stop(network, history, fallbacks(), X, "the final weights give a non-finite loss on "
              f"the validation data (val_loss {history.history['val_loss'][-1]})")  # fmt: skip
    for callback in callbacks:
        callback.on_train_end()


class _Snapshot:
    """A network's parameters and layer states (batch-norm statistics) at one point of a fit."""

    def __init__(self, network: Network, name: str) -> None:
        self.name = name
        self._live = [array for layer in network.layers for array in layer.state.values()]
        self.params = network.params.copy()
        self.states = [array.copy() for array in self._live]

    def take(self, network: Network) -> None:
        np.copyto(self.params, network.params)
        if self._live:  # batch-norm statistics; most networks have none (a step costs ~1 us)
            for saved, live in zip(self.states, self._live, strict=True):
                np.copyto(saved, live)

    def restore(self, network: Network) -> None:
        network.params[...] = self.params
        for saved, live in zip(self.states, self._live, strict=True):
            live[...] = saved


def _last_update_is_finite(step: TrainingStep, X: Any, y: np.ndarray, rows: Any) -> bool:
    """Finite weights whose outputs (logits, for a fused head) and loss on the last batch are
    finite, and, for data in memory, whose outputs on every row are: no step checks its own
    update, and a huge one may overflow rows the last batch lacks."""
    with np.errstate(**QUIET):
        if not np.isfinite(np.add.reduce(step.network.params)):
            return False
        outputs = step.forward(X[rows], training=False)
        if not (np.isfinite(outputs).all() and math.isfinite(step.loss(outputs, y[rows]))):
            return False
    return not isinstance(X, np.ndarray) or _finite_everywhere(step.network, X)


def _finite_everywhere(network: Network, X: Any, batch_size: int = 8192) -> bool:
    """Whether the network's outputs on every row of ``X`` are finite (inference, quietly)."""
    batch_size = min(batch_size, rows_within(network.layers, network.input_shape, network.dtype))
    with np.errstate(**QUIET):
        for start in range(0, len(X), batch_size):
            if not np.isfinite(network.infer(X[start : start + batch_size])).all():
                return False
    return True


def _stop(
    network: Network, history: History, candidates: Sequence[_Snapshot], X: Any, what: str
) -> None:
    """Stop training on divergence, restoring the latest weights that are finite on every row.

    The current weights gave the non-finite loss (they may be finite yet huge, 1e130 in float64,
    so that every prediction overflows). ``candidates`` go from the latest, the weights before
    the last update (whose batch had a finite loss), to the earliest, the fit's first weights;
    the first whose outputs on all of ``X`` are finite is kept.
    """
    for snapshot in candidates:
        snapshot.restore(network)
        if _finite_everywhere(network, X):
            kept = f"{snapshot.name} (try a smaller learning rate)"
            break
    else:
        kept = f"{snapshot.name}, though even they overflow on some rows (scale the inputs)"
    message = f"{what}: training stopped and the model keeps {kept}"
    history.stop_reason = message
    network.stop_training = True
    warnings.warn(message, DivergenceWarning, stacklevel=5)


def evaluate_loss_and_metrics(
    step: TrainingStep,
    X: Any,
    y: np.ndarray,
    metrics: Sequence[tuple[str, Metric]],
    batch_size: int = 8192,
    prefix: str = "",
) -> dict[str, float]:
    """Loss (with the layers' penalties) and metrics over ``(X, y)`` in inference mode."""
    network = step.network
    batch_size = min(batch_size, rows_within(network.layers, network.input_shape, network.dtype))
    outputs = np.empty((len(X), *network.output_shape), dtype=network.dtype)
    total = 0.0
    with np.errstate(**QUIET):
        for start in range(0, len(X), batch_size):
            rows = slice(start, start + batch_size)
            value, batch_outputs = step.evaluate(X[rows], y[rows])
            outputs[rows] = step.probabilities(batch_outputs)
            total += value * len(batch_outputs)
        result = {f"{prefix}loss": total / len(X) + step.penalty()}
        for name, function in metrics:
            result[f"{prefix}{name}"] = function(y, outputs)
    return result
