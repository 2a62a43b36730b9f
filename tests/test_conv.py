"""Convolution, pooling and reshaping layers, each alone: shapes, values, gradients, errors.

Gradients are checked against central differences computed here, in float64, on the scalar
``L = sum(y * g)`` for a fixed random ``g`` (so ``dL/dy = g``).
"""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from scratchnn.layers import (
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dropout,
    Flatten,
    GlobalAvgPool2D,
    MaxPool2D,
    Reshape,
    get_layer_class,
)

EPS = 1e-6


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    scale = max(np.linalg.norm(analytic), np.linalg.norm(numeric))
    return 0.0 if scale < 1e-7 else float(np.linalg.norm(analytic - numeric) / scale)


def central_differences(loss, array: np.ndarray) -> np.ndarray:
    """``dL/darray`` by central differences, perturbing ``array`` in place entry by entry."""
    grad = np.empty_like(array)
    for index in np.ndindex(array.shape):
        original = array[index]
        array[index] = original + EPS
        plus = loss()
        array[index] = original - EPS
        minus = loss()
        array[index] = original
        grad[index] = (plus - minus) / (2 * EPS)
    return grad


def check_layer_gradients(layer, input_shape, batch=2, seed=0) -> dict[str, float]:
    """Relative errors of ``backward`` against central differences, for x and each parameter."""
    rng = np.random.default_rng(seed)
    layer.build(input_shape, np.random.default_rng(seed), np.float64)
    for value in layer.params.values():  # non-trivial parameters (biases start at zero)
        value[...] = rng.normal(size=value.shape)
    x = rng.normal(size=(batch, *input_shape))
    y = layer.forward(x, training=True)
    upstream = rng.normal(size=y.shape)
    grad_x = layer.backward(upstream)
    analytic = {"x": grad_x, **{k: v.copy() for k, v in layer.grads.items()}}

    def loss() -> float:
        return float(np.sum(layer.forward(x, training=True) * upstream))

    numeric = {"x": central_differences(loss, x)}
    for name, value in layer.params.items():
        numeric[name] = central_differences(loss, value)
    return {name: relative_error(analytic[name], numeric[name]) for name in analytic}


def reference_conv(x, W, b, strides, padding):
    """Direct convolution with loops over output pixels: an oracle independent of im2col."""
    kh, kw, _, filters = W.shape
    n, height, width, _ = x.shape
    sh, sw = strides
    if padding == "same":
        out_h, out_w = -(-height // sh), -(-width // sw)
        pad_h = max((out_h - 1) * sh + kh - height, 0)
        pad_w = max((out_w - 1) * sw + kw - width, 0)
        x = np.pad(
            x, ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0))
        )
    else:
        out_h, out_w = (height - kh) // sh + 1, (width - kw) // sw + 1
    out = np.zeros((n, out_h, out_w, filters))
    for p in range(out_h):
        for q in range(out_w):
            patch = x[:, p * sh : p * sh + kh, q * sw : q * sw + kw, :]
            out[:, p, q, :] = np.tensordot(patch, W, axes=([1, 2, 3], [0, 1, 2])) + b
    return out


# -- Conv2D -----------------------------------------------------------------------------------
CONV_CASES = [
    # (kernel, strides, padding, input_shape, filters)
    (1, 1, "valid", (4, 5, 3), 2),
    (2, 1, "same", (5, 4, 2), 3),
    (3, 1, "valid", (6, 6, 1), 4),
    (3, 1, "same", (5, 6, 2), 2),
    (3, 2, "valid", (7, 6, 3), 2),
    (3, 2, "same", (6, 7, 2), 3),
    (4, 2, "same", (7, 7, 1), 2),
    (5, 1, "same", (6, 5, 2), 2),
    (5, 2, "valid", (9, 8, 1), 3),
    ((2, 3), (1, 2), "same", (5, 6, 2), 2),
    (1, 2, "same", (5, 5, 4), 1),
]


