"""scikit-learn estimators on the scratchnn engine: ``NeuralNetClassifier``, ``NeuralNetRegressor``.

They follow scikit-learn's estimator rules (hyperparameters stored as given in ``__init__`` and
checked in ``fit``; fitted attributes end in ``_``), so they work in ``Pipeline``,
``GridSearchCV``, ``cross_val_score`` and with ``joblib``. The hyperparameters are
``MLPClassifier``'s, plus ``dropout``, ``batch_norm``, more solvers and schedules, and ``dtype``.
This module imports scikit-learn (``pip install scratchnn[sklearn]``); ``import scratchnn``
does not.

Hyperparameters (both estimators)
---------------------------------
hidden_layer_sizes : int or tuple of int, default (100,)
    Width of each hidden layer; ``()`` gives a linear (logistic) model.
activation : {"relu", "tanh", "logistic"/"sigmoid", "identity"/"linear", "leaky_relu", "elu",
    "gelu", "softplus"}, default "relu"
solver : {"adam", "adamw", "sgd", "rmsprop", "adagrad", "lbfgs"}, default "adam"
    The core's optimizers, or scipy's full-batch L-BFGS-B over the flat parameter vector.
alpha : float, default 1e-4
    L2 penalty, MLP's form: ``alpha / (2 sum w) * sum ||W||^2`` per batch (kernels only).
batch_size : int or "auto", default "auto" (``min(200, n_samples)``)
learning_rate : {"constant", "adaptive", "cosine", "exponential", "step"}, default "constant"
    "adaptive" divides the rate by 5 on a plateau (see ``tol``); "cosine" decays to 0 over
    ``max_iter`` epochs, "exponential" to 1% of the start, "step" by 10x each third.
learning_rate_init : float, default 1e-3
max_iter : int, default 200
    Epochs for the stochastic solvers, iterations for L-BFGS.
shuffle, random_state, tol, verbose, warm_start, momentum, nesterovs_momentum, early_stopping,
validation_fraction, beta_1, beta_2, epsilon, n_iter_no_change, max_fun
    As in ``MLPClassifier``. ``random_state`` seeds the network's ``numpy.random.Generator``.
dropout : float in [0, 1), default 0.0
    Dropout after each hidden activation (stochastic solvers only).
batch_norm : bool, default False
    Batch normalisation before each hidden activation.
weight_decay : float, default 0.01
    Decoupled weight decay of ``solver="adamw"``.
dtype : {"float64", "float32"}, default "float64"
    Precision of the network; float32 is faster, float64 matches scikit-learn to the last digit.

Fitted attributes
-----------------
``model_`` (the :class:`~scratchnn.Sequential`), ``n_features_in_``, ``feature_names_in_``
(DataFrames), ``loss_curve_``, ``loss_``, ``best_loss_``, ``validation_scores_`` and
``best_validation_score_`` (with ``early_stopping``), ``n_iter_``, ``n_outputs_``,
``out_activation_``; ``classes_`` for the classifier; ``y_ndim_`` for the regressor (1 when it was
fitted on a 1-D ``y``: ``predict`` then returns ``(n_samples,)``).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.exceptions import DataConversionWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target

from ..activations import log_softmax, softmax, stable_sigmoid
from ..losses import BinaryCrossEntropy, CategoricalCrossEntropy, Loss
from .base import _BaseNeuralNet
from .engine import HalfSquaredError

__all__ = ["NeuralNetClassifier", "NeuralNetRegressor"]


class NeuralNetClassifier(ClassifierMixin, _BaseNeuralNet):
    """A feed-forward network classifier trained on the log-loss (scikit-learn API).

    Binary targets get one sigmoid output, multiclass targets a softmax over the classes, and
    multilabel indicator targets one sigmoid per label. Labels may be of any type scikit-learn
    accepts (strings included). See the module docstring for the hyperparameters.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from scratchnn.sklearn import NeuralNetClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> names = load_iris().target_names[y]  # string labels
    >>> clf = make_pipeline(StandardScaler(), NeuralNetClassifier(
    ...     (16,), learning_rate_init=0.01, max_iter=200, tol=1e-3, random_state=0))
    >>> clf.fit(X, names).score(X, names) > 0.9
    True
    >>> clf.predict(X[:2]).tolist()
    ['setosa', 'setosa']
    """

    @available_if(_BaseNeuralNet._has_stochastic_solver)
    def partial_fit(
        self, X: Any, y: Any, sample_weight: Any = None, classes: Any = None
    ) -> NeuralNetClassifier:
        """One epoch over ``(X, y)``; ``classes`` (every label) is needed on the first call."""
        if not hasattr(self, "model_") and classes is None and np.ndim(y) != 2:
            raise ValueError(
                "classes must be given on the first call to partial_fit (all the labels y "
                "can hold), got None"
            )
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    # -- targets --------------------------------------------------------------------------------
    def _encode_targets(self, y: np.ndarray, first: bool, classes: Any) -> np.ndarray:
        if y.ndim == 2 and y.shape[1] == 1:
            warnings.warn(
                "A column-vector y was passed when a 1d array was expected; it is raveled.",
                DataConversionWarning,
                stacklevel=4,
            )
            y = y.ravel()
        if first:
            self._set_classes(y, classes)
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(
                f"classes must equal the classes of the first partial_fit call "
                f"({self.classes_.tolist()}), got {np.unique(classes).tolist()}"
            )
        if self._kind == "multilabel":
            if y.ndim != 2 or y.shape[1] != len(self.classes_):
                raise ValueError(
                    f"y must be a multilabel indicator with {len(self.classes_)} columns, "
                    f"got shape {y.shape}"
                )
            return y.astype(np.float64)
        if y.ndim != 1:
            raise ValueError(f"y must be 1-D class labels, got shape {y.shape}")
        indices = np.searchsorted(self.classes_, y)
        unknown = self.classes_[np.minimum(indices, len(self.classes_) - 1)] != y
        if np.any(unknown):
            raise ValueError(
                f"y must hold labels from classes_ {self.classes_.tolist()}, got unseen "
                f"label(s) {np.unique(y[unknown])[:5].tolist()}"
            )
        if self._kind == "binary":
            return indices.astype(np.float64).reshape(-1, 1)
        return indices

    def _set_classes(self, y: np.ndarray, classes: Any) -> None:
        check_classification_targets(y)
        kind = type_of_target(y)
        if kind == "multilabel-indicator":
            self._kind, self.classes_ = "multilabel", np.arange(y.shape[1])
            self.n_outputs_, self.out_activation_ = y.shape[1], "sigmoid"
            return
        if kind not in ("binary", "multiclass"):
            raise ValueError(
                f"y must hold binary, multiclass or multilabel-indicator targets, got {kind!r}"
            )
        labels = np.unique(y if classes is None else np.asarray(classes))
        if len(labels) < 2:
            raise ValueError(
                f"y must hold at least two classes to train a classifier, got one class: "
                f"{labels[:1].tolist()[0]!r}"
            )
        self.classes_ = labels
        self._kind = "binary" if len(labels) == 2 else "multiclass"
        self.n_outputs_ = 1 if self._kind == "binary" else len(labels)
        self.out_activation_ = "sigmoid" if self._kind == "binary" else "softmax"

    def _check_weighted_targets(self, targets: np.ndarray, sample_weight: Any) -> None:
        if sample_weight is None or self._kind == "multilabel":
            return
        weighted = np.unique(targets[sample_weight > 0])
        if len(weighted) < 2:
            raise ValueError(
                "sample_weight must leave at least two classes with non-zero weight, got one "
                f"class: {self.classes_[int(weighted[0]) :][:1].tolist()[0]!r}"
            )

    def _n_outputs(self) -> int:
        return self.n_outputs_

    def _output_activation(self) -> str:
        return self.out_activation_

    def _make_loss(self) -> Loss:
        return CategoricalCrossEntropy() if self._kind == "multiclass" else BinaryCrossEntropy()

    def _stratify_labels(self, y_work: np.ndarray) -> np.ndarray | None:
        return None if self._kind == "multilabel" else y_work.ravel()

    def _score_arrays(self, X: np.ndarray, y: np.ndarray, sample_weight: Any) -> float:
        predicted = self._labels_from_logits(self._forward_logits(X))
        return accuracy_score(y, predicted, sample_weight=sample_weight)

    # -- prediction -----------------------------------------------------------------------------
    def _labels_from_logits(self, logits: np.ndarray) -> np.ndarray:
        if self._kind == "multilabel":
            return (logits > 0).astype(int)
        if self._kind == "binary":
            return self.classes_[(logits[:, 0] > 0).astype(int)]
        return self.classes_[np.argmax(logits, axis=1)]

    def predict(self, X: Any) -> np.ndarray:
        """Class labels ``(n_samples,)``, or a 0/1 indicator ``(n_samples, n_labels)``."""
        return self._labels_from_logits(self._logits(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probabilities ``(n_samples, n_classes)`` in the order of ``classes_``.

        Multiclass rows sum to one (softmax); multilabel columns are independent sigmoids.
        A probability below the smallest positive double is reported as that double, not 0.
        """
        logits = self._logits(X)
        if self._kind == "binary":
            positive = stable_sigmoid(logits[:, 0])
            proba = np.column_stack([1.0 - positive, positive])
        elif self._kind == "multilabel":
            proba = stable_sigmoid(logits)
        else:
            proba = softmax(logits)
        # exp() underflows to 0 far out in the tails; the true value is positive, and clipping
        # keeps log(predict_proba) finite and within rounding of predict_log_proba.
        return np.clip(proba, np.finfo(np.float64).tiny, 1.0, out=proba)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """``log(predict_proba(X))`` computed from the logits, finite even where ``p`` is tiny."""
        logits = self._logits(X)
        if self._kind == "multiclass":
            return log_softmax(logits)
        # log sigmoid(z) = -log(1 + exp(-z)), log(1 - sigmoid(z)) = -log(1 + exp(z))
        if self._kind == "binary":
            z = logits[:, 0]
            return np.column_stack([-np.logaddexp(0.0, z), -np.logaddexp(0.0, -z)])
        return -np.logaddexp(0.0, -logits)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class NeuralNetRegressor(RegressorMixin, _BaseNeuralNet):
    """A feed-forward network regressor trained on half the squared error (scikit-learn API).

    Single- and multi-output targets; ``predict`` returns the shape ``y`` had in ``fit``
    (``(n_samples,)`` or ``(n_samples, n_outputs)``). See the module docstring for the
    hyperparameters.

    Examples
    --------
    >>> import numpy as np
    >>> from scratchnn.sklearn import NeuralNetRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-1, 1, size=(200, 2))
    >>> y = X[:, 0] - 2 * X[:, 1]
    >>> reg = NeuralNetRegressor((32,), solver="lbfgs", max_iter=200, random_state=0).fit(X, y)
    >>> reg.score(X, y) > 0.99
    True
    >>> reg.predict(X[:3]).shape
    (3,)
    """

    _numeric_targets = True

    @available_if(_BaseNeuralNet._has_stochastic_solver)
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> NeuralNetRegressor:
        """One epoch over ``(X, y)``, keeping weights and optimizer state between calls."""
        return self._fit(X, y, sample_weight, incremental=True)

    def _encode_targets(self, y: np.ndarray, first: bool, classes: Any) -> np.ndarray:
        outputs = 1 if y.ndim == 1 else y.shape[1]
        if first:
            self.y_ndim_, self.n_outputs_, self.out_activation_ = y.ndim, outputs, "linear"
        elif outputs != self.n_outputs_:
            raise ValueError(f"y must have {self.n_outputs_} output(s) like before, got {outputs}")
        return y.reshape(len(y), outputs)

    def _n_outputs(self) -> int:
        return self.n_outputs_

    def _output_activation(self) -> str:
        return "linear"

    def _make_loss(self) -> Loss:
        return HalfSquaredError()

    def _score_arrays(self, X: np.ndarray, y: np.ndarray, sample_weight: Any) -> float:
        predicted = self._forward_logits(X)
        return r2_score(y.reshape(predicted.shape), predicted, sample_weight=sample_weight)

    def predict(self, X: Any) -> np.ndarray:
        """Predictions ``(n_samples,)`` or ``(n_samples, n_outputs)``, as ``y`` was in ``fit``."""
        predicted = self._logits(X)
        return predicted.ravel() if self.y_ndim_ == 1 else predicted

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
