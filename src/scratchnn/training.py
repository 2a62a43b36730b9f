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
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from . import _validation as check
from . import sources
from ._validation import QUIET
from .activations import get_activation
from .callbacks import Callback, History
from .losses import Loss, get_loss
from .metrics import Metric, real_positions
from .network import Network, by_position
from .optimizers import Optimizer
from .regularizers import Regularizer


class DivergenceWarning(RuntimeWarning):
    """The loss became NaN or infinite during ``fit``; training stopped."""


def fuses_head(network: Network, loss: Loss, output: int = 0) -> bool:
    """Whether ``loss`` takes the logits of the layer making ``output``: its activation is the
    one the loss fuses."""
    head = network.topology.nodes[network.output_nodes()[output]][0]
    return (
        loss.fused_activation is not None
        and not loss.from_logits
        and head.output_activation == loss.fused_activation
    )


def masked_weights(sample_weight: np.ndarray | None, mask: np.ndarray | None) -> Any:
    """Per-position weights that leave padded steps out of a loss: the mask (``(N, T)``, True
    for a real step) times the sample weights, scaled so that the loss is the mean over the
    real steps (``N T / real`` steps). ``None`` when there is no mask."""
    if mask is None:
        return sample_weight
    weights = mask.astype(np.float64)
    if sample_weight is not None:
        weights *= sample_weight[:, None] if sample_weight.ndim == 1 else sample_weight
    weights *= mask.size / max(int(np.count_nonzero(mask)), 1)
    return weights


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
        loss: Loss | Sequence[Loss],
        optimizer: Optimizer | None = None,
        weight_decay: float = 0.0,
        normalize_weights: bool = False,
        loss_weights: Sequence[float] | None = None,
    ) -> None:
        if not network.built:
            raise ValueError(
                "network must be built before a training step (call build(input_shape))"
            )
        self.network = network
        losses = list(loss) if isinstance(loss, (list, tuple)) else [loss]
        self.several = len(losses) > 1
        self.loss_weights = list(loss_weights) if loss_weights is not None else [1.0] * len(losses)
        self.fused_outputs = [fuses_head(network, one, i) for i, one in enumerate(losses)]
        self.losses = [
            one.on_logits() if fused else one
            for one, fused in zip(losses, self.fused_outputs, strict=True)
        ]
        self._losses_of_probabilities = losses
        self._head_activations = [
            get_activation(one.fused_activation) if fused else None
            for one, fused in zip(losses, self.fused_outputs, strict=True)
        ]
        heads = network.output_nodes()
        self.fused_nodes = frozenset(h for h, f in zip(heads, self.fused_outputs, strict=True) if f)
        # The single-output names every caller of one loss uses.
        self.fused, self.loss = self.fused_outputs[0], self.losses[0]
        self._loss_of_probabilities = losses[0]
        self._head_activation = self._head_activations[0]
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
        # Functions called as (index, layer, output) after each layer's training forward: how
        # diagnostics see activations without a second pass. Empty, they cost nothing.
        self.observers: list[Callable[[int, Any, np.ndarray], None]] = []
        # Called as (index, layer, grad_input) after each layer's backward (Topology.backward).
        self.backward_observers: list[Callable[[int, Any, Any], None]] = []
        self._topology = network.topology
        self._chain = network.topology.chain_passes(self.fused_nodes)  # None: not a stack
        self.output_masks: list[Any] = [None] * len(losses)  # of the latest forward (padding)

    def forward(self, X: Any, training: bool) -> Any:
        """The network's outputs, or its logits when the loss takes them (a list for several)."""
        observers = self.observers if training else ()
        if self._chain is not None and not observers:
            return self._chain.forward(X.astype(self.network.input_dtypes[0], copy=False), training)
        if isinstance(X, list):
            inputs = [
                x.astype(dtype, copy=False)
                for x, dtype in zip(X, self.network.input_dtypes, strict=True)
            ]
        else:
            inputs = [X.astype(self.network.input_dtypes[0], copy=False)]  # one batch at a time
        if observers and self.fused_nodes:
            observers = [self._seeing_probabilities(observe) for observe in observers]
        masks = [] if self._topology.masked else None
        outputs = self._topology.forward(inputs, training, self.fused_nodes, observers, masks)
        self.output_masks = masks or [None] * len(outputs)
        return outputs if self.several else outputs[0]

    def _seeing_probabilities(self, observe: Callable) -> Callable:
        """``observe`` as it is, but fed a fused head's probabilities, as inference gives them."""
        layer_index = self._topology.layer_index
        activations = {
            layer_index[node]: activation
            for node, activation in zip(
                self.network.output_nodes(), self._head_activations, strict=True
            )
            if node in self.fused_nodes
        }

        def seen(index: int, layer: Any, output: np.ndarray) -> None:
            if index in activations:
                output = activations[index].forward(output)
            observe(index, layer, output)

        return seen

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
        if self.several:
            value, output_grads, self.output_values = 0.0, [], []
            for loss, weight, out, target, mask in zip(
                self.losses, self.loss_weights, outputs, y, self.output_masks, strict=True
            ):
                part, grad = loss.value_and_grad(out, target, masked_weights(sample_weight, mask))
                if weight != 1.0:
                    grad *= grad.dtype.type(weight)
                value += weight * part
                output_grads.append(grad)
                self.output_values.append(part)
        else:
            weights = masked_weights(sample_weight, self.output_masks[0])
            value, grad = self.loss.value_and_grad(outputs, y, weights)
            output_grads = [grad]
        if self._chain is not None and not self.backward_observers:
            grad = self._chain.backward(grad)
        else:
            input_grads = self._topology.backward(
                output_grads, self.fused_nodes, self.backward_observers
            )
            grad = input_grads if len(input_grads) > 1 else input_grads[0]
        for weights, grads, regularizer, per_sample in self.penalties:
            divisor = weight_sum if per_sample else 1.0
            value += regularizer.penalty(weights) / divisor
            regularizer.add_gradient(weights, grads, divisor)
        batch_weight = weight_sum if self.normalize_weights else float(len(X))
        return StepResult(value, batch_weight, outputs, grad)

    def evaluate(self, X: Any, y: Any) -> tuple[float, Any]:
        """Mean loss (penalties excluded) and outputs of one batch in inference mode.

        With several outputs the loss is the weighted sum of the outputs' losses, and
        :meth:`output_losses` gives each one.
        """
        outputs = self.forward(X, training=False)
        if self.several:
            return sum(
                w * v
                for w, v in zip(self.loss_weights, self.output_losses(outputs, y), strict=True)
            ), outputs
        return self._output_loss(0, outputs, y), outputs

    def output_losses(self, outputs: list[np.ndarray], y: list[np.ndarray]) -> list[float]:
        """Each output's own loss (not weighted) on one batch of inference outputs."""
        return [
            self._output_loss(i, out, target)
            for i, (out, target) in enumerate(zip(outputs, y, strict=True))
        ]

    def _output_loss(self, index: int, outputs: np.ndarray, y: np.ndarray) -> float:
        value = self.losses[index](outputs, y, masked_weights(None, self.output_masks[index]))
        if self.fused_outputs[index] and not math.isfinite(value):
            # Logits that overflowed to inf: the loss of the probabilities, as predict gives them
            # (clipped like every loss on probabilities), which is finite.
            probabilities = self._head_activations[index].forward(outputs)
            weights = masked_weights(None, self.output_masks[index])
            value = self._losses_of_probabilities[index](probabilities, y, weights)
        return value

    def penalty(self) -> float:
        """The layers' own penalties (not the per-batch weight decay) at the current weights."""
        return sum(reg.penalty(w) for w, _, reg, per_sample in self.penalties if not per_sample)

    def probabilities(self, outputs: Any) -> Any:
        """What the network outputs, from what :meth:`forward` returned (logits if fused)."""
        if self.several:
            return [
                out if activation is None else activation.forward(out)
                for out, activation in zip(outputs, self._head_activations, strict=True)
            ]
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
    several = step.several
    seen_outputs = _OutputStore(len(X), network) if metrics else None
    output_totals = [0.0] * len(step.losses) if several else None
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
        if several:
            output_totals = [0.0] * len(step.losses)
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
            if several:
                for k, part in enumerate(step.output_values):
                    output_totals[k] += part * weight
            if seen_outputs is not None:
                with np.errstate(**QUIET):
                    seen_outputs.put(rows, step.probabilities(outputs), step.output_masks)
            for callback in batch_callbacks:
                callback.on_batch_end(index, {"loss": value})
        if history.stop_reason is not None:
            break
        logs = {"loss": total / total_weight if total_weight else float("nan")}
        if several:
            for name, part in zip(network.output_names, output_totals, strict=True):
                logs[f"{name}_loss"] = part / total_weight if total_weight else float("nan")
        if metrics:
            with np.errstate(**QUIET):
                logs.update(
                    metric_logs(network, metrics, y, seen_outputs.arrays, seen_outputs.masks)
                )
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