@pytest.mark.parametrize("kernel,strides,padding,input_shape,filters", CONV_CASES)
def test_conv2d_backward_matches_finite_differences(kernel, strides, padding, input_shape, filters):
    errors = check_layer_gradients(Conv2D(filters, kernel, strides, padding), input_shape)
    assert set(errors) == {"x", "W", "b"}
    assert max(errors.values()) <= 1e-6, errors


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_conv2d_with_activation_backward_matches_finite_differences(activation):
    layer = Conv2D(3, 3, padding="same", activation=activation, use_bias=False)
    errors = check_layer_gradients(layer, (5, 5, 2), seed=3)
    assert set(errors) == {"x", "W"}
    assert max(errors.values()) <= 1e-6, errors


@pytest.mark.parametrize("kernel,strides,padding,input_shape,filters", CONV_CASES)
def test_conv2d_forward_matches_direct_convolution(kernel, strides, padding, input_shape, filters):
    rng = np.random.default_rng(1)
    layer = Conv2D(filters, kernel, strides, padding)
    layer.build(input_shape, rng, np.float64)
    layer.params["b"][...] = rng.normal(size=filters)
    x = rng.normal(size=(3, *input_shape))
    expected = reference_conv(x, layer.params["W"], layer.params["b"], layer.strides, padding)
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.forward(x, training=True), expected, rtol=1e-12, atol=1e-12)
    assert layer.output_shape(input_shape) == expected.shape[1:]


def test_conv2d_same_padding_puts_the_odd_pixel_bottom_right_as_keras():
    # 4x4 input, 2x2 kernel, stride 1, "same": 1 pixel of padding, all on the bottom/right.
    layer = Conv2D(1, 2, padding="same", use_bias=False)
    layer.build((4, 4, 1), np.random.default_rng(0), np.float64)
    layer.params["W"][...] = 1.0
    x = np.arange(16.0).reshape(1, 4, 4, 1)
    out = layer.forward(x)[0, :, :, 0]
    assert out[0, 0] == 0 + 1 + 4 + 5
    assert out[3, 3] == 15  # the bottom-right window holds one real pixel
    assert out[0, 3] == 3 + 7


def test_conv2d_inference_writes_nothing_on_the_layer():
    layer = Conv2D(2, 3, padding="same", activation="relu")
    layer.build((5, 5, 1), np.random.default_rng(0))
    before = dict(vars(layer))
    buffers = dict(layer._buffers)
    layer.forward(np.ones((2, 5, 5, 1), np.float32))
    assert layer._cache is None and layer._buffers == buffers
    assert vars(layer).keys() == before.keys()


def test_conv2d_training_buffers_do_not_leak_into_a_later_inference():
    rng = np.random.default_rng(0)
    layer = Conv2D(2, 3, padding="same")
    layer.build((5, 5, 2), rng)
    x1, x2 = rng.normal(size=(2, 2, 5, 5, 2)).astype(np.float32)
    first = layer.forward(x1, training=True).copy()
    layer.forward(x2, training=True)  # same batch shape: the same buffers are reused
    np.testing.assert_allclose(layer.forward(x1), first, rtol=1e-6)


def test_conv2d_first_layer_skips_the_input_gradient():
    layer = Conv2D(2, 3)
    layer.build((5, 5, 1), np.random.default_rng(0), np.float64)
    layer.needs_input_grad = False
    y = layer.forward(np.ones((1, 5, 5, 1)), training=True)
    assert layer.backward(np.ones_like(y)) is None
    assert np.all(layer.grads["b"] == 9.0)  # 3x3 output pixels, each with gradient 1


def test_conv2d_backward_overwrites_the_gradients_in_place():
    layer = Conv2D(2, 3)
    layer.build((5, 5, 1), np.random.default_rng(0), np.float64)
    grad_w = layer.grads["W"]
    x = np.random.default_rng(1).normal(size=(2, 5, 5, 1))
    for _ in range(2):  # a second backward overwrites, it does not add
        y = layer.forward(x, training=True)
        layer.backward(np.ones_like(y))
    assert layer.grads["W"] is grad_w
    # With dL/dy = 1, dL/dW[i, j, c, f] is the sum of x over the pixels offset (i, j) reads.
    expected = np.einsum("npqcij->ijc", sliding_window_view(x, (3, 3), axis=(1, 2)))
    for f in range(2):
        np.testing.assert_allclose(grad_w[..., f], expected, rtol=1e-12)


