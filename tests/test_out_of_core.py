"""Out-of-core data: memmaps, h5py/zarr datasets and dask arrays, read one batch at a time.

The oracle throughout is the same fit on the same rows held in memory: row-level shuffling (and
no shuffling) must give bit-identical weights; block shuffling must reach the same accuracy.
"""

from __future__ import annotations

import tracemalloc
from collections import Counter

import numpy as np
import pytest

from scratchnn import Sequential
from scratchnn.layers import Dense
from scratchnn.sources import RowSource, block_batches, is_source


def _problem(n: int, features: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, features)).astype(np.float32)
    y = (X @ rng.normal(size=features) > 0).astype(np.float32)
    return X, y


def _model(seed: int = 3) -> Sequential:
    return Sequential([Dense(8, "tanh"), Dense(1, "sigmoid")], seed=seed)


def _fit(X, y, **kwargs) -> Sequential:
    model = _model()
    settings = {"loss": "binary_crossentropy", "epochs": 2, "batch_size": 32, "verbose": 0}
    model.fit(X, y, **(settings | kwargs))
    return model


def _h5(tmp_path, X: np.ndarray, chunks=(64, 6)):
    h5py = pytest.importorskip("h5py")
    handle = h5py.File(tmp_path / "data.h5", "w")
    handle.create_dataset("X", data=X, chunks=chunks)
    return handle, handle["X"]


# -- the same results as in memory -----------------------------------------------------------
def test_memmap_fit_is_bit_identical_to_the_in_memory_fit(tmp_path):
    X, y = _problem(1000)
    mapped = np.memmap(tmp_path / "X.dat", dtype=np.float32, mode="w+", shape=X.shape)
    mapped[:] = X
    assert np.array_equal(_fit(mapped, y).params, _fit(X, y).params)


@pytest.mark.parametrize("shuffle", [False, True])
def test_h5py_zarr_and_dask_fits_are_bit_identical_with_row_order(tmp_path, shuffle):
    """Unshuffled (slices) and row-shuffled (gathers in permuted order) batches match memory."""
    X, y = _problem(700)
    expected = _fit(X, y, shuffle=shuffle).params
    handle, dataset = _h5(tmp_path, X)
    with handle:
        got = _fit(RowSource(dataset, shuffle="rows"), y, shuffle=shuffle).params
        assert np.array_equal(got, expected)
    zarr = pytest.importorskip("zarr")
    stored = zarr.create_array(tmp_path / "X.zarr", shape=X.shape, chunks=(50, 6), dtype="f4")
    stored[:] = X
    got = _fit(RowSource(stored, shuffle="rows"), y, shuffle=shuffle).params
    assert np.array_equal(got, expected)
    da = pytest.importorskip("dask.array")
    lazy = da.from_array(X, chunks=(90, 6))
    got = _fit(RowSource(lazy, shuffle="rows"), y, shuffle=shuffle).params
    assert np.array_equal(got, expected)


def test_predict_and_evaluate_on_sources_equal_the_in_memory_answers(tmp_path):
    da = pytest.importorskip("dask.array")
    X, y = _problem(500)
    model = _fit(X, y)
    handle, dataset = _h5(tmp_path, X)
    with handle:
        for data in (dataset, da.from_array(X, chunks=(64, 6))):
            assert is_source(data)
            assert np.array_equal(model.predict(data, batch_size=100), model.predict(X))
            assert np.array_equal(model.predict(data), model.predict(X))  # one batch
            assert model.evaluate(data, y, batch_size=64) == model.evaluate(X, y, batch_size=64)


def test_validation_split_on_a_source_holds_out_a_lazy_view_with_in_memory_results(tmp_path):
    X, y = _problem(600)
    expected = _model()
    history = expected.fit(X, y, loss="binary_crossentropy", epochs=2, batch_size=50,
                           validation_split=0.25, verbose=0)  # fmt: skip
    handle, dataset = _h5(tmp_path, X)
    with handle:
        model = _model()
        got = model.fit(RowSource(dataset, shuffle="rows"), y, loss="binary_crossentropy",
                        epochs=2, batch_size=50, validation_split=0.25, verbose=0)  # fmt: skip
    assert got.history["val_loss"] == history.history["val_loss"]
    assert np.array_equal(model.params, expected.params)
    view = RowSource(X).view(450, 600)
    assert len(view) == 150 and view.shape == (150, 6)
    assert np.array_equal(view[[0, 149]], X[[450, 599]])