class _OutputStore:
    """The outputs of every row of an epoch (or an evaluation), for the metrics: one array per
    output, made at the first batch (an output with an open axis takes the data's length), and
    the mask of each output's real steps where the model has one (``None`` else)."""

    def __init__(self, rows: int, network: Network) -> None:
        self.rows, self.dtype = rows, network.dtype
        self.arrays: list[np.ndarray] = []
        self.masks: list[np.ndarray | None] = []

    def put(self, rows: Any, outputs: Any, masks: Sequence[Any] = ()) -> None:
        outputs = outputs if isinstance(outputs, list) else [outputs]
        if not self.arrays:
            self.arrays = [np.empty((self.rows, *o.shape[1:]), self.dtype) for o in outputs]
            self.masks = [
                None if m is None else np.ones((self.rows, *m.shape[1:]), bool)
                for m in (list(masks) or [None] * len(outputs))
            ]
        for store, part in zip(self.arrays, outputs, strict=True):
            store[rows] = part
        for store, mask in zip(self.masks, masks, strict=False):
            if store is not None and mask is not None:
                store[rows] = mask


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
        if step.several:
            finite = all(np.isfinite(out).all() for out in outputs) and all(
                math.isfinite(loss(out, target))
                for loss, out, target in zip(step.losses, outputs, y[rows], strict=True)
            )
        else:
            finite = np.isfinite(outputs).all() and math.isfinite(step.loss(outputs, y[rows]))
        if not finite:
            return False
    return not isinstance(X, np.ndarray) or _finite_everywhere(step.network, X)


