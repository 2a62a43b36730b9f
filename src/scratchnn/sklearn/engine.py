"""The engine behind :mod:`scratchnn.sklearn`: the network, the epoch loop and L-BFGS.

Nothing here imports scikit-learn; the estimators in :mod:`scratchnn.sklearn` check their
arguments and data, then hand plain arrays to these functions. The objective is
``MLPClassifier``'s so that ``tol``, ``alpha`` and ``loss_curve_`` mean the same thing in both:

``L = sum_n w_n l_n / sum_n w_n + alpha / (2 sum_n w_n) * sum_layers ||W||^2``

over a batch (the whole training set for L-BFGS), with ``w_n = 1`` without sample weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..callbacks import Callback, History
from ..layers import ActivationLayer, BatchNorm, Dense, Dropout
from ..losses import Loss, MeanSquaredError
from ..model import Sequential
from ..optimizers import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop
from ..schedules import CosineDecay, ExponentialDecay, Schedule, StepDecay
from ..training import QUIET, TrainingStep, run_epochs

STOCHASTIC_SOLVERS = ("adam", "adamw", "sgd", "rmsprop", "adagrad")
SCHEDULES = ("constant", "adaptive", "cosine", "exponential", "step")


class HalfSquaredError(MeanSquaredError):
    """MLPRegressor's loss: ``l_n = mean_k (p_nk - y_nk)^2 / 2``; ``dl_n/dp_nk = (p - y) / K``."""

    name = "half_squared_error"

    def per_sample(self, y_pred, y_true):
        return 0.5 * super().per_sample(y_pred, y_true)

    def per_sample_grad(self, y_pred, y_true):
        return (y_pred - y_true) * y_pred.dtype.type(1.0 / y_pred.shape[1])


def build_network(
    n_features: int,
    hidden_layer_sizes: tuple[int, ...],
    activation: str,
    n_outputs: int,
    output_activation: str,
    dropout: float,
    batch_norm: bool,
    seed: int | None,
    dtype: str,
) -> Sequential:
    """``Dense -> [BatchNorm] -> activation -> [Dropout]`` per hidden layer, then the head."""
    layers: list[Any] = []
    for units in hidden_layer_sizes:
        if batch_norm:
            # BatchNorm's beta replaces the bias, so the Dense layer before it has none.
            layers += [Dense(units, use_bias=False), BatchNorm(), ActivationLayer(activation)]
        else:
            layers.append(Dense(units, activation))
        if dropout > 0:
            layers.append(Dropout(dropout))
    layers.append(Dense(n_outputs, output_activation))
    model = Sequential(layers, seed=seed, dtype=dtype)
    model.build(n_features)
    return model