def test_conv2d_backward_before_a_training_forward_is_a_clear_error():
    layer = Conv2D(2, 3)
    layer.build((5, 5, 1), np.random.default_rng(0))
    layer.forward(np.ones((1, 5, 5, 1), np.float32))  # inference records nothing
    with pytest.raises(ValueError, match="needs a training forward first"):
        layer.backward(np.ones((1, 3, 3, 2), np.float32))


def test_conv2d_weights_have_the_keras_layout_and_he_fan_in():
    layer = Conv2D(64, (3, 5), activation="relu")
    layer.build((10, 10, 8), np.random.default_rng(0))
    assert layer.params["W"].shape == (3, 5, 8, 64)
    assert layer.params["b"].shape == (64,)
    assert layer.params["W"].dtype == np.float32
    # He uniform: variance 2 / fan_in with fan_in = 3 * 5 * 8
    assert layer.params["W"].var() == pytest.approx(2 / 120, rel=0.1)


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        ({"filters": 0, "kernel_size": 3}, ValueError, "filters must be a positive integer, got 0"),
        ({"filters": 2.5, "kernel_size": 3}, TypeError, "filters must be a positive integer"),
        (
            {"filters": 2, "kernel_size": (3, 3, 3)},
            ValueError,
            "kernel_size must be an int or a pair",
        ),
        ({"filters": 2, "kernel_size": (3, 0)}, ValueError, r"kernel_size\[1\] must be a positive"),
        ({"filters": 2, "kernel_size": 3, "strides": -1}, ValueError, "strides must be a positive"),
        (
            {"filters": 2, "kernel_size": 3, "padding": "full"},
            ValueError,
            "padding must be 'valid' or 'same', got 'full'",
        ),
        ({"filters": 2, "kernel_size": 3, "padding": None}, ValueError, "padding must be"),
        ({"filters": 2, "kernel_size": 3, "activation": "relux"}, ValueError, "unknown activation"),
        (
            {"filters": 2, "kernel_size": 3, "use_bias": 1},
            TypeError,
            "use_bias must be True or False",
        ),
        ({"filters": 2, "kernel_size": "3"}, TypeError, "kernel_size must be a positive integer"),
    ],
)
def test_conv2d_rejects_bad_arguments_with_a_clear_message(kwargs, error, message):
    with pytest.raises(error, match=message):
        Conv2D(**kwargs)


@pytest.mark.parametrize(
    "layer,input_shape,message",
    [
        (
            Conv2D(2, 3),
            (784,),
            r"Conv2D takes images of shape \(batch, height, width, channels\), got inputs of "
            r"shape \(None, 784\)",
        ),
        (
            Conv2D(2, 5),
            (4, 8, 1),
            "Conv2D's 5x5 kernel does not fit in a 4x8 input with padding='valid'",
        ),
        (MaxPool2D(3), (2, 2, 1), "MaxPool2D's 3x3 pool window does not fit in a 2x2 input"),
        (AvgPool2D(2), (10,), "AvgPool2D takes images"),
        (GlobalAvgPool2D(), (3, 3), "GlobalAvgPool2D takes images"),
    ],
)
def test_layers_name_input_shapes_they_cannot_take(layer, input_shape, message):
    with pytest.raises(ValueError, match=message):
        layer.output_shape(input_shape)
    with pytest.raises(ValueError, match=message):
        layer.build(input_shape, np.random.default_rng(0))
    assert not layer.built  # a rejected build changes nothing


