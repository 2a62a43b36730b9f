"""Tests of scratchnn.datasets: generated sets, bundled sets, IDX files, helpers (CSV: test_csv)."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from scratchnn import datasets
from scratchnn.datasets import (
    Standardizer,
    load_idx,
    load_mnist,
    make_blobs,
    make_circles,
    make_moons,
    make_spirals,
    make_xor,
    one_hot,
    standardize,
    train_test_split,
)


# -- generated sets -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(datasets.GENERATED))
def test_generated_sets_are_seeded_and_shaped(name):
    X1, y1 = datasets.load(name, seed=3)
    X2, y2 = datasets.load(name, seed=3)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert X1.ndim == 2 and X1.dtype == np.float64
    assert y1.shape == (len(X1),) and y1.dtype == np.int64


@pytest.mark.parametrize("make", [make_moons, make_circles, make_spirals, make_blobs])
def test_generated_sets_differ_between_seeds(make):
    assert not np.array_equal(make(seed=1)[0], make(seed=2)[0])


def test_make_xor_labels_are_exclusive_or_of_the_corners():
    X, y = make_xor(n_samples=8)
    np.testing.assert_array_equal(X[:4], [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(y, [0, 1, 1, 0, 0, 1, 1, 0])
    noisy, _ = make_xor(n_samples=400, noise=0.1, seed=0)
    assert 0.05 < np.std(noisy - X[np.arange(400) % 4]) < 0.15


def test_make_circles_radii_follow_factor():
    X, y = make_circles(n_samples=101, noise=0.0, factor=0.3, seed=0)
    radius = np.hypot(X[:, 0], X[:, 1])
    np.testing.assert_allclose(radius[y == 0], 1.0)
    np.testing.assert_allclose(radius[y == 1], 0.3)
    assert np.bincount(y).tolist() == [51, 50]


def test_make_spirals_has_one_class_per_arm_and_radius_at_most_one():
    X, y = make_spirals(n_samples=90, n_arms=3, noise=0.0, seed=0)
    assert np.bincount(y).tolist() == [30, 30, 30]
    assert np.hypot(X[:, 0], X[:, 1]).max() == pytest.approx(1.0)


def test_make_moons_balanced_and_two_classes():
    X, y = make_moons(n_samples=51, noise=0.0, seed=0)
    assert X.shape == (51, 2) and np.bincount(y).tolist() == [26, 25]
    assert np.all(X[y == 0, 1] >= -1e-12)  # the top moon sits above y = 0


def test_make_blobs_points_cluster_round_given_centres():
    centres = np.array([[0.0, 0.0], [10.0, 10.0]])
    X, y = make_blobs(n_samples=400, centers=centres, cluster_std=0.5, seed=0)
    for label in (0, 1):
        np.testing.assert_allclose(X[y == label].mean(axis=0), centres[label], atol=0.1)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: make_spirals(n_arms=1), ValueError, "n_arms must be at least 2, got 1"),
        (lambda: make_moons(n_samples=0), ValueError, "n_samples must be a positive integer"),
        (lambda: make_circles(factor=1.5), ValueError, "factor must be in"),
        (lambda: make_xor(noise=-1), ValueError, "noise must be in"),
        (lambda: make_moons(seed=-1), ValueError, "seed must be a non-negative integer"),
        (lambda: datasets.load("spiral"), ValueError, "did you mean 'spirals'"),
    ],
)
def test_generated_sets_reject_bad_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()


# -- scikit-learn's bundled sets ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "shape", "n_classes"),
    [("digits", (1797, 64), 10), ("iris", (150, 4), 3), ("wine", (178, 13), 3),
     ("breast_cancer", (569, 30), 2), ("diabetes", (442, 10), None)],
)  # fmt: skip
def test_bundled_sets_return_float_arrays(name, shape, n_classes):
    pytest.importorskip("sklearn")
    X, y = datasets.load(name)
    assert X.shape == shape and X.dtype == np.float64
    assert y.shape == (shape[0],) and y.dtype == np.float64
    if n_classes is not None:
        assert sorted(np.unique(y).tolist()) == list(range(n_classes))


def test_load_passes_a_bundled_sets_own_options_and_names_the_ones_it_takes():
    pytest.importorskip("sklearn")
    images, labels = datasets.load("digits", as_images=True)
    flat, same_labels = datasets.load("digits")
    assert images.shape == (1797, 8, 8, 1)
    np.testing.assert_array_equal(images.reshape(1797, 64), flat)
    np.testing.assert_array_equal(labels, same_labels)
    with pytest.raises(TypeError, match=r"takes only \['as_images'\], got \['n_samples'\]"):
        datasets.load("digits", n_samples=10)
    with pytest.raises(TypeError, match=r"'iris' takes no options, got \['as_images'\]"):
        datasets.load("iris", as_images=True)


@pytest.mark.slow
def test_importing_datasets_does_not_import_sklearn():
    import subprocess
    import sys

    code = "import sys, scratchnn, scratchnn.datasets; print('sklearn' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


# -- IDX ------------------------------------------------------------------------------------------
def idx_bytes(array: np.ndarray, code: int) -> bytes:
    """Encode ``array`` as an IDX file by hand (the format's spec, independent of the parser)."""
    big_endian = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(big_endian[code]).tobytes()


def write_idx(path, array, code=0x08):
    data = idx_bytes(array, code)
    if str(path).endswith(".gz"):
        with gzip.open(path, "wb") as handle:
            handle.write(data)
    else:
        path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("code", "dtype"),
    [(0x08, np.uint8), (0x09, np.int8), (0x0B, np.int16), (0x0C, np.int32),
     (0x0D, np.float32), (0x0E, np.float64)],
)  # fmt: skip
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_load_idx_round_trips_every_type(tmp_path, code, dtype, suffix):
    array = (np.arange(24).reshape(2, 3, 4) * 3 - 20).astype(dtype)
    if code == 0x08:
        array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4) * 10
    loaded = load_idx(write_idx(tmp_path / f"a.idx{suffix}", array, code))
    assert loaded.dtype == np.dtype(dtype) and loaded.dtype.isnative
    np.testing.assert_array_equal(loaded, array)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00\x00", "too short for an IDX file"),
        (b"\x01\x00\x08\x01\x00\x00\x00\x01\x05", "magic number starts with 0100, expected 0000"),
        (b"\x00\x00\x07\x01\x00\x00\x00\x01\x05", "unknown IDX type code 0x07"),
        (b"\x00\x00\x08\x00", "declares 0 dimensions"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x02", "truncated IDX header: 3 dimensions need 16 bytes"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x03\x01\x02", r"needs 11 bytes, the file has 10"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x01\x01\x02", r"needs 9 bytes, the file has 10"),
    ],
)
def test_load_idx_rejects_corrupt_files(tmp_path, data, message):
    path = tmp_path / "corrupt-idx1-ubyte"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=message) as info:
        load_idx(path)
    assert "corrupt-idx1-ubyte" in str(info.value)