def _finite_everywhere(network: Network, X: Any, batch_size: int = 8192) -> bool:
    """Whether the network's outputs on every row of ``X`` are finite (inference, quietly)."""
    batch_size = min(batch_size, network.predict_rows(X))
    with np.errstate(**QUIET):
        for start in range(0, len(X), batch_size):
            outputs = network.infer(X[start : start + batch_size])
            for out in outputs if isinstance(outputs, list) else [outputs]:
                if not np.isfinite(out).all():
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


def metric_logs(
    network: Network,
    metrics: Sequence[tuple[str, Metric]],
    y: Any,
    outputs: list[np.ndarray] | None,
    masks: Sequence[np.ndarray | None] = (),
) -> dict[str, float]:
    """Each metric on the outputs; ``{output}_{metric}`` for each of several outputs.

    Where an output has a mask of padded steps (``masks``, one per output), a metric sees only
    its real positions (:func:`~scratchnn.metrics.real_positions`), as the loss does.
    """
    if not metrics:
        return {}
    masks = list(masks) or [None] * len(outputs)
    if len(outputs) == 1:
        target, out = real_positions(y, outputs[0], masks[0])
        return {name: function(target, out) for name, function in metrics}
    targets = y.arrays if isinstance(y, sources.ArrayGroup) else y
    pairs = [
        real_positions(target, out, mask)
        for target, out, mask in zip(targets, outputs, masks, strict=True)
    ]
    return {
        f"{output}_{name}": function(target, out)
        for name, function in metrics
        for output, (target, out) in zip(network.output_names, pairs, strict=True)
    }


def evaluate_loss_and_metrics(
    step: TrainingStep,
    X: Any,
    y: np.ndarray,
    metrics: Sequence[tuple[str, Metric]],
    batch_size: int = 8192,
    prefix: str = "",
) -> dict[str, float]:
    """Loss (with the layers' penalties) and metrics over ``(X, y)`` in inference mode.

    Several outputs add ``{output}_loss`` for each (and name each metric by its output).
    """
    network = step.network
    batch_size = min(batch_size, network.predict_rows(X))
    outputs = _OutputStore(len(X), network)
    total = 0.0
    parts = [0.0] * network.n_outputs
    with np.errstate(**QUIET):
        for start in range(0, len(X), batch_size):
            rows = slice(start, start + batch_size)
            targets = y[rows]
            value, batch_outputs = step.evaluate(X[rows], targets)
            seen = step.probabilities(batch_outputs)
            count = len(seen[0]) if step.several else len(seen)
            outputs.put(rows, seen, step.output_masks)
            if step.several:
                for k, loss in enumerate(step.output_losses(batch_outputs, targets)):
                    parts[k] += loss * count
            total += value * count
        result = {f"{prefix}loss": total / len(X) + step.penalty()}
        if step.several:
            for name, part in zip(network.output_names, parts, strict=True):
                result[f"{prefix}{name}_loss"] = part / len(X)
        logs = metric_logs(network, metrics, y, outputs.arrays, outputs.masks)
        for name, value in logs.items():
            result[f"{prefix}{name}"] = value
    return result


