"""scratchnn on Dask: prediction mapped over blocks, and grid searches on a LocalCluster.

The oracles: ``model.predict`` on the same rows in memory, and the same search run serially.
"""

from __future__ import annotations

import logging
import pickle
import time
import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array", reason="the dask extra (dask[array]) is not installed")
distributed = pytest.importorskip("distributed", reason="the dask extra (distributed) is absent")

from scratchnn import ModelFileError, Sequential  # noqa: E402
from scratchnn.dask import model_from_bytes, model_to_bytes, predict  # noqa: E402
from scratchnn.layers import BatchNorm, Dense  # noqa: E402


@pytest.fixture(scope="module")
def client():
    """Two worker processes, one thread each: tasks cross a process boundary, as on a cluster."""
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        ) as cluster,
        distributed.Client(cluster) as dask_client,
    ):
        yield dask_client


@pytest.fixture
def model():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5)).astype(np.float32)
    model = Sequential([Dense(16, "relu"), BatchNorm(), Dense(3, "softmax")], seed=1)
    model.fit(X, rng.integers(0, 3, 200), loss="sparse_categorical_crossentropy", epochs=2,
              verbose=0)  # fmt: skip
    return model


def test_model_bytes_are_the_model_file_and_read_back_to_the_same_model(model, tmp_path):
    data = model_to_bytes(model)
    model.save(tmp_path / "m.npz")
    assert data == (tmp_path / "m.npz").read_bytes()
    assert b"cnumpy" not in data and data[:2] == b"PK"  # a zip of .npy entries, not a pickle
    again = model_from_bytes(data)
    X = np.random.default_rng(2).normal(size=(50, 5)).astype(np.float32)
    assert np.array_equal(again.predict(X), model.predict(X))
    with pytest.raises(ModelFileError):
        model_from_bytes(b"PK\x03\x04 not a model")
    with pytest.raises(TypeError, match="data must be the bytes of a model file"):
        model_from_bytes("model.npz")


def test_predict_maps_the_model_over_blocks_keeping_row_chunks(model):
    X = np.random.default_rng(3).normal(size=(1001, 5)).astype(np.float32)
    lazy = da.from_array(X, chunks=(300, 2))  # columns split: joined before the model sees them
    out = predict(model, lazy, batch_size=64)
    assert out.shape == (1001, 3) and out.dtype == np.float32
    assert out.chunks == ((300, 300, 300, 101), (3,))
    assert np.array_equal(out.compute(scheduler="sync"), model.predict(X))
    # The model's bytes are one entry of the graph, not a copy per block.
    graph = pickle.dumps(dict(out.__dask_graph__()))
    assert graph.count(model_to_bytes(model)) == 1


@pytest.mark.slow
def test_predict_on_a_cluster_sends_file_bytes_and_equals_local_predict(model, client):
    X = np.random.default_rng(4).normal(size=(2000, 5)).astype(np.float32)
    out = predict(model, da.from_array(X, chunks=500))
    assert np.array_equal(client.compute(out).result(), model.predict(X))


def test_predict_refuses_careless_input_by_name(model):
    with pytest.raises(TypeError, match="X must be a dask array"):
        predict(model, np.zeros((3, 5)))
    with pytest.raises(ValueError, match=r"X must have shape \(N, 5\), got \(4, 6\)"):
        predict(model, da.zeros((4, 6)))
    with pytest.raises(TypeError, match="model must be a built scratchnn model"):
        predict(Sequential([Dense(2)]), da.zeros((4, 5)))
    bad = da.from_array(np.array([[0, 0, 0, 0, 0], [0, np.nan, 0, 0, 0]], dtype=np.float32))
    with pytest.raises(ValueError, match="X must be finite"):
        predict(model, bad).compute(scheduler="sync")


def test_fit_and_evaluate_take_a_dask_array_batch_by_batch(model):
    X = np.random.default_rng(5).normal(size=(300, 5)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    lazy = da.from_array(X, chunks=70)
    trained = [model.copy(), model.copy()]
    trained[0].fit(X, y, loss="sparse_categorical_crossentropy", epochs=1, shuffle=False,
                   verbose=0)  # fmt: skip
    trained[1].fit(lazy, y, loss="sparse_categorical_crossentropy", epochs=1, shuffle=False,
                   verbose=0)  # fmt: skip
    assert np.array_equal(trained[0].params, trained[1].params)
    assert trained[1].evaluate(lazy, y) == trained[0].evaluate(X, y)


@pytest.mark.slow
def test_grid_search_on_a_local_cluster_equals_the_serial_search(client):
    """joblib's dask backend runs each fit on a worker process; the seeds make it identical."""
    from joblib import parallel_backend
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import GridSearchCV

    from scratchnn.sklearn import NeuralNetClassifier

    X, y = load_digits(return_X_y=True)
    X = X[:600] / 16.0
    y = y[:600]
    grid = {"hidden_layer_sizes": [(16,), (32,)], "alpha": [1e-4, 1e-2]}
    net = NeuralNetClassifier(max_iter=15, learning_rate_init=0.01, random_state=0)

    def search(n_jobs):
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # 15 epochs, on purpose
            result = GridSearchCV(net, grid, cv=3, n_jobs=n_jobs).fit(X, y)
        return result, time.perf_counter() - started

    serial, serial_time = search(None)
    with parallel_backend("dask"):
        clustered, cluster_time = search(-1)
    for key in ("mean_test_score", "std_test_score", "rank_test_score"):
        assert np.array_equal(clustered.cv_results_[key], serial.cv_results_[key]), key
    assert clustered.best_params_ == serial.best_params_
    assert np.array_equal(clustered.best_estimator_.predict(X), serial.best_estimator_.predict(X))
    assert set(client.run(lambda: 1)) and len(client.scheduler_info()["workers"]) == 2
    print(f"grid search: serial {serial_time:.2f} s, LocalCluster (2 processes) "
          f"{cluster_time:.2f} s")  # fmt: skip
    assert pickle.loads(pickle.dumps(clustered.best_estimator_)).score(X, y) == clustered.score(
        X, y
    )