def test_conv2d_forward_names_wrong_arrays():
    layer = Conv2D(2, 3)
    layer.build((5, 5, 3), np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"takes x of shape \(batch, height, width, channels\)"):
        layer.forward(np.ones((5, 5, 3), np.float32))
    with pytest.raises(ValueError, match="built for 3 input channels, got x of shape"):
        layer.forward(np.ones((1, 5, 5, 1), np.float32))


def test_conv2d_penalties_and_kernel_names():
    """What a layer declares for its weights (``weights_for``) once its input shape is known."""
    layer = Conv2D(2, 3, kernel_regularizer="l2", bias_regularizer="l1")
    assert layer.kernel_names == () and layer.penalties() == []  # no weights before a build
    layer.build((5, 5, 3), np.random.default_rng(0))
    assert layer.kernel_names == ("W",)
    assert [name for name, _ in layer.penalties()] == ["W", "b"]
    plain = Conv2D(2, 3)
    plain.build((5, 5, 3))
    assert plain.penalties() == []
    assert [(w.name, w.shape, w.kernel) for w in layer.weights_for((5, 5, 3))] == [
        ("W", (3, 3, 3, 2), True),
        ("b", (2,), False),
    ]


# -- config round trips, copies and the registry -------------------------------------------------
@pytest.mark.parametrize(
    "layer",
    [
        Conv2D(
            4,
            (3, 2),
            strides=2,
            padding="same",
            activation="relu",
            use_bias=False,
            kernel_regularizer="l2",
            input_shape=(8, 8, 1),
        ),
        MaxPool2D(3, strides=2, padding="same"),
        AvgPool2D((2, 3)),
        GlobalAvgPool2D(),
        Flatten(),
        Reshape((4, -1, 2), input_shape=(16,)),
    ],
    ids=lambda layer: type(layer).__name__,
)
def test_layers_rebuild_from_their_config_and_by_name(layer):
    config = layer.get_config()
    clone = get_layer_class(type(layer).__name__).from_config(config)
    assert type(clone) is type(layer)
    assert clone.get_config() == config
    copied = pickle.loads(pickle.dumps(layer))
    assert copied.get_config() == config


def test_pickled_conv2d_starts_without_its_training_record():
    layer = Conv2D(2, 3)
    layer.build((5, 5, 1), np.random.default_rng(0))
    layer.forward(np.ones((2, 5, 5, 1), np.float32), training=True)
    copied = pickle.loads(pickle.dumps(layer))
    assert getattr(copied, "_cache", None) is None and copied._buffers == {}
    np.testing.assert_array_equal(copied.params["W"], layer.params["W"])


# -- pooling ----------------------------------------------------------------------------------
POOL_CASES = [
    # (pool_size, strides, padding, input_shape)
    (2, None, "valid", (4, 6, 2)),
    (2, None, "valid", (5, 7, 1)),  # the last row and column are never read
    (2, None, "same", (5, 5, 2)),
    (3, 2, "valid", (7, 6, 2)),
    (3, 1, "same", (4, 5, 1)),
    ((2, 3), (1, 2), "same", (5, 6, 2)),
    (3, None, "same", (7, 8, 1)),
    ((1, 2), None, "valid", (3, 5, 2)),
]


@pytest.mark.parametrize("pool_class", [MaxPool2D, AvgPool2D])
@pytest.mark.parametrize("pool_size,strides,padding,input_shape", POOL_CASES)
def test_pooling_backward_matches_finite_differences(
    pool_class, pool_size, strides, padding, input_shape
):
    errors = check_layer_gradients(pool_class(pool_size, strides, padding), input_shape, seed=5)
    assert max(errors.values()) <= 1e-6, errors


