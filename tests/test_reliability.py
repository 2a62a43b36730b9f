"""Reliability, round two: hostile numbers in files, rejected calls, memory per batch."""

from __future__ import annotations

import io
import re
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest
from fuzz_model_files import edit_header

import scratchnn
from scratchnn import BatchNorm, Dense, ModelCheckpoint, ModelFileError, Sequential
from scratchnn.layers import ELU, LeakyReLU


def _saved(tmp_path, layers, dtype="float64"):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.normal(size=(40, 1))
    model = Sequential(layers, seed=0, dtype=dtype)
    model.fit(X, y, epochs=2, batch_size=8, verbose=0)
    path = tmp_path / "model.npz"
    model.save(path)
    return model, path


def _rewrite_array(path, name, edit) -> None:
    with zipfile.ZipFile(path) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    array = np.lib.format.read_array(io.BytesIO(members[f"{name}.npy"])).copy()
    edit(array)
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array)
    members[f"{name}.npy"] = buffer.getvalue()
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in members.items():
            archive.writestr(member, data)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("layers.0.params.W", np.nan, "holds NaN or infinite values"),
        ("layers.0.params.b", np.inf, "holds NaN or infinite values"),
        ("layers.1.state.running_mean", -np.inf, "holds NaN or infinite values"),
        ("layers.1.state.running_var", -1.0, "a variance must be non-negative"),
    ],
)
def test_hostile_numbers_in_a_well_formed_file_are_refused(tmp_path, name, value, message):
    _, path = _saved(tmp_path, [Dense(4), BatchNorm(), Dense(1)])

    def poison(array):
        array.flat[0] = value

    _rewrite_array(path, name, poison)
    with pytest.raises(ModelFileError, match=f"{name}.*{message}"):
        scratchnn.load(path)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: BatchNorm(epsilon=1e-300), r"epsilon must be in \[1e-12, 1\]"),
        (lambda: ELU(alpha=1e300), r"alpha must be in \[0, 1000\]"),
        (lambda: LeakyReLU(alpha=1e300), r"alpha must be in \[0, 1000\]"),
        (
            lambda: Dense(3, activation={"name": "relu", "x": 1}),
            r"activation 'relu' does not "
            r"take the setting\(s\) \['x'\]; it takes none",
        ),  # fmt: skip
        (lambda: Dense(3, activation={"name": "elu", "beta": 1}), r"takes \['alpha'\]"),
    ],
)
def test_out_of_range_settings_are_refused_by_name(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_out_of_range_settings_in_a_file_are_a_model_file_error(tmp_path):
    _, path = _saved(tmp_path, [Dense(4), ELU(), Dense(1)])

    def poison(header):
        header["model"]["layers"][1]["config"]["alpha"] = 1e300

    edit_header(path, poison)
    with pytest.raises(ModelFileError, match="alpha must be in"):
        scratchnn.load(path)


def test_a_huge_label_is_named_without_a_cast_warning():
    model = Sequential([Dense(3, "softmax", input_dim=2)], seed=0)
    X = np.zeros((3, 2))
    with _no_warnings(), pytest.raises(ValueError, match=r"labels from 0 to 1e\+20"):
        model.fit(X, np.array([0.0, 1.0, 1e20]), loss="categorical_crossentropy", verbose=0)


class _no_warnings:  # noqa: N801 - used as a context manager, like a function
    """Turn every warning into an error inside the block."""

    def __enter__(self):
        import warnings

        self._context = warnings.catch_warnings()
        self._context.__enter__()
        warnings.simplefilter("error")

    def __exit__(self, *exc):
        return self._context.__exit__(*exc)


def test_x_too_large_for_float32_is_named_without_a_cast_warning():
    model = Sequential([Dense(1)], seed=0)
    with _no_warnings(), pytest.raises(ValueError, match="X holds values too large for float32"):
        model.fit(np.array([[1e39], [0.0]]), np.zeros(2), verbose=0)


def test_evaluate_with_bad_labels_leaves_an_unbuilt_model_unbuilt():
    model = Sequential([Dense(3, "softmax")], seed=0)
    with pytest.raises(ValueError, match="class labels in"):
        model.evaluate(np.zeros((2, 4)), np.array([0, 7]), loss="categorical_crossentropy")
    assert not model.built


def test_a_checkpoint_folder_that_does_not_exist_is_refused_before_training(tmp_path):
    model = Sequential([Dense(1)], seed=0)
    X, y = np.zeros((4, 2)), np.zeros(4)
    for target, message in [
        (tmp_path / "missing" / "run.npz", "must be in an existing folder"),
        (tmp_path, "must name a file, got the folder"),
    ]:
        with pytest.raises(ValueError, match=message):
            model.fit(X, y, epochs=2, verbose=0, callbacks=[ModelCheckpoint(target)])
        assert not model.built  # not one epoch trained


def test_an_estimator_refit_with_a_new_width_and_bad_labels_changes_nothing():
    pytest.importorskip("sklearn")
    from scratchnn.sklearn import NeuralNetClassifier

    rng = np.random.default_rng(0)
    clf = NeuralNetClassifier((4,), max_iter=3, random_state=0)
    clf.fit(rng.normal(size=(30, 3)), rng.integers(0, 2, size=30))
    before = dict(vars(clf))
    with pytest.raises(ValueError):
        clf.fit(rng.normal(size=(30, 5)), np.full(30, 0.5))  # continuous labels
    assert clf.n_features_in_ == 3
    assert vars(clf).keys() == before.keys()
    assert all(vars(clf)[key] is value for key, value in before.items())
    assert clf.predict(rng.normal(size=(2, 3))).shape == (2,)


def test_predict_and_fit_on_float64_data_convert_one_batch_at_a_time():
    """A float32 model on float64 data: no float32 copy of the whole set (40 MB here)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200_000, 25))  # 40 MB of float64
    y = rng.normal(size=(200_000, 1))
    model = Sequential([Dense(4, "relu", input_dim=25), Dense(1)], seed=0)
    tracemalloc.start()
    try:
        model.predict(X, batch_size=4096)
        _, peak_predict = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        model.fit(X, y, epochs=1, batch_size=4096, verbose=0)
        _, peak_fit = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    outputs = 200_000 * 4  # predict's own result, float32
    assert peak_predict < outputs + 8 * 2**20, peak_predict
    # fit: a permutation (1.6 MB), the finiteness check, a few batches; never a copy of X.
    assert peak_fit < 12 * 2**20, peak_fit


@pytest.mark.parametrize("early_stopping", [False, True])
def test_estimators_gather_one_batch_at_a_time_not_a_shuffled_copy(early_stopping):
    pytest.importorskip("sklearn")
    from scratchnn.sklearn import NeuralNetRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(100_000, 50))  # 40 MB
    y = X[:, 0] + rng.normal(scale=0.1, size=100_000)
    estimator = NeuralNetRegressor(
        (4,), max_iter=2, batch_size=2000, random_state=0, tol=0, early_stopping=early_stopping
    )
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            estimator.fit(X, y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # A shuffled copy of X alone would be 40 MB; the held-out 10% (4 MB) is the one copy made.
    assert peak < (12 if early_stopping else 8) * 2**20, peak


@pytest.mark.parametrize(
    ("layer", "setting", "value", "shape"),
    [
        (0, "filters", 10**7, "(3, 3, 1, 10000000)"),
        (0, "kernel_size", [3000, 3000], "(3000, 3000, 1, 2)"),
        (2, "units", 10**8, "(18, 100000000)"),
    ],
)
def test_a_convolution_file_declaring_huge_layers_is_refused_before_allocating(
    tmp_path, layer, setting, value, shape
):
    from scratchnn import Conv2D, Flatten

    model = Sequential([Conv2D(2, 3, input_shape=(5, 5, 1)), Flatten(), Dense(1)], seed=0)
    model.build((5, 5, 1))
    path = tmp_path / "conv.npz"
    model.save(path)

    def enlarge(header):
        header["model"]["layers"][layer]["config"][setting] = value

    edit_header(path, enlarge)
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match=rf"must have shape {re.escape(shape)}"):
            scratchnn.load(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**20  # the declared arrays (up to 36 GiB) were never made


def _checkpoint(tmp_path, optimizer="adam"):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.normal(size=(40, 1))
    path = tmp_path / "run.npz"
    model = Sequential([Dense(4, "tanh"), Dense(1)], seed=0)
    model.fit(X, y, loss="mse", optimizer=optimizer, epochs=2, batch_size=8, verbose=0,
              callbacks=[ModelCheckpoint(path)])  # fmt: skip
    return path


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"batch_size": 0, "shuffle": True}, "batch_size must be a positive integer, got 0"),
        ({"batch_size": 2.5, "shuffle": True}, "batch_size must be a positive integer, got 2.5"),
        ({"batch_size": 8, "shuffle": "no"}, "shuffle must be true or false, got 'no'"),
        ({"batch_size": 8, "shuffle": True, "x": 1}, r"unknown settings \['x'\]"),
    ],
)
def test_a_checkpoint_with_impossible_fit_settings_is_refused_on_read(tmp_path, settings, message):
    from scratchnn.checkpoint import read_checkpoint

    path = _checkpoint(tmp_path)

    def plant(header):
        header["checkpoint"]["fit_settings"] = settings

    edit_header(path, plant)
    with pytest.raises(ModelFileError, match=rf"run\.npz'.*malformed.*{message}"):
        read_checkpoint(path)


@pytest.mark.parametrize(
    ("optimizer", "slot", "value", "message"),
    [
        ("adam", "m", np.nan, "slot 'm' holds NaN or infinite values"),
        ("adam", "v", -1.0, "slot 'v' holds negative values, but it sums squares"),
        ("rmsprop", "square_avg", -1.0, "slot 'square_avg' holds negative values"),
        ("adagrad", "sum_squares", np.inf, "slot 'sum_squares' holds NaN or infinite"),
    ],
)
def test_optimizer_slots_that_no_run_could_reach_are_refused(
    tmp_path, optimizer, slot, value, message
):
    from scratchnn.checkpoint import read_checkpoint

    path = _checkpoint(tmp_path, optimizer)

    def poison(array):
        array.flat[0] = value

    _rewrite_array(path, f"optimizer.{slot}", poison)
    with pytest.raises(ModelFileError, match=rf"run\.npz'.*{message}"):
        read_checkpoint(path)
    with pytest.raises(ModelFileError, match=message):
        scratchnn.load(path)


@pytest.mark.parametrize(
    ("classes", "message"),
    [
        ("abc", "classes must be a list of labels, got 'abc'"),
        (
            [["x"], "b", "c"],
            r"a class label must be text, a finite number or a boolean, got \['x'\]",
        ),
        (["a", None, "c"], "a class label must be text, a finite number or a boolean, got None"),
        (["a", "a", "c"], "the class labels must be distinct"),
        (["a", float("inf"), "c"], "got inf"),
    ],
)
def test_class_labels_in_a_file_are_checked(tmp_path, classes, message):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 3)), np.array(["a", "b", "c"] * 6 + ["a", "b"])
    model = Sequential([Dense(4), Dense(3, "softmax")], seed=0)
    model.fit(X, y, loss="categorical_crossentropy", epochs=1, verbose=0)
    path = tmp_path / "m.npz"
    model.save(path)
    assert (
        scratchnn.load(path).predict_labels(X[:2]).tolist() == model.predict_labels(X[:2]).tolist()
    )

    def plant(header):
        header["classes"] = classes

    edit_header(path, plant)
    with pytest.raises(ModelFileError, match=message):
        scratchnn.load(path)


@pytest.mark.parametrize("classes", [["a"], list(range(10**5))])
def test_a_file_whose_labels_do_not_fit_its_outputs_loads_without_them(tmp_path, classes):
    model = Sequential([Dense(3, "softmax", input_dim=2)], seed=0)
    model.build(2)
    path = tmp_path / "m.npz"
    model.save(path)

    def plant(header):
        header["classes"] = classes

    edit_header(path, plant)
    with pytest.warns(UserWarning, match=rf"keeps {len(classes)} class labels for a model with 3"):
        loaded = scratchnn.load(path)
    assert loaded.classes is None
    np.testing.assert_array_equal(loaded.params, model.params)


def test_feature_names_round_trip_and_are_checked_on_load(tmp_path):
    model = Sequential([Dense(2, input_dim=3)], seed=0)
    model.build(3)
    model.feature_names = ["a", "b", "c"]
    path = tmp_path / "m.npz"
    model.save(path)
    assert scratchnn.load(path).feature_names == ["a", "b", "c"]
    assert model.copy().feature_names == ["a", "b", "c"]
    for bad in (["a", "b"], ["a", "b", 3], "abc"):

        def plant(header, bad=bad):
            header["feature_names"] = bad

        edit_header(path, plant)
        with pytest.raises(ModelFileError, match="feature_names must be a list of one text per"):
            scratchnn.load(path)
