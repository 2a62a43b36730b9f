"""``Sequential``: a :class:`~scratchnn.network.Network` with ``fit``, ``evaluate`` and ``save``.

``fit`` checks every argument here, at the boundary, before any state changes; the training
itself is :func:`scratchnn.training.run_epochs` driving a :class:`~scratchnn.training.TrainingStep`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _validation as check
from . import export, io, sources
from .callbacks import Callback, History, ProgressLogger
from .checkpoint import Checkpoint, apply_checkpoint, check_resumable, read_checkpoint
from .losses import Loss, get_loss
from .metrics import Metric, get_metric
from .network import Network
from .optimizers import Optimizer, get_optimizer
from .training import TrainingStep, evaluate_loss_and_metrics, run_epochs


class Sequential(Network):
    """A feed-forward network you can train: ``fit``, ``predict``, ``evaluate``, ``save``.

    See :class:`~scratchnn.network.Network` for the parameters (``layers``, ``seed``, ``dtype``,
    ``input_gradient``): all trainable parameters live in one flat array ``params``, one seed
    drives every random draw, and inference may run from many threads at once.

    Examples
    --------
    >>> import numpy as np
    >>> from scratchnn import Sequential
    >>> from scratchnn.layers import Dense
    >>> X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    >>> y = np.array([0, 1, 1, 0])
    >>> model = Sequential([Dense(8, "tanh"), Dense(1, "sigmoid")], seed=0)
    >>> history = model.fit(X, y, loss="binary_crossentropy", optimizer="adam",
    ...                     epochs=300, batch_size=4, verbose=0)
    >>> (model.predict(X) > 0.5).astype(int).ravel()
    array([0, 1, 1, 0])
    """

    def __init__(
        self,
        layers: Sequence[Any],
        seed: int | None = None,
        dtype: str = "float32",
        input_gradient: bool = False,
    ) -> None:
        super().__init__(layers, seed=seed, dtype=dtype, input_gradient=input_gradient)
        self.loss: Loss | None = None
        self.optimizer: Optimizer | None = None
        self.metric_names: list[str] = []
        self.stop_training = False
        self.classes: list[Any] | None = None  # class labels, kept by model files
        self.feature_names: list[str] | None = None  # the input columns' names, ditto

    # -- training -----------------------------------------------------------------------------
    def fit(
        self,
        X: Any,
        y: Any,
        loss: str | Loss = "mse",
        optimizer: str | Optimizer = "adam",
        epochs: int = 1,
        batch_size: int = 32,
        shuffle: bool = True,
        validation_data: tuple[Any, Any] | None = None,
        validation_split: float = 0.0,
        metrics: Sequence[str] = (),
        callbacks: Sequence[Callback] = (),
        verbose: int = 1,
        sample_weight: Any = None,
        resume_from: str | os.PathLike | None = None,
    ) -> History:
        """Train on ``X`` ``(N, ...input_shape)`` and ``y`` with mini-batch gradient descent.

        Returns a :class:`~scratchnn.callbacks.History` of per-epoch ``loss``, metrics and their
        ``val_`` counterparts. Everything is checked before any state changes. Training stops at
        once, with a :class:`~scratchnn.DivergenceWarning`, if the loss becomes NaN or infinite
        (or the last update makes the model overflow); the model gets back the weights it had
        before the update that diverged (the optimizer's moments and the batch-norm statistics
        keep that update).

        ``resume_from`` names a checkpoint written by :class:`~scratchnn.ModelCheckpoint`:
        weights, batch-norm statistics, optimizer state, history and random-generator state are
        restored from it and training continues at the epoch after it, up to ``epochs`` in all,
        ending bit-identical to an uninterrupted run. ``loss``, ``optimizer``, ``metrics``,
        ``batch_size``, ``shuffle`` and the validation data must be those of the interrupted run
        (checked). Callbacks count on from the checkpoint: ``EarlyStopping``'s patience and best
        value and ``ModelCheckpoint``'s best value (matched by class and settings); the best
        weights ``EarlyStopping`` had kept are not in the file, so after a resume it restores
        the best weights seen since.
        """
        if getattr(self, "_fitting", False):
            raise RuntimeError("this model is already being trained (fit runs in another thread)")
        plan = _plan_fit(
            self, X, y, loss, optimizer, epochs, batch_size, shuffle, validation_data,
            validation_split, metrics, callbacks, verbose, sample_weight, resume_from,
        )  # fmt: skip
        self._fitting = threading.get_ident()  # which thread trains (check_not_training)
        try:
            return _run_fit(self, plan)
        finally:
            self._fitting = False

    # -- inference ----------------------------------------------------------------------------
    def evaluate(
        self,
        X: Any,
        y: Any,
        loss: str | Loss | None = None,
        metrics: Sequence[str] | None = None,
        batch_size: int = 8192,
    ) -> dict[str, float]:
        """Loss and metrics on ``(X, y)`` in inference mode (defaults: those of the last fit)."""
        loss = self.loss if loss is None else get_loss(loss)
        if loss is None:
            raise ValueError("loss must be given: this model has not been fitted yet")
        names = self.metric_names if metrics is None else metrics
        metric_fns = resolve_metrics(names)
        batch_size = check.check_positive_int(batch_size, "batch_size")
        X = self.check_inputs(X)
        y, _ = _label_indices(y, loss, self.classes, "y")
        y = check.check_array(y, "y", ndim=(1, 2))
        check.check_same_length(X, y)
        output_shape = self.output_shape if self.built else self.output_shape_for(X.shape[1:])
        y = _prepare_targets(loss, y, output_shape, self.dtype, "y")  # checked before building
        self._ensure_built(X)
        return evaluate_loss_and_metrics(TrainingStep(self, loss), X, y, metric_fns, batch_size)

    def predict_labels(self, X: Any, batch_size: int = 8192) -> np.ndarray:
        """The predicted class of each row: its label when the model was fitted on labels.

        Several outputs: the arg-max; one output: ``output > 0.5``. ``(N,)``.
        """
        outputs = self.predict(X, batch_size)
        if outputs.ndim != 2:
            raise ValueError(f"predict_labels needs flat outputs, got shape {outputs.shape[1:]}")
        indices = outputs.argmax(axis=1) if outputs.shape[1] > 1 else (outputs[:, 0] > 0.5)
        indices = indices.astype(np.intp)
        return indices if self.classes is None else np.asarray(self.classes)[indices]

    def copy(self, dtype: str | None = None) -> Sequential:
        """An independent copy with the same weights, state and class labels."""
        clone = super().copy(dtype)
        clone.classes, clone.feature_names = self.classes, self.feature_names
        return clone

    # -- files --------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Save architecture, weights, batch-norm statistics and rng state to ``path``.

        The write is atomic; read it back with :func:`scratchnn.load`. The format is in
        ``docs/model-format.md``.
        """
        io.save(self, path)

    def to_onnx(self, path: str | os.PathLike, opset: int | None = None) -> Any:
        """Export to an ONNX file (``pip install scratchnn[onnx]``); returns the ``ModelProto``.

        See :func:`scratchnn.export.to_onnx`: inputs ``input`` ``(batch, ...input_shape)``,
        outputs ``output``, in this model's dtype.
        """
        return export.to_onnx(self, path, opset=opset)


