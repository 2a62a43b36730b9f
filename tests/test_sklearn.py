"""Tests of scratchnn.sklearn: scikit-learn's own estimator checks, then our behaviour."""

from __future__ import annotations

import doctest
import pickle
import subprocess
import sys
import warnings

import joblib
import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_iris, make_classification, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.model_selection import (  # noqa: E402
    GridSearchCV,
    RandomizedSearchCV,
    cross_val_score,
)
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import scratchnn.sklearn as skmodule  # noqa: E402
from scratchnn import Sequential  # noqa: E402
from scratchnn.losses import BinaryCrossEntropy
from scratchnn.sklearn import NeuralNetClassifier, NeuralNetRegressor  # noqa: E402
from scratchnn.sklearn.engine import build_network
from scratchnn.training import TrainingStep

# Every check passes for both estimators, with a stochastic and the L-BFGS solver, so the
# expected-failure list is empty. max_iter=100 is what scikit-learn uses for its own MLP.
ESTIMATORS = [
    NeuralNetClassifier(max_iter=100),
    NeuralNetRegressor(max_iter=100),
    NeuralNetClassifier(solver="lbfgs", max_iter=100),
    NeuralNetRegressor(solver="lbfgs", max_iter=100),
]
EXPECTED_FAILED_CHECKS: dict[str, str] = {}


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    """These networks are tiny: BLAS threads only add contention (several times slower)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(1):
        yield


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(ESTIMATORS, expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def quiet(estimator, method="fit", *args, **kwargs):
    """Call ``estimator.method`` with convergence warnings silenced (short test runs)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return getattr(estimator, method)(*args, **kwargs)


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.mark.slow
def test_import_scratchnn_does_not_import_sklearn():
    code = "import sys, scratchnn; print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_docstring_examples_run():
    result = doctest.testmod(skmodule, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 5
    assert result.failed == 0


def test_constructor_stores_parameters_as_given():
    sizes = [8, 4]
    clf = NeuralNetClassifier(hidden_layer_sizes=sizes, solver="nonsense", alpha=-1)
    assert clf.hidden_layer_sizes is sizes
    assert clf.get_params()["solver"] == "nonsense"
    assert clone(clf).get_params()["alpha"] == -1


@pytest.mark.parametrize(
    ("params", "error", "message"),
    [
        ({"solver": "newton"}, ValueError, "solver must be one of 'adam'.*got 'newton'"),
        ({"alpha": -1.0}, ValueError, r"alpha must be in \[0, inf.*got -1"),
        (
            {"hidden_layer_sizes": (4, 0)},
            ValueError,
            "hidden_layer_sizes.* positive integer, got 0",
        ),
        ({"hidden_layer_sizes": "10"}, TypeError, "hidden_layer_sizes must be an int or a seq"),
        ({"batch_size": 0}, ValueError, "batch_size must be a positive integer, got 0"),
        ({"batch_size": "big"}, TypeError, "batch_size must be 'auto' or a positive int"),
        ({"learning_rate": "fast"}, ValueError, "learning_rate must be one of"),
        ({"learning_rate_init": 0.0}, ValueError, r"learning_rate_init must be in \(0, inf.*got 0"),
        ({"max_iter": 2.5}, TypeError, "max_iter must be a positive integer, got 2.5"),
        ({"activation": "swish"}, ValueError, "activation must be one of .*got 'swish'"),
        ({"dropout": 1.0}, ValueError, r"dropout must be in \[0, 1\), got 1"),
        ({"dtype": "float16"}, ValueError, "dtype must be 'float32' or 'float64'"),
        ({"random_state": "seed"}, TypeError, "random_state must be None, a non-negative int"),
        ({"early_stopping": "yes"}, TypeError, "early_stopping must be True or False"),
        ({"validation_fraction": 1.0}, ValueError, r"validation_fraction must be in \(0, 1\)"),
        ({"solver": "lbfgs", "dropout": 0.2}, ValueError, "dropout needs a stochastic solver"),
    ],
)
def test_bad_hyperparameters_raise_in_fit_naming_the_argument(iris, params, error, message):
    X, y = iris
    clf = NeuralNetClassifier(**params)  # construction never raises
    with pytest.raises(error, match=message):
        clf.fit(X, y)


def test_string_labels_round_trip_through_predict_and_proba(iris):
    X, y = iris
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = quiet(
        NeuralNetClassifier((16,), learning_rate_init=0.01, max_iter=60, random_state=0),
        "fit",
        X,
        names,
    )
    assert clf.classes_.tolist() == ["setosa", "versicolor", "virginica"]
    predicted = clf.predict(X)
    assert predicted.dtype.kind == "U" and set(predicted) <= set(clf.classes_)
    assert clf.score(X, names) > 0.9
    proba = clf.predict_proba(X)
    assert proba.shape == (150, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], predicted)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba), rtol=1e-9, atol=1e-12)


