"""The layers' compiled kernels (Dense's bias and activation, pooling, col2im) against NumPy's.

Every kernel of :mod:`scratchnn.kernels.numba` here must give the bytes its twin in
:mod:`scratchnn.kernels.numpy` gives, over random shapes, both float dtypes and the awkward
values (``-0.0``, NaN, a single unit, no rows); and whole fits must not tell the backends apart.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import scratchnn
from scratchnn import kernels
from scratchnn.kernels import numpy as numpy_kernels

numba_kernels = pytest.importorskip("scratchnn.kernels.numba", exc_type=ImportError)
numba_layers = pytest.importorskip("scratchnn.kernels.numba_layers", exc_type=ImportError)

DTYPES = [np.float32, np.float64]
SHAPES = [(1, 1), (3, 7), (0, 5), (9, 3), (50, 1), (300, 2), (128, 256), (33, 17)]


@pytest.fixture
def restore_backend():
    before = kernels.get_backend()
    yield
    kernels.set_backend(before)


def same_bytes(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def awkward(rng: np.random.Generator, shape: tuple[int, int], dtype) -> np.ndarray:
    values = rng.normal(scale=3.0, size=shape).astype(dtype)
    if values.size > 2:
        values.flat[0], values.flat[1], values.flat[-1] = -0.0, 0.0, np.nan
    return values


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", ["bias_relu", "bias_sigmoid", "bias_tanh"])
@pytest.mark.parametrize("with_bias", [True, False])
def test_bias_and_activation_forward_is_bit_identical(dtype, shape, name, with_bias):
    rng = np.random.default_rng(sum(shape))
    z = awkward(rng, shape, dtype)
    bias = rng.normal(size=shape[1]).astype(dtype) if with_bias else None
    results = {}
    for module in (numpy_kernels, numba_kernels):
        z_copy = z.copy()
        for out in (np.empty_like(z), None, z_copy):  # a buffer, a new array, in place
            z_run = z_copy if out is z_copy else z.copy()
            a = getattr(module, name)(z_run, bias, out)
            results.setdefault(module.__name__, []).append((z_run.copy(), a.copy()))
    for (z_np, a_np), (z_nb, a_nb) in zip(*results.values(), strict=True):
        assert same_bytes(z_nb, z_np) and same_bytes(a_nb, a_np)
    if with_bias and z.size:
        expected = z[np.isfinite(z)] + np.broadcast_to(bias, shape)[np.isfinite(z)]
        np.testing.assert_array_equal(results[numba_kernels.__name__][0][0][np.isfinite(z)],
                                      expected)  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", ["relu_backward", "sigmoid_backward", "tanh_backward"])
def test_activation_backward_and_bias_sum_are_bit_identical(dtype, shape, name):
    rng = np.random.default_rng(7 + sum(shape))
    grad_a = awkward(rng, shape, dtype)
    a = (rng.random(size=shape) - 0.3).astype(dtype)
    for with_bias in (True, False):
        got = {}
        for module in (numpy_kernels, numba_kernels):
            grad_bias = np.full(shape[1], 7.0, dtype) if with_bias else None
            grad_z = getattr(module, name)(grad_a, a, np.empty_like(grad_a), grad_bias)
            got[module] = (grad_z, grad_bias)
        (z_np, b_np), (z_nb, b_nb) = got[numpy_kernels], got[numba_kernels]
        assert same_bytes(z_nb, z_np)
        if with_bias:
            assert same_bytes(b_nb, b_np)
            assert b_nb.shape == (shape[1],) and not np.any(b_nb == 7.0)  # every entry written
    new = numba_kernels.relu_backward(grad_a, a, None, None)  # out=None: a new array
    assert same_bytes(new, numpy_kernels.relu_backward(grad_a, a, None, None))


def axis(size: int, kernel: int, stride: int, padding: str) -> tuple[int, int, int]:
    if padding == "valid":
        return (size - kernel) // stride + 1, 0, 0
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2, total - total // 2


def random_windows(rng: np.random.Generator, padding: str, tiling: bool):
    """Image and window sizes, strides (= the window when ``tiling``) and their geometry."""
    n, height, width, channels = (int(v) for v in rng.integers(1, [4, 9, 9, 4], endpoint=True))
    kernel = tuple(int(v) for v in rng.integers(1, 3, size=2, endpoint=True))
    kernel = (min(kernel[0], height), min(kernel[1], width))
    strides = kernel if tiling else tuple(int(v) for v in rng.integers(1, 2, 2, endpoint=True))
    (out_h, top, bottom), (out_w, left, right) = (
        axis(height, kernel[0], strides[0], padding),
        axis(width, kernel[1], strides[1], padding),
    )
    x_shape = (n, height, width, channels)
    padded = (n, height + top + bottom, width + left + right, channels)
    return kernel, strides, (n, out_h, out_w, channels), x_shape, padded, top, left


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("trial", range(6))
def test_window_kernels_are_bit_identical(dtype, padding, trial):
    rng = np.random.default_rng(100 * trial + len(padding))
    for tiling in (False, True):
        kernel, strides, out, x_shape, padded, top, left = random_windows(rng, padding, tiling)
        where = (x_shape, padded, top, left)
        grad = rng.normal(size=out).astype(dtype)
        grad.flat[0] = -0.0
        windows = rng.normal(size=(*kernel, *out)).astype(dtype)
        winner = rng.integers(0, kernel[0] * kernel[1], size=out).astype(np.uint8)
        tiles = strides == kernel and padded[1:3] == (out[1] * kernel[0], out[2] * kernel[1])
        calls = {
            "col2im": (windows, x_shape, padded, top, left, strides),
            "max_pool_offsets_backward": (grad, winner, kernel, strides, *where),
            "avg_pool_backward": (grad, kernel, strides, tiles, *where),
        }
        if tiling:
            row = rng.integers(0, kernel[0], size=out).astype(np.uint8)
            column = rng.integers(0, kernel[1], size=(out[0], out[1], kernel[0], *out[2:]))
            calls["max_pool_blocks_backward"] = (grad, row, column.astype(np.uint8), kernel,
                                                 *where)  # fmt: skip
        for name, args in calls.items():
            expected = getattr(numpy_kernels, name)(*args)
            assert expected.shape == x_shape
            assert same_bytes(getattr(numba_kernels, name)(*args), expected), (name, args[2:])


def fit_on(backend: str, layers, x, y, **fit):
    kernels.set_backend(backend)
    model = scratchnn.Sequential(layers(), seed=4)
    history = model.fit(x, y, verbose=0, **fit)
    return [*model.get_weights(), model.predict(x), np.array(history.history["loss"])]


def assert_fits_identical(layers, x, y, **fit):
    numpy_run = fit_on("numpy", layers, x, y, **fit)
    numba_run = fit_on("numba", layers, x, y, **fit)
    assert len(numpy_run) == len(numba_run)
    for a, b in zip(numba_run, numpy_run, strict=True):
        assert same_bytes(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_fits_are_bit_identical_on_both_backends(dtype, restore_backend):
    from scratchnn import Dense

    rng = np.random.default_rng(5)
    x = rng.normal(size=(120, 7)).astype(dtype)
    y = (x[:, 0] + x[:, 1] > 0).astype(int) + (x[:, 2] > 0.5)

    def layers():
        return [Dense(12, "relu"), Dense(9, "sigmoid"), Dense(8, "tanh"), Dense(3, "softmax")]

    assert_fits_identical(layers, x, y, loss="categorical_crossentropy", epochs=3, batch_size=16,
                          optimizer="adam")  # fmt: skip
    sequences = rng.normal(size=(40, 5, 4)).astype(dtype)  # Dense over every position
    assert_fits_identical(lambda: [Dense(6, "relu"), Dense(1, "sigmoid")], sequences,
                          rng.random((40, 5, 1)).astype(dtype), loss="mse", epochs=2,
                          batch_size=8)  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
def test_cnn_fits_are_bit_identical_on_both_backends(dtype, restore_backend):
    from scratchnn.layers import AvgPool2D, Conv2D, Dense, Flatten, MaxPool2D

    rng = np.random.default_rng(6)
    x = rng.random((48, 9, 9, 2)).astype(dtype)
    y = rng.integers(0, 3, size=48)

    def layers():
        return [
            Conv2D(4, 3, padding="same", activation="relu"),
            MaxPool2D(2),  # 9 -> 4: the last row and column are read by no window
            Conv2D(5, 2, strides=1, padding="same", activation="tanh"),
            MaxPool2D(3, strides=1, padding="same"),  # overlapping windows
            Conv2D(4, 3, strides=2, activation="sigmoid"),
            AvgPool2D(1),
            Flatten(),
            Dense(3, "softmax"),
        ]

    assert_fits_identical(layers, x, y, loss="categorical_crossentropy", epochs=2, batch_size=12,
                          optimizer="adam")  # fmt: skip
    assert_fits_identical(
        lambda: [Conv2D(3, 3, activation="relu"), AvgPool2D(2, strides=1, padding="same"),
                 AvgPool2D(2), Flatten(), Dense(3, "softmax")],
        x, y, loss="categorical_crossentropy", epochs=2, batch_size=12,
    )  # fmt: skip


def test_compiled_conv_inference_writes_nothing_and_is_thread_safe(restore_backend):
    from concurrent.futures import ThreadPoolExecutor

    from scratchnn.layers import Conv2D, Dense, Flatten, MaxPool2D

    kernels.set_backend("numba")
    rng = np.random.default_rng(9)
    model = scratchnn.Sequential(
        [Conv2D(3, 3, padding="same", activation="relu"), MaxPool2D(2), Flatten(),
         Dense(4, "sigmoid")], seed=1,
    )  # fmt: skip
    model.fit(rng.random((16, 6, 6, 1)), rng.random((16, 4)), loss="mse", verbose=0)
    inputs = [rng.random((int(rng.integers(1, 9)), 6, 6, 1)) for _ in range(8)]
    expected = [model.predict(x) for x in inputs]
    before = [dict(vars(layer)) for layer in model.layers]
    with ThreadPoolExecutor(max_workers=4) as pool:
        same = list(pool.map(lambda i: np.array_equal(model.predict(inputs[i % 8]),
                                                      expected[i % 8]), range(80)))  # fmt: skip
    assert all(same)
    for layer, attributes in zip(model.layers, before, strict=True):
        assert all(value is attributes[key] for key, value in vars(layer).items())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (1, 2), (7, 3), (128, 10), (33, 100)])
def test_softmax_cross_entropy_gradient_is_bit_identical(dtype, shape):
    rng = np.random.default_rng(shape[0] * shape[1])
    logits = rng.normal(scale=4.0, size=shape).astype(dtype)
    labels = rng.integers(0, shape[1], size=shape[0])
    if shape[0] > 2:
        logits[0, 0], logits[1] = -0.0, 50.0  # a signed zero; a row of ties
        logits[2, -1] = np.nan
    with np.errstate(invalid="ignore"):
        value_np, grad_np = numpy_kernels.softmax_cross_entropy(logits, labels)
        value_nb, grad_nb = numba_kernels.softmax_cross_entropy(logits, labels)
    assert same_bytes(grad_nb, grad_np)
    assert np.array_equal(value_nb, value_np, equal_nan=True)
    if shape[0] <= 2:  # no NaN planted: the formula itself
        shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
        probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        expected = -np.log(probs[np.arange(shape[0]), labels]).mean()
        assert value_nb == pytest.approx(expected, rel=1e-5)


def test_layer_kernels_hold_no_fused_multiply_add():
    """``(1 - a) a g`` and ``p / s - 1`` stay separate roundings: no FMA in the machine code."""
    import numba

    rng = np.random.default_rng(2)
    grad, a, out = (rng.normal(size=(4, 8)).astype(np.float32) for _ in range(3))
    one, zero = np.float32(1), np.float32(0)
    calls = [
        (numba_layers._sigmoid_backward, (grad, a, out, np.zeros(8, np.float32), True, zero, one)),
        (numba_layers._tanh_backward, (grad, a, out, np.zeros(8, np.float32), True, zero, one)),
        (numba_layers._cross_entropy_gradient,
         (out, grad, np.ones(4, np.float32), np.zeros(4, np.float32), np.arange(4), one,
          np.float32(0.25))),
        (numba_layers._bias_half, (grad, a[0], True, out, np.float32(0.5))),
        (numba_layers._half_plus_half, (out, np.float32(0.5))),
    ]  # fmt: skip
    for kernel, args in calls:
        fresh = numba.njit(nogil=True, fastmath=False, error_model="numpy")(kernel.py_func)
        fresh(*[arg.copy() if isinstance(arg, np.ndarray) else arg for arg in args])
        (assembly,) = fresh.inspect_asm().values()
        assert "mulss" in assembly or "mulps" in assembly  # the code was read
        for fused in ("vfmadd", "vfmsub", "vfnmadd", "vfnmsub"):
            assert fused not in assembly, (kernel.__name__, fused)


# -- the forward's window kernels: im2col and max pooling ---------------------------------------


def awkward_images(rng: np.random.Generator, shape: tuple[int, ...], dtype) -> np.ndarray:
    """Random images with ties, signed zeros and a NaN planted (max pooling's hard cases)."""
    x = np.round(rng.normal(size=shape) * 2).astype(dtype)  # rounded: many ties
    flat = x.reshape(-1)
    flat[rng.integers(0, flat.size, size=max(1, flat.size // 7))] = -0.0
    flat[rng.integers(0, flat.size, size=max(1, flat.size // 7))] = 0.0
    if flat.size > 3:
        flat[rng.integers(0, flat.size)] = np.nan
    return x


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("trial", range(8))
def test_im2col_is_bit_identical(dtype, padding, trial):
    rng = np.random.default_rng(700 + 10 * trial + len(padding))
    for tiling in (False, True):
        kernel, strides, out, x_shape, padded, top, left = random_windows(rng, padding, tiling)
        if trial % 2:  # wider strides than random_windows draws
            strides = tuple(int(v) for v in rng.integers(1, 3, size=2, endpoint=True))
            strides = (min(strides[0], x_shape[1]), min(strides[1], x_shape[2]))
            (out_h, top, bottom), (out_w, left, right) = (
                axis(x_shape[1], kernel[0], strides[0], padding),
                axis(x_shape[2], kernel[1], strides[1], padding),
            )
            out = (x_shape[0], out_h, out_w, x_shape[3])
            padded = (x_shape[0], x_shape[1] + top + bottom, x_shape[2] + left + right, x_shape[3])
        for channels in (1, x_shape[3] + 1):  # one channel: the transposed layout
            shape = (*x_shape[:3], channels)
            x = awkward_images(rng, shape, dtype)
            rows, width = out[0] * out[1] * out[2], kernel[0] * kernel[1] * channels
            layout = (width, rows) if channels == 1 else (rows, width)
            results = []
            for module in (numpy_kernels, numba_kernels):
                cols = np.full(layout, 7.0, dtype)  # stale values: all must be overwritten
                pad = (*padded[:3], channels)
                buffer = np.zeros(pad, dtype) if pad != shape else None
                results.append(module.im2col(x, kernel, strides, out[1:3], pad, top, left, cols,
                                             buffer))  # fmt: skip
            expected, got = results
            assert expected.shape == (rows, width)
            assert same_bytes(np.ascontiguousarray(got), np.ascontiguousarray(expected))


def test_im2col_rows_are_the_windows():
    """A hand-checked case: 2x2 windows over a 3x3 image, "same" padding (zeros after)."""
    x = np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    for module in (numpy_kernels, numba_kernels):
        cols = module.im2col(x, (2, 2), (1, 1), (3, 3), (1, 4, 4, 1), 0, 0,
                             np.empty((4, 9)), np.zeros((1, 4, 4, 1)))  # fmt: skip
        assert cols[0].tolist() == [1, 2, 4, 5]
        assert cols[2].tolist() == [3, 0, 6, 0]
        assert cols[8].tolist() == [9, 0, 0, 0]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("trial", range(8))
def test_max_pooling_forward_is_bit_identical(dtype, padding, trial):
    rng = np.random.default_rng(900 + 10 * trial + len(padding))
    for tiling in (False, True):
        kernel, strides, out, x_shape, padded, top, left = random_windows(rng, padding, tiling)
        x = awkward_images(rng, x_shape, dtype)
        for training in (True, False):
            if tiling:
                args = (x, kernel, out[1:3], padded, top, left, training)
                name = "max_pool_blocks"
            else:
                args = (x, kernel, strides, out[1:3], padded, top, left, training)
                name = "max_pool_offsets"
            expected = getattr(numpy_kernels, name)(*args)
            got = getattr(numba_kernels, name)(*args)
            assert expected[0].shape == out and len(got) == len(expected)
            assert same_bytes(got[0], expected[0]), (name, training)
            for a, b in zip(got[1:], expected[1:], strict=True):  # the winners, in training
                assert same_bytes(a, b) if training else (a is None and b is None), name


def test_max_pooling_records_the_first_maximum():
    """Ties go to the first maximum in row-major order; NaN wins its window."""
    x = np.array([[1.0, 3.0], [3.0, 2.0]]).reshape(1, 2, 2, 1)
    for module in (numpy_kernels, numba_kernels):
        best, row, column = module.max_pool_blocks(x, (2, 2), (1, 1), x.shape, 0, 0, True)
        assert best.item() == 3.0 and row.item() == 0 and column[0, 0, :, 0, 0].tolist() == [1, 0]
        best, winner = module.max_pool_offsets(x, (2, 2), (1, 1), (1, 1), x.shape, 0, 0, True)
        assert best.item() == 3.0 and winner.item() == 1
        x_nan = x.copy()
        x_nan[0, 1, 1, 0] = np.nan
        assert np.isnan(module.max_pool_offsets(x_nan, (2, 2), (1, 1), (1, 1), x.shape, 0, 0,
                                                False)[0].item())  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
def test_digit_cnn_fits_are_bit_identical_on_both_backends(dtype, restore_backend):
    """The benchmark's network (one-channel images, "same" convolutions, 2x2 pools)."""
    from scratchnn.layers import Conv2D, Dense, Flatten, MaxPool2D

    rng = np.random.default_rng(11)
    x = rng.random((40, 12, 12, 1)).astype(dtype)
    y = rng.integers(0, 4, size=40)

    def layers():
        return [
            Conv2D(4, 3, padding="same", activation="relu"),
            MaxPool2D(2),
            Conv2D(6, 3, padding="same", activation="relu"),
            MaxPool2D(2),
            Conv2D(3, 2, strides=2, activation="relu"),  # strided, one window per output
            Flatten(),
            Dense(8, "relu"),
            Dense(4, "softmax"),
        ]

    assert_fits_identical(layers, x, y, loss="categorical_crossentropy", epochs=2, batch_size=16,
                          optimizer="adam")  # fmt: skip


def test_conv_training_reuses_buffers_and_inference_allocates(restore_backend):
    """Training gathers into one buffer batch after batch; predict writes nothing on the layer."""
    from concurrent.futures import ThreadPoolExecutor

    from scratchnn.layers import Conv2D, Flatten, MaxPool2D

    kernels.set_backend("numba")
    rng = np.random.default_rng(12)
    model = scratchnn.Sequential(
        [Conv2D(3, 3, padding="same", activation="relu", input_shape=(8, 8, 2)), MaxPool2D(2),
         Conv2D(2, 3, strides=2, padding="same"), Flatten()], seed=2,
    )  # fmt: skip
    conv = model.layers[0]
    x = rng.random((8, 8, 8, 2))
    conv.forward(x, training=True)
    cols = conv._recorded()[0]
    conv.forward(x[::-1].copy(), training=True)
    assert conv._recorded()[0] is cols  # the same buffer, refilled
    inputs = [rng.random((int(rng.integers(1, 6)), 8, 8, 2)) for _ in range(6)]
    expected = [model.predict(v) for v in inputs]
    state = [dict(vars(layer)) for layer in model.layers]
    with ThreadPoolExecutor(max_workers=4) as pool:
        same = list(pool.map(lambda i: np.array_equal(model.predict(inputs[i % 6]),
                                                      expected[i % 6]), range(48)))  # fmt: skip
    assert all(same)
    for layer, attributes in zip(model.layers, state, strict=True):
        assert all(value is attributes[key] for key, value in vars(layer).items())


@pytest.mark.parametrize("activation", ["relu", None, "tanh", "sigmoid"])
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_conv_inference_in_chunks_gives_the_same_bits(
    backend, activation, restore_backend, monkeypatch
):
    """A large inference batch runs a few images at a time: the same outputs, bit for bit,
    whatever the activation (a linear one returns its input rather than writing ``out``)."""
    from scratchnn.layers import Conv2D

    kernels.set_backend(backend)
    rng = np.random.default_rng(13)
    layer = Conv2D(5, 3, padding="same", activation=activation)
    layer.build((7, 7, 3), rng)
    x = rng.normal(size=(23, 7, 7, 3)).astype(np.float32)
    whole = layer.forward(x)
    assert layer._inference_chunk(x) > len(x)  # no chunks by default at this size
    patches = 7 * 7 * 27 * layer.params["W"].itemsize  # bytes of one image's patches
    monkeypatch.setattr(Conv2D, "INFERENCE_PATCHES", 4 * patches)  # 4 images a chunk
    assert layer._inference_chunk(x) == 4
    before = dict(vars(layer))
    chunked = layer.forward(x)
    assert same_bytes(chunked, whole)
    assert all(value is before[key] for key, value in vars(layer).items())
