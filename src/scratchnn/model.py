"""``Model`` and ``Sequential``: a :class:`~scratchnn.network.Network` with ``fit``, ``evaluate``
and ``save``.

``Model(inputs, outputs)`` is any graph of layers made from ``Input`` tensors (Keras's functional
API); ``Sequential(layers)`` is the chain, a stack of layers. ``fit`` checks every argument here,
at the boundary, before any state changes; the training itself is
:func:`scratchnn.training.run_epochs` driving a :class:`~scratchnn.training.TrainingStep`.
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
from .labels import label_indices
from .layers.symbolic import SymbolicTensor
from .losses import Loss
from .metrics import Metric, get_metric
from .network import Network
from .optimizers import Optimizer, get_optimizer
from .training import (
    TrainingStep,
    evaluate_loss_and_metrics,
    losses_per_output,
    prepare_targets,
    run_epochs,
    several_targets,
    target_ndim,
)


class Model(Network):
    """A network of layers from ``inputs`` to ``outputs`` that you can train: ``fit``,
    ``predict``, ``evaluate``, ``save``.

    Build the graph by calling layers on tensors from :func:`~scratchnn.Input`; a layer called
    twice shares its weights. All trainable parameters live in one flat array ``params``, one
    seed drives every random draw, and inference may run from many threads at once.

    Parameters
    ----------
    inputs : SymbolicTensor or list of them
        The model's inputs, each made by ``Input(...)``.
    outputs : SymbolicTensor or list of them
        The tensors the model returns; several outputs take a loss each in ``fit``.
    name : str, optional
        The model's name.
    seed, dtype, input_gradient
        As for :class:`Sequential`.

    Examples
    --------
    >>> import numpy as np
    >>> from scratchnn import Input, Model
    >>> from scratchnn.layers import Add, Dense
    >>> x = Input(shape=(4,))
    >>> h = Dense(4, "relu")(x)
    >>> out = Dense(1)(Add()([h, x]))          # a skip connection
    >>> model = Model(inputs=x, outputs=out, seed=0)
    >>> model.predict(np.ones((2, 4))).shape
    (2, 1)
    """

    def __init__(
        self,
        inputs: Any,
        outputs: Any,
        name: str | None = None,
        seed: int | None = None,
        dtype: str = "float32",
        input_gradient: bool = False,
    ) -> None:
        self._init_graph(inputs, outputs, seed, dtype, input_gradient)
        self._on_create(name)

    def _on_create(self, name: str | None = None) -> None:
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"name must be a non-empty string, got {check.describe(name)}")
        self.name = name or type(self).__name__.lower()
        self.loss: Any = None  # a Loss, or a list of them (one per output)
        self.loss_weights: list[float] | None = None
        self.optimizer: Optimizer | None = None
        self.metric_names: list[str] = []
        self.stop_training = False
        self.training_thread: int | None = None  # the id of the thread fit runs in, during fit
        self.classes: list[Any] | None = None  # class labels, kept by model files
        self.feature_names: list[str] | None = None  # the input columns' names, ditto

    def compile(
        self,
        optimizer: str | Optimizer = "adam",
        loss: Any = None,
        metrics: Sequence[str] = (),
        loss_weights: Any = None,
    ) -> None:
        """Keep ``optimizer``, ``loss``, ``metrics`` and ``loss_weights`` as ``fit``'s defaults
        (Keras's habit: ``model.compile(...)``, then ``model.fit(X, y)``).

        Everything is checked now (an unknown name fails here); the optimizer object is the one
        ``fit`` will use, so its moments carry over from one ``fit`` to the next.
        """
        losses = losses_per_output(self, loss)
        resolve_metrics(metrics)  # an unknown name fails now
        self._compiled = {
            "optimizer": get_optimizer(optimizer),
            "loss": losses if self.n_outputs > 1 else losses[0],
            "metrics": metrics,
            "loss_weights": _loss_weights(self, loss_weights),
        }

    def get_weights(self) -> list[np.ndarray]:
        """Copies of every layer's arrays, layer by layer: its parameters (``W``, ``b``...) then
        its state (batch-norm statistics), as Keras's ``get_weights`` lists them."""
        self._require_built("get_weights")
        return [
            array.copy()
            for layer in self.layers
            for array in [*layer.params.values(), *layer.state.values()]
        ]

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Put back arrays in :meth:`get_weights`'s order; all are checked before any changes."""
        self._require_built("set_weights")
        targets = [
            (f"{layer.name}.{key}", array)
            for layer in self.layers
            for key, array in [*layer.params.items(), *layer.state.items()]
        ]
        if isinstance(weights, np.ndarray) or not isinstance(weights, Sequence):
            raise TypeError(f"weights must be a list of arrays, got {check.describe(weights)}")
        if len(weights) != len(targets):
            raise ValueError(
                f"weights must hold {len(targets)} arrays ({[n for n, _ in targets][:6]}...), "
                f"got {len(weights)}"
            )
        checked = []
        for (label, target), value in zip(targets, weights, strict=True):
            value = check.check_array(value, label, ndim=target.ndim)
            if value.shape != target.shape:
                raise ValueError(f"{label} must have shape {target.shape}, got {value.shape}")
            checked.append(value)
        for (_, target), value in zip(targets, checked, strict=True):
            target[...] = value

    def get_layer(self, name: str) -> Any:
        """The layer called ``name`` (a graph's inputs are layers too)."""
        layers = list(self.layers)
        if self.is_graph:
            layers += [t.node.layer for t in self.graph[0]]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(
            f"this model has no layer named {name!r}; it has {[layer.name for layer in layers]}"
        )

    def __call__(self, X: Any) -> Any:
        """``model(X)``: the outputs for ``X`` in inference mode, as ``predict`` gives them."""
        if isinstance(X, SymbolicTensor):
            raise TypeError(
                "calling a model on symbolic tensors is not supported: call its layers, or use "
                "the model's outputs"
            )
        return self.predict(X)

    # -- training -----------------------------------------------------------------------------
    def fit(
        self,
        X: Any,
        y: Any,
        loss: Any = None,
        optimizer: str | Optimizer | None = None,
        epochs: int = 1,
        batch_size: int = 32,
        shuffle: bool = True,
        validation_data: tuple[Any, Any] | None = None,
        validation_split: float = 0.0,
        metrics: Sequence[str] | None = None,
        callbacks: Sequence[Callback] = (),
        verbose: int = 1,
        sample_weight: Any = None,
        resume_from: str | os.PathLike | None = None,
        loss_weights: Any = None,
    ) -> History:
        """Train on ``X`` ``(N, ...input_shape)`` and ``y`` with mini-batch gradient descent.

        ``loss``, ``optimizer``, ``metrics`` and ``loss_weights`` default to what
        :meth:`compile` set, else: the loss the output layer implies (softmax: categorical
        cross-entropy, sigmoid: binary cross-entropy, anything else: mean squared error),
        ``"adam"`` and no metrics. A model with several inputs takes ``X`` as a list (in the
        order of its inputs) or a dict by input name; one with several outputs takes ``y``
        likewise, ``loss`` as one loss for all, a list or a dict by output name, and
        ``loss_weights`` (the loss minimised is ``sum_k w_k L_k``); its History logs ``loss``,
        ``{output}_loss`` and ``{output}_{metric}`` for each output, as Keras names them.

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
        if self.training_thread is not None:
            raise RuntimeError("this model is already being trained (fit runs in another thread)")
        compiled = getattr(self, "_compiled", {})
        loss = compiled.get("loss") if loss is None else loss
        optimizer = compiled.get("optimizer", "adam") if optimizer is None else optimizer
        metrics = compiled.get("metrics", ()) if metrics is None else metrics
        loss_weights = compiled.get("loss_weights") if loss_weights is None else loss_weights
        plan = _plan_fit(
            self, X, y, loss, optimizer, epochs, batch_size, shuffle, validation_data,
            validation_split, metrics, callbacks, verbose, sample_weight, resume_from,
            loss_weights,
        )  # fmt: skip
        self.training_thread = threading.get_ident()  # read by check_not_training
        try:
            return _run_fit(self, plan)
        finally:
            self.training_thread = None

    # -- inference ----------------------------------------------------------------------------
    def evaluate(
        self,
        X: Any,
        y: Any,
        loss: str | Loss | None = None,
        metrics: Sequence[str] | None = None,
        batch_size: int = 8192,
    ) -> dict[str, float]:
        """Loss and metrics on ``(X, y)`` in inference mode (defaults: those of the last fit, else
        of :meth:`compile`, else the loss the output layer implies)."""
        compiled = getattr(self, "_compiled", {})
        if loss is None:
            loss = self.loss if self.loss is not None else compiled.get("loss")
        losses = losses_per_output(self, loss)
        several = self.n_outputs > 1
        if metrics is None:
            metrics = self.metric_names or compiled.get("metrics", ())
        metric_fns = resolve_metrics(metrics)
        batch_size = check.check_positive_int(batch_size, "batch_size")
        X = self.check_inputs(X)
        if several:
            y = several_targets(self, losses, y, "y", len(X))
            weights = self.loss_weights or compiled.get("loss_weights")
            step = TrainingStep(self, losses, loss_weights=weights)
            return evaluate_loss_and_metrics(step, X, y, metric_fns, batch_size)
        loss = losses[0]
        y, _ = label_indices(y, loss, self.classes, "y")
        output_shape = self.output_shape if self.built else self.output_shape_for(X.shape[1:])
        y = check.check_array(y, "y", ndim=target_ndim(output_shape))
        check.check_same_length(X, y)
        y = prepare_targets(loss, y, output_shape, self.dtype, "y")  # checked before building
        self.ensure_built(X)
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

    def copy(self, dtype: str | None = None) -> Model:
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

        See :func:`scratchnn.export.to_onnx`: a model with one input and one output has input
        ``input`` ``(batch, ...input_shape)`` and output ``output``, in this model's dtype; a
        graph with several takes its inputs' and outputs' names.
        """
        return export.to_onnx(self, path, opset=opset)


class Sequential(Model):
    """A stack of layers you can train: the output of each layer is the input of the next.

    The chain case of :class:`Model`, with the same ``fit``, ``predict``, ``evaluate`` and
    ``save``. The first layer's ``input_shape`` (or ``input_dim``) may be left out: it is then
    taken from the first data seen. See :class:`~scratchnn.network.Network` for ``seed``,
    ``dtype`` and ``input_gradient``.

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
        name: str | None = None,
    ) -> None:
        Network.__init__(self, layers, seed=seed, dtype=dtype, input_gradient=input_gradient)
        self._on_create(name)


io.register_kind("Sequential", Sequential, Sequential.from_config)
io.register_kind("Model", Model, Model.from_config)


def resolve_metrics(names: Any) -> list[tuple[str, Metric]]:
    """``(name, function)`` pairs for metric names or functions (one alone is a list of one)."""
    if isinstance(names, str) or callable(names):
        names = [names]
    if not isinstance(names, Iterable) or isinstance(names, Mapping):
        raise TypeError(
            f"metrics must be a list of metric names or functions, got {check.describe(names)}"
        )
    return [get_metric(name) for name in names]


def _loss_weights(model: Model, weights: Any) -> list[float] | None:
    if weights is None:
        return None
    names = model.output_names if model.is_graph else ["output"]
    if isinstance(weights, Mapping):
        if sorted(map(str, weights)) != sorted(names):
            raise ValueError(
                f"loss_weights must be keyed by the model's output names {names}, got "
                f"{sorted(weights)}"
            )
        weights = [weights[n] for n in names]
    if not isinstance(weights, (list, tuple)) or len(weights) != len(names):
        raise ValueError(
            f"loss_weights must hold one number per output ({len(names)}), got "
            f"{check.describe(weights)}"
        )
    return [check.check_number(w, "loss_weights", low=0.0) for w in weights]


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
    loss_weights: list[float] | None = None  # one per output, for several outputs


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
    loss_weights: Any = None,
) -> _FitPlan:
    """Check every argument of ``fit`` and convert the data; changes no state of ``model``."""
    X = model.check_inputs(X)
    sources.scan(X)  # data read batch by batch are checked in one pass, before anything changes
    several = model.n_outputs > 1
    losses = losses_per_output(model, loss)
    loss = losses if several else losses[0]
    loss_weights = _loss_weights(model, loss_weights)
    resume = None if resume_from is None else read_checkpoint(resume_from)
    known = model.classes
    if known is None and resume is not None:
        known = resume.classes  # a resumed fit keeps the interrupted run's labels in order
    y, classes = (y, None) if several else label_indices(y, loss, known, "y")
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
    if several:
        y = several_targets(model, losses, y, "y", len(X))
    else:
        output_shape = model.output_shape if model.built else model.output_shape_for(X.shape[1:])
        y = check.check_array(y, "y", ndim=target_ndim(output_shape))
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
        per_position = 1 if several or len(output_shape) == 1 else (1, len(output_shape))
        sample_weight = check.check_array(
            sample_weight, "sample_weight", ndim=per_position, dtype=model.dtype
        )
        check.check_same_length(X, sample_weight, "X", "sample_weight")
        if np.any(sample_weight < 0):
            raise ValueError("sample_weight must be non-negative, got negative weights")
        if not np.any(sample_weight > 0):
            raise ValueError("sample_weight must hold at least one positive weight, got all zeros")

    head = model.topology.nodes[model.output_nodes()[0]][0]
    if not several:
        y = prepare_targets(loss, y, output_shape, model.dtype, "y", head)

    validation = None
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise TypeError(
                "validation_data must be a pair (X_val, y_val), "
                f"got {check.describe(validation_data)}"
            )
        X_val = model.check_inputs(validation_data[0], "validation_data[0]")
        sources.scan(X_val)
        if several:
            validation = (
                X_val,
                several_targets(
                    model, losses, validation_data[1], "validation_data[1]", len(X_val)
                ),
            )
        elif model.is_graph:
            pass  # check_inputs compared each input with its Input
        elif X_val.shape[1:] != X.shape[1:]:
            if X.ndim == X_val.ndim == 2:
                raise ValueError(
                    f"validation_data[0] must have {X.shape[1]} features like X, got "
                    f"{X_val.shape[1]}"
                )
            raise ValueError(
                f"validation_data[0] must have samples of shape {X.shape[1:]} like X, got "
                f"{X_val.shape[1:]}"
            )
        if not several:
            y_val, _ = label_indices(validation_data[1], loss, classes, "validation_data[1]")
            y_val = check.check_array(y_val, "validation_data[1]", ndim=target_ndim(output_shape))
            check.check_same_length(X_val, y_val, "validation_data[0]", "validation_data[1]")
            validation = (
                X_val,
                prepare_targets(loss, y_val, output_shape, model.dtype, "validation_data[1]"),
            )
    elif validation_split > 0:
        n_train = int(len(X) * (1.0 - validation_split))
        if n_train < 1 or n_train == len(X):
            raise ValueError(
                f"validation_split={validation_split:g} leaves no sample for training or "
                f"validation out of {len(X)}"
            )
        # As in Keras, the last samples (before any shuffling) are held out: views, no copies.
        validation = (sources.row_range(X, n_train, len(X)), sources.row_range(y, n_train, len(X)))
        X, y = sources.row_range(X, 0, n_train), sources.row_range(y, 0, n_train)
        if sample_weight is not None:
            sample_weight = sample_weight[:n_train]

    logged = ["loss", *(name for name, _ in metric_pairs)]
    if several:
        logged = ["loss", *(f"{o}_loss" for o in model.output_names)]
        logged += [f"{o}_{name}" for o in model.output_names for name, _ in metric_pairs]
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
        sample_shape = model.input_shape if model.is_graph else X.shape[1:]
        check_resumable(model, resume, sample_shape, loss, optimizer, settings)
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
        metric_pairs, callbacks, verbose, resume, classes, loss_weights,
    )  # fmt: skip


def _run_fit(model: Sequential, plan: _FitPlan) -> History:
    """Train ``model`` as ``plan`` says; returns the history."""
    model.ensure_built(plan.X)
    history = History()
    start_epoch = 0
    if plan.resume is not None:
        start_epoch = apply_checkpoint(model, plan.resume, history)
    model.loss, model.optimizer = plan.loss, plan.optimizer
    model.loss_weights = plan.loss_weights
    if plan.classes is not None:
        model.classes = plan.classes
    model.metric_names = [name for name, _ in plan.metrics]
    step = TrainingStep(model, plan.loss, plan.optimizer, loss_weights=plan.loss_weights)
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