def test_binary_classifier_has_one_sigmoid_output_and_two_proba_columns():
    X, y = make_classification(n_samples=120, n_features=5, random_state=0)
    labels = np.where(y == 1, "yes", "no")
    clf = quiet(NeuralNetClassifier((8,), max_iter=30, random_state=0), "fit", X, labels)
    assert clf.model_.output_dim == 1 and clf.out_activation_ == "sigmoid"
    proba = clf.predict_proba(X)
    assert proba.shape == (120, 2)
    np.testing.assert_array_equal(clf.predict(X), np.where(proba[:, 1] > 0.5, "yes", "no"))


def test_binary_log_proba_stays_finite_where_proba_underflows():
    clf = quiet(NeuralNetClassifier((), max_iter=5, random_state=0), "fit", [[0.0], [1.0]], [0, 1])
    clf.model_.layers[-1].params["W"][...] = 2000.0  # logit 2000: sigmoid(-2000) underflows
    log_proba = clf.predict_log_proba([[1.0]])
    np.testing.assert_allclose(
        log_proba, [[-2000.0 - clf.model_.layers[-1].params["b"][0], 0]], atol=1e-6
    )
    assert clf.predict_proba([[1.0]])[0, 0] > 0


def test_multilabel_targets_give_indicator_predictions():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0, X[:, 0] + X[:, 1] > 0]).astype(int)
    clf = NeuralNetClassifier((32,), learning_rate_init=0.01, max_iter=150, random_state=0)
    quiet(clf, "fit", X, Y)
    assert clf.classes_.tolist() == [0, 1, 2]
    assert clf.predict(X).shape == (200, 3)
    assert clf.predict_proba(X).shape == (200, 3)
    assert clf.score(X, Y) > 0.85  # subset accuracy


def test_unsupported_targets_raise():
    X = np.zeros((4, 2))
    with pytest.raises(ValueError, match="Unknown label type"):
        NeuralNetClassifier().fit(X, [0.1, 0.2, 0.3, 0.4])
    with pytest.raises(ValueError, match="at least two classes.*got one class: 'a'"):
        NeuralNetClassifier().fit(X, ["a"] * 4)
    with pytest.raises(ValueError, match="multiclass-multioutput"):
        NeuralNetClassifier().fit(X, [[0, 2], [1, 0], [2, 1], [0, 0]])


def test_sample_weight_matches_repeating_rows_with_lbfgs():
    X, y = make_classification(n_samples=40, n_features=4, random_state=1)
    weights = np.random.default_rng(0).integers(0, 3, size=40)
    # The objective L-BFGS minimises, and its gradient, are those of the repeated rows.
    network = build_network(4, (5,), "relu", 1, "sigmoid", 0.0, False, 0, "float64")
    step = TrainingStep(network, BinaryCrossEntropy(), weight_decay=1e-4, normalize_weights=True)
    targets = y[:, None].astype(float)
    weighted_loss = step.loss_and_gradients(X, targets, weights.astype(float)).loss
    weighted_grads = network.grads.copy()
    repeated_loss = step.loss_and_gradients(
        np.repeat(X, weights, 0), np.repeat(targets, weights, 0)
    ).loss
    assert weighted_loss == pytest.approx(repeated_loss, rel=1e-12)
    np.testing.assert_allclose(weighted_grads, network.grads, rtol=1e-10, atol=1e-15)
    # End to end: both stop once the gradient is below tol on a flat valley floor (the data
    # are separable), so the fitted probabilities agree to about tol, not to rounding.
    params = dict(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=50, random_state=0)
    weighted = quiet(NeuralNetClassifier(**params), "fit", X, y, sample_weight=weights)
    repeated = quiet(
        NeuralNetClassifier(**params), "fit", np.repeat(X, weights, 0), np.repeat(y, weights)
    )
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), atol=1e-3)
    plain = quiet(NeuralNetClassifier(**params), "fit", X, y)
    assert np.abs(plain.predict_proba(X) - weighted.predict_proba(X)).max() > 1e-2