def test_load_idx_reads_a_gzip_bomb_only_up_to_the_declared_size(tmp_path):
    # 2 MB of zeros behind a header declaring 10 bytes: compressed to ~2 kB, never inflated whole.
    path = tmp_path / "bomb-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(bytes([0, 0, 8, 1]) + struct.pack(">I", 10) + bytes(2_000_000)))
    assert path.stat().st_size < 10_000
    with pytest.raises(ValueError, match="needs 18 bytes, the file has more"):
        load_idx(path)


@pytest.mark.parametrize(
    ("dims", "message"),
    [
        ([2**32 - 1] * 3, r"declares shape \(4294967295, 4294967295, 4294967295\) of uint8, "
                          r"79228162458924105385300197375 bytes, more than max_bytes"),
        ([70_000, 280, 280, 1], "more than max_bytes=4294967296"),
    ],
)  # fmt: skip
def test_load_idx_refuses_declared_sizes_beyond_max_bytes_before_reading(tmp_path, dims, message):
    path = tmp_path / "huge-idx3-ubyte.gz"
    path.write_bytes(
        gzip.compress(bytes([0, 0, 8, len(dims)]) + struct.pack(f">{len(dims)}I", *dims))
    )
    with pytest.raises(ValueError, match=message):
        load_idx(path)


def test_load_idx_max_bytes_is_adjustable(tmp_path):
    path = write_idx(tmp_path / "a-idx1-ubyte", np.arange(10, dtype=np.uint8))
    with pytest.raises(ValueError, match="10 bytes, more than max_bytes=9"):
        load_idx(path, max_bytes=9)
    np.testing.assert_array_equal(load_idx(path, max_bytes=10), np.arange(10))


def test_load_idx_rejects_a_gz_file_that_is_not_gzip(tmp_path):
    path = tmp_path / "fake.gz"
    path.write_bytes(idx_bytes(np.zeros(3, np.uint8), 0x08))
    with pytest.raises(ValueError, match="fake.gz: not a readable gzip file"):
        load_idx(path)


def make_mnist_folder(folder, kind, n=5, gz=True, dotted=False):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 4, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    sep = "." if dotted else "-"
    suffix = ".gz" if gz else ""
    write_idx(folder / f"{kind}-images{sep}idx3-ubyte{suffix}", images)
    write_idx(folder / f"{kind}-labels{sep}idx1-ubyte{suffix}", labels)
    return images, labels


