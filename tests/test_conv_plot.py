"""Plots of image networks: the first layer's filters and one image's feature maps."""

from __future__ import annotations

import struct

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from scratchnn import Conv2D, Dense, Flatten, MaxPool2D, Sequential, plot  # noqa: E402


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def model():
    return Sequential(
        [
            Conv2D(6, 3, padding="same", activation="relu", input_shape=(8, 8, 1)),
            MaxPool2D(2),
            Conv2D(4, 3),
            Flatten(),
            Dense(3, "softmax"),
        ],
        seed=0,
    )


def test_filter_grid_shows_each_first_layer_filter(model, tmp_path):
    path = tmp_path / "filters.png"
    fig = plot.plot_filters(model, path, columns=4, dpi=50)
    assert png_size(path) == tuple(round(v * 50) for v in fig.get_size_inches())
    images = [ax.images[0].get_array() for ax in fig.axes]
    assert len(images) == 6
    W = model.layers[0].params["W"]
    for f, image in enumerate(images):
        np.testing.assert_allclose(np.asarray(image), W[:, :, 0, f], rtol=1e-6)
    # one colour scale for all, centred on zero
    limits = {ax.images[0].get_clim() for ax in fig.axes}
    assert len(limits) == 1 and limits.pop()[0] == pytest.approx(-np.abs(W).max())


def test_filter_images_of_a_deeper_layer_by_channel_or_mean(model):
    W = model.layers[2].params["W"]  # (3, 3, 6, 4)
    np.testing.assert_allclose(
        plot.filter_images(model, 2, channel=5), W[:, :, 5].transpose(2, 0, 1)
    )
    np.testing.assert_allclose(
        plot.filter_images(model, 2), W.mean(axis=2).transpose(2, 0, 1), rtol=1e-5
    )
    with pytest.raises(ValueError, match=r"one of \[0, 2\], got 1"):
        plot.filter_images(model, 1)
    with pytest.raises(ValueError, match="channel must be in 0..5, got 6"):
        plot.filter_images(model, 2, channel=6)
    with pytest.raises(ValueError, match="no convolution layer"):
        plot.plot_filters(Sequential([Dense(2, input_dim=3)]))


def test_feature_maps_follow_the_image_through_each_layer(model, tmp_path):
    image = np.random.default_rng(0).random((8, 8, 1))
    maps = plot.feature_maps(model, image)
    assert [label for label, _ in maps] == ["input", "0: Conv2D", "1: MaxPool2D", "2: Conv2D"]
    assert [m.shape for _, m in maps] == [(8, 8, 1), (8, 8, 6), (4, 4, 6), (2, 2, 4)]
    expected = model.layers[0].forward(image[None].astype(np.float32))[0]
    np.testing.assert_allclose(maps[1][1], expected, rtol=1e-6)
    path = tmp_path / "maps.png"
    fig = plot.plot_feature_maps(model, image[None], path, max_channels=4, dpi=40)
    assert png_size(path) == tuple(round(v * 40) for v in fig.get_size_inches())
    assert len(fig.axes) == 1 + 4 + 4 + 4  # the input's one channel, then 4 shown per layer
    with pytest.raises(ValueError, match="one image, got a batch of 2"):
        plot.feature_maps(model, np.zeros((2, 8, 8, 1)))
    with pytest.raises(ValueError, match="8, 8, 1"):
        plot.feature_maps(model, np.zeros((8, 8, 3)))


def test_feature_maps_of_a_model_that_reshapes_flat_rows_into_images():
    from scratchnn import Reshape

    flat = Sequential(
        [Reshape((4, 4, 1), input_shape=(16,)), Conv2D(2, 3), Flatten(), Dense(2, "softmax")],
        seed=1,
    )
    row = np.arange(16, dtype=np.float32) / 16
    maps = plot.feature_maps(flat, row)
    assert [label for label, _ in maps] == ["0: Reshape", "1: Conv2D"]
    np.testing.assert_array_equal(maps[0][1][:, :, 0], row.reshape(4, 4))
    assert maps[1][1].shape == (2, 2, 2)
    with pytest.raises(ValueError, match=r"input shape is \(3,\) and no layer outputs images"):
        plot.feature_maps(Sequential([Dense(2, input_dim=3)]), np.zeros(3))


def test_the_network_diagram_refuses_a_convolution_and_names_the_plots_that_draw_it(model):
    with pytest.raises(ValueError, match="has Conv2D layers: draw their filters with plot_filters"):
        plot.plot_network(model)