def test_sample_weight_changes_the_fit_and_is_checked():
    X, y = make_classification(n_samples=60, n_features=4, random_state=2)
    params = dict(hidden_layer_sizes=(8,), max_iter=20, random_state=0)
    plain = quiet(NeuralNetClassifier(**params), "fit", X, y)
    weights = np.where(y == 1, 10.0, 0.1)
    weighted = quiet(NeuralNetClassifier(**params), "fit", X, y, sample_weight=weights)
    assert weighted.predict_proba(X)[:, 1].mean() > plain.predict_proba(X)[:, 1].mean()
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(60,\)"):
        NeuralNetClassifier(**params).fit(X, y, sample_weight=np.ones(5))
    with pytest.raises(ValueError, match="sample_weight must be non-negative"):
        NeuralNetClassifier(**params).fit(X, y, sample_weight=-np.ones(60))
    with pytest.raises(ValueError, match="two classes with non-zero weight.*got one class"):
        NeuralNetClassifier(**params).fit(X, y, sample_weight=(y == 1).astype(float))


def test_regressor_single_and_multi_output_shapes():
    X, y = make_regression(n_samples=150, n_features=4, n_targets=2, noise=0.1, random_state=0)
    y = y / y.std(axis=0)
    reg = quiet(
        NeuralNetRegressor((32,), solver="lbfgs", max_iter=200, random_state=0), "fit", X, y
    )
    assert reg.predict(X).shape == (150, 2) and reg.n_outputs_ == 2
    assert reg.score(X, y) > 0.95
    single = quiet(clone(reg), "fit", X, y[:, 0])
    assert single.predict(X).shape == (150,)
    column = quiet(clone(reg), "fit", X, y[:, :1])
    assert column.predict(X).shape == (150, 1)
    assert (reg.y_ndim_, single.y_ndim_, column.y_ndim_) == (2, 1, 2)  # what exporters read
    assert not hasattr(NeuralNetRegressor(), "y_ndim_")  # set by fit
    np.testing.assert_allclose(column.predict(X)[:, 0], single.predict(X), rtol=1e-10)


def test_regressor_loss_curve_is_half_mse_plus_penalty():
    X, y = make_regression(n_samples=50, n_features=3, random_state=0)
    reg = quiet(
        NeuralNetRegressor(
            (4,), max_iter=3, batch_size=50, alpha=0.0, shuffle=False, random_state=0
        ),
        "fit",
        X,
        y,
    )
    # The last epoch's loss is measured before its update; recompute it from the weights then.
    model = Sequential.from_config(reg.model_.get_config(), dtype="float64")
    model.params[...] = reg.model_.params
    assert len(reg.loss_curve_) == 3 and reg.n_iter_ == 3
    half_mse = 0.5 * np.mean((model.predict(X)[:, 0] - y) ** 2)
    assert reg.loss_curve_[-1] > half_mse  # still decreasing: the later weights fit better
    assert reg.loss_curve_[-1] == pytest.approx(half_mse, rel=0.05)


@pytest.mark.parametrize("solver", ["adam", "adamw", "sgd", "rmsprop", "adagrad", "lbfgs"])
def test_every_solver_learns_iris(iris, solver):
    X, y = iris
    lr = {"sgd": 0.1, "adagrad": 0.1}.get(solver, 0.01)
    clf = NeuralNetClassifier(
        (16,), solver=solver, learning_rate_init=lr, max_iter=60, random_state=0
    )
    assert quiet(clf, "fit", X, y).score(X, y) > 0.9
    assert len(clf.loss_curve_) >= 1 and clf.n_iter_ >= 1


@pytest.mark.parametrize("schedule", ["adaptive", "cosine", "exponential", "step"])
def test_learning_rate_schedules_train(iris, schedule):
    X, y = iris
    clf = NeuralNetClassifier(
        (16,), learning_rate=schedule, learning_rate_init=0.02, max_iter=40, random_state=0
    )
    assert quiet(clf, "fit", X, y).score(X, y) > 0.8


def test_dropout_and_batch_norm_build_those_layers(iris):
    X, y = iris
    clf = NeuralNetClassifier(
        (16, 8), dropout=0.1, batch_norm=True, max_iter=40, learning_rate_init=0.01, random_state=0
    )
    quiet(clf, "fit", X, y)
    names = [type(layer).__name__ for layer in clf.model_.layers]
    assert names == ["Dense", "BatchNorm", "ActivationLayer", "Dropout"] * 2 + ["Dense"]
    assert clf.score(X, y) > 0.85
    np.testing.assert_array_equal(clf.predict(X), clf.predict(X))  # inference is deterministic