def make_schedule(
    learning_rate: str, learning_rate_init: float, total_steps: int
) -> float | Schedule:
    """The learning rate (or schedule over ``total_steps`` updates) for ``learning_rate``."""
    total_steps = max(total_steps, 1)
    if learning_rate == "cosine":
        return CosineDecay(learning_rate_init, total_steps)
    if learning_rate == "exponential":
        return ExponentialDecay(learning_rate_init, total_steps, 0.01)  # ends at 1% of the start
    if learning_rate == "step":
        return StepDecay(learning_rate_init, max(total_steps // 3, 1), 0.1)  # /10 each third
    return learning_rate_init  # "constant" and "adaptive" (divided by 5 on a plateau)


def make_optimizer(learning_rate: float | Schedule, settings: dict[str, Any]) -> Optimizer:
    """The core optimizer for ``settings["solver"]``, with the estimator's settings."""
    solver = settings["solver"]
    if solver == "sgd":
        momentum = settings["momentum"]
        return SGD(
            learning_rate, momentum, nesterov=settings["nesterovs_momentum"] and momentum > 0
        )
    if solver in ("adam", "adamw"):
        betas = dict(
            beta_1=settings["beta_1"], beta_2=settings["beta_2"], epsilon=settings["epsilon"]
        )
        if solver == "adamw":
            return AdamW(learning_rate, weight_decay=settings["weight_decay"], **betas)
        return Adam(learning_rate, **betas)
    if solver == "rmsprop":
        return RMSprop(learning_rate)
    return Adagrad(learning_rate)


class TrainingState:
    """What the epoch loop keeps between ``fit`` epochs and ``partial_fit`` calls."""

    def __init__(self) -> None:
        self.loss_curve: list[float] = []
        self.validation_scores: list[float] = []
        self.best_loss = np.inf
        self.best_validation_score = -np.inf
        self.no_improvement_count = 0
        self.best_snapshot: dict[str, Any] | None = None


class _MLPStopping(Callback):
    """MLPClassifier's stopping rule as a callback of the shared epoch loop.

    With ``validation_score`` (a function of the model giving the held-out score), training
    stops once the score has not beaten its best by ``tol`` for more than ``n_iter_no_change``
    epochs, and the best epoch's weights are restored by the caller; without it, the same rule
    applies to the training loss. With ``adaptive`` a plateau divides the learning rate by 5
    instead, until it falls below 1e-6.
    """

    def __init__(
        self, state, optimizer, tol, n_iter_no_change, adaptive, validation_score, verbose
    ) -> None:
        self.state, self.optimizer, self.tol = state, optimizer, tol
        self.n_iter_no_change, self.adaptive = n_iter_no_change, adaptive
        self.validation_score, self.verbose = validation_score, verbose
        self.converged = False

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        state = self.state
        state.loss_curve.append(logs["loss"])
        if not _plateaued(
            self.model, state, self.tol, self.n_iter_no_change, self.validation_score, self.verbose
        ):
            return
        lr = self.optimizer.learning_rate
        if self.adaptive and isinstance(lr, float) and lr > 1e-6:
            self.optimizer.learning_rate = lr / 5.0
            state.no_improvement_count = 0
            if self.verbose:
                print(f"Setting learning rate to {lr / 5.0:f}")
            return
        self.converged = True
        self.model.stop_training = True


def fit_stochastic(
    model: Sequential,
    optimizer: Optimizer,
    loss: Loss,
    state: TrainingState,
    X: np.ndarray,
    y: np.ndarray,
    sample_weight: np.ndarray | None,
    *,
    epochs: int,
    batch_size: int,
    shuffle: bool,
    alpha: float,
    tol: float,
    n_iter_no_change: int,
    adaptive: bool,
    validation_score: Any = None,
    verbose: bool = False,
) -> bool:
    """Train for up to ``epochs`` epochs in the shared loop; True when it stopped on its own.

    The objective is MLP's (``sum w l / sum w`` per batch plus ``alpha / (2 sum w) ||W||^2``);
    a diverging loss stops training with the core's divergence rule.
    """
    step = TrainingStep(model, loss, optimizer, weight_decay=alpha, normalize_weights=True)
    stopping = _MLPStopping(state, optimizer, tol, n_iter_no_change, adaptive, validation_score,
                            verbose)  # fmt: skip
    stopping.set_model(model)
    history = History()
    run_epochs(
        step, X, y, sample_weight, epochs=epochs, batch_size=batch_size, shuffle=shuffle,
        history=history, callbacks=[stopping],
    )  # fmt: skip
    return stopping.converged or history.stop_reason is not None  # a divergence warned already


def _plateaued(
    model: Sequential,
    state: TrainingState,
    tol: float,
    n_iter_no_change: int,
    validation_score: Any,
    verbose: bool,
) -> bool:
    """Update the no-improvement count after an epoch (MLP's rule); True once it is too long."""
    if validation_score is not None:
        score = float(validation_score())
        state.validation_scores.append(score)
        if score < state.best_validation_score + tol:
            state.no_improvement_count += 1
        else:
            state.no_improvement_count = 0
        if score > state.best_validation_score:
            state.best_validation_score = score
            state.best_snapshot = dict(model.get_state(), rng=None)
    else:
        last = state.loss_curve[-1]
        if last > state.best_loss - tol:
            state.no_improvement_count += 1
        else:
            state.no_improvement_count = 0
        state.best_loss = min(state.best_loss, last)
    if verbose:
        line = f"Iteration {len(state.loss_curve)}, loss = {state.loss_curve[-1]:.8f}"
        if validation_score is not None:
            line += f", validation score = {state.validation_scores[-1]:.6f}"
        print(line)
    return state.no_improvement_count > n_iter_no_change


def refresh_batch_norm(model: Sequential, X: np.ndarray) -> None:
    """Set batch-norm running statistics to the exact statistics of ``X`` (one forward pass)."""
    norms = [layer for layer in model.layers if isinstance(layer, BatchNorm)]
    if not norms:
        return
    momenta = [layer.momentum for layer in norms]
    for layer in norms:
        layer.momentum = 0.0  # running = batch statistic
    try:
        model.forward(X, training=True)
    finally:
        for layer, momentum in zip(norms, momenta, strict=True):
            layer.momentum = momentum


def fit_lbfgs(
    model: Sequential,
    loss: Loss,
    state: TrainingState,
    X: np.ndarray,
    y: np.ndarray,
    sample_weight: np.ndarray | None,
    *,
    alpha: float,
    max_iter: int,
    max_fun: int,
    tol: float,
    verbose: bool = False,
) -> tuple[bool, int, str]:
    """Full-batch L-BFGS-B (scipy) over the flat parameter vector, computed in float64.

    Returns ``(converged, iterations, scipy's message)``. Batch norm uses full-batch statistics
    during the search; its running statistics are then set to those of ``X``.
    """
    from scipy.optimize import minimize

    work = model if model.params.dtype == np.float64 else model.copy(dtype="float64")
    X = X.astype(np.float64, copy=False)
    if y.dtype.kind == "f":
        y = y.astype(np.float64, copy=False)
    weights = None if sample_weight is None else sample_weight.astype(np.float64)
    step = TrainingStep(work, loss, weight_decay=alpha, normalize_weights=True)

    def objective(flat: np.ndarray) -> tuple[float, np.ndarray]:
        work.params[...] = flat
        with np.errstate(**QUIET):
            value = step.loss_and_gradients(X, y, weights).loss
        return value, work.grads.copy()

    def record(intermediate_result: Any) -> None:
        state.loss_curve.append(float(intermediate_result.fun))
        if verbose:
            print(f"Iteration {len(state.loss_curve)}, loss = {state.loss_curve[-1]:.8f}")

    result = minimize(
        objective,
        work.params.copy(),
        method="L-BFGS-B",
        jac=True,
        callback=record,
        options={"maxiter": max_iter, "maxfun": max_fun, "gtol": tol},
    )
    work.params[...] = result.x
    refresh_batch_norm(work, X)
    if work is not model:
        model.set_state(dict(work.get_state(), rng=None))
    state.best_loss = min(state.best_loss, float(result.fun))
    return result.status == 0, int(result.nit), str(result.message)
