"""Model files: refusal of every unsound file, and no code from one ever runs."""

from __future__ import annotations

import io as stdio
import json
import pickle

import numpy as np
import pytest

import scratchnn
from scratchnn import ModelFileError, Sequential, load
from scratchnn import io as model_io
from scratchnn.layers import BatchNorm, Dense


def _data(n: int = 24, features: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, features))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int)


def _trained(layers, dtype: str = "float32", epochs: int = 2) -> tuple[Sequential, np.ndarray]:
    X, y = _data()
    model = Sequential(layers, seed=3, dtype=dtype)
    model.fit(X, y, loss="mse", optimizer="adam", epochs=epochs, batch_size=8, verbose=0)
    return model, X


MARKER_NAME = "pwned.txt"


def _leave_marker(path: str) -> str:
    with open(path, "w") as file:
        file.write("code from a model file ran")
    return path


class Payload:
    """Unpickling this runs ``_leave_marker``: the classic malicious-pickle shape."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (_leave_marker, (self.marker,))


def _entries(path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def _header(entries) -> dict:
    return json.loads(entries["__config__"].tobytes().decode("utf-8"))


def _write(path, entries, header=None) -> None:
    if header is not None:
        entries["__config__"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    with open(path, "wb") as file:
        np.savez(file, **entries)


@pytest.fixture
def saved(tmp_path):
    model, _ = _trained([Dense(3, "relu"), BatchNorm(), Dense(1)])
    path = tmp_path / "model.npz"
    model.save(path)
    return path


def test_the_payload_is_live_so_the_pickle_tests_can_fail(tmp_path):
    marker = tmp_path / MARKER_NAME
    pickle.loads(pickle.dumps(Payload(str(marker))))
    assert marker.exists()


@pytest.mark.parametrize("entry", ["__config__", "layers.0.params.W"])
def test_a_pickled_array_in_a_model_file_is_never_executed(saved, tmp_path, entry):
    marker = tmp_path / MARKER_NAME
    entries = _entries(saved)
    entries[entry] = np.array([Payload(str(marker))], dtype=object)
    with open(saved, "wb") as file:
        np.savez(file, **entries)  # numpy pickles object arrays when saving
    with pytest.raises(ModelFileError, match="pickled objects are refused"):
        load(saved)
    assert not marker.exists()


def test_a_raw_pickle_posing_as_a_model_file_is_never_executed(tmp_path):
    marker = tmp_path / MARKER_NAME
    path = tmp_path / "model.npz"
    path.write_bytes(pickle.dumps(Payload(str(marker))))
    with pytest.raises(ModelFileError, match="not a scratchnn model file"):
        load(path)
    assert not marker.exists()


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 0.9, 0.999])
def test_a_truncated_file_is_rejected(saved, fraction):
    data = saved.read_bytes()
    saved.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ModelFileError, match="not a scratchnn model file|damaged or truncated"):
        load(saved)


@pytest.mark.parametrize("prefix", [b"", b"PK\x03\x04", b"\x93NUMPY"])
def test_random_bytes_are_rejected(tmp_path, prefix):
    path = tmp_path / "model.npz"
    path.write_bytes(prefix + np.random.default_rng(7).bytes(4096))
    with pytest.raises(ModelFileError, match="not a scratchnn model file|damaged or truncated"):
        load(path)


def test_a_flipped_byte_inside_an_array_fails_the_zip_checksum(saved):
    data = bytearray(saved.read_bytes())
    data[len(data) // 3] ^= 0xFF
    saved.write_bytes(bytes(data))
    with pytest.raises(ModelFileError):
        load(saved)


def _forget_input_dims(config: dict) -> None:
    config["input_shape"] = None
    for spec in config["layers"]:
        spec["config"]["input_shape"] = None


def _edit_header(path, edit) -> None:
    entries = _entries(path)
    header = _header(entries)
    edit(header)
    _write(path, entries, header)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda h: h.update(format_version=4), "format version 4, newer than this scratchnn"),
        (lambda h: h.update(format_version="1"), "format_version must be a positive integer"),
        (lambda h: h.update(format="keras"), "format must be 'scratchnn-model', got 'keras'"),
        (
            lambda h: h.update(kind="Transformer"),
            r"kind must be one of \['Model', 'NeuralNetwork', 'Sequential'\], got 'Transformer'",
        ),
        (lambda h: h.pop("model"), "header entry 'model' must be a dict"),
        (
            lambda h: h["model"]["layers"][0].update(class_name="Conv9D"),
            "unknown layer 'Conv9D'",
        ),
        (
            lambda h: h["model"]["layers"][0]["config"].update(units=-3),
            "units must be a positive integer",
        ),
        (lambda h: _forget_input_dims(h["model"]), "it was never built"),
        (lambda h: h.update(rng_state={"bit_generator": "MT19937"}), "rng_state is not a valid"),
    ],
    ids=[
        "newer-version",
        "version-not-int",
        "other-format",
        "unknown-kind",
        "no-model",
        "unknown-layer",
        "bad-layer-arg",
        "unbuilt",
        "bad-rng",
    ],
)
def test_a_bad_header_is_rejected_with_a_clear_message(saved, edit, message):
    _edit_header(saved, edit)
    with pytest.raises(ModelFileError, match=message):
        load(saved)


def test_a_header_that_is_not_json_is_rejected(saved):
    entries = _entries(saved)
    entries["__config__"] = np.frombuffer(b"{not json", dtype=np.uint8)
    _write(saved, entries)
    with pytest.raises(ModelFileError, match="not valid JSON"):
        load(saved)


def test_an_archive_without_a_header_is_rejected(saved):
    entries = _entries(saved)
    del entries["__config__"]
    _write(saved, entries)
    with pytest.raises(ModelFileError, match="no '__config__' entry"):
        load(saved)


def test_a_missing_array_is_rejected(saved):
    entries = _entries(saved)
    del entries["layers.1.state.running_mean"]
    _write(saved, entries)
    with pytest.raises(ModelFileError, match=r"lacks the arrays \['layers.1.state.running_mean'\]"):
        load(saved)


def test_a_missing_array_also_unlisted_in_the_header_is_rejected(saved):
    entries = _entries(saved)
    header = _header(entries)
    del entries["layers.0.params.b"], header["arrays"]["layers.0.params.b"]
    _write(saved, entries, header)
    with pytest.raises(ModelFileError, match="lacks the array 'layers.0.params.b' that its model"):
        load(saved)


def test_an_extra_array_is_rejected(saved):
    entries = _entries(saved)
    entries["layers.9.params.W"] = np.zeros(3, np.float32)
    _write(saved, entries)
    with pytest.raises(ModelFileError, match="holds arrays its header does not list"):
        load(saved)


@pytest.mark.parametrize("name", ["layers.9.params.W", "notes"])
def test_an_extra_array_listed_in_the_header_is_rejected(saved, name):
    entries = _entries(saved)
    header = _header(entries)
    entries[name] = np.zeros(3, np.float32)
    header["arrays"][name] = {"shape": [3], "dtype": "float32"}
    _write(saved, entries, header)
    with pytest.raises(ModelFileError, match="has no place for"):
        load(saved)


@pytest.mark.parametrize(
    "replacement",
    [np.zeros((3, 4), np.float32), np.zeros((3, 3), np.float64), np.zeros((3, 3), np.int32)],
    ids=["wrong-shape", "float64-in-float32", "int32"],
)
def test_an_array_of_the_wrong_shape_or_dtype_is_rejected(saved, replacement):
    entries = _entries(saved)
    header = _header(entries)
    entries["layers.0.params.W"] = replacement
    header["arrays"]["layers.0.params.W"] = {
        "shape": list(replacement.shape),
        "dtype": replacement.dtype.name,
    }
    _write(saved, entries, header)
    with pytest.raises(ModelFileError, match="'layers.0.params.W' must have shape \\(3, 3\\)"):
        load(saved)


def test_an_array_that_disagrees_with_its_header_is_rejected(saved):
    entries = _entries(saved)
    entries["layers.0.params.W"] = np.zeros((2, 2), np.float32)
    _write(saved, entries)
    with pytest.raises(ModelFileError, match="as its header says"):
        load(saved)


def test_model_file_error_is_a_value_error_and_exported():
    assert issubclass(ModelFileError, ValueError)
    assert scratchnn.ModelFileError is ModelFileError
    assert scratchnn.load is model_io.load


def test_load_refuses_a_non_path():
    with pytest.raises(TypeError, match="path must be a str or os.PathLike, got"):
        load(stdio.BytesIO(b"PK"))