def test_lbfgs_with_batch_norm_sets_exact_running_statistics(iris):
    X, y = iris
    clf = quiet(
        NeuralNetClassifier((6,), solver="lbfgs", batch_norm=True, max_iter=30, random_state=0),
        "fit",
        X,
        y,
    )
    norm = clf.model_.layers[1]
    hidden = X @ clf.model_.layers[0].params["W"]
    np.testing.assert_allclose(
        norm.state["running_mean"], hidden.mean(axis=0), rtol=1e-10, atol=1e-12
    )
    np.testing.assert_allclose(norm.state["running_var"], hidden.var(axis=0), rtol=1e-10)


def test_early_stopping_records_validation_scores_and_stops(iris):
    X, y = iris
    clf = NeuralNetClassifier(
        (16,),
        early_stopping=True,
        n_iter_no_change=3,
        learning_rate_init=0.05,
        max_iter=500,
        random_state=0,
    )
    quiet(clf, "fit", X, y)
    assert clf.n_iter_ < 500
    assert len(clf.validation_scores_) == clf.n_iter_ == len(clf.loss_curve_)
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.best_loss_ is None
    plain = quiet(NeuralNetClassifier((16,), max_iter=5, random_state=0), "fit", X, y)
    assert plain.validation_scores_ is None and plain.best_loss_ == min(plain.loss_curve_)


def test_max_iter_without_convergence_warns(iris):
    X, y = iris
    with pytest.warns(
        ConvergenceWarning, match=r"Maximum iterations \(3\) reached|maximum iterations \(3\)"
    ):
        NeuralNetClassifier((4,), max_iter=3, random_state=0).fit(X, y)


def test_same_random_state_gives_same_weights_and_different_seed_differs(iris):
    X, y = iris
    a = quiet(NeuralNetClassifier((8,), max_iter=5, random_state=3), "fit", X, y)
    b = quiet(NeuralNetClassifier((8,), max_iter=5, random_state=3), "fit", X, y)
    c = quiet(NeuralNetClassifier((8,), max_iter=5, random_state=4), "fit", X, y)
    np.testing.assert_array_equal(a.model_.params, b.model_.params)
    assert not np.array_equal(a.model_.params, c.model_.params)


def test_warm_start_continues_from_the_fitted_weights(iris):
    X, y = iris
    clf = quiet(NeuralNetClassifier((8,), max_iter=5, warm_start=True, random_state=0), "fit", X, y)
    model, first_loss = clf.model_, clf.loss_curve_[-1]
    quiet(clf, "fit", X, y)
    assert clf.model_ is model and clf.n_iter_ == 10 and len(clf.loss_curve_) == 10
    assert clf.loss_curve_[-1] < first_loss
    cold = quiet(clone(clf).set_params(warm_start=False), "fit", X, y)
    assert cold.n_iter_ == 5


def test_partial_fit_needs_classes_first_and_then_trains(iris):
    X, y = iris
    clf = NeuralNetClassifier((16,), learning_rate_init=0.01, random_state=0)
    with pytest.raises(ValueError, match="classes must be given on the first call"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[:50], y[:50], classes=[0, 1, 2])  # one class in this chunk only
    for _ in range(30):
        clf.partial_fit(X, y)
    assert clf.n_iter_ == 31 and clf.score(X, y) > 0.85
    with pytest.raises(ValueError, match="unseen label"):
        clf.partial_fit(X[:2], [0, 7])
    with pytest.raises(ValueError, match="classes must equal"):
        clf.partial_fit(X, y, classes=[0, 1])
    assert not hasattr(NeuralNetClassifier(solver="lbfgs"), "partial_fit")


def test_regressor_partial_fit_keeps_optimizer_state():
    X, y = make_regression(n_samples=80, n_features=3, random_state=0)
    reg = NeuralNetRegressor((8,), random_state=0)
    reg.partial_fit(X, y / 100)
    optimizer = reg._optimizer
    reg.partial_fit(X, y / 100)
    assert reg._optimizer is optimizer and optimizer.iterations == 2
    with pytest.raises(ValueError, match=r"y must have 1 output\(s\) like before, got 2"):
        reg.partial_fit(X, np.column_stack([y, y]))