# -- block shuffling -----------------------------------------------------------------------------
def test_block_batches_cover_every_row_once_in_row_level_batch_sizes():
    rng = np.random.default_rng(0)
    batches = list(block_batches(1003, 64, block_rows=50, buffer_blocks=3, rng=rng))
    assert [len(b) for b in batches] == [64] * 15 + [1003 - 15 * 64]
    rows = np.concatenate(batches)
    assert np.array_equal(np.sort(rows), np.arange(1003))
    assert not np.array_equal(rows, np.arange(1003))
    # Every batch draws on at most two buffers' blocks: 2 * 3 blocks.
    assert max(len(np.unique(b // 50)) for b in batches) <= 6
    again = list(block_batches(1003, 64, 50, 3, np.random.default_rng(0)))
    assert all(np.array_equal(a, b) for a, b in zip(batches, again, strict=True))


def test_block_shuffled_fit_reads_each_block_once_per_epoch_and_learns(tmp_path):
    X, y = _problem(2000)
    source = RowSource(X, shuffle="blocks", block_rows=100, buffer_blocks=4)
    reads = []
    source._read = lambda start, stop: reads.append((start, stop)) or X[start:stop]
    model = _model()
    model.fit(source, y, loss="binary_crossentropy", epochs=3, batch_size=32, verbose=0)
    # The checking pass reads the 20 blocks once; each of the 3 epochs reads each block at most
    # once (a block still held from the previous epoch's last buffer is not read again).
    blocks = [(s, s + 100) for s in range(0, 2000, 100)]
    assert reads[:20] == blocks
    counts = Counter(reads)
    assert sorted(counts) == blocks and max(counts.values()) <= 4
    assert len(reads) > 20 * 3
    accuracy = ((model.predict(X)[:, 0] > 0.5) == y).mean()
    reference = _fit(X, y, epochs=3)
    assert accuracy >= ((reference.predict(X)[:, 0] > 0.5) == y).mean() - 0.02


def test_default_shuffle_is_by_blocks_for_lazy_storage_and_by_rows_for_numpy(tmp_path):
    X, _ = _problem(300)
    handle, dataset = _h5(tmp_path, X, chunks=(40, 6))
    with handle:
        source = RowSource(dataset)
        assert (source.shuffle, source.block_rows) == ("blocks", 40)
        assert np.array_equal(source[[299, 0, 41, 40]], X[[299, 0, 41, 40]])
    assert RowSource(X).shuffle == "rows"


# -- bad data -----------------------------------------------------------------------------------
def test_a_nan_deep_in_a_dataset_stops_fit_before_any_change_naming_its_row(tmp_path):
    X, y = _problem(800)
    X[613, 2] = np.nan
    handle, dataset = _h5(tmp_path, X)
    with handle:
        model = _model()
        model.build((6,))
        before = model.get_state()
        with pytest.raises(ValueError, match=r"X must be finite.*first at row\(s\) \[613\]"):
            model.fit(dataset, y, loss="binary_crossentropy", epochs=1, verbose=0)
        assert np.array_equal(model.params, before["params"])
        assert model.rng.bit_generator.state == before["rng"]
        with pytest.raises(ValueError, match=r"first at row\(s\) \[13\]"):
            model.predict(RowSource(dataset).view(600, 800))
        with pytest.raises(ValueError, match=r"validation_data\[0\] must be finite.*\[613\]"):
            model.fit(X[:10] * 0, y[:10], loss="binary_crossentropy", verbose=0,
                      validation_data=(dataset, y))  # fmt: skip
        assert np.array_equal(model.params, before["params"])


def test_data_changed_after_the_checking_pass_stop_fit_at_the_batch_naming_the_row():
    X, y = _problem(400)
    source = RowSource(X.copy(), shuffle="blocks", block_rows=50)
    calls = []

    def read(start, stop):  # the file changes on disk after fit's checking pass
        calls.append(start)
        part = source._data[start:stop].copy()
        if len(calls) > 8 and start <= 321 < stop:
            part[321 - start, 0] = np.inf
        return part

    source._read = read
    model = _model()
    with pytest.raises(ValueError, match=r"X must be finite.*first at row\(s\) \[321\]"):
        model.fit(source, y, loss="binary_crossentropy", epochs=1, batch_size=20, verbose=0)
    assert calls[:8] == list(range(0, 400, 50))  # the pass read every block, and found nothing


def test_float64_values_beyond_float32_are_refused_per_batch_naming_rows(tmp_path):
    X, y = _problem(100)
    X = X.astype(np.float64)
    X[57, 0] = 1e300
    handle, dataset = _h5(tmp_path, X)
    with handle, pytest.raises(ValueError, match=r"values too large.*\[57\]"):
        _model().fit(dataset, y, loss="binary_crossentropy", verbose=0)


def test_rewrapping_a_view_keeps_its_rows_and_takes_the_new_settings():
    X = np.arange(40.0).reshape(20, 2)
    view = RowSource(X).view(5, 15)
    again = RowSource(view, shuffle="blocks", block_rows=3)
    assert (len(again), again.shuffle, again.block_rows) == (10, "blocks", 3)
    assert np.array_equal(again[[9, 0, 4]], X[[14, 5, 9]])
    assert np.array_equal(again[2:4], X[7:9])


def test_a_dask_array_of_unknown_length_is_refused_with_the_fix():
    da = pytest.importorskip("dask.array")
    X = da.from_array(np.ones((10, 3)), chunks=5)
    unknown = X[X[:, 0] > 0]
    with pytest.raises(ValueError, match=r"known sizes.*compute_chunk_sizes\(\)"):
        _model().predict(unknown)


def test_careless_sources_are_refused_by_name(tmp_path):
    with pytest.raises(TypeError, match="data must be a NumPy array"):
        RowSource([[1.0, 2.0]])
    with pytest.raises(ValueError, match="shuffle must be 'auto', 'rows' or 'blocks'"):
        RowSource(np.zeros((3, 2)), shuffle="chunks")
    with pytest.raises(ValueError, match="block_rows must be a positive integer, got 0"):
        RowSource(np.zeros((3, 2)), block_rows=0)
    with pytest.raises(IndexError, match=r"rows must lie in \[0, 3\)"):
        RowSource(np.zeros((3, 2)))[[3]]
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "bad.h5", "w") as handle:
        text = handle.create_dataset("s", data=np.array([[b"a", b"b"]]))
        with pytest.raises(TypeError, match="X must hold numbers"):
            _model().predict(text)
        empty = handle.create_dataset("e", shape=(0, 6), dtype="f4")
        with pytest.raises(ValueError, match="X must not be empty"):
            _model().predict(empty)
        wide = handle.create_dataset("w", data=np.zeros((4, 7), "f4"))
        model = _model()
        model.build((6,))
        with pytest.raises(ValueError, match="X must have 6 features"):
            model.predict(wide)


# -- memory --------------------------------------------------------------------------------------
ROWS, FEATURES = 2**18, 256  # 256 MiB of float32 on disk


def _write_memmap(path, rows: int, features: int) -> tuple[np.memmap, np.ndarray]:
    rng = np.random.default_rng(1)
    weights = rng.normal(size=features).astype(np.float32)
    mapped = np.memmap(path, dtype=np.float32, mode="w+", shape=(rows, features))
    y = np.empty(rows, dtype=np.float32)
    for start in range(0, rows, 8192):
        part = rng.normal(size=(min(8192, rows - start), features)).astype(np.float32)
        mapped[start : start + len(part)] = part
        y[start : start + len(part)] = part @ weights > 0
    mapped.flush()
    return mapped, y


@pytest.mark.slow
def test_fit_on_a_memmap_far_larger_than_its_memory_budget(tmp_path):
    """256 MiB of data trained within 8 MiB of allocations (tracemalloc: 2.5 MiB measured).

    tracemalloc sees NumPy's allocations, not the file's pages: those are page cache, which the
    kernel drops under pressure (an RSS measurement would count them as they are touched).
    """
    mapped, y = _write_memmap(tmp_path / "big.dat", ROWS, FEATURES)
    held_out = slice(ROWS - 16384, ROWS)
    results = {}
    for name, data in (("rows", mapped), ("blocks", RowSource(mapped, shuffle="blocks"))):
        model = Sequential([Dense(1, "sigmoid")], seed=0)
        tracemalloc.start()
        model.fit(data, y, loss="binary_crossentropy", epochs=1, batch_size=256, verbose=0,
                  validation_split=0.0625)  # fmt: skip
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        accuracy = ((model.predict(mapped[held_out])[:, 0] > 0.5) == y[held_out]).mean()
        results[name] = (peak, accuracy)
        assert peak < 8 * 2**20, f"{name}: peak {peak / 2**20:.1f} MiB"
    # The oracle: the same fit on the same rows in memory.
    in_memory = Sequential([Dense(1, "sigmoid")], seed=0)
    in_memory.fit(np.array(mapped), y, loss="binary_crossentropy", epochs=1, batch_size=256,
                  verbose=0, validation_split=0.0625)  # fmt: skip
    expected = ((in_memory.predict(mapped[held_out])[:, 0] > 0.5) == y[held_out]).mean()
    assert results["rows"][1] == expected
    assert results["blocks"][1] >= expected - 0.01
    assert expected > 0.9
    print(f"data {mapped.nbytes / 2**20:.0f} MiB; peak/accuracy {results}; memory {expected}")