def reference_pool(x, pool, strides, padding, reduce):
    """Pooling by a loop over output pixels, padded pixels left out of every window."""
    (ph, pw), (sh, sw) = pool, strides
    n, height, width, channels = x.shape
    if padding == "same":
        out_h, out_w = -(-height // sh), -(-width // sw)
        top = max((out_h - 1) * sh + ph - height, 0) // 2
        left = max((out_w - 1) * sw + pw - width, 0) // 2
    else:
        out_h, out_w, top, left = (height - ph) // sh + 1, (width - pw) // sw + 1, 0, 0
    out = np.empty((n, out_h, out_w, channels))
    for p in range(out_h):
        for q in range(out_w):
            r0, c0 = p * sh - top, q * sw - left
            window = x[:, max(r0, 0) : r0 + ph, max(c0, 0) : c0 + pw, :]
            out[:, p, q, :] = reduce(window, axis=(1, 2))
    return out


@pytest.mark.parametrize("pool_class,reduce", [(MaxPool2D, np.max), (AvgPool2D, np.mean)])
@pytest.mark.parametrize("pool_size,strides,padding,input_shape", POOL_CASES)
def test_pooling_forward_matches_a_loop_over_windows(
    pool_class, reduce, pool_size, strides, padding, input_shape
):
    layer = pool_class(pool_size, strides, padding)
    x = np.random.default_rng(2).normal(size=(2, *input_shape))
    expected = reference_pool(x, layer.pool_size, layer.strides, padding, reduce)
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-12)
    np.testing.assert_allclose(layer.forward(x, training=True), expected, rtol=1e-12)
    assert layer.output_shape(input_shape) == expected.shape[1:]


def test_max_pooling_ties_send_the_gradient_to_one_winner_the_first_in_row_major_order():
    layer = MaxPool2D(2)
    x = np.zeros((1, 2, 4, 1))
    x[0, :, 2:, 0] = [[1.0, 7.0], [7.0, 7.0]]  # second window: three-way tie at 7
    layer.forward(x, training=True)
    grad = layer.backward(np.array([[[[3.0], [5.0]]]]))[0, :, :, 0]
    np.testing.assert_array_equal(grad, [[3.0, 0.0, 0.0, 5.0], [0.0, 0.0, 0.0, 0.0]])


@pytest.mark.parametrize(
    "pool_size,strides,input_shape,expected_winners",
    [
        (3, None, (3, 3), [(0, 0)]),  # one 3x3 block of ties
        (2, 1, (3, 3), [(0, 0), (0, 1), (1, 0), (1, 1)]),  # overlapping: each window's first
    ],
)
def test_max_pooling_ties_pick_each_windows_first_pixel(
    pool_size, strides, input_shape, expected_winners
):
    layer = MaxPool2D(pool_size, strides)
    x = np.zeros((1, *input_shape, 1))  # all tied, as after a ReLU that zeroed everything
    y = layer.forward(x, training=True)
    grad = layer.backward(np.ones_like(y))[0, :, :, 0]
    assert sorted(zip(*np.nonzero(grad), strict=True)) == expected_winners
    assert grad.sum() == y.size


def test_overlapping_max_windows_add_their_gradients_on_a_shared_maximum():
    layer = MaxPool2D(3, strides=1)
    x = np.zeros((1, 4, 4, 1))
    x[0, 1, 1, 0] = 9.0  # the maximum of all four 3x3 windows
    layer.forward(x, training=True)
    grad = layer.backward(np.ones((1, 2, 2, 1)))
    assert grad[0, 1, 1, 0] == 4.0 and grad.sum() == 4.0


def test_average_pooling_with_same_padding_leaves_padding_out_of_the_mean():
    x = np.ones((1, 3, 3, 1))
    out = AvgPool2D(2, padding="same").forward(x)
    np.testing.assert_array_equal(out, np.ones((1, 2, 2, 1)))  # not 0.5 or 0.25 at the edge


@pytest.mark.parametrize("pool_class", [MaxPool2D, AvgPool2D])
def test_pooling_takes_integer_images(pool_class):
    x = np.arange(9).reshape(1, 3, 3, 1)
    out = pool_class(2, padding="same").forward(x)[0, :, :, 0]
    # 3x3 padded to 4x4 at the bottom and right: windows {0,1,3,4}, {2,5}, {6,7}, {8}
    expected = [[4, 5], [7, 8]] if pool_class is MaxPool2D else [[2, 3.5], [6.5, 8]]
    np.testing.assert_array_equal(out, expected)