def test_dataframe_input_sets_feature_names(iris):
    pd = pytest.importorskip("pandas")
    X, y = iris
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    clf = quiet(NeuralNetClassifier((4,), max_iter=3, random_state=0), "fit", frame, y)
    assert clf.feature_names_in_.tolist() == ["a", "b", "c", "d"] and clf.n_features_in_ == 4
    with pytest.raises(
        ValueError, match="X has 3 features, but NeuralNetClassifier is expecting 4"
    ):
        clf.predict(X[:, :3])


@pytest.mark.slow
def test_pipeline_and_grid_search_with_two_jobs(iris):
    X, y = iris
    pipe = make_pipeline(StandardScaler(), NeuralNetClassifier(max_iter=30, random_state=0))
    grid = {
        "neuralnetclassifier__hidden_layer_sizes": [(4,), (16,)],
        "neuralnetclassifier__learning_rate_init": [0.001, 0.02],
    }
    search = quiet(GridSearchCV(pipe, grid, cv=3, n_jobs=2), "fit", X, y)
    assert search.best_params_["neuralnetclassifier__learning_rate_init"] == 0.02
    assert search.best_score_ > 0.85 and search.score(X, y) > 0.85


@pytest.mark.slow
def test_randomized_search_and_cross_val_score_regressor():
    X, y = make_regression(n_samples=120, n_features=4, noise=1.0, random_state=0)
    reg = make_pipeline(
        StandardScaler(), NeuralNetRegressor(solver="lbfgs", max_iter=100, random_state=0)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_val_score(reg, X, y / y.std(), cv=3, n_jobs=2)
        search = RandomizedSearchCV(
            reg,
            {"neuralnetregressor__alpha": [1e-4, 1e-2, 1.0]},
            n_iter=2,
            cv=3,
            n_jobs=2,
            random_state=0,
        ).fit(X, y / y.std())
    assert scores.shape == (3,) and scores.min() > 0.9
    assert search.best_params_["neuralnetregressor__alpha"] in (1e-4, 1e-2, 1.0)


@pytest.mark.parametrize("dump", ["pickle", "joblib"])
def test_pickle_and_joblib_round_trip_predictions(iris, tmp_path, dump):
    X, y = iris
    clf = quiet(NeuralNetClassifier((8,), max_iter=10, random_state=0), "fit", X, y)
    if dump == "pickle":
        restored = pickle.loads(pickle.dumps(clf))
    else:
        joblib.dump(clf, tmp_path / "clf.joblib")
        restored = joblib.load(tmp_path / "clf.joblib")
    assert not hasattr(restored.model_.layers[0], "input")  # cached batches are not pickled
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))
    restored.partial_fit(X, y)  # optimizer state travelled too
    assert restored.n_iter_ == clf.n_iter_ + 1
    # ... and the update reached the weights the network computes with (views into one buffer)
    clf.partial_fit(X, y)
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))


def test_float32_dtype_trains_in_float32(iris):
    X, y = iris
    clf = quiet(
        NeuralNetClassifier(
            (8,), dtype="float32", max_iter=30, learning_rate_init=0.01, random_state=0
        ),
        "fit",
        X,
        y,
    )
    assert clf.model_.params.dtype == np.float32
    assert clf.predict_proba(X).dtype == np.float64 and clf.score(X, y) > 0.85


def test_coefs_and_intercepts_follow_mlp_shapes(iris):
    X, y = iris
    clf = quiet(NeuralNetClassifier((8, 5), max_iter=5, random_state=0), "fit", X, y)
    assert [w.shape for w in clf.coefs_] == [(X.shape[1], 8), (8, 5), (5, 3)]
    assert [b.shape for b in clf.intercepts_] == [(8,), (5,), (3,)]
    assert np.shares_memory(clf.coefs_[0], clf.model_.params)
    with pytest.raises(NotFittedError):
        NeuralNetClassifier().coefs_
    # With batch norm the hidden Dense layers have no bias: one kernel per Dense, fewer biases.
    normed = quiet(NeuralNetClassifier((8,), batch_norm=True, max_iter=5, random_state=0), "fit",
                   X, y)  # fmt: skip
    assert [w.shape for w in normed.coefs_] == [(X.shape[1], 8), (8, 3)]
    assert [b.shape for b in normed.intercepts_] == [(3,)]  # BatchNorm's beta is no intercept