# -- losses and targets per output (fit, evaluate and diagnose take them alike) ----------------
def prepare_targets(
    loss: Loss,
    y: np.ndarray,
    output_shape: tuple[int, ...],
    dtype: Any,
    name: str,
    head: Any = None,
) -> np.ndarray:
    """``loss.prepare_targets`` for an output of ``output_shape``, with messages that name the
    loss. A flat output ``(K,)`` takes ``(N,)`` or ``(N, K)``; one of higher rank takes a target
    per position (``(N, T)`` labels or ``(N, T, K)``). When the targets do not fit and the output
    layer ``head`` is made for another loss, the message names that loss."""
    try:
        with np.errstate(over="ignore"):
            prepared = loss.prepare_targets(
                y, output_shape[0] if len(output_shape) == 1 else output_shape, dtype
            )
    except ValueError as error:
        hint = ""
        fitting = None if head is None else implied_loss(head)
        if fitting is not None and fitting != loss.name and head.output_activation != "linear":
            units = output_shape[-1]
            hint = (
                f"; the output layer ({head.output_activation}, {units} unit"
                f"{'s' if units != 1 else ''}) is made for loss={fitting!r}"
            )
        raise ValueError(f"{name} does not fit the loss {loss.name!r}: {error}{hint}") from None
    if prepared.dtype.kind == "f" and not check.all_finite(prepared):
        raise ValueError(
            f"{name} holds values too large for {np.dtype(dtype).name} (largest magnitude "
            f"{np.max(np.abs(y)):g} after conversion); scale the targets or use dtype='float64'"
        )
    return prepared


def target_ndim(output_shape: tuple) -> tuple[int, ...]:
    """The ranks a target array may have for an output of ``output_shape``."""
    return (1, 2) if len(output_shape) == 1 else (len(output_shape), len(output_shape) + 1)


def implied_loss(layer: Any) -> str:
    """The loss an output layer implies: what its activation is made for."""
    activation = getattr(layer, "output_activation", None)
    if activation == "softmax":
        return "categorical_crossentropy"
    if activation == "sigmoid":
        return "binary_crossentropy"
    return "mse"


def losses_per_output(model: Network, loss: Any) -> list[Loss]:
    """One loss per output: one for all, a list in output order, or a dict by output name.

    ``None`` picks, per output, the loss its layer implies (:func:`implied_loss`).
    """
    names = model.output_names if model.is_graph else ["output"]
    if loss is None:
        heads = [model.topology.nodes[i][0] for i in model.output_nodes()]
        return [get_loss(implied_loss(head)) for head in heads]
    if isinstance(loss, Mapping) and not ("name" in loss and "name" not in names):
        # A dict by output name; a dict with "name" is one loss's config ({"name": "huber", ...})
        unknown = sorted(set(map(str, loss)) - set(names))
        missing = [n for n in names if n not in loss]
        if unknown or missing:
            raise ValueError(
                f"loss must be keyed by the model's output names {names}, got {sorted(loss)}"
            )
        return [get_loss(loss[n]) for n in names]
    if isinstance(loss, (list, tuple)):
        if len(loss) != len(names):
            raise ValueError(f"loss must hold one loss per output ({len(names)}), got {len(loss)}")
        return [get_loss(one) for one in loss]
    return [get_loss(loss)] * len(names)


def several_targets(
    model: Network, losses: list[Loss], y: Any, name: str, n_samples: int
) -> sources.ArrayGroup:
    """Targets of a model with several outputs: each checked against its output and loss."""

    arrays = by_position(y, model.output_names, name, "output")
    prepared = []
    for output_name, loss, target, shape in zip(
        model.output_names, losses, arrays, model.output_shapes, strict=True
    ):
        label = f"{name}[{output_name!r}]"
        target = check.check_array(target, label, ndim=target_ndim(shape))
        if len(target) != n_samples:
            raise ValueError(
                f"{label} must have one target per sample ({n_samples}), got {len(target)}"
            )
        prepared.append(prepare_targets(loss, target, shape, model.dtype, label))
    return sources.ArrayGroup(prepared)
