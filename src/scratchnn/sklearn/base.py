"""The shared base of the scikit-learn estimators: hyperparameter checks, fit, partial_fit.

The public classes live in :mod:`scratchnn.sklearn`; the math they drive is in
:mod:`scratchnn.sklearn.engine`.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from .. import _validation as check
from ..sources import SelectedRows
from .engine import (
    SCHEDULES,
    STOCHASTIC_SOLVERS,
    TrainingState,
    build_network,
    fit_lbfgs,
    fit_stochastic,
    make_optimizer,
    make_schedule,
)

# scikit-learn's names for activations, beside the core's own.
_ACTIVATION_ALIASES = {"identity": "linear", "logistic": "sigmoid"}
_HIDDEN_ACTIVATIONS = ("linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "softplus")
_SOLVERS = (*STOCHASTIC_SOLVERS, "lbfgs")


def _choice(value: Any, name: str, options: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}, got {value!r}")
    return value


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {check.describe(value)}")
    return bool(value)


def _seed_from(random_state: Any) -> int | None:
    """The model seed for ``random_state`` (None, an int, a RandomState or a Generator)."""
    if random_state is None:
        return None
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return check.check_non_negative_int(random_state, "random_state")
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int32).max))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(np.iinfo(np.int32).max))
    raise TypeError(
        "random_state must be None, a non-negative int, a numpy RandomState or Generator, "
        f"got {check.describe(random_state)}"
    )


def _check_weights(sample_weight: Any, n_samples: int, dtype: Any) -> np.ndarray:
    """``sample_weight`` as a finite, non-negative ``(n_samples,)`` array, not all zero."""
    weights = check_array(
        sample_weight, ensure_2d=False, dtype=dtype, input_name="sample_weight", copy=False
    )
    if weights.shape != (n_samples,):
        raise ValueError(
            f"sample_weight must have shape ({n_samples},) like X's rows, got {weights.shape}"
        )
    if np.any(weights < 0):
        raise ValueError("sample_weight must be non-negative, got negative weights")
    if not np.any(weights > 0):
        raise ValueError("sample_weight must hold at least one non-zero weight, got all zeros")
    return weights


class _BaseNeuralNet(BaseEstimator):
    """Shared fit/partial_fit machinery; subclasses define the targets, head and score."""

    _numeric_targets = False

    def __init__(
        self,
        hidden_layer_sizes: Any = (100,),
        activation: str = "relu",
        *,
        solver: str = "adam",
        alpha: float = 0.0001,
        batch_size: int | str = "auto",
        learning_rate: str = "constant",
        learning_rate_init: float = 0.001,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: Any = None,
        tol: float = 1e-4,
        verbose: bool = False,
        warm_start: bool = False,
        momentum: float = 0.9,
        nesterovs_momentum: bool = True,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        n_iter_no_change: int = 10,
        max_fun: int = 15000,
        dropout: float = 0.0,
        batch_norm: bool = False,
        weight_decay: float = 0.01,
        dtype: str = "float64",
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.weight_decay = weight_decay
        self.dtype = dtype

    # -- checks ---------------------------------------------------------------------------------
    def _check_hyperparameters(self) -> dict[str, Any]:
        """Check every hyperparameter once per fit; return them normalised."""
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral) and not isinstance(sizes, bool):
            sizes = (sizes,)
        if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
            raise TypeError(
                "hidden_layer_sizes must be an int or a sequence of ints, "
                f"got {check.describe(self.hidden_layer_sizes)}"
            )
        sizes = tuple(check.check_positive_int(s, "hidden_layer_sizes[i]") for s in sizes)
        number, unit = check.check_number, dict(low=0.0, high=1.0, high_inclusive=False)
        if not (self.batch_size == "auto" or isinstance(self.batch_size, numbers.Integral)):
            raise TypeError(
                "batch_size must be 'auto' or a positive int, "
                f"got {check.describe(self.batch_size)}"
            )
        settings = dict(
            hidden_layer_sizes=sizes,
            activation=_choice(
                _ACTIVATION_ALIASES.get(self.activation, self.activation)
                if isinstance(self.activation, str)
                else self.activation,
                "activation",
                _HIDDEN_ACTIVATIONS,
            ),
            solver=_choice(self.solver, "solver", _SOLVERS),
            alpha=number(self.alpha, "alpha", low=0.0),
            batch_size=self.batch_size
            if self.batch_size == "auto"
            else check.check_positive_int(self.batch_size, "batch_size"),
            learning_rate=_choice(self.learning_rate, "learning_rate", SCHEDULES),
            learning_rate_init=check.check_positive_number(
                self.learning_rate_init, "learning_rate_init"
            ),
            max_iter=check.check_positive_int(self.max_iter, "max_iter"),
            shuffle=_flag(self.shuffle, "shuffle"),
            seed=_seed_from(self.random_state),
            tol=number(self.tol, "tol", low=0.0),
            verbose=bool(check.check_non_negative_int(int(self.verbose), "verbose"))
            if isinstance(self.verbose, (bool, np.bool_))
            else bool(check.check_non_negative_int(self.verbose, "verbose")),
            warm_start=_flag(self.warm_start, "warm_start"),
            momentum=number(self.momentum, "momentum", **unit),
            nesterovs_momentum=_flag(self.nesterovs_momentum, "nesterovs_momentum"),
            early_stopping=_flag(self.early_stopping, "early_stopping"),
            validation_fraction=number(
                self.validation_fraction,
                "validation_fraction",
                low=0.0,
                high=1.0,
                low_inclusive=False,
                high_inclusive=False,
            ),  # fmt: skip
            beta_1=number(self.beta_1, "beta_1", **unit),
            beta_2=number(self.beta_2, "beta_2", **unit),
            epsilon=check.check_positive_number(self.epsilon, "epsilon"),
            n_iter_no_change=check.check_positive_int(self.n_iter_no_change, "n_iter_no_change"),
            max_fun=check.check_positive_int(self.max_fun, "max_fun"),
            dropout=number(self.dropout, "dropout", **unit),
            batch_norm=_flag(self.batch_norm, "batch_norm"),
            weight_decay=number(self.weight_decay, "weight_decay", low=0.0),
            dtype=np.dtype(check.check_dtype(self.dtype)).name,
        )
        if settings["solver"] == "lbfgs" and settings["dropout"] > 0:
            raise ValueError(
                "dropout needs a stochastic solver: L-BFGS needs a deterministic loss, "
                f"got solver='lbfgs' with dropout={settings['dropout']:g}"
            )
        return settings

    # -- fitting --------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> _BaseNeuralNet:
        """Train on ``X`` ``(n_samples, n_features)`` and ``y`` for up to ``max_iter`` epochs.

        With ``warm_start=True`` a fitted estimator continues from its weights (new optimizer
        state, as in scikit-learn). Returns ``self``.
        """
        return self._fit(X, y, sample_weight, incremental=False)

    def _has_stochastic_solver(self) -> bool:
        """``partial_fit`` exists only for the stochastic solvers (as in MLPClassifier)."""
        if self.solver == "lbfgs":
            raise AttributeError("partial_fit needs a stochastic solver, got solver='lbfgs'")
        return True

    def _fit(self, X, y, sample_weight, incremental, classes=None):
        # A rejected call changes nothing: scikit-learn's validate_data sets n_features_in_
        # (and the label encoders set classes_) before later checks may fail.
        before = dict(self.__dict__)
        try:
            return self._fit_checked(X, y, sample_weight, incremental, classes)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise

    def _fit_checked(self, X, y, sample_weight, incremental, classes=None):
        settings = self._check_hyperparameters()
        continuing = hasattr(self, "model_") and (incremental or settings["warm_start"])
        X, y = validate_data(
            self, X, y, reset=not continuing, dtype=settings["dtype"], multi_output=True,
            y_numeric=self._numeric_targets,
        )  # fmt: skip
        if sample_weight is not None:
            sample_weight = _check_weights(sample_weight, len(X), X.dtype)
        targets = self._encode_targets(y, first=not continuing, classes=classes)
        if not incremental:
            self._check_weighted_targets(targets, sample_weight)
        if not continuing:
            self.model_ = build_network(
                X.shape[1], settings["hidden_layer_sizes"], settings["activation"],
                self._n_outputs(), self._output_activation(), settings["dropout"],
                settings["batch_norm"], settings["seed"], settings["dtype"],
            )  # fmt: skip
            self.model_.loss = self._make_loss()
            self.n_iter_ = 0
        if not continuing:
            self._state = TrainingState()
            self._optimizer = None
        if not incremental:
            self._optimizer = None  # a warm start keeps the weights, not the optimizer's moments
            self._state.no_improvement_count = 0
        loss = self.model_.loss
        y_work = loss.prepare_targets(targets, self.model_.output_dim, self.model_.dtype)

        if settings["solver"] == "lbfgs":
            converged, n_iter, message = fit_lbfgs(
                self.model_, loss, self._state, X, y_work, sample_weight,
                alpha=settings["alpha"], max_iter=settings["max_iter"],
                max_fun=settings["max_fun"], tol=settings["tol"], verbose=settings["verbose"],
            )  # fmt: skip
            self.n_iter_ += max(n_iter, 1)
            if not converged:
                warnings.warn(
                    f"L-BFGS did not converge ({message}); increase max_iter or max_fun, "
                    "or scale the data",
                    ConvergenceWarning,
                    stacklevel=3,
                )
        else:
            self._fit_stochastic(settings, X, y, y_work, sample_weight, incremental)
        self._publish_state(settings["early_stopping"] and not incremental)
        return self

    def _fit_stochastic(self, settings, X, y, y_work, sample_weight, incremental) -> None:
        validation, validation_score = None, None
        train_X, train_y, train_w = X, y_work, sample_weight
        if settings["early_stopping"] and not incremental:
            # The split of the row numbers, as scikit-learn would split the arrays themselves;
            # the training rows are gathered batch by batch, never copied whole.
            train_rows, val_rows = train_test_split(
                np.arange(len(X)),
                test_size=settings["validation_fraction"],
                random_state=int(self.model_.rng.integers(np.iinfo(np.int32).max)),
                stratify=self._stratify_labels(y_work),
            )
            train_X, train_y = SelectedRows(X, train_rows), y_work[train_rows]
            train_w = None if sample_weight is None else sample_weight[train_rows]
            val_w = None if sample_weight is None else sample_weight[val_rows]
            validation = (X[val_rows], y[val_rows], val_w)

            def validation_score() -> float:
                return self._score_arrays(*validation)

        batch_size = settings["batch_size"]
        batch_size = (
            min(200, len(train_X)) if batch_size == "auto" else min(batch_size, len(train_X))
        )
        if self._optimizer is None:
            steps = settings["max_iter"] * -(-len(train_X) // batch_size)
            schedule = make_schedule(
                settings["learning_rate"], settings["learning_rate_init"], steps
            )
            self._optimizer = make_optimizer(schedule, settings)
        epochs = 1 if incremental else settings["max_iter"]
        epochs_before = len(self._state.loss_curve)
        converged = fit_stochastic(
            self.model_, self._optimizer, self.model_.loss, self._state, train_X, train_y,
            train_w, epochs=epochs, batch_size=batch_size, shuffle=settings["shuffle"],
            alpha=settings["alpha"], tol=settings["tol"],
            n_iter_no_change=settings["n_iter_no_change"],
            adaptive=settings["learning_rate"] == "adaptive",
            validation_score=validation_score, verbose=settings["verbose"],
        )  # fmt: skip
        self.n_iter_ += len(self._state.loss_curve) - epochs_before
        if validation is not None and self._state.best_snapshot is not None:
            self.model_.set_state(self._state.best_snapshot)
        if not converged and not incremental:
            warnings.warn(
                f"Stochastic optimizer: maximum iterations ({settings['max_iter']}) reached "
                "and the optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=4,
            )

    def _publish_state(self, early_stopping: bool) -> None:
        state = self._state
        self.loss_curve_ = list(state.loss_curve)
        self.loss_ = state.loss_curve[-1] if state.loss_curve else float("nan")
        self.best_loss_ = None if early_stopping else float(state.best_loss)
        self.validation_scores_ = list(state.validation_scores) if early_stopping else None
        self.best_validation_score_ = float(state.best_validation_score) if early_stopping else None

    @property
    def coefs_(self) -> list[np.ndarray]:
        """The kernels each layer declares (``kernel_names``: Dense's ``W``) in layer order, as
        ``MLPClassifier.coefs_`` (views: read-only use). ``NotFittedError`` before ``fit``."""
        check_is_fitted(self, "model_")
        return [layer.params[name] for layer in self.model_.layers for name in layer.kernel_names]

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """The biases ``b`` of the dense layers (``kernel_layout == "dense"``) in layer order; a
        layer before batch norm has none."""
        check_is_fitted(self, "model_")
        return [
            layer.params["b"]
            for layer in self.model_.layers
            if layer.kernel_layout == "dense" and "b" in layer.params
        ]

    # -- prediction -----------------------------------------------------------------------------
    def _logits(self, X: Any) -> np.ndarray:
        """The last layer's pre-activations (float64) for ``X``, after checking it."""
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False, dtype=np.dtype(self.model_.dtype).name)
        return self._forward_logits(X)

    def _forward_logits(self, X: np.ndarray) -> np.ndarray:
        """The last layer's pre-activations (float64) for an already checked ``X``."""
        return self.model_.logits(X).astype(np.float64, copy=False)

    # Subclass hooks: _encode_targets, _check_weighted_targets, _n_outputs, _output_activation,
    # _make_loss, _stratify_labels, _score_arrays.
    def _check_weighted_targets(self, targets: np.ndarray, sample_weight: Any) -> None:
        """Nothing to check by default."""

    def _stratify_labels(self, y_work: np.ndarray) -> np.ndarray | None:
        return None