@pytest.mark.parametrize(("kind", "gz", "dotted"), [("train", True, False), ("t10k", False, True)])
def test_load_mnist_reads_images_and_labels(tmp_path, kind, gz, dotted):
    images, labels = make_mnist_folder(tmp_path, kind, gz=gz, dotted=dotted)
    X, y = load_mnist(tmp_path, kind=kind)
    assert X.shape == (5, 12) and y.dtype == np.int64
    np.testing.assert_allclose(X, images.reshape(5, 12) / 255.0)
    np.testing.assert_array_equal(y, labels)
    raw, _ = load_mnist(tmp_path, kind=kind, normalize=False)
    np.testing.assert_array_equal(raw, images.reshape(5, 12))


def test_load_mnist_errors(tmp_path):
    with pytest.raises(ValueError, match="kind must be 'train' or 't10k', got 'test'"):
        load_mnist(tmp_path, kind="test")
    with pytest.raises(FileNotFoundError, match="no train-images-idx3-ubyte"):
        load_mnist(tmp_path)
    with pytest.raises(ValueError, match="folder must be an existing directory"):
        load_mnist(tmp_path / "nowhere")
    make_mnist_folder(tmp_path, "train", n=5)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(4, np.uint8))
    with pytest.raises(ValueError, match="holds 5 images but .* holds 4 labels"):
        load_mnist(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros((5, 2), np.uint8))
    with pytest.raises(ValueError, match=r"expected 1-D labels, got shape \(5, 2\)"):
        load_mnist(tmp_path)


# -- helpers --------------------------------------------------------------------------------------
def test_train_test_split_partitions_the_data():
    X = np.arange(40, dtype=float).reshape(20, 2)
    y = np.arange(20)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, seed=0)
    assert len(X_test) == 5 and len(X_train) == 15
    np.testing.assert_array_equal(X_train[:, 0], y_train * 2)  # rows stay paired with labels
    assert sorted(np.concatenate([y_train, y_test]).tolist()) == list(range(20))
    again = train_test_split(X, y, test_size=0.25, seed=0)
    np.testing.assert_array_equal(again[3], y_test)
    assert len(train_test_split(X, y, test_size=3, seed=0)[1]) == 3


def test_train_test_split_stratified_keeps_class_shares():
    y = np.array([0] * 60 + [1] * 30 + [2] * 10)
    X = np.zeros((100, 1))
    _, _, y_train, y_test = train_test_split(X, y, test_size=0.2, seed=1, stratify=True)
    assert np.bincount(y_test).tolist() == [12, 6, 2]
    assert np.bincount(y_train).tolist() == [48, 24, 8]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"test_size": 1.0}, r"test_size must be in \(0, 1\)"), ({"test_size": 10}, "leaves 10 test")],
)
def test_train_test_split_rejects_bad_sizes(kwargs, message):
    with pytest.raises(ValueError, match=message):
        train_test_split(np.zeros((10, 2)), np.zeros(10), **kwargs)
    with pytest.raises(ValueError, match="same number of samples, got 10 and 9"):
        train_test_split(np.zeros((10, 2)), np.zeros(9))


def test_standardizer_gives_zero_mean_unit_std_and_inverts():
    X = np.random.default_rng(0).normal(5.0, 3.0, size=(50, 3))
    X[:, 2] = 7.0  # a constant column must not divide by zero
    scaler = Standardizer()
    Z = scaler.fit_transform(X)
    np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Z.std(axis=0), [1.0, 1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(scaler.inverse_transform(Z), X)
    Z2, mean, std = standardize(X)
    np.testing.assert_allclose(Z2, Z)
    np.testing.assert_allclose(standardize(X[:5], mean, std)[0], Z[:5])
    with pytest.raises(ValueError, match="must have 3 features like the data fitted, got 2"):
        scaler.transform(X[:, :2])
    with pytest.raises(ValueError, match="not fitted yet"):
        Standardizer().transform(X)


def test_one_hot_encodes_and_checks_labels():
    np.testing.assert_array_equal(one_hot([2, 0], n_classes=4), [[0, 0, 1, 0], [1, 0, 0, 0]])
    np.testing.assert_array_equal(one_hot(np.array([1.0, 0.0])), [[0, 1], [1, 0]])
    with pytest.raises(ValueError, match="labels must be below n_classes=2, got 3"):
        one_hot([3], n_classes=2)
    with pytest.raises(ValueError, match="non-negative whole numbers"):
        one_hot([0.5])