def test_a_missing_channel_axis_is_named_with_the_fix():
    with pytest.raises(ValueError, match=r"add a channel axis: input_shape=\(28, 28, 1\)"):
        Conv2D(4, 3).output_shape((28, 28))


def test_max_pooling_with_same_padding_never_picks_the_padding():
    x = -np.ones((1, 3, 3, 1))
    np.testing.assert_array_equal(MaxPool2D(2, padding="same").forward(x), -np.ones((1, 2, 2, 1)))


def test_global_average_pooling_backward_matches_finite_differences():
    errors = check_layer_gradients(GlobalAvgPool2D(), (3, 4, 2))
    assert errors["x"] <= 1e-6
    assert GlobalAvgPool2D().output_shape((3, 4, 5)) == (5,)


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        ({"pool_size": 0}, ValueError, "pool_size must be a positive integer, got 0"),
        ({"pool_size": 2, "strides": (1, 2, 3)}, ValueError, "strides must be an int or a pair"),
        ({"pool_size": 2, "padding": "SAME "}, ValueError, "padding must be 'valid' or 'same'"),
    ],
)
def test_pooling_rejects_bad_arguments(kwargs, error, message):
    for pool_class in (MaxPool2D, AvgPool2D):
        with pytest.raises(error, match=message):
            pool_class(**kwargs)


# -- Flatten and Reshape ----------------------------------------------------------------------
def test_flatten_is_row_major_and_backward_restores_the_shape():
    layer = Flatten()
    x = np.arange(24.0).reshape(2, 2, 3, 2)
    y = layer.forward(x, training=True)
    np.testing.assert_array_equal(y, x.reshape(2, 12))
    assert layer.output_shape((2, 3, 2)) == (12,)
    errors = check_layer_gradients(Flatten(), (2, 3, 2))
    assert errors["x"] <= 1e-6


def test_reshape_infers_one_axis_and_backward_restores_the_shape():
    layer = Reshape((2, -1, 1))
    assert layer.output_shape((12,)) == (2, 6, 1)
    errors = check_layer_gradients(Reshape((3, 4, 1)), (12,))
    assert errors["x"] <= 1e-6


@pytest.mark.parametrize(
    "target,error,message",
    [
        ((2, -1, -1), ValueError, "one -1 at most"),
        ((0, 4), ValueError, r"target_shape\[0\] must be a positive int or -1, got 0"),
        ((2.0, 4), TypeError, r"target_shape\[0\] must be an int, got"),
        ("28x28", TypeError, "target_shape must be a tuple of positive ints"),
        ((), ValueError, "at least one axis"),
    ],
)
def test_reshape_rejects_bad_target_shapes(target, error, message):
    with pytest.raises(error, match=message):
        Reshape(target)


@pytest.mark.parametrize("target", [(5, 5, 1), (7, -1)])
def test_reshape_names_a_size_it_cannot_reach(target):
    with pytest.raises(ValueError, match=r"cannot turn inputs of shape \(None, 24\) \(24 values"):
        Reshape(target).output_shape((24,))


# -- the engine's BatchNorm and Dropout on images ------------------------------------------------
def test_batch_norm_on_images_normalises_per_channel_and_matches_finite_differences():
    layer = BatchNorm()
    layer.build((3, 4, 2), np.random.default_rng(0), np.float64)
    x = np.random.default_rng(1).normal(loc=[3.0, -2.0], scale=[2.0, 0.5], size=(5, 3, 4, 2))
    y = layer.forward(x, training=True)
    np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 1, 2)), 1.0 / (1.0 + 1e-3 / x.var(axis=(0, 1, 2))))
    assert layer.params["gamma"].shape == (2,)
    errors = check_layer_gradients(BatchNorm(), (3, 4, 2), batch=3, seed=2)
    assert set(errors) == {"x", "gamma", "beta"}
    assert max(errors.values()) <= 1e-6, errors