io.register_kind("Sequential", Sequential, Sequential.from_config)


def _label_indices(
    y: Any, loss: Loss, classes: list[Any] | None, name: str
) -> tuple[Any, list[Any] | None]:
    """Targets that are labels (text, say) as class indices, with the labels in order.

    Numeric targets pass unchanged (``classes`` ``None``). Labels need a cross-entropy loss;
    with known ``classes`` (a fitted model's) every label must be one of them.
    """
    if isinstance(y, np.ndarray) and y.dtype.kind in "biuf":
        return y, None
    labels = np.asarray(y) if not isinstance(y, (str, bytes)) else None
    if labels is None or labels.dtype.kind in "biuf" or labels.size == 0:
        return y, None
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise ValueError(f"{name} of labels must be 1-D, got shape {labels.shape}")
    if loss.fused_activation is None:
        raise ValueError(
            f"{name} holds labels ({labels[:3].tolist()}...), which need a classification loss "
            f"(categorical_crossentropy or binary_crossentropy), got {loss.name!r}"
        )
    try:
        found = np.unique(labels)
    except TypeError as error:
        raise TypeError(f"{name} holds labels that cannot be ordered: {error}") from None
    known = found if classes is None else np.asarray(classes)
    unknown = np.setdiff1d(found, known)
    if unknown.size:
        raise ValueError(
            f"{name} holds labels the model does not know: {unknown[:5].tolist()} (it knows "
            f"{known[:10].tolist()})"
        )
    plain = [label.item() if isinstance(label, np.generic) else label for label in known.tolist()]
    odd = [label for label in plain if not isinstance(label, (str, int, float))]
    if odd:
        raise TypeError(
            f"{name} holds labels of type {type(odd[0]).__name__} ({odd[0]!r:.40}); class labels "
            "must be text, numbers or booleans (a model file keeps them as JSON)"
        )
    indices = np.searchsorted(known, labels)
    if loss.name == "binary_crossentropy":
        if len(known) != 2:
            raise ValueError(
                f"{name} must hold two labels for binary cross-entropy, got {len(known)}"
            )
        indices = indices.astype(np.float64)[:, None]
    return indices, plain


