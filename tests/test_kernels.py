"""The two kernel backends: the switch, and the compiled kernels bit-identical to NumPy's."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import scratchnn
from scratchnn import kernels
from scratchnn.kernels import numpy as numpy_kernels
from scratchnn.optimizers import SGD, Adagrad, Adam, AdamW, RMSprop

numba_kernels = pytest.importorskip("scratchnn.kernels.numba", exc_type=ImportError)

OPTIMIZERS = [
    lambda: SGD(0.1),
    lambda: SGD(0.05, clipnorm=0.5),
    lambda: SGD(0.1, momentum=0.9),
    lambda: SGD(0.1, momentum=0.8, nesterov=True, clipnorm=1.0),
    lambda: RMSprop(0.01),
    lambda: RMSprop(0.01, rho=0.7, clipnorm=0.3),
    lambda: Adagrad(0.1),
    lambda: Adagrad(0.1, clipnorm=0.2),
    lambda: Adam(0.01),
    lambda: Adam(0.003, beta_1=0.8, clipnorm=0.4),
    lambda: AdamW(0.01, weight_decay=0.1),
    lambda: AdamW(0.01, weight_decay=0.05, clipnorm=0.5),
]
IDS = [
    "sgd", "sgd-clip", "momentum", "nesterov-clip", "rmsprop", "rmsprop-clip",
    "adagrad", "adagrad-clip", "adam", "adam-clip", "adamw", "adamw-clip",
]  # fmt: skip


@pytest.fixture
def restore_backend():
    before = kernels.get_backend()
    yield
    kernels.set_backend(before)


def run_steps(make, backend, params, gradients):
    kernels.set_backend(backend)
    optimizer, params = make(), params.copy()
    seen = []
    for grad in gradients:
        grad = grad.copy()
        optimizer.step(params, grad)
        seen.append(grad)  # clipping rescales the gradient in place on both paths
    return params, optimizer.get_state(), seen


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("make", OPTIMIZERS, ids=IDS)
def test_compiled_update_is_bit_identical_to_numpy(make, dtype, restore_backend):
    rng = np.random.default_rng(24)
    for size in (1, 7, 64, 1031):  # below, at and past the vector width, with a remainder
        params = rng.normal(size=size).astype(dtype)
        scales = (1e-4, 1.0, 30.0)  # tiny, ordinary and clipped gradients
        gradients = [rng.normal(scale=scales[i % 3], size=size).astype(dtype) for i in range(6)]
        p_numpy, state_numpy, g_numpy = run_steps(make, "numpy", params, gradients)
        p_numba, state_numba, g_numba = run_steps(make, "numba", params, gradients)
        assert p_numpy.dtype == p_numba.dtype == dtype
        np.testing.assert_array_equal(p_numba.view(np.uint8), p_numpy.view(np.uint8))
        for name, slot in state_numpy["slots"].items():
            np.testing.assert_array_equal(state_numba["slots"][name], slot, err_msg=name)
        for a, b in zip(g_numba, g_numpy, strict=True):
            np.testing.assert_array_equal(a, b)
        assert not np.array_equal(p_numpy, params)  # the steps did move the parameters


def test_compiled_kernels_hold_no_fused_multiply_add():
    """LLVM without fast-math flags does not contract a * b + c; the machine code says so."""
    import numba

    f32 = np.float32
    tiny = np.finfo(f32).tiny
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=16).astype(np.float32) for _ in range(5)]
    calls = [
        (numba_kernels.adam, (*arrays, f32(0.9), f32(0.999), f32(1e-8), f32(1e-3), f32(0.99), True,
                              f32(0.5), True, tiny)),
        (numba_kernels.sgd_momentum, (*arrays[:4], f32(0.1), f32(0.9), True, f32(0.5), True, tiny)),
        (numba_kernels.rmsprop, (*arrays[:4], f32(0.1), f32(0.9), f32(0.1), f32(1e-7),
                                 f32(1), True, tiny)),
    ]  # fmt: skip
    for kernel, args in calls:
        # compiled afresh with the same options: the cached one cannot show its assembly
        fresh = numba.njit(nogil=True, fastmath=False, error_model="numpy")(kernel.py_func)
        fresh(*[a.copy() if isinstance(a, np.ndarray) else a for a in args])
        (assembly,) = fresh.inspect_asm().values()
        assert "mulss" in assembly or "mulps" in assembly  # the code was read
        for fused in ("vfmadd", "vfmsub", "vfnmadd", "vfnmsub"):
            assert fused not in assembly, (kernel.__name__, fused)


def test_fits_are_bit_identical_on_both_backends(restore_backend):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(96, 6)).astype(np.float32)
    y = rng.integers(0, 3, size=96)
    weights = {}
    for backend in ("numpy", "numba"):
        kernels.set_backend(backend)
        model = scratchnn.Sequential(
            [scratchnn.Dense(16, activation="relu"), scratchnn.Dense(3, activation="softmax")],
            seed=5,
        )
        model.fit(x, y, loss="categorical_crossentropy", epochs=3, batch_size=16, verbose=0,
                  optimizer=scratchnn.AdamW(0.01, clipnorm=1.0))  # fmt: skip
        weights[backend] = model.get_weights()
    for a, b in zip(weights["numba"], weights["numpy"], strict=True):
        np.testing.assert_array_equal(a, b)


def test_set_backend_switches_and_reports(restore_backend):
    scratchnn.set_backend("NumPy")
    assert scratchnn.get_backend() == "numpy" and kernels.current() is numpy_kernels
    assert scratchnn.info()["backend"] == "numpy"
    scratchnn.set_backend("numba")
    assert scratchnn.get_backend() == "numba" and kernels.current() is numba_kernels
    report = scratchnn.info()
    assert report["backend"] == "numba" and report["numba"] != "not installed"
    assert report["numpy"] == np.__version__


@pytest.mark.slow
@pytest.mark.parametrize(
    ("value", "expected"), [("numpy", "numpy"), ("numba", "numba"), ("", "numba")]
)
def test_environment_variable_chooses_the_backend(value, expected):
    code = "import scratchnn; print(scratchnn.get_backend())"
    env = {"SCRATCHNN_BACKEND": value, "PYTHONPATH": ":".join(sys.path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == expected, out.stderr


@pytest.mark.slow
def test_a_bad_environment_variable_is_named():
    code = "import scratchnn; scratchnn.get_backend()"
    env = {"SCRATCHNN_BACKEND": "fortran", "PYTHONPATH": ":".join(sys.path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode != 0
    assert "the environment variable SCRATCHNN_BACKEND must be one of" in out.stderr
    assert "got 'fortran'" in out.stderr


def lstm_cell_run(cell, backend, xw, hu, c_prev, dh, dc_next):
    kernels.set_backend(backend)
    (h, c), record = cell.step(xw, hu, [None, c_prev])
    dz, dz_again, (_, dc_prev) = cell.step_backward([dh, dc_next], record)
    assert dz is dz_again
    return [h, c, dz, dc_prev, *record]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("batch", "units"), [(1, 1), (3, 5), (16, 33)])
@pytest.mark.parametrize("with_next", [True, False])
def test_compiled_lstm_step_is_bit_identical_to_numpy(dtype, batch, units, with_next,
                                                       restore_backend):  # fmt: skip
    from scratchnn.activations import Sigmoid, Tanh
    from scratchnn.layers.recurrent_cells import LSTMCell

    rng = np.random.default_rng(batch * units)
    # xw as the loop hands it: one time step of an (N, T, 4u) array, rows not contiguous
    xw = rng.normal(scale=3.0, size=(batch, 4, 4 * units)).astype(dtype)[:, 2]
    hu, c_prev, dh, dc_next = (rng.normal(size=s).astype(dtype) for s in
                               [(batch, 4 * units)] + [(batch, units)] * 3)  # fmt: skip
    dc_next = dc_next if with_next else None
    cell = LSTMCell(units, Tanh(), Sigmoid(), unit_forget_bias=True)
    assert cell.fused
    generic = LSTMCell(units, Tanh(), Sigmoid(), unit_forget_bias=True)
    generic.fused = False  # the layer's own per-gate code, through the activations
    expected = lstm_cell_run(generic, "numpy", xw, hu, c_prev, dh, dc_next)
    for backend in ("numpy", "numba"):
        got = lstm_cell_run(cell, backend, xw, hu, c_prev, dh, dc_next)
        for a, b in zip(got, expected, strict=True):
            assert a.dtype == b.dtype == dtype and a.shape == b.shape
            np.testing.assert_array_equal(a, b, err_msg=backend)


@pytest.mark.parametrize("layer", ["LSTM", "GRU"])
def test_recurrent_fits_are_bit_identical_on_both_backends(layer, restore_backend):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(40, 6, 3)).astype(np.float32)
    y = rng.normal(size=(40, 2)).astype(np.float32)
    weights = {}
    for backend in ("numpy", "numba"):
        kernels.set_backend(backend)
        model = scratchnn.Sequential([getattr(scratchnn, layer)(5), scratchnn.Dense(2)], seed=1)
        model.fit(x, y, loss="mse", epochs=2, batch_size=8, verbose=0, optimizer="adam")
        weights[backend] = model.get_weights() + [model.predict(x)]
    for a, b in zip(weights["numba"], weights["numpy"], strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("batch", "units"), [(1, 1), (3, 5), (16, 33)])
def test_compiled_gru_step_is_bit_identical_to_numpy(dtype, batch, units, restore_backend):
    from scratchnn.activations import Sigmoid, Tanh
    from scratchnn.layers.recurrent_cells import GRUCell

    rng = np.random.default_rng(batch + units)
    xw = rng.normal(scale=3.0, size=(batch, 4, 3 * units)).astype(dtype)[:, 1]
    hu = rng.normal(scale=2.0, size=(batch, 3 * units)).astype(dtype)
    h_prev, dh = (rng.normal(size=(batch, units)).astype(dtype) for _ in range(2))
    generic = GRUCell(units, Tanh(), Sigmoid())
    generic.fused = False  # the layer's own code, through the activations

    def run(cell, backend):
        kernels.set_backend(backend)
        (h,), record = cell.step(xw, hu, [h_prev])
        d_xw, d_hu, (dh_prev,) = cell.step_backward([dh], record)
        return [h, d_xw, d_hu, dh_prev, *record]

    expected = run(generic, "numpy")
    cell = GRUCell(units, Tanh(), Sigmoid())
    assert cell.fused
    for backend in ("numpy", "numba"):
        for a, b in zip(run(cell, backend), expected, strict=True):
            assert a.dtype == b.dtype == dtype and a.shape == b.shape
            np.testing.assert_array_equal(a, b, err_msg=backend)


@pytest.mark.parametrize("layer", ["LSTM", "GRU"])
def test_compiled_recurrent_inference_is_thread_safe_and_writes_nothing(layer, restore_backend):
    from concurrent.futures import ThreadPoolExecutor

    kernels.set_backend("numba")
    rng = np.random.default_rng(11)
    model = scratchnn.Sequential([getattr(scratchnn, layer)(6), scratchnn.Dense(2)], seed=2)
    model.fit(rng.normal(size=(16, 5, 3)), rng.normal(size=(16, 2)), loss="mse", verbose=0)
    inputs = [rng.normal(size=(int(rng.integers(1, 20)), 5, 3)) for _ in range(12)]
    expected = [model.predict(x) for x in inputs]
    recurrent = model.layers[0]
    before = [dict(vars(recurrent)), dict(vars(recurrent.cell))]
    with ThreadPoolExecutor(max_workers=6) as pool:
        same = list(pool.map(lambda i: np.array_equal(model.predict(inputs[i % 12]),
                                                      expected[i % 12]), range(240)))  # fmt: skip
    assert all(same), f"{same.count(False)} of {len(same)} predictions differed"
    for obj, attributes in zip((recurrent, recurrent.cell), before, strict=True):
        assert vars(obj).keys() == attributes.keys()
        for key, value in vars(obj).items():
            assert value is attributes[key], f"{type(obj).__name__}.{key} was rebound"


def test_compiled_optimizers_step_in_threads_as_alone(restore_backend):
    from concurrent.futures import ThreadPoolExecutor

    kernels.set_backend("numba")
    rng = np.random.default_rng(12)
    starts = [rng.normal(size=5000).astype(np.float32) for _ in range(6)]
    grads = [rng.normal(size=5000).astype(np.float32) for _ in range(6)]

    def train(index):
        optimizer, params = Adam(0.01, clipnorm=1.0), starts[index].copy()
        for _ in range(50):
            optimizer.step(params, grads[index].copy())
        return params

    alone = [train(i) for i in range(6)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        together = list(pool.map(train, range(6)))
    for a, b in zip(together, alone, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_dtype_the_compiled_kernels_do_not_take_runs_on_numpy(restore_backend):
    kernels.set_backend("numba")
    assert kernels.current(np.float32) is numba_kernels
    assert kernels.current(np.float16) is numpy_kernels
    rng = np.random.default_rng(13)
    params, grads = (rng.normal(size=33).astype(np.float16) for _ in range(2))
    on_numba = run_steps(lambda: Adam(0.01), "numba", params, [grads])[0]
    on_numpy = run_steps(lambda: Adam(0.01), "numpy", params, [grads])[0]
    assert on_numba.dtype == np.float16
    np.testing.assert_array_equal(on_numba, on_numpy)
