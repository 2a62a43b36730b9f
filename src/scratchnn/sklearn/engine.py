"""The engine behind :mod:`scratchnn.sklearn`: the network, the epoch loop and L-BFGS.

Nothing here imports scikit-learn; the estimators in :mod:`scratchnn.sklearn` check their
arguments and data, then hand plain arrays to these functions. The objective is
``MLPClassifier``'s so that ``tol``, ``alpha`` and ``loss_curve_`` mean the same thing in both:

``L = sum_n w_n l_n / sum_n w_n + alpha / (2 sum_n w_n) * sum_layers ||W||^2``

over a batch (the whole training set for L-BFGS), with ``w_n = 1`` without sample weights.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from ..layers import ActivationLayer, BatchNorm, Dense, Dropout
from ..losses import Loss, MeanSquaredError
from ..model import Sequential
from ..optimizers import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop
from ..schedules import CosineDecay, ExponentialDecay, Schedule, StepDecay
from ..training import DivergenceWarning

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


class WeightPenalty:
    """MLP's L2 term ``alpha / (2 s) * sum ||W||^2`` on the Dense kernels (biases are free).

    ``s`` is the batch's total sample weight; :meth:`add` adds ``alpha / s * W`` to each kernel's
    gradient in place and returns the penalty's value.
    """

    def __init__(self, model: Sequential, alpha: float) -> None:
        self.alpha = alpha
        self.kernels = [
            (layer.params["W"], layer.grads["W"])
            for layer in model.layers
            if isinstance(layer, Dense)
        ]

    def add(self, weight_sum: float) -> float:
        if not self.alpha:
            return 0.0
        coef = self.alpha / weight_sum
        total = 0.0
        for kernel, grad in self.kernels:
            total += float(np.vdot(kernel, kernel))
            grad += grad.dtype.type(coef) * kernel
        return 0.5 * coef * total


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


def _snapshot(model: Sequential) -> tuple[np.ndarray, list[np.ndarray]]:
    """Weights and batch-norm statistics, to restore the best epoch after early stopping."""
    states = [value.copy() for layer in model.layers for value in layer.state.values()]
    return model.params.copy(), states


def _restore(model: Sequential, snapshot: tuple[np.ndarray, list[np.ndarray]]) -> None:
    params, states = snapshot
    model.params[...] = params
    targets = [value for layer in model.layers for value in layer.state.values()]
    for target, value in zip(targets, states, strict=True):
        target[...] = value


class TrainingState:
    """What the epoch loop keeps between ``fit`` epochs and ``partial_fit`` calls."""

    def __init__(self) -> None:
        self.loss_curve: list[float] = []
        self.validation_scores: list[float] = []
        self.best_loss = np.inf
        self.best_validation_score = -np.inf
        self.no_improvement_count = 0
        self.best_snapshot: tuple[np.ndarray, list[np.ndarray]] | None = None


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
    """Train for up to ``epochs`` epochs; returns True when it stopped on its own (converged).

    Stopping follows MLPClassifier: with ``validation_score`` (a function of the model giving
    the held-out score), training stops once the score has not beaten its best by ``tol`` for
    more than ``n_iter_no_change`` epochs, and the best epoch's weights are restored by the
    caller; without it, the same rule applies to the training loss. With ``adaptive`` a plateau
    divides the learning rate by 5 instead, until it falls below 1e-6.
    """
    penalty = WeightPenalty(model, alpha)
    n = len(X)
    weight_total = float(n if sample_weight is None else sample_weight.sum())
    for _ in range(epochs):
        start_params = model.params.copy()
        if shuffle:
            # One gather per epoch, then contiguous slices: cheaper than a gather per batch.
            order = model.rng.permutation(n)
            X_epoch, y_epoch = X[order], y[order]
            w_epoch = None if sample_weight is None else sample_weight[order]
        else:
            X_epoch, y_epoch, w_epoch = X, y, sample_weight
        total = 0.0
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for start in range(0, n, batch_size):
                stop = min(start + batch_size, n)
                if w_epoch is None:
                    weights, weight_sum = None, float(stop - start)
                else:
                    batch_weights = w_epoch[start:stop]
                    weight_sum = float(batch_weights.sum())
                    if weight_sum == 0.0:
                        continue  # nothing to learn from this batch
                    # The core loss averages over N; this rescaling makes it sum w l / sum w.
                    weights = batch_weights * ((stop - start) / weight_sum)
                value, _, _ = model._loss_and_gradients(
                    X_epoch[start:stop], y_epoch[start:stop], loss, weights
                )
                value += penalty.add(weight_sum)
                if not math.isfinite(value):
                    model.params[...] = start_params
                    warnings.warn(
                        f"the loss became {value} in epoch {len(state.loss_curve) + 1}: training "
                        "stopped and the model keeps its last finite weights (try a smaller "
                        "learning_rate_init)",
                        DivergenceWarning,
                        stacklevel=4,
                    )
                    return True
                optimizer.step(model.params, model.grads)
                total += value * weight_sum
        state.loss_curve.append(total / weight_total)
        if _plateaued(model, state, tol, n_iter_no_change, validation_score, verbose):
            lr = optimizer.learning_rate
            if adaptive and isinstance(lr, float) and lr > 1e-6:
                optimizer.learning_rate = lr / 5.0
                state.no_improvement_count = 0
                if verbose:
                    print(f"Setting learning rate to {lr / 5.0:f}")
                continue
            return True
    return False


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
            state.best_snapshot = _snapshot(model)
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
    if sample_weight is None:
        weights, weight_sum = None, float(len(X))
    else:
        weight_sum = float(sample_weight.sum())
        weights = sample_weight.astype(np.float64) * (len(X) / weight_sum)
    penalty = WeightPenalty(work, alpha)

    def objective(flat: np.ndarray) -> tuple[float, np.ndarray]:
        work.params[...] = flat
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            value, _, _ = work._loss_and_gradients(X, y, loss, weights, training=True)
        value += penalty.add(weight_sum)
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
        model.params[...] = work.params
        for source, target in zip(work.layers, model.layers, strict=True):
            for key, value in source.state.items():
                target.state[key][...] = value
    state.best_loss = min(state.best_loss, float(result.fun))
    return result.status == 0, int(result.nit), str(result.message)