def resolve_metrics(names: Any) -> list[tuple[str, Metric]]:
    """``(name, function)`` pairs for metric names or functions (one alone is a list of one)."""
    if isinstance(names, str) or callable(names):
        names = [names]
    if not isinstance(names, Iterable) or isinstance(names, Mapping):
        raise TypeError(
            f"metrics must be a list of metric names or functions, got {check.describe(names)}"
        )
    return [get_metric(name) for name in names]


def _prepare_targets(
    loss: Loss, y: np.ndarray, output_shape: tuple[int, ...], dtype: Any, name: str
) -> np.ndarray:
    """``loss.prepare_targets`` for a flat output, with messages that name the loss."""
    if len(output_shape) != 1:
        raise ValueError(
            f"the model's output must be flat (batch, outputs) for a loss, got shape "
            f"{output_shape}: end it with Flatten() and Dense layers"
        )
    try:
        with np.errstate(over="ignore"):
            prepared = loss.prepare_targets(y, output_shape[0], dtype)
    except ValueError as error:
        raise ValueError(f"{name} does not fit the loss {loss.name!r}: {error}") from None
    if prepared.dtype.kind == "f" and not check.all_finite(prepared):
        raise ValueError(
            f"{name} holds values too large for {np.dtype(dtype).name} (largest magnitude "
            f"{np.max(np.abs(y)):g} after conversion); scale the targets or use dtype='float64'"
        )
    return prepared


@dataclass
class _FitPlan:
    """Everything ``fit`` was asked to do, checked and converted."""

    X: Any
    y: np.ndarray
    sample_weight: np.ndarray | None
    loss: Loss
    optimizer: Optimizer
    epochs: int
    batch_size: int
    shuffle: bool
    validation: tuple[Any, np.ndarray] | None
    metrics: list[tuple[str, Metric]]
    callbacks: list[Callback]
    verbose: int
    resume: Checkpoint | None = None
    classes: list[Any] | None = None  # the labels of text (or other non-numeric) targets


