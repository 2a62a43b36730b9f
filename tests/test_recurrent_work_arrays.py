"""The recurrent loop's work arrays: reused by training batches, never by inference."""

from __future__ import annotations

import numpy as np
import pytest

from scratchnn import GRU, LSTM, SimpleRNN, kernels


@pytest.fixture(params=["numpy", "numba"])
def backend(request):
    if request.param == "numba" and not kernels.numba_installed():
        pytest.skip("numba is not installed")
    before = kernels.get_backend()
    kernels.set_backend(request.param)
    yield request.param
    kernels.set_backend(before)


@pytest.mark.parametrize("layer_class", [LSTM, GRU, SimpleRNN])
def test_training_batches_of_one_shape_reuse_the_work_arrays(layer_class, backend):
    rng = np.random.default_rng(0)
    layer = layer_class(5, return_sequences=True)
    layer.build((7, 3), rng)
    x, other = rng.normal(size=(2, 4, 7, 3)).astype(np.float32)
    first = layer.forward(x, training=True).copy()
    arrays = dict(layer.save_record()[-1])
    assert arrays and all(a.shape[0] in (4, 7) for a in arrays.values())
    layer.backward(np.ones((4, 7, 5), np.float32))
    layer.forward(other, training=True)
    again = layer.save_record()[-1]
    assert all(again[key] is array for key, array in arrays.items())  # the same memory
    np.testing.assert_array_equal(layer.forward(x, training=True), first)  # nothing stale
    layer.forward(x[:3], training=True)  # another batch size: arrays of its own
    assert len(layer.save_record()[-1]) > len(arrays)


@pytest.mark.parametrize("layer_class", [LSTM, GRU, SimpleRNN])
def test_inference_equals_training_and_keeps_no_arrays(layer_class, backend):
    rng = np.random.default_rng(1)
    layer = layer_class(6, return_sequences=True, return_state=True)
    layer.build((9, 4), rng)
    x = rng.normal(size=(5, 9, 4)).astype(np.float32)
    mask = np.ones((5, 9), bool)
    mask[1, 5:] = mask[3, 2:] = False  # padded rows: states held over several steps
    trained = layer.forward(x, training=True, mask=mask)
    record = layer.save_record()
    inferred = layer.forward(x, mask=mask)
    assert layer.save_record() is record  # inference wrote no record and no work array
    for a, b in zip(inferred, trained, strict=True):
        np.testing.assert_array_equal(a, b)


def test_predict_batches_count_every_steps_input_product():
    from scratchnn import Dense, Sequential
    from scratchnn.layers.memory import PREDICT_MEMORY

    model = Sequential([LSTM(128, input_shape=(50, 64)), Dense(10)], seed=0)
    model.predict(np.zeros((1, 50, 64), np.float32))
    x_w_per_row = 50 * 4 * 128 * 4  # (T, 4u) float32 numbers: x W for every step
    assert model.layers[0].working_memory((50, 64), 4) > x_w_per_row
    assert 1 < model.predict_rows() < PREDICT_MEMORY // x_w_per_row


@pytest.mark.parametrize("layer_class", [LSTM, GRU, SimpleRNN])
def test_inference_in_blocks_of_rows_equals_one_block(layer_class, backend, monkeypatch):
    from scratchnn import Input, Model

    rng = np.random.default_rng(2)
    n_states = 2 if layer_class is LSTM else 1
    x = Input(shape=(6, 3))
    states = [Input(shape=(5,)) for _ in range(n_states)]
    layer = layer_class(5, return_sequences=True, return_state=True)
    model = Model([x, *states], layer([x, *states]), seed=0)
    inputs = [rng.normal(size=(11, 6, 3)).astype(np.float32)] + [
        rng.normal(size=(11, 5)).astype(np.float32) for _ in range(n_states)
    ]
    whole = model.predict(inputs)
    monkeypatch.setattr(type(layer), "INFERENCE_ROWS", 4)  # blocks of 4, 4 and 3 rows
    blocked = model.predict(inputs)
    assert len(blocked) == 1 + n_states
    for a, b in zip(blocked, whole, strict=True):
        assert a.shape[0] == 11
        np.testing.assert_array_equal(a, b)