def test_dropout_on_images_masks_entries_and_matches_finite_differences():
    layer = Dropout(0.5)
    layer.build((4, 4, 3), np.random.default_rng(0), np.float64)
    x = np.ones((2, 4, 4, 3))
    y = layer.forward(x, training=True)
    assert y.shape == x.shape and set(np.unique(y)) <= {0.0, 2.0}
    assert 0.3 < (y == 0).mean() < 0.7
    np.testing.assert_array_equal(layer.forward(x), x)
    # The mask is redrawn on each forward: check against differences taken under a fixed mask.
    mask = y / x
    grad = layer.backward(np.full_like(x, 3.0))
    np.testing.assert_array_equal(grad, 3.0 * mask)


def test_a_copied_layer_backward_before_its_own_training_forward_is_a_clear_error():
    import copy

    layer = Conv2D(2, 3)
    layer.build((5, 5, 1), np.random.default_rng(0))
    layer.forward(np.ones((1, 5, 5, 1), np.float32), training=True)
    twin = copy.deepcopy(layer)  # copies leave the record behind
    with pytest.raises(ValueError, match="needs a training forward first"):
        twin.backward(np.ones((1, 3, 3, 2), np.float32))
    layer.backward(np.ones((1, 3, 3, 2), np.float32))  # the original keeps its record
    assert np.abs(layer.grads["W"]).sum() > 0


@pytest.mark.parametrize(
    "layer,input_shape,message",
    [
        (
            MaxPool2D(100_000, padding="same"),
            (8, 8, 1),
            "pool window of 100000 pixels along the height is too large for its 8x8 inputs "
            "with padding='same' and stride 100000: past 8 pixels a window reads only padding",
        ),
        (
            Conv2D(2, (3, 40), padding="same"),
            (8, 8, 1),
            "kernel of 40 pixels along the width is too large .* past 15 pixels",
        ),
        (
            AvgPool2D(2, strides=(1, 9), padding="same"),
            (8, 8, 1),
            "stride 9 along the width is larger than its 8x8 inputs .* at most 8",
        ),
        (Conv2D(2, 1, strides=9), (8, 8, 1), "stride 9 along the height"),
    ],
)
def test_windows_and_strides_are_capped_by_the_input(layer, input_shape, message):
    with pytest.raises(ValueError, match=message):
        layer.build(input_shape, np.random.default_rng(0))
    assert not layer.built


@pytest.mark.parametrize("size,stride,largest", [(8, 1, 15), (8, 2, 14), (8, 8, 8), (1, 1, 1)])
def test_the_largest_same_window_reads_the_input_with_every_row(size, stride, largest):
    x = np.arange(float(size)).reshape(1, size, 1, 1) + 1.0
    out = MaxPool2D((largest, 1), strides=(stride, 1), padding="same").forward(x)
    # each window's first and last row reach the input in some position: the maxima cover it
    assert out.max() == size
    assert out.shape[1] == -(-size // stride)
    with pytest.raises(ValueError, match=f"at most {largest}"):
        MaxPool2D((largest + 1, 1), strides=(stride, 1), padding="same").output_shape((size, 1, 1))


def test_a_model_file_declaring_a_huge_pool_window_is_refused_on_load(tmp_path):
    from scratchnn import ModelFileError, Sequential, load
    from scratchnn.io import save
    from scratchnn.layers import Dense, Flatten

    model = Sequential([MaxPool2D(2, padding="same"), Flatten(), Dense(2)], seed=0)
    model.build((8, 8, 1))
    path = tmp_path / "m.npz"
    save(model, path)
    with np.load(path) as archive:
        entries = dict(archive)
    config = json.loads(entries["__config__"].tobytes())
    config["model"]["layers"][0]["config"]["pool_size"] = [100_000, 100_000]
    config["model"]["layers"][0]["config"]["strides"] = [100_000, 100_000]
    del config["arrays"]
    from scratchnn.archive import write_model_file

    write_model_file(path, config, {k: v for k, v in entries.items() if k != "__config__"})
    with pytest.raises(ModelFileError, match="past 8 pixels a window reads only padding"):
        load(path)