def _plan_fit(
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
    resume_from: Any,
) -> _FitPlan:
    """Check every argument of ``fit`` and convert the data; changes no state of ``model``."""
    X = model.check_inputs(X)
    sources.scan(X)  # data read batch by batch are checked in one pass, before anything changes
    loss = get_loss(loss)
    resume = None if resume_from is None else read_checkpoint(resume_from)
    known = model.classes
    if known is None and resume is not None:
        known = resume.classes  # a resumed fit keeps the interrupted run's labels in order
    y, classes = _label_indices(y, loss, known, "y")
    if resume is not None and (resume.classes is None) != (classes is None):
        raise ValueError(
            "y must hold the kind of targets resume_from was trained on: "
            + (f"its class labels {resume.classes[:10]}" if resume.classes else "numbers")
            + f", got {'labels' if classes is not None else 'numbers'}"
        )
    if classes is not None:
        outputs = int(np.prod(model.output_shape_for(X.shape[1:])))
        if len(classes) != (2 if outputs == 1 else outputs):
            raise ValueError(
                f"y holds {len(classes)} labels ({classes[:5]}...), but the last layer has "
                f"{outputs} output(s): give it {len(classes)} units with softmax"
                + (" or 1 with sigmoid" if len(classes) == 2 else "")
            )
    y = check.check_array(y, "y", ndim=(1, 2))
    check.check_same_length(X, y)
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

    output_shape = model.output_shape if model.built else model.output_shape_for(X.shape[1:])
    y = _prepare_targets(loss, y, output_shape, model.dtype, "y")

    validation = None
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise TypeError(
                "validation_data must be a pair (X_val, y_val), "
                f"got {check.describe(validation_data)}"
            )
        X_val = model.check_inputs(validation_data[0], "validation_data[0]")
        sources.scan(X_val)
        if X_val.shape[1:] != X.shape[1:]:
            if X.ndim == X_val.ndim == 2:
                raise ValueError(
                    f"validation_data[0] must have {X.shape[1]} features like X, got "
                    f"{X_val.shape[1]}"
                )
            raise ValueError(
                f"validation_data[0] must have samples of shape {X.shape[1:]} like X, got "
                f"{X_val.shape[1:]}"
            )
        y_val, _ = _label_indices(validation_data[1], loss, classes, "validation_data[1]")
        y_val = check.check_array(y_val, "validation_data[1]", ndim=(1, 2))
        check.check_same_length(X_val, y_val, "validation_data[0]", "validation_data[1]")
        validation = (
            X_val,
            _prepare_targets(loss, y_val, output_shape, model.dtype, "validation_data[1]"),
        )
    elif validation_split > 0:
        n_train = int(len(X) * (1.0 - validation_split))
        if n_train < 1 or n_train == len(X):
            raise ValueError(
                f"validation_split={validation_split:g} leaves no sample for training or "
                f"validation out of {len(X)}"
            )
        # As in Keras, the last samples (before any shuffling) are held out: views, no copies.
        validation = (sources.row_range(X, n_train, len(X)), y[n_train:])
        X, y = sources.row_range(X, 0, n_train), y[:n_train]
        if sample_weight is not None:
            sample_weight = sample_weight[:n_train]

    logged = ["loss", *(name for name, _ in metric_pairs)]
    if validation is not None:
        logged += [f"val_{name}" for name in logged]
    for index, callback in enumerate(callbacks):
        monitor = getattr(callback, "monitor", None)
        if monitor is not None and monitor not in logged:
            raise ValueError(
                f"callbacks[{index}] monitors {monitor!r}, which this fit does not log "
                f"(it logs {logged}); pass validation data or pick another monitor"
            )
        check_paths = getattr(callback, "check_before_fit", None)
        if check_paths is not None:
            check_paths()

    if resume is not None:
        settings = {
            "batch_size": batch_size,
            "shuffle": shuffle,
            "metrics": [name for name, _ in metric_pairs],
            "logged": logged,
        }
        check_resumable(model, resume, X.shape[1:], loss, optimizer, settings)
        if resume.epoch > epochs:
            raise ValueError(
                f"epochs must be at least the {resume.epoch} epochs resume_from has completed, "
                f"got {epochs}"
            )
        steps = resume.epoch * -(-len(X) // batch_size)
        if resume.optimizer.iterations != steps:
            raise ValueError(
                f"resume_from's optimizer has taken {resume.optimizer.iterations} steps, but "
                f"{resume.epoch} epochs of these data in batches of {batch_size} take {steps}: "
                "resume with the data of the interrupted run"
            )
        optimizer = resume.optimizer  # carries the moments and the update count
    return _FitPlan(
        X, y, sample_weight, loss, optimizer, epochs, batch_size, shuffle, validation,
        metric_pairs, callbacks, verbose, resume, classes,
    )  # fmt: skip


def _run_fit(model: Sequential, plan: _FitPlan) -> History:
    """Train ``model`` as ``plan`` says; returns the history."""
    model._ensure_built(plan.X)
    history = History()
    start_epoch = 0
    if plan.resume is not None:
        start_epoch = apply_checkpoint(model, plan.resume, history)
    model.loss, model.optimizer = plan.loss, plan.optimizer
    if plan.classes is not None:
        model.classes = plan.classes
    model.metric_names = [name for name, _ in plan.metrics]
    step = TrainingStep(model, plan.loss, plan.optimizer)
    callbacks: list[Callback] = [history, *plan.callbacks]
    if plan.verbose:
        callbacks.append(ProgressLogger(plan.verbose, plan.epochs))
    params = {
        "epochs": plan.epochs,
        "steps": -(-len(plan.X) // plan.batch_size),
        "batch_size": plan.batch_size,
        "shuffle": plan.shuffle,
        "history": history,  # what a ModelCheckpoint saves with the model
        "callbacks": plan.callbacks,  # whose states a ModelCheckpoint saves too
        "resumed_callbacks": [] if plan.resume is None else plan.resume.callbacks,
        "step": step,  # its observers see each layer's training outputs (diagnostics)
    }
    for callback in callbacks:
        callback.set_model(model)
        callback.set_params(params)

    def validate(logs: dict[str, float]) -> None:
        X_val, y_val = plan.validation
        logs.update(evaluate_loss_and_metrics(step, X_val, y_val, plan.metrics, prefix="val_"))

    run_epochs(
        step, plan.X, plan.y, plan.sample_weight, epochs=plan.epochs,
        batch_size=plan.batch_size, shuffle=plan.shuffle, history=history,
        callbacks=callbacks, start_epoch=start_epoch, metrics=plan.metrics,
        end_of_epoch=None if plan.validation is None else validate,
    )  # fmt: skip
    return history
